r"""Input checks shared by the observational estimators: the units' outcome, treatment and covariates.

Two ways to pass data, the same in every function of :mod:`causalattn.observational`:

* ``data`` a DataFrame and ``outcome``, ``treatment`` column names,
  ``covariates`` a list of column names;
* ``data=None`` and arrays of equal length (``covariates`` 1-d, 2-d or a
  DataFrame). Values are matched by position: pandas arguments must share
  one index (a Series whose index differs from another argument's is
  refused, never aligned or paired silently).

Covariates must be numeric and finite: a categorical or string column must be
encoded first (e.g. with :func:`pandas.get_dummies`), and rows with missing
values are never dropped silently.

The estimators' intervals are large-sample normal ones. Each refuses fewer
than 2 units in an arm (no variance can be estimated) and issues a
:class:`SmallSampleWarning` when an arm has fewer than
:data:`MIN_EFFECTIVE_UNITS` effective units (Kish's
:math:`(\sum_i w_i)^2 / \sum_i w_i^2` for weights, the count of units
otherwise) or one unit carries more than :data:`MAX_WEIGHT_SHARE` of its arm's
weight; ``details["asymptotics"]`` says what the interval relies on and
what the data gave.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causalattn._validation import (
    as_float_array,
    check_choice,
    check_columns,
    check_not_constant,
    check_positive_int,
    check_resamples,
    check_same_index,
)

ESTIMANDS = ("ATE", "ATT")
#: Fewest effective units per arm (or group) for which a normal interval is given without a SmallSampleWarning;
#: the coverage this buys is measured in benchmarks/README.md ("Observational estimators with few units").
MIN_EFFECTIVE_UNITS = 20
#: Largest share of its arm's total weight that one unit may carry without a SmallSampleWarning.
MAX_WEIGHT_SHARE = 0.1


#: Values beyond this magnitude, or spread over less than MIN_SPREAD, are refused: their squares (variances) would
#: overflow or underflow double precision.
MAX_MAGNITUDE = 1e150
MIN_SPREAD = 1e-150


class SmallSampleWarning(UserWarning):
    """Too few (effective) units per arm, or one dominant weight: the large-sample normal interval may undercover."""


@dataclass(frozen=True)
class Units:
    """Validated units: outcome (or ``None``), 0/1 treatment, covariate matrix and names."""

    y: np.ndarray | None
    z: np.ndarray
    x: np.ndarray
    names: list[str]
    outcome: str
    treatment: str

    @property
    def n(self) -> int:
        return len(self.z)

    def subset(self, rows: np.ndarray) -> Units:
        """The units at positions (or boolean mask) ``rows``."""
        return Units(None if self.y is None else self.y[rows], self.z[rows], self.x[rows], self.names,
                     self.outcome, self.treatment)


def binary_treatment(values: np.ndarray) -> np.ndarray:
    """0/1 int treatment with both arms present."""
    if not np.isin(values, (0.0, 1.0)).all():
        found = np.unique(values[~np.isin(values, (0.0, 1.0))])[:5]
        raise ValueError(f"`treatment` must be binary (0/1), found values {found.tolist()}")
    if values.min() == values.max():
        raise ValueError("`treatment` must have both treated (1) and control (0) units")
    return values.astype(int)


def _column(data: Any, arg: str, value: Any) -> tuple[str, np.ndarray]:
    if data is None:
        if isinstance(value, str):
            raise TypeError(f"`{arg}` is a column name ({value!r}) but `data` is None; pass `data` or an array")
        arr = as_float_array(arg, value)
        return (str(value.name) if isinstance(value, pd.Series) and value.name is not None else arg), arr
    if not isinstance(value, str):
        raise TypeError(f"`{arg}` must be a column name when `data` is given, got {type(value).__name__}")
    check_columns(data, **{arg: value})
    return value, as_float_array(arg, data[value], column=value)


def _covariates(data: Any, covariates: Any, n: int) -> tuple[np.ndarray, list[str]]:
    if covariates is None:
        return np.empty((n, 0)), []
    if data is not None:
        if isinstance(covariates, str):
            covariates = [covariates]
        if not isinstance(covariates, (list, tuple)) or not all(isinstance(c, str) for c in covariates):
            raise TypeError("`covariates` must be a list of column names when `data` is given")
        check_columns(data, covariates=list(covariates))
        if len(set(covariates)) != len(covariates):
            raise ValueError(f"`covariates` lists a column twice: {list(covariates)}")
        columns = [as_float_array("covariates", data[c], column=c) for c in covariates]
        return np.column_stack(columns) if columns else np.empty((n, 0)), list(covariates)
    if isinstance(covariates, pd.DataFrame):
        columns = [as_float_array("covariates", covariates[c], column=str(c)) for c in covariates.columns]
        return np.column_stack(columns), [str(c) for c in covariates.columns]
    x = as_float_array("covariates", covariates, vector=False)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"`covariates` must be a 1-d or 2-d array, got shape {x.shape}")
    return x, [f"covariate{j}" for j in range(x.shape[1])]


# Why a column may not play two roles: (role, other role) -> the reason.
_SAME_COLUMN = {
    ("instrument", "treatment"): "every unit takes the treatment it is assigned, so there is no instrument, only a "
                                 "treatment (for a randomized one use causalattn.neyman)",
    ("instrument", "outcome"): "the outcome cannot instrument the treatment",
    ("instruments", "treatment"): "the treatment cannot instrument itself (2SLS would be OLS)",
    ("instruments", "outcome"): "the outcome cannot instrument the treatment",
    ("instruments", "covariates"): "an excluded instrument cannot also be a covariate of the outcome equation",
    ("covariates", "treatment"): "the treatment cannot adjust for itself; drop it from `covariates`",
    ("covariates", "outcome"): "the outcome cannot adjust for itself; drop it from `covariates`",
}


def distinct_roles(roles: dict[str, dict[str, np.ndarray]]) -> None:
    """Refuse a column that plays two roles: the same values under two arguments (``roles``: role -> name -> values).

    With ``data`` the names are its columns; with arrays a copy passed twice is
    caught by its values. Every estimator checks its outcome, treatment and
    covariates (:func:`units_iv`); the IV estimators their instruments too.
    """
    for (role, other), reason in _SAME_COLUMN.items():
        for name, values in roles.get(role, {}).items():
            for other_name, other_values in roles.get(other, {}).items():
                if np.array_equal(values, other_values):
                    raise ValueError(f"{_label(role, name)} has the same values as {_label(other, other_name)}: "
                                     f"{reason}")


def _label(role: str, name: str) -> str:
    """```role``` for an array argument, ```role` column 'name'`` for a named column."""
    return f"`{role}`" if name == role else f"`{role}` column {name!r}"


def units_iv(data: Any, outcome: Any, treatment: Any, covariates: Any, *, need_outcome: bool = True,
             need_covariates: bool = True, others: dict[str, Any] | None = None) -> Units:
    """Validate ``data``, ``outcome``, ``treatment``, ``covariates`` into :class:`Units`.

    ``others`` names further per-unit arguments (``{"propensity": values}``) whose
    pandas index, like those of the arrays (or of ``data``), must be the same.
    """
    if data is not None and not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame or None, got {type(data).__name__}")
    arrays = {"data": data} if data is not None else {"outcome": outcome, "treatment": treatment,
                                                      "covariates": covariates}
    check_same_index(**arrays, **(others or {}))
    if treatment is None:
        raise ValueError("`treatment` is required")
    tname, z = _column(data, "treatment", treatment)
    z = binary_treatment(z)
    yname, y = ("", None)
    if need_outcome:
        if outcome is None:
            raise ValueError("`outcome` is required")
        yname, y = _column(data, "outcome", outcome)
    if need_covariates and covariates is None:
        raise ValueError("`covariates` is required (a list of columns, or an array)")
    x, names = _covariates(data, covariates, len(z))
    if need_covariates and x.shape[1] == 0:
        raise ValueError("`covariates` must hold at least one covariate")
    lengths = {"treatment": len(z), "covariates": len(x), **({"outcome": len(y)} if y is not None else {})}
    if len(set(lengths.values())) > 1:
        raise ValueError("arguments must have the same length: " + ", ".join(f"`{k}` has {v}" for k, v in
                                                                             lengths.items()))
    if y is not None:
        check_scale("outcome", y, constant=False)
    check_scale("covariates", x)
    distinct_roles({"covariates": dict(zip(names, x.T, strict=True)), "treatment": {tname: z},
                    **({"outcome": {yname: y}} if y is not None else {})})
    return Units(y, z, x, names, yname, tname)


def check_scale(name: str, values: np.ndarray, *, constant: bool = True) -> None:
    """Refuse values whose squares overflow or whose spread underflows double precision; and, unless ``constant``,
    values that are all equal (every estimate would be rounding noise around 0)."""
    if values.size == 0:
        return
    largest, spreads = float(np.max(np.abs(values))), np.ptp(values, axis=0)
    if largest > MAX_MAGNITUDE:
        raise ValueError(f"`{name}` reaches {largest:.3g}: its squares overflow double precision (limit "
                         f"{MAX_MAGNITUDE:.0e}); rescale it (and scale the estimate back)")
    tiny = spreads[(spreads > 0) & (spreads < MIN_SPREAD)]
    if tiny.size:
        raise ValueError(f"`{name}` spreads over only {float(tiny[0]):.3g}: its squares underflow double precision "
                         f"(limit {MIN_SPREAD:.0e}); rescale it (and scale the estimate back)")
    if not constant:
        check_not_constant(f"`{name}`", values)


def estimand_iv(estimand: Any) -> str:
    """``"ATE"`` or ``"ATT"``."""
    return check_choice("estimand", estimand, ESTIMANDS)


def propensity_values(values: Any, n: int) -> np.ndarray:
    """Given propensity scores: n finite values strictly between 0 and 1."""
    e = as_float_array("propensity", values, vector=False)
    if e.shape != (n,):
        raise ValueError(f"`propensity` must have one score per unit, shape ({n},), got shape {e.shape}")
    return strictly_inside(e, "`propensity` must be strictly between 0 and 1, found {count} value(s) equal to 0 or 1 "
                              "(or outside [0, 1]): those units have no overlap; trim them first")


def strictly_inside(e: np.ndarray, message: str) -> np.ndarray:
    """``e`` if every score is strictly between 0 and 1; else a ValueError, ``message`` formatted with ``count``."""
    at_bound = (e <= 0) | (e >= 1)
    if at_bound.any():
        raise ValueError(message.format(count=int(at_bound.sum())))
    return e


def resamples_iv(n_resamples: Any, standard_error: str, level: float) -> int:
    """``n_resamples``: a positive integer, and with ``standard_error="bootstrap"`` at least
    :func:`~causalattn._validation.minimum_resamples` (40 at 95%), as the bootstrap's percentile interval is reported
    beside its standard error."""
    if standard_error == "bootstrap":
        return check_resamples("n_resamples", n_resamples, level)
    return check_positive_int("n_resamples", n_resamples)


def learner_iv(arg: str, model: Any, kind: str, method: str, example: str) -> Any:
    """``None`` (the default model) or an unfitted scikit-learn ``kind`` instance with ``fit`` and ``method``."""
    if model is None:
        return None
    if isinstance(model, type):
        raise TypeError(f"`{arg}` must be an estimator instance, e.g. {model.__name__}(), not the class")
    if not (hasattr(model, "fit") and hasattr(model, method)):
        raise TypeError(f"`{arg}` must be a scikit-learn {kind} with `fit` and `{method}` (e.g. {example}), "
                        f"got {type(model).__name__}")
    return model


_FAILED_REPLICATES = ("an empty arm, a score of 0 or 1, or a score model that cannot be fitted to the resample; use "
                      "more units per arm or trim")


def bootstrap(n: int, statistic: Callable[[np.ndarray], float], n_resamples: int, level: float,
              rng: np.random.Generator, why: str = _FAILED_REPLICATES) -> tuple[float, tuple[float, float]]:
    """scipy's bootstrap over the ``n`` units: the standard error and the percentile interval of ``statistic(rows)``.

    ``statistic`` refits everything on the resampled rows; a replicate it cannot
    compute (NaN) is an error, never silently dropped (``why`` says what may cause it).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # failed replicates: reported below
        result = stats.bootstrap((np.arange(n),), statistic, n_resamples=n_resamples, vectorized=False,
                                 method="percentile", confidence_level=level, rng=rng)
    failed = int((~np.isfinite(result.bootstrap_distribution)).sum())
    if failed:
        raise ValueError(f"{failed} of {n_resamples} bootstrap replicate(s) could not be computed ({why})")
    low, high = result.confidence_interval
    return float(result.standard_error), (float(low), float(high))


def check_arms(z: np.ndarray, estimator: str, *, minimum: int = 2, arg: str = "treatment") -> None:
    """Refuse fewer than ``minimum`` units in an arm of the 0/1 ``z``: ``estimator`` cannot estimate a variance."""
    for arm, count in (("treated (1)", int(z.sum())), ("control (0)", int(len(z) - z.sum()))):
        if count < minimum:
            raise ValueError(f"`{arg}` has {count} {arm} unit(s): {estimator} needs at least {minimum} in each arm "
                             "(a variance needs two units)")


def weight_diagnostics(w: np.ndarray, z: np.ndarray) -> dict[str, float]:
    """Per arm, the largest weight's share of the arm's total and Kish's effective sample size."""
    out = {}
    for arm, mask in (("treated", z == 1), ("control", z == 0)):
        wa = w[mask]
        out[f"max_weight_share_{arm}"] = float(wa.max() / wa.sum())
        out[f"effective_n_{arm}"] = float(wa.sum() ** 2 / (wa**2).sum())
    return out


def weighted_asymptotics(estimator: str, w: np.ndarray, z: np.ndarray, advice: str) -> dict[str, Any]:
    """:func:`weight_diagnostics` of the weights ``w`` and the :func:`asymptotics` note they give (``"asymptotics"``),
    warning as that function does."""
    diagnostics = weight_diagnostics(w, z)
    arms = ("treated", "control")
    note = asymptotics(estimator, {arm: diagnostics[f"effective_n_{arm}"] for arm in arms},
                       {arm: diagnostics[f"max_weight_share_{arm}"] for arm in arms}, advice=advice, stacklevel=4)
    return {**diagnostics, "asymptotics": note}


def asymptotics(estimator: str, sizes: Mapping[str, float], shares: Mapping[str, float] | None = None, *,
                advice: str = "", stacklevel: int = 3) -> str:
    """Warn if a group of ``sizes`` has fewer than MIN_EFFECTIVE_UNITS or a unit's share exceeds MAX_WEIGHT_SHARE.

    ``sizes`` maps a group (``"treated"``) to its (effective) number of units,
    ``shares`` an arm to its largest weight share. Returns the note for
    ``details["asymptotics"]``: what the normal interval relies on, and what
    the data gave.
    """
    shares = shares or {}
    smallest = min(sizes, key=sizes.get)
    note = (f"large-sample normal: relies on at least {MIN_EFFECTIVE_UNITS} effective units per group (smallest "
            f"here: {smallest}, {sizes[smallest]:.3g})")
    if shares:
        largest = max(shares, key=shares.get)
        note += (f" and no unit above {MAX_WEIGHT_SHARE:.0%} of its arm's weight (largest here: {largest}, "
                 f"{shares[largest]:.1%})")
    problems = [f"{group}: {size:.3g} effective units" for group, size in sizes.items()
                if size < MIN_EFFECTIVE_UNITS]
    problems += [f"one {arm} unit carries {share:.0%} of its arm's weight" for arm, share in shares.items()
                 if share > MAX_WEIGHT_SHARE]
    if problems:
        warnings.warn(f"{estimator}: {'; '.join(problems)} (thresholds: {MIN_EFFECTIVE_UNITS} units, "
                      f"{MAX_WEIGHT_SHARE:.0%} of the weight): its normal interval and p-value may be far too "
                      f"narrow{advice}", SmallSampleWarning, stacklevel=stacklevel)
    return note
