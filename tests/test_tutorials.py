"""Every tutorial runs to the end and writes its figures.

Add a tutorial by adding its file name to ``TUTORIALS``.
"""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL_DIR = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = [
    "01_association.py",
    "02_simpsons_paradox.py",
    "03_lalonde_regression.py",
    "04_randomization_tests.py",
    "05_birth_of_an_induction_head.py --quick",
    "06_ablation_study.py --quick",
    "07_freezing_as_treatment.py --quick",
    "09_lalonde_observational.py --quick",
    "10_models_as_units.py --quick",
    "11_mediation.py --quick",
    "13_mendelian_and_msm.py --quick",
]  # and 08_real_model_ablation.py --quick, run by test_real_model_tutorial_runs_and_saves_figures


def _check_outputs(script, stdout, out):
    assert stdout.strip(), "a tutorial prints what it teaches"
    figures = list(out.glob("*.png")) + list(out.glob("*.pdf")) + list(out.glob("*.svg"))
    assert figures, f"{script} wrote no figure into --out"
    assert all(f.stat().st_size > 0 for f in figures)


def _run_here(script, args, monkeypatch):
    """Run a tutorial in this process as ``python tutorials/<script> <args>`` would (its folder on sys.path)."""
    monkeypatch.syspath_prepend(str(TUTORIAL_DIR))
    monkeypatch.setattr(sys, "argv", [str(TUTORIAL_DIR / script), *args])
    runpy.run_path(str(TUTORIAL_DIR / script), run_name="__main__")


@pytest.mark.slow
@pytest.mark.parametrize("script", TUTORIALS)
def test_tutorial_runs_and_saves_figures(script, tmp_path):
    out = tmp_path / "output"
    result = subprocess.run(
        [sys.executable, str(TUTORIAL_DIR / script.split()[0]), *script.split()[1:], "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # generous: cores are shared
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _check_outputs(script, result.stdout, out)


def test_real_model_tutorial_runs_and_saves_figures(smollm2, tmp_path, monkeypatch, capsys):
    # In this process, where the tutorial's load_pretrained("smollm2-135m") returns the session's SmolLM2 (the
    # fixture loads it by that same call): in a new process the model would be loaded once more (30 s of CPU).
    import causalattn.lab.models.pretrained as hf

    def loaded(name_or_path):
        assert name_or_path == "smollm2-135m"
        return smollm2

    monkeypatch.setattr(hf, "load_pretrained", loaded)
    out = tmp_path / "output"
    _run_here("08_real_model_ablation.py", ["--quick", "--out", str(out)], monkeypatch)
    _check_outputs("08_real_model_ablation.py", capsys.readouterr().out, out)


@pytest.mark.parametrize("script", sorted(p.name for p in TUTORIAL_DIR.glob("[0-9]*.py")))
def test_tutorial_help_gives_the_full_run_time(script, monkeypatch, capsys):
    # in this process: a new one per tutorial costs 3-8 s of CPU in imports; the runs above start from scratch
    with pytest.raises(SystemExit) as exit_:
        _run_here(script, ["--help"], monkeypatch)
    assert exit_.value.code == 0
    assert re.search(r"Full run: [^.]*\b(seconds|minutes?)\b", " ".join(capsys.readouterr().out.split()))


@pytest.fixture(scope="module")
def tutorial_module():
    """Import a tutorial script as a module (its folder on sys.path, as when it runs)."""
    import importlib

    sys.path.insert(0, str(TUTORIAL_DIR))
    yield importlib.import_module
    sys.path.remove(str(TUTORIAL_DIR))


def test_measures_figure_is_readable(tutorial_module):
    # before: one tick ("1") on the risk-ratio panel, no x labels, no values on the bars
    from causalattn import EstimateTable, Table2x2, datasets
    tutorial = tutorial_module("01_association")
    table = Table2x2.from_data(datasets.load("kidney_stones"), treatment="treatment", outcome="success")
    estimates = EstimateTable([table.risk_difference(), table.risk_ratio(), table.odds_ratio()])
    fig = tutorial.plot_measures(table, estimates)
    fig.canvas.draw()
    bars, rd, rr, odds = fig.axes
    assert [t.get_text() for t in bars.texts] == [f"{table.p0:.3f}\n(289/350)", f"{table.p1:.3f}\n(273/350)"]
    low, high = rr.get_xlim()
    ticks = [t.get_text() for t in rr.get_xticklabels() if t.get_text()]
    assert len(ticks) >= 3 and all(low <= float(t) <= high for t in ticks)
    assert all(ax.get_xlabel() for ax in (rd, rr, odds)) and "log" in rr.get_xlabel()
    rr_est = estimates[1]
    assert f"{rr_est.estimate:.3g} [{rr_est.confidence_interval.low:.3g}, " in rr.texts[0].get_text()


def test_berkeley_bubbles_and_lalonde_colours_have_legends(tutorial_module):
    import pandas as pd
    berkeley = tutorial_module("02_simpsons_paradox").plot_berkeley(pd.DataFrame(
        {"men applying": [800, 500], "women applying": [100, 300], "admit rate men": [0.6, 0.3],
         "admit rate women": [0.7, 0.3], "share women": [0.11, 0.375]}, index=["A", "B"]))
    legend = berkeley.axes[0].get_legend()
    assert "applicants" in legend.get_title().get_text() and "bubble area" in legend.get_title().get_text()
    from causalattn import EstimateTable
    from causalattn.estimate import normal_estimate
    estimates = EstimateTable([normal_estimate(name, x, 500.0, confidence_level=0.95, method="wald", n=10)
                               for name, x in (("CPS-1: OLS", -8000.0), ("NSW difference in means", 1800.0))])
    lalonde = tutorial_module("03_lalonde_regression").plot_comparison(estimates, benchmark=1800.0)
    texts = [t.get_text() for t in lalonde.axes[0].get_legend().get_texts()]
    assert any("CPS-1 controls" in t for t in texts) and any("NSW controls" in t for t in texts)
