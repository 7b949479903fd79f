"""The `causalattn` command line: help, and the main job `causalattn study` on a tiny configuration."""

import subprocess
import sys

import pandas as pd
import pytest
import torch

from causalattn import EFFECT_COLUMNS
from causalattn.cli import build_parser, main

TINY = ["--d-model", "32", "--seq-len", "32", "--train-iters", "20", "--n-sequences", "16", "--seeds", "2",
        "--freeze-until", "10", "--study-iters", "20", "--study-batch-size", "8", "--n-jobs", "1", "--no-progress"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and the test machine's cores are shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    assert main(["study", *TINY, "--out", str(out)]) == 0
    return out


def test_study_writes_table_forest_and_attention_maps(study_dir, capsys):
    table = pd.read_csv(study_dir / "effects.csv")
    assert list(table.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    default = {f"{kind}:L{layer}H0:{how}" for layer in (0, 1)
               for kind, hows in (("ablate", ("zero", "mean")), ("pattern", ("previous_token", "uniform")))
               for how in hows}
    assert default | {"freeze:W2_O:until10"} == set(table["treatment"])
    training = table[table["treatment"] == "freeze:W2_O:until10"]
    assert list(training["outcome"]) == ["in_context_accuracy_at_10", "in_context_accuracy_at_20",
                                         "iterations_to_0.9"]
    assert (training["n"] == 4).all()  # 2 seeds x 2 arms
    assert table["ci_low"].le(table["estimate"]).all() and table["estimate"].le(table["ci_high"]).all()
    for name in ("forest.png", "training_curves.png", "attention/control.png", "attention/ablate_L1H0_mean.png",
                 "attention/pattern_L0H0_previous_token.png"):
        assert (study_dir / name).stat().st_size > 0, name
    assert len(list(study_dir.glob("attention/*.png"))) == 1 + len(default)


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
    args = [*TINY, "--seeds", "0", "--treatments", "ablate:L0H0:zero+ablate:L1H0:zero", "--out", str(out)]
    assert main(["study", *args]) == 0
    table = pd.read_csv(out / "effects.csv")
    assert list(table["treatment"]) == ["ablate:L0H0:zero+ablate:L1H0:zero"]
    assert not (out / "training_curves.png").exists()


def test_bad_options_give_an_error_message(tmp_path, capsys):
    assert main(["study", *TINY, "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "`--seeds` must be 0 (no training study) or at least 2" in capsys.readouterr().err
    assert main(["study", *TINY, "--treatments", "ablate:L5H0:zero", "--out", str(tmp_path)]) == 2
    assert "L5H0" in capsys.readouterr().err


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
                   "--study-iters", "--out", "--n-jobs", "--no-progress"):
        assert option in text
    assert build_parser().parse_args(["study"]).out == "causalattn-study"


def test_python_m_causalattn_and_no_torch_at_import():
    result = subprocess.run([sys.executable, "-m", "causalattn"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "usage: causalattn" in result.stdout
    code = "import sys, causalattn, causalattn.cli; assert 'torch' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
