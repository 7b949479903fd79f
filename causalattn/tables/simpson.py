r"""Yule-Simpson's paradox: does the marginal association reverse the association within every stratum?

:func:`simpson` compares the crude (marginal) association of a binary
treatment :math:`Z` with a binary outcome :math:`Y` to the association within
each stratum of a discrete covariate :math:`X`, and to two estimates adjusted
for :math:`X` (Mantel-Haenszel and direct standardization). The marginal risk
difference mixes the strata with the treatment-specific weights
:math:`P(X = k \mid Z = z)`,

.. math::

    P(Y = 1 \mid Z = 1) - P(Y = 1 \mid Z = 0)
    = \sum_k P(Y = 1 \mid Z = 1, X = k) P(X = k \mid Z = 1)
    - \sum_k P(Y = 1 \mid Z = 0, X = k) P(X = k \mid Z = 0),

so when :math:`X` is associated with both :math:`Z` and :math:`Y` the marginal
comparison can point the other way from every stratum (Ding 2024, sec. 1.2.2).

References
----------
.. [1] Ding, P. (2024). *A First Course in Causal Inference*, ch. 1. CRC Press.
.. [2] Simpson, E. H. (1951). The interpretation of interaction in contingency
   tables. *JRSS B* 13, 238-241.
.. [3] Charig, C. R., Webb, D. R., Payne, S. R. and Wickham, J. E. (1986).
   Comparison of treatment of renal calculi by open surgery, percutaneous
   nephrolithotomy, and extracorporeal shockwave lithotripsy. *BMJ* 292, 879-882.
.. [4] Bickel, P. J., Hammel, E. A. and O'Connell, J. W. (1975). Sex bias in
   graduate admissions: data from Berkeley. *Science* 187, 398-404.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causalattn._validation import check_choice, check_columns, check_confidence_level
from causalattn.estimate import Estimate, EstimateTable
from causalattn.plots import plot_forest
from causalattn.tables._cells import check_correction, log_ratio_estimate
from causalattn.tables.stratified import StratifiedTable

__all__ = ["SimpsonResult", "simpson"]

MEASURES = ("risk_difference", "risk_ratio", "odds_ratio")


@dataclass(frozen=True, repr=False)
class SimpsonResult:
    """Marginal, per-stratum and adjusted associations, and whether the marginal one reverses the strata.

    Attributes
    ----------
    measure : str
        ``"risk_difference"``, ``"risk_ratio"`` or ``"odds_ratio"``.
    treatment, outcome, strata : str
        The column names.
    marginal : Estimate
        The crude association, strata ignored.
    by_stratum : EstimateTable
        One estimate per stratum (stratum label in ``details["stratum"]``).
    mantel_haenszel : Estimate
        The Mantel-Haenszel pooled estimate.
    standardized : Estimate
        The estimate from the directly standardized risks (stratum-size weights).
    reverses : bool
        The marginal association points one way (not null) and every stratum's
        association points the other way.
    reversal_is_clear : bool
        ``reverses``, and the marginal interval excludes the null value on its
        side while every stratum's interval excludes it on the other side.
        ``False`` when the reversal is within noise (or there is none).
    verdict : str
        The above in plain language, with the numbers.
    """

    measure: str
    treatment: str
    outcome: str
    strata: str
    marginal: Estimate
    by_stratum: EstimateTable
    mantel_haenszel: Estimate
    standardized: Estimate
    reverses: bool
    reversal_is_clear: bool
    verdict: str

    def __repr__(self) -> str:
        return (f"SimpsonResult({self.measure}: marginal {self.marginal.estimate:.4g}, {len(self.by_stratum)} strata "
                f"of {self.strata!r}, MH {self.mantel_haenszel.estimate:.4g}; reverses={self.reverses}, "
                f"reversal_is_clear={self.reversal_is_clear})")

    def estimates(self) -> EstimateTable:
        """Marginal, per-stratum, Mantel-Haenszel and standardized estimates in one table."""
        title = (f"{self.measure.replace('_', ' ')} of {self.outcome!r} for {self.treatment!r} = 1 vs 0, "
                 f"by {self.strata!r}")
        return EstimateTable([self.marginal, *self.by_stratum, self.mantel_haenszel, self.standardized], title=title)

    def summary(self) -> str:
        """The table of :meth:`estimates` followed by the verdict."""
        return f"{self.estimates().summary()}\n\n{self.verdict}"

    def plot(self, title: str | None = None) -> Figure:
        """Marginal vs per-stratum vs adjusted estimates with their intervals (log axis for ratios).

        Returns
        -------
        matplotlib.figure.Figure
        """
        rows = [dataclasses.replace(self.marginal, estimand="marginal (crude)")]
        rows += [dataclasses.replace(e, estimand=f"{self.strata} = {e.details['stratum']}") for e in self.by_stratum]
        rows += [dataclasses.replace(self.mantel_haenszel, estimand="Mantel-Haenszel"),
                 dataclasses.replace(self.standardized, estimand="standardized")]
        default = f"Simpson's paradox? {self.outcome} by {self.treatment}, stratified by {self.strata}"
        return plot_forest(EstimateTable(rows), title=default if title is None else title,
                           xlabel=self.measure.replace("_", " "))


def simpson(
    data: pd.DataFrame,
    treatment: str,
    outcome: str,
    strata: str,
    *,
    measure: str = "risk_difference",
    confidence_level: float = 0.95,
    correction: float | None = None,
) -> SimpsonResult:
    r"""Check a binary treatment-outcome association for Yule-Simpson's reversal across strata.

    Computes, for ``measure``:

    * the marginal association, strata ignored (:class:`~causalattn.Table2x2`
      of all units);
    * the association in each stratum of ``strata``;
    * the Mantel-Haenszel pooled estimate (:class:`~causalattn.StratifiedTable`);
    * the standardized estimate: with stratum shares :math:`\pi_k = N_k / N`, the
      standardized risks :math:`\hat p_z^{std} = \sum_k \pi_k \hat p_{zk}` give
      :math:`\hat p_1^{std} - \hat p_0^{std}` (Ding's stratified estimator),
      :math:`\hat p_1^{std} / \hat p_0^{std}` or the odds ratio of the two; the
      weights are treated as fixed, with
      :math:`\widehat{\mathrm{var}}(\hat p_z^{std}) = \sum_k \pi_k^2 \hat p_{zk}(1 - \hat p_{zk}) / n_{zk}`
      and the delta method on the log scale for the ratios;

    and judges the direction of each (above or below the null value: 0 for the
    risk difference, 1 for the ratios). The marginal association *reverses*
    the strata when it points one way and every stratum points the other way;
    the reversal is *statistically clear* when the marginal interval and every
    stratum's interval exclude the null value, and *within noise* otherwise.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    treatment, outcome : str
        Names of binary (0/1 or bool) columns; rows of each 2x2 table are
        ``treatment`` = 1 and 0, columns ``outcome`` = 1 and 0.
    strata : str
        Name of the column defining the strata. Every stratum needs treated
        and control units.
    measure : {"risk_difference", "risk_ratio", "odds_ratio"}
        Interval methods: Wald (risk difference), Katz (risk ratio), Woolf
        (odds ratio) for the marginal and per-stratum estimates.
    confidence_level : float
        Coverage of every interval.
    correction : float or None
        Added to every cell of every table before estimating (e.g. 0.5 for
        zero cells); never by default. Recorded in each estimate's details.

    Returns
    -------
    SimpsonResult
        With ``marginal``, ``by_stratum``, ``mantel_haenszel``,
        ``standardized``, the booleans ``reverses`` and ``reversal_is_clear``,
        a ``verdict``, ``summary()`` and ``plot()``.

    Raises
    ------
    ValueError
        Unknown ``measure``, a missing column, the same column in two roles,
        a non-binary treatment or outcome, or a stratum without treated or
        control units.

    References
    ----------
    .. [1] Ding, P. (2024). *A First Course in Causal Inference*, sec. 1.2.2. CRC Press.
    .. [2] Charig, C. R. et al. (1986). *BMJ* 292, 879-882.

    Examples
    --------
    Open surgery removes kidney stones more often than PCNL for small and for
    large stones, yet less often overall (Charig et al. 1986):

    >>> from causalattn import datasets, simpson
    >>> res = simpson(datasets.load("kidney_stones"), "treatment", "success", "stone_size")
    >>> res.reverses, res.reversal_is_clear
    (True, False)
    >>> round(res.marginal.estimate, 4)
    -0.0457
    """
    checked = _simpson_iv(data, treatment, outcome, strata, measure, confidence_level, correction)
    measure, level, correction = checked.measure, checked.confidence_level, checked.correction
    table = StratifiedTable.from_data(data, treatment=treatment, outcome=outcome, strata=strata)
    options = {"confidence_level": level, "correction": correction}
    marginal = getattr(table.marginal, measure)(**options)
    marginal = dataclasses.replace(marginal, estimand=f"{marginal.estimand} (marginal)")
    by_stratum = table.stratum_estimates(measure, **options)
    pooled = getattr(table, measure)(**options)
    standardized = _standardized(table, measure, level, correction)

    marginal_side = _direction(marginal)
    sides = [_direction(e) for e in by_stratum]
    reverses = marginal_side != 0 and all(side == -marginal_side for side in sides)
    clear = reverses and _excludes_null(marginal) and all(_excludes_null(e) for e in by_stratum)
    result = SimpsonResult(measure, treatment, outcome, strata, marginal, by_stratum, pooled, standardized,
                           reverses, clear, "")
    return dataclasses.replace(result, verdict=_verdict(result))


@dataclass(frozen=True)
class _Options:
    """The validated options of :func:`simpson`."""

    measure: str
    confidence_level: float
    correction: float | None


def _simpson_iv(
    data: Any, treatment: Any, outcome: Any, strata: Any, measure: Any, confidence_level: Any, correction: Any
) -> _Options:
    roles = {"treatment": treatment, "outcome": outcome, "strata": strata}
    for name, column in roles.items():
        if not isinstance(column, str):
            raise TypeError(f"`{name}` must be a column name (str), got {type(column).__name__}")
    check_columns(data, **roles)
    if len(set(roles.values())) < 3:
        raise ValueError(f"`treatment`, `outcome` and `strata` must be three different columns, got {roles}")
    measure = check_choice("measure", measure, MEASURES)
    return _Options(measure, check_confidence_level(confidence_level), check_correction(correction))


def _standardized(table: StratifiedTable, measure: str, level: float, correction: float | None) -> Estimate:
    """The risk difference, risk ratio or odds ratio of the directly standardized risks."""
    rd = table.standardized_risk_difference(weights="stratum_size", confidence_level=level, correction=correction)
    if measure == "risk_difference":
        return rd
    pi = np.asarray(rd.details["stratum_weights"])
    cells = table.counts.astype(float) + (correction or 0.0)
    n = cells.sum(axis=2)  # (stratum, arm): arm 0 treated, 1 control
    p = cells[:, :, 0] / n
    p1, p0 = pi @ p
    v1, v0 = (pi**2) @ (p * (1 - p) / n)
    details = {"correction": correction, "weights": "stratum_size", "stratum_weights": rd.details["stratum_weights"],
               "p1": float(p1), "p0": float(p0)}
    if measure == "risk_ratio":
        return log_ratio_estimate(
            "risk ratio (standardized)", p1, p0, lambda: v1 / p1**2 + v0 / p0**2,
            zero_cells="a standardized risk of 0", level=level, method="delta-log", n=table.n, details=details,
        )
    return log_ratio_estimate(
        "odds ratio (standardized)", p1 * (1 - p0), p0 * (1 - p1),
        lambda: v1 / (p1 * (1 - p1)) ** 2 + v0 / (p0 * (1 - p0)) ** 2,
        zero_cells="a standardized risk of 0 or 1", level=level, method="delta-logit", n=table.n, details=details,
    )


def _direction(est: Estimate) -> int:
    """+1 above the null value, -1 below, 0 at it."""
    return int(np.sign(est.estimate - est.null_value))


def _excludes_null(est: Estimate) -> bool:
    low, high = est.confidence_interval
    return bool(low > est.null_value or high < est.null_value)


def _fmt(est: Estimate) -> str:
    low, high = est.confidence_interval
    return f"{est.estimate:.3g} [{low:.3g}, {high:.3g}]"


def _verdict(res: SimpsonResult) -> str:
    """Plain-language account of the marginal, per-stratum and adjusted directions."""
    word = {1: "more common", -1: "less common", 0: "as common"}
    null = f"{res.marginal.null_value:g}"
    marginal_side = _direction(res.marginal)
    sides = [_direction(e) for e in res.by_stratum]
    per_stratum = "; ".join(f"{e.details['stratum']}: {_fmt(e)}" for e in res.by_stratum)
    overall = (f"overall, {res.outcome} = 1 is {word[marginal_side]} with {res.treatment} = 1 than with "
               f"{res.treatment} = 0 ({res.measure.replace('_', ' ')} {_fmt(res.marginal)}, "
               f"{res.marginal.confidence_level:.0%} CI)")

    if res.reverses:
        text = (f"Simpson's reversal: {overall}, but within every stratum of {res.strata!r} it is "
                f"{word[-marginal_side]} ({per_stratum}).")
        if res.reversal_is_clear:
            text += f" The reversal is statistically clear: every interval excludes {null}."
        else:
            noisy_strata = sum(not _excludes_null(e) for e in res.by_stratum)
            parts = ["the marginal interval"] if not _excludes_null(res.marginal) else []
            parts += [f"{noisy_strata} of {len(sides)} stratum intervals"] if noisy_strata else []
            text += f" The reversal is within noise: {' and '.join(parts)} include {null}."
    elif all(side == marginal_side for side in sides):
        text = f"No reversal: {overall}, and so it is in every stratum of {res.strata!r} ({per_stratum})."
    else:
        split = ", ".join(f"{word[side]} in {sides.count(side)} of {len(sides)}" for side in (1, -1, 0)
                          if side in sides)
        text = (f"No reversal: the strata of {res.strata!r} disagree ({res.outcome} = 1 is {split} strata with "
                f"{res.treatment} = 1; {per_stratum}); {overall}.")

    mh, std = res.mantel_haenszel, res.standardized
    text += f" Adjusted for {res.strata!r}: Mantel-Haenszel {_fmt(mh)}, standardized {_fmt(std)}."
    if _excludes_null(res.marginal) and not _excludes_null(mh):
        text += (f" The Mantel-Haenszel interval includes {null}: {res.strata!r} accounts for the clear marginal "
                 "association.")
    elif _excludes_null(res.marginal) and _excludes_null(mh) and _direction(mh) == -marginal_side:
        text += " Adjustment clearly reverses the marginal association."
    elif not _excludes_null(res.marginal) and _excludes_null(mh):
        text += f" Only the Mantel-Haenszel interval excludes {null}."
    return text
