"""Training studies: freezing schedules as treatments, training seeds as units (tiny configs)."""

import itertools
import json
import math
from dataclasses import replace

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from scipy import stats

import causalattn.lab.training.segments as segments_module
import causalattn.lab.training.study as ts
from causalattn import effects_frame
from causalattn.lab.models.transformer import ModelConfig
from causalattn.lab.studies.checksummed import DamagedFileWarning
from causalattn.lab.studies.storage import StudyFolder
from causalattn.lab.studies.table import DETAIL_KEYS
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.config import Freeze, TrainConfig
from causalattn.lab.training.loop import train
from causalattn.lab.training.study import TrainingStudy, training_study
from causalattn.lab.training.units import unit_outcomes

MODEL = ModelConfig(d_model=32, max_seq_len=32)
TASK = TaskConfig(seq_len=32)
# AdamW: its first, sign-like steps make a d = 32 model learn within 20 updates, so the arms differ; Muon's
# AdamW-matched steps are about 5 times smaller at first and leave both arms at chance that early
TRAIN = TrainConfig(optimizer="adam", n_iters=20, log_every=5, batch_size=16, eval_sequences=32, checkpoint_every=10)
FROZEN = Freeze("W2_O", until=10)
ARMS = {"control": (), FROZEN.label: (FROZEN,)}
OPTIONS = dict(at_iterations=(10, 20), threshold=0.3, probes=("w2o_recall",), progress=False)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def paired(one_thread):
    return training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), **OPTIONS)


def test_paired_units_and_histories(paired):
    assert isinstance(paired, TrainingStudy)
    assert len(paired.units) == 6 and set(paired.units["arm"]) == set(ARMS)
    assert paired.outcomes == ("in_context_accuracy_at_10", "in_context_accuracy_at_20", "restricted_iterations_to_0.3",
                               "w2o_recall_at_10", "w2o_recall_at_20")
    # the control run of seed 1 is exactly the run trained directly with init_seed = data_seed = 1
    direct = train(ModelConfig(d_model=32, max_seq_len=32, init_seed=1), TASK, TrainConfig(
        optimizer="adam", n_iters=20, log_every=5, batch_size=16, eval_sequences=32, checkpoint_every=10,
        data_seed=1), progress=False).history
    control = paired.histories.query("seed == 1 and arm == 'control'").drop(columns=["seed", "arm"])
    pd.testing.assert_frame_equal(control.reset_index(drop=True), direct)
    # pairing: both arms of a seed start from the same initialization (same row at iteration 0)
    start = paired.histories.query("seed == 1 and iteration == 0").drop(columns=["arm", "loss"])
    assert start.iloc[0].equals(start.iloc[1])
    # the freeze changes the run after the first update
    after = paired.histories.query("seed == 1 and iteration == 5")["w2o_recall"]
    assert after.iloc[0] != after.iloc[1]


def test_paired_study_is_reproducible(paired):
    again = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(1, 0, 2), **OPTIONS)
    pd.testing.assert_frame_equal(
        again.histories.sort_values(["seed", "arm", "iteration"]).reset_index(drop=True),
        paired.histories.sort_values(["seed", "arm", "iteration"]).reset_index(drop=True),
    )


def test_outcomes_read_from_history(paired):
    for _, unit in paired.units.iterrows():
        h = paired.histories.query(f"seed == {unit['seed']} and arm == {unit['arm']!r}").set_index("iteration")
        assert unit["in_context_accuracy_at_10"] == h.at[10, "in_context_accuracy"]
        assert unit["w2o_recall_at_20"] == h.at[20, "w2o_recall"]
        reached = [t for t, acc in h["in_context_accuracy"].items() if acc >= 0.3]
        assert unit["restricted_iterations_to_0.3"] == (reached[0] if reached else 20)
        assert unit["restricted_iterations_to_0.3_censored"] == (not reached)


def test_time_to_threshold_is_censored_at_n_iters(paired):
    h = paired.histories.query("seed == 0 and arm == 'control'").reset_index(drop=True)
    out = unit_outcomes(h, (20,), 1.0, (), 20)
    assert h["in_context_accuracy"].max() < 1.0  # a tiny run never reaches perfect accuracy
    assert out["restricted_iterations_to_1"] == 20 and out["restricted_iterations_to_1_censored"] is True


def _exact_sign_flip_p(d):
    """Two-sided exact sign-flip p-value of the mean difference, by enumerating all 2^n sign vectors."""
    observed = abs(np.mean(d))
    flips = [abs(np.mean(np.array(s) * d)) for s in itertools.product((-1, 1), repeat=len(d))]
    return np.mean([f >= observed - 1e-12 for f in flips])


def test_paired_effects_match_hand_computation(paired):
    table = paired.effects("in_context_accuracy_at_20")
    (est,) = table
    wide = paired.units.pivot(index="seed", columns="arm", values="in_context_accuracy_at_20")
    d = (wide[FROZEN.label] - wide["control"]).to_numpy()
    assert est.estimand == FROZEN.label and est.method == "paired-t"
    assert est.n == 3 and est.details["unit"] == "seed"
    assert est.estimate == pytest.approx(d.mean())
    assert est.standard_error == pytest.approx(d.std(ddof=1) / math.sqrt(3))
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t quantile, 2 df (tables: 4.303)
    assert est.confidence_interval == pytest.approx((d.mean() - half, d.mean() + half))
    assert est.pvalue == pytest.approx(2 * stats.t.sf(abs(d.mean()) / (d.std(ddof=1) / math.sqrt(3)), 2))
    assert est.details["pvalue_randomization"] == pytest.approx(_exact_sign_flip_p(d))
    assert est.details["treatment"] == FROZEN.label and est.details["outcome"] == "in_context_accuracy_at_20"
    assert est.details["pvalue_adjusted"] == pytest.approx(est.pvalue)  # one treatment: Holm changes nothing
    assert est.details["mean_control"] == pytest.approx(wide["control"].mean())
    assert set(DETAIL_KEYS) <= set(est.details) and est.details["design"] == "paired"
    frame = effects_frame(paired.effects())
    assert list(frame["outcome"]) == list(paired.outcomes)
    assert paired.effects("restricted_iterations_to_0.3")[0].details["n_censored"] == int(
        paired.units["restricted_iterations_to_0.3_censored"].sum())


@pytest.mark.parametrize("method", ["t", "normal", "randomization"])
def test_every_row_has_an_interval_and_a_pvalue_that_agree(paired, method, assert_coherent):
    assert assert_coherent(paired.effects(method=method, n_resamples=999)) == len(paired.outcomes)


def test_three_seeds_no_longer_give_a_ci_excluding_zero_beside_p_025(paired):
    for e in paired.effects(method="randomization"):  # 3 pairs: p >= 0.25, so the interval is the whole line
        if e.pvalue is not None:
            assert e.pvalue >= 0.25 and e.confidence_interval == (-math.inf, math.inf)


def test_the_bootstrap_is_refused_with_three_seeds(paired):
    # with 2-4 units the bootstrap p-value sat at the floor 1/(B + 1) (issue 18); that rows do not depend on the
    # questions asked is tested on the evaluation study, whose rows come from the same table builder
    with pytest.raises(ValueError, match="`method`='bootstrap' needs at least 5 units in every resampled sample, "
                                         "got 3 pairs"):
        paired.effects("w2o_recall_at_20", method="bootstrap", adjust=None, n_resamples=500)


def test_holm_across_treatments():
    arms = {**ARMS, "freeze:W2_K:until10": (Freeze("W2_K", until=10),)}
    study = training_study(MODEL, TASK, TRAIN, arms, seeds=(0, 1), **OPTIONS)
    table = study.effects("in_context_accuracy_at_10", adjust="bh")
    assert [e.details["treatment"] for e in table] == list(arms)[1:]
    p = sorted(e.pvalue for e in table)
    adjusted = sorted(e.details["pvalue_adjusted"] for e in table)
    assert adjusted == pytest.approx([min(1, 2 * p[0], p[1]), p[1]])  # BH with two tests, by hand


def test_randomized_design():
    seeds = (3, 4, 5, 6, 7)
    study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=seeds, design="randomized", rng=1, **OPTIONS)
    assert sorted(study.units["seed"]) == list(seeds)  # each seed runs once
    assert sorted(study.units["arm"].value_counts()) == [2, 3]  # complete randomization, balanced
    again = ts._assign(seeds, list(ARMS), "randomized", 1)
    assert again == list(zip(study.units["seed"], study.units["arm"], strict=True))
    (est,) = study.effects("in_context_accuracy_at_20")
    y1 = study.units.loc[study.units["arm"] == FROZEN.label, "in_context_accuracy_at_20"]
    y0 = study.units.loc[study.units["arm"] == "control", "in_context_accuracy_at_20"]
    assert est.estimate == pytest.approx(y1.mean() - y0.mean())
    assert est.standard_error == pytest.approx(math.sqrt(y1.var() / len(y1) + y0.var() / len(y0)))
    welch = stats.ttest_ind(y1, y0, equal_var=False)
    assert est.method == "two-arm-t" and est.pvalue == pytest.approx(welch.pvalue) and est.n == 5
    # exact label-permutation p-value over the C(5, n1) assignments
    y = study.units["in_context_accuracy_at_20"].to_numpy()
    observed = y1.mean() - y0.mean()
    null = np.array([y[list(c)].mean() - np.delete(y, list(c)).mean()
                     for c in itertools.combinations(range(5), len(y1))])
    one_sided = min(np.mean(null >= observed - 1e-12), np.mean(null <= observed + 1e-12))
    assert est.details["pvalue_randomization"] == pytest.approx(min(1.0, 2 * one_sided))  # twice the smaller tail


def test_resume_after_interruption_gives_the_same_table(paired, tmp_path, monkeypatch):
    calls = []

    def flaky_train(*args, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed mid-way, after three finished runs
        calls.append(args[2].data_seed)
        return train(*args, **kwargs)

    monkeypatch.setattr(segments_module, "train", flaky_train)
    with pytest.raises(KeyboardInterrupt):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    saved = sorted(p.name for p in (tmp_path / "units").glob("*.json"))
    assert len(saved) == 3
    assert all(json.loads((tmp_path / "units" / n).read_text())["content"]["history"] for n in saved)
    assert not list((tmp_path / "units").glob("*.tmp*"))

    monkeypatch.setattr(segments_module, "train", lambda *a, **k: (calls.append(a[2].data_seed), train(*a, **k))[1])
    resumed = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    assert len(calls) == 6  # the three finished runs were not redone
    pd.testing.assert_frame_equal(resumed.units, paired.units)
    pd.testing.assert_frame_equal(effects_frame(resumed.effects()), effects_frame(paired.effects()))
    # a third call trains nothing
    again = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    assert len(calls) == 6
    pd.testing.assert_frame_equal(again.histories, paired.histories)


def test_damaged_unit_files_are_reported_and_only_they_are_recomputed(paired, tmp_path, monkeypatch):
    # before: a truncated unit JSON gave "Expecting ',' delimiter" without a file name; an edited one was used
    training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    truncated = tmp_path / "units" / "seed0__control.json"
    truncated.write_bytes(truncated.read_bytes()[:200])
    edited = tmp_path / "units" / f"seed2__{FROZEN.label.replace(':', '_')}.json"
    record = json.loads(edited.read_text())
    record["content"]["history"]["in_context_accuracy"][-1] = 1.0
    edited.write_text(json.dumps(record))
    calls = []
    monkeypatch.setattr(segments_module, "train",
                        lambda *a, **k: (calls.append((a[2].data_seed, a[2].freeze)), train(*a, **k))[1])
    with pytest.warns(UserWarning) as caught:
        rerun = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    messages = sorted(str(w.message) for w in caught if "damaged" in str(w.message))
    assert len(messages) == 2
    assert messages[0].startswith(f"{truncated} is damaged (unreadable") and "seed 0, arm 'control'" in messages[0]
    assert messages[1].startswith(f"{edited} is damaged (checksum mismatch") and "seed 2" in messages[1]
    assert sorted(calls) == [(0, ()), (2, (FROZEN,))]  # exactly the two damaged units
    pd.testing.assert_frame_equal(rerun.units, paired.units)


def test_units_of_another_version_are_recomputed_not_a_key_error(paired, tmp_path, monkeypatch):
    # before: an intact record without "history" (or of another structure) stopped the rerun with a KeyError
    training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    folder = StudyFolder(tmp_path / "units", json.loads((tmp_path / "study.json").read_text())["sha256"])
    run0, run1, run2 = {"seed": 0, "arm": "control"}, {"seed": 1, "arm": "control"}, {"seed": 2, "arm": FROZEN.label}
    record = folder.load_json("seed0__control.json", identity=run0)
    folder.save_json("seed0__control.json", {key: value for key, value in record.items() if key != "history"},
                     identity=run0)
    folder.save_json("seed1__control.json", [record], identity=run1)  # checksummed, this run's, but not a record
    frozen = f"seed2__{FROZEN.label.replace(':', '_')}.json"
    other = folder.load_json(frozen, identity=run2)
    shorter = {**other["history"], "iteration": other["history"]["iteration"][:-1]}
    folder.save_json(frozen, {**other, "history": shorter}, identity=run2)
    calls = []
    monkeypatch.setattr(segments_module, "train",
                        lambda *a, **k: (calls.append((a[2].data_seed, a[2].freeze)), train(*a, **k))[1])
    with pytest.warns(DamagedFileWarning) as caught:
        rerun = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3, messages
    assert messages[0].endswith("seed0__control.json is damaged (unexpected content, KeyError: 'history'); "
                                "recomputing the training run of seed 0, arm 'control'")
    assert "seed1__control.json is damaged (unexpected content, TypeError" in messages[1]
    assert f"{frozen} is damaged (unexpected content, ValueError" in messages[2]  # columns of unequal length
    assert sorted(calls) == [(0, ()), (1, ()), (2, (FROZEN,))]  # exactly those three runs
    pd.testing.assert_frame_equal(rerun.units, paired.units)


def test_files_copied_over_another_run_are_recomputed(tmp_path, monkeypatch):
    # before (issue 18, item 3): seed 0's weights copied over seed 1's made study.model(1) return seed 0's model
    first = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, keep_models=True, **OPTIONS)
    units, models = tmp_path / "units", tmp_path / "models"
    (units / "seed1__control.json").write_bytes((units / "seed0__control.json").read_bytes())
    (models / "seed2__control.npz").write_bytes((models / "seed0__control.npz").read_bytes())
    calls = []
    monkeypatch.setattr(segments_module, "train",
                        lambda *a, **k: (calls.append((a[2].data_seed, a[2].freeze)), train(*a, **k))[1])
    with pytest.warns(DamagedFileWarning) as caught:
        rerun = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, keep_models=True,
                               **OPTIONS)
    assert [str(w.message).split("/")[-1] for w in caught] == [
        "seed1__control.json is damaged (it holds seed 0, arm 'control', not seed 1, arm 'control': copied or moved "
        "from another file); recomputing the training run of seed 1, arm 'control'",
        "seed2__control.npz is damaged (it holds seed 0, arm 'control', not seed 2, arm 'control': copied or moved "
        "from another file); recomputing the training run of seed 2, arm 'control'"]
    assert sorted(calls) == [(1, ()), (2, ())]
    pd.testing.assert_frame_equal(rerun.units, first.units)
    for seed in (1, 2):
        for name, value in rerun.model(seed).state_dict().items():
            assert torch.equal(value, first.model(seed).state_dict()[name]), (seed, name)


def test_a_checkpoint_of_another_run_is_recomputed(tmp_path):
    # before: "`model_config` does not match the checkpoint in `checkpoint_dir`", an argument the study's user never
    # gave, and the study could not go on; now the misplaced checkpoint is reported and its run trained from 0
    misplaced = tmp_path / "checkpoints" / "seed1__control"
    train(replace(MODEL, init_seed=0), TASK, replace(TRAIN, data_seed=0, n_iters=10), checkpoint_dir=misplaced,
          progress=False)  # seed 0's run (and 10 updates only), checkpointed where seed 1's belongs
    with pytest.warns(DamagedFileWarning, match=r"seed1__control/checkpoint.pt holds another run's checkpoint "
                                                r"\(`model_config` does not match .*init_seed=1 here vs 0\); "
                                                r"recomputing it: training from iteration 0"):
        study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, **OPTIONS)
    expected = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), **OPTIONS)
    pd.testing.assert_frame_equal(study.units, expected.units)
    assert not (tmp_path / "checkpoints").exists()
    # the runs on a cluster start from the same check
    train(replace(MODEL, init_seed=0), TASK, replace(TRAIN, data_seed=0, n_iters=10), checkpoint_dir=misplaced,
          progress=False)
    segments = segments_module.Segments(MODEL, TASK, TRAIN, ARMS, tmp_path, keep_models=False)
    with pytest.warns(DamagedFileWarning, match="holds another run's checkpoint"):
        job = segments.first(1, "control")
    assert job.segment == segments_module.Segment(None, 0, 10) and segments.resumed == 0
    assert not misplaced.joinpath("checkpoint.pt").exists()


@pytest.mark.parametrize("where", ["checkpoints/seed0__control", "checkpoints/seed0__control/checkpoint.pt",
                                   "models", "units/seed0__control.json"])
def test_a_file_or_folder_in_the_wrong_place_is_an_error_naming_out_dir(tmp_path, where):
    # before (issue 18, item 17): IsADirectoryError or NotADirectoryError, a .tmp file left behind
    path = tmp_path / where
    if where.endswith(("control", "models")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("a file")
        match = f"`out_dir`: cannot make the folder .* {path} is a file, not a folder"
    else:
        path.mkdir(parents=True)
        match = f"`out_dir`: {path} is a folder where the study keeps a file"
    with pytest.raises(ValueError, match=match):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, keep_models=True, **OPTIONS)
    assert not list(tmp_path.glob("**/*.tmp*"))


def test_damaged_fingerprint_is_rewritten_and_the_runs_it_made_are_kept(paired, tmp_path, monkeypatch):
    # before: a damaged study.json stopped the study; the unit files now say which configuration made them
    training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    (tmp_path / "study.json").write_text("{")
    calls = []
    monkeypatch.setattr(segments_module, "train", lambda *a, **k: (calls.append(a[2].data_seed), train(*a, **k))[1])
    with pytest.warns(UserWarning, match=r"study.json is damaged \(unreadable: JSONDecodeError\); rewriting it .* "
                                         r"kept the 6 unit files"):
        rerun = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    assert calls == []
    pd.testing.assert_frame_equal(rerun.units, paired.units)
    # a damaged study.json beside the runs of another configuration: refused, as an intact one would be
    (tmp_path / "study.json").write_text("{")
    other = replace(TRAIN, lr=0.5)
    with pytest.raises(ValueError, match=r"`out_dir` .* different configuration: its study.json is damaged .* "
                                         r"6 unit files \(e.g. .*seed0__control.json\) were made under another one"):
        training_study(MODEL, TASK, other, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)


def test_more_seeds_reuse_the_folder(tmp_path):
    first = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, **OPTIONS)
    more = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1, 2), out_dir=tmp_path, **OPTIONS)
    pd.testing.assert_frame_equal(more.units.iloc[:4], first.units)


def test_folder_from_another_configuration(tmp_path):
    training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, **OPTIONS)
    other = TrainConfig(n_iters=20, log_every=5, batch_size=16, eval_sequences=32, lr=0.5)
    with pytest.raises(ValueError, match=r"`out_dir` .* different configuration .*train_config"):
        training_study(MODEL, TASK, other, ARMS, seeds=(0, 1), out_dir=tmp_path, **OPTIONS)
    with pytest.raises(ValueError, match=r"`out_dir` .*arms"):
        training_study(MODEL, TASK, TRAIN, {"control": (), "f": (Freeze("W2_K", 10),)}, seeds=(0, 1),
                       out_dir=tmp_path, **OPTIONS)


def test_parallel_runs_match_sequential(paired):
    # any joblib backend runs the study (threads here: no worker start-up cost in the test suite)
    with joblib.parallel_config(backend="threading"):
        study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), n_jobs=2, **OPTIONS)
    pd.testing.assert_frame_equal(study.units, paired.units.iloc[:4])


def test_plots(paired):
    fig = paired.plot_curves()
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert isinstance(paired.plot_forest("in_context_accuracy_at_20"), Figure)
    assert "3 seeds" in repr(paired)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(seeds=(0,)), ValueError, "at least 2 units: `seeds` has 1"),
        (dict(seeds=(0, 1, 2), design="randomized"), ValueError, "at least 2 units per arm"),
        (dict(seeds=(0, 0)), ValueError, "`seeds` must be distinct"),
        (dict(seeds=3), TypeError, "`seeds` must be a sequence"),
        (dict(seeds=(0, -1)), ValueError, r"`seeds` must be an integer in \[0, 9223372036854775807\]"),
        (dict(design="crossover"), ValueError, "`design` must be one of"),
        (dict(arms={"control": ()}), ValueError, "`arms` must map at least two"),
        (dict(arms={"a": (FROZEN,), "b": (Freeze("W1_K"),)}), ValueError, "exactly one empty schedule"),
        (dict(arms={"control": (), "c": ()}), ValueError, "exactly one empty schedule"),
        (dict(arms={"control": (), "x": ("W2_O",)}), TypeError, "must hold Freeze values"),
        (dict(arms={"control": (), 3: (FROZEN,)}), TypeError, "labels must be non-empty strings"),
        (dict(arms={"control": (), "a:b": (FROZEN,), "a/b": (Freeze("W2_K"),)}), ValueError, "distinct as file"),
        (dict(arms={"control": (), "x": (Freeze("W9_Z"),)}), ValueError, r"`arms`: arm 'x'.*W9_Z"),
        (dict(train_config=TrainConfig(n_iters=20, freeze=(FROZEN,))), ValueError, "`train_config.freeze`"),
        # before: accepted, and the arm stayed frozen for the whole run under a label saying until21
        (dict(arms={"control": (), "late": (Freeze("W2_O", until=21),)}), ValueError,
         r"`arms`: arm 'late': `freeze` \(freeze:W2_O:until21\) is beyond `n_iters` \(20\): it ends at iteration 21"),
        (dict(model_config=ModelConfig(d_model=32, max_seq_len=32, vocab_size=100)), ValueError,
         r"`model_config.vocab_size` \(100\) must be the task's vocabulary size 65"),
        (dict(task_config=TaskConfig(seq_len=2), train_config=replace(TRAIN, eval_sequences=4)), ValueError,
         r"`task_config.seq_len` \(2\) or `train_config.eval_sequences` \(4\): the held-out set \(4 sequences of 2 "
         r"tokens, 5 triggers\) has no in-context position"),
        (dict(model_config=TASK), TypeError, "`model_config` must be a ModelConfig"),
        (dict(task_config=TaskConfig(seq_len=64)), ValueError, "`model_config.max_seq_len`"),
        (dict(at_iterations=(7,)), ValueError, "`at_iterations` must be logged iterations"),
        (dict(at_iterations=(25,)), ValueError, r"`at_iterations` \(25\) is beyond `n_iters` \(20\): the runs have no "
                                                r"outcome there"),
        (dict(threshold=1.5), ValueError, "`threshold` must be an accuracy"),
        (dict(probes=("w3_recall",)), ValueError, "`probes` must be one of"),
        (dict(n_jobs=0), ValueError, "`n_jobs` must be a non-zero integer"),
        (dict(rng="seed"), TypeError, "`rng` must be None, an integer seed or a numpy Generator, got str"),
        (dict(rng=True), TypeError, "`rng` must be None, an integer seed or a numpy Generator, got bool"),
    ],
)
def test_bad_input(kwargs, error, match):
    args = dict(model_config=MODEL, task_config=TASK, train_config=TRAIN, arms=ARMS, seeds=(0, 1), progress=False)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        training_study(**args)


def test_bad_effects_arguments(paired):
    with pytest.raises(ValueError, match="`outcome` must be one of"):
        paired.effects("loss")
    with pytest.raises(ValueError, match="`adjust` must be one of"):
        paired.effects(adjust="bonferroni")
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        paired.effects(confidence_level=95)
    with pytest.raises(ValueError, match="`n_resamples` must be a positive integer"):
        paired.effects(n_resamples=0)
    with pytest.raises(ValueError, match="`method` must be one of"):
        paired.effects(method="z")
    with pytest.raises(ValueError, match="`rng` must be a non-negative integer seed"):
        paired.effects(rng=-1)
    with pytest.raises(TypeError, match="`rng` must be None, an integer seed or a numpy Generator, got bool"):
        paired.effects(rng=True)
    with pytest.raises(ValueError, match="`metric` must be a history column"):
        paired.plot_curves("seed")


def test_kept_models_equal_a_direct_training_and_round_trip_through_the_folder(tmp_path, monkeypatch):
    study = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, keep_models=True, **OPTIONS)
    for seed, arm in itertools.product((0, 1), ARMS):
        direct = train(replace(MODEL, init_seed=seed), TASK, replace(TRAIN, data_seed=seed, freeze=ARMS[arm]),
                       progress=False).model
        kept = study.model(seed, arm)
        assert not kept.training and kept.config == replace(MODEL, init_seed=seed)
        expected = direct.state_dict()
        assert kept.state_dict().keys() == expected.keys()
        for name, value in kept.state_dict().items():
            assert torch.equal(value, expected[name]), (seed, arm, name)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [
        "seed0__control.npz", "seed0__freeze_W2_O_until10.npz", "seed1__control.npz", "seed1__freeze_W2_O_until10.npz"]
    assert study.model(1).config.init_seed == 1  # the control arm by default
    with pytest.raises(ValueError, match=r"`seed`, `arm`: no run \(5, 'control'\)"):
        study.model(5)

    trained = []
    monkeypatch.setattr(segments_module, "train", lambda *a, **k: (trained.append(a[2].data_seed), train(*a, **k))[1])
    again = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, keep_models=True, **OPTIONS)
    assert trained == []  # read back from the folder
    weight = "blocks.1.attn.W_O"
    assert torch.equal(again.model(0).state_dict()[weight], study.model(0).state_dict()[weight])
    (tmp_path / "models" / "seed1__control.npz").unlink()  # a run without its weights is trained again
    again = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, keep_models=True, **OPTIONS)
    assert trained == [1]
    pd.testing.assert_frame_equal(again.units, study.units)
    damaged = tmp_path / "models" / "seed0__control.npz"
    damaged.write_bytes(damaged.read_bytes()[:100])  # a damaged weights file is reported, its run trained again
    with pytest.warns(UserWarning, match=r"seed0__control.npz is damaged .*seed 0, arm 'control'"):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, keep_models=True, **OPTIONS)
    assert trained == [1, 0]
    models = StudyFolder(tmp_path / "models", json.loads((tmp_path / "study.json").read_text())["sha256"])
    run = {"seed": 1, "arm": "control"}
    models.save_arrays("seed1__control.npz", {name: value for name, value in models.load_arrays(
        "seed1__control.npz", identity=run).items() if name != weight}, identity=run)  # of another version
    with pytest.warns(DamagedFileWarning, match=r"seed1__control.npz is damaged \(unexpected content, ValueError: "
                                                r"missing \['blocks.1.attn.W_O'\]\); recomputing .*seed 1, "
                                                r"arm 'control'"):
        again = training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), out_dir=tmp_path, keep_models=True, **OPTIONS)
    assert trained == [1, 0, 1]
    assert torch.equal(again.model(1).state_dict()[weight], study.model(1).state_dict()[weight])


def test_model_accessor_errors(paired):
    with pytest.raises(ValueError, match="kept no models: run training_study with `keep_models=True`"):
        paired.model(0)
    with pytest.raises(TypeError, match="`keep_models` must be True or False"):
        training_study(MODEL, TASK, TRAIN, ARMS, seeds=(0, 1), keep_models="yes", progress=False)
