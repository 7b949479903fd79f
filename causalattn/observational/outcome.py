r"""Outcome regression: imputation estimators of the ATE and the ATT from separate fits by arm.

Fit :math:`\hat\mu_1(x)` on the treated and :math:`\hat\mu_0(x)` on the controls
(OLS with an intercept by default, or any scikit-learn regressor), then average
the imputed differences:

* ATE: :math:`\hat\tau^{reg} = n^{-1}\sum_i \{\hat\mu_1(X_i) - \hat\mu_0(X_i)\}`;
* ATT: :math:`\hat\tau_T^{reg} = n_1^{-1}\sum_i Z_i\{Y_i - \hat\mu_0(X_i)\}`.

With linear models the ATE estimator is Lin's (2013) interacted regression
estimator.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 12 (outcome
regression and the ATE) and ch. 13 (the ATT). CRC Press.

Lin, W. (2013). Agnostic notes on regression adjustments to experimental data:
reexamining Freedman's critique. *Annals of Applied Statistics* 7, 295-318.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from causalattn import _scaled_fit
from causalattn._validation import check_choice, check_confidence_level, check_rng
from causalattn.estimate import Estimate, normal_estimate
from causalattn.observational._data import (
    Units,
    asymptotics,
    bootstrap,
    check_arms,
    estimand_iv,
    learner_iv,
    resamples_iv,
    units_iv,
)
from causalattn.observational._design import check_collinear
from causalattn.observational.propensity import design_matrix

__all__ = ["fit_outcome_model", "outcome_regression"]


def outcome_model_iv(model: Any) -> Any:
    """``None`` (OLS) or an unfitted scikit-learn regressor with ``fit`` and ``predict``."""
    return learner_iv("outcome_model", model, "regressor", "predict", "LinearRegression()")


def fit_outcome_model(x: np.ndarray, y: np.ndarray, model: Any, arm: str, names: list[str] | None = None
                      ) -> tuple[Callable[[np.ndarray], np.ndarray], Any]:
    """Fit one arm's outcome model; return its prediction function and the fitted object.

    ``model=None`` is statsmodels' OLS with an intercept (the arm must have more
    units than coefficients, and covariates that are neither constant nor
    collinear within it: ``names`` name them in errors); otherwise a clone of
    the scikit-learn regressor ``model``.
    """
    if model is None:
        design = design_matrix(x)
        n, p = design.shape
        if n <= p:
            raise ValueError(f"the {arm} arm has {n} units, the linear outcome model needs more than {p} "
                             "(the number of coefficients)")
        names = names if names is not None else [f"covariate{j}" for j in range(x.shape[1])]
        check_collinear(x, names, where=f" within the {arm} arm")
        fit = _scaled_fit.least_squares(OLS(y, design),
                                        names=["the intercept", *(f"`covariates` {c!r}" for c in names)])
        return (lambda new: design_matrix(new) @ fit.params), fit
    from sklearn.base import clone

    fitted = clone(model).fit(x, y)
    return (lambda new: np.asarray(fitted.predict(new), dtype=float)), fitted


def _linear_influence(units: Units, fits: tuple[Any, Any], mu1: np.ndarray, mu0: np.ndarray, r: np.ndarray,
                      tau: float) -> np.ndarray:
    r"""Influence function of the OLS imputation estimator over the population weighted by ``r``.

    :math:`\phi_i = r_i(\hat\mu_1(X_i) - \hat\mu_0(X_i) - \hat\tau)/\bar r
    + \bar x_r^\top A_1^{-1}\tilde x_i Z_i\hat\epsilon_i - \bar x_r^\top A_0^{-1}\tilde x_i(1-Z_i)\hat\epsilon_i`,
    with :math:`A_z = n^{-1}\sum_{Z_i = z}\tilde x_i\tilde x_i^\top` and :math:`\bar x_r` the
    ``r``-weighted mean of :math:`\tilde x = (1, x)`. :math:`A_z^{-1}` is ``n`` times each fit's
    ``normalized_cov_params``, computed on the column-scaled design (so in any units).
    """
    n = units.n
    design = design_matrix(units.x)
    x_bar = r @ design / r.sum()
    phi = r * (mu1 - mu0 - tau) / r.mean()
    for arm, fit, sign in ((1, fits[0], 1.0), (0, fits[1], -1.0)):
        rows = units.z == arm
        lever = design[rows] @ (n * fit.normalized_cov_params @ x_bar)
        phi[rows] += sign * lever * fit.resid
    return phi


def _outcome_regression_iv(data, outcome, treatment, covariates, estimand, outcome_model, standard_error,
                           n_resamples, rng, confidence_level):
    """Validate the arguments of :func:`outcome_regression`."""
    estimand = estimand_iv(estimand)
    standard_error = check_choice("standard_error", standard_error, ("sandwich", "bootstrap"))
    level = check_confidence_level(confidence_level)
    n_resamples = resamples_iv(n_resamples, standard_error, level)
    generator = check_rng(rng)
    units = units_iv(data, outcome, treatment, covariates)
    check_arms(units.z, "outcome_regression")
    outcome_model = outcome_model_iv(outcome_model)
    if outcome_model is not None and standard_error == "sandwich":
        raise ValueError("`standard_error`='sandwich' needs the linear outcome model; use 'bootstrap' with a "
                         "scikit-learn `outcome_model`")
    return units, estimand, outcome_model, standard_error, n_resamples, generator, level


def outcome_regression(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    estimand: str = "ATE",
    outcome_model: Any = None,
    standard_error: str = "sandwich",
    n_resamples: int = 1000,
    rng: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Outcome-regression (imputation) estimator of the ATE or the ATT, with separate fits by arm.

    See the module docstring for the estimators. Standard errors:

    * ``"sandwich"`` (linear models only): from the influence function of the
      stacked OLS and averaging equations, treating the covariates as random,
      :math:`\hat V = n^{-2}\sum_i\hat\phi_i^2` with
      :math:`\hat\phi_i = r_i\{\hat\mu_1(X_i) - \hat\mu_0(X_i) - \hat\tau\}/\bar r
      + \bar x_r^\top A_1^{-1}\tilde x_iZ_i\hat\epsilon_i
      - \bar x_r^\top A_0^{-1}\tilde x_i(1-Z_i)\hat\epsilon_i`
      (:math:`r_i = 1` for the ATE, :math:`Z_i` for the ATT). It equals the
      HC0 variance of Lin's coefficient plus the variance of the imputed
      effects over the covariate distribution.
    * ``"bootstrap"``: scipy's bootstrap over units refitting both models; the
      only choice with a scikit-learn ``outcome_model``.

    Assumptions: ignorability given the covariates, overlap (the models
    extrapolate where an arm has no units), and correct outcome models.

    Parameters
    ----------
    data, outcome, treatment, covariates
        As in :func:`~causalattn.observational.ipw` (``covariates`` required).
    estimand : {"ATE", "ATT"}
    outcome_model : scikit-learn regressor, optional
        Fitted separately (a clone) in each arm; default OLS with an intercept.
    standard_error : {"sandwich", "bootstrap"}
    n_resamples : int
        Bootstrap replicates (with ``standard_error="bootstrap"`` at least
        :func:`~causalattn._validation.minimum_resamples`, 40 at 95%).
    rng : None, int or numpy.random.Generator
        Randomness of the bootstrap.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method`` ``"outcome-regression-<linear|Class>-<standard_error>"``;
        ``details`` has ``mu1`` and ``mu0`` (imputed outcomes per unit) and,
        for linear models, the fitted statsmodels results ``fit_treated``, ``fit_control``;
        ``asymptotics`` (a :class:`~causalattn.observational.SmallSampleWarning`
        is issued below 20 units in an arm).
        The interval and p-value are large-sample normal
        (``details["distribution"]`` is ``"normal"``; see :mod:`causalattn.observational`).

    Warns
    -----
    SmallSampleWarning
        An arm with fewer than 20 units.

    Raises
    ------
    ValueError
        Fewer than 2 units in an arm (and, for the linear models, no more units
        in an arm than coefficients), a constant outcome, covariates that are
        constant or collinear within an arm, bad options.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 12 and 13. CRC Press.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import outcome_regression
    >>> nsw = datasets.load("lalonde_nsw")
    >>> est = outcome_regression(nsw, "re78", "treat", ["age", "educ", "black", "married", "re74", "re75"])
    >>> round(est.estimate), round(est.standard_error)
    (1633, 640)
    """
    units, estimand, outcome_model, standard_error, n_resamples, generator, level = _outcome_regression_iv(
        data, outcome, treatment, covariates, estimand, outcome_model, standard_error, n_resamples, rng,
        confidence_level)
    tau, mu1, mu0, fits = _impute(units, estimand, outcome_model)
    kind = "linear" if outcome_model is None else type(outcome_model).__name__
    n_treated = int(units.z.sum())
    note = asymptotics("outcome_regression", {"treated": n_treated, "control": units.n - n_treated})
    details: dict[str, Any] = {"mu1": mu1, "mu0": mu0, "distribution": "normal", "asymptotics": note}
    if standard_error == "sandwich":
        r = np.ones(units.n) if estimand == "ATE" else units.z.astype(float)
        phi = _linear_influence(units, fits, mu1, mu0, r, tau)
        se = math.sqrt(float(phi @ phi)) / units.n
        details.update(fit_treated=fits[0], fit_control=fits[1])
    else:
        se, percentile = bootstrap(units.n, lambda rows: _impute(units.subset(rows), estimand, outcome_model)[0],
                                   n_resamples, level, generator)
        details.update(percentile_interval=percentile, n_resamples=n_resamples)
    return normal_estimate(estimand, tau, se, confidence_level=level,
                           method=f"outcome-regression-{kind}-{standard_error}", n=units.n, details=details)


def _impute(units: Units, estimand: str, model: Any) -> tuple[float, np.ndarray, np.ndarray, tuple[Any, Any]]:
    """The imputation estimate, the imputed outcomes under each arm, and the two fits."""
    treated = units.z == 1
    predict1, fit1 = fit_outcome_model(units.x[treated], units.y[treated], model, "treated", units.names)
    predict0, fit0 = fit_outcome_model(units.x[~treated], units.y[~treated], model, "control", units.names)
    mu1, mu0 = predict1(units.x), predict0(units.x)
    if estimand == "ATE":
        tau = float(np.mean(mu1 - mu0))
    else:
        tau = float(np.mean(units.y[treated] - mu0[treated]))
    return tau, mu1, mu0, (fit1, fit0)
