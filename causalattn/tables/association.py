r"""Association measures in a 2x2 table: risk difference, risk ratio, odds ratio and their tests.

The table follows Ding (2024), chapter 1: rows are the treated (exposed,
:math:`Z = 1`) and control (:math:`Z = 0`) units, columns the outcome
:math:`Y = 1` and :math:`Y = 0`,

.. math::

    \begin{array}{c|cc|c}
            & Y = 1 & Y = 0 & \\ \hline
    Z = 1   & a     & b     & n_1 \\
    Z = 0   & c     & d     & n_0
    \end{array}

with risks :math:`\hat p_1 = a / n_1` and :math:`\hat p_0 = c / n_0`.

References
----------
.. [1] Ding, P. (2024). *A First Course in Causal Inference*, chapter 1.
   CRC Press.
.. [2] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., chapter 3.
   Wiley.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats.contingency import odds_ratio as _scipy_odds_ratio
from statsmodels.stats.proportion import proportion_confint

from causalattn._validation import check_choice, check_confidence_level, check_flag
from causalattn.estimate import ConfidenceInterval, Estimate, normal_estimate
from causalattn.hypothesis import HypothesisTest
from causalattn.tables._cells import (
    ROWS,
    binary_columns,
    check_arms,
    check_correction,
    check_counts,
    corrected_cells,
    count_units,
    frame_with_totals,
    log_ratio_estimate,
)

__all__ = ["Table2x2"]

_COLUMNS = ("Y=1", "Y=0")
#: Tables whose conditional distribution has more possible values than this get no exact interval by default:
#: scipy's interval takes about a second per thousand values (an interval for [[n, 5], [5, n]] with n = 1e6
#: would take hours), while the p-value stays instant.
EXACT_INTERVAL_MAX_SUPPORT = 2000
# scipy's conditional odds ratio converts the cells to C ints.
_SCIPY_MAX_CELL = 2**31 - 1


class Table2x2:
    r"""A 2x2 table of a binary treatment (rows) and a binary outcome (columns).

    Parameters
    ----------
    counts : array_like, shape (2, 2)
        Non-negative integer counts ``[[a, b], [c, d]]``: row 0 the treated
        units (:math:`Z = 1`), row 1 the controls (:math:`Z = 0`); column 0
        :math:`Y = 1`, column 1 :math:`Y = 0`. Each row needs at least one unit.
        (``pandas.crosstab`` of 0/1 columns sorts 0 first, the reverse order;
        build from unit rows with :meth:`from_data` instead.)

    See Also
    --------
    causalattn.StratifiedTable : several such tables, one per stratum.

    Notes
    -----
    With :math:`\hat p_1 = a/n_1` and :math:`\hat p_0 = c/n_0` (Ding 2024, ch. 1):

    * risk difference :math:`\widehat{RD} = \hat p_1 - \hat p_0`;
    * risk ratio :math:`\widehat{RR} = \hat p_1 / \hat p_0`;
    * odds ratio :math:`\widehat{OR} = ad / (bc)`.

    Ratio intervals are built on the log scale and exponentiated.

    **Zero cells.** Nothing is added to the counts unless you ask for it with
    ``correction=`` (e.g. ``0.5``, the Haldane-Anscombe correction, added to
    all four cells); every result records it in ``details["correction"]``.
    Without a correction a zero cell gives a documented limit: a ratio of
    ``0`` or ``inf`` with the interval ``[0, inf]`` and an explanation in
    ``details["note"]``; a ratio ``0/0`` (undefined) is a ``ValueError``.
    (statsmodels' ``Table2x2`` by contrast replaces zero cells by 0.5 by
    default, ``shift_zeros=True``, without saying so in its results.)

    References
    ----------
    .. [1] Ding, P. (2024). *A First Course in Causal Inference*, ch. 1. CRC Press.
    .. [2] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., sec. 3.1. Wiley.
    .. [3] Newcombe, R. G. (1998). Interval estimation for the difference between
       independent proportions. *Statistics in Medicine* 17, 873-890.
    .. [4] Katz, D., Baptista, J., Azen, S. P. and Pike, M. C. (1978). Obtaining
       confidence intervals for the risk ratio in cohort studies. *Biometrics* 34, 469-474.
    .. [5] Woolf, B. (1955). On estimating the relation between blood group and
       disease. *Annals of Human Genetics* 19, 251-253.

    Examples
    --------
    Kidney stones, small stones (Charig et al. 1986): open surgery 81/87
    successes, percutaneous nephrolithotomy 234/270.

    >>> from causalattn import Table2x2
    >>> t = Table2x2([[81, 6], [234, 36]])
    >>> round(t.risk_difference().estimate, 4)
    0.0644
    >>> round(t.odds_ratio().estimate, 4)
    2.0769
    """

    def __init__(self, counts: Any) -> None:
        self._counts = check_counts("counts", counts)
        check_arms("counts", self._counts, "the table")
        self._counts.setflags(write=False)

    @classmethod
    def from_data(cls, data: pd.DataFrame, *, treatment: str, outcome: str) -> Table2x2:
        """Count the units of ``data`` (one row per unit) by ``treatment`` and ``outcome``.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per unit.
        treatment, outcome : str
            Names of binary columns (0/1 or bool).
        """
        z, y = binary_columns(data, treatment=treatment, outcome=outcome)
        counts = count_units(z, y)
        check_arms("treatment", counts, f"column {treatment!r}")
        return cls(counts)

    # -- the table ---------------------------------------------------------

    @property
    def counts(self) -> np.ndarray:
        """The counts ``[[a, b], [c, d]]`` (read-only int array)."""
        return self._counts

    @property
    def n(self) -> int:
        """Number of units."""
        return int(self._counts.sum())

    @property
    def n1(self) -> int:
        """Number of treated units, :math:`n_1 = a + b`."""
        return int(self._counts[0].sum())

    @property
    def n0(self) -> int:
        """Number of control units, :math:`n_0 = c + d`."""
        return int(self._counts[1].sum())

    @property
    def p1(self) -> float:
        """Risk among the treated, :math:`a / n_1`."""
        return float(self._counts[0, 0] / self.n1)

    @property
    def p0(self) -> float:
        """Risk among the controls, :math:`c / n_0`."""
        return float(self._counts[1, 0] / self.n0)

    def to_frame(self) -> pd.DataFrame:
        """The counts as a labelled DataFrame, with row and column totals."""
        return frame_with_totals(self._counts, index=list(ROWS), columns=list(_COLUMNS))

    def __repr__(self) -> str:
        return f"Table2x2({self._counts.tolist()})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Table2x2) and bool((self._counts == other._counts).all())

    __hash__ = None  # type: ignore[assignment]

    # -- association measures ----------------------------------------------

    def risk_difference(
        self, *, method: str = "wald", confidence_level: float = 0.95, correction: float | None = None
    ) -> Estimate:
        r"""Risk difference :math:`\hat p_1 - \hat p_0` with a Wald or Newcombe interval.

        Parameters
        ----------
        method : {"wald", "newcombe"}
            ``"wald"``: :math:`\widehat{RD} \pm z\,\widehat{se}` with
            :math:`\widehat{se}^2 = \hat p_1(1-\hat p_1)/n_1 + \hat p_0(1-\hat p_0)/n_0`,
            and the Wald p-value. ``"newcombe"``: Newcombe's (1998, method 10)
            hybrid score interval combining the Wilson intervals
            :math:`[l_j, u_j]` of each risk,
            :math:`[\widehat{RD} - \sqrt{(\hat p_1 - l_1)^2 + (u_0 - \hat p_0)^2},\;
            \widehat{RD} + \sqrt{(u_1 - \hat p_1)^2 + (\hat p_0 - l_0)^2}]`;
            it has no standard error or p-value (see :meth:`chi2_test`).
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell before estimating (never by default).

        Notes
        -----
        When both risks are 0 or 1 the Wald standard error is 0: the Wald
        interval collapses to a point and has no p-value (``details["note"]``);
        the Newcombe interval stays informative.
        """
        method = check_choice("method", method, ("wald", "newcombe"))
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        a, b, c, d = self._cells(correction)
        n1, n0 = a + b, c + d
        p1, p0 = a / n1, c / n0
        rd = p1 - p0
        details: dict[str, Any] = {"correction": correction, "p1": p1, "p0": p0}
        if method == "wald":
            se = math.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
            if se == 0:
                details["note"] = ("both risks are 0 or 1, so the Wald standard error is 0 and the interval "
                                   "is a point; use method='newcombe'")
            return normal_estimate("risk difference", rd, se, confidence_level=level, method="wald",
                                   n=self.n, details=details)
        alpha = 1 - level
        l1, u1 = proportion_confint(a, n1, alpha=alpha, method="wilson")
        l0, u0 = proportion_confint(c, n0, alpha=alpha, method="wilson")
        low = rd - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        high = rd + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
        return Estimate("risk difference", rd, None, ConfidenceInterval(low, high), level, None, "newcombe",
                        self.n, 0.0, details)

    def risk_ratio(
        self, *, method: str = "katz", confidence_level: float = 0.95, correction: float | None = None
    ) -> Estimate:
        r"""Risk ratio :math:`\hat p_1 / \hat p_0` with Katz's log interval.

        Parameters
        ----------
        method : {"katz"}
            :math:`\exp\{\log\widehat{RR} \pm z\,\widehat{se}\}` with
            :math:`\widehat{se}^2 = 1/a - 1/n_1 + 1/c - 1/n_0` (Katz et al. 1978);
            the p-value tests :math:`\log RR = 0`.
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell before estimating (never by default).

        Notes
        -----
        Without a correction, :math:`a = 0` gives :math:`\widehat{RR} = 0` and
        :math:`c = 0` gives :math:`\widehat{RR} = \infty`, each with infinite
        standard error, interval ``[0, inf]`` and no p-value; :math:`a = c = 0`
        (no events at all) leaves the ratio undefined and raises ``ValueError``.
        """
        check_choice("method", method, ("katz",))
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        a, b, c, d = self._cells(correction)
        n1, n0 = a + b, c + d
        return log_ratio_estimate(
            "risk ratio", a * n0, c * n1, lambda: 1 / a - 1 / n1 + 1 / c - 1 / n0,
            zero_cells="zero events (a = 0 or c = 0)",
            level=level, method="katz", n=self.n, details={"correction": correction, "p1": a / n1, "p0": c / n0},
        )

    def odds_ratio(
        self, *, method: str = "woolf", confidence_level: float = 0.95, correction: float | None = None
    ) -> Estimate:
        r"""Odds ratio with Woolf's logit interval or the exact conditional interval.

        Parameters
        ----------
        method : {"woolf", "exact"}
            ``"woolf"``: the sample odds ratio :math:`ad/(bc)` with
            :math:`\exp\{\log\widehat{OR} \pm z\,\widehat{se}\}`,
            :math:`\widehat{se}^2 = 1/a + 1/b + 1/c + 1/d` (Woolf 1955), and the
            Wald p-value. ``"exact"``: the conditional maximum likelihood
            estimate (noncentral hypergeometric, margins fixed), the exact
            conditional interval and Fisher's two-sided p-value, from
            :func:`scipy.stats.contingency.odds_ratio` (``kind="conditional"``)
            and :func:`scipy.stats.fisher_exact`; see :meth:`fisher_exact`.
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell before estimating (never by default); only for
            ``method="woolf"``, the exact method needs integer counts.

        Notes
        -----
        Without a correction, a zero in :math:`a` or :math:`d` gives an odds
        ratio of 0, a zero in :math:`b` or :math:`c` gives ``inf`` (interval
        ``[0, inf]`` for Woolf; the exact interval keeps one finite bound).
        Zeros on both diagonals, or an empty outcome column, leave the odds
        ratio undefined: ``ValueError``. The exact method is refused (a
        ``ValueError``, instantly) for a table whose conditional distribution
        has more than :data:`EXACT_INTERVAL_MAX_SUPPORT` values, or with a
        cell of 2**31 or more: at such counts Woolf's interval is accurate.
        """
        method = check_choice("method", method, ("woolf", "exact"))
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        if method == "exact":
            if correction is not None:
                raise ValueError("`correction` cannot be used with method='exact', which conditions on integer "
                                 "counts; it handles zero cells without one")
            return dataclasses.replace(self._exact_odds_ratio("two-sided", level, interval_required=True),
                                       method="exact-conditional")
        a, b, c, d = self._cells(correction)
        return log_ratio_estimate(
            "odds ratio", a * d, b * c, lambda: 1 / a + 1 / b + 1 / c + 1 / d,
            zero_cells="a zero cell (a, b, c or d)", level=level, method="woolf", n=self.n,
            details={"correction": correction},
        )

    # -- tests ---------------------------------------------------------------

    def fisher_exact(self, *, alternative: str = "two-sided", confidence_level: float = 0.95) -> Estimate:
        r"""Fisher's exact test of independence, reported with the conditional odds ratio.

        The p-value is :func:`scipy.stats.fisher_exact`'s; the estimate is the
        conditional maximum likelihood odds ratio and the interval the exact
        conditional one for the same ``alternative``
        (:func:`scipy.stats.contingency.odds_ratio`), as R's ``fisher.test``
        reports them. The sample odds ratio :math:`ad/(bc)` is in
        ``details["sample_odds_ratio"]``.

        The exact interval costs time in proportion to the number of tables
        with the observed margins. Beyond :data:`EXACT_INTERVAL_MAX_SUPPORT`
        of them the result has no interval (NaN bounds and confidence level,
        explained in ``details["note"]``), while the p-value is still exact.
        Cells of 2**31 or more exceed scipy's exact routines: ``ValueError``.

        Parameters
        ----------
        alternative : {"two-sided", "less", "greater"}
            Alternative to :math:`OR = 1`.
        confidence_level : float
            Coverage of the interval.

        References
        ----------
        .. [1] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., sec. 3.5. Wiley.
        """
        alternative = check_choice("alternative", alternative, ("two-sided", "less", "greater"))
        level = check_confidence_level(confidence_level)
        return self._exact_odds_ratio(alternative, level)

    def chi2_test(self, *, continuity: bool = True) -> HypothesisTest:
        r"""Pearson's chi-square test of independence (:math:`p_1 = p_0`), with Yates' correction by default.

        .. math::

            X^2 = \sum_{i,j} \frac{(|O_{ij} - E_{ij}| - \delta)^2}{E_{ij}},\qquad
            E_{ij} = \frac{(\text{row } i \text{ total})(\text{column } j \text{ total})}{n},

        referred to :math:`\chi^2_1`, with :math:`\delta = 1/2` (Yates'
        continuity correction, never more than :math:`|O_{ij} - E_{ij}|`) or
        :math:`\delta = 0`; from :func:`scipy.stats.chi2_contingency`. The
        smallest expected count is in ``details["min_expected"]`` (with a note
        when it is below 5). The size of the association is not part of the
        test: ask :meth:`risk_difference` (or the ratios) for it and its interval.

        Parameters
        ----------
        continuity : bool
            Yates' continuity correction. The default ``True`` follows R's
            ``chisq.test`` and scipy's ``chi2_contingency``; ``False`` gives
            Pearson's uncorrected statistic (Agresti 2013, sec. 3.2).

        Returns
        -------
        HypothesisTest
            ``method`` is ``"chi2-yates"`` or ``"chi2"``; ``dof`` is 1.

        References
        ----------
        .. [1] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., sec. 3.2. Wiley.
        .. [2] Yates, F. (1934). Contingency tables involving small numbers and the
           chi-square test. *Supplement to JRSS* 1, 217-235.

        Examples
        --------
        >>> from causalattn import Table2x2
        >>> Table2x2([[81, 6], [234, 36]]).chi2_test(continuity=False)
        HypothesisTest(independence (p1 = p0): statistic = 2.626, dof = 1, p = 0.105; method=chi2, n=357)
        """
        yates = check_flag("continuity", continuity)
        self._require_both_outcomes("the chi-square test")
        result = stats.chi2_contingency(self._counts, correction=yates)
        details: dict[str, Any] = {"min_expected": float(result.expected_freq.min())}
        if details["min_expected"] < 5:
            details["note"] = (f"an expected count is {details['min_expected']:.3g} < 5, so the chi-square "
                               "approximation is rough; fisher_exact() is exact")
        return HypothesisTest("independence (p1 = p0)", result.statistic, result.dof, result.pvalue,
                              "chi2-yates" if yates else "chi2", self.n, details)

    # -- helpers -------------------------------------------------------------

    def _cells(self, correction: float | None) -> tuple[float, float, float, float]:
        return corrected_cells(self._counts, correction)

    def _require_both_outcomes(self, what: str) -> None:
        if (self._counts.sum(axis=0) == 0).any():
            raise ValueError(f"{what} is undefined: every unit has the same outcome (an empty Y column in "
                             f"{self._counts.tolist()})")

    def _exact_odds_ratio(self, alternative: str, level: float, *, interval_required: bool = False) -> Estimate:
        self._require_both_outcomes("the conditional odds ratio")
        if self._counts.max() > _SCIPY_MAX_CELL:
            raise ValueError(f"the exact conditional odds ratio needs cells below 2**31 (scipy's limit), got "
                             f"{self._counts.max()}; at such counts use odds_ratio() (Woolf) or chi2_test()")
        n1, c1 = int(self._counts[0].sum()), int(self._counts[:, 0].sum())
        support = min(n1, c1) - max(0, n1 + c1 - self.n) + 1  # tables with the observed margins
        too_many = support > EXACT_INTERVAL_MAX_SUPPORT
        if too_many and interval_required:
            raise ValueError(f"the exact conditional interval would run over {support} tables with these margins "
                             f"(limit {EXACT_INTERVAL_MAX_SUPPORT}, about a second per thousand); at such counts "
                             "use method='woolf', or fisher_exact() for the exact p-value without an interval")
        result = _scipy_odds_ratio(self._counts, kind="conditional")
        fisher = stats.fisher_exact(self._counts, alternative=alternative)
        details: dict[str, Any] = {"correction": None, "alternative": alternative,
                                   "sample_odds_ratio": float(fisher.statistic)}
        if too_many:
            ci, level = ConfidenceInterval(math.nan, math.nan), math.nan
            details["note"] = (f"no exact interval: it would run over {support} tables with these margins (limit "
                               f"{EXACT_INTERVAL_MAX_SUPPORT}); odds_ratio() gives Woolf's, accurate at such counts")
        else:
            ci = result.confidence_interval(confidence_level=level, alternative=alternative)
        if result.statistic in (0, math.inf):
            details["note"] = (f"a zero cell puts the conditional MLE at the boundary ({result.statistic}); "
                               "the exact interval is still valid")
        return Estimate("odds ratio", result.statistic, None, ConfidenceInterval(ci.low, ci.high), level,
                        float(fisher.pvalue), "fisher-exact", self.n, 1.0, details)
