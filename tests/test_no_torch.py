"""The statistics half must import and run without torch installed."""

import subprocess
import sys
import textwrap


def test_statistics_half_runs_without_torch():
    code = textwrap.dedent(
        """
        import sys

        class BlockTorch:  # any `import torch` now raises ImportError, as on a machine without torch
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is blocked in this test")

        sys.meta_path.insert(0, BlockTorch())
        import pkgutil, importlib
        import causalattn
        for mod in pkgutil.iter_modules(causalattn.__path__):
            if mod.name not in ("lab", "cli", "__main__"):
                importlib.import_module("causalattn." + mod.name)
        print(causalattn.Table2x2([[81, 6], [234, 36]]).risk_difference())
        assert "torch" not in sys.modules
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "risk difference" in result.stdout
