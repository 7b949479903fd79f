r"""Inverse probability weighting: Horvitz-Thompson and Hajek estimators of the ATE and the ATT.

With propensity score :math:`e_i = e(X_i)` and odds :math:`o_i = e_i / (1 - e_i)`:

* ATE, Horvitz-Thompson: :math:`\hat\tau^{ht} = n^{-1}\sum_i Z_iY_i/e_i - n^{-1}\sum_i (1-Z_i)Y_i/(1-e_i)`;
* ATE, Hajek: each sum divided by its total weight,
  :math:`\sum_i Z_iY_i/e_i \big/ \sum_i Z_i/e_i - \sum_i (1-Z_i)Y_i/(1-e_i) \big/ \sum_i (1-Z_i)/(1-e_i)`;
* ATT (odds weights for the controls), Horvitz-Thompson:
  :math:`\bar Y_1 - n_1^{-1}\sum_i (1-Z_i)\,o_iY_i`; Hajek:
  :math:`\bar Y_1 - \sum_i (1-Z_i)\,o_iY_i \big/ \sum_i (1-Z_i)\,o_i`.

Extreme weights are reported in ``details`` (largest weight's share of its arm,
Kish's effective sample size :math:`(\sum w_i)^2/\sum w_i^2` of each arm), never clipped;
past the thresholds of :mod:`causalattn.observational` (fewer than 20 effective
units in an arm, or one unit above 10% of its arm's weight) a
:class:`~causalattn.observational.SmallSampleWarning` says so.

References
----------
Horvitz, D. G. and Thompson, D. J. (1952). A generalization of sampling without
replacement from a finite universe. *JASA* 47, 663-685.

Hajek, J. (1971). Comment on "An essay on the logical foundations of survey
sampling" by D. Basu. In *Foundations of Statistical Inference*, 236.

Lunceford, J. K. and Davidian, M. (2004). Stratification and weighting via the
propensity score in estimation of causal treatment effects: a comparative
study. *Statistics in Medicine* 23, 2937-2960.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 11 (IPW for the
ATE), ch. 13 (the ATT) and the appendix on M-estimation. CRC Press.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import check_choice, check_columns, check_confidence_level, check_flag, check_rng
from causalattn.estimate import Estimate, normal_estimate
from causalattn.observational._data import (
    Units,
    bootstrap,
    check_arms,
    estimand_iv,
    propensity_values,
    resamples_iv,
    units_iv,
    weighted_asymptotics,
)
from causalattn.observational.propensity import (
    check_scores,
    design_matrix,
    fit_score_model,
    score_model_iv,
)

__all__ = ["ipw"]

STANDARD_ERRORS = ("sandwich", "bootstrap")
_ADVICE = ("; trim extreme scores (PropensityScore.trim) or, with few units, use a randomization test if the "
           "treatment was randomized")


@dataclass(frozen=True)
class _Problem:
    units: Units
    estimand: str
    normalize: bool
    model: Any
    known_score: np.ndarray | None
    standard_error: str
    n_resamples: int
    rng: np.random.Generator
    level: float


def _ipw_iv(data, outcome, treatment, covariates, estimand, normalize, model, propensity, standard_error,
            n_resamples, rng, confidence_level) -> _Problem:
    estimand = estimand_iv(estimand)
    normalize = check_flag("normalize", normalize)
    standard_error = check_choice("standard_error", standard_error, STANDARD_ERRORS)
    level = check_confidence_level(confidence_level)
    n_resamples = resamples_iv(n_resamples, standard_error, level)
    rng = check_rng(rng)
    if propensity is not None and (covariates is not None or model is not None):
        raise ValueError("give either `propensity` (known scores) or `covariates` (and `model`), not both")
    units = units_iv(data, outcome, treatment, covariates, need_covariates=propensity is None,
                     others={"propensity": propensity})
    check_arms(units.z, "ipw")
    if isinstance(propensity, str):
        if data is None:
            raise TypeError(f"`propensity` is a column name ({propensity!r}) but `data` is None")
        check_columns(data, propensity=propensity)
        propensity = data[propensity]
    known = None if propensity is None else propensity_values(propensity, units.n)
    if known is not None and standard_error == "bootstrap":
        raise ValueError("`standard_error`='bootstrap' re-estimates the score: give `covariates`, not `propensity`")
    return _Problem(units, estimand, normalize, score_model_iv(model), known, standard_error, n_resamples, rng,
                    level)


def _ipw_coefficients(z: np.ndarray, e: np.ndarray, estimand: str, normalize: bool) -> dict[str, np.ndarray]:
    r"""Per-unit terms of the estimating equations :math:`a_iY_i - b_i\mu_1 = 0`, :math:`c_iY_i - d_i\mu_0 = 0`.

    Also their derivatives with respect to the logistic linear predictor
    (``da``, ``db``, ``dc``, ``dd``), for the sandwich.
    """
    zero = np.zeros_like(e)
    if estimand == "ATE":
        a, da = z / e, -z * (1 - e) / e
        c, dc = (1 - z) / (1 - e), (1 - z) * e / (1 - e)
        b, db = (a, da) if normalize else (np.ones_like(e), zero)
        d, dd = (c, dc) if normalize else (np.ones_like(e), zero)
    else:
        odds = e / (1 - e)
        a = b = z.astype(float)
        da = db = zero
        c, dc = (1 - z) * odds, (1 - z) * odds
        d, dd = (c, dc) if normalize else (z.astype(float), zero)
    return {"a": a, "b": b, "c": c, "d": d, "da": da, "db": db, "dc": dc, "dd": dd}


def _point(y: np.ndarray, k: dict[str, np.ndarray]) -> tuple[float, float]:
    return float(k["a"] @ y / k["b"].sum()), float(k["c"] @ y / k["d"].sum())


def _sandwich_se(y: np.ndarray, z: np.ndarray, e: np.ndarray, x: np.ndarray | None, k: dict[str, np.ndarray],
                 mu1: float, mu0: float) -> float:
    r"""M-estimation standard error of :math:`\hat\mu_1 - \hat\mu_0`, stacking the logistic score if ``x`` is given.

    :math:`\hat V = n^{-1} A^{-1} B A^{-\top}` with :math:`A` the mean Jacobian of
    the estimating functions and :math:`B` the mean of their outer products.
    """
    n = len(y)
    psi_mu = np.column_stack([k["a"] * y - k["b"] * mu1, k["c"] * y - k["d"] * mu0])
    jac_mu = np.diag([-k["b"].mean(), -k["d"].mean()])
    if x is None:
        psi, jac = psi_mu, jac_mu
    else:
        design = design_matrix(x)
        p = design.shape[1]
        psi = np.column_stack([design * (z - e)[:, None], psi_mu])
        jac = np.zeros((p + 2, p + 2))
        jac[:p, :p] = -(design * (e * (1 - e))[:, None]).T @ design / n
        jac[p, :p] = design.T @ (k["da"] * y - k["db"] * mu1) / n
        jac[p + 1, :p] = design.T @ (k["dc"] * y - k["dd"] * mu0) / n
        jac[p:, p:] = jac_mu
    meat = psi.T @ psi / n
    bread = np.linalg.inv(jac)
    cov = bread @ meat @ bread.T / n
    g = np.zeros(len(cov))
    g[-2:] = (1.0, -1.0)
    return math.sqrt(max(float(g @ cov @ g), 0.0))


def _weights(z: np.ndarray, k: dict[str, np.ndarray]) -> np.ndarray:
    """Per-unit weights: the estimate is sum of treated w*Y minus sum of control w*Y."""
    return np.where(z == 1, k["a"] / k["b"].sum(), k["c"] / k["d"].sum())


def ipw(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    estimand: str = "ATE",
    normalize: bool = True,
    model: Any = None,
    propensity: Any = None,
    standard_error: str = "sandwich",
    n_resamples: int = 1000,
    rng: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Inverse-probability-weighting estimator of the ATE or the ATT (Horvitz-Thompson or Hajek).

    See the module docstring for the four estimators. As M-estimators,
    :math:`\hat\mu_1` and :math:`\hat\mu_0` solve
    :math:`\sum_i (a_iY_i - b_i\mu_1) = 0` and :math:`\sum_i (c_iY_i - d_i\mu_0) = 0`
    with :math:`a_i = Z_i/e_i`, :math:`c_i = (1-Z_i)/(1-e_i)` for the ATE and
    :math:`a_i = Z_i`, :math:`c_i = (1-Z_i)o_i` for the ATT, :math:`b_i = a_i`,
    :math:`d_i = c_i` (Hajek) or :math:`b_i = 1`, :math:`d_i = 1` (Horvitz-Thompson
    ATE), :math:`b_i = d_i = Z_i` (Horvitz-Thompson ATT).

    Standard errors:

    * ``"sandwich"``: the M-estimation sandwich :math:`n^{-1}A^{-1}BA^{-\top}`.
      With the default logistic score, its score equations
      :math:`X_i(Z_i - e_i) = 0` are stacked with the two above, so the
      estimation of the score is accounted for (for the ATE this makes the
      standard error smaller than with a known score). With a scikit-learn
      ``model`` or given ``propensity`` the score is treated as known
      (``details["score"]`` says so).
    * ``"bootstrap"``: resample units with replacement (scipy's
      :func:`~scipy.stats.bootstrap`), re-estimate the score and the estimator
      in each replicate; the standard error is the replicates' standard
      deviation, the interval and p-value are normal with it (the percentile
      interval is in ``details``).

    Assumptions: strong ignorability given the covariates and overlap,
    :math:`0 < e(X) < 1` (for the ATT only :math:`e(X) < 1` and
    :math:`Y(0) \perp Z \mid X`), and a correctly specified score model.

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    outcome, treatment : str or array_like
        Outcome and 0/1 treatment.
    covariates : list of str or array_like, optional
        Covariates of the score model (required unless ``propensity`` is given).
    estimand : {"ATE", "ATT"}
        Average effect over all units or over the treated.
    normalize : bool
        ``True`` for Hajek (weights normalized within each arm), ``False`` for
        Horvitz-Thompson.
    model : scikit-learn classifier, optional
        Score model with ``predict_proba``; default logistic regression.
    propensity : str or array_like, optional
        Known scores (a column or an array) instead of a fitted model.
    standard_error : {"sandwich", "bootstrap"}
        How the standard error is computed.
    n_resamples : int
        Bootstrap replicates (with ``standard_error="bootstrap"`` at least
        :func:`~causalattn._validation.minimum_resamples`, 40 at 95%).
    rng : None, int or numpy.random.Generator
        Randomness of the bootstrap.
    confidence_level : float
        Coverage of the normal interval.

    Returns
    -------
    Estimate
        ``estimand`` ``"ATE"`` or ``"ATT"``; ``method`` ``"ipw-hajek-sandwich"``,
        ``"ipw-horvitz-thompson-bootstrap"`` ...; ``details`` has ``score`` (the
        propensity scores), ``weights`` (per unit, so that the estimate is
        :math:`\sum_{Z=1} w_iY_i - \sum_{Z=0} w_iY_i`), ``mean_treated``,
        ``mean_control``, the largest weight's share and the effective sample
        size of each arm (``max_weight_share_treated``, ``effective_n_treated``,
        ... for the control arm) and ``asymptotics`` (what the normal interval
        relies on, and what the data gave).
        The interval and p-value are large-sample normal
        (``details["distribution"]`` is ``"normal"``; see :mod:`causalattn.observational`).

    Warns
    -----
    SmallSampleWarning
        An arm with fewer than 20 effective units, or a unit carrying more
        than 10% of its arm's weight.

    Raises
    ------
    ValueError
        Non-binary treatment, fewer than 2 units in an arm, missing values,
        covariates that are constant, collinear or separate the arms, a score
        of 0 or 1, bad options.
    TypeError
        Non-numeric covariates, a ``model`` without ``predict_proba``.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 11 and 13. CRC Press.

    Lunceford, J. K. and Davidian, M. (2004). *Statistics in Medicine* 23, 2937-2960.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import ipw
    >>> nsw = datasets.load("lalonde_nsw")
    >>> est = ipw(nsw, "re78", "treat", ["age", "educ", "black", "married", "re74", "re75"])
    >>> round(est.estimate), est.method, est.estimand
    (1622, 'ipw-hajek-sandwich', 'ATE')
    """
    problem = _ipw_iv(data, outcome, treatment, covariates, estimand, normalize, model, propensity, standard_error,
                      n_resamples, rng, confidence_level)
    units = problem.units
    y, z = units.y, units.z
    if problem.known_score is None:
        predict, _ = fit_score_model(units.x, z, problem.model, units.names)
        e = check_scores(np.asarray(predict(units.x), dtype=float))
    else:
        e = problem.known_score
    k = _ipw_coefficients(z, e, problem.estimand, problem.normalize)
    mu1, mu0 = _point(y, k)
    tau = mu1 - mu0
    form = "hajek" if problem.normalize else "horvitz-thompson"
    weights = _weights(z, k)
    details: dict[str, Any] = {"mean_treated": mu1, "mean_control": mu0,
                               **weighted_asymptotics("ipw", weights, z, _ADVICE), "score": e, "weights": weights,
                               "distribution": "normal"}
    stacked = problem.known_score is None and problem.model is None
    if problem.standard_error == "sandwich":
        se = _sandwich_se(y, z, e, units.x if stacked else None, k, mu1, mu0)
        details["score_estimation"] = "accounted for (stacked logistic score)" if stacked else "treated as known"
    else:
        se, percentile = _bootstrap(problem)
        details.update(percentile_interval=percentile, n_resamples=problem.n_resamples,
                       score_estimation="re-estimated in each replicate")
    return normal_estimate(problem.estimand, tau, se, confidence_level=problem.level,
                           method=f"ipw-{form}-{problem.standard_error}", n=units.n, details=details)


def _bootstrap(problem: _Problem) -> tuple[float, tuple[float, float]]:
    """The bootstrap over units, refitting the score in each replicate."""
    units = problem.units

    def statistic(rows: np.ndarray) -> float:
        z = units.z[rows]
        if z.min() == z.max():
            return math.nan
        try:
            predict, _ = fit_score_model(units.x[rows], z, problem.model, units.names)
        except ValueError:  # a resample whose score model has no fit (separation, a constant covariate)
            return math.nan
        e = np.asarray(predict(units.x[rows]), dtype=float)
        if ((e <= 0) | (e >= 1)).any():
            return math.nan
        mu1, mu0 = _point(units.y[rows], _ipw_coefficients(z, e, problem.estimand, problem.normalize))
        return mu1 - mu0

    return bootstrap(units.n, statistic, problem.n_resamples, problem.level, problem.rng)
