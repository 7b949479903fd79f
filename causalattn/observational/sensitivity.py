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

Other scales are converted to an approximate risk ratio only when asked
(``measure``), as in VanderWeele and Ding's Table 2:

* odds ratio: :math:`RR \approx OR` if the outcome is rare (``rare=True``,
  prevalence below about 15%), :math:`RR \approx \sqrt{OR}` if it is common
  (``rare=False``);
* hazard ratio: :math:`RR \approx HR` if rare, else
  :math:`RR \approx (1 - 0.5^{\sqrt{HR}}) / (1 - 0.5^{\sqrt{1/HR}})`;
* a difference in means :math:`\hat\tau` of a continuous outcome with standard
  deviation :math:`\sigma` (``outcome_sd``; 1 for a standardized mean
  difference): :math:`d = \hat\tau/\sigma` and :math:`RR \approx \exp(0.91\,d)`,
  with limits :math:`\exp(0.91\,d \pm 1.78\,se_d)` for a 95% interval
  (:math:`se_d = se/\sigma`), else :math:`\exp(0.91\,\ell/\sigma)` of each limit
  :math:`\ell`.

An :class:`~causalattn.Estimate` says what it estimates: its ``estimand`` and
``method`` (``"risk ratio"``, ``"odds ratio"`` ...) or its ``null_value`` (1
for a ratio) give its scale, and an estimate that is not a risk ratio is
refused unless ``measure`` asks for its conversion; a difference (an ATE in
dollars) is never read as a ratio.

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
RATIOS = MEASURES[:3]
# Words of an Estimate's estimand or method that name its scale.
_NAMES = {"odds ratio": "odds_ratio", "hazard ratio": "hazard_ratio", "risk ratio": "risk_ratio",
          "relative risk": "risk_ratio", "rate ratio": "risk_ratio"}
_KINDS = {"odds_ratio": "an odds ratio", "hazard_ratio": "a hazard ratio", "risk_ratio": "a risk ratio",
          "ratio": "a ratio of unstated kind (null value 1)"}


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
    if rr == 0 or math.isinf(rr):
        return math.inf
    rr = 1 / rr if rr < 1 else rr
    return rr + math.sqrt(rr) * math.sqrt(rr - 1)  # as RR + sqrt(RR (RR - 1)), without overflowing the product


def _exp(value: float) -> float:
    """``exp(value)``, infinite beyond the float range (a huge standardized difference) instead of an error."""
    return math.exp(value) if value < 709 else math.inf


def _number(name: str, value: Any, *, infinite: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or (
            not infinite and math.isinf(value)):
        raise TypeError(f"`{name}` must be a finite number, got {value!r}")
    return float(value)


def _scale(est: Estimate) -> str:
    """What an Estimate measures: a named ratio, ``"ratio"`` (null value 1, kind unstated) or ``"difference"``."""
    text = f"{est.estimand} {est.method}".lower().replace("_", " ").replace("-", " ")
    for words, scale in _NAMES.items():
        if words in text:
            return scale
    return "ratio" if est.null_value == 1 else "difference"


def _measure_of(est: Estimate, measure: str | None) -> str:
    """The measure of an Estimate: its own scale, or the conversion ``measure`` asks for if it fits that scale."""
    scale = _scale(est)
    what = f"the Estimate (estimand {est.estimand!r}, method {est.method!r})"
    if scale == "difference":
        if measure != "difference":
            raise ValueError(
                f"`estimate`: {what} is a difference, not a ratio, and the E-value is defined on the risk-ratio "
                "scale; for a difference in means of a continuous outcome pass `measure`='difference' with "
                "`outcome_sd` (VanderWeele and Ding's approximation), otherwise estimate a risk ratio first")
        return measure
    if measure is None and scale == "risk_ratio":
        return scale
    if measure is None or measure == "difference" or (scale != "ratio" and measure != scale):
        asked = "is missing" if measure is None else f"is {measure!r}"
        kind = _KINDS[scale]
        fix = {"risk_ratio": "leave `measure` out: it needs no conversion",
               "ratio": f"pass `measure`, one of {list(RATIOS)}, to convert it to a risk ratio"}.get(
            scale, f"pass `measure`={scale!r} and `rare` to convert it to a risk ratio")
        raise ValueError(f"`measure` {asked}, but {what} is {kind}; {fix}")
    return measure


def _interval(confidence_interval: Any, point: float, ratio: bool) -> tuple[float, float]:
    """The limits ``(low, high)``: a pair containing ``point`` (for a ratio: non-negative, ``high`` may be inf)."""
    if isinstance(confidence_interval, (str, bytes)) or not hasattr(confidence_interval, "__len__") or len(
            confidence_interval) != 2:
        raise ValueError(f"`confidence_interval` must be a pair (low, high), got {confidence_interval!r}")
    low, high = (_number("confidence_interval", v, infinite=ratio) for v in confidence_interval)
    if ratio and low < 0:
        raise ValueError(f"`confidence_interval`: a ratio's limits are non-negative, got ({low}, {high})")
    if not low <= point <= high:
        raise ValueError(f"`confidence_interval` ({low:g}, {high:g}) does not contain the estimate {point:g}; "
                         "pass the interval of this estimate, on the same scale")
    return low, high


def e_value(
    estimate: Estimate | float,
    confidence_interval: tuple[float, float] | None = None,
    *,
    measure: str | None = None,
    rare: bool | None = None,
    outcome_sd: float | None = None,
) -> EValue:
    r"""The E-value of an estimate and of its confidence interval (VanderWeele and Ding 2017).

    See the module docstring for the formula and the approximations. As in R's
    ``EValue`` package (``evalues.OR``, ``evalues.HR``), the conversion of an
    odds or hazard ratio needs ``rare`` stated: it decides between two
    approximations that differ by a square root.

    Parameters
    ----------
    estimate : Estimate or float
        The estimate; an :class:`~causalattn.Estimate` brings its interval (and,
        for ``"difference"``, its standard error) and its scale (module
        docstring). A number is a risk ratio unless ``measure`` says otherwise.
    confidence_interval : (low, high), optional
        The interval, when ``estimate`` is a number; it must contain the estimate.
    measure : {"risk_ratio", "odds_ratio", "hazard_ratio", "difference"}, optional
        The scale of the estimate, to convert an odds ratio, a hazard ratio or
        a difference in means to a risk ratio. Default: the Estimate's own
        scale if it is a risk ratio, ``"risk_ratio"`` for a number.
    rare : bool, optional
        For odds and hazard ratios only, and then required: whether the
        outcome is rare (below about 15%), so that the ratio itself
        approximates the risk ratio.
    outcome_sd : float, optional
        Standard deviation of the outcome, required for ``"difference"`` (1
        when the estimate is already a standardized mean difference).

    Returns
    -------
    EValue

    Raises
    ------
    ValueError
        An Estimate that is not a risk ratio without the ``measure`` that
        converts it (a difference, such as an ATE, is never read as a ratio),
        an odds or hazard ratio without ``rare``, an interval that does not
        contain the estimate, a ratio that is not positive.

    References
    ----------
    VanderWeele, T. J. and Ding, P. (2017). *Annals of Internal Medicine* 167, 268-274.

    Examples
    --------
    VanderWeele and Ding's examples: a risk ratio of 3.9 with interval [1.8, 8.7],
    and a protective 0.80 [0.71, 0.91]:

    >>> from causalattn.observational import e_value
    >>> ev = e_value(3.9, (1.8, 8.7))
    >>> round(ev.point, 2), round(ev.limit, 2)
    (7.26, 3.0)
    >>> ev = e_value(0.80, (0.71, 0.91))
    >>> round(ev.point, 2), round(ev.limit, 2)
    (1.81, 1.43)
    """
    if measure is not None:
        check_choice("measure", measure, MEASURES)
    se, level = None, None
    if isinstance(estimate, Estimate):
        if confidence_interval is not None:
            raise ValueError("`confidence_interval` comes from the Estimate; do not pass it too")
        measure = _measure_of(estimate, measure)
        if math.isfinite(estimate.confidence_level):
            confidence_interval = tuple(estimate.confidence_interval)
        se, level = estimate.standard_error, estimate.confidence_level
        estimate = estimate.estimate
    elif measure is None:
        measure = "risk_ratio"
    _options_iv(measure, rare, outcome_sd)
    point = _number("estimate", estimate)
    ratio = measure != "difference"
    limits = None if confidence_interval is None else _interval(confidence_interval, point, ratio)
    if ratio:
        if point <= 0:
            raise ValueError(f"`estimate`: a {measure.replace('_', ' ')} must be positive, got {point}")
        rr = _to_risk_ratio(point, measure, rare)
        if limits is not None:
            limits = tuple(_to_risk_ratio(v, measure, rare) for v in limits)
    else:
        sd = _number("outcome_sd", outcome_sd)
        if sd <= 0:
            raise ValueError(f"`outcome_sd` must be positive, got {sd}")
        rr = _exp(0.91 * point / sd)
        if se is not None and level == 0.95:
            limits = (_exp(0.91 * point / sd - 1.78 * se / sd), _exp(0.91 * point / sd + 1.78 * se / sd))
        elif limits is not None:
            limits = (_exp(0.91 * limits[0] / sd), _exp(0.91 * limits[1] / sd))
    limit = None
    if limits is not None:
        low, high = limits
        limit = 1.0 if low <= 1 <= high else _e(low if low > 1 else high)
    return EValue(_e(rr), limit, rr, measure)


def _options_iv(measure: str, rare: Any, outcome_sd: Any) -> None:
    """``rare`` is stated exactly for odds and hazard ratios, ``outcome_sd`` given exactly for differences."""
    name = measure.replace("_", " ")
    kind = _KINDS.get(measure, "a difference")
    if measure in ("odds_ratio", "hazard_ratio"):
        if rare is None:
            raise ValueError(f"`rare` is required for {kind}: True if the outcome is rare (below about 15%; the "
                             f"{name} then approximates the risk ratio), False if it is common (the conversion of "
                             "VanderWeele and Ding 2017)")
        check_flag("rare", rare)
    elif rare is not None:
        raise ValueError(f"`rare` applies to odds and hazard ratios only, not to {kind}")
    if measure == "difference" and outcome_sd is None:
        raise ValueError("`outcome_sd` (the outcome's standard deviation) is required for `measure`='difference'")
    if measure != "difference" and outcome_sd is not None:
        raise ValueError(f"`outcome_sd` applies to `measure`='difference' only, not to {kind}")


def _to_risk_ratio(value: float, measure: str, rare: bool | None) -> float:
    if measure == "risk_ratio" or rare:
        return value
    if measure == "odds_ratio":
        return math.sqrt(value)
    if value == 0 or math.isinf(value):
        return value
    return (1 - 0.5 ** math.sqrt(value)) / (1 - 0.5 ** math.sqrt(1 / value))
