r"""statsmodels fits whose answer does not depend on the units of the data: solved on the design with every column
scaled to about 1, reported in the units of the data.

statsmodels works on the *raw* design. Least squares use a pseudo-inverse
whose cut-off, and so the numerical rank and the residual degrees of freedom,
are relative to the largest singular value: a covariate in units of 1e12 beside
the intercept leaves the coefficients five or six correct digits (the condition
number is about 1e12); from about 1e15 statsmodels counts a column out of the
rank (the residual df and the standard errors change), and numpy's rank
(from about 1e14) calls the design "rank deficient". Newton's method for a
logistic model stops when no raw coefficient moves by more than 1e-8, which a
covariate in units of 1e-12 (coefficients near 1e12) never reaches. Dividing
every column by its scale removes that dependence:

.. math::

    \tilde X = X D^{-1}, \qquad \hat\beta = D^{-1}\hat\gamma, \qquad
    (X^\top W X)^{-1} = D^{-1} (\tilde X^\top W \tilde X)^{-1} D^{-1}, \qquad
    X^{+} = D^{-1}\tilde X^{+},

with :math:`D` diagonal, :math:`D_{jj}` a power of two within a factor 2 of
the largest :math:`|X_{ij}|` (1 for a column of zeros), and :math:`\hat\gamma`
the coefficients of the scaled design. Dividing by a power of two is exact, so
an intercept column stays a column of ones (statsmodels' ``k_constant``), and
every product statsmodels forms afterwards from the raw design, the unscaled
coefficients and :math:`(X^\top W X)^{-1}` (fitted values, residuals,
:math:`\hat\sigma^2`, the HC0-HC3 and cluster-robust covariances
:math:`V = D^{-1}\tilde V D^{-1}`) equals the same product on the scaled
design times a power of two: the results are those of the scaled fit, exactly,
expressed in the units of the data.

What scaling does not change: a column that is an *offset* plus small
variation (``1e9 + noise``) is nearly a multiple of the intercept in floating
point, and dividing it by 1e9 leaves it so. Such a column makes every
computation with the design ill-conditioned (statsmodels' HC2 and HC3 leverages
:math:`x_i^\top (X^\top X)^{-1} x_i` lose twice as many digits as the
coefficients: at ``1e9 + noise`` they are rounding noise). The fits therefore
refuse a column that the columns before it determine to within
:data:`ALIAS_TOLERANCE` of its norm, the rule of R's ``lm`` (QR tolerance
1e-7), on the scaled design (:func:`aliased`); the remedy is to subtract its mean.

References
----------
Golub, G. H. and Van Loan, C. F. (2013). *Matrix Computations*, 4th ed., sec.
3.5.2 (scaling) and 5.5 (rank-deficient least squares). Johns Hopkins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from statsmodels.base.model import LikelihoodModelResults
from statsmodels.discrete.discrete_model import Logit
from statsmodels.genmod.generalized_linear_model import GLM, GLMResults, GLMResultsWrapper
from statsmodels.regression.linear_model import OLS, WLS, OLSResults, RegressionResults, RegressionResultsWrapper

from causalattn._rounding import powers_of_two

__all__ = ["ALIAS_TOLERANCE", "MAX_MAGNITUDE", "aliased", "collinearity", "column_scales", "least_squares",
           "maximum_likelihood"]

#: Largest |value| of a column or the outcome (and smallest of a nonzero one, its inverse) that the fits accept:
#: the coefficients' covariance, in the units of the data, holds the inverse squares of the columns.
MAX_MAGNITUDE = 1e150
#: A column whose part that the columns before it do not explain is at most this fraction of its norm is collinear
#: with them (R's ``lm`` aliases it: ``qr(tol = 1e-7)``).
ALIAS_TOLERANCE = 1e-7


def column_scales(x: np.ndarray) -> np.ndarray:
    """Per column of ``x``, a power of two within a factor 2 of its largest ``|value|`` (1 for a column of zeros).

    Examples
    --------
    >>> column_scales(np.array([[1.0, 3e12, 0.0], [1.0, -5.0, 0.0]])).tolist()
    [1.0, 2199023255552.0, 1.0]
    """
    return powers_of_two(np.abs(np.asarray(x, dtype=float)).max(axis=0, initial=0.0))


def aliased(x: np.ndarray) -> int | None:
    """The first column of ``x`` that the columns before it determine (to :data:`ALIAS_TOLERANCE` of its norm, on
    the column-scaled design), or ``None`` if there is none.

    :math:`|R_{jj}|` of the QR decomposition is the norm of column ``j`` minus its projection on the columns
    before it; a zero column is aliased; with fewer rows than columns, the first column beyond the rows is.

    Examples
    --------
    >>> x = np.column_stack([np.ones(4), [1e20, 2e20, 4e20, 3e20]])
    >>> int(np.linalg.matrix_rank(x)), aliased(x)  # the raw rank counts the intercept out; scaled, it is fine
    (1, None)
    >>> aliased(np.column_stack([np.ones(4), 1e9 + np.array([1.0, 2.0, 4.0, 3.0])]))  # an offset: R aliases it
    1
    """
    x = np.asarray(x, dtype=float)
    return _aliased_scaled(x / column_scales(x))


def _aliased_scaled(scaled: np.ndarray) -> int | None:
    """:func:`aliased` of a design already scaled."""
    n, p = scaled.shape
    residual = np.abs(np.diag(np.linalg.qr(scaled[:, :n], mode="r")))
    bad = np.flatnonzero(residual <= ALIAS_TOLERANCE * np.linalg.norm(scaled[:, :n], axis=0))
    return int(bad[0]) if bad.size else (n if p > n else None)


def collinearity(names: Sequence[str], j: int) -> str:
    """Why column ``j`` of a design (columns ``names``) was refused by :func:`aliased`, for messages."""
    if not j:
        return f"{names[0]} is zero"
    return (f"{names[j]} is a linear function of {', '.join(names[:j])} (perfectly collinear), or within "
            f"{ALIAS_TOLERANCE:g} of its norm of one, as R's lm would alias it (in floating point also a large offset "
            "with little variation beside the intercept, such as 1e9 + noise: subtract its mean)")


def _checked_scales(model: Any, outcome: str | None, names: Sequence[str] | None) -> np.ndarray:
    """The column scales of ``model``'s design, after refusing an outcome or a column whose largest |value| is
    beyond :data:`MAX_MAGNITUDE` or nonzero below its inverse, fewer rows than columns, or an aliased column."""
    exog = np.asarray(model.exog, dtype=float)
    tops = np.abs(exog).max(axis=0, initial=0.0)
    bad = np.flatnonzero((tops > MAX_MAGNITUDE) | ((tops > 0) & (tops < 1 / MAX_MAGNITUDE)))
    endog = float(np.abs(model.endog).max())
    if bad.size or endog > MAX_MAGNITUDE or 0 < endog < 1 / MAX_MAGNITUDE:
        name, top = ((_names(model, names)[bad[0]], tops[bad[0]]) if bad.size
                     else (outcome or repr(model.endog_names), endog))
        raise ValueError(f"{name} reaches {top:.3g} in magnitude: a regression in these units leaves floating "
                         f"point (the coefficients' covariance holds the squares of the outcome and the inverse "
                         f"squares of the columns, limit {MAX_MAGNITUDE:.0e}); express it in other units")
    n, p = exog.shape
    if n < p:
        raise ValueError(f"the design has {p} columns {_names(model, names)} but only {n} rows: it needs at least as "
                         "many rows")
    scales = powers_of_two(tops)
    j = _aliased_scaled(np.asarray(getattr(model, "wexog", exog), dtype=float) / scales)  # OLS, WLS: whitened
    if j is not None:
        raise ValueError(f"the design is rank deficient: {collinearity(_names(model, names), j)}")
    return scales


def _names(model: Any, names: Sequence[str] | None) -> list[str]:
    return [repr(name) for name in model.exog_names] if names is None else list(names)


def _adopt_structure(model: Any, scaled: Any) -> None:
    """Give ``model`` the constant and degrees of freedom statsmodels found on the scaled design ``scaled``."""
    model.k_constant = model.data.k_constant = scaled.k_constant
    model.data.const_idx = scaled.data.const_idx
    model.df_model, model.df_resid = scaled.df_model, scaled.df_resid


def least_squares(model: OLS, *, cov_type: str = "nonrobust", cov_kwds: dict | None = None,
                  use_t: bool | None = None, outcome: str | None = None,
                  names: Sequence[str] | None = None) -> RegressionResultsWrapper:
    """``model.fit(cov_type=..., cov_kwds=..., use_t=...)`` solved on the column-scaled design (module docstring).

    Parameters
    ----------
    model : statsmodels OLS or WLS
        The unfitted model in the units of the data (arrays, DataFrames or a formula).
    cov_type, cov_kwds, use_t
        As in statsmodels' ``fit`` (``"nonrobust"``, ``"HC0"``-``"HC3"``, ``"cluster"`` with
        ``cov_kwds={"groups": ...}``, ...).
    outcome : str, optional
        The outcome as messages should name it (default: the model's ``endog_names``).
    names : sequence of str, optional
        The design's columns as messages should name them (default: the model's ``exog_names``, quoted).

    Returns
    -------
    statsmodels RegressionResultsWrapper
        The results of ``model`` itself: ``params``, ``bse``, ``conf_int()``, ``pvalues``, ``resid``,
        ``scale``, ``df_resid``, ``t_test``, ``summary()`` in the units of the data, with the rank, the
        degrees of freedom and ``k_constant`` of the scaled design.

    Raises
    ------
    TypeError
        ``model`` is not an OLS or WLS model.
    ValueError
        A column or the outcome beyond :data:`MAX_MAGNITUDE` in magnitude (or nonzero below its inverse), fewer
        rows than columns, or a column that the others determine (:func:`aliased`).

    Examples
    --------
    >>> x = np.column_stack([np.ones(5), [1e20, 3e20, 2e20, 5e20, 4e20]])
    >>> res = least_squares(OLS([1.0, 2.9, 2.1, 5.2, 3.8], x))
    >>> float(res.df_resid), [float(f"{b:.4g}") for b in res.params]  # by hand: slope 10.1e20 / 10e40
    (3.0, [-0.03, 1.01e-20])

    (statsmodels' own ``OLS(...).fit()`` counts the intercept out of the rank here: ``df_resid`` 4.)
    """
    if type(model) not in (OLS, WLS):
        raise TypeError(f"`model` must be a statsmodels OLS or WLS model, got {type(model).__name__}")
    scales = _checked_scales(model, outcome, names)
    weights = {} if type(model) is OLS else {"weights": model.weights}
    solved = type(model)(model.endog, model.exog / scales, **weights).fit()
    _adopt_structure(model, solved.model)
    model.rank = solved.model.rank
    model.pinv_wexog = solved.model.pinv_wexog / scales[:, None]
    model.normalized_cov_params = solved.normalized_cov_params / np.outer(scales, scales)
    results = (OLSResults if type(model) is OLS else RegressionResults)(
        model, np.asarray(solved.params) / scales, normalized_cov_params=model.normalized_cov_params,
        cov_type=cov_type, cov_kwds=cov_kwds, use_t=use_t)
    return RegressionResultsWrapper(results)


def _likelihood_twin(model: Any, exog: np.ndarray) -> Any:
    """An unfitted model like ``model`` (a Logit, or a GLM with a family only) on the design ``exog``."""
    if type(model) is Logit:
        return Logit(model.endog, exog)
    if type(model) is not GLM:
        raise TypeError(f"`model` must be a statsmodels Logit or GLM model, got {type(model).__name__}")
    if model.offset is not None or model.exposure is not None or not (np.all(model.freq_weights == 1)
                                                                      and np.all(model.var_weights == 1)):
        raise TypeError("`model`: a GLM with an offset, exposure or weights is not supported")
    return GLM(model.endog, exog, family=model.family)


def maximum_likelihood(model: Any, *, outcome: str | None = None, names: Sequence[str] | None = None,
                       **fit_kwds: Any) -> Any:
    """``model.fit(**fit_kwds)`` of a logistic or GLM model, solved on the column-scaled design (module docstring).

    The iterations (Newton's for ``Logit``, IRLS for ``GLM``) and their stopping
    rules run on the scaled coefficients; ``start_params`` are given in the units
    of the data. The covariance is the model-based one (the inverse information).

    Parameters
    ----------
    model : statsmodels Logit, or GLM with a family only (no offset, exposure or weights)
        The unfitted model in the units of the data.
    outcome, names : str and sequence of str, optional
        As in :func:`least_squares`.
    **fit_kwds
        Passed to the scaled model's ``fit`` (``maxiter``, ``disp``, ``tol_criterion``, ...).

    Returns
    -------
    statsmodels results
        Those of ``model`` itself (``params``, ``bse``, ``cov_params()``, ``predict``, ``fittedvalues``,
        ``mle_retvals`` or ``converged``) in the units of the data.

    Raises
    ------
    TypeError
        ``model`` is not a Logit or GLM model, or a GLM with an offset, exposure or weights.
    ValueError
        As :func:`least_squares`.

    Examples
    --------
    A covariate in units of 1e-12: Newton's method on the raw design does not
    converge (after 1000 iterations its slope is 2.5, not 2e11); on the scaled
    one it does, to the slope of the covariate in units of 1 (statsmodels:
    0.19605468) times 1e12:

    >>> x = np.column_stack([np.ones(8), [1, 3, 2, 5, 4, 7, 6, 8]])
    >>> z = np.array([0, 0, 1, 0, 1, 0, 1, 1])
    >>> res = maximum_likelihood(Logit(z, x * [1, 1e-12]), disp=0)
    >>> res.mle_retvals["converged"], round(float(res.params[1]) * 1e-12, 8)
    (True, 0.19605468)
    """
    scales = _checked_scales(model, outcome, names)
    scaled = _likelihood_twin(model, model.exog / scales)
    start = fit_kwds.pop("start_params", None)
    solved = scaled.fit(start_params=None if start is None else np.asarray(start) * scales, **fit_kwds)
    _adopt_structure(model, scaled)
    params = np.asarray(solved.params) / scales
    cov = solved.normalized_cov_params / np.outer(scales, scales)
    if type(model) is GLM:
        model.mu, model.scale = scaled.mu, scaled.scale
        results = GLMResults(model, params, cov, solved.scale)
        for attribute in ("method", "mle_settings", "fit_history", "converged"):
            setattr(results, attribute, getattr(solved, attribute))
        return GLMResultsWrapper(results)
    likelihood = LikelihoodModelResults(model, params, cov, scale=1.0)
    likelihood.mle_retvals, likelihood.mle_settings = solved.mle_retvals, solved.mle_settings
    return type(solved)(type(solved._results)(model, likelihood))
