"""Input plumbing of the regressions: named columns or arrays in, one validated frame out.

Two ways to pass data, the same in every function of :mod:`causalattn.regression`:

* ``data`` a DataFrame and the other arguments column names
  (``covariates`` a list of names);
* ``data=None`` and the other arguments arrays of equal length
  (``covariates`` a 1-d or 2-d array or a DataFrame). Columns are then named
  after the arguments (``"outcome"``, ``"treatment"``, ``"covariate0"``, ...)
  unless ``covariates`` is a DataFrame, whose column names are kept. Arrays
  are matched by position; pandas objects with different indexes are refused
  (align them first) rather than matched silently.

Each argument plays a *role* (outcome, treatment, covariates, ...) and
:func:`frame_iv` turns any set of roles into one frame of finite float
columns, so a further per-unit column is one more role. Weights and cluster
labels, which may be a column of ``data`` or an array beside it, have their
own checks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS, WLS

from causalattn._rounding import power_of_two_scale
from causalattn._validation import (
    as_float_array,
    check_choice,
    check_columns,
    check_confidence_level,
    check_same_index,
    check_same_length,
)

#: The covariances of the coefficients: statsmodels' names, plus "classical" (homoskedastic) and "cluster".
COV_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3", "cluster")


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


def frame_iv(data: Any, **roles: Any) -> tuple[pd.DataFrame, dict[str, list[str]]]:
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


def _binary_iv(values: np.ndarray) -> None:
    if not np.isin(values, (0.0, 1.0)).all():
        found = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise ValueError(f"`treatment` must be binary (0/1), found values {found.tolist()}")
    if values.min() == values.max():
        raise ValueError("`treatment` must have both treated (1) and control (0) units")


@dataclass(frozen=True)
class Inputs:
    """Validated input of the column-list regressions."""

    frame: pd.DataFrame
    outcome: str
    treatment: str
    covariates: list[str]
    cov_type: str
    groups: np.ndarray | None
    confidence_level: float
    weights: np.ndarray | None = None


def _weights_iv(data: Any, weights: Any, n: int) -> np.ndarray:
    """Regression weights, a column of ``data`` or an array of ``n``: finite, none negative, not all zero.

    Returned divided by a power of two near their largest value (exact): WLS's coefficients and every covariance
    (classical, HC0-HC3, cluster) do not depend on the weights' scale, but statsmodels forms products such as
    ``w x e`` whose squares underflow to 0 for weights near 1e-200 (a cluster-robust standard error of 0, p < 1e-300)
    or overflow for weights near 1e300 (a standard error of inf).
    """
    if isinstance(weights, str):
        if data is None:
            raise TypeError(f"`weights` is a column name ({weights!r}) but `data` is None; pass an array")
        check_columns(data, weights=weights)
        weights = data[weights]
    elif data is not None:
        check_same_index(data=data, weights=weights)
    values = as_float_array("weights", weights)
    check_same_length(data=np.empty(n), weights=values)
    negative = np.flatnonzero(values < 0)
    if negative.size:
        raise ValueError(f"`weights` must be non-negative, found {negative.size} negative value(s) (e.g. "
                         f"{values[negative[0]]:g} at position {negative[0]})")
    if not (values > 0).any():
        raise ValueError("`weights` are all zero: no unit is left to fit")
    return values / power_of_two_scale(values)


def _positive_weight_rows(frame: pd.DataFrame, weights: np.ndarray | None,
                          groups: np.ndarray | None) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
    """The units with a positive weight (a unit of weight 0 is left out, as R's ``lm`` does)."""
    if weights is None or (weights > 0).all():
        return frame, weights, groups
    keep = weights > 0
    return frame[keep], weights[keep], None if groups is None else pd.factorize(groups[keep])[0]


def regression_iv(
    data: Any,
    outcome: Any,
    treatment: Any,
    covariates: Any,
    cov_type: Any,
    clusters: Any,
    confidence_level: Any,
    *,
    binary_treatment: bool,
    weights: Any = None,
) -> Inputs:
    """Validate the column-list form shared by :func:`ols`, :func:`ancova`, :func:`lin` and :func:`fwl`.

    ``weights`` (a column or an array, optional) become ``Inputs.weights``; units of weight 0 are dropped.
    """
    cov_type = check_choice("cov_type", cov_type, COV_TYPES)
    level = check_confidence_level(confidence_level)
    if outcome is None:
        raise ValueError("`outcome` is required")
    if treatment is None:
        raise ValueError("`treatment` is required")
    if data is None and not isinstance(clusters, str):
        check_same_index(outcome=outcome, clusters=clusters)
    if data is None:
        check_same_index(outcome=outcome, weights=weights)
    frame, names = frame_iv(data, outcome=outcome, treatment=treatment, covariates=covariates)
    (y,), (z,) = names["outcome"], names["treatment"]
    if data is not None and isinstance(weights, str):
        for arg, cols in names.items():
            if weights in cols:
                raise ValueError(f"`weights` and `{arg}` name the same column {weights!r}; each column plays one role "
                                 "(weighting by the outcome selects on it, by the treatment drops an arm)")
    w = None if weights is None else _weights_iv(data, weights, len(frame))
    groups = _clusters_iv(data, clusters, cov_type, len(frame))
    frame, w, groups = _positive_weight_rows(frame, w, groups)
    if binary_treatment:
        _binary_iv(frame[z].to_numpy())
    return Inputs(frame, y, z, names.get("covariates", []), cov_type, groups, level, w)


def design_matrix(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """An intercept column followed by ``columns`` (named as in a formula)."""
    return pd.concat([pd.Series(1.0, index=frame.index, name="Intercept"), frame[list(columns)]], axis=1)


def formula_iv(
    data: Any,
    outcome: Any,
    treatment: Any,
    covariates: Any,
    formula: Any,
    cov_type: Any,
    clusters: Any,
    confidence_level: Any,
    weights: Any = None,
) -> tuple[OLS.from_formula, Inputs]:
    """Validate the formula form of :func:`ols` and build its model (NaN checked per column first).

    With ``weights`` (a column of ``data`` or an array) the model is statsmodels' WLS on the units of positive
    weight.
    """
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
    groups = _clusters_iv(data, clusters, cov_type, len(data))
    w = None
    if weights is not None:
        w = _weights_iv(data, weights, len(data))
        data, w, groups = _positive_weight_rows(data, w, groups)
    try:
        model = (OLS.from_formula(formula, data, missing="raise") if w is None
                 else WLS.from_formula(formula, data, weights=w, missing="raise"))
    except Exception as exc:  # patsy reports syntax errors, unknown names and NaN as its own exception types
        raise ValueError(f"`formula` could not be evaluated: {exc}") from exc
    if treatment not in model.exog_names:
        raise ValueError(f"`treatment` {treatment!r} is not a coefficient of the formula: {model.exog_names}")
    return model, Inputs(data, model.endog_names, treatment, [], cov_type, groups, level, w)
