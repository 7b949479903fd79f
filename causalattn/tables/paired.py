r"""Matched pairs of binary outcomes: the paired 2x2 table, McNemar's test, paired RD, RR and OR.

Each unit (a pair, or one evaluation sequence seen under two arms) contributes
one binary outcome under treatment and one under control. The counts of the
four combinations form the paired table, rows the outcome under treatment,
columns the outcome under control:

.. math::

    \begin{array}{c|cc|c}
                 & Y_0 = 1   & Y_0 = 0   & \\ \hline
    Y_1 = 1      & n_{11}    & n_{10}    & \\
    Y_1 = 0      & n_{01}    & n_{00}    & \\ \hline
                 &           &           & n
    \end{array}

so :math:`\hat p_1 = (n_{11} + n_{10}) / n` and :math:`\hat p_0 = (n_{11} + n_{01}) / n`.
Only the discordant pairs :math:`n_{10}, n_{01}` carry information about the
difference; the two samples are *not* independent, so the independent-samples
formulas of :class:`causalattn.Table2x2` do not apply.

References
----------
.. [1] Agresti, A. (2013). *Categorical Data Analysis*, 3rd ed., sec. 11.1-11.2. Wiley.
.. [2] McNemar, Q. (1947). Note on the sampling error of the difference between
   correlated proportions or percentages. *Psychometrika* 12, 153-157.
.. [3] Bonett, D. G. and Price, R. M. (2006). Confidence intervals for a ratio of
   binomial proportions based on paired data. *Statistics in Medicine* 25, 3039-3047.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as _sm_mcnemar

from causalattn._validation import (
    as_binary_array,
    check_choice,
    check_confidence_level,
    check_flag,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import ConfidenceInterval, Estimate, EstimateTable, normal_estimate
from causalattn.hypothesis import HypothesisTest
from causalattn.tables._cells import (
    check_correction,
    check_counts,
    corrected_cells,
    count_units,
    frame_with_totals,
    log_ratio_estimate,
)

__all__ = ["PairedTable"]

_LABELS = ("Y=1", "Y=0")


def _check_paired_counts(counts: Any) -> np.ndarray:
    arr = check_counts("counts", counts)
    if arr.sum() == 0:
        raise ValueError("`counts` must hold at least one pair, got an empty table")
    return arr


class PairedTable:
    r"""The paired 2x2 table of a binary outcome observed under treatment and under control on each unit.

    Parameters
    ----------
    counts : array_like, shape (2, 2)
        ``[[n11, n10], [n01, n00]]``: row = outcome under treatment (1, 0),
        column = outcome under control (1, 0).

    Notes
    -----
    With :math:`n_{10}` pairs that succeed only under treatment and
    :math:`n_{01}` that succeed only under control (Agresti 2013, sec. 11.1):

    * risk difference :math:`\hat p_1 - \hat p_0 = (n_{10} - n_{01})/n`, with
      :math:`\widehat{se}^2 = \{n_{10} + n_{01} - (n_{10} - n_{01})^2/n\}/n^2`;
    * risk ratio :math:`\hat p_1/\hat p_0 = (n_{11}+n_{10})/(n_{11}+n_{01})`, with
      :math:`\widehat{se}^2(\log) = (n_{10}+n_{01})/\{(n_{11}+n_{10})(n_{11}+n_{01})\}`
      (Bonett and Price 2006);
    * conditional (Mantel-Haenszel) odds ratio :math:`n_{10}/n_{01}`, with
      :math:`\widehat{se}^2(\log) = 1/n_{10} + 1/n_{01}`, or the exact interval from
      the Clopper-Pearson interval of :math:`n_{10}` out of :math:`n_{10}+n_{01}`;
    * McNemar's test of :math:`p_1 = p_0`, from :func:`statsmodels.stats.contingency_tables.mcnemar`
      (a :class:`~causalattn.HypothesisTest`).

    Nothing is added to zero cells unless ``correction=`` asks for it, and the
    result records it in ``details["correction"]``.

    Examples
    --------
    Agresti (2013, Table 11.1): approval of the prime minister in two surveys
    of the same 1600 people; "treatment" is the second survey.

    >>> from causalattn import PairedTable
    >>> t = PairedTable([[794, 86], [150, 570]])
    >>> round(t.risk_difference().estimate, 2)
    -0.04
    """

    def __init__(self, counts: Any) -> None:
        self._counts = _check_paired_counts(counts)
        self._counts.setflags(write=False)

    @classmethod
    def from_data(cls, treated: Any, control: Any) -> PairedTable:
        """Count pairs from the binary outcomes of each unit under treatment and under control.

        Parameters
        ----------
        treated, control : array_like of 0/1 or bool
            Outcome of unit ``i`` under treatment and under control, matched
            by position (pandas Series with different indexes are refused).
        """
        check_same_index(treated=treated, control=control)
        y1 = as_binary_array("treated", treated)
        y0 = as_binary_array("control", control)
        check_same_length(treated=y1, control=y0)
        return cls(count_units(y1, y0))

    @property
    def counts(self) -> np.ndarray:
        """``[[n11, n10], [n01, n00]]`` (read-only int array)."""
        return self._counts

    @property
    def n(self) -> int:
        """Number of pairs."""
        return int(self._counts.sum())

    @property
    def p1(self) -> float:
        """Proportion of successes under treatment."""
        return float(self._counts[0].sum() / self.n)

    @property
    def p0(self) -> float:
        """Proportion of successes under control."""
        return float(self._counts[:, 0].sum() / self.n)

    def to_frame(self) -> pd.DataFrame:
        """The counts as a labelled DataFrame (rows: treatment, columns: control) with totals."""
        return frame_with_totals(self._counts, index=[f"treatment {s}" for s in _LABELS],
                                 columns=[f"control {s}" for s in _LABELS])

    def __repr__(self) -> str:
        return f"PairedTable({self._counts.tolist()})"

    def _cells(self, correction: float | None) -> tuple[float, float, float, float]:
        return corrected_cells(self._counts, correction)

    def risk_difference(self, *, confidence_level: float = 0.95) -> Estimate:
        r"""Paired risk difference :math:`(n_{10} - n_{01})/n` with its Wald interval and p-value."""
        level = check_confidence_level(confidence_level)
        _, n10, n01, _ = self._cells(None)
        n = self.n
        rd = (n10 - n01) / n
        se = math.sqrt(max(n10 + n01 - (n10 - n01) ** 2 / n, 0.0)) / n
        details: dict[str, Any] = {"p1": self.p1, "p0": self.p0, "discordant": int(n10 + n01)}
        if se == 0:
            details["note"] = "no discordant pairs (or all in one cell): the standard error is 0, the interval a point"
        return normal_estimate("paired risk difference", rd, se, confidence_level=level, method="paired-wald",
                               n=n, details=details)

    def risk_ratio(self, *, confidence_level: float = 0.95, correction: float | None = None) -> Estimate:
        r"""Paired risk ratio :math:`\hat p_1/\hat p_0` with a log-scale Wald interval (Bonett and Price 2006).

        ``correction`` (e.g. 0.5) is added to every cell first, never by default.
        """
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        n11, n10, n01, _ = self._cells(correction)
        return log_ratio_estimate(
            "paired risk ratio", n11 + n10, n11 + n01, lambda: (n10 + n01) / ((n11 + n10) * (n11 + n01)),
            zero_cells="no success under one arm", level=level, method="paired-log-wald", n=self.n,
            details={"correction": correction, "p1": self.p1, "p0": self.p0},
        )

    def odds_ratio(
        self, *, method: str = "wald", confidence_level: float = 0.95, correction: float | None = None
    ) -> Estimate:
        r"""Conditional odds ratio :math:`n_{10}/n_{01}` (only discordant pairs count).

        Parameters
        ----------
        method : {"wald", "exact"}
            ``"wald"``: :math:`\exp\{\log(n_{10}/n_{01}) \pm z\sqrt{1/n_{10} + 1/n_{01}}\}`.
            ``"exact"``: the Clopper-Pearson interval :math:`[l, u]` of the
            binomial proportion :math:`n_{10}/(n_{10}+n_{01})` mapped to
            :math:`[l/(1-l), u/(1-u)]`, with the exact McNemar (binomial) p-value.
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell before estimating (``"wald"`` only; never by default).
        """
        method = check_choice("method", method, ("wald", "exact"))
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        if method == "exact":
            if correction is not None:
                raise ValueError("`correction` cannot be used with method='exact', which needs integer counts")
            return self._exact_odds_ratio(level)
        _, n10, n01, _ = self._cells(correction)
        return log_ratio_estimate(
            "paired odds ratio", n10, n01, lambda: 1 / n10 + 1 / n01, zero_cells="no discordant pair of one kind",
            level=level, method="conditional-wald", n=self.n, details={"correction": correction},
        )

    def _exact_odds_ratio(self, level: float) -> Estimate:
        n10, n01 = int(self._counts[0, 1]), int(self._counts[1, 0])
        if n10 + n01 == 0:
            raise ValueError("the paired odds ratio is undefined: there are no discordant pairs")
        test = stats.binomtest(n10, n10 + n01, 0.5)
        ci = test.proportion_ci(confidence_level=level, method="exact")
        to_odds = lambda p: math.inf if p >= 1 else p / (1 - p)  # noqa: E731
        ratio = math.inf if n01 == 0 else n10 / n01
        return Estimate("paired odds ratio", ratio, None, ConfidenceInterval(to_odds(ci.low), to_odds(ci.high)),
                        level, float(test.pvalue), "conditional-exact", self.n, 1.0, {"correction": None})

    def mcnemar(self, *, exact: bool = True, continuity: bool | None = None) -> HypothesisTest:
        r"""McNemar's test of :math:`p_1 = p_0` (marginal homogeneity), from the discordant pairs.

        Parameters
        ----------
        exact : bool
            ``True`` (default): the exact binomial test of :math:`n_{10}` out
            of :math:`n_{10} + n_{01}` with probability 1/2; the statistic is
            :math:`\min(n_{10}, n_{01})`. This is the Fisher randomization test
            of a matched-pairs experiment with a binary outcome (Ding 2024,
            ch. 7), and statsmodels' default; R's ``mcnemar.test`` has only
            the chi-square version.
            ``False``: the chi-square statistic
            :math:`(|n_{10} - n_{01}| - \delta)^2/(n_{10} + n_{01})` on one
            degree of freedom.
        continuity : bool or None
            Continuity correction of the chi-square statistic (:math:`\delta = 1`
            if ``True``, else 0). ``None`` (default) means ``True`` for the
            chi-square test, as R's ``mcnemar.test`` (``correct = TRUE``); it
            has no meaning for the exact test, where passing ``True`` or
            ``False`` is an error.

        Returns
        -------
        HypothesisTest
            ``method`` is ``"mcnemar-exact"``, ``"mcnemar-chi2-continuity"`` or
            ``"mcnemar-chi2"``; ``dof`` is ``None`` for the exact test, else 1.
            The paired risk difference with its interval is :meth:`risk_difference`.
            Without discordant pairs the p-value is 1.

        Examples
        --------
        >>> from causalattn import PairedTable
        >>> t = PairedTable([[794, 86], [150, 570]])
        >>> t.mcnemar(exact=False)  # doctest: +ELLIPSIS
        HypothesisTest(p1 = p0 (paired): statistic = 16.82, dof = 1, p = 4.11e-05; method=mcnemar-chi2-...)
        """
        exact = check_flag("exact", exact)
        if continuity is not None:
            continuity = check_flag("continuity", continuity)
            if exact:
                raise ValueError("`continuity` applies to the chi-square version only; pass exact=False")
        continuity = not exact and continuity is not False
        if self._counts[0, 1] + self._counts[1, 0] == 0:
            pvalue, statistic = 1.0, 0.0
        else:
            result = _sm_mcnemar(self._counts, exact=exact, correction=continuity)
            pvalue, statistic = float(result.pvalue), float(result.statistic)
        method = "mcnemar-exact" if exact else ("mcnemar-chi2-continuity" if continuity else "mcnemar-chi2")
        return HypothesisTest("p1 = p0 (paired)", statistic, None if exact else 1, pvalue, method, self.n,
                              {"discordant": int(self._counts[0, 1] + self._counts[1, 0])})

    def estimates(self, *, confidence_level: float = 0.95, correction: float | None = None) -> EstimateTable:
        """The paired risk difference, risk ratio and odds ratio (Wald intervals) in one table."""
        return EstimateTable(
            [self.risk_difference(confidence_level=confidence_level),
             self.risk_ratio(confidence_level=confidence_level, correction=correction),
             self.odds_ratio(method="wald", confidence_level=confidence_level, correction=correction)],
            title=f"paired 2x2 table {self._counts.tolist()} (rows: treatment, columns: control)",
        )
