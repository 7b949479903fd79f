r"""Confidence intervals by inverting a test of the constant effect :math:`\tau`: bisection on each side.

The interval is :math:`\{\tau : p(\tau) > 1 - \text{level}\}`, every p-value
judged by :func:`causalattn._pvalues.rejects`. From the estimate, each end is
bracketed by doubling steps of the standard error scale and then bisected to
:math:`10^{-3}` of it; the p-value is assumed to fall off on both sides.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press, ch. 3 (confidence sets by inverting FRTs).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from causalattn._pvalues import rejects
from causalattn.estimate import ConfidenceInterval


def invert(pvalue: Callable[[float], float], centre: float, *, outcome: np.ndarray, treatment: np.ndarray,
           confidence_level: float, alternative: str) -> ConfidenceInterval:
    """The taus around ``centre`` whose ``pvalue(tau)`` is not rejected; one-sided for one-sided alternatives.

    The scale is the two-sample standard error of ``outcome`` between the arms
    of ``treatment`` (1 when it is 0).
    """
    y, z = outcome, treatment
    scale = float(np.std(y)) * math.sqrt(1 / z.sum() + 1 / (len(z) - z.sum())) or 1.0
    tol = 1e-3 * scale
    low = -math.inf if alternative == "less" else _boundary(pvalue, centre, -scale, confidence_level, tol)
    high = math.inf if alternative == "greater" else _boundary(pvalue, centre, scale, confidence_level, tol)
    return ConfidenceInterval(low, high)


def _boundary(pvalue: Callable[[float], float], centre: float, step: float, level: float, tol: float) -> float:
    """The last ``tau`` from ``centre`` in the direction of ``step`` that the test does not reject (within ``tol``)."""
    inside, outside = centre, centre + step
    for _ in range(60):
        if rejects(pvalue(outside), level):
            break
        inside, step = outside, 2 * step
        outside = centre + step
    else:
        return math.copysign(math.inf, step)
    while abs(outside - inside) > tol:
        middle = (inside + outside) / 2
        if not rejects(pvalue(middle), level):
            inside = middle
        else:
            outside = middle
    return inside
