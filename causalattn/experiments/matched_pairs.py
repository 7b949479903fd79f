"""Covariate adjustment in matched-pairs experiments (Ding ch. 7): regress pair differences on covariate differences.

In pair :math:`i` the treated-minus-control outcome difference is
:math:`\\hat\\tau_i` and the covariate difference :math:`\\hat\\tau_{X,i}`. Random
flips within pairs make :math:`E(\\hat\\tau_{X,i}) = 0`, so the intercept of the
OLS fit of :math:`\\hat\\tau_i` on :math:`(1, \\hat\\tau_{X,i})` estimates the
average effect with the chance imbalance in the covariates removed.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press, ch. 7 (covariate adjustment in MPE).
Fogarty, C. B. (2018). Regression-assisted inference for the average treatment
effect in paired experiments. *Biometrika* 105(4), 994-1000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.tools import add_constant

from causalattn import _scaled_fit
from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_choice,
    check_confidence_level,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import Estimate, normal_estimate
from causalattn.experiments.designs import MPE

__all__ = ["covariate_differences", "matched_pairs_adjusted"]

_COV_TYPES = ("HC0", "HC1", "HC2", "HC3")


def covariate_differences(covariates, design: MPE) -> np.ndarray:
    r"""The ``(pairs, K)`` covariate differences, first minus second unit of each pair of ``design``.

    :math:`\hat\tau_{X,i} = \pm (x_{i1} - x_{i2})` once oriented treated minus control.
    A ValueError unless there are at least ``K + 2`` pairs and the differences are
    not collinear (the regression with an intercept needs both).

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 7.

    Examples
    --------
    >>> covariate_differences([1.0, 3.0, 2.0, 7.0, 4.0, 4.5], MPE([0, 0, 1, 1, 2, 2])).ravel().tolist()
    [-2.0, -5.0, -0.5]
    """
    x = as_float_array("covariates", covariates, vector=False)
    x = x[:, None] if x.ndim == 1 else x
    if x.ndim != 2 or len(x) != design.n:
        raise ValueError(f"`covariates` must have one row per unit ({design.n}), got shape {x.shape}")
    first, second = design.members.T
    differences = x[first] - x[second]
    pairs, k = differences.shape
    if pairs < k + 2 or _scaled_fit.aliased(differences) is not None:
        raise ValueError(f"`covariates`: the {k} covariate difference(s) of the {pairs} pairs are collinear or too "
                         "many for a regression with an intercept (need at least covariates + 2 pairs)")
    return differences


@dataclass(frozen=True)
class _PairDifferences:
    """The validated input of :func:`matched_pairs_adjusted`, as treated-minus-control differences per pair."""

    outcome: np.ndarray  # (pairs,)
    covariates: np.ndarray  # (pairs, K)
    n: int  # units
    cov_type: str
    confidence_level: float


def _matched_pairs_adjusted_iv(outcome, treatment, pairs, covariates, cov_type, confidence_level) -> _PairDifferences:
    check_same_index(outcome=outcome, treatment=treatment, pairs=pairs, covariates=covariates)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    design = MPE(pairs).bind(z)
    differences = covariate_differences(covariates, design)
    first, second = design.members.T
    sign = np.where(z[first] == 1, 1.0, -1.0)  # orient every pair treated minus control
    return _PairDifferences(sign * (y[first] - y[second]), sign[:, None] * differences, len(y),
                            check_choice("cov_type", cov_type, _COV_TYPES), check_confidence_level(confidence_level))


def matched_pairs_adjusted(outcome, treatment, *, pairs, covariates, cov_type: str = "HC2",
                           confidence_level: float = 0.95) -> Estimate:
    r"""Ding's covariate-adjusted estimator for a matched-pairs experiment, with a robust standard error.

    With :math:`m` pairs, outcome differences :math:`\hat\tau_i` (treated minus
    control) and covariate differences :math:`\hat\tau_{X,i}` (same orientation),
    the OLS fit :math:`\hat\tau_i \sim \alpha + \hat\tau_{X,i}^\top\gamma` gives
    :math:`\hat\tau_{adj} = \hat\alpha = \hat\tau - \hat\gamma^\top \hat\tau_X`, with
    :math:`\hat\tau, \hat\tau_X` the means of the differences. The standard error
    is the heteroskedasticity-robust (``cov_type``) one of the intercept from
    statsmodels; Ding shows it is conservative for the randomization
    distribution. The interval and p-value are normal (Wald), as for
    :func:`causalattn.experiments.neyman`. Assumes one treated and one control unit per pair,
    at least :math:`K + 2` pairs, and non-collinear covariate differences. The
    matching FRT is :func:`causalattn.frt` with ``design=MPE(pairs)`` and ``statistic="adjusted"``.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
    pairs : array-like, shape (n,)
        A pair label per unit.
    covariates : array-like, shape (n,) or (n, K)
        Pre-treatment covariates of the units.
    cov_type : {"HC0", "HC1", "HC2", "HC3"}
        statsmodels' robust covariance of the coefficients.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method`` is ``"pair-regression-<cov_type>"``; ``details`` holds ``n_pairs``,
        ``unadjusted`` (the mean pair difference), ``coefficients`` (:math:`\hat\gamma`)
        and ``cov_type``.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 7; Fogarty (2018).

    Examples
    --------
    >>> y = [7.0, 5.0, 6.0, 6.5, 9.0, 6.0, 4.0, 3.5, 8.0, 6.0]
    >>> z = [1, 0, 0, 1, 1, 0, 1, 0, 0, 1]
    >>> x = [2.0, 1.0, 3.0, 3.5, 4.0, 2.0, 1.0, 1.5, 5.0, 4.0]
    >>> est = matched_pairs_adjusted(y, z, pairs=[0, 0, 1, 1, 2, 2, 3, 3, 4, 4], covariates=x)
    >>> round(est.estimate, 4), round(est.details["unadjusted"], 4), est.method
    (0.2105, 0.8, 'pair-regression-HC2')
    """
    pairs = _matched_pairs_adjusted_iv(outcome, treatment, pairs, covariates, cov_type, confidence_level)
    cov_type = pairs.cov_type
    fit = _scaled_fit.least_squares(OLS(pairs.outcome, add_constant(pairs.covariates, has_constant="add")),
                                    cov_type=cov_type, outcome="the outcome differences",
                                    names=["the intercept", *(f"`covariates` difference {j}"
                                                              for j in range(pairs.covariates.shape[1]))])
    se = float(fit.bse[0])
    if not math.isfinite(se):
        raise ValueError(f"`cov_type`: the {cov_type} standard error is undefined here (a pair with leverage 1); "
                         "choose another `cov_type` or more pairs")
    return normal_estimate(
        "covariate-adjusted paired difference in means",
        float(fit.params[0]),
        se,
        confidence_level=pairs.confidence_level,
        method=f"pair-regression-{cov_type}",
        n=pairs.n,
        details={"n_pairs": len(pairs.outcome), "unadjusted": float(pairs.outcome.mean()),
                 "coefficients": tuple(float(c) for c in fit.params[1:]), "cov_type": cov_type},
    )
