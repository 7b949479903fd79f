"""The `causalattn` command line: help, and the main job `causalattn study` on a tiny configuration."""

import csv
import io
import itertools
import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import causalattn
from causalattn import EFFECT_COLUMNS, EstimateTable, effects_frame
from causalattn.cli import build_parser, main
from causalattn.cli.options import default_treatments
from causalattn.cli.parser import ABLATE_DEFAULTS, STUDY_DEFAULTS
from causalattn.lab.interventions import parse_treatment
from causalattn.lab.studies.storage import StudyFolder

TINY = ["--d-model", "32", "--seq-len", "32", "--n-sequences", "16", "--seeds", "3", "--freeze-until", "20",
        "--study-iters", "40", "--study-batch-size", "8", "--n-jobs", "1", "--no-progress",
        "--treatments", "ablate_role:induction@L1:mean", "pattern:L0H0:previous_token"]
FROZEN = "freeze:W2_O:until20"


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
    assert list(table["treatment"]) == ["ablate_role:induction@L1:mean", "pattern:L0H0:previous_token", *[FROZEN] * 3]
    pooled, training = table[:2], table[table["treatment"] == FROZEN]
    # the evaluation study: the 3 control models are the clusters, 16 sequences each
    assert (pooled["method"] == "clustered-paired-t").all() and (pooled["n_models"] == 3).all()
    assert (pooled["n"] == 3 * 16).all() and (pooled["outcome"] == "in_context_accuracy").all()
    assert pooled["heads"].iloc[0] == "seed0=ablate:L1H0:mean; seed1=ablate:L1H0:mean; seed2=ablate:L1H0:mean"
    assert list(training["outcome"]) == ["in_context_accuracy_at_20", "in_context_accuracy_at_40",
                                         "restricted_iterations_to_0.9"]
    assert (training["n"] == 3).all() and (training["unit"] == "seed").all()  # n counts seeds, not runs
    per_model = pd.read_csv(study_dir / "per_model.csv")
    assert list(per_model["model"]) == ["seed0", "seed1", "seed2"] * 2
    assert list(per_model["head"][:3]) == ["ablate:L1H0:mean"] * 3
    assert (per_model["treatment"][:3] == "ablate_role:induction@L1:mean").all() and (per_model["n"] == 16).all()
    # the pooled estimate is the average of the per-model estimates (every model has all 16 sequences)
    for label, rows in per_model.groupby("treatment", sort=False):
        assert table.set_index("treatment").at[label, "estimate"] == pytest.approx(rows["estimate"].mean())
    for name in ("forest.png", "training_curves.png", "attention/control.png",
                 "attention/ablate_role_induction_L1_mean.png", "attention/pattern_L0H0_previous_token.png",
                 "per_model/ablate_role_induction_L1_mean.png", "per_model/pattern_L0H0_previous_token.png",
                 *(f"training/models/seed{s}__control.npz" for s in range(3))):
        assert (study_dir / name).stat().st_size > 0, name


def test_counts_are_written_as_integers(study_dir):
    # issue 18, item 18: before, n_models was written 3.0 (and n_censored 0.0) beside the blanks of other rows
    for name in ("effects.csv", "per_model.csv"):
        rows = list(csv.DictReader(io.StringIO((study_dir / name).read_text())))
        for row in rows:
            for column in ("n", "n_censored", "n_models"):
                assert re.fullmatch(r"\d*", row.get(column) or ""), (name, column, row.get(column))
    rows = list(csv.DictReader(io.StringIO((study_dir / "effects.csv").read_text())))
    assert [row["n_models"] for row in rows] == ["3", "3", "", "", ""]
    assert [row["n_censored"] for row in rows] == ["", "", "", "", rows[-1]["n_censored"]] != [""] * 5


def test_study_resumes_from_its_folder_and_every_printed_row_is_coherent(study_dir, capsys, monkeypatch):
    # one resumed run for two tests that each resumed the study (each resumed run cost about 7 s of CPU)
    import causalattn.lab.training.segments as seed_study

    before = {name: pd.read_csv(study_dir / name) for name in ("effects.csv", "per_model.csv")}
    kept = {p: p.stat().st_mtime_ns for p in (study_dir / "training").rglob("*") if p.is_file()}
    kept.update({p: p.stat().st_mtime_ns for p in (study_dir / "evaluation").rglob("*") if p.is_file()})
    monkeypatch.setattr(seed_study, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert main(["study", *TINY, "--out", str(study_dir)]) == 0  # resumed: prints the same table
    printed = capsys.readouterr().out
    assert "95%" in printed and "ablate_role:induction@L1:mean" in printed
    assert {p: p.stat().st_mtime_ns for p in kept} == kept  # nothing trained or evaluated again
    for name, frame in before.items():
        pd.testing.assert_frame_equal(pd.read_csv(study_dir / name), frame)
    table = pd.read_csv(study_dir / "effects.csv")
    lines = printed.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("-----")) + 1
    rows = lines[first: lines.index("", first)]  # the printed effects table, below its header
    assert len(rows) == len(table)
    for line, (_, row) in zip(rows, table.iterrows(), strict=True):
        units = "3 models" if row["method"] == "clustered-paired-t" else "3 seeds"
        assert line.startswith(row["treatment"]) and units in line and row["method"] in line
    # each row: CI and p from one procedure, so the CI excludes 0 exactly when its p-value is below 0.05
    estimable = table[table["method"] != "not estimable"]
    assert set(estimable["method"]) <= {"clustered-paired-t", "paired-t"}
    assert estimable["ci_low"].le(estimable["estimate"]).all() and estimable["estimate"].le(estimable["ci_high"]).all()
    excludes = (estimable["ci_low"] > 0) | (estimable["ci_high"] < 0)
    assert (excludes == (estimable["pvalue"] < 0.05)).all() and estimable["pvalue_randomization"].notna().all()
    # the pooled rows' interval is the t interval over the 3 model means, by hand
    per_model = pd.read_csv(study_dir / "per_model.csv")
    means = per_model[per_model["treatment"] == "ablate_role:induction@L1:mean"]["estimate"].to_numpy()
    half = stats.t.ppf(0.975, 2) * means.std(ddof=1) / np.sqrt(3)
    assert table.loc[0, "ci_low"] == pytest.approx(means.mean() - half)
    assert table.loc[0, "ci_high"] == pytest.approx(means.mean() + half)
    assert "3 models as the units" in printed and "2/2^n = 0.25" in printed and "Cochran's Q" in printed


def _as_written(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as a CSV file reads back (None as NaN, the column types pandas infers)."""
    return pd.read_csv(io.StringIO(frame.to_csv(index=False)))


def test_method_randomization_gives_every_row_from_the_python_api(study_dir, tmp_path, capsys, monkeypatch):
    # the fixture's trained runs and evaluated arms, copied: --method changes the statistics only, nothing retrains
    import shutil

    import causalattn.lab.training.segments as seed_study
    from causalattn.lab import BigramTask, ModelConfig, TaskConfig, models_study, training_study
    from causalattn.lab.training.config import Freeze, TrainConfig

    out = tmp_path / "randomization"
    shutil.copytree(study_dir, out)
    monkeypatch.setattr(seed_study, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert main(["study", *TINY, "--method", "randomization", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "the sign-flip test over the 3 model means and the interval inverting it" in printed
    table = pd.read_csv(out / "effects.csv")
    assert list(table["method"]) == [*["clustered-paired-randomization-exact"] * 2,  # 2^3 sign flips, enumerated
                                     *["paired-randomization-exact"] * 3]
    # no run reaches 0.9 in 40 iterations: both restricted means are 40, the difference 0; every sign flip gives 0
    # (p = 1), and with 3 seeds no shift can be rejected (p >= 0.25), so the inverted interval is the whole line
    threshold_row = table.iloc[4]
    assert threshold_row["outcome"] == "restricted_iterations_to_0.9" and threshold_row["n_censored"] == 6
    assert threshold_row["estimate"] == 0 and threshold_row["pvalue"] == 1
    assert threshold_row["ci_low"] == -np.inf and threshold_row["ci_high"] == np.inf

    # the same study through the Python API, from the same folder
    task_config = TaskConfig(n_triggers=5, seq_len=32)
    model_config = ModelConfig(kind="simplified", n_layers=2, n_heads=1, d_model=32, max_seq_len=32)
    training = training_study(model_config, task_config, TrainConfig(n_iters=40, batch_size=8, eval_sequences=64),
                              {"control": (), FROZEN: (Freeze("W2_O", 20),)}, seeds=range(3), at_iterations=[20, 40],
                              threshold=0.9, out_dir=out / "training", keep_models=True, progress=False)
    evaluation = models_study({f"seed{s}": training.model(s) for s in range(3)}, BigramTask(task_config),
                              TINY[-2:], n_sequences=16, seed=0, out_dir=out / "evaluation", progress=False)
    api = EstimateTable([*evaluation.effects("in_context_accuracy", method="randomization"),
                         *training.effects(adjust="holm", method="randomization")])
    pd.testing.assert_frame_equal(table[list(EFFECT_COLUMNS)], _as_written(effects_frame(api)))
    per_model = pd.read_csv(out / "per_model.csv")
    for label, rows in per_model.groupby("treatment", sort=False):
        expected = _as_written(effects_frame(evaluation.per_model(label, method="randomization")).assign(
            treatment=label))  # the CSV names the treatment as given, its `head` column the head each model used
        pd.testing.assert_frame_equal(rows[list(EFFECT_COLUMNS)].reset_index(drop=True), expected)

    # and by hand for the pooled rows: the 8 sign flips of the 3 model means (the t run's per-model estimates)
    means = pd.read_csv(study_dir / "per_model.csv").groupby("treatment", sort=False)["estimate"]
    for (label, m), (_, row) in zip(means, table[:2].iterrows(), strict=True):
        flips = np.array(list(itertools.product([1, -1], repeat=3))) * m.to_numpy()
        expected_p = np.mean(np.abs(flips.mean(axis=1)) >= abs(m.mean()) - 1e-12)
        assert row["treatment"] == label and row["pvalue"] == pytest.approx(expected_p) and expected_p >= 0.25
        assert (row["ci_low"], row["ci_high"]) == (-np.inf, np.inf)  # no p-value below 2/8: the whole line


def test_method_is_checked_before_anything_runs(tmp_path, capsys, monkeypatch):
    import causalattn.lab.training.segments as seed_study

    monkeypatch.setattr(seed_study, "train", lambda *a, **k: pytest.fail("trained before checking the options"))
    assert build_parser().parse_args(["study"]).method == build_parser().parse_args(["ablate"]).method == "t"
    for command, options in (("study", TINY), ("ablate", ABLATE_TINY)):
        out = tmp_path / command
        with pytest.raises(SystemExit) as exit_:
            main([command, *options, "--method", "wald", "--out", str(out)])
        assert exit_.value.code == 2 and not out.exists()
        assert re.search(r"argument --method: invalid choice: 'wald' \(choose from 't', 'normal', 'randomization', "
                         r"'bootstrap'\)", capsys.readouterr().err)


def test_defaults_answer_the_questions():
    # issue 10: at least 6 paired seeds (the sign-flip p can reach 2/2^6 = 1/32), at least 4 models evaluated
    # (the control model of every seed), with role-based treatments
    from causalattn.lab.interventions.roles import RoleAblation

    args = build_parser().parse_args(["study"])
    assert args.seeds == STUDY_DEFAULTS["seeds"] >= 6 and 2 / 2 ** args.seeds <= 1 / 32
    assert args.treatments is None  # None: the default set, by role
    assert default_treatments(args.n_layers) == [
        "ablate_role:induction@L1:zero", "ablate_role:induction@L1:mean",
        "ablate_role:previous_token@L0:zero", "ablate_role:previous_token@L0:mean"]
    assert all(isinstance(parse_treatment(label), RoleAblation) for label in default_treatments(2))
    assert default_treatments(1) == ["ablate_role:induction@L0:zero", "ablate_role:induction@L0:mean"]
    assert args.freeze == ["W2_O"] and args.freeze_until < args.study_iters  # the paper's Figure 3 question
    assert (args.d_model, args.seq_len, args.study_iters, args.study_batch_size) == (128, 128, 400, 16)


def test_interrupted_study_resumes_where_it_stopped(study_dir, tmp_path, monkeypatch):
    import causalattn.lab.training.segments as seed_study
    from causalattn.lab.training.loop import train

    calls = []

    def flaky_train(*args, **kwargs):
        if len(calls) == 4:
            raise KeyboardInterrupt  # killed after four of the six runs
        calls.append(args[2].data_seed)
        return train(*args, **kwargs)

    monkeypatch.setattr(seed_study, "train", flaky_train)
    assert main(["study", *TINY, "--out", str(tmp_path)]) == 130
    assert len(list((tmp_path / "training" / "units").glob("*.json"))) == 4
    monkeypatch.setattr(seed_study, "train", lambda *a, **k: (calls.append(a[2].data_seed), train(*a, **k))[1])
    assert main(["study", *TINY, "--out", str(tmp_path)]) == 0
    assert len(calls) == 6  # only the two unfinished runs were trained
    for name in ("effects.csv", "per_model.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(tmp_path / name), pd.read_csv(study_dir / name))


def test_chosen_treatments(tmp_path):
    out = tmp_path / "out"
    args = [*TINY[:-3], "--seeds", "2", "--treatments", "ablate:L0H0:zero+ablate_role:induction@L1:zero",
            "pattern_role:previous_token@L0:uniform", "--out", str(out)]
    assert main(["study", *args]) == 0
    table = pd.read_csv(out / "effects.csv")
    assert list(table["treatment"])[:2] == ["ablate:L0H0:zero+ablate_role:induction@L1:zero",
                                            "pattern_role:previous_token@L0:uniform"]
    assert table.loc[0, "heads"] == "seed0=ablate:L0H0:zero+ablate:L1H0:zero; seed1=ablate:L0H0:zero+ablate:L1H0:zero"
    assert table.loc[1, "heads"] == "seed0=pattern:L0H0:uniform; seed1=pattern:L0H0:uniform"  # one head per layer


def test_bad_options_give_an_error_message(tmp_path, capsys):
    assert main(["study", *TINY, "--seeds", "1", "--out", str(tmp_path)]) == 2
    assert "`--seeds` must be an integer >= 2, got 1" in capsys.readouterr().err
    assert main(["study", *TINY, "--treatments", "ablate:L5H0:zero", "--out", str(tmp_path)]) == 2
    assert "L5H0" in capsys.readouterr().err
    out = tmp_path / "never"
    assert main(["study", *TINY, "--n-sequences", "1", "--out", str(out)]) == 2  # before any training
    assert "`--n-sequences` must be an integer >= 2" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("options, message", [
    (["--n-jobs", "0"], "`--n-jobs` must be a non-zero integer"),
    (["--seeds", "0"], "`--seeds` must be an integer >= 2, got 0"),
    (["--freeze", "W9_X"], "`--freeze`: 'W9_X' is not a parameter of this model"),
    (["--freeze", "W2_O", "W2_O"], "`--freeze` names a parameter twice"),
    (["--freeze-until", "0"], "`--freeze-until` must be a positive integer, got 0"),
    (["--freeze-until", "50"], r"`--freeze-until` \(50\) is beyond `--study-iters` \(40\)"),
    (["--threshold", "1.5"], r"`--threshold` must be an in-context accuracy in \(0, 1\], got 1.5"),
    (["--study-iters", "0"], "`--study-iters` must be a positive integer, got 0"),
    (["--study-batch-size", "0"], "`--study-batch-size` must be a positive integer"),
    (["--d-model", "0"], "`--d-model` must be a positive integer"),
    (["--n-heads", "2"], "`--n-heads`=2 is not available"),
    (["--n-triggers", "1000"], "`--n-triggers` must be less than the vocabulary size"),
    # before: these trained the whole study, with NaN global metrics (65), or NaN in-context accuracy (too short)
    (["--n-triggers", "65"], r"`--n-triggers` must be less than the vocabulary size 65 \(with every token a trigger"),
    (["--seq-len", "2"], r"`--seq-len` 2 is too short for `--n-triggers` 5: the held-out set \(64 sequences of 2 "
                         r"tokens, 5 triggers\) has no in-context position"),
    (["--seq-len", "8", "--n-sequences", "2"], r"`--n-sequences`: only 0 of the 2 sequences drawn have an in-context "
                                               r"position"),
    (["--seed", "-1"], r"`--seed` must be an integer in \[0, 9223372036854775807\], got -1"),
    (["--seed", str(2**70)], r"`--seed` must be an integer in \[0, 9223372036854775807\], got 1180591620717411303424"),
    (["--treatments", "ablate_role:induction@L5:zero"],
     r"`--treatments`: `layer` 5 of 'ablate_role:induction@L5:zero' is out of range"),
    (["--treatments", "ablate_role:copying:zero"], r"`--treatments`: `role` must be one of"),
    (["--treatments", "pattern_role:induction@L5:uniform"],
     r"`--treatments`: `layer` 5 of 'pattern_role:induction@L5:uniform' is out of range"),
    (["--treatments", "pattern_role:copying@L0:uniform"], r"`--treatments`: `role` must be one of"),
    (["--treatments", "pattern_role:previous_token@L0:mean"],
     r"`--treatments`: `kind` must be one of \['uniform', 'previous_token', 'clean', 'corrupted'\], got 'mean'"),
    (["--treatments", "ablate:L1H0:zero", "ablate:L1H0:zero"], "`--treatments`: a label is given twice"),
    # issue 18, item 15: before, these trained the whole study, then failed (or crashed allocating 40 GB)
    (["--treatments", "ablate:L1H0:zero", "ablate:L01H0:zero"],
     "`--treatments`: a label is given twice: 'ablate:L1H0:zero' and 'ablate:L01H0:zero' both name 'ablate:L1H0:zero'"),
    (["--seq-len", "100000"], r"`--seq-len` 100000, `--n-layers` 2, `--n-heads` 1, `--study-batch-size` 8: the run "
                              r"would need about .* GB of memory, mostly for the attention patterns"),
    (["--d-model", "300000"], r"`--d-model` 300000, `--n-layers` 2: .* mostly for the weights .*lower `--d-model` or"),
    (["--n-sequences", "10000000000"], r"`--n-sequences` 10000000000, `--seq-len` 32: .*held-out sequences"),
    (["--out", "/sys/causalattn-out"], "`--out` /sys/causalattn-out cannot be used as the output folder"),
    (["--out", ""], r"`--out` is empty: give a folder path \('.' for the current folder\)"),  # before: wrote here
    (["--treatments", "pattern:L0H0:uniform+pattern:L0H0:previous_token"], "`--treatments`: `parts`: "
     "'pattern:L0H0:uniform' and 'pattern:L0H0:previous_token' both replace the pattern of L0H0"),
    # the effect layer refuses the bootstrap below 5 units: known before training, not after it
    (["--method", "bootstrap", "--seeds", "4"], "`--method` bootstrap needs at least 5 units per row, and `--seeds` "
                                                "gives 4"),
    # one head per layer: the role is that head in every model, so the clash is certain (before: after training)
    (["--treatments", "ablate:L1H0:zero+ablate_role:induction@L1:mean"], r"`--treatments`: `treatment` "
     r"'ablate:L1H0:zero\+ablate_role:induction@L1:mean' names one head twice in this model"),
])
def test_every_study_option_is_checked_before_training(tmp_path, capsys, monkeypatch, options, message):
    # before: these failed only after about 5 minutes of training, naming Python arguments (n_jobs)
    import causalattn.lab.training.segments as seed_study
    monkeypatch.setattr(seed_study, "train", lambda *a, **k: pytest.fail("trained before checking the options"))
    out = tmp_path / "never"
    assert main(["study", *TINY, "--out", str(out), *options]) == 2  # the last --out counts
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
    import causalattn.lab.training.segments as seed_study

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(seed_study, "train", interrupted)
    assert main(["study", *TINY, "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "causalattn study: interrupted; run the same command again to resume"


def test_os_error_during_the_run_is_one_line(tmp_path, capsys, monkeypatch):
    import causalattn.lab.training.segments as seed_study

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "training" / "checkpoint.pt"))

    monkeypatch.setattr(seed_study, "train", disk_full)
    assert main(["study", *TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("causalattn study: error: [Errno 28] No space left on device") and "\n" not in err


def test_version_and_help_text(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"causalattn {causalattn.__version__}"
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: None)" not in text
    assert "(default: 8)" in text and "ablate_role:induction@L1:zero" in text


def test_study_on_a_local_dask_cluster_gives_the_same_table(study_dir, tmp_path):
    pytest.importorskip("distributed")
    out = tmp_path / "dask"
    assert main(["study", *TINY, "--local-cluster", "2", "--out", str(out)]) == 0
    # one torch thread per run wherever it runs: the same numbers as the in-process run
    for name in ("effects.csv", "per_model.csv"):  # the models came back from the workers
        pd.testing.assert_frame_equal(pd.read_csv(out / name), pd.read_csv(study_dir / name))


def test_bad_cluster_options(tmp_path, capsys, monkeypatch):
    out = tmp_path / "never"
    assert main(["study", *TINY, "--local-cluster", "0", "--out", str(out)]) == 2
    assert "`--local-cluster` must be a positive integer, got 0" in capsys.readouterr().err
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
    ("--k", "0", "`--k` must be a positive integer, got 0"),
    ("--length", "1", "`--length` must be an integer >= 2, got 1"),
    ("--n-sequences", "1", "`--n-sequences` must be an integer >= 2, got 1"),
    ("--scan-sequences", "0", "`--scan-sequences` must be a positive integer, got 0"),
    ("--batch-size", "0", "`--batch-size` must be a positive integer, got 0"),
    ("--seed", "-1", "`--seed` must be an integer in [0, 9223372036854775807], got -1"),
    ("--seed", str(2**70), "`--seed` must be an integer in [0, 9223372036854775807], got 1180591620717411303424"),
    ("--model", "/nonexistent/model.gguf", "`--model`: '/nonexistent/model.gguf' is neither a known model"),
    ("--model", "TEXT", "is a file but not a .gguf model file"),
    ("--model", "", "`--model`: must name a model ('smollm2-135m', a .gguf file or a folder), got ''"),
    ("--out", "/sys/causalattn-out", "`--out` /sys/causalattn-out cannot be used as the output folder: Permission"),
    ("--out", "/dev/null", "`--out` /dev/null is not a folder"),
    ("--out", "", "`--out` is empty: give a folder path ('.' for the current folder)"),
    ("--out", "TEXT/sub", "cannot be used as the output folder: Not a directory"),
    ("--device", "toaster", "`--device` must name a torch device"),
    *([("--device", "cuda:7", "`--device` 'cuda:7': this machine has")] if torch.cuda.device_count() < 8 else []),
    ("--method", "bootstrap", "`--method` bootstrap needs at least 5 units per row, and `--n-sequences` gives 4"),
])
def test_ablate_checks_its_options_before_loading_the_model(tmp_path, capsys, monkeypatch, flag, value, match):
    import causalattn.lab.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "load_pretrained", lambda *a, **k: pytest.fail("loaded before checking"))
    (tmp_path / "notes.txt").write_text("not a model")
    value = value.replace("TEXT", str(tmp_path / "notes.txt"))
    out = tmp_path / "never"
    assert main(["ablate", *ABLATE_TINY, "--out", str(out), flag, value]) == 2  # the last --out counts
    assert match in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]  # nothing written, no probe left


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A tiny random GPT-2 (2 layers x 2 heads, a context of 32 tokens) saved with a 40-word tokenizer."""
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=40, n_positions=32)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(40)}, unk_token="w0"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=words, bos_token="w1").save_pretrained(folder)
    return folder


@pytest.mark.parametrize("flag, value, match", [
    ("--length", "20", "`--length` 20 is too long: 2L tokens exceed the model's context 32"),
    ("--k", "3", "`--k` 3 is too large: the model has 4 heads"),
    ("--batch-size", "10000000000", "`--batch-size` 10000000000, `--length` 8: the run would need about"),
])
def test_ablate_checks_what_needs_the_model_before_writing_anything(tiny_checkpoint, tmp_path, capsys, flag, value,
                                                                      match):
    # issue 18, item 14: before, study.json was written first, so the corrected command was refused (`--out`)
    out = tmp_path / "ablate"
    assert main(["ablate", *ABLATE_TINY, "--model", str(tiny_checkpoint), "--out", str(out), flag, value]) == 2
    assert match in capsys.readouterr().err
    assert not out.exists()
    assert main(["ablate", *ABLATE_TINY, "--model", str(tiny_checkpoint), "--out", str(out)]) == 0
    assert len(pd.read_csv(out / "head_scan.csv")) == 4


def test_ablate_help_names_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["ablate", "--help"])
    text = capsys.readouterr().out
    for option in ("--model", "--device", "--k", "--kind", "--length", "--n-sequences", "--scan-sequences", "--out"):
        assert option in text


@pytest.fixture(scope="module")
def ablated(smollm2, one_thread, tmp_path_factory):
    """One `causalattn ablate` run on the shared SmolLM2, its folder shared by the tests below (in this order).

    Returns the folder, the effects table as first written, and the modification times of the arm files.
    """
    import causalattn.lab.models.pretrained as pretrained

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrained, "load_pretrained", lambda name, device="cpu", progress=True: smollm2)  # loaded once
        patch.setitem(ABLATE_DEFAULTS, "reference_size", 4)  # not 32: it was most of each run's forward passes
        out = tmp_path_factory.mktemp("ablate") / "ablate"
        assert main(["ablate", *ABLATE_TINY, "--out", str(out)]) == 0
    return out, pd.read_csv(out / "effects.csv"), _stamps(out)


def _stamps(out):
    return [p.stat().st_mtime_ns for p in sorted((out / "evaluation" / "arms").iterdir())]


@pytest.fixture
def ablate_again(smollm2, monkeypatch):
    """``main(["ablate", ...])`` on the shared SmolLM2 (as the `ablated` run), with more flags."""
    import causalattn.lab.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "load_pretrained", lambda name, device="cpu", progress=True: smollm2)
    monkeypatch.setitem(ABLATE_DEFAULTS, "reference_size", 4)
    return lambda out, *flags: main(["ablate", *ABLATE_TINY, *flags, "--out", str(out)])


def test_ablate_on_smollm2_writes_its_outputs(ablated):
    out, table, _ = ablated
    assert list(table.columns[: len(EFFECT_COLUMNS)]) == list(EFFECT_COLUMNS)
    # k = 1: the induction head and the control head (no group of one), accuracy then loss
    assert len(table) == 4 and list(table["outcome"]) == ["in_context_accuracy"] * 2 + ["in_context_loss"] * 2
    scan = pd.read_csv(out / "head_scan.csv")
    assert len(scan) == 270 and list(scan.columns) == ["layer", "head", "induction_score", "previous_token_score"]
    for name in ("forest.png", "head_scan.png"):
        assert (out / name).stat().st_size > 0


def test_ablate_recomputes_a_damaged_scan_and_nothing_else(ablated, ablate_again):
    out, table, stamps = ablated
    scores = out / "scan" / "scores.json"  # before: a CSV read back unchecked, so a truncated scan lost heads
    saved = scores.read_bytes()
    scores.write_bytes(saved[:-900])
    with pytest.warns(UserWarning, match=r"scores.json is damaged \(unreadable: JSONDecodeError\); recomputing "
                                         r"the head scan"):
        assert ablate_again(out) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "effects.csv"), table)
    assert _stamps(out) == stamps  # resumed: the arms were not evaluated again
    # before: an intact scan of another version, without a score column, stopped the run with a KeyError
    wrapped = json.loads(saved)
    StudyFolder(out / "scan", wrapped["study"]).save_json("scores.json", {
        key: value for key, value in wrapped["content"].items() if key != "previous_token_score"},
        identity={"head_scan": "scores"})
    with pytest.warns(UserWarning, match=r"scores.json is damaged \(unexpected content, KeyError: "
                                         r".*previous_token_score.*\); recomputing the head scan"):
        assert ablate_again(out) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "effects.csv"), table)
    assert _stamps(out) == stamps


def test_ablate_refuses_the_folder_of_another_run_before_loading(ablated, capsys, monkeypatch):
    import causalattn.lab.models.pretrained as pretrained

    out = ablated[0]
    monkeypatch.setattr(pretrained, "load_pretrained", lambda *a, **k: pytest.fail("loaded before checking --out"))
    assert main(["ablate", *ABLATE_TINY, "--length", "9", "--out", str(out)]) == 2
    assert "`--out`" in capsys.readouterr().err


def test_ablate_resumed_with_randomization_is_the_python_api_study(ablated, ablate_again, smollm2):
    from causalattn.lab.studies.evaluation import evaluation_study
    from causalattn.lab.tasks.repeated import RepeatedTokensTask

    out, table, stamps = ablated
    # --method randomization: the same arms (nothing recomputed), every row from the sign-flip test
    assert ablate_again(out, "--method", "randomization") == 0
    assert _stamps(out) == stamps
    randomized = pd.read_csv(out / "effects.csv")
    assert (randomized["method"] == "paired-randomization-exact").all()  # 2^4 sign flips, enumerated
    model, tokenizer = smollm2  # the same study through the Python API, from the same folder
    study = evaluation_study(model, RepeatedTokensTask.from_tokenizer(tokenizer, 8, vocab_size=model.vocab_size),
                             [parse_treatment(label) for label in table["treatment"][:2]], n_sequences=4, seed=0,
                             batch_size=4, reference_size=4, out_dir=out / "evaluation", progress=False)
    api = EstimateTable([*study.effects("in_context_accuracy", method="randomization"),
                         *study.effects("in_context_loss", method="randomization")])
    pd.testing.assert_frame_equal(randomized, _as_written(effects_frame(api)))
    wide = study.units.pivot(index="sequence", columns="arm", values="in_context_accuracy")
    for label, p in zip(randomized["treatment"][:2], randomized["pvalue"][:2], strict=True):  # the 16 sign flips
        d = (wide[label] - wide["control"]).to_numpy()
        flipped = np.array(list(itertools.product([1, -1], repeat=4))) * d
        assert p == pytest.approx(np.mean(np.abs(flipped.mean(axis=1)) >= abs(d.mean()) - 1e-12))


def test_ablate_decompose_on_smollm2(smollm2, tmp_path, monkeypatch, capsys):
    import causalattn.lab.models.pretrained as hf

    monkeypatch.setattr(hf, "load_pretrained", lambda name, device="cpu", progress=True: smollm2)
    monkeypatch.setitem(ABLATE_DEFAULTS, "reference_size", 4)
    out = tmp_path / "ablate"
    assert main(["ablate", *ABLATE_TINY, "--decompose", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "decomposition of the effects on in_context_accuracy" in printed and "self-repair" in printed
    table = pd.read_csv(out / "effects.csv")
    assert list(table.columns) == [*EFFECT_COLUMNS, "component", "contrast"]
    # k = 1: two heads; per outcome their totals, then each head's direct, indirect and self-repair rows
    assert len(table) == 16 and list(table["component"][:8]) == ["total"] * 2 + ["direct", "indirect",
                                                                                  "self-repair"] * 2
    assert (out / "decomposition.png").stat().st_size > 0
    for outcome, rows in table.groupby("outcome"):
        for head, parts in rows.groupby("treatment"):
            value = dict(zip(parts["component"], parts["estimate"], strict=True))
            assert value["indirect"] == pytest.approx(value["total"] - value["direct"], abs=1e-12), (outcome, head)
            assert value["self-repair"] == pytest.approx(-value["indirect"], abs=1e-12)
            contrasts = dict(zip(parts["component"], parts["contrast"], strict=True))
            assert contrasts["indirect"] == f"{head} - {head.replace('ablate:', 'path:').replace(':mean', '')}" \
                "->logits:mean"
    # the same folder without --decompose: the arms are reused, effects.csv is the plain one
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "evaluation" / "arms").iterdir()}
    assert main(["ablate", *ABLATE_TINY, "--out", str(out)]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in (out / "evaluation" / "arms").iterdir()} == stamps
    plain = pd.read_csv(out / "effects.csv")
    assert list(plain.columns) == list(EFFECT_COLUMNS) and len(plain) == 4
    pd.testing.assert_series_equal(plain["estimate"], table["estimate"][table["component"] == "total"].reset_index(
        drop=True))
