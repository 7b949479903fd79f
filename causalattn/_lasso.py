r"""The lasso fits shared by the lasso-adjusted estimators: covariates standardized, three ways to set the penalty.

The penalty of the lasso depends on the scale of each covariate, so every
covariate is standardized (mean 0, standard deviation 1 with divisor n) over
all units before fitting, as R's glmnet does by default; an intercept is
fitted, unpenalized. The coefficients are those of
:class:`sklearn.linear_model.Lasso`, which minimizes
:math:`\frac{1}{2n}\lVert y - a - Xb\rVert^2 + \alpha\lVert b\rVert_1`, solved to a
duality gap of 1e-7. The option ``alpha`` says how the penalty is set, with the same
meaning in every lasso-adjusted function:

* ``"plugin"``: the plug-in ("rigorous") penalty of Belloni, Chen, Chernozhukov and
  Hansen (2012, Appendix A) with data-driven penalty loadings, as R's ``hdm::rlasso``
  computes it with its defaults (heteroskedastic loadings, X-independent
  :math:`\lambda`, ``post = TRUE``). Its objective is
  :math:`\lVert y - a - Xb\rVert^2 + \lambda\sum_j \hat\psi_j |b_j|` with

  .. math::

      \lambda = 2c\sqrt n\,\Phi^{-1}\Bigl(1 - \frac{\gamma}{2p}\Bigr), \quad c = 1.1,\
      \gamma = \frac{0.1}{\log n}, \qquad
      \hat\psi_j = \Bigl(\frac1n \sum_i \hat e_i^2 x_{ij}^2\Bigr)^{1/2},

  which is scikit-learn's objective with :math:`\alpha = \lambda / (2n)` on the columns
  :math:`x_j / \hat\psi_j` (coefficients :math:`\hat\psi_j b_j`). The loadings start from
  the residuals :math:`\hat e` of the OLS of :math:`y` on the 5 covariates most correlated
  with it (hdm's ``init_values``); the first lasso uses half the penalty; each later one
  takes its loadings from the residuals of the post-lasso OLS of the one before (OLS of
  :math:`y` on the covariates it kept). This stops when the residual standard deviation
  changes by less than 1e-5 times the standard deviation of :math:`y` (hdm: 1e-5 in the
  units of :math:`y`; relative here so that the units of :math:`y` do not matter) or after
  15 lassos. The selection is that of the last lasso. Belloni, Chernozhukov and Hansen
  (2014) prove post-double-selection valid with this penalty. Standardizing changes
  nothing here (each loading scales with its column).
* ``"cv"``: chosen by :class:`sklearn.linear_model.LassoCV` (``cv``-fold cross-validation
  in the order of the rows, no shuffling: deterministic).
* a number: scikit-learn's ``alpha`` (glmnet's ``lambda``) on the standardized covariates.

References
----------
Belloni, A., Chen, D., Chernozhukov, V. and Hansen, C. (2012). Sparse models and methods for
optimal instruments with an application to eminent domain. *Econometrica* 80, 2369-2429.

Belloni, A., Chernozhukov, V. and Hansen, C. (2014). Inference on treatment effects after
selection among high-dimensional controls. *Review of Economic Studies* 81, 608-650.

Chernozhukov, V., Hansen, C. and Spindler, M. (2016). hdm: high-dimensional metrics.
*The R Journal* 8(2), 185-199.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoCV

from causalattn._rounding import power_of_two_scale, zero_up_to_rounding
from causalattn._validation import as_float_array, check_columns, check_positive_int

# Coordinate descent to this duality-gap tolerance (scikit-learn: 1e-4), tight enough to agree with glmnet to 1e-6.
_TOLERANCE = 1e-7
_MAX_ITER = 20_000

#: The named ways to set the penalty (besides a number).
PENALTIES = ("plugin", "cv")

# The plug-in penalty's constants, hdm::rlasso's defaults: c, the covariates of the starting regression, the most
# lassos, the tolerance on the change of the residual standard deviation (here relative to the sd of y).
PLUGIN_C = 1.1
_START_COVARIATES = 5
_PLUGIN_ITERATIONS = 15
_PLUGIN_TOLERANCE = 1e-5
# A residual standard deviation below this share of y's is an exact fit: no loadings can be computed from it; and no
# loading is below this share of y's standard deviation (a covariate nonzero only where the residuals are zero).
_EXACT_FIT = 1e-9


@dataclass(frozen=True)
class Penalty:
    """How one lasso's penalty was set (``rule``) and its value.

    ``alpha`` is scikit-learn's alpha of the final fit, in the units of y for ``"cv"`` and ``"fixed"``; for
    ``"plugin"`` it is :math:`\\lambda / (2n)` (half that if the first lasso was the last) and applies to the
    covariates divided by their ``loadings`` (on the standardized covariates, in the units of y), ``lambda_`` is
    hdm's :math:`\\lambda`, ``iterations`` the lassos fitted and ``converged`` whether the loadings settled.
    """

    rule: str
    alpha: float
    lambda_: float | None = None
    loadings: np.ndarray | None = None
    iterations: int | None = None
    converged: bool | None = None

    def __repr__(self) -> str:
        return f"Penalty({self.rule}, alpha={self.alpha:.4g})"

    def details(self, suffix: str, names: list[str]) -> dict[str, Any]:
        """The entries ``alpha_<suffix>`` (and for the plug-in ``lambda_``, ``loadings_``, ``iterations_``,
        ``converged_<suffix>``) of an estimate's details; the loadings as a Series indexed by ``names``."""
        out: dict[str, Any] = {f"alpha_{suffix}": self.alpha}
        if self.rule == "plugin":
            out.update({f"lambda_{suffix}": self.lambda_,
                        f"loadings_{suffix}": pd.Series(self.loadings, index=names),
                        f"iterations_{suffix}": self.iterations, f"converged_{suffix}": self.converged})
        return out


def lasso_options_iv(alpha: Any, cv: Any) -> tuple[str | float, int]:
    """``alpha``: ``"plugin"``, ``"cv"`` or a finite number > 0 (None is refused: it used to mean ``"cv"``);
    ``cv``: folds >= 2."""
    if alpha is None:
        raise ValueError("`alpha=None` no longer means cross-validation: pass `alpha='cv'` for the cross-validated "
                         "penalty, `alpha='plugin'` for the plug-in penalty of Belloni et al. (hdm's rlasso), or a "
                         "number > 0")
    if isinstance(alpha, str):
        if alpha not in PENALTIES:
            raise ValueError(f"`alpha` must be 'plugin', 'cv' or a number > 0, got {alpha!r}")
    elif isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 < alpha < math.inf:
        raise ValueError(f"`alpha` must be 'plugin', 'cv' or a finite number > 0, got {alpha!r}")
    else:
        alpha = float(alpha)
    return alpha, check_positive_int("cv", cv, minimum=2)


def penalty_rule(alpha: str | float, cv: int) -> str:
    """The name of the rule ``alpha`` stands for: ``"plugin"``, ``"<cv>-fold cross-validation"`` or ``"fixed"``."""
    return "plugin" if alpha == "plugin" else f"{cv}-fold cross-validation" if alpha == "cv" else "fixed"


def covariate_matrix(data: Any, covariates: Any) -> tuple[np.ndarray, list[str]]:
    """The covariates as a float matrix and their names: columns of ``data``, or a 2-d array or DataFrame."""
    if data is not None:
        if isinstance(covariates, str) or not isinstance(covariates, (list, tuple)) or not covariates or not all(
                isinstance(c, str) for c in covariates):
            raise TypeError("`covariates` must be a non-empty list of column names when `data` is given")
        check_columns(data, covariates=list(covariates))
        return np.column_stack([as_float_array("covariates", data[c], column=c) for c in covariates]), list(covariates)
    if isinstance(covariates, pd.DataFrame):
        names = [str(c) for c in covariates.columns]
        return np.column_stack([as_float_array("covariates", covariates[c], column=str(c))
                                for c in covariates.columns]), names
    x = as_float_array("covariates", covariates, vector=False)
    if x.ndim != 2:
        raise ValueError(f"`covariates` must be a 2-d array (units x covariates), got shape {x.shape}")
    return x, [f"covariate{j}" for j in range(x.shape[1])]


def standardize(x: np.ndarray, names: list[str]) -> np.ndarray:
    """Columns centred and scaled to standard deviation 1 (divisor n); a constant column is an error."""
    sd = x.std(axis=0)
    constant = [name for name, s in zip(names, sd, strict=True) if not s > 0]
    if constant:
        raise ValueError(f"`covariates`: column(s) {constant[:5]} are constant; leave them out")
    return (x - x.mean(axis=0)) / sd


def lasso_fit(x: np.ndarray, y: np.ndarray, alpha: str | float, cv: int) -> tuple[float, np.ndarray, Penalty]:
    """The intercept, the coefficients and the :class:`Penalty` of the lasso of ``y`` on ``x`` (standardized).

    ``y`` is divided by a power of two near its magnitude (exact) and a fixed penalty with it, so that the
    answer does not depend on the outcome's units; the results are in the units of ``y``.
    """
    unit = power_of_two_scale(y)
    scaled = y / unit
    if alpha == "plugin":
        beta, penalty = _plugin_lasso(x, scaled)
        penalty = Penalty("plugin", penalty.alpha, penalty.lambda_, penalty.loadings * unit, penalty.iterations,
                          penalty.converged)
        return float(scaled.mean() - x.mean(axis=0) @ beta) * unit, beta * unit, penalty
    if alpha == "cv":
        if len(y) < cv:
            raise ValueError(f"`cv`: {cv}-fold cross-validation needs at least {cv} units, got {len(y)}")
        with warnings.catch_warnings():
            # the path's smallest penalties may stop short of scikit-learn's tolerance; they only choose alpha
            warnings.simplefilter("ignore", ConvergenceWarning)
            chosen = float(LassoCV(cv=cv).fit(x, scaled).alpha_)
        rule = penalty_rule(alpha, cv)
    else:
        chosen, rule = alpha / unit, "fixed"
    model = Lasso(alpha=chosen, tol=_TOLERANCE, max_iter=_MAX_ITER).fit(x, scaled)
    return float(model.intercept_) * unit, model.coef_ * unit, Penalty(rule, chosen * unit)


def _plugin_lasso(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, Penalty]:
    """hdm::rlasso's iteration (module docstring): the last lasso's coefficients and its penalty."""
    n, p = x.shape
    x = x - x.mean(axis=0)  # a subset of the units (an arm) is no longer centred
    lam = 2 * PLUGIN_C * math.sqrt(n) * float(norm.isf(0.1 / math.log(n) / (2 * p)))
    centred = y - y.mean()
    scale = float(np.sqrt(centred @ centred / max(n - 1, 1)))
    if zero_up_to_rounding(scale, float(np.max(np.abs(y)))):  # a constant y: every positive penalty keeps nothing
        return np.zeros(p), Penalty("plugin", lam / (2 * n), lam, np.zeros(p), 0, True)
    start = np.argsort(-np.abs(x.T @ centred), kind="stable")[:_START_COVARIATES]
    loadings = _loadings(x, _residuals(x[:, start], centred), scale)
    previous, converged = scale, False
    for iteration in range(1, _PLUGIN_ITERATIONS + 1):
        alpha, used = lam / (2 * n) * (0.5 if iteration == 1 else 1.0), loadings
        beta = Lasso(alpha=alpha, tol=_TOLERANCE, max_iter=_MAX_ITER).fit(x / used, centred).coef_ / used
        kept = np.flatnonzero(beta)
        if not kept.size:
            converged = True
            break
        residuals = _residuals(x[:, kept], centred)
        sd = float(np.sqrt(residuals @ residuals / max(n - 1, 1)))
        if abs(previous - sd) < _PLUGIN_TOLERANCE * scale or sd < _EXACT_FIT * scale:
            converged = True
            break
        previous, loadings = sd, _loadings(x, residuals, scale)
    return beta, Penalty("plugin", alpha, lam, used, iteration, converged)


def _residuals(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Residuals of the least-squares fit of the centred ``y`` on the centred columns ``x`` (any rank)."""
    return y - x @ np.linalg.lstsq(x, y, rcond=None)[0]


def _loadings(x: np.ndarray, residuals: np.ndarray, scale: float) -> np.ndarray:
    r""":math:`\hat\psi_j = (\frac1n\sum_i \hat e_i^2 x_{ij}^2)^{1/2}`, at least ``_EXACT_FIT * scale``."""
    return np.maximum(np.sqrt((residuals**2) @ (x**2) / len(residuals)), _EXACT_FIT * scale)
