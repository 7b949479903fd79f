"""``import causalattn`` (which every CLI call pays) stays light: no ``statsmodels.api``.

``statsmodels.api`` imports the whole of statsmodels (time series, GEE, mixed models, imputation, ...): it was
1.1 s of the 2.1 s that ``import causalattn`` took. The package imports the narrow modules it uses
(``statsmodels.regression.linear_model``, ``statsmodels.genmod...``) instead.
"""

import pathlib
import subprocess
import sys
import textwrap

import causalattn

HEAVY = ("statsmodels.api", "statsmodels.formula.api", "statsmodels.tsa")


def test_importing_the_package_and_the_cli_does_not_load_statsmodels_api():
    code = textwrap.dedent(
        f"""
        import importlib, pkgutil, sys
        import causalattn, causalattn.cli
        assert "torch" not in sys.modules, "import causalattn loaded torch"
        for mod in pkgutil.walk_packages(causalattn.__path__, "causalattn."):
            if not mod.name.startswith(("causalattn.lab", "causalattn.cli", "causalattn.__main__")):
                importlib.import_module(mod.name)  # every module of the statistics half
        print(sorted(name for name in sys.modules if name.startswith({HEAVY!r})))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_no_module_of_the_package_imports_statsmodels_api():
    """The lab's modules too (importing them all would load torch and transformers in the test)."""
    root = pathlib.Path(causalattn.__file__).parent
    offenders = [str(path.relative_to(root)) for path in sorted(root.rglob("*.py"))
                 if any(f"import {name}" in path.read_text() or f"from {name} import" in path.read_text()
                        for name in HEAVY)]
    assert offenders == []
