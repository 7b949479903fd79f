"""Pearson's correlation coefficient with a Fisher-z interval (scipy's ``pearsonr``)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causalattn._validation import check_confidence_level
from causalattn.estimate import ConfidenceInterval, Estimate
from causalattn.regression._inputs import frame_iv

__all__ = ["correlation"]


def correlation(
    data: pd.DataFrame | None = None,
    x: Any = None,
    y: Any = None,
    *,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Pearson's correlation coefficient with a Fisher-z confidence interval.

    :math:`r = \sum_i (x_i-\bar x)(y_i-\bar y) / \{\sum_i (x_i-\bar x)^2 \sum_i (y_i-\bar y)^2\}^{1/2}`.
    The interval is :math:`\tanh\{\operatorname{artanh}(r) \pm z_{1-\alpha/2}/\sqrt{n-3}\}`
    and the p-value is the exact test of zero correlation for bivariate normal
    data, :math:`t = r\sqrt{(n-2)/(1-r^2)}` on :math:`n-2` degrees of freedom,
    both from :func:`scipy.stats.pearsonr`. ``standard_error`` is ``None``
    (the interval is not symmetric); ``details`` holds ``fisher_z`` and its
    standard error :math:`1/\sqrt{n-3}`.

    Parameters
    ----------
    data : DataFrame or None
        The units, or ``None`` to pass arrays.
    x, y : str or array_like
        The two variables (columns of ``data`` or arrays).
    confidence_level : float
        Coverage of the interval.

    Returns
    -------
    Estimate

    References
    ----------
    Fisher, R. A. (1921). On the "probable error" of a coefficient of
    correlation deduced from a small sample. *Metron* 1, 3-32.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 1.2.1. CRC Press.

    Examples
    --------
    >>> import causalattn
    >>> est = causalattn.correlation(x=[1, 2, 3, 4, 5], y=[2, 1, 4, 3, 5])
    >>> round(est.estimate, 2)
    0.8
    """
    level = check_confidence_level(confidence_level)
    if x is None or y is None:
        raise ValueError("`x` and `y` are both required")
    frame, names = frame_iv(data, x=x, y=y)
    n = len(frame)
    if n < 4:
        raise ValueError(f"`data` has {n} rows; the Fisher-z interval needs at least 4")
    (xname,), (yname,) = names["x"], names["y"]
    for arg, col in (("x", xname), ("y", yname)):
        if frame[col].min() == frame[col].max():
            raise ValueError(f"`{arg}` is constant, its correlation is undefined")
    result = stats.pearsonr(frame[xname], frame[yname])
    ci = result.confidence_interval(confidence_level=level)
    return Estimate(
        estimand=f"correlation of {xname} and {yname}",
        estimate=float(result.statistic),
        standard_error=None,
        confidence_interval=ConfidenceInterval(ci.low, ci.high),
        confidence_level=level,
        pvalue=float(result.pvalue),
        method="pearson-fisher-z",
        n=n,
        details={"fisher_z": float(np.arctanh(result.statistic)), "fisher_z_standard_error": 1 / np.sqrt(n - 3)},
    )
