"""The one result type of causalattn: :class:`Estimate`, and :class:`EstimateTable`.

Every estimator in the library, a risk ratio, an OLS coefficient, a Fisher
randomization test or the effect of ablating an attention head, returns an
:class:`Estimate`, so that all of them print, compare and export the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from causalattn._validation import check_choice, check_confidence_level

__all__ = ["ConfidenceInterval", "Estimate", "EstimateTable", "normal_estimate"]


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


def _fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


@dataclass(frozen=True, repr=False)
class Estimate:
    """A point estimate with its standard error, confidence interval and p-value.

    Attributes
    ----------
    estimand : str
        What is estimated, e.g. ``"risk difference"`` or ``"ablate:L1H0:mean"``.
    estimate : float
        The point estimate.
    standard_error : float or None
        Its standard error; ``None`` where the method defines none (an exact
        conditional interval, a randomization test).
    confidence_interval : ConfidenceInterval
        ``(low, high)`` at ``confidence_level``; ratio intervals may have
        ``low = 0`` or ``high = inf``.
    confidence_level : float
        Coverage of the interval, e.g. ``0.95``.
    pvalue : float or None
        p-value of the test of ``estimate == null_value``; ``None`` if no test.
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
        ci = self.confidence_interval
        object.__setattr__(self, "confidence_interval", ConfidenceInterval(float(ci[0]), float(ci[1])))
        object.__setattr__(self, "estimate", float(self.estimate))
        if self.standard_error is not None:
            object.__setattr__(self, "standard_error", float(self.standard_error))
        if self.pvalue is not None:
            object.__setattr__(self, "pvalue", float(self.pvalue))
        object.__setattr__(self, "n", int(self.n))
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))

    def __repr__(self) -> str:
        ci = self.confidence_interval
        interval = (
            "no CI" if math.isnan(self.confidence_level) or (math.isnan(ci.low) and math.isnan(ci.high))
            else f"{self.confidence_level:.0%} CI [{_fmt(ci.low)}, {_fmt(ci.high)}]"
        )
        return (
            f"Estimate({self.estimand} = {_fmt(self.estimate)}, SE {_fmt(self.standard_error)}, {interval}, "
            f"p = {_fmt_p(self.pvalue)}; method={self.method}, n={self.n})"
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
    if standard_error < 0:
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
    """Several :class:`Estimate` objects, printable with :meth:`summary`, exportable with :meth:`to_frame`.

    Examples
    --------
    >>> from causalattn import Table2x2, EstimateTable
    >>> t = Table2x2([[81, 6], [234, 36]])
    >>> table = EstimateTable([t.risk_difference(), t.risk_ratio(), t.odds_ratio()])
    >>> len(table)
    3
    """

    def __init__(self, estimates: Iterable[Estimate], title: str = "") -> None:
        self._estimates = tuple(estimates)
        for i, est in enumerate(self._estimates):
            if not isinstance(est, Estimate):
                raise TypeError(f"`estimates` must contain Estimate objects, item {i} is {type(est).__name__}")
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
        """One row per estimate; columns as in :meth:`Estimate.to_dict`."""
        return pd.DataFrame([e.to_dict() for e in self._estimates])

    def to_csv(self, path, **kwargs) -> None:
        """Write :meth:`to_frame` to a CSV file (no index)."""
        self.to_frame().to_csv(path, index=False, **kwargs)

    def summary(self, columns: Sequence[str] | None = None) -> str:
        """A fixed-width text table: estimand, estimate, SE, CI, p-value, method, n (and ``columns`` from details)."""
        extra = list(columns or [])
        header = ["estimand", "estimate", "SE", "CI", "p", *extra, "method", "n"]
        rows = []
        for e in self._estimates:
            ci = e.confidence_interval
            d = e.to_dict()
            rows.append(
                [e.estimand, _fmt(e.estimate), _fmt(e.standard_error), f"[{_fmt(ci.low)}, {_fmt(ci.high)}]",
                 _fmt_p(e.pvalue), *(_fmt_p(d.get(c)) if "pvalue" in c else str(d.get(c, "-")) for c in extra),
                 e.method, str(e.n)]
            )
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        lines = []
        if self.title:
            lines.append(self.title)
        levels = sorted({e.confidence_level for e in self._estimates if not math.isnan(e.confidence_level)})
        if levels:
            lines.append("confidence level: " + ", ".join(f"{lv:.0%}" for lv in levels))
        fmt_row = lambda r: "  ".join(  # noqa: E731
            str(x).ljust(w) if j in (0, len(r) - 2) else str(x).rjust(w) for j, (x, w) in enumerate(zip(r, widths))
        )
        lines.append(fmt_row(header))
        lines.append("-" * len(lines[-1]))
        lines.extend(fmt_row(r) for r in rows)
        return "\n".join(lines)
