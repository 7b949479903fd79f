r"""Stratified 2x2 tables: Mantel-Haenszel pooled measures, the CMH and Breslow-Day tests, standardization.

Stratum :math:`k = 1, \dots, K` is a :class:`~causalattn.Table2x2`
:math:`[[a_k, b_k], [c_k, d_k]]` with :math:`n_{1k} = a_k + b_k` treated,
:math:`n_{0k} = c_k + d_k` controls, :math:`N_k = n_{1k} + n_{0k}` units,
:math:`m_{1k} = a_k + c_k` events and :math:`m_{0k} = b_k + d_k` non-events.

The pooled measures, their variances and the CMH test are computed in
``_mantel_haenszel``, the Breslow-Day test in ``_breslow_day`` (each citing its
papers), and the stratum tables are checked or counted in ``_strata``.

References
----------
.. [1] Ding, P. (2024). *A First Course in Causal Inference*, chapter 1. CRC Press.
.. [2] Mantel, N. and Haenszel, W. (1959). Statistical aspects of the analysis of
   data from retrospective studies of disease. *JNCI* 22, 719-748.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import check_choice, check_confidence_level, check_flag
from causalattn.estimate import Estimate, EstimateTable, normal_estimate
from causalattn.hypothesis import HypothesisTest
from causalattn.tables import _breslow_day, _mantel_haenszel
from causalattn.tables._cells import check_correction
from causalattn.tables._strata import count_strata, tables_iv
from causalattn.tables.association import Table2x2

__all__ = ["StratifiedTable"]

_MEASURES = ("risk_difference", "risk_ratio", "odds_ratio")
_WEIGHTS = ("stratum_size", "treated", "control")


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
        self._counts, self._labels = tables_iv(tables, labels)
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
        tables, labels = count_strata(data, treatment, outcome, strata)
        return cls(tables, labels=labels)

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
        method = check_choice("method", method, _mantel_haenszel.RD_METHODS)
        level = check_confidence_level(confidence_level)
        return _mantel_haenszel.risk_difference(self._counts, method, level, check_correction(correction))

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
        return _mantel_haenszel.risk_ratio(self._counts, level, correction)

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
        return _mantel_haenszel.odds_ratio(self._counts, level, correction)

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
        a, _, c, _, n1, n0, _ = _mantel_haenszel.stratum_cells(self._counts, correction)
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
        return _mantel_haenszel.cmh_test(self._counts, continuity)

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
        return _breslow_day.breslow_day(self._counts, self._labels, tarone)
