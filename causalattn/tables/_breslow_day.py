r"""The Breslow-Day test (with Tarone's adjustment) that K 2x2 tables share one odds ratio.

For :meth:`~causalattn.StratifiedTable.breslow_day`, which gives the formula.

References
----------
.. [1] Breslow, N. E. and Day, N. E. (1980). *Statistical Methods in Cancer
   Research, Vol. I*, sec. 4.4. IARC.
.. [2] Tarone, R. E. (1985). On heterogeneity tests based on efficient scores.
   *Biometrika* 72, 91-95.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import optimize, stats

from causalattn.hypothesis import HypothesisTest
from causalattn.tables._mantel_haenszel import odds_ratio, stratum_cells


def breslow_day(counts: np.ndarray, labels: tuple, tarone: bool) -> HypothesisTest:
    """The test on ``counts`` of shape ``(K, 2, 2)``, leaving out the strata with a single outcome.

    Warns (at the caller of the public method) when a fitted count is below 5.
    """
    used = (counts.sum(axis=1) > 0).all(axis=1)
    if used.sum() < 2:
        raise ValueError("the Breslow-Day test needs at least two strata containing both outcomes, "
                         f"found {int(used.sum())}")
    psi = odds_ratio(counts, 0.95, None).estimate
    if psi in (0.0, math.inf):
        raise ValueError(f"the Breslow-Day test is undefined when the MH odds ratio is {psi:g}")
    a, b, c, d, n1, n0, _ = (x[used] for x in stratum_cells(counts, None))
    m1 = a + c
    fitted = np.array([_fitted_count(psi, *row) for row in zip(n1, n0, m1, strict=True)])
    cells = np.stack([fitted, n1 - fitted, m1 - fitted, n0 - m1 + fitted])
    variance = 1 / np.sum(1 / cells, axis=0)
    statistic = np.sum((a - fitted) ** 2 / variance)
    if tarone:
        statistic -= np.sum(a - fitted) ** 2 / variance.sum()
    dof = int(used.sum()) - 1
    used_labels = [label for label, keep in zip(labels, used, strict=True) if keep]
    min_expected = float(cells.min())
    if min_expected < 5:
        warnings.warn(f"a fitted count of the Breslow-Day test is {min_expected:.3g} < 5: the chi-square "
                      "approximation may be incorrect", UserWarning, stacklevel=3)
    details = {"tarone": tarone, "odds_ratio_mh": psi, "strata_used": tuple(used_labels),
               "min_expected": min_expected}
    return HypothesisTest("homogeneous odds ratios", statistic, dof, stats.chi2.sf(statistic, dof),
                          "breslow-day-tarone" if tarone else "breslow-day", int(counts.sum()), details)


def _fitted_count(psi: float, n1: float, n0: float, m1: float) -> float:
    """The treated-event count with odds ratio ``psi`` given a stratum's margins.

    The root of :math:`x (n_0 - m_1 + x) - \\psi (n_1 - x)(m_1 - x)`, increasing in :math:`x`
    and changing sign inside the margins :math:`[\\max(0, m_1 - n_0), \\min(n_1, m_1)]`.
    """
    return optimize.brentq(lambda x: x * (n0 - m1 + x) - psi * (n1 - x) * (m1 - x),
                           max(0.0, m1 - n0), min(n1, m1), xtol=1e-12, rtol=1e-14)
