"""Regression as association and as adjustment: OLS coefficients, ANCOVA, Lin's estimator, FWL, correlation.

Every function wraps statsmodels' OLS (and its HC0-HC3 and cluster-robust
covariances) or scipy's Pearson correlation, checks its input strictly (no
silently dropped rows, no silently ignored options) and returns the shared
:class:`~causalattn.estimate.Estimate`.

Two ways to pass data, the same in every function:

* ``data`` a DataFrame and the other arguments column names
  (``covariates`` a list of names);
* ``data=None`` and the other arguments arrays of equal length
  (``covariates`` a 1-d or 2-d array or a DataFrame). Columns are then named
  after the arguments (``"outcome"``, ``"treatment"``, ``"covariate0"``, ...)
  unless ``covariates`` is a DataFrame, whose column names are kept. Arrays
  are matched by position; pandas objects with different indexes are refused
  (align them first) rather than matched silently.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from causalattn._rounding import RELATIVE_TOLERANCE, zero_up_to_rounding
from causalattn._validation import (
    as_float_array,
    check_choice,
    check_columns,
    check_confidence_level,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import ConfidenceInterval, Estimate

__all__ = ["FWLResult", "ancova", "correlation", "fwl", "lin", "ols"]

COV_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3", "cluster")

# Estimand of the design-based regression estimators (ANCOVA, Lin).
_ATE = "average treatment effect"


# --------------------------------------------------------------------------- input checks


def _array_columns(arg: str, values: Any) -> dict[str, np.ndarray]:
    """Columns of an array argument given with ``data=None`` (1-d, 2-d, or a DataFrame for covariates)."""
    if isinstance(values, pd.DataFrame):
        return {str(c): as_float_array(arg, values[c], column=str(c)) for c in values.columns}
    arr = as_float_array(arg, values, vector=False)
    if arr.ndim == 0 or arr.ndim > 2 or (arr.ndim == 2 and arg != "covariates"):
        raise ValueError(f"`{arg}` must be a one-dimensional array, got shape {arr.shape}")
    if arr.ndim == 1:
        return {"covariate0" if arg == "covariates" else arg: arr}
    return {f"covariate{j}": arr[:, j] for j in range(arr.shape[1])}


def _frame_iv(data: Any, **roles: Any) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """The finite float columns named by ``roles`` (argument -> column name, list of names, or array).

    Returns the frame and, per argument, the list of its column names. ``None``
    roles are skipped. Every column may play one role only.
    """
    columns: dict[str, np.ndarray] = {}
    names: dict[str, list[str]] = {}
    if data is None:
        check_same_index(**roles)
        for arg, value in roles.items():
            if value is None:
                continue
            if isinstance(value, str):
                raise TypeError(f"`{arg}` is a column name ({value!r}) but `data` is None; pass `data` or an array")
            names[arg] = []
            for name, col in _array_columns(arg, value).items():
                if name in columns:
                    raise ValueError(f"`{arg}`: column name {name!r} is used twice")
                columns[name] = col
                names[arg].append(name)
        check_same_length(**{n: c for n, c in columns.items()})
        return pd.DataFrame(columns), names
    for arg, value in roles.items():
        if isinstance(value, str):
            names[arg] = [value]
        elif arg == "covariates" and isinstance(value, (list, tuple)) and all(isinstance(c, str) for c in value):
            names[arg] = list(value)
        elif value is not None:
            raise TypeError(
                f"`{arg}` must be a column name{' or a list of names' if arg == 'covariates' else ''} "
                f"when `data` is given, got {type(value).__name__}"
            )
    check_columns(data, **names)
    for arg, cols in names.items():
        for c in cols:
            if c in columns:
                raise ValueError(f"`{arg}`: column {c!r} is used twice (each column may play one role only)")
            columns[c] = as_float_array(arg, data[c], column=c)
    return pd.DataFrame(columns, index=data.index), names


def _clusters_iv(data: Any, clusters: Any, cov_type: str, n: int) -> np.ndarray | None:
    """Integer cluster codes for ``cov_type="cluster"``; errors if missing, unused, or degenerate."""
    if cov_type != "cluster":
        if clusters is not None:
            raise ValueError(f"`clusters` is only used with `cov_type`='cluster', got `cov_type`={cov_type!r}")
        return None
    if clusters is None:
        raise ValueError("`clusters` is required when `cov_type`='cluster'")
    if isinstance(clusters, str):
        if data is None:
            raise TypeError(f"`clusters` is a column name ({clusters!r}) but `data` is None; pass an array")
        check_columns(data, clusters=clusters)
        labels = data[clusters]
    else:
        labels = np.asarray(clusters)
        if labels.shape != (n,):
            raise ValueError(f"`clusters` must have one label per unit, shape ({n},), got shape {labels.shape}")
        labels = pd.Series(labels)
    if labels.isna().any():
        raise ValueError(f"`clusters` has {int(labels.isna().sum())} missing label(s)")
    codes, uniques = pd.factorize(labels)
    if len(uniques) < 2:
        raise ValueError(f"`clusters` must have at least 2 distinct clusters, got {len(uniques)}")
    return codes


# Columns beyond this magnitude (or nonzero below its inverse) overflow (underflow) the products of the covariances.
_MAX_MAGNITUDE = 1e50


def _model_iv(model: sm.OLS) -> sm.OLS:
    """Reject designs OLS cannot fit: too few rows, collinear columns (statsmodels would use a
    pseudo-inverse), or magnitudes whose squared products overflow or underflow."""
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
    rank = np.linalg.matrix_rank(model.exog)
    if rank < p:
        raise ValueError(
            f"the design matrix is rank deficient (rank {rank} < {p} columns {model.exog_names}): "
            "a covariate is constant or collinear with the others or with the treatment"
        )
    return model


def _binary_iv(values: np.ndarray) -> None:
    if not np.isin(values, (0.0, 1.0)).all():
        found = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise ValueError(f"`treatment` must be binary (0/1), found values {found.tolist()}")
    if values.min() == values.max():
        raise ValueError("`treatment` must have both treated (1) and control (0) units")


@dataclass(frozen=True)
class _Inputs:
    """Validated input of the column-list regressions."""

    frame: pd.DataFrame
    outcome: str
    treatment: str
    covariates: list[str]
    cov_type: str
    groups: np.ndarray | None
    confidence_level: float


def _regression_iv(
    data: Any,
    outcome: Any,
    treatment: Any,
    covariates: Any,
    cov_type: Any,
    clusters: Any,
    confidence_level: Any,
    *,
    binary_treatment: bool,
) -> _Inputs:
    """Validate the column-list form shared by :func:`ols`, :func:`ancova`, :func:`lin` and :func:`fwl`."""
    cov_type = check_choice("cov_type", cov_type, COV_TYPES)
    level = check_confidence_level(confidence_level)
    if outcome is None:
        raise ValueError("`outcome` is required")
    if treatment is None:
        raise ValueError("`treatment` is required")
    if data is None and not isinstance(clusters, str):
        check_same_index(outcome=outcome, clusters=clusters)
    frame, names = _frame_iv(data, outcome=outcome, treatment=treatment, covariates=covariates)
    (y,), (z,) = names["outcome"], names["treatment"]
    if binary_treatment:
        _binary_iv(frame[z].to_numpy())
    groups = _clusters_iv(data, clusters, cov_type, len(frame))
    return _Inputs(frame, y, z, names.get("covariates", []), cov_type, groups, level)


def _design(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """An intercept column followed by ``columns`` (named as in a formula)."""
    return pd.concat([pd.Series(1.0, index=frame.index, name="Intercept"), frame[list(columns)]], axis=1)


# --------------------------------------------------------------------------- fitting


def _fit(model: sm.OLS, cov_type: str, groups: np.ndarray | None):
    """``model.fit`` with the library's covariance names mapped to statsmodels' (validated beforehand)."""
    if cov_type == "classical":
        return model.fit()
    if cov_type == "cluster":
        return model.fit(cov_type="cluster", cov_kwds={"groups": groups})
    return model.fit(cov_type=cov_type)


def _coefficient(model: sm.OLS, term: str, inputs: _Inputs, *, estimand: str, method: str,
                 details: dict[str, Any], outcome_scale: float | None = None) -> Estimate:
    """The Estimate of coefficient ``term``: statsmodels' estimate, SE, interval and p-value.

    The fit is exact when its residuals are rounding noise relative to
    ``outcome_scale``, by default the largest ``|outcome|`` of the model. A
    model whose outcome is itself a residual (the partial regression of
    :func:`fwl`) passes the scale of the raw outcome: a residual of a constant
    outcome is all rounding noise, which its own scale would not reveal.
    """
    cov_type, confidence_level = inputs.cov_type, inputs.confidence_level
    fit = _fit(_model_iv(model), cov_type, inputs.groups)
    if cov_type in ("HC2", "HC3"):
        leverage = np.einsum("ij,jk,ik->i", model.exog, fit.normalized_cov_params, model.exog)
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


def _treatment_coefficient(inputs: _Inputs, *, estimand: str, method: str, interacted: bool = False) -> Estimate:
    """The treatment coefficient of the OLS fit on ``(1, Z, X)``, or on ``(1, Z, X - mean, Z (X - mean))``."""
    frame, z = inputs.frame, inputs.treatment
    regressors = frame[[z, *inputs.covariates]]
    if interacted:
        centred = frame[inputs.covariates] - frame[inputs.covariates].mean()
        interactions = centred.mul(frame[z], axis=0).rename(columns=lambda c: f"{z}:{c}")
        regressors = pd.concat([frame[[z]], centred, interactions], axis=1)
    model = sm.OLS(frame[inputs.outcome], _design(regressors, list(regressors.columns)))
    return _coefficient(model, z, inputs, estimand=estimand, method=method,
                        details={"covariates": ", ".join(inputs.covariates) or "none"})


# --------------------------------------------------------------------------- public functions


def ols(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    formula: str | None = None,
    cov_type: str = "HC2",
    clusters: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""The OLS coefficient of ``treatment`` in the regression of ``outcome`` on it (and covariates).

    Fits :math:`Y_i = \alpha + \tau Z_i + \beta^\top X_i + \varepsilon_i` with
    :class:`statsmodels.regression.linear_model.OLS` and reports
    :math:`\hat\tau` with the chosen covariance estimate of
    :math:`(\mathbf{X}^\top\mathbf{X})^{-1}\mathbf{X}^\top\Omega\mathbf{X}(\mathbf{X}^\top\mathbf{X})^{-1}`:
    ``"classical"`` (homoskedastic, :math:`\hat\sigma^2(\mathbf{X}^\top\mathbf{X})^{-1}`),
    Eicker-Huber-White ``"HC0"`` (:math:`\Omega = \mathrm{diag}(e_i^2)`),
    ``"HC1"`` (HC0 times :math:`n/(n-p)`), ``"HC2"`` (:math:`e_i^2/(1-h_{ii})`),
    ``"HC3"`` (:math:`e_i^2/(1-h_{ii})^2`), or ``"cluster"`` (Liang-Zeger
    with statsmodels' small-sample factor :math:`\frac{G}{G-1}\frac{n-1}{n-p}`).

    Intervals and p-values are statsmodels': Student-t with :math:`n-p`
    degrees of freedom for ``"classical"`` (as R's ``lm``), normal for the
    robust covariances. Without a design-based argument (randomization), the
    coefficient is a measure of association, not a causal effect (Ding 1.2.1).

    **Default covariance.** ``"HC2"``, the same default as :func:`ancova` and
    :func:`lin`: Ding (2024, ch. 4 and 6, and the appendix on linear
    regression) recommends the EHW covariance because it stays valid when the
    linear model is wrong or the errors are heteroskedastic, and HC2 because
    it reproduces Neyman's variance for the difference in means. R's ``lm``
    and statsmodels' ``OLS`` default to the homoskedastic ``"classical"``
    standard error, which Ding's chapter 1 prints for cps1re74: pass
    ``cov_type="classical"`` to reproduce ``summary(lm(...))``.

    Parameters
    ----------
    data : DataFrame or None
        The units. ``None`` to pass arrays (see the module docstring).
    outcome, treatment : str or array_like
        Outcome and treatment columns. ``treatment`` need not be binary. With
        ``formula``, ``treatment`` names the coefficient to report (a term of
        the formula, e.g. ``"treat"`` or ``"C(group)[T.b]"``).
    covariates : list of str or array_like, optional
        Further regressors; ``None`` for the simple regression.
    formula : str, optional
        A statsmodels (patsy) formula such as ``"re78 ~ treat + age + I(age**2)"``,
        instead of ``outcome`` and ``covariates``; requires a DataFrame.
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "cluster"}
        Covariance of the coefficients.
    clusters : str or array_like, optional
        Cluster labels (a column of ``data`` or an array), required for and only
        allowed with ``cov_type="cluster"``.
    confidence_level : float
        Coverage of the interval.

    Returns
    -------
    Estimate
        ``method`` is ``"ols-<cov_type>"``. ``details["coefficients"]`` is
        the table of all coefficients (a DataFrame indexed by term, with
        columns ``estimate``, ``standard_error``, ``statistic``, ``pvalue``,
        ``ci_low``, ``ci_high``; ``statistic`` is the t statistic for
        ``"classical"`` and the z statistic for the robust covariances, see
        ``details["distribution"]``); ``details["fit"]`` holds the fitted
        statsmodels results (residuals, ``summary()``).

    Raises
    ------
    ValueError
        A missing column, NaN or infinite values in a used column (rows are
        never dropped), too few rows, a rank-deficient design (a treatment
        absorbed by the covariates), a column beyond 1e50 in magnitude, an
        unknown ``cov_type``, HC2/HC3 with a unit of leverage 1, or pandas
        arrays with different indexes.

    Notes
    -----
    When the residuals are zero up to rounding (at most 1e-12 times the
    outcome's magnitude: a constant outcome, or an outcome the regressors fit
    exactly), the standard errors statsmodels computes are rounding noise;
    the coefficient is then reported with standard error 0, a point interval
    and no p-value (and as exactly 0 for a constant outcome).
    TypeError
        A non-numeric column, or column names where arrays are expected.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 1.2.1 and the
    appendix on linear regression (OLS and the EHW covariances). CRC Press.

    White, H. (1980). A heteroskedasticity-consistent covariance matrix
    estimator and a direct test for heteroskedasticity. *Econometrica* 48, 817-838.

    Examples
    --------
    >>> import numpy as np, causalattn
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(0, 2, 200); y = 1.0 + 2.0 * z + rng.normal(size=200)
    >>> est = causalattn.ols(outcome=y, treatment=z)
    >>> round(est.estimate, 2), est.method
    (2.01, 'ols-HC2')
    >>> est.details["coefficients"].round(2)[["estimate", "standard_error", "statistic"]]
               estimate  standard_error  statistic
    Intercept      0.89            0.12       7.51
    treatment      2.01            0.15      13.29
    """
    if formula is None:
        inputs = _regression_iv(data, outcome, treatment, covariates, cov_type, clusters, confidence_level,
                                binary_treatment=False)
        return _treatment_coefficient(inputs, estimand=f"OLS coefficient of {inputs.treatment}", method="ols")
    model, inputs = _formula_iv(data, outcome, treatment, covariates, formula, cov_type, clusters, confidence_level)
    return _coefficient(model, treatment, inputs, estimand=f"OLS coefficient of {treatment}", method="ols",
                        details={"formula": formula})


def _formula_iv(
    data: Any,
    outcome: Any,
    treatment: Any,
    covariates: Any,
    formula: Any,
    cov_type: Any,
    clusters: Any,
    confidence_level: Any,
) -> tuple[sm.OLS, _Inputs]:
    """Validate the formula form of :func:`ols` and build its model (NaN checked per column first)."""
    if not isinstance(formula, str):
        raise TypeError(f"`formula` must be a string, got {type(formula).__name__}")
    if outcome is not None or covariates is not None:
        raise ValueError("give either `formula` or `outcome`/`covariates`, not both")
    if not isinstance(treatment, str):
        raise TypeError("`treatment` must name a coefficient of the formula (a string) when `formula` is given")
    cov_type = check_choice("cov_type", cov_type, COV_TYPES)
    level = check_confidence_level(confidence_level)
    check_columns(data)
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", formula)) | set(re.findall(r"[\"']([^\"']+)[\"']", formula))
    for col in data.columns:
        if col not in tokens:
            continue
        if pd.api.types.is_numeric_dtype(data[col]):
            as_float_array("formula", data[col], column=col)
        elif data[col].isna().any():
            raise ValueError(f"`formula`: column {col!r} has {int(data[col].isna().sum())} missing value(s)")
    try:
        model = smf.ols(formula, data, missing="raise")
    except Exception as exc:  # patsy reports syntax errors, unknown names and NaN as its own exception types
        raise ValueError(f"`formula` could not be evaluated: {exc}") from exc
    if treatment not in model.exog_names:
        raise ValueError(f"`treatment` {treatment!r} is not a coefficient of the formula: {model.exog_names}")
    groups = _clusters_iv(data, clusters, cov_type, int(model.nobs))
    return model, _Inputs(data, model.endog_names, treatment, [], cov_type, groups, level)


def ancova(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC2",
    clusters: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Fisher's ANCOVA estimator of the average treatment effect in a randomized experiment.

    The coefficient :math:`\hat\tau_F` of the binary treatment in the OLS fit
    of :math:`Y_i` on :math:`(1, Z_i, X_i)`. Under complete randomization it is
    consistent for the average treatment effect, and its EHW standard error
    (``"HC2"`` by default) is consistent or asymptotically conservative (Lin
    2013), although the estimator itself may be less precise than the
    difference in means (Freedman 2008). Without covariates it is the
    difference in means, and its HC2 standard error is Neyman's.

    Parameters are those of :func:`ols` (without ``formula``); ``treatment``
    must be 0/1 with both arms present.

    Returns
    -------
    Estimate
        ``method`` is ``"ancova-<cov_type>"``; ``details["fit"]`` is the
        statsmodels results object.

    References
    ----------
    Freedman, D. A. (2008). On regression adjustments to experimental data.
    *Advances in Applied Mathematics* 40, 180-193.

    Lin, W. (2013). Agnostic notes on regression adjustments to experimental
    data: reexamining Freedman's critique. *Annals of Applied Statistics* 7, 295-318.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 6 (regression
    adjustment). CRC Press.
    """
    inputs = _regression_iv(data, outcome, treatment, covariates, cov_type, clusters, confidence_level,
                            binary_treatment=True)
    return _treatment_coefficient(inputs, estimand=_ATE, method="ancova")


def lin(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC2",
    clusters: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Lin's (2013) fully interacted regression estimator of the average treatment effect.

    With covariates centred at their sample means, :math:`\tilde X_i = X_i - \bar X`,
    the coefficient :math:`\hat\tau_L` of :math:`Z_i` in the OLS fit of
    :math:`Y_i` on :math:`(1, Z_i, \tilde X_i, Z_i\tilde X_i)`. Equivalently,
    :math:`\hat\tau_L = n^{-1}\sum_i \{\hat\mu_1(X_i) - \hat\mu_0(X_i)\}`, the
    mean of the imputed differences from separate OLS fits in each arm. Under
    complete randomization it is never asymptotically less efficient than
    the difference in means or Fisher's ANCOVA, and its EHW (``"HC2"``)
    standard error is a conservative Neyman-type standard error. Without
    covariates it is the difference in means.

    Parameters are those of :func:`ancova`.

    Returns
    -------
    Estimate
        ``method`` is ``"lin-<cov_type>"``; ``details["fit"]`` is the
        statsmodels results object (interaction terms are named
        ``"<treatment>:<covariate>"``).

    References
    ----------
    Lin, W. (2013). Agnostic notes on regression adjustments to experimental
    data: reexamining Freedman's critique. *Annals of Applied Statistics* 7, 295-318.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 6 (regression
    adjustment). CRC Press.
    """
    inputs = _regression_iv(data, outcome, treatment, covariates, cov_type, clusters, confidence_level,
                            binary_treatment=True)
    return _treatment_coefficient(inputs, estimand=_ATE, method="lin", interacted=True)


@dataclass(frozen=True, repr=False)
class FWLResult:
    """The two equal coefficients of the Frisch-Waugh-Lovell theorem.

    Attributes
    ----------
    full : Estimate
        Coefficient of the treatment in the regression of the outcome on
        ``(1, treatment, covariates)``.
    partial : Estimate
        Slope of the outcome residuals on the treatment residuals, both
        residualized on ``(1, covariates)``.
    """

    full: Estimate
    partial: Estimate

    @property
    def difference(self) -> float:
        """``partial.estimate - full.estimate`` (zero up to rounding)."""
        return self.partial.estimate - self.full.estimate

    def __repr__(self) -> str:
        return (
            f"FWLResult(full = {self.full.estimate:.6g} (SE {self.full.standard_error:.4g}), "
            f"partial = {self.partial.estimate:.6g} (SE {self.partial.standard_error:.4g}), "
            f"difference = {self.difference:.2g}; {self.full.details['cov_type']})"
        )


def fwl(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC0",
    confidence_level: float = 0.95,
) -> FWLResult:
    r"""Demonstrate the Frisch-Waugh-Lovell theorem: partialling out covariates leaves the coefficient unchanged.

    Let :math:`\tilde Y` and :math:`\tilde Z` be the residuals of the OLS fits
    of :math:`Y` and :math:`Z` on :math:`(1, X)`. The coefficient of
    :math:`Z` in the regression of :math:`Y` on :math:`(1, Z, X)` equals
    :math:`\sum_i \tilde Z_i\tilde Y_i / \sum_i \tilde Z_i^2`, the slope of
    :math:`\tilde Y` on :math:`\tilde Z`. The residuals of the two regressions
    coincide, so with ``cov_type="HC0"`` the standard errors agree too; other
    covariances differ by their degrees-of-freedom or leverage corrections.
    That exact equality is what this function demonstrates, so its default
    is ``"HC0"``, not the ``"HC2"`` of :func:`ols`, :func:`ancova` and :func:`lin`.

    As in :func:`ols`, an outcome fitted exactly (residuals below
    ``RELATIVE_TOLERANCE`` times the largest ``|outcome|``, e.g. a constant
    outcome) gives both coefficients standard error 0, a point interval and no
    p-value; coefficients of rounding size are reported as exactly 0. Both
    regressions have the same residuals, so both rows are exact or neither is.

    Parameters
    ----------
    data, outcome, treatment, covariates
        As in :func:`ols`; ``covariates=None`` partials out the intercept only
        (centring).
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3"}
        Covariance used for both standard errors.
    confidence_level : float
        Coverage of the intervals.

    Returns
    -------
    FWLResult
        ``full`` and ``partial`` Estimates; ``difference`` is their gap.

    References
    ----------
    Frisch, R. and Waugh, F. V. (1933). Partial time regressions as compared
    with individual trends. *Econometrica* 1, 387-401.

    Lovell, M. C. (1963). Seasonal adjustment of economic time series and
    multiple regression analysis. *JASA* 58, 993-1010.

    Ding, P. (2024). *A First Course in Causal Inference*, appendix on linear
    regression (the FWL theorem). CRC Press.

    Examples
    --------
    >>> import numpy as np, causalattn
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=100); z = x + rng.normal(size=100); y = z - x + rng.normal(size=100)
    >>> res = causalattn.fwl(outcome=y, treatment=z, covariates=x)
    >>> abs(res.difference) < 1e-10
    True
    """
    check_choice("cov_type", cov_type, COV_TYPES[:-1])
    inputs = _regression_iv(data, outcome, treatment, covariates, cov_type, None, confidence_level,
                            binary_treatment=False)
    frame, y, z = inputs.frame, inputs.outcome, inputs.treatment
    full = _treatment_coefficient(inputs, estimand=f"OLS coefficient of {z}", method="ols")
    controls = _design(frame, inputs.covariates)
    residuals = pd.DataFrame({
        y: sm.OLS(frame[y], controls).fit().resid,
        z: sm.OLS(frame[z], controls).fit().resid,
    })
    partial = _coefficient(sm.OLS(residuals[y], residuals[[z]]), z, inputs, estimand=f"residual slope of {z}",
                           method="fwl-partial", details={"covariates": full.details["covariates"]},
                           outcome_scale=float(frame[y].abs().max()))
    return FWLResult(full=full, partial=partial)


def correlation(
    data: pd.DataFrame | None = None,
    x: Any = None,
    y: Any = None,
    *,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Pearson's correlation coefficient with a Fisher-z confidence interval.

    :math:`r = \sum_i (x_i-\bar x)(y_i-\bar y) / \{\sum_i (x_i-\bar x)^2 \sum_i (y_i-\bar y)^2\}^{1/2}`.
    The interval is :math:`\tanh\{\operatorname{artanh}(r) \pm z_{1-\alpha/2}/\sqrt{n-3}\}`
    and the p-value is the exact test of zero correlation for bivariate normal
    data, :math:`t = r\sqrt{(n-2)/(1-r^2)}` on :math:`n-2` degrees of freedom,
    both from :func:`scipy.stats.pearsonr`. ``standard_error`` is ``None``
    (the interval is not symmetric); ``details`` holds ``fisher_z`` and its
    standard error :math:`1/\sqrt{n-3}`.

    Parameters
    ----------
    data : DataFrame or None
        The units, or ``None`` to pass arrays.
    x, y : str or array_like
        The two variables (columns of ``data`` or arrays).
    confidence_level : float
        Coverage of the interval.

    Returns
    -------
    Estimate

    References
    ----------
    Fisher, R. A. (1921). On the "probable error" of a coefficient of
    correlation deduced from a small sample. *Metron* 1, 3-32.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 1.2.1. CRC Press.

    Examples
    --------
    >>> import causalattn
    >>> est = causalattn.correlation(x=[1, 2, 3, 4, 5], y=[2, 1, 4, 3, 5])
    >>> round(est.estimate, 2)
    0.8
    """
    level = check_confidence_level(confidence_level)
    if x is None or y is None:
        raise ValueError("`x` and `y` are both required")
    frame, names = _frame_iv(data, x=x, y=y)
    n = len(frame)
    if n < 4:
        raise ValueError(f"`data` has {n} rows; the Fisher-z interval needs at least 4")
    (xname,), (yname,) = names["x"], names["y"]
    for arg, col in (("x", xname), ("y", yname)):
        if frame[col].min() == frame[col].max():
            raise ValueError(f"`{arg}` is constant, its correlation is undefined")
    result = stats.pearsonr(frame[xname], frame[yname])
    ci = result.confidence_interval(confidence_level=level)
    return Estimate(
        estimand=f"correlation of {xname} and {yname}",
        estimate=float(result.statistic),
        standard_error=None,
        confidence_interval=ConfidenceInterval(ci.low, ci.high),
        confidence_level=level,
        pvalue=float(result.pvalue),
        method="pearson-fisher-z",
        n=n,
        details={"fisher_z": float(np.arctanh(result.statistic)), "fisher_z_standard_error": 1 / np.sqrt(n - 3)},
    )
