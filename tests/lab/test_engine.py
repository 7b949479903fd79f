"""The execution engine: local (in process, joblib) and Dask runs give the same results; progress; resume."""

import contextlib
import json
import sys
import threading
import time
from dataclasses import replace

import joblib
import pandas as pd
import pytest

import causalattn.lab.training.segments as segments_module
import causalattn.lab.training.study as ts
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.checksummed import DamagedFileWarning
from causalattn.lab.studies.engine import run_jobs
from causalattn.lab.studies.models_study import models_study
from causalattn.lab.studies.storage import StudyFolder
from causalattn.lab.tasks.bigram import BigramTask, TaskConfig
from causalattn.lab.training.config import Freeze, TrainConfig
from causalattn.lab.training.study import training_study

MODEL = ModelConfig(d_model=16, max_seq_len=16)
TASK = TaskConfig(seq_len=16)
TRAIN = TrainConfig(n_iters=10, log_every=5, batch_size=8, eval_sequences=16)
ARMS = {"control": (), "freeze:W2_O:until5": (Freeze("W2_O", until=5),)}
OPTIONS = dict(at_iterations=(5, 10), threshold=0.3, progress=False)
SEEDS = (0, 1, 2)

pytestmark = pytest.mark.usefixtures("one_thread")


class Counter:
    """Stands for a tqdm bar: adds up the updates it receives (from any thread)."""

    def __init__(self):
        self.n = 0
        self._lock = threading.Lock()

    def update(self, n):
        with self._lock:
            self.n += n

    def wait_for(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while self.n < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.n


def steps(job, *, report):
    """A job ``(x, k)`` of k units of work, each reported."""
    x, k = job
    for _ in range(k):
        report(1)
    return x * x


@pytest.fixture(scope="module")
def local(one_thread):
    return training_study(MODEL, TASK, TRAIN, ARMS, seeds=SEEDS, **OPTIONS)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as dask_client:
            yield dask_client


def _sorted(frame):
    return frame.sort_values(["seed", "arm", *(["iteration"] if "iteration" in frame else [])]).reset_index(drop=True)


def chain(index, x):
    """The next link of a chain of squarings: until the value passes 100."""
    return (x, 1) if x < 100 else None


@pytest.mark.parametrize("backend, n_jobs", [(None, 1), ("threading", 2), ("loky", 2)])
def test_local_jobs_yield_every_result_and_report_progress(backend, n_jobs):
    bar = Counter()
    with joblib.parallel_config(backend=backend) if backend else contextlib.nullcontext():
        results = dict(run_jobs(steps, [(x, 3) for x in range(5)], n_jobs=n_jobs, progress=bar))
        chained = dict(run_jobs(steps, [(x, 1) for x in range(2, 5)], n_jobs=n_jobs, follow=chain))
    assert results == {x: x * x for x in range(5)}
    assert bar.n == 15  # every unit of work, reported from the workers
    assert chained == {0: 256, 1: 6561, 2: 256}  # 2 -> 4 -> 16 -> 256, 3 -> 9 -> 81 -> 6561, 4 -> 16 -> 256


def test_dask_jobs_report_progress_while_running(client):
    bar = Counter()
    results = dict(run_jobs(steps, [(x, 4) for x in range(3)], client=client, progress=bar))
    assert results == {0: 0, 1: 1, 2: 4}
    assert bar.wait_for(12) == 12  # the events may arrive just after the results
    assert dict(run_jobs(steps, [(2, 1), (3, 1)], client=client, follow=chain)) == {0: 256, 1: 6561}


def test_training_study_reports_every_update(monkeypatch):
    bars = []

    class Recording(Counter):
        def __init__(self, *args, total, initial, **kwargs):
            super().__init__()
            self.total, self.n = total, initial
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(ts, "tqdm", Recording)
    training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), **OPTIONS)
    (bar,) = bars
    assert bar.total == 4 * TRAIN.n_iters and bar.n == bar.total  # moved by updates, not by finished runs


def test_dask_study_equals_the_local_one_bit_for_bit(client, local):
    study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=SEEDS, client=client, **OPTIONS)
    pd.testing.assert_frame_equal(_sorted(study.units), _sorted(local.units), check_exact=True)
    pd.testing.assert_frame_equal(_sorted(study.histories), _sorted(local.histories), check_exact=True)


def test_joblib_dask_backend_selects_the_cluster(client, local, tmp_path):
    with joblib.parallel_config(backend="dask"):
        study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, **OPTIONS)
    pd.testing.assert_frame_equal(_sorted(study.units), _sorted(local.units).iloc[:4], check_exact=True)
    records = [json.loads(p.read_text())["content"] for p in (tmp_path / "units").glob("*.json")]  # checksummed
    assert len(records) == 4 and {r["torch_threads"] for r in records} == {1}  # set and recorded per run
    assert not (tmp_path / "checkpoints").exists()  # one segment per run (checkpoint_every > n_iters): none to save


def test_dask_study_resumes_after_interruption(client, local, tmp_path, monkeypatch):
    written = []
    write = StudyFolder.save_json

    def interrupted(folder, name, record, **kwargs):
        if len(written) == 3:
            raise KeyboardInterrupt  # the client is killed after saving three runs
        written.append(name)
        write(folder, name, record, **kwargs)

    monkeypatch.setattr(StudyFolder, "save_json", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=SEEDS, client=client, out_dir=tmp_path, **OPTIONS)
    first = sorted(written)
    assert sorted(p.name for p in (tmp_path / "units").glob("*.json")) == first
    stamps = {name: (tmp_path / "units" / name).stat().st_mtime_ns for name in first}

    written.clear()
    monkeypatch.setattr(StudyFolder, "save_json",
                        lambda folder, name, record, **kw: (written.append(name), write(folder, name, record, **kw)))
    resumed = training_study(MODEL, TASK, TRAIN, ARMS, seeds=SEEDS, client=client, out_dir=tmp_path, **OPTIONS)
    assert len(written) == 3 and not set(written) & set(first)  # only the three unfinished runs were trained
    assert {name: (tmp_path / "units" / name).stat().st_mtime_ns for name in first} == stamps
    pd.testing.assert_frame_equal(resumed.units, local.units, check_exact=True)
    pd.testing.assert_frame_equal(resumed.histories, local.histories, check_exact=True)


def test_dask_study_resumes_mid_run_from_the_checkpoints_the_client_saved(client, local, tmp_path, monkeypatch):
    train = replace(TRAIN, checkpoint_every=5)  # two segments per run: iterations 0-5 and 5-10
    saved = []
    write = segments_module.write_atomic

    def interrupted(path, payload):
        write(path, payload)
        saved.append(path.parent.name)
        raise KeyboardInterrupt  # the client is killed just after saving the first checkpoint

    monkeypatch.setattr(segments_module, "write_atomic", interrupted)
    with pytest.raises(KeyboardInterrupt):
        training_study(MODEL, TASK, train, ARMS, seeds=(0, 1), client=client, out_dir=tmp_path, **OPTIONS)
    assert [p.parent.name for p in (tmp_path / "checkpoints").glob("*/checkpoint.pt")] == saved
    assert not list((tmp_path / "units").glob("*.json"))  # no run finished: its next segment was never sent

    segments = []

    def recording(function, jobs, **kwargs):
        segments.extend((job.seed, job.label, (job.segment.start, job.segment.stop)) for job in jobs)
        return run_jobs(function, jobs, **kwargs)

    damaged = tmp_path / "checkpoints" / ("seed1__control" if saved != ["seed1__control"] else "seed0__control")
    damaged.mkdir(exist_ok=True)
    (damaged / "checkpoint.pt").write_bytes(b"not a checkpoint")  # reported, and that run starts over

    monkeypatch.setattr(segments_module, "write_atomic", write)
    monkeypatch.setattr(ts, "run_jobs", recording)
    with pytest.warns(DamagedFileWarning, match=f"{damaged}.* recomputing it: training from iteration 0"):
        resumed = training_study(MODEL, TASK, train, ARMS, seeds=(0, 1), client=client, out_dir=tmp_path, **OPTIONS)
    starts = {f"seed{seed}__{arm.replace(':', '_')}": segment for seed, arm, segment in segments}
    assert len(segments) == len(starts) == 4
    assert starts == {name: (5, 10) if name in saved else (0, 5) for name in starts}  # one resumed from iteration 5
    pd.testing.assert_frame_equal(_sorted(resumed.units), _sorted(local.units).iloc[:4], check_exact=True)
    pd.testing.assert_frame_equal(_sorted(resumed.histories), _sorted(local.histories).iloc[:12], check_exact=True)
    assert not (tmp_path / "checkpoints").exists()  # every run finished: no checkpoint is left behind


def test_finished_runs_leave_the_same_folder_locally_and_on_dask(client, tmp_path):
    # before: a run finished on the cluster left its last intermediate checkpoint (iteration 5) in the folder
    train = replace(TRAIN, checkpoint_every=5)  # two segments per run on the cluster
    listings = {}
    for where, options in (("local", {}), ("dask", {"client": client})):
        training_study(MODEL, TASK, train, ARMS, seeds=(0, 1), out_dir=tmp_path / where, **options, **OPTIONS)
        listings[where] = sorted(str(p.relative_to(tmp_path / where)) for p in (tmp_path / where).rglob("*"))
    assert listings["dask"] == listings["local"]
    assert listings["local"] == ["study.json", "units", *(f"units/seed{s}__{arm}.json" for s in (0, 1)
                                                          for arm in ("control", "freeze_W2_O_until5"))]


MODELS = {f"seed{s}": build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=16, init_seed=s))
          for s in range(2)}
EVALUATION = dict(n_sequences=8, batch_size=3, n_resamples=99, scan_sequences=4, torch_threads=1, progress=False)
TREATMENTS = ["ablate_role:induction@L1:zero", "ablate:L0H0:mean"]


def _evaluate(**kwargs):
    return models_study(MODELS, BigramTask(TASK), TREATMENTS, **EVALUATION, **kwargs)


@pytest.fixture(scope="module")
def evaluated(one_thread):
    return _evaluate()


def _assert_same_evaluation(study, reference):
    for name in MODELS:
        pd.testing.assert_frame_equal(study.studies[name].units, reference.studies[name].units, check_exact=True)
        pd.testing.assert_frame_equal(study.studies[name].tokens, reference.studies[name].tokens, check_exact=True)
    pd.testing.assert_frame_equal(study.heads, reference.heads)
    pd.testing.assert_frame_equal(study.effects().to_frame(), reference.effects().to_frame(), check_exact=True)


def test_dask_models_study_equals_the_local_one_bit_for_bit(client, evaluated):
    _assert_same_evaluation(_evaluate(client=client), evaluated)


def test_dask_models_study_resumes_after_interruption(client, evaluated, tmp_path, monkeypatch):
    saved = []
    save = StudyFolder.save_arrays

    def interrupted(folder, name, arrays, **kwargs):
        if len(saved) == 4:
            raise KeyboardInterrupt  # the client is killed after saving four (batch, arm) results
        saved.append(folder.units / name)
        save(folder, name, arrays, **kwargs)

    monkeypatch.setattr(StudyFolder, "save_arrays", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _evaluate(client=client, out_dir=tmp_path)
    assert sorted(tmp_path.glob("*/arms/*.npz")) == sorted(saved)
    stamps = {path: path.stat().st_mtime_ns for path in saved}

    first, saved[:] = list(saved), []
    monkeypatch.setattr(StudyFolder, "save_arrays",
                        lambda folder, name, arrays, **kw: (saved.append(folder.units / name),
                                                            save(folder, name, arrays, **kw)))
    with joblib.parallel_config(backend="dask"):  # selects the cluster of the active client
        resumed = _evaluate(out_dir=tmp_path)
    assert len(first) + len(saved) == 2 * 3 * 3 and not set(first) & set(saved)  # models x batches x arms, once
    assert {path: path.stat().st_mtime_ns for path in first} == stamps
    _assert_same_evaluation(resumed, evaluated)


def test_missing_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if dask.distributed were not installed
    with pytest.raises(ImportError, match=r'pip install "causalattn\[distributed\]"'):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), client="tcp://127.0.0.1:8786", **OPTIONS)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(client="tcp://127.0.0.1:8786"), TypeError, "`client` must be a distributed.Client or None"),
        (dict(torch_threads=0), ValueError, "`torch_threads` must be a positive integer"),
        (dict(torch_threads=1.5), TypeError, "`torch_threads` must be"),
    ],
)
def test_bad_engine_arguments(kwargs, error, match):
    pytest.importorskip("distributed")
    with pytest.raises(error, match=match):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), **OPTIONS, **kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(function=3), TypeError, "`function` must be callable"),
        (dict(jobs=[(1, 1), None]), TypeError, "`jobs` must not hold None"),
        (dict(jobs=3), TypeError, "`jobs` must be a sequence of jobs, got int"),
        (dict(n_jobs=0), ValueError, "`n_jobs` must be a non-zero integer"),
        (dict(torch_threads=-1), ValueError, "`torch_threads` must be a positive integer"),
        (dict(follow=3), TypeError, "`follow` must be callable or None"),
    ],
)
def test_bad_run_jobs_arguments(kwargs, error, match):
    args = {"function": steps, "jobs": [(1, 1)], **kwargs}
    with pytest.raises(error, match=match):
        list(run_jobs(**args))


def test_other_thread_counts_agree_to_1e_6(local, tmp_path):
    study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=SEEDS, torch_threads=2, out_dir=tmp_path, **OPTIONS)
    assert {json.loads(p.read_text())["content"]["torch_threads"] for p in (tmp_path / "units").glob("*.json")} == {2}
    pd.testing.assert_frame_equal(study.histories, local.histories, check_exact=False, rtol=0, atol=1e-6)


def test_dask_head_map_equals_the_local_one_bit_for_bit(client, tmp_path):
    import numpy as np

    from causalattn.lab.studies.head_map import head_map

    model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, max_seq_len=16, mlp=True))
    options = dict(kind="resample", n_sequences=10, batch_size=4, reference_size=3, n_resamples=99, progress=False)
    local = head_map(model, BigramTask(TASK), **options)
    on_dask = head_map(model, BigramTask(TASK), client=client, out_dir=tmp_path, **options)
    for name in local.outcomes:
        np.testing.assert_array_equal(on_dask.control[name], local.control[name])
        np.testing.assert_array_equal(on_dask.treated[name], local.treated[name])
    pd.testing.assert_frame_equal(on_dask.to_frame(), local.to_frame())
    assert len(list((tmp_path / "heads").iterdir())) == 3 * 5  # 3 batches x (4 heads + control), saved by the client
