r"""Student-t intervals shared by the estimators: Satterthwaite's degrees of freedom and the t row.

An estimate :math:`\hat\tau = \sum_j c_j \bar Y_j` of independent sample means
has the variance estimate :math:`\hat V = \sum_j v_j`, :math:`v_j = c_j^2 S_j^2 / n_j`.
Satterthwaite (1946) approximates :math:`\hat V` by a scaled chi-square with
:math:`\nu = \hat V^2 / \sum_j v_j^2 / (n_j - 1)` degrees of freedom; for two
arms this is Welch's :math:`\nu`.

References
----------
Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
components. *Biometrics Bulletin* 2, 110-114.
Welch, B. L. (1947). *Biometrika* 34, 28-35.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from causalattn.estimate import ConfidenceInterval, Estimate


def satterthwaite_df(variances: Sequence[float], sizes: Sequence[int]) -> float:
    r""":math:`(\sum_j v_j)^2 / \sum_j v_j^2 / (n_j - 1)` for the variance terms ``variances`` of samples of ``sizes``.

    Infinite when every term is 0 (the t and normal quantiles then agree).
    """
    v, n = np.asarray(variances, dtype=float), np.asarray(sizes, dtype=float)
    denominator = float((v**2 / (n - 1)).sum())
    return float(v.sum() ** 2 / denominator) if denominator > 0 else math.inf


def t_estimate(estimand: str, estimate: float, standard_error: float, df: float, *, confidence_level: float,
               method: str, n: int, null_value: float = 0.0, details: Mapping[str, Any]) -> Estimate:
    r"""The :class:`Estimate` with interval :math:`\hat\tau \pm t_{df, 1-\alpha/2}\,\widehat{se}` and p-value
    :math:`2 P(T_{df} > |\hat\tau - \tau_0| / \widehat{se})`; a standard error of 0 gives a point interval and
    no p-value. ``details`` gains ``df``."""
    if standard_error == 0:
        interval, pvalue = ConfidenceInterval(estimate, estimate), None
    else:
        half = float(stats.t.ppf(0.5 + confidence_level / 2, df)) * standard_error
        interval = ConfidenceInterval(estimate - half, estimate + half)
        pvalue = float(2 * stats.t.sf(abs(estimate - null_value) / standard_error, df))
    return Estimate(estimand, estimate, standard_error, interval, confidence_level, pvalue, method, n,
                    null_value=null_value, details={**details, "df": float(df)})
