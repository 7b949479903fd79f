r"""Mantel-Haenszel pooled measures of K 2x2 tables, their variances, and the CMH test.

Functions of ``counts`` of shape ``(K, 2, 2)``, stratum :math:`k` being
:math:`[[a_k, b_k], [c_k, d_k]]` (rows treated and control, columns
:math:`Y = 1` and :math:`Y = 0`), for :class:`~causalattn.StratifiedTable`,
whose methods give the formulas.

References
----------
.. [1] Mantel, N. and Haenszel, W. (1959). Statistical aspects of the analysis of
   data from retrospective studies of disease. *JNCI* 22, 719-748.
.. [2] Greenland, S. and Robins, J. M. (1985). Estimation of a common effect
   parameter from sparse follow-up data. *Biometrics* 41, 55-68.
.. [3] Robins, J., Breslow, N. and Greenland, S. (1986). Estimators of the
   Mantel-Haenszel variance consistent in both sparse data and large-strata
   limiting models. *Biometrics* 42, 311-323.
.. [4] Sato, T. (1989). On the variance estimator for the Mantel-Haenszel risk
   difference. *Biometrics* 45, 1323-1324.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from causalattn.estimate import Estimate, normal_estimate
from causalattn.hypothesis import HypothesisTest
from causalattn.tables._cells import log_ratio_estimate

RD_METHODS = ("sato", "greenland_robins")


def stratum_cells(counts: np.ndarray, correction: float | None) -> tuple[np.ndarray, ...]:
    """Per-stratum ``a, b, c, d, n1, n0, N`` as float arrays, ``correction`` added to every cell."""
    cells = counts.astype(float) + (correction or 0.0)
    a, b, c, d = cells[:, 0, 0], cells[:, 0, 1], cells[:, 1, 0], cells[:, 1, 1]
    return a, b, c, d, a + b, c + d, a + b + c + d


def risk_difference(counts: np.ndarray, method: str, level: float, correction: float | None) -> Estimate:
    """The MH risk difference with Sato's (``"sato"``) or Greenland and Robins' variance; Wald interval."""
    a, b, c, d, n1, n0, big_n = stratum_cells(counts, correction)
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
                           method=f"mantel-haenszel-{method.replace('_', '-')}", n=int(counts.sum()),
                           details=details)


def risk_ratio(counts: np.ndarray, level: float, correction: float | None) -> Estimate:
    """The MH risk ratio with the Greenland-Robins variance of its log; interval on the log scale."""
    a, b, c, d, n1, n0, big_n = stratum_cells(counts, correction)
    r, s = np.sum(a * n0 / big_n), np.sum(c * n1 / big_n)
    return log_ratio_estimate(
        "risk ratio (MH)", r, s, lambda: np.sum((n1 * n0 * (a + c) - a * c * big_n) / big_n**2) / (r * s),
        zero_cells="zero events in every stratum's treated (or control) group",
        level=level, method="mantel-haenszel-greenland-robins", n=int(counts.sum()),
        details={"correction": correction},
    )


def odds_ratio(counts: np.ndarray, level: float, correction: float | None) -> Estimate:
    """The MH odds ratio with the Robins-Breslow-Greenland variance of its log; interval on the log scale."""
    a, b, c, d, _, _, big_n = stratum_cells(counts, correction)
    r, s = a * d / big_n, b * c / big_n
    p, q = (a + d) / big_n, (b + c) / big_n

    def log_variance() -> float:
        return (np.sum(p * r) / (2 * r.sum() ** 2) + np.sum(p * s + q * r) / (2 * r.sum() * s.sum())
                + np.sum(q * s) / (2 * s.sum() ** 2))

    return log_ratio_estimate(
        "odds ratio (MH)", r.sum(), s.sum(), log_variance,
        zero_cells="a zero product a*d (or b*c) in every stratum", level=level,
        method="mantel-haenszel-rbg", n=int(counts.sum()), details={"correction": correction},
    )


def cmh_test(counts: np.ndarray, continuity: bool) -> HypothesisTest:
    """The Cochran-Mantel-Haenszel chi-square test of a common odds ratio of 1 (R's ``mantelhaen.test``)."""
    a, b, c, d, n1, n0, big_n = stratum_cells(counts, None)
    m1, m0 = a + c, b + d
    variance = np.sum(n1 * n0 * m1 * m0 / (big_n**2 * (big_n - 1)))
    if variance == 0:
        raise ValueError("the CMH test is undefined: within every stratum all units have the same outcome")
    deviation = abs(np.sum(a - n1 * m1 / big_n))
    if continuity and deviation >= 0.5:
        deviation -= 0.5
    statistic = deviation**2 / variance
    return HypothesisTest("common odds ratio = 1", statistic, 1, stats.chi2.sf(statistic, 1),
                          "cmh-continuity" if continuity else "cmh", int(counts.sum()))
