"""The one result type of causalattn: :class:`Estimate`, and :class:`EstimateTable`.

Every estimator in the library, a risk ratio, an OLS coefficient, a Fisher
randomization test or the effect of ablating an attention head, returns an
:class:`Estimate`, so that all of them print, compare and export the same way.
A test without an estimate of its own returns a
:class:`~causalattn.HypothesisTest`; an :class:`EstimateTable` holds both, the
test rows with their estimate columns empty.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from causalattn import _fields as fields
from causalattn._pvalues import format_pvalue, pvalue_equation
from causalattn._validation import check_choice, check_confidence_level
from causalattn.hypothesis import HypothesisTest

__all__ = ["NOT_ESTIMABLE", "ConfidenceInterval", "Estimate", "EstimateTable", "normal_estimate"]

#: The ``method`` of a row whose effect the data cannot estimate (NaN estimate, no SE, no test).
NOT_ESTIMABLE = "not estimable"


class ConfidenceInterval(NamedTuple):
    """A confidence interval ``[low, high]``."""

    low: float
    high: float


def _fmt(x: float | None) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.4g}"


def _fmt_column(name: str, value: Any) -> str:
    """A cell of an extra ``summary`` column: p-values and numbers short, anything else as text."""
    if "pvalue" in name:
        return format_pvalue(value)
    if value is None or (isinstance(value, float) and not isinstance(value, bool)):
        return _fmt(value)
    return str(value)


def _checked_fields(est: Estimate) -> dict[str, Any]:
    """The validated, normalized fields of an :class:`Estimate` (the checks of its construction)."""
    fields.text("estimand", est.estimand)
    fields.text("method", est.method)
    estimate = fields.real("estimate", est.estimate)
    if math.isnan(estimate) and est.method != NOT_ESTIMABLE:
        raise ValueError(f"`estimate` is NaN: only a row with method={NOT_ESTIMABLE!r} may carry no estimate "
                         f"(method={est.method!r})")
    se = None if est.standard_error is None else fields.real("standard_error", est.standard_error)
    if se is not None and not se >= 0:
        raise ValueError(f"`standard_error` must be non-negative (None if the method defines none), got {se}")
    level = fields.real("confidence_level", est.confidence_level)
    if not (0 < level < 1 or math.isnan(level)):
        raise ValueError(f"`confidence_level` must be in (0, 1) (or NaN when there is no interval), got {level}")
    ci = est.confidence_interval
    if isinstance(ci, (str, bytes)) or not isinstance(ci, Iterable) or len(tuple(ci)) != 2:
        raise ValueError(f"`confidence_interval` must be a pair (low, high), got {ci!r}")
    low, high = (fields.real("confidence_interval", x) for x in ci)
    if low > high:
        raise ValueError(f"`confidence_interval` must have low <= high, got [{low}, {high}]")
    return {
        "estimate": estimate,
        "standard_error": se,
        "confidence_interval": ConfidenceInterval(low, high),
        "confidence_level": level,
        "pvalue": fields.pvalue(est.pvalue, "None if there is no test"),
        "n": fields.count(est.n),
        "null_value": fields.real("null_value", est.null_value),
        "details": fields.details(est.details),
    }


@dataclass(frozen=True, repr=False)
class Estimate:
    """A point estimate with its standard error, confidence interval and p-value.

    Attributes
    ----------
    estimand : str
        What is estimated, e.g. ``"risk difference"`` or ``"ablate:L1H0:mean"``.
    estimate : float
        The point estimate; NaN only on a row the data cannot estimate, whose
        ``method`` is :data:`NOT_ESTIMABLE` (``"not estimable"``).
    standard_error : float or None
        Its standard error; ``None`` where the method defines none (an exact
        conditional interval, a randomization test); ``0`` on an exact fit.
        Never NaN.
    confidence_interval : ConfidenceInterval
        ``(low, high)`` at ``confidence_level``; ratio intervals may have
        ``low = 0`` or ``high = inf``.
    confidence_level : float
        Coverage of the interval, e.g. ``0.95``.
    pvalue : float or None
        p-value of the test of ``estimate == null_value``; ``None`` if there is
        no test (an exact fit, a row that is not estimable). Never NaN.
    method : str
        How the interval and p-value were computed (``"wald"``, ``"newcombe"``,
        ``"frt-exact"`` ...).
    n : int
        Number of units behind the estimate.
    null_value : float
        The value tested by ``pvalue`` (0 for differences, 1 for ratios).
    details : Mapping
        Anything else worth keeping (a correction that was applied, a null
        distribution, the test statistic ...). Read-only.

    Raises
    ------
    ValueError, TypeError
        At construction, for a p-value outside [0, 1] or NaN, a negative or
        NaN standard error, a NaN estimate on a row whose method is not
        :data:`NOT_ESTIMABLE`, a confidence level outside (0, 1) (NaN means "no interval"), an
        interval that is not a pair with ``low <= high``, or ``n`` that is not a
        non-negative whole number.
    """

    estimand: str
    estimate: float
    standard_error: float | None
    confidence_interval: ConfidenceInterval
    confidence_level: float
    pvalue: float | None
    method: str
    n: int
    null_value: float = 0.0
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in _checked_fields(self).items():
            object.__setattr__(self, name, value)

    def __hash__(self) -> int:
        # ``details`` (a read-only mapping of anything) is left out: equal estimates still hash equally
        return hash((self.estimand, self.estimate, self.standard_error, self.confidence_interval,
                     self.confidence_level, self.pvalue, self.method, self.n, self.null_value))

    def __repr__(self) -> str:
        ci = self.confidence_interval
        interval = (
            "no CI" if math.isnan(self.confidence_level) or (math.isnan(ci.low) and math.isnan(ci.high))
            else f"{self.confidence_level:.0%} CI [{_fmt(ci.low)}, {_fmt(ci.high)}]"
        )
        return (
            f"Estimate({self.estimand} = {_fmt(self.estimate)}, SE {_fmt(self.standard_error)}, {interval}, "
            f"{pvalue_equation(self.pvalue)}; method={self.method}, n={self.n})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Flat dictionary: the fields, the interval as ``ci_low``/``ci_high``, and scalar details."""
        out = {
            "estimand": self.estimand,
            "estimate": self.estimate,
            "standard_error": self.standard_error,
            "ci_low": self.confidence_interval.low,
            "ci_high": self.confidence_interval.high,
            "confidence_level": self.confidence_level,
            "pvalue": self.pvalue,
            "null_value": self.null_value,
            "method": self.method,
            "n": self.n,
        }
        for key, value in self.details.items():
            if key not in out and isinstance(value, (str, bool, int, float, np.integer, np.floating)):
                out[key] = value.item() if isinstance(value, np.generic) else value
        return out


def normal_estimate(
    estimand: str,
    estimate: float,
    standard_error: float,
    *,
    confidence_level: float,
    method: str,
    n: int,
    scale: str = "identity",
    null_value: float | None = None,
    details: Mapping[str, Any] | None = None,
) -> Estimate:
    r"""An :class:`Estimate` with a normal-approximation interval and two-sided p-value.

    On the identity scale, :math:`\hat\theta \pm z_{1-\alpha/2}\,\widehat{se}` and
    :math:`p = 2\{1 - \Phi(|\hat\theta - \theta_0| / \widehat{se})\}`. On the log
    scale (ratios), ``standard_error`` is the standard error of
    :math:`\log\hat\theta`; the interval is
    :math:`\exp(\log\hat\theta \pm z\,\widehat{se})` and the test is of
    :math:`\log\theta = \log\theta_0` (``null_value`` defaults to 1).
    """
    scale = check_choice("scale", scale, ("identity", "log"))
    level = check_confidence_level(confidence_level)
    if not standard_error >= 0:
        raise ValueError(f"`standard_error` must be non-negative, got {standard_error}")
    z = stats.norm.ppf(0.5 + level / 2)
    if null_value is None:
        null_value = 1.0 if scale == "log" else 0.0
    if scale == "log":
        centre = math.log(estimate) if estimate > 0 else -math.inf if estimate == 0 else math.nan
        null = math.log(null_value)
    else:
        centre, null = estimate, null_value
    if not math.isfinite(centre) or not math.isfinite(standard_error):
        low, high, pvalue = (-math.inf, math.inf, None)
    elif standard_error == 0:
        low = high = centre
        pvalue = None
    else:
        low, high = centre - z * standard_error, centre + z * standard_error
        pvalue = float(2 * stats.norm.sf(abs(centre - null) / standard_error))
    if scale == "log":
        low, high = math.exp(low), math.exp(high)
    return Estimate(
        estimand=estimand,
        estimate=estimate,
        standard_error=standard_error,
        confidence_interval=ConfidenceInterval(low, high),
        confidence_level=level,
        pvalue=pvalue,
        method=method,
        n=n,
        null_value=null_value,
        details=details or {},
    )


class EstimateTable(Sequence):
    """Rows of results, printable with :meth:`summary`, exportable with :meth:`to_frame`.

    A row is an :class:`Estimate` or a :class:`~causalattn.HypothesisTest` (a
    test without an estimate of its own, e.g. a chi-square test). A test row
    is labelled ``"H0: <hypothesis>"`` and leaves the estimate, standard error
    and interval empty; its ``statistic`` and ``dof`` are columns like any
    detail (``summary(columns=["statistic", "dof"])``). :func:`adjust_pvalues`
    adjusts the p-values of both kinds of rows; the forest plot and
    :func:`effects_frame` need estimates.

    Examples
    --------
    >>> from causalattn import Table2x2, EstimateTable
    >>> t = Table2x2([[81, 6], [234, 36]])
    >>> table = EstimateTable([t.risk_difference(), t.risk_ratio(), t.odds_ratio()])
    >>> len(table)
    3
    >>> print(EstimateTable([t.odds_ratio(), t.chi2_test()]).summary(columns=["statistic", "dof"]))
    confidence level: 95%
    estimand                    estimate      SE              CI      p  statistic  dof  method        n
    ----------------------------------------------------------------------------------------------------
    odds ratio                     2.077  0.4594  [0.844, 5.111]  0.112          -    -  woolf       357
    H0: independence (p1 = p0)         -       -               -  0.153      2.043    1  chi2-yates  357
    """

    def __init__(self, estimates: Iterable[Estimate | HypothesisTest], title: str = "") -> None:
        if not isinstance(title, str):
            raise TypeError(f"`title` must be a string, got {type(title).__name__}")
        if isinstance(estimates, (Estimate, HypothesisTest)) or not isinstance(estimates, Iterable):
            raise TypeError(f"`estimates` must be an iterable of Estimate objects, got {type(estimates).__name__}")
        self._estimates = tuple(estimates)
        for i, est in enumerate(self._estimates):
            if not isinstance(est, (Estimate, HypothesisTest)):
                raise TypeError(f"`estimates` must contain Estimate or HypothesisTest objects, item {i} is "
                                f"{type(est).__name__}")
        self.title = title

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return EstimateTable(self._estimates[i], self.title)
        return self._estimates[i]

    def __len__(self) -> int:
        return len(self._estimates)

    def __repr__(self) -> str:
        return f"EstimateTable({len(self)} estimates{': ' + self.title if self.title else ''})"

    def __str__(self) -> str:
        return self.summary()

    def to_frame(self) -> pd.DataFrame:
        """One row per estimate or test; columns as in :meth:`Estimate.to_dict` and :meth:`HypothesisTest.to_dict`.

        A test row has no ``estimand``, ``estimate``, ``standard_error`` or
        interval (NaN), an estimate row no ``hypothesis``, ``statistic`` or ``dof``
        (unless its details carry them).
        """
        return pd.DataFrame([e.to_dict() for e in self._estimates])

    def to_csv(self, path, **kwargs) -> None:
        """Write :meth:`to_frame` to a CSV file (no index)."""
        self.to_frame().to_csv(path, index=False, **kwargs)

    def summary(self, columns: Sequence[str] | None = None) -> str:
        """A fixed-width text table: estimand, estimate, SE, CI, p-value, method, n (and ``columns`` from details).

        ``columns`` is a column name or a list of names of :meth:`Estimate.to_dict`
        (e.g. ``"pvalue_adjusted"``) or a key of their details (shown blank where it is None, as
        ``pvalue_adjusted`` on a row without a p-value); a name no estimate has is a ValueError.
        """
        extra = [columns] if isinstance(columns, str) else list(columns or [])
        known = set().union(*(set(e.to_dict()) | set(e.details) for e in self._estimates)) if self._estimates else set()
        unknown = [c for c in extra if c not in known]
        if unknown:
            raise ValueError(f"`columns`: no estimate has {unknown}; available: {sorted(known)}")
        header = ["estimand", "estimate", "SE", "CI", "p", *extra, "method", "n"]
        rows = []
        for e in self._estimates:
            d = e.to_dict()
            if isinstance(e, HypothesisTest):
                fields = [f"H0: {e.hypothesis}", "-", "-", "-"]
            else:
                ci = e.confidence_interval
                fields = [e.estimand, _fmt(e.estimate), _fmt(e.standard_error), f"[{_fmt(ci.low)}, {_fmt(ci.high)}]"]
            rows.append([*fields, format_pvalue(e.pvalue), *(_fmt_column(c, d.get(c)) for c in extra), e.method,
                         str(e.n)])
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
        lines = []
        if self.title:
            lines.append(self.title)
        levels = sorted({e.confidence_level for e in self._estimates
                         if isinstance(e, Estimate) and not math.isnan(e.confidence_level)})
        if levels:
            lines.append("confidence level: " + ", ".join(f"{lv:.0%}" for lv in levels))
        def fmt_row(r: list[str]) -> str:
            return "  ".join(str(x).ljust(w) if j in (0, len(r) - 2) else str(x).rjust(w)
                             for j, (x, w) in enumerate(zip(r, widths, strict=True)))

        lines.append(fmt_row(header))
        lines.append("-" * len(lines[-1]))
        lines.extend(fmt_row(r) for r in rows)
        return "\n".join(lines)
