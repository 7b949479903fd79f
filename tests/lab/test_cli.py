"""The `causalattn` command line: help, and the main job `causalattn study` on a tiny configuration."""

import re
import subprocess
import sys

import pandas as pd
import pytest

import causalattn
from causalattn import EFFECT_COLUMNS
from causalattn.cli import _default_treatments, build_parser, main

TINY = ["--d-model", "32", "--seq-len", "32", "--train-iters", "20", "--n-sequences", "16", "--seeds", "2",
        "--freeze-until", "20", "--study-iters", "40", "--study-batch-size", "8", "--n-jobs", "1", "--no-progress",
        "--treatments", "ablate:L1H0:mean", "pattern:L0H0:previous_token"]


torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("study")
    assert main(["study", *TINY, "--out", str(out)]) == 0
    return out


def test_study_writes_table_forest_and_attention_maps(study_dir):
    table = pd.read_csv(study_dir / "effects.csv")
    assert list(table.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    assert list(table["treatment"]) == ["ablate:L1H0:mean", "pattern:L0H0:previous_token", *["freeze:W2_O:until20"] * 3]
    training = table[table["treatment"] == "freeze:W2_O:until20"]
    assert list(training["outcome"]) == ["in_context_accuracy_at_20", "in_context_accuracy_at_40",
                                         "iterations_to_0.9"]
    assert (training["n"] == 2).all() and (training["unit"] == "seed").all()  # n counts seeds, not runs
    assert (table["unit"][:2] == "sequence").all() and training["n_censored"].notna().sum() == 1
    estimable = table[table["method"] != "not estimable"]
    assert estimable["ci_low"].le(estimable["estimate"]).all() and estimable["estimate"].le(estimable["ci_high"]).all()
    # every row: the CI excludes 0 exactly when its own p-value is below 0.05
    tested = table[table["pvalue"].notna()]
    excludes = (tested["ci_low"] > 0) | (tested["ci_high"] < 0)
    assert (excludes == (tested["pvalue"] < 0.05)).all()
    assert set(table["method"]) <= {"paired-t", "not estimable"} and estimable["pvalue_randomization"].notna().all()
    for name in ("forest.png", "training_curves.png", "attention/control.png", "attention/ablate_L1H0_mean.png",
                 "attention/pattern_L0H0_previous_token.png"):
        assert (study_dir / name).stat().st_size > 0, name


def test_default_treatments_ablate_and_freeze_every_head():
    assert _default_treatments(2, 1) == ["ablate:L0H0:zero", "ablate:L0H0:mean", "ablate:L1H0:zero",
                                         "ablate:L1H0:mean", "pattern:L0H0:previous_token", "pattern:L0H0:uniform",
                                         "pattern:L1H0:previous_token", "pattern:L1H0:uniform"]
    assert build_parser().parse_args(["study"]).treatments is None  # None: the default set


def test_study_resumes_from_its_folder(study_dir, capsys):
    before = pd.read_csv(study_dir / "effects.csv")
    checkpoint = (study_dir / "model" / "checkpoint.pt").stat().st_mtime_ns
    assert main(["study", *TINY, "--out", str(study_dir)]) == 0
    printed = capsys.readouterr().out
    assert "95%" in printed and "ablate:L1H0:mean" in printed
    assert (study_dir / "model" / "checkpoint.pt").stat().st_mtime_ns == checkpoint  # the model was not retrained
    pd.testing.assert_frame_equal(pd.read_csv(study_dir / "effects.csv"), before)


def test_chosen_treatments_and_no_training_study(tmp_path):
    out = tmp_path / "out"
    args = [*TINY[:-3], "--seeds", "0", "--treatments", "ablate:L0H0:zero+ablate:L1H0:zero", "--out", str(out)]
    assert main(["study", *args]) == 0
    table = pd.read_csv(out / "effects.csv")
    assert list(table["treatment"]) == ["ablate:L0H0:zero+ablate:L1H0:zero"]
    assert not (out / "training_curves.png").exists()


def test_bad_options_give_an_error_message(tmp_path, capsys):
    assert main(["study", *TINY, "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "`--seeds` must be 0 (no training study) or at least 2" in capsys.readouterr().err
    assert main(["study", *TINY, "--treatments", "ablate:L5H0:zero", "--out", str(tmp_path)]) == 2
    assert "L5H0" in capsys.readouterr().err
    out = tmp_path / "never"
    assert main(["study", *TINY, "--n-sequences", "1", "--out", str(out)]) == 2  # before any training
    assert "`--n-sequences` must be at least 2" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("options, message", [
    (["--n-jobs", "0"], "`--n-jobs` must be a non-zero integer"),
    (["--freeze", "W9_X"], "`--freeze`: 'W9_X' is not a parameter of this model"),
    (["--freeze", "W2_O", "W2_O"], "`--freeze` names a parameter twice"),
    (["--freeze-until", "0"], "`--freeze-until` must be at least 1, got 0"),
    (["--freeze-until", "50"], r"`--freeze-until` \(50\) is beyond `--study-iters` \(40\)"),
    (["--threshold", "1.5"], r"`--threshold` must be an in-context accuracy in \(0, 1\], got 1.5"),
    (["--study-iters", "0"], "`--study-iters` must be at least 1, got 0"),
    (["--study-batch-size", "0"], "`--study-batch-size` must be at least 1"),
    (["--train-iters", "0"], "`--train-iters` must be at least 1"),
    (["--d-model", "0"], "`--d-model` must be at least 1"),
    (["--n-heads", "2"], "`--n-heads`=2 is not available"),
    (["--n-triggers", "1000"], "`--n-triggers` must be at most the vocabulary size"),
    (["--seed", "-1"], "`--seed` must be at least 0"),
])
def test_every_study_option_is_checked_before_training(tmp_path, capsys, monkeypatch, options, message):
    # before: these failed only after about 5 minutes of training, naming Python arguments (n_jobs)
    import causalattn.lab.training as training
    monkeypatch.setattr(training, "train", lambda *a, **k: pytest.fail("trained before checking the options"))
    out = tmp_path / "never"
    assert main(["study", *TINY, *options, "--out", str(out)]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()


@pytest.mark.parametrize("out, message", [
    ("/dev/null", r"`--out` /dev/null is not a folder \(it is a file or a device\)"),
    ("FILE/sub", r"`--out` .*FILE/sub cannot be used as the output folder: Not a directory"),
])
def test_unusable_output_paths(tmp_path, capsys, out, message):
    (tmp_path / "FILE").write_text("x")
    assert main(["study", *TINY, "--out", out.replace("FILE", str(tmp_path / "FILE"))]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_ctrl_c_prints_one_line_and_exit_code_130(tmp_path, capsys, monkeypatch):
    import causalattn.lab.training as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    assert main(["study", *TINY, "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "causalattn study: interrupted; run the same command again to resume"


def test_os_error_during_the_run_is_one_line(tmp_path, capsys, monkeypatch):
    import causalattn.lab.training as training

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "model" / "checkpoint.pt"))

    monkeypatch.setattr(training, "train", disk_full)
    assert main(["study", *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("causalattn study: error: [Errno 28] No space left on device") and "\n" not in err


def test_printed_accuracy_is_recomputed_from_the_weights(study_dir, tmp_path, capsys, monkeypatch):
    # before: the accuracy stored in the checkpoint's history was printed, whatever the weights
    import shutil

    import causalattn.lab.training as training
    shutil.copytree(study_dir / "model", tmp_path / "model")  # the cached model, without retraining it
    from causalattn.lab.metrics import evaluate
    from causalattn.lab.task import BigramTask
    real = training.train
    seen = {}

    def stale_history(*args, **kwargs):
        result = real(*args, **kwargs)
        result.history.loc[result.history.index[-1], "in_context_accuracy"] = 0.123456
        seen["model"], seen["task"], seen["recipe"] = result.model, BigramTask(result.task_config), result.train_config
        return result

    monkeypatch.setattr(training, "train", stale_history)
    assert main(["study", *TINY, "--seeds", "0", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    with torch.no_grad():
        expected = evaluate(seen["model"], seen["task"], seen["recipe"].eval_sequences, seed=seen["recipe"].eval_seed)
    assert f"held-out in-context accuracy {expected['in_context_accuracy']:.3f}" in printed
    assert "0.123" not in printed


def test_version_and_help_text(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"causalattn {causalattn.__version__}"
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    assert "1 is rejected" in text


def test_study_on_a_local_dask_cluster_gives_the_same_table(study_dir, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    assert main(["study", *TINY, "--local-cluster", "2", "--out", str(out)]) == 0
    # one torch thread per run wherever it runs: the same numbers as the in-process run
    pd.testing.assert_frame_equal(pd.read_csv(out / "effects.csv"), pd.read_csv(study_dir / "effects.csv"))


def test_bad_cluster_options(tmp_path, capsys, monkeypatch):
    out = tmp_path / "never"
    assert main(["study", *TINY, "--local-cluster", "0", "--out", str(out)]) == 2
    assert "`--local-cluster` must be a positive number of workers" in capsys.readouterr().err
    pytest.importorskip("distributed")
    assert main(["study", *TINY, "--scheduler", "bogus://nowhere:1", "--out", str(out)]) == 2
    assert "`--scheduler`: cannot connect to 'bogus://nowhere:1'" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the extra were not installed
    assert main(["study", *TINY, "--scheduler", "tcp://127.0.0.1:8786", "--out", str(out)]) == 2
    assert 'pip install "causalattn[distributed]"' in capsys.readouterr().err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["study", "--scheduler", "tcp://127.0.0.1:8786", "--local-cluster", "2"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_bare_command_prints_help(capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert "usage: causalattn" in printed and "study" in printed


def test_help_explains_the_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["study", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--model", "--d-model", "--n-triggers", "--treatments", "--n-sequences", "--seeds",
                   "--study-iters", "--out", "--n-jobs", "--no-progress", "--scheduler", "--local-cluster"):
        assert option in text
    assert build_parser().parse_args(["study"]).out == "causalattn-study"


def test_python_m_causalattn_without_importing_torch():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['causalattn']\n"
        "try:\n"
        "    runpy.run_module('causalattn', run_name='__main__')\n"
        "except SystemExit as exit_:\n"
        "    assert exit_.code == 0\n"
        "assert 'torch' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "usage: causalattn" in result.stdout


ABLATE_TINY = ["--k", "1", "--length", "8", "--n-sequences", "4", "--scan-sequences", "2", "--batch-size", "4",
               "--no-progress"]


@pytest.mark.parametrize("flag, value, match", [
    ("--k", "0", "`--k` must be at least 1"),
    ("--length", "1", "`--length` must be at least 2"),
    ("--n-sequences", "1", "`--n-sequences` must be at least 2"),
    ("--scan-sequences", "0", "`--scan-sequences` must be at least 1"),
    ("--batch-size", "0", "`--batch-size` must be at least 1"),
    ("--device", "toaster", "`--device` must name a torch device"),
])
def test_ablate_checks_its_options_before_loading_the_model(tmp_path, capsys, flag, value, match):
    out = tmp_path / "never"
    assert main(["ablate", *ABLATE_TINY, flag, value, "--out", str(out)]) == 2
    assert match in capsys.readouterr().err
    assert not out.exists()


def test_ablate_help_names_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["ablate", "--help"])
    text = capsys.readouterr().out
    for option in ("--model", "--device", "--k", "--kind", "--length", "--n-sequences", "--scan-sequences", "--out"):
        assert option in text


def test_ablate_on_smollm2_writes_its_outputs_and_resumes(smollm2, tmp_path, monkeypatch, capsys):
    import causalattn.lab.hf as hf

    monkeypatch.setattr(hf, "load_pretrained", lambda name, device="cpu", progress=True: smollm2)  # loaded once
    out = tmp_path / "ablate"
    assert main(["ablate", *ABLATE_TINY, "--out", str(out)]) == 0
    table = pd.read_csv(out / "effects.csv")
    assert list(table.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    # k = 1: the induction head and the control head (no group of one), accuracy then loss
    assert len(table) == 4 and list(table["outcome"]) == ["in_context_accuracy"] * 2 + ["in_context_loss"] * 2
    scan = pd.read_csv(out / "head_scan.csv")
    assert len(scan) == 270 and list(scan.columns) == ["layer", "head", "induction_score", "previous_token_score"]
    for name in ("forest.png", "head_scan.png"):
        assert (out / name).stat().st_size > 0
    arms = sorted((out / "evaluation" / "arms").iterdir())
    stamps = [p.stat().st_mtime_ns for p in arms]
    capsys.readouterr()
    assert main(["ablate", *ABLATE_TINY, "--out", str(out)]) == 0  # resumed: nothing recomputed
    assert [p.stat().st_mtime_ns for p in sorted((out / "evaluation" / "arms").iterdir())] == stamps
    pd.testing.assert_frame_equal(pd.read_csv(out / "effects.csv"), table)
    scores = out / "scan" / "scores.json"  # before: a CSV read back unchecked, so a truncated scan lost heads
    scores.write_bytes(scores.read_bytes()[:-900])
    with pytest.warns(UserWarning, match=r"scores.json is damaged \(unreadable: JSONDecodeError\); recomputing "
                                         r"the head scan"):
        assert main(["ablate", *ABLATE_TINY, "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "effects.csv"), table)
    assert main(["ablate", *ABLATE_TINY, "--length", "9", "--out", str(out)]) == 2
    assert "`--out`" in capsys.readouterr().err
