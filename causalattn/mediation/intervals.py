r"""The three interval procedures of a mediation analysis; each row's interval and p-value come from one of them.

``"delta"``
    The delta method over all estimated parameters :math:`\theta`:
    :math:`\widehat{se}\{f(\hat\theta)\} = \{\nabla f^\top \hat V \nabla f\}^{1/2}`, the normal
    interval :math:`f(\hat\theta) \pm z_{1-\alpha/2}\widehat{se}` and the two-sided z test. For the
    Baron-Kenny product :math:`\hat\alpha_1\hat\beta_2` it is Sobel's (1982) first-order standard
    error. The gradient is taken numerically (statsmodels' ``approx_fprime``, central differences)
    in units of each parameter's standard error, so the step suits any scale of the data.
``"quasi-bayesian"``
    Imai, Keele and Tingley's (2010) simulation: draw the coefficients of each model from their
    asymptotic normal distribution :math:`N(\hat\theta, \hat V)` (the mediator's :math:`\sigma` fixed
    at :math:`\hat\sigma`, as R's ``mediate``), compute every row exactly at each draw, and take the
    percentile interval of the draws.
``"bootstrap"``
    :func:`scipy.stats.bootstrap` over the units (``method="percentile"``, as R's ``mediate`` with
    ``boot=TRUE``): both models refitted on each resample and every row recomputed, averaging over
    the resample's covariates.

Both simulation methods report the percentile interval
:math:`[Q(\alpha/2), Q(1-\alpha/2)]` of the draws (linear interpolation between order
statistics, numpy's and scipy's default) and the p-value that inverts it: the smallest
:math:`\alpha` at which that interval excludes the null, computed exactly from the interpolated
quantile function (about :math:`2\min\{\hat F(0), 1 - \hat F(0)\}`, R's definition), floored at
:math:`1/(B+1)` for :math:`B` draws. So the interval excludes the null exactly when
:math:`p < \alpha`. The point estimate is always the exact value at :math:`\hat\theta` (not the mean
of the draws); ``standard_error`` is the standard deviation of the draws.

References
----------
Sobel, M. E. (1982). Asymptotic confidence intervals for indirect effects in structural equation
models. *Sociological Methodology* 13, 290-312.

Imai, K., Keele, L. and Tingley, D. (2010). A general approach to causal mediation analysis.
*Psychological Methods* 15, 309-334.

Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*, ch. 13. Chapman & Hall.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.tools.numdiff import approx_fprime

from causalattn.estimate import NOT_ESTIMABLE, ConfidenceInterval, Estimate, normal_estimate

__all__ = ["METHODS", "bootstrap_draws", "delta_standard_errors", "estimates", "percentile_pvalue",
           "quasi_bayesian_draws"]

#: The interval procedures, the default first.
METHODS = ("quasi-bayesian", "bootstrap", "delta")

_STEP = 1e-5  # central-difference step, in standard errors of each parameter
_CHUNK = 2**22  # values per chunk of simulated draws (about 32 MB of float64)


def delta_standard_errors(function: Callable[[np.ndarray], np.ndarray], theta: np.ndarray,
                          cov: np.ndarray) -> np.ndarray:
    """Delta-method standard errors of the outputs of ``function`` at ``theta`` with covariance ``cov``."""
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    jacobian = approx_fprime(np.zeros(len(theta)), lambda u: function(theta + se * u), epsilon=_STEP,
                             centered=True)
    jacobian = np.atleast_2d(jacobian)
    scale = np.outer(se, se)
    corr = np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)
    return np.sqrt(np.clip(np.einsum("rp,pq,rq->r", jacobian, corr, jacobian), 0, None))


def quasi_bayesian_draws(function: Callable[[np.ndarray], np.ndarray], blocks: Sequence[tuple[slice, np.ndarray]],
                         theta: np.ndarray, n_draws: int, rng: np.random.Generator, cost: int) -> np.ndarray:
    """``function`` at ``n_draws`` draws of ``theta``: each block ``(slice, cov)`` normal, the rest fixed.

    ``function`` takes a ``(draws, P)`` array; ``cost`` (values it builds per
    draw) sets how many draws go in one call, to bound memory.
    """
    draws = np.tile(theta, (n_draws, 1))
    for where, cov in blocks:  # drawn on the correlation scale, so the outcome's units do not matter
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        scale = np.outer(sd, sd)
        corr = np.divide(cov, scale, out=np.zeros_like(cov), where=scale > 0)
        draws[:, where] = theta[where] + sd * rng.multivariate_normal(np.zeros(len(sd)), corr, size=n_draws,
                                                                         method="cholesky")
    chunk = max(1, _CHUNK // max(cost, 1))
    return np.concatenate([function(draws[i:i + chunk]) for i in range(0, n_draws, chunk)])


def bootstrap_draws(n: int, statistic: Callable[[np.ndarray], np.ndarray], n_outputs: int, n_resamples: int,
                    level: float, rng: np.random.Generator) -> np.ndarray:
    """``statistic(rows)`` on ``n_resamples`` resamples of the ``n`` units (:func:`scipy.stats.bootstrap`).

    A resample whose models cannot be fitted (an arm missing, a collinear or
    separated resample) is an error naming how many failed, never dropped.
    """
    failures: list[str] = []

    def guarded(rows: np.ndarray) -> np.ndarray:
        try:
            return statistic(rows)
        except (ValueError, np.linalg.LinAlgError) as exc:
            failures.append(str(exc))
            return np.full(n_outputs, np.nan)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # a failed resample: reported below
        result = stats.bootstrap((np.arange(n),), guarded, n_resamples=n_resamples, vectorized=False,
                                 method="percentile", confidence_level=level, rng=rng)
    if failures:
        raise ValueError(f"{len(failures)} of {n_resamples} bootstrap resamples could not be analysed (first: "
                         f"{failures[0]}); with so few units per arm use method='quasi-bayesian' or 'delta'")
    return np.asarray(result.bootstrap_distribution).T


def percentile_pvalue(draws: np.ndarray, null: float) -> float:
    """The p-value that inverts the percentile interval of ``draws`` (see the module docstring)."""
    d = np.sort(draws)
    b = len(d)

    def position(count: int, full: float, empty: float) -> float:
        # where the interpolated quantile function reaches `null` between order statistics count-1 and count
        if count == 0:
            return empty
        if count == b:
            return full
        return (count - 1 + (null - d[count - 1]) / (d[count] - d[count - 1])) / (b - 1)

    below = position(int(np.searchsorted(d, null, side="right")), 1.0, 0.0)  # sup{q: Q(q) <= null}
    above = position(int(np.searchsorted(d, null, side="left")), 1.0, 0.0)  # inf{q: Q(q) >= null}
    return float(max(min(1.0, 2 * below, 2 * (1 - above)), 1 / (b + 1)))


def _not_estimable(estimand: str, level: float, n: int, details: Mapping[str, Any]) -> Estimate:
    return Estimate(estimand, math.nan, None, ConfidenceInterval(math.nan, math.nan), level, None, NOT_ESTIMABLE, n,
                    details={**details, "reason": "the estimate is not finite (a total effect of 0?)"})


def estimates(names: Sequence[str], values: np.ndarray, *, level: float, method: str, n: int,
              details: Sequence[Mapping[str, Any]], standard_errors: np.ndarray | None = None,
              draws: np.ndarray | None = None) -> list[Estimate]:
    """One :class:`Estimate` per row: normal (given ``standard_errors``) or percentile (given ``draws``)."""
    out = []
    alpha = 1 - level
    for j, (name, value, extra) in enumerate(zip(names, values, details, strict=True)):
        if not math.isfinite(value):
            out.append(_not_estimable(name, level, n, extra))
        elif standard_errors is not None:
            out.append(normal_estimate(name, float(value), float(standard_errors[j]), confidence_level=level,
                                       method=method, n=n, details={**extra, "distribution": "normal"}))
        else:
            column = draws[:, j]
            if not np.isfinite(column).all():
                raise ValueError(f"{int((~np.isfinite(column)).sum())} simulated value(s) of {name!r} are not finite")
            low, high = np.percentile(column, [100 * alpha / 2, 100 * (1 - alpha / 2)])
            out.append(Estimate(name, float(value), float(np.std(column, ddof=1)),
                                ConfidenceInterval(float(low), float(high)), level,
                                percentile_pvalue(column, 0.0), method, n,
                                details={**extra, "interval": "percentile"}))
    return out
