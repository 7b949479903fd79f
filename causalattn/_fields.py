"""Checks of the fields of values: the result types (:class:`~causalattn.Estimate`,
:class:`~causalattn.HypothesisTest`) and the designs' numbers.

Each raises a TypeError or ValueError naming the field in backticks, at construction.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np


def text(name: str, value: Any) -> str:
    """``value`` if it is a string; a TypeError naming the field otherwise."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, got {value!r}")
    return value


def real(name: str, value: Any) -> float:
    """``value`` as a float (NaN and infinities allowed); a TypeError naming the field otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"`{name}` is too large for floating point (beyond 1.8e308)") from None


def pvalue(value: Any, absent: str) -> float | None:
    """A p-value in [0, 1] (never NaN), or ``None``; ``absent`` says when ``None`` is right (or that it is not)."""
    if value is None:
        return None
    p = real("pvalue", value)
    if not 0 <= p <= 1:
        raise ValueError(f"`pvalue` must be in [0, 1] ({absent}), got {p}")
    return p


def count(value: Any) -> int:
    """A non-negative whole number of units (a float such as 8.0 is accepted, 2.7 is not)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, float, np.floating)) or not float(
            value).is_integer():
        raise TypeError(f"`n` must be a whole number of units, got {value!r}")
    if value < 0:
        raise ValueError(f"`n` must be non-negative, got {value}")
    return int(value)


def details(value: Any) -> Mapping[str, Any]:
    """A read-only copy of the ``details`` mapping."""
    if not isinstance(value, Mapping):
        raise TypeError(f"`details` must be a mapping, got {type(value).__name__}")
    return MappingProxyType(dict(value))
