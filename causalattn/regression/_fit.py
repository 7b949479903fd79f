"""Fitting: statsmodels' OLS (solved on the column-scaled design) with the library's covariance names, and one
coefficient as an Estimate.

The least squares are :func:`causalattn._scaled_fit.least_squares`: solved on the
design with every column scaled to about 1, so that neither the answer nor the
rank depends on the units of the data (a covariate in units of 1e20 is fitted,
not refused as collinear).

A fit whose residuals are rounding noise (a constant outcome, or one the
regressors fit exactly) gets standard error 0 and no p-value, never a
"significant" ratio of two rounding errors (see :mod:`causalattn._rounding`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS, WLS

from causalattn import _scaled_fit
from causalattn._rounding import RELATIVE_TOLERANCE, zero_up_to_rounding
from causalattn.estimate import ConfidenceInterval, Estimate
from causalattn.regression._inputs import Inputs, design_matrix

# Columns beyond this magnitude (or nonzero below its inverse) are refused. The solution does not depend on the units
# (the design is scaled), but statsmodels computes the covariances in the units of the data: the robust ones from
# products such as x^2 e^2 and (e/x)^2, which at 1e50 stay within about 1e+-200 and beyond 1e77 leave floating point.
_MAX_MAGNITUDE = 1e50


def _model_iv(model: OLS) -> OLS:
    """Reject designs OLS cannot fit: too few rows, collinear columns (:func:`causalattn._scaled_fit.aliased`:
    R's rule on the column-scaled design), or magnitudes whose squared products overflow or underflow."""
    for name, column in [(model.endog_names, model.endog), *zip(model.exog_names, model.exog.T, strict=True)]:
        top = float(np.abs(column).max())
        if top > _MAX_MAGNITUDE or 0 < top < 1 / _MAX_MAGNITUDE:
            raise ValueError(
                f"column {name!r} reaches {top:.3g} in magnitude; the regression multiplies squares of such "
                f"values, which leave floating point beyond {_MAX_MAGNITUDE:.0e} (or below {1 / _MAX_MAGNITUDE:.0e}): "
                "express it in other units (rescale the column)"
            )
    n, p = model.exog.shape
    if n <= p:
        raise ValueError(f"`data` has {n} rows, need more than {p} (the number of regression coefficients)")
    j = _scaled_fit.aliased(model.wexog)
    if j is not None:
        names = [repr(name) for name in model.exog_names]
        raise ValueError(f"the design matrix is rank deficient: {_scaled_fit.collinearity(names, j)}; a covariate "
                         "is constant or collinear with the others or with the treatment")
    return model


def _fit_model(model: OLS, cov_type: str, groups: np.ndarray | None):
    """The scaled fit of ``model`` with the library's covariance names mapped to statsmodels' (validated
    beforehand)."""
    if cov_type == "classical":
        return _scaled_fit.least_squares(model)
    if cov_type == "cluster":
        return _scaled_fit.least_squares(model, cov_type="cluster", cov_kwds={"groups": groups})
    return _scaled_fit.least_squares(model, cov_type=cov_type)


def coefficient(model: OLS, term: str, inputs: Inputs, *, estimand: str, method: str,
                details: dict[str, Any], outcome_scale: float | None = None) -> Estimate:
    """The Estimate of coefficient ``term``: statsmodels' estimate, SE, interval and p-value.

    The fit is exact when its residuals are rounding noise relative to
    ``outcome_scale``, by default the largest ``|outcome|`` of the model. A
    model whose outcome is itself a residual (the partial regression of
    :func:`fwl`) passes the scale of the raw outcome: a residual of a constant
    outcome is all rounding noise, which its own scale would not reveal.
    """
    cov_type, confidence_level = inputs.cov_type, inputs.confidence_level
    fit = _fit_model(_model_iv(model), cov_type, inputs.groups)
    if cov_type in ("HC2", "HC3"):  # the leverage of the whitened design (= the design for OLS)
        leverage = np.einsum("ij,jk,ik->i", model.wexog, fit.normalized_cov_params, model.wexog)
        if leverage.max() > 1 - 1e-8:
            raise ValueError(
                f"the {cov_type} standard error is undefined: {int((leverage > 1 - 1e-8).sum())} unit(s) have "
                "leverage 1 (e.g. an arm with a single unit); choose another `cov_type` or more data"
            )
    intervals = fit.conf_int(alpha=1 - confidence_level)
    coefficients = pd.DataFrame({"estimate": fit.params, "standard_error": fit.bse, "statistic": fit.tvalues,
                                 "pvalue": fit.pvalues, "ci_low": intervals[0], "ci_high": intervals[1]})
    details = {**details, "cov_type": cov_type, "distribution": "t" if fit.use_t else "normal",
               "df_resid": float(fit.df_resid), "coefficients": coefficients, "fit": fit}
    y_scale = float(np.abs(model.endog).max()) if outcome_scale is None else outcome_scale
    if zero_up_to_rounding(float(np.abs(fit.resid).max()), y_scale):
        x_scales = pd.Series(np.abs(model.exog).max(axis=0), index=model.exog_names)
        return _exact_fit(fit, term, estimand=estimand, method=f"{method}-{cov_type}", y_scale=y_scale,
                          x_scales=x_scales, confidence_level=confidence_level, details=details)
    low, high = intervals.loc[term]
    return Estimate(
        estimand=estimand,
        estimate=float(fit.params[term]),
        standard_error=float(fit.bse[term]),
        confidence_interval=ConfidenceInterval(low, high),
        confidence_level=confidence_level,
        pvalue=float(fit.pvalues[term]),
        method=f"{method}-{cov_type}",
        n=int(fit.nobs),
        details=details,
    )


def _exact_fit(fit, term: str, *, estimand: str, method: str, y_scale: float, x_scales: pd.Series,
               confidence_level: float, details: dict[str, Any]) -> Estimate:
    """The coefficient of a fit whose residuals are zero up to rounding: standard error 0, no p-value.

    Its statsmodels standard error would be rounding noise (about 1e-17), and a
    coefficient of that size divided by it a meaningless "significant" test. A
    coefficient below the rounding tolerance (a constant outcome) is exactly 0;
    ``details["coefficients"]`` says the same of every coefficient.
    """
    params = fit.params.where(~(fit.params.abs() * x_scales <= RELATIVE_TOLERANCE * y_scale), 0.0)
    coefficients = pd.DataFrame({"estimate": params, "standard_error": 0.0, "statistic": np.nan, "pvalue": np.nan,
                                 "ci_low": params, "ci_high": params})
    value = float(params[term])
    return Estimate(
        estimand=estimand, estimate=value, standard_error=0.0, confidence_interval=ConfidenceInterval(value, value),
        confidence_level=confidence_level, pvalue=None, method=method, n=int(fit.nobs),
        details={**details, "coefficients": coefficients,
                 "note": f"the outcome is fitted exactly (residuals below {RELATIVE_TOLERANCE:g} times its "
                 "magnitude, e.g. a constant outcome): the standard error is 0 and there is no test"},
    )


def treatment_coefficient(inputs: Inputs, *, estimand: str, method: str, interacted: bool = False) -> Estimate:
    """The treatment coefficient of the OLS fit on ``(1, Z, X)``, or on ``(1, Z, X - mean, Z (X - mean))``.

    With ``inputs.weights`` the fit is statsmodels' WLS and the means are weighted means; ``method`` gains
    ``-wls`` (``"ols"`` becomes ``"wls"``).
    """
    frame, z, w = inputs.frame, inputs.treatment, inputs.weights
    regressors = frame[[z, *inputs.covariates]]
    if interacted:
        means = frame[inputs.covariates].mean() if w is None else frame[inputs.covariates].T.dot(w) / w.sum()
        centred = frame[inputs.covariates] - means
        interactions = centred.mul(frame[z], axis=0).rename(columns=lambda c: f"{z}:{c}")
        regressors = pd.concat([frame[[z]], centred, interactions], axis=1)
    design = design_matrix(regressors, list(regressors.columns))
    details = {"covariates": ", ".join(inputs.covariates) or "none"}
    if w is None:
        model = OLS(frame[inputs.outcome], design)
    else:
        model = WLS(frame[inputs.outcome], design, weights=w)
        method = "wls" if method == "ols" else f"{method}-wls"
        details["weights"] = "weighted least squares"
    return coefficient(model, z, inputs, estimand=estimand, method=method, details=details)
