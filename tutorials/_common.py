"""What every tutorial script shares: the Agg backend, the ``--out`` folder, section headings, saving figures.

Import it first in a tutorial (``from _common import parse_args, save, section``):
the script's folder is on ``sys.path`` when it runs as ``python tutorials/NN_name.py``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parent / "output"


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None, *,
               runtime: str) -> argparse.Namespace:
    """Parse ``--out`` (figure folder, created; default ``tutorials/output``) and any options ``extra`` adds.

    ``runtime`` says how long the full run takes; ``--help`` shows it below the description.
    """
    parser = argparse.ArgumentParser(description=description, epilog=f"Full run: {runtime}.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the figures (created if missing)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    return args


def section(title: str) -> None:
    """Print an underlined heading."""
    print(f"\n{title}\n{'=' * len(title)}")


def save(fig, path: Path) -> None:
    """Write ``fig`` to ``path``, close it, and say where it went."""
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")
