"""Build ``card.csv`` (Card 1995, college proximity) from the PyPI package ``causaldata``.

Build-time tool only (``pip install causaldata``); the library never imports it.

``causaldata.close_college`` holds 3,010 men of the US National Longitudinal
Survey of Young Men with 8 columns: ``nearc4`` (a four-year college in the
county), ``educ``, ``black``, ``smsa``, ``south``, ``married``, ``exper`` and
``lwage`` (log hourly wage, 1976). ``married`` is missing for 7 men: the file
keeps them as empty fields. ``lwage`` is stored as float32 and written as its
shortest decimal form (``str(numpy.float32(x))``), so the CSV holds exactly the
published values.

Usage (from the repository root)::

    python datasets/build_card.py            # writes into datasets/
    python datasets/build_card.py --out DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

COLUMNS = ["lwage", "educ", "nearc4", "exper", "black", "south", "smsa", "married"]


def build(out_dir: Path) -> None:
    import causaldata

    raw = causaldata.close_college.load_pandas().data
    if raw.shape != (3010, 8) or int(raw["married"].isna().sum()) != 7:
        raise RuntimeError(f"unexpected causaldata.close_college: shape {raw.shape}, "
                           f"{int(raw['married'].isna().sum())} missing `married`")
    card = raw[COLUMNS].copy()
    card["lwage"] = [str(np.float32(x)) for x in raw["lwage"]]
    card["married"] = raw["married"].astype("Int64")
    card.to_csv(out_dir / "card.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
