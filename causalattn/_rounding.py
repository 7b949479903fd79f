"""Telling a true zero from floating-point rounding, and scaling data whose squares would overflow.

A difference of two equal means, or the residuals of an exact fit, come out
of floating-point arithmetic as tiny numbers such as 1e-17 rather than 0. A
standard error computed from them is rounding noise, and a ratio of two
rounding noises can look "significant". The estimators therefore treat a
value at most :data:`RELATIVE_TOLERANCE` times the scale of the data as
exactly zero.
"""

from __future__ import annotations

import numpy as np

#: Values at most this fraction of the data's magnitude are rounding noise (about 4,500 units in the last place).
RELATIVE_TOLERANCE = 1e-12


def zero_up_to_rounding(value: float, scale: float) -> bool:
    """Whether ``|value|`` is at most :data:`RELATIVE_TOLERANCE` times ``scale`` (the data's magnitude)."""
    return abs(value) <= RELATIVE_TOLERANCE * scale


def powers_of_two(tops: np.ndarray) -> np.ndarray:
    """Per magnitude in ``tops`` (>= 0), the power of two within a factor 2 below it (1 for 0)."""
    return np.where(tops > 0, np.ldexp(1.0, np.frexp(tops)[1] - 1), 1.0)


def power_of_two_scale(values: np.ndarray) -> float:
    """A power of two near ``max |values|`` (1 if all are zero): dividing by it is exact and keeps squares finite."""
    return float(powers_of_two(np.max(np.abs(values), initial=0.0)))
