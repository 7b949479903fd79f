"""2x2-table helpers shared by the modules of :mod:`causalattn.tables`.

Counts are ``[[a, b], [c, d]]``: rows treated (:math:`Z = 1`) and control
(:math:`Z = 0`), columns :math:`Y = 1` and :math:`Y = 0` (Ding 2024, ch. 1).
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import (
    MAX_EXACT_INTEGER,
    as_binary_array,
    check_columns,
    check_exact_integers,
)
from causalattn.estimate import Estimate, normal_estimate

ROWS = ("treated (Z=1)", "control (Z=0)")
ZERO_CELL_HINT = "pass `correction=0.5` (Haldane-Anscombe) to add 0.5 to every cell"


def check_counts(name: str, counts: Any) -> np.ndarray:
    """A 2x2 array of non-negative integer counts; ``name`` is the argument named in the messages."""
    try:
        raw = np.asarray(counts)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a 2x2 array of counts, could not convert it: {exc}") from None
    check_exact_integers(f"`{name}`", raw)  # before the conversion to float, which would round them
    try:
        arr = raw.astype(float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a 2x2 array of counts, could not convert it: {exc}") from None
    if arr.shape != (2, 2):
        raise ValueError(f"`{name}` must have shape (2, 2) (rows Z=1, Z=0; columns Y=1, Y=0), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"`{name}` must be finite, got {arr.tolist()}")
    if (arr < 0).any():
        raise ValueError(f"`{name}` must be non-negative, got {arr.tolist()}")
    if (arr != np.round(arr)).any():
        raise ValueError(f"`{name}` must hold integer counts, got {arr.tolist()}")
    if (arr > MAX_EXACT_INTEGER).any():
        raise ValueError(f"`{name}` must hold counts up to 2**53 = {MAX_EXACT_INTEGER:.4g}, the largest that "
                         f"floating point represents exactly, got {arr.max():.4g}")
    return arr.astype(np.int64)


def check_arms(name: str, counts: np.ndarray, where: str) -> None:
    """A ValueError naming ``name`` unless both rows (treated, control) of ``counts`` hold units.

    Without units in a row its risk is undefined.
    """
    for row, label in zip(counts, ROWS, strict=True):
        if row.sum() == 0:
            raise ValueError(f"`{name}`: {where} has no {label} units; each risk needs at least one unit")


def check_correction(correction: Any) -> float | None:
    """``None`` or a positive finite number added to every cell."""
    if correction is None:
        return None
    if isinstance(correction, bool) or not isinstance(correction, numbers.Real):
        raise TypeError(f"`correction` must be None or a positive number such as 0.5, got {correction!r}")
    try:
        value = float(correction)
    except OverflowError:  # an integer beyond the float range
        value = math.inf
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`correction` must be None or a positive finite number such as 0.5, got {correction!r:.30}")
    return value


def log_ratio_estimate(
    estimand: str, numerator: float, denominator: float, log_variance, *, zero_cells: str,
    level: float, method: str, n: int, details: dict[str, Any],
) -> Estimate:
    """``numerator / denominator`` with a normal interval on the log scale; 0 and inf limits explained.

    ``log_variance`` is called only when both parts are positive.
    """
    if numerator == 0 and denominator == 0:
        raise ValueError(f"the {estimand} is 0/0 (undefined): {zero_cells} in both its numerator and its "
                         f"denominator; {ZERO_CELL_HINT}")
    if numerator == 0 or denominator == 0:
        ratio = 0.0 if numerator == 0 else math.inf
        details = {**details, "note": (f"{zero_cells} makes the {estimand} {ratio:g} and its log-scale standard error "
                                       f"infinite, so the interval is [0, inf]; {ZERO_CELL_HINT}")}
        return normal_estimate(estimand, ratio, math.inf, confidence_level=level, method=method, n=n,
                               scale="log", details=details)
    variance = log_variance()
    if variance == 0:
        details = {**details, "note": "the log-scale standard error is 0 (both risks are 1): the interval is a point"}
    return normal_estimate(estimand, numerator / denominator, math.sqrt(max(variance, 0.0)), confidence_level=level,
                           method=method, n=n, scale="log", details=details)


def corrected_cells(counts: np.ndarray, correction: float | None) -> tuple[float, float, float, float]:
    """The four cells of a 2x2 ``counts`` as floats, row by row, each plus ``correction`` (if any)."""
    cells = counts.astype(float) + (correction or 0.0)
    return tuple(cells.ravel().tolist())  # type: ignore[return-value]


def frame_with_totals(counts: np.ndarray, index: list[str], columns: list[str]) -> pd.DataFrame:
    """``counts`` as a labelled DataFrame with a row and a column of totals."""
    frame = pd.DataFrame(counts, index=index, columns=columns)
    frame["total"] = frame.sum(axis=1)
    frame.loc["total"] = frame.sum(axis=0)
    return frame


def binary_columns(data: pd.DataFrame, **columns: str) -> list[np.ndarray]:
    """The named binary columns of ``data`` as 0/1 int arrays (keyword = argument name)."""
    check_columns(data, **columns)
    return [as_binary_array(arg, data[col].to_numpy()) for arg, col in columns.items()]


def count_units(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[[a, b], [c, d]]`` from 0/1 treatment and outcome arrays."""
    return np.array([[np.sum((z == 1) & (y == 1)), np.sum((z == 1) & (y == 0))],
                     [np.sum((z == 0) & (y == 1)), np.sum((z == 0) & (y == 0))]])
