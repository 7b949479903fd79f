r"""Sensitivity to unmeasured confounding: the E-value of VanderWeele and Ding (2017).

For an observed risk ratio :math:`RR > 1` the E-value is

.. math::

    E = RR + \sqrt{RR\,(RR - 1)},

the minimum strength of association, on the risk-ratio scale, that an
unmeasured confounder would need with both the treatment and the outcome
(conditional on the measured covariates) to fully explain away the observed
association. For :math:`RR < 1` use :math:`1/RR`. The E-value of the
confidence limit closer to 1 is that of the limit, or 1 if the interval
contains 1.

Other scales are first converted to an approximate risk ratio:

* odds ratio: :math:`RR \approx \sqrt{OR}` (common outcome), or :math:`OR`
  with ``rare=True`` (outcome prevalence below about 15%);
* hazard ratio: :math:`RR \approx (1 - 0.5^{\sqrt{HR}}) / (1 - 0.5^{\sqrt{1/HR}})`,
  or :math:`HR` with ``rare=True``;
* a difference in means :math:`\hat\tau` of a continuous outcome with standard
  deviation :math:`\sigma`: :math:`d = \hat\tau/\sigma` and
  :math:`RR \approx \exp(0.91\,d)`, with limits :math:`\exp(0.91\,d \pm 1.78\,se_d)`.

References
----------
VanderWeele, T. J. and Ding, P. (2017). Sensitivity analysis in
observational research: introducing the E-value. *Annals of Internal
Medicine* 167, 268-274.

Ding, P. and VanderWeele, T. J. (2016). Sensitivity analysis without
assumptions. *Epidemiology* 27, 368-377.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 17 (sensitivity
analysis). CRC Press.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

from causalattn._validation import check_choice, check_flag
from causalattn.estimate import Estimate

__all__ = ["EValue", "e_value"]

MEASURES = ("risk_ratio", "odds_ratio", "hazard_ratio", "difference")


@dataclass(frozen=True)
class EValue:
    """The E-values of a point estimate and of its confidence limit.

    Attributes
    ----------
    point : float
        E-value of the estimate.
    limit : float or None
        E-value of the confidence limit closer to the null (1 if the interval
        contains the null); ``None`` without an interval.
    risk_ratio : float
        The (approximate) risk ratio the E-value is computed from.
    measure : str
        The scale of the input.
    """

    point: float
    limit: float | None
    risk_ratio: float
    measure: str


def _e(rr: float) -> float:
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr * (rr - 1))


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite number, got {value!r}")
    return float(value)


def e_value(
    estimate: Estimate | float,
    confidence_interval: tuple[float, float] | None = None,
    *,
    measure: str = "risk_ratio",
    rare: bool = False,
    outcome_sd: float | None = None,
) -> EValue:
    r"""The E-value of an estimate and of its confidence interval (VanderWeele and Ding 2017).

    See the module docstring for the formula and the approximations.

    Parameters
    ----------
    estimate : Estimate or float
        The estimate on the scale of ``measure``; an :class:`~causalattn.Estimate`
        brings its interval (and, for ``"difference"``, its standard error).
    confidence_interval : (low, high), optional
        The interval, when ``estimate`` is a number.
    measure : {"risk_ratio", "odds_ratio", "hazard_ratio", "difference"}
        Scale of the estimate.
    rare : bool
        For odds and hazard ratios: the outcome is rare, so the ratio itself
        approximates the risk ratio.
    outcome_sd : float, optional
        Standard deviation of the outcome, required for ``"difference"``.

    Returns
    -------
    EValue

    References
    ----------
    VanderWeele, T. J. and Ding, P. (2017). *Annals of Internal Medicine* 167, 268-274.

    Examples
    --------
    VanderWeele and Ding's example: a risk ratio of 3.9 with interval [1.8, 8.7]:

    >>> from causalattn.observational import e_value
    >>> ev = e_value(3.9, (1.8, 8.7))
    >>> round(ev.point, 2), round(ev.limit, 2)
    (7.26, 3.0)
    """
    measure = check_choice("measure", measure, MEASURES)
    rare = check_flag("rare", rare)
    se = None
    if isinstance(estimate, Estimate):
        if confidence_interval is not None:
            raise ValueError("`confidence_interval` comes from the Estimate; do not pass it too")
        confidence_interval = tuple(estimate.confidence_interval)
        se = estimate.standard_error
        estimate = estimate.estimate
    point = _number("estimate", estimate)
    limits = None
    if confidence_interval is not None:
        if len(confidence_interval) != 2:
            raise ValueError("`confidence_interval` must be a pair (low, high)")
        limits = (_number("confidence_interval", confidence_interval[0]),
                  _number("confidence_interval", confidence_interval[1]))
        if limits[0] > limits[1]:
            raise ValueError(f"`confidence_interval` must have low <= high, got {limits}")
    if measure == "difference":
        if outcome_sd is None:
            raise ValueError("`outcome_sd` (the outcome's standard deviation) is required for `measure`='difference'")
        sd = _number("outcome_sd", outcome_sd)
        if sd <= 0:
            raise ValueError(f"`outcome_sd` must be positive, got {sd}")
        rr = math.exp(0.91 * point / sd)
        if se is not None:
            limits = (math.exp(0.91 * point / sd - 1.78 * se / sd), math.exp(0.91 * point / sd + 1.78 * se / sd))
        elif limits is not None:
            limits = (math.exp(0.91 * limits[0] / sd), math.exp(0.91 * limits[1] / sd))
    else:
        if point <= 0 or (limits is not None and limits[0] < 0):
            raise ValueError(f"`estimate`: a {measure.replace('_', ' ')} must be positive, got {point} "
                             f"(interval {limits})")
        rr = _to_risk_ratio(point, measure, rare)
        if limits is not None:
            limits = tuple(_to_risk_ratio(v, measure, rare) if v > 0 else 0.0 for v in limits)
    limit = None
    if limits is not None:
        low, high = limits
        limit = 1.0 if low <= 1 <= high else _e(low if low > 1 else high)
    return EValue(_e(rr), limit, rr, measure)


def _to_risk_ratio(value: float, measure: str, rare: bool) -> float:
    if measure == "risk_ratio" or rare:
        return value
    if measure == "odds_ratio":
        return math.sqrt(value)
    return (1 - 0.5 ** math.sqrt(value)) / (1 - 0.5 ** math.sqrt(1 / value))
