r"""Augmented inverse probability weighting (AIPW): doubly robust estimators of the ATE and the ATT.

With score :math:`\hat e(X)`, odds :math:`\hat o = \hat e / (1 - \hat e)` and
outcome models :math:`\hat\mu_1, \hat\mu_0` fitted by arm:

* ATE: :math:`\hat\tau^{dr} = n^{-1}\sum_i \hat\phi_i`,
  :math:`\hat\phi_i = \hat\mu_1(X_i) - \hat\mu_0(X_i) + \frac{Z_i\{Y_i - \hat\mu_1(X_i)\}}{\hat e(X_i)}
  - \frac{(1-Z_i)\{Y_i - \hat\mu_0(X_i)\}}{1 - \hat e(X_i)}`;
* ATT: :math:`\hat\tau_T^{dr} = n_1^{-1}\sum_i \left[Z_i\{Y_i - \hat\mu_0(X_i)\}
  - (1-Z_i)\,\hat o(X_i)\{Y_i - \hat\mu_0(X_i)\}\right]`.

Each is consistent if either the score model or the outcome model is correct;
with both correct it attains the semiparametric efficiency bound.

References
----------
Robins, J. M., Rotnitzky, A. and Zhao, L. P. (1994). Estimation of regression
coefficients when some regressors are not always observed. *JASA* 89, 846-866.

Scharfstein, D. O., Rotnitzky, A. and Robins, J. M. (1999). Adjusting for
nonignorable drop-out using semiparametric nonresponse models. *JASA* 94, 1096-1120.

Chernozhukov, V. et al. (2018). Double/debiased machine learning for treatment
and structural parameters. *The Econometrics Journal* 21, C1-C68.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 12 (doubly robust
estimation of the ATE) and ch. 13 (the ATT). CRC Press.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import check_confidence_level, check_rng
from causalattn.estimate import Estimate, normal_estimate
from causalattn.observational._data import Units, check_arms, estimand_iv, units_iv, weighted_asymptotics
from causalattn.observational.outcome import fit_outcome_model, outcome_model_iv
from causalattn.observational.propensity import check_scores, fit_score_model, score_model_iv

__all__ = ["aipw"]


def _aipw_iv(data, outcome, treatment, covariates, estimand, model, outcome_model, cross_fit, rng,
             confidence_level, ddof):
    """Validate the arguments of :func:`aipw` (``cross_fit`` between 2 and the smaller arm's size)."""
    estimand = estimand_iv(estimand)
    level = check_confidence_level(confidence_level)
    generator = check_rng(rng)
    if isinstance(ddof, bool) or not isinstance(ddof, numbers.Integral) or ddof not in (0, 1):
        raise ValueError(f"`ddof` must be 0 (divisor n) or 1 (divisor n - 1), got {ddof!r}")
    units = units_iv(data, outcome, treatment, covariates)
    check_arms(units.z, "aipw")
    score_model = score_model_iv(model)
    outcome_model = outcome_model_iv(outcome_model)
    if cross_fit is not None:
        if isinstance(cross_fit, bool) or not isinstance(cross_fit, numbers.Integral):
            raise TypeError(f"`cross_fit` must be None or an integer number of folds >= 2, got {cross_fit!r}")
        smallest = int(min(units.z.sum(), len(units.z) - units.z.sum()))
        if not 2 <= cross_fit <= smallest:
            raise ValueError(f"`cross_fit` must be between 2 and the size of the smaller arm ({smallest}), "
                             f"got {cross_fit}")
        cross_fit = int(cross_fit)
    return units, estimand, score_model, outcome_model, cross_fit, generator, level, int(ddof)


def _nuisances(units: Units, train: np.ndarray, test: np.ndarray, score_model: Any, outcome_model: Any,
               estimand: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score and outcome predictions on the ``test`` rows from models fitted on the ``train`` rows."""
    x, z, y = units.x, units.z, units.y
    predict_e, _ = fit_score_model(x[train], z[train], score_model, units.names)
    e = check_scores(np.asarray(predict_e(x[test]), dtype=float))
    control = train & (z == 0)
    predict0, _ = fit_outcome_model(x[control], y[control], outcome_model, "control", units.names)
    mu0 = predict0(x[test])
    if estimand == "ATT":
        return e, np.full(test.sum(), np.nan), mu0
    treated = train & (z == 1)
    predict1, _ = fit_outcome_model(x[treated], y[treated], outcome_model, "treated", units.names)
    return e, predict1(x[test]), mu0


def aipw(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    estimand: str = "ATE",
    model: Any = None,
    outcome_model: Any = None,
    cross_fit: int | None = None,
    rng: Any = None,
    confidence_level: float = 0.95,
    ddof: int = 0,
) -> Estimate:
    r"""The doubly robust AIPW estimator of the ATE or the ATT, with its influence-function standard error.

    See the module docstring for the estimators. The standard error is
    :math:`\{\sum_i\hat\psi_i^2 / (n - \delta)\}^{1/2} / \sqrt n` with the
    influence values :math:`\hat\psi_i = \hat\phi_i - \hat\tau` for the ATE and
    :math:`\hat\psi_i = [Z_i\{Y_i - \hat\mu_0(X_i) - \hat\tau_T\} - (1-Z_i)\hat o(X_i)\{Y_i - \hat\mu_0(X_i)\}]
    / (n_1/n)` for the ATT, and :math:`\delta` = ``ddof``: 0 by default (the
    plug-in variance of the influence function, divisor :math:`n`), 1 for the sample variance (divisor :math:`n - 1`,
    the standard error of the mean of :math:`\hat\phi_i`; larger by the factor
    :math:`\sqrt{n/(n-1)}`). The estimated nuisance functions are treated as
    known, which is first-order valid when both models are correct (the
    estimating equation is Neyman-orthogonal), and with flexible learners when
    they are cross-fitted.

    With ``cross_fit=K`` the units are split at random into K folds; the score
    and outcome models are fitted on K-1 folds and predict on the held-out
    fold (Chernozhukov et al. 2018), so that scikit-learn learners can be used
    without overfitting bias.

    Assumptions: ignorability given the covariates and overlap.

    Parameters
    ----------
    data, outcome, treatment, covariates
        As in :func:`~causalattn.observational.ipw` (``covariates`` required).
    estimand : {"ATE", "ATT"}
    model : scikit-learn classifier, optional
        Score model with ``predict_proba``; default logistic regression.
    outcome_model : scikit-learn regressor, optional
        Outcome model fitted by arm; default OLS with an intercept.
    cross_fit : int, optional
        Number of folds for cross-fitting; ``None`` fits on all units.
    rng : None, int or numpy.random.Generator
        Randomness of the fold split.
    confidence_level : float
    ddof : {0, 1}
        The divisor of the variance of the influence values: :math:`n - \delta`.

    Returns
    -------
    Estimate
        ``method`` ``"aipw"`` or ``"aipw-crossfit-<K>"``; ``details`` has
        ``score``, ``mu1``, ``mu0`` (predictions per unit; ``mu1`` is NaN for
        the ATT, which needs no treated model), ``influence`` (the
        per-unit influence values), ``ddof``, the largest weight's share and
        the effective sample size of each arm under the inverse-probability
        weights of the correction term (as in :func:`~causalattn.observational.ipw`)
        and ``asymptotics``.
        The interval and p-value are large-sample normal
        (``details["distribution"]`` is ``"normal"``; see :mod:`causalattn.observational`).

    Warns
    -----
    SmallSampleWarning
        An arm with fewer than 20 effective units under the inverse-probability
        weights, or one unit carrying more than 10% of its arm's weight.

    Raises
    ------
    ValueError
        Fewer than 2 units in an arm, covariates that are constant, collinear
        or separate the arms, a score of 0 or 1, bad options.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 12 and 13. CRC Press.

    Robins, J. M., Rotnitzky, A. and Zhao, L. P. (1994). *JASA* 89, 846-866.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import aipw
    >>> nsw = datasets.load("lalonde_nsw")
    >>> est = aipw(nsw, "re78", "treat", ["age", "educ", "black", "married", "re74", "re75"], estimand="ATT")
    >>> round(est.estimate), est.method
    (1788, 'aipw')
    """
    units, estimand, score_model, outcome_model, folds, generator, level, ddof = _aipw_iv(
        data, outcome, treatment, covariates, estimand, model, outcome_model, cross_fit, rng, confidence_level,
        ddof)
    n = units.n
    e, mu1, mu0 = np.empty(n), np.empty(n), np.empty(n)
    if folds is None:
        everyone = np.ones(n, dtype=bool)
        e[:], mu1[:], mu0[:] = _nuisances(units, everyone, everyone, score_model, outcome_model, estimand)
    else:
        fold = generator.permutation(n) % folds
        for k in range(folds):
            test = fold == k
            e[test], mu1[test], mu0[test] = _nuisances(units, ~test, test, score_model, outcome_model, estimand)
    y, z = units.y, units.z
    if estimand == "ATE":
        phi = mu1 - mu0 + z * (y - mu1) / e - (1 - z) * (y - mu0) / (1 - e)
        tau = float(phi.mean())
        influence = phi - tau
    else:
        terms = z * (y - mu0) - (1 - z) * e / (1 - e) * (y - mu0)
        tau = float(terms.sum() / z.sum())
        influence = (terms - z * tau) / z.mean()
    se = math.sqrt(float(influence @ influence) / (n - ddof) / n)
    method = "aipw" if folds is None else f"aipw-crossfit-{folds}"
    if estimand == "ATE":  # the inverse-probability weights of the correction terms, per arm
        weights = np.where(z == 1, 1 / e, 1 / (1 - e))
    else:
        weights = np.where(z == 1, 1.0, e / (1 - e))
    diagnostics = weighted_asymptotics("aipw", weights, z, "; trim extreme scores (PropensityScore.trim)")
    return normal_estimate(estimand, tau, se, confidence_level=level, method=method, n=n,
                           details={"score": e, "mu1": mu1, "mu0": mu0, "influence": influence, "ddof": ddof,
                                    "folds": folds or 1, **diagnostics, "distribution": "normal"})
