"""The lasso fits shared by the lasso-adjusted estimators: covariates standardized, scikit-learn's Lasso or LassoCV.

The penalty of the lasso depends on the scale of each covariate, so every
covariate is standardized (mean 0, standard deviation 1 with divisor n) over
all units before fitting, as R's glmnet does by default; an intercept is
fitted, unpenalized. ``alpha=None`` chooses the penalty by
:class:`sklearn.linear_model.LassoCV` (``cv``-fold cross-validation in the
order of the rows, no shuffling: deterministic); a number fixes it. The
coefficients are then those of :class:`sklearn.linear_model.Lasso` at that
penalty (scikit-learn's ``alpha``: glmnet's ``lambda`` on standardized
covariates), solved to a duality gap of 1e-7.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LassoCV

from causalattn._rounding import power_of_two_scale
from causalattn._validation import as_float_array, check_columns, check_positive_int

# Coordinate descent to this duality-gap tolerance (scikit-learn: 1e-4), tight enough to agree with glmnet to 1e-6.
_TOLERANCE = 1e-7
_MAX_ITER = 20_000


def lasso_options_iv(alpha: Any, cv: Any) -> tuple[float | None, int]:
    """``alpha``: None (cross-validated) or a positive number; ``cv``: folds >= 2."""
    if alpha is not None:
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not alpha > 0:
            raise ValueError(f"`alpha` must be None (chosen by cross-validation) or a number > 0, got {alpha!r}")
        alpha = float(alpha)
    return alpha, check_positive_int("cv", cv, minimum=2)


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


def lasso_fit(x: np.ndarray, y: np.ndarray, alpha: float | None, cv: int) -> tuple[float, np.ndarray, float]:
    """The intercept, the coefficients and the penalty of the lasso of ``y`` on ``x`` (already standardized).

    ``y`` is divided by a power of two near its magnitude (exact) and a fixed penalty with it, so that the
    answer does not depend on the outcome's units; the results are in the units of ``y``.
    """
    unit = power_of_two_scale(y)
    if alpha is None:
        if len(y) < cv:
            raise ValueError(f"`cv`: {cv}-fold cross-validation needs at least {cv} units, got {len(y)}")
        with warnings.catch_warnings():
            # the path's smallest penalties may stop short of scikit-learn's tolerance; they only choose alpha
            warnings.simplefilter("ignore", ConvergenceWarning)
            alpha = float(LassoCV(cv=cv).fit(x, y / unit).alpha_) * unit
    model = Lasso(alpha=alpha / unit, tol=_TOLERANCE, max_iter=_MAX_ITER).fit(x, y / unit)
    return float(model.intercept_) * unit, model.coef_ * unit, alpha
