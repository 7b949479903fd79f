r"""Stratified 2x2 tables: Mantel-Haenszel pooled measures, the CMH and Breslow-Day tests, standardization.

Stratum :math:`k = 1, \dots, K` is a :class:`~causalattn.Table2x2`
:math:`[[a_k, b_k], [c_k, d_k]]` with :math:`n_{1k} = a_k + b_k` treated,
:math:`n_{0k} = c_k + d_k` controls, :math:`N_k = n_{1k} + n_{0k}` units,
:math:`m_{1k} = a_k + c_k` events and :math:`m_{0k} = b_k + d_k` non-events.

References
----------
.. [1] Ding, P. (2024). *A First Course in Causal Inference*, chapter 1. CRC Press.
.. [2] Mantel, N. and Haenszel, W. (1959). Statistical aspects of the analysis of
   data from retrospective studies of disease. *JNCI* 22, 719-748.
.. [3] Greenland, S. and Robins, J. M. (1985). Estimation of a common effect
   parameter from sparse follow-up data. *Biometrics* 41, 55-68.
.. [4] Robins, J., Breslow, N. and Greenland, S. (1986). Estimators of the
   Mantel-Haenszel variance consistent in both sparse data and large-strata
   limiting models. *Biometrics* 42, 311-323.
.. [5] Sato, T. (1989). On the variance estimator for the Mantel-Haenszel risk
   difference. *Biometrics* 45, 1323-1324.
.. [6] Breslow, N. E. and Day, N. E. (1980). *Statistical Methods in Cancer
   Research, Vol. I*, sec. 4.4. IARC.
.. [7] Tarone, R. E. (1985). On heterogeneity tests based on efficient scores.
   *Biometrika* 72, 91-95.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from causalattn._validation import check_choice, check_columns, check_confidence_level, check_flag
from causalattn.estimate import Estimate, EstimateTable, normal_estimate
from causalattn.hypothesis import HypothesisTest
from causalattn.tables._cells import (
    binary_columns,
    check_arms,
    check_correction,
    check_counts,
    count_units,
    log_ratio_estimate,
)
from causalattn.tables.association import Table2x2

__all__ = ["StratifiedTable"]

_MEASURES = ("risk_difference", "risk_ratio", "odds_ratio")
_WEIGHTS = ("stratum_size", "treated", "control")
_RD_METHODS = ("sato", "greenland_robins")


class StratifiedTable:
    r"""A set of 2x2 tables, one per stratum of a pre-treatment covariate.

    Parameters
    ----------
    tables : sequence of Table2x2 or array_like of shape (2, 2)
        One table per stratum, each ``[[a, b], [c, d]]`` with rows treated
        (:math:`Z = 1`) and control (:math:`Z = 0`), columns :math:`Y = 1`
        and :math:`Y = 0`. Every stratum needs treated and control units.
    labels : sequence, optional
        Stratum names (default ``0, 1, ..., K-1``).

    Notes
    -----
    Pooled (Mantel-Haenszel) estimators, with :math:`w_k = n_{1k} n_{0k} / N_k`:

    * risk difference :math:`\widehat{RD}_{MH} = \sum_k w_k(\hat p_{1k} - \hat p_{0k}) / \sum_k w_k`,
      Sato's (1989) variance (consistent in sparse and large strata) or Greenland
      and Robins' (1985) (large strata);
    * risk ratio :math:`\widehat{RR}_{MH} = \sum_k a_k n_{0k}/N_k \,/\, \sum_k c_k n_{1k}/N_k`,
      Greenland and Robins' (1985) variance of its log;
    * odds ratio :math:`\widehat{OR}_{MH} = \sum_k a_k d_k/N_k \,/\, \sum_k b_k c_k/N_k`,
      the Robins, Breslow and Greenland (1986) variance of its log.

    Ratio intervals are built on the log scale. Direct standardization
    (:meth:`standardized_risk_difference`) is Ding's (2024, ch. 1)
    :math:`\sum_k \pi_k (\hat p_{1k} - \hat p_{0k})`.
    :meth:`cmh_test` tests a common odds ratio of 1 and :meth:`breslow_day`
    tests that the odds ratios are equal across strata; both return a
    :class:`~causalattn.HypothesisTest` (statistic, degrees of freedom,
    p-value, method).

    As in :class:`~causalattn.Table2x2`, nothing is added to zero cells unless
    ``correction=`` asks for it (then it is added to every cell of every
    stratum and recorded in ``details["correction"]``).

    References
    ----------
    .. [1] Ding, P. (2024). *A First Course in Causal Inference*, ch. 1. CRC Press.
    .. [2] Greenland, S. and Robins, J. M. (1985). *Biometrics* 41, 55-68.
    .. [3] Robins, J., Breslow, N. and Greenland, S. (1986). *Biometrics* 42, 311-323.
    .. [4] Sato, T. (1989). *Biometrics* 45, 1323-1324.
    .. [5] Breslow, N. E. and Day, N. E. (1980). *Statistical Methods in Cancer Research I*. IARC.
    .. [6] Tarone, R. E. (1985). *Biometrika* 72, 91-95.

    Examples
    --------
    Kidney stones (Charig et al. 1986), open surgery vs PCNL, by stone size:

    >>> from causalattn import StratifiedTable
    >>> st = StratifiedTable([[[81, 6], [234, 36]], [[192, 71], [55, 25]]], labels=["small", "large"])
    >>> round(st.odds_ratio().estimate, 3)
    1.447
    >>> round(st.marginal.risk_difference().estimate, 3)  # the crude comparison reverses
    -0.046
    """

    def __init__(self, tables: Sequence[Any], labels: Sequence[Any] | None = None) -> None:
        self._counts, self._labels = _tables_iv(tables, labels)
        self._counts.setflags(write=False)

    @classmethod
    def from_data(cls, data: pd.DataFrame, *, treatment: str, outcome: str, strata: str) -> StratifiedTable:
        """Count the units of ``data`` (one row per unit) by stratum, treatment and outcome.

        Parameters
        ----------
        data : pandas.DataFrame
            One row per unit.
        treatment, outcome : str
            Names of binary columns (0/1 or bool).
        strata : str
            Name of the column whose values define the strata (in the order of
            a categorical column's categories; otherwise sorted when sortable,
            else in order of appearance). Missing values are an error.
        """
        check_columns(data, strata=strata)
        z, y = binary_columns(data, treatment=treatment, outcome=outcome)
        groups = data[strata]
        if groups.isna().any():
            raise ValueError(f"`strata`: column {strata!r} has {int(groups.isna().sum())} missing value(s)")
        if isinstance(groups.dtype, pd.CategoricalDtype):
            levels = [c for c in groups.cat.categories if (groups == c).any()]
        else:
            levels = list(pd.unique(groups))
            try:
                levels = sorted(levels)
            except TypeError:
                pass
        values = groups.to_numpy()
        tables = []
        for level in levels:
            in_stratum = values == level
            counts = count_units(z[in_stratum], y[in_stratum])
            check_arms("strata", counts, f"stratum {level!r}")
            tables.append(counts)
        return cls(tables, labels=[level.item() if isinstance(level, np.generic) else level for level in levels])

    # -- the tables ----------------------------------------------------------

    @property
    def counts(self) -> np.ndarray:
        """Counts of shape ``(K, 2, 2)`` (read-only int array)."""
        return self._counts

    @property
    def labels(self) -> tuple:
        """Stratum labels."""
        return self._labels

    @property
    def strata(self) -> list[Table2x2]:
        """One :class:`~causalattn.Table2x2` per stratum."""
        return [Table2x2(c) for c in self._counts]

    @property
    def marginal(self) -> Table2x2:
        """The crude table, summed over strata."""
        return Table2x2(self._counts.sum(axis=0))

    @property
    def n(self) -> int:
        """Number of units in all strata."""
        return int(self._counts.sum())

    def __len__(self) -> int:
        return len(self._labels)

    def __repr__(self) -> str:
        return f"StratifiedTable({len(self)} strata: {list(self._labels)}, n={self.n})"

    # -- Mantel-Haenszel estimators -----------------------------------------------

    def risk_difference(
        self, *, method: str = "sato", confidence_level: float = 0.95, correction: float | None = None
    ) -> Estimate:
        r"""Mantel-Haenszel risk difference with Sato's or Greenland and Robins' variance.

        .. math::

            \widehat{RD}_{MH} = \frac{\sum_k (a_k n_{0k} - c_k n_{1k}) / N_k}{\sum_k W_k},
            \qquad W_k = \frac{n_{1k} n_{0k}}{N_k},

        with a Wald interval and p-value from one of two variances:

        * ``"sato"`` (Sato 1989), consistent both when the strata are many and
          sparse and when they are few and large:

          .. math::

              \widehat{\mathrm{var}} = \frac{\widehat{RD}_{MH} \sum_k P_k + \sum_k Q_k}{(\sum_k W_k)^2},
              \quad P_k = \frac{n_{1k}^2 c_k - n_{0k}^2 a_k + n_{1k} n_{0k} (n_{0k} - n_{1k}) / 2}{N_k^2},
              \quad Q_k = \frac{a_k (n_{0k} - c_k) + c_k (n_{1k} - a_k)}{2 N_k};

        * ``"greenland_robins"`` (Greenland and Robins 1985), consistent when
          the strata are few and large (the weighted Wald variances):

          .. math::

              \widehat{\mathrm{var}} = \frac{\sum_k W_k^2 \{\hat p_{1k}(1 - \hat p_{1k}) / n_{1k}
              + \hat p_{0k}(1 - \hat p_{0k}) / n_{0k}\}}{(\sum_k W_k)^2}.

        R's ``epiR::epi.2by2`` reports both (``ARisk.mh.sato``, ``ARisk.mh.green``);
        the two agree closely when the strata are large.

        Parameters
        ----------
        method : {"sato", "greenland_robins"}
            The variance estimator.
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell of every stratum (never by default).

        Examples
        --------
        >>> from causalattn import StratifiedTable
        >>> st = StratifiedTable([[[81, 6], [234, 36]], [[192, 71], [55, 25]]], labels=["small", "large"])
        >>> sato = st.risk_difference()
        >>> gr = st.risk_difference(method="greenland_robins")
        >>> round(sato.estimate, 4) == round(gr.estimate, 4), round(sato.standard_error, 4), round(gr.standard_error, 4)
        (True, 0.0336, 0.0333)
        """
        method = check_choice("method", method, _RD_METHODS)
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        a, b, c, d, n1, n0, big_n = self._cells(correction)
        w = n1 * n0 / big_n
        rd = np.sum((a * n0 - c * n1) / big_n) / w.sum()
        if method == "sato":
            p = (n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2) / big_n**2
            q = (a * (n0 - c) + c * (n1 - a)) / (2 * big_n)
            variance = (rd * p.sum() + q.sum()) / w.sum() ** 2
        else:
            variance = np.sum(w**2 * (a * b / n1**3 + c * d / n0**3)) / w.sum() ** 2
        se = math.sqrt(max(variance, 0.0))
        details: dict[str, Any] = {"correction": correction}
        if se == 0:
            details["note"] = "every stratum has risks of 0 or 1, so the variance is 0 and the interval a point"
        return normal_estimate("risk difference (MH)", rd, se, confidence_level=level,
                               method=f"mantel-haenszel-{method.replace('_', '-')}", n=self.n, details=details)

    def risk_ratio(self, *, confidence_level: float = 0.95, correction: float | None = None) -> Estimate:
        r"""Mantel-Haenszel risk ratio with the Greenland-Robins variance of its log.

        .. math::

            \widehat{RR}_{MH} = \frac{\sum_k R_k}{\sum_k S_k},\quad R_k = \frac{a_k n_{0k}}{N_k},\;
            S_k = \frac{c_k n_{1k}}{N_k},\qquad
            \widehat{\mathrm{var}}(\log \widehat{RR}_{MH}) =
            \frac{\sum_k (n_{1k} n_{0k} m_{1k} - a_k c_k N_k) / N_k^2}{\sum_k R_k \sum_k S_k}

        (Greenland and Robins 1985). No events among the treated (or the
        controls) in every stratum gives a ratio of 0 (or ``inf``) with interval
        ``[0, inf]``; no events at all is a ``ValueError``.

        Parameters
        ----------
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell of every stratum (never by default).
        """
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        a, b, c, d, n1, n0, big_n = self._cells(correction)
        r, s = np.sum(a * n0 / big_n), np.sum(c * n1 / big_n)
        return log_ratio_estimate(
            "risk ratio (MH)", r, s, lambda: np.sum((n1 * n0 * (a + c) - a * c * big_n) / big_n**2) / (r * s),
            zero_cells="zero events in every stratum's treated (or control) group",
            level=level, method="mantel-haenszel-greenland-robins", n=self.n, details={"correction": correction},
        )

    def odds_ratio(self, *, confidence_level: float = 0.95, correction: float | None = None) -> Estimate:
        r"""Mantel-Haenszel odds ratio with the Robins-Breslow-Greenland variance of its log.

        .. math::

            \widehat{OR}_{MH} = \frac{\sum_k R_k}{\sum_k S_k},\quad
            R_k = \frac{a_k d_k}{N_k},\; S_k = \frac{b_k c_k}{N_k},\;
            P_k = \frac{a_k + d_k}{N_k},\; Q_k = \frac{b_k + c_k}{N_k},

            \widehat{\mathrm{var}}(\log \widehat{OR}_{MH}) =
            \frac{\sum_k P_k R_k}{2 (\sum_k R_k)^2}
            + \frac{\sum_k (P_k S_k + Q_k R_k)}{2 \sum_k R_k \sum_k S_k}
            + \frac{\sum_k Q_k S_k}{2 (\sum_k S_k)^2}

        (Robins, Breslow and Greenland 1986). :math:`\sum_k R_k = 0` (or
        :math:`\sum_k S_k = 0`) gives 0 (or ``inf``) with interval ``[0, inf]``;
        both zero is a ``ValueError``.

        Parameters
        ----------
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell of every stratum (never by default).
        """
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        return self._mh_odds_ratio(level, correction)

    def standardized_risk_difference(
        self, *, weights: str = "stratum_size", confidence_level: float = 0.95, correction: float | None = None
    ) -> Estimate:
        r"""Directly standardized risk difference :math:`\sum_k \pi_k (\hat p_{1k} - \hat p_{0k})`.

        With ``weights="stratum_size"``, :math:`\pi_k = N_k / N`: the stratified
        estimator of the average causal effect in Ding (2024, ch. 1) when
        treatment is as good as random within strata. ``"treated"`` uses
        :math:`\pi_k = n_{1k} / n_1` (effect on the treated), ``"control"``
        :math:`\pi_k = n_{0k} / n_0` (effect on the controls). The weights are
        treated as fixed and the strata as independent:
        :math:`\widehat{\mathrm{var}} = \sum_k \pi_k^2 \{\hat p_{1k}(1-\hat p_{1k})/n_{1k}
        + \hat p_{0k}(1-\hat p_{0k})/n_{0k}\}`, with a Wald interval and p-value.

        Parameters
        ----------
        weights : {"stratum_size", "treated", "control"}
            Which population's stratum distribution to standardize to.
        confidence_level : float
            Coverage of the interval.
        correction : float or None
            Added to every cell of every stratum (never by default); the weights
            always use the uncorrected counts.
        """
        weights = check_choice("weights", weights, _WEIGHTS)
        level = check_confidence_level(confidence_level)
        correction = check_correction(correction)
        a, b, c, d, n1, n0, _ = self._cells(correction)
        p1, p0 = a / n1, c / n0
        size = {"stratum_size": self._counts.sum(axis=(1, 2)), "treated": self._counts[:, 0].sum(axis=1),
                "control": self._counts[:, 1].sum(axis=1)}[weights]
        pi = size / size.sum()
        se = math.sqrt(np.sum(pi**2 * (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)))
        details = {"correction": correction, "weights": weights, "stratum_weights": tuple(pi.tolist())}
        if se == 0:
            details["note"] = "every stratum has risks of 0 or 1, so the standard error is 0 and the interval a point"
        return normal_estimate("risk difference (standardized)", float(np.sum(pi * (p1 - p0))), se,
                               confidence_level=level, method="wald", n=self.n, details=details)

    def stratum_estimates(
        self, measure: str = "risk_difference", *, method: str | None = None, confidence_level: float = 0.95,
        correction: float | None = None,
    ) -> EstimateTable:
        """One estimate per stratum, as an :class:`~causalattn.EstimateTable`.

        Parameters
        ----------
        measure : {"risk_difference", "risk_ratio", "odds_ratio"}
            The :class:`~causalattn.Table2x2` method to call on each stratum.
        method : str, optional
            Its ``method=`` (default: that method's default).
        confidence_level : float
            Coverage of the intervals.
        correction : float or None
            Added to every cell (never by default).

        The stratum label is appended to each estimand (``"risk difference [small]"``)
        and kept in ``details["stratum"]``.
        """
        measure = check_choice("measure", measure, _MEASURES)
        options = {"confidence_level": confidence_level, "correction": correction}
        if method is not None:
            options["method"] = method
        estimates = []
        for label, table in zip(self._labels, self.strata, strict=True):
            est = getattr(table, measure)(**options)
            estimates.append(dataclasses.replace(est, estimand=f"{est.estimand} [{label}]",
                                                 details={**est.details, "stratum": label}))
        return EstimateTable(estimates, title=f"{measure.replace('_', ' ')} by stratum")

    # -- tests -------------------------------------------------------------

    def cmh_test(self, *, continuity: bool = True) -> HypothesisTest:
        r"""Cochran-Mantel-Haenszel test of conditional independence (a common odds ratio of 1).

        .. math::

            X^2_{CMH} = \frac{\left(\left|\sum_k a_k - \sum_k E_k\right| - \delta\right)^2}{\sum_k V_k},
            \quad E_k = \frac{n_{1k} m_{1k}}{N_k},\quad
            V_k = \frac{n_{1k} n_{0k} m_{1k} m_{0k}}{N_k^2 (N_k - 1)},

        referred to :math:`\chi^2_1`; :math:`\delta = 1/2` with ``continuity=True``
        (applied as in R's ``mantelhaen.test`` only when
        :math:`|\sum_k a_k - \sum_k E_k| \ge 1/2`), else 0. The pooled effect
        with its own interval is :meth:`odds_ratio` (or :meth:`risk_difference`,
        :meth:`risk_ratio`).

        Parameters
        ----------
        continuity : bool
            Continuity correction. The default ``True`` follows R's
            ``mantelhaen.test`` (``correct = TRUE``); statsmodels'
            ``StratifiedTable.test_null_odds`` defaults to ``False``.

        Returns
        -------
        HypothesisTest
            ``method`` is ``"cmh-continuity"`` or ``"cmh"``; ``dof`` is 1.

        Examples
        --------
        >>> from causalattn import StratifiedTable
        >>> st = StratifiedTable([[[81, 6], [234, 36]], [[192, 71], [55, 25]]], labels=["small", "large"])
        >>> st.cmh_test()
        HypothesisTest(common odds ratio = 1: statistic = 2.091, dof = 1, p = 0.148; method=cmh-continuity, n=700)
        """
        continuity = check_flag("continuity", continuity)
        a, b, c, d, n1, n0, big_n = self._cells(None)
        m1, m0 = a + c, b + d
        variance = np.sum(n1 * n0 * m1 * m0 / (big_n**2 * (big_n - 1)))
        if variance == 0:
            raise ValueError("the CMH test is undefined: within every stratum all units have the same outcome")
        deviation = abs(np.sum(a - n1 * m1 / big_n))
        if continuity and deviation >= 0.5:
            deviation -= 0.5
        statistic = deviation**2 / variance
        return HypothesisTest("common odds ratio = 1", statistic, 1, stats.chi2.sf(statistic, 1),
                              "cmh-continuity" if continuity else "cmh", self.n)

    def breslow_day(self, *, tarone: bool = True) -> HypothesisTest:
        r"""Breslow-Day test that the odds ratio is the same in every stratum.

        With :math:`\hat\psi = \widehat{OR}_{MH}`, :math:`\tilde a_k` solves
        :math:`\tilde a_k (n_{0k} - m_{1k} + \tilde a_k) = \hat\psi (n_{1k} - \tilde a_k)(m_{1k} - \tilde a_k)`
        inside the margins, and

        .. math::

            X^2_{BD} = \sum_k \frac{(a_k - \tilde a_k)^2}{\tilde V_k},\quad
            \tilde V_k = \left(\frac{1}{\tilde a_k} + \frac{1}{n_{1k} - \tilde a_k}
            + \frac{1}{m_{1k} - \tilde a_k} + \frac{1}{n_{0k} - m_{1k} + \tilde a_k}\right)^{-1},

        minus Tarone's (1985) adjustment
        :math:`(\sum_k a_k - \sum_k \tilde a_k)^2 / \sum_k \tilde V_k` when
        ``tarone=True``, referred to :math:`\chi^2_{K'-1}` (Breslow and Day 1980).
        Strata in which every unit has the same outcome carry no information on
        the odds ratio and are left out; :math:`K'` strata remain
        (``details["strata_used"]``).

        The chi-square approximation needs large strata: when a fitted count
        (:math:`\tilde a_k` or one of the three other cells it implies) is
        below 5, a ``UserWarning`` says the approximation may be incorrect (the
        warning R's ``chisq.test`` gives for its own test), and
        ``details["min_expected"]`` records the smallest fitted count.

        Parameters
        ----------
        tarone : bool
            Apply Tarone's correction (recommended: without it the statistic is
            not chi-square distributed with the MH estimate plugged in).

        Returns
        -------
        HypothesisTest
            ``method`` is ``"breslow-day-tarone"`` or ``"breslow-day"``;
            ``details["odds_ratio_mh"]`` is the pooled odds ratio :math:`\hat\psi`.

        Examples
        --------
        >>> from causalattn import StratifiedTable
        >>> st = StratifiedTable([[[81, 6], [234, 36]], [[192, 71], [55, 25]]], labels=["small", "large"])
        >>> st.breslow_day()  # doctest: +ELLIPSIS
        HypothesisTest(homogeneous odds ratios: statistic = 0.9656, dof = 1, p = 0.326; method=breslow-day-...)
        """
        tarone = check_flag("tarone", tarone)
        used = (self._counts.sum(axis=1) > 0).all(axis=1)
        if used.sum() < 2:
            raise ValueError("the Breslow-Day test needs at least two strata containing both outcomes, "
                             f"found {int(used.sum())}")
        psi = self._mh_odds_ratio(0.95, None).estimate
        if psi in (0.0, math.inf):
            raise ValueError(f"the Breslow-Day test is undefined when the MH odds ratio is {psi:g}")
        a, b, c, d, n1, n0, _ = (x[used] for x in self._cells(None))
        m1 = a + c
        fitted = np.array([_fitted_count(psi, *row) for row in zip(n1, n0, m1, strict=True)])
        cells = np.stack([fitted, n1 - fitted, m1 - fitted, n0 - m1 + fitted])
        variance = 1 / np.sum(1 / cells, axis=0)
        statistic = np.sum((a - fitted) ** 2 / variance)
        if tarone:
            statistic -= np.sum(a - fitted) ** 2 / variance.sum()
        dof = int(used.sum()) - 1
        labels = [label for label, keep in zip(self._labels, used, strict=True) if keep]
        min_expected = float(cells.min())
        if min_expected < 5:
            warnings.warn(f"a fitted count of the Breslow-Day test is {min_expected:.3g} < 5: the chi-square "
                          "approximation may be incorrect", UserWarning, stacklevel=2)
        details = {"tarone": tarone, "odds_ratio_mh": psi, "strata_used": tuple(labels),
                   "min_expected": min_expected}
        return HypothesisTest("homogeneous odds ratios", statistic, dof, stats.chi2.sf(statistic, dof),
                              "breslow-day-tarone" if tarone else "breslow-day", self.n, details)

    # -- helpers -------------------------------------------------------------

    def _cells(self, correction: float | None) -> tuple[np.ndarray, ...]:
        """Per-stratum ``a, b, c, d, n1, n0, N`` as float arrays, ``correction`` added to every cell."""
        cells = self._counts.astype(float) + (correction or 0.0)
        a, b, c, d = cells[:, 0, 0], cells[:, 0, 1], cells[:, 1, 0], cells[:, 1, 1]
        return a, b, c, d, a + b, c + d, a + b + c + d

    def _mh_odds_ratio(self, level: float, correction: float | None) -> Estimate:
        a, b, c, d, _, _, big_n = self._cells(correction)
        r, s = a * d / big_n, b * c / big_n
        p, q = (a + d) / big_n, (b + c) / big_n

        def log_variance() -> float:
            return (np.sum(p * r) / (2 * r.sum() ** 2) + np.sum(p * s + q * r) / (2 * r.sum() * s.sum())
                    + np.sum(q * s) / (2 * s.sum() ** 2))

        return log_ratio_estimate(
            "odds ratio (MH)", r.sum(), s.sum(), log_variance,
            zero_cells="a zero product a*d (or b*c) in every stratum", level=level,
            method="mantel-haenszel-rbg", n=self.n, details={"correction": correction},
        )


def _fitted_count(psi: float, n1: float, n0: float, m1: float) -> float:
    """The treated-event count with odds ratio ``psi`` given a stratum's margins.

    The root of :math:`x (n_0 - m_1 + x) - \\psi (n_1 - x)(m_1 - x)`, increasing in :math:`x`
    and changing sign inside the margins :math:`[\\max(0, m_1 - n_0), \\min(n_1, m_1)]`.
    """
    return optimize.brentq(lambda x: x * (n0 - m1 + x) - psi * (n1 - x) * (m1 - x),
                           max(0.0, m1 - n0), min(n1, m1), xtol=1e-12, rtol=1e-14)


def _tables_iv(tables: Any, labels: Any) -> tuple[np.ndarray, tuple]:
    """Counts of shape (K, 2, 2) and K labels, checked."""
    if isinstance(tables, np.ndarray) and tables.ndim != 3:
        raise ValueError(f"`tables` as one array must have shape (K, 2, 2), got shape {tables.shape}")
    if not isinstance(tables, (list, tuple, np.ndarray)):
        raise TypeError(f"`tables` must be a list of 2x2 tables, got {type(tables).__name__}")
    if len(tables) == 0:
        raise ValueError("`tables` must contain at least one stratum")
    if labels is None:
        labels = tuple(range(len(tables)))
    else:
        if isinstance(labels, str) or not isinstance(labels, (Sequence, np.ndarray, pd.Index)):
            raise TypeError(f"`labels` must be a sequence of stratum names, got {type(labels).__name__}")
        labels = tuple(labels)
        if len(labels) != len(tables):
            raise ValueError(f"`labels` has {len(labels)} names for {len(tables)} tables")
        if len(set(labels)) != len(labels):
            raise ValueError(f"`labels` must be distinct, got {list(labels)}")
    counts = []
    for i, (label, table) in enumerate(zip(labels, tables, strict=True)):
        arr = table.counts if isinstance(table, Table2x2) else check_counts(f"tables[{i}]", table)
        check_arms("tables", arr, f"stratum {label!r}")
        counts.append(arr)
    return np.stack(counts), labels
