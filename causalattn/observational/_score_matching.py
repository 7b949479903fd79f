"""Abadie and Imbens (2016): the variance of matching on the estimated logistic propensity score.

The formulas are in the docstring of :mod:`causalattn.observational.matching`.

References
----------
Abadie, A. and Imbens, G. W. (2016). Matching on the estimated propensity
score. *Econometrica* 84, 781-807.
"""

from __future__ import annotations

import numpy as np

from causalattn.observational._neighbours import cross_matches, group_covariances, metric_space, own_matches
from causalattn.observational.propensity import PropensityScore, design_matrix

__all__ = ["estimated_score_change"]


def estimated_score_change(score: PropensityScore, y: np.ndarray, space: np.ndarray, tau: float, *, estimand: str,
                           n_matches: int, variance_matches: int, metric: str, tolerance: float) -> float:
    r"""Abadie-Imbens (2016): the change in the variance of matching on the estimated logistic score.

    :math:`-\hat c^\top\hat V_\theta\hat c` for the ATE,
    :math:`-\hat c_t^\top\hat V_\theta\hat c_t + \hat d_t^\top\hat V_\theta\hat d_t` for the ATT, with
    :math:`\hat V_\theta` the covariance of the logistic coefficients (statsmodels') and the vectors of the module
    docstring of :mod:`causalattn.observational.matching`; ``space`` holds the units' coordinates on the score.
    """
    z, e, n = score.treatment, score.score, len(y)
    everyone = np.arange(n)
    design = design_matrix(score.x)
    # H_w(i): i and its J nearest others when Z_i = w, else the J + 1 nearest units of arm w, on the score and
    # without ties (a score shared by many units would make huge groups)
    own, own_match = own_matches(space, z, everyone, variance_matches, None)
    other, other_match, _ = cross_matches(space, z, everyone, variance_matches + 1, None)
    cov_own = group_covariances(np.r_[everyone, own], np.r_[everyone, own_match], design, y, n)
    cov_other = group_covariances(other, other_match, design, y, n)
    treated = (z == 1)[:, None]
    cov1, cov0 = np.where(treated, cov_own, cov_other), np.where(treated, cov_other, cov_own)
    f = (e * (1 - e))[:, None]  # the logistic density at the linear predictor
    cov_theta = np.asarray(score.fit.cov_params())
    if estimand == "ATE":
        c = (f * (cov1 / e[:, None] + cov0 / (1 - e)[:, None])).mean(axis=0)
        return -float(c @ cov_theta @ c)
    n_treated = int(z.sum())
    mean_own = np.bincount(own, weights=y[own_match], minlength=n) / np.bincount(own, minlength=n)
    mean_other = np.bincount(other, weights=y[other_match], minlength=n) / np.bincount(other, minlength=n)
    local = np.where(z == 1, mean_own - mean_other, mean_other - mean_own)  # mu(1, e_i) - mu(0, e_i)
    odds = (e / (1 - e))[:, None]
    c = (f * (design * (local - tau)[:, None] + cov1 + odds * cov0)).sum(axis=0) / n_treated
    unit, partner, _ = cross_matches(metric_space(score.x, metric), z, everyone, n_matches, tolerance)
    size = np.bincount(unit, minlength=n)
    imputed = np.bincount(unit, weights=y[partner] / size[unit], minlength=n)
    effects = np.where(z == 1, y - imputed, imputed - y)  # matching on the covariates
    d = (f * design * (effects - tau)[:, None]).sum(axis=0) / n_treated
    return float(d @ cov_theta @ d - c @ cov_theta @ c)
