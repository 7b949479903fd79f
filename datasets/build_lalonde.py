"""Build ``lalonde_nsw.csv`` and ``lalonde_cps1.csv`` from the PyPI package ``causaldata``.

Build-time tool only (``pip install causaldata``); the library never imports it.

``causaldata.nsw_mixtape`` is the Dehejia-Wahba NSW subsample (445 men: 185
treated, 260 controls; all of its rows) and ``causaldata.cps_mixtape`` the
15,992 CPS-1 controls. Both store earnings as float32. The published files are
reproduced by rounding the shortest decimal form of each float32 value
(``str(numpy.float32(x))``) half-up to a number of significant digits:

* ``lalonde_nsw.csv`` (R package Matching's ``lalonde``): NSW earnings rounded
  to 7 and then to 6 significant digits; ``u74 = (re74 == 0)``,
  ``u75 = (re75 == 0)`` as in that file.
* ``lalonde_cps1.csv`` (Ding's ``cps1re74.csv``): the 185 NSW treated with
  earnings at 7 significant digits, then the CPS-1 controls with earnings at
  3 significant digits.

Column names are Ding's (``hispan``, ``married``, ``nodegree``).

Usage (from the repository root)::

    python datasets/build_lalonde.py            # writes into datasets/
    python datasets/build_lalonde.py --out DIR
"""

from __future__ import annotations

import argparse
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import numpy as np
import pandas as pd

EARNINGS = ["re74", "re75", "re78"]
RENAME = {"hisp": "hispan", "marr": "married"}
COVARIATES = ["age", "educ", "black", "hispan", "married", "nodegree"]


def round_significant(value: float, *digit_steps: int) -> Decimal:
    """The shortest decimal form of float32 ``value``, rounded half-up to each of ``digit_steps`` significant digits."""
    d = Decimal(str(np.float32(value)))
    for digits in digit_steps:
        if d != 0:
            d = d.quantize(Decimal(1).scaleb(d.adjusted() - digits + 1), rounding=ROUND_HALF_UP)
    return d


def _format(d: Decimal) -> str:
    """Plain decimal text without exponent or trailing zeros after the point (``21500``, ``9930.046``)."""
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _rounded(frame: pd.DataFrame, *digit_steps: int) -> pd.DataFrame:
    out = frame.rename(columns=RENAME).drop(columns="data_id").astype({c: "int64" for c in ["treat", *COVARIATES]})
    for col in EARNINGS:
        out[col] = [_format(round_significant(x, *digit_steps)) for x in out[col]]
    return out


def build(out_dir: Path) -> None:
    import causaldata

    nsw = causaldata.nsw_mixtape.load_pandas().data
    cps = causaldata.cps_mixtape.load_pandas().data
    if len(nsw) != 445 or int(nsw["treat"].sum()) != 185:
        raise RuntimeError(f"unexpected causaldata.nsw_mixtape: {len(nsw)} rows, {int(nsw['treat'].sum())} treated")
    if len(cps) != 15992 or int(cps["treat"].sum()) != 0:
        raise RuntimeError(f"unexpected causaldata.cps_mixtape: {len(cps)} rows")

    matching = _rounded(nsw, 7, 6)
    matching["u74"] = (matching["re74"].astype(float) == 0).astype("int64")
    matching["u75"] = (matching["re75"].astype(float) == 0).astype("int64")
    matching = matching[[*COVARIATES, *EARNINGS, "u74", "u75", "treat"]]
    matching.to_csv(out_dir / "lalonde_nsw.csv", index=False)

    treated = _rounded(nsw[nsw["treat"] == 1], 7)
    controls = _rounded(cps, 3)
    cps1 = pd.concat([treated, controls], ignore_index=True)[["treat", *COVARIATES, *EARNINGS]]
    cps1.to_csv(out_dir / "lalonde_cps1.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    build(parser.parse_args().out)


if __name__ == "__main__":
    main()
