"""Every tutorial runs to the end and writes its figures.

Add a tutorial by adding its file name to ``TUTORIALS``.
"""

import importlib.util
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
    pytest.param("08_real_model_ablation.py --quick", marks=pytest.mark.skipif(
        importlib.util.find_spec("transformers") is None, reason="needs the hf extra (transformers)")),
    "09_lalonde_observational.py --quick",
]


@pytest.mark.parametrize("script", TUTORIALS)
def test_tutorial_runs_and_saves_figures(script, tmp_path):
    out = tmp_path / "output"
    result = subprocess.run(
        [sys.executable, str(TUTORIAL_DIR / script.split()[0]), *script.split()[1:], "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,  # generous: cores are shared
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip(), "a tutorial prints what it teaches"
    figures = list(out.glob("*.png")) + list(out.glob("*.pdf")) + list(out.glob("*.svg"))
    assert figures, f"{script} wrote no figure into --out"
    assert all(f.stat().st_size > 0 for f in figures)
