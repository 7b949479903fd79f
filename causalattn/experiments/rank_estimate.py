r"""The Hodges-Lehmann estimate of a constant effect: the root of the rank statistic of the design.

References
----------
Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank
tests. *Annals of Mathematical Statistics* 34(2), 598-611.
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press, ch. 3 and 7.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
from scipy import stats

from causalattn._validation import as_binary_array, as_float_array, check_same_index, check_same_length
from causalattn.experiments.designs import Design, resolve_design

__all__ = ["hodges_lehmann"]


def _hodges_lehmann_iv(outcome, treatment, design):
    check_same_index(outcome=outcome, treatment=treatment, **(design.indexes if isinstance(design, Design) else {}))
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    design = resolve_design(design, z)
    if not design.paired and design.treated_probability() is None:
        raise ValueError(f"`design`: hodges_lehmann supports designs with a known treatment probability per unit, "
                         f"got {type(design).__name__}")
    return y, z, design


def _rational(probability: float, n: int) -> Fraction:
    """The treatment probability as an exact fraction: ``a / b`` with ``b <= n`` when that is the float given.

    The probabilities of the designs are ratios of counts (``n_1 / n``,
    ``n_{1k} / n_k``, treated clusters over clusters), which floats only
    approximate; the equation is exact with the ratio itself.
    """
    exact = Fraction(probability)
    ratio = exact.limit_denominator(n)
    return ratio if float(ratio) == probability else exact


def _rank_equation(scaled: np.ndarray, z: np.ndarray, design: Design) -> Callable[[float], float]:
    r""":math:`\sum_i (Z_i - \pi_i)\{R_i(\tau) - c\}` in exact arithmetic, :math:`c = (n+1)/2`.

    It equals :math:`T - c\,n_1 - \sum_g \pi_g (S_g - c\,n_g)` with :math:`T = \sum_i Z_i R_i`
    and :math:`S_g` the rank sum of the :math:`n_g` units whose probability is
    :math:`\pi_g`: ranks are multiples of 1/2, so :math:`T` and :math:`S_g` are
    exact in floating point, and the rest is done in fractions. A value of
    rounding size (1e-16) where the exact value is 0 used to end the bisection
    at one end of the plateau of roots instead of its middle.
    """
    probabilities, codes = np.unique(design.treated_probability(), return_inverse=True)
    n, n1 = len(z), int(z.sum())
    fractions = [_rational(float(p), n) for p in probabilities]
    sizes = np.bincount(codes, minlength=len(fractions))
    centre = Fraction(n + 1, 2)

    def equation(tau: float) -> float:
        ranks = stats.rankdata(scaled - tau * z)
        sums = np.bincount(codes, ranks, minlength=len(fractions))
        value = Fraction(float(ranks @ z)) - centre * n1 - sum(
            (p * (Fraction(float(s)) - centre * int(k)) for p, s, k in zip(fractions, sums, sizes, strict=True)),
            Fraction(0))
        return float(np.sign(value))

    return equation


def hodges_lehmann(outcome, treatment, *, design: str | Design = "cre") -> float:
    r"""Hodges-Lehmann estimate of a constant additive effect from the rank statistic of the design.

    The effect :math:`\tau` at which the rank statistic of the imputed control
    outcomes :math:`Y - \tau Z` equals its expectation under the design. Without
    pairs: :math:`\sum_i (Z_i - \pi_i)\,\{R_i(\tau) - (n+1)/2\} = 0`, with
    :math:`\pi_i` the probability that unit :math:`i` is treated (:math:`n_1/n`
    for CRE, :math:`n_{1k}/n_k` for SRE, ``probability`` for BRE, the share of
    treated clusters for cluster randomization), evaluated in exact rational
    arithmetic. In pairs, the signed-rank equation
    :math:`\sum_i \mathrm{sign}(e_i) R(|e_i|) = 0` with
    :math:`e_i = \hat\tau_i - \tau`, whose root is the median of the Walsh averages
    :math:`(\hat\tau_i + \hat\tau_j)/2, i \le j`. The left side is a non-increasing
    step function of :math:`\tau`; the estimate is the midpoint of the interval
    where it changes sign (of the plateau where it is 0), found by bisection on
    outcomes rescaled to :math:`[-1, 1]` (the tolerance is :math:`10^{-13}` of
    the outcomes' spread, so the answer scales with the data from
    :math:`10^{-300}` to :math:`10^{308}`). For a CRE this is the median of
    the :math:`n_1 n_0` differences :math:`Y_i - Y_j` (treated :math:`i`,
    control :math:`j`).

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
    design : Design or "cre"
        As for :func:`causalattn.frt`: ``CRE()``, ``BRE(probability)``,
        ``SRE(strata)``, ``MPE(pairs)``, ``ClusterRandomized(clusters)``
        (rerandomization has no closed-form :math:`\pi_i` and is refused).

    Returns
    -------
    float
        A ValueError if the estimate is too large for float64.

    References
    ----------
    Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank tests.
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 and 7.

    Examples
    --------
    >>> round(hodges_lehmann([5.0, 7.0, 9.0, 1.0, 2.0], [1, 1, 1, 0, 0]), 6)
    5.5
    >>> round(hodges_lehmann([5e-14, 7e-14, 9e-14, 1e-14, 2e-14], [1, 1, 1, 0, 0]) / 1e-14, 6)
    5.5
    >>> from causalattn.experiments.designs import MPE
    >>> # pair differences 2, 4, 2: Walsh averages 2, 3, 2, 4, 3, 2
    >>> round(hodges_lehmann([3.0, 1.0, 5.0, 1.0, 2.0, 4.0], [1, 0, 1, 0, 0, 1], design=MPE([0, 0, 1, 1, 2, 2])), 6)
    2.5
    """
    y, z, design = _hodges_lehmann_iv(outcome, treatment, design)
    # rescale to [-1, 1] in two steps that cannot overflow; the effect is invariant to the shift
    magnitude = float(np.max(np.abs(y))) or 1.0
    shifted = y / magnitude - np.median(y / magnitude)
    spread = float(np.max(np.abs(shifted))) or 1.0
    scaled = shifted / spread

    if design.paired:
        first, second = np.array(design.groups.members).reshape(-1, 2).T
        sign = np.where(z[first] == 1, 1.0, -1.0)
        differences = sign * (scaled[first] - scaled[second])  # treated minus control, in [-2, 2]

        def equation(tau: float) -> float:  # exact: signs times half-integer ranks, far below 2**53
            e = differences - tau
            return float(np.sign(e) @ stats.rankdata(np.abs(e)))
    else:
        equation = _rank_equation(scaled, z, design)

    def crossing(positive_side: bool) -> float:
        """sup{tau: equation > 0} (positive_side) or inf{tau: equation < 0}."""
        low, high = -3.0, 3.0  # the effect lies within the range of the differences, [-2, 2]
        while high - low > 1e-13:
            middle = (low + high) / 2
            value = equation(middle)
            if (value > 0) if positive_side else (value >= 0):
                low = middle
            else:
                high = middle
        return (low + high) / 2

    estimate = (crossing(True) + crossing(False)) / 2 * spread
    with np.errstate(over="ignore"):
        result = float(np.float64(estimate) * magnitude)
    if not math.isfinite(result):
        raise ValueError(f"`outcome`: the Hodges-Lehmann estimate {estimate:.6g} x {magnitude:.6g} is too large "
                         "for float64")
    return result
