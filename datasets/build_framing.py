"""Build ``framing.csv`` (Brader, Valentino and Suhay 2008) from the copy shipped inside statsmodels.

Build-time tool only: it reads ``statsmodels/stats/tests/results/framing.csv``
of an installed statsmodels (0.15.0 was used; the library never reads that
file). That file is R's ``mediation::framing`` (265 subjects, 15 columns)
written by R's ``write.csv``, whose first, unnamed column holds R's row names
1-265. This script checks its SHA-256, drops the row-name column and writes the
other 15 columns unchanged.

Usage (from the repository root)::

    python datasets/build_framing.py            # writes into datasets/
    python datasets/build_framing.py --out DIR
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pandas as pd

SHA256 = "a17d4f27c3e553c1adf5707a9872cc68f4954c1fbe8a2a8067c643337d93cf8e"
COLUMNS = ["cond", "anx", "age", "educ", "gender", "income", "emo", "p_harm", "tone", "eth", "treat", "english",
           "immigr", "anti_info", "cong_mesg"]


def build(out_dir: Path) -> None:
    import statsmodels

    source = Path(statsmodels.__file__).parent / "stats" / "tests" / "results" / "framing.csv"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    if digest != SHA256:
        raise RuntimeError(f"{source} has SHA-256 {digest}, expected {SHA256} (statsmodels 0.15.0's copy)")
    raw = pd.read_csv(source)
    if raw.shape != (265, 16) or raw.iloc[:, 0].tolist() != list(range(1, 266)):
        raise RuntimeError(f"unexpected {source}: shape {raw.shape}")
    raw[COLUMNS].to_csv(out_dir / "framing.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
