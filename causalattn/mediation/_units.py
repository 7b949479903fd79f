"""Input checks shared by the mediation functions: a DataFrame and the names of its columns.

Every function of :mod:`causalattn.mediation` takes ``data`` (a DataFrame) and
the column names ``outcome``, ``treatment`` (0/1), ``mediator`` and
``covariates`` (a name or a list of names, in both the mediator and the
outcome model). Values must be numeric and finite: categories must be encoded
first (e.g. with :func:`pandas.get_dummies`), and rows with missing values
are never dropped silently.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalattn import _scaled_fit
from causalattn._validation import as_binary_array, as_float_array, check_columns, check_not_constant
from causalattn.observational._data import asymptotics

#: Units needed in each arm.
MIN_PER_ARM = 2


@dataclass(frozen=True)
class Units:
    """Validated units: outcome, 0/1 treatment, mediator, covariate matrix, and the column names."""

    y: np.ndarray
    z: np.ndarray
    m: np.ndarray
    x: np.ndarray
    outcome: str
    treatment: str
    mediator: str
    covariates: tuple[str, ...]

    @property
    def n(self) -> int:
        return len(self.z)

    def subset(self, rows: np.ndarray) -> Units:
        """The units at positions ``rows`` (a bootstrap resample)."""
        return Units(self.y[rows], self.z[rows], self.m[rows], self.x[rows], self.outcome, self.treatment,
                     self.mediator, self.covariates)


def _name(arg: str, value: Any) -> Hashable:
    if value is None:
        raise ValueError(f"`{arg}` is required: the name of a column of `data`")
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Index, pd.Series)):
        raise TypeError(f"`{arg}` must be one column name, got {type(value).__name__}")
    return value


def _covariate_names(covariates: Any) -> list[Hashable]:
    if covariates is None:
        return []
    if isinstance(covariates, str):
        return [covariates]
    if isinstance(covariates, (pd.Series, pd.DataFrame, np.ndarray)) or not isinstance(covariates, (list, tuple)):
        raise TypeError(f"`covariates` must be a column name or a list of column names of `data`, got "
                        f"{type(covariates).__name__}")
    if len(set(covariates)) != len(covariates):
        raise ValueError(f"`covariates` lists a column twice: {list(covariates)}")
    return list(covariates)


def units_iv(data: Any, outcome: Any, treatment: Any, mediator: Any, covariates: Any, *,
             binary_outcome: bool) -> Units:
    """Validate the data arguments of a mediation function into :class:`Units`."""
    roles = {"outcome": _name("outcome", outcome), "treatment": _name("treatment", treatment),
             "mediator": _name("mediator", mediator)}
    names = _covariate_names(covariates)
    check_columns(data, **roles, covariates=names)
    used = [*roles.items(), *(("covariates", c) for c in names)]
    seen: dict[Hashable, str] = {}
    for arg, column in used:
        if column in seen:
            raise ValueError(f"`{seen[column]}` and `{arg}` name the same column {column!r}; each column plays "
                             "one role")
        seen[column] = arg
        if isinstance(data[column], pd.DataFrame):
            raise ValueError(f"`{arg}`: `data` has several columns named {column!r}; rename them first")
    z = as_binary_array("treatment", data[roles["treatment"]])
    arms = {"treated": int(z.sum()), "control": int(len(z) - z.sum())}
    few = {arm: count for arm, count in arms.items() if count < MIN_PER_ARM}
    if few:
        raise ValueError(f"`treatment` needs at least {MIN_PER_ARM} units in each arm, got "
                         + ", ".join(f"{count} {arm}" for arm, count in arms.items()))
    y = (as_binary_array("outcome", data[roles["outcome"]]).astype(float) if binary_outcome
         else as_float_array("outcome", data[roles["outcome"]]))
    if binary_outcome and y.min() == y.max():
        raise ValueError(f"`outcome` is {int(y[0])} for every unit: a binary outcome model needs both 0 and 1")
    check_not_constant("`outcome`", y)
    m = as_float_array("mediator", data[roles["mediator"]])
    if m.min() == m.max():
        raise ValueError(f"`mediator` is constant ({m[0]:g} for every unit): it cannot carry an effect")
    x = (np.column_stack([as_float_array("covariates", data[c], column=str(c)) for c in names]) if names
         else np.empty((len(z), 0)))
    return Units(y, z, m, x, str(roles["outcome"]), str(roles["treatment"]), str(roles["mediator"]),
                 tuple(str(c) for c in names))


def check_full_rank(design: np.ndarray, columns: list[str], model: str, order: list[int] | None = None) -> None:
    """A ValueError naming the first column of ``design`` (taken in ``order``) that the columns before it determine.

    The rule is the fits' own (:func:`causalattn._scaled_fit.aliased`: R's
    ``lm`` tolerance on the design with every column scaled to about 1), so
    that a column in the billions beside the intercept is not mistaken for a
    redundant one, while a large offset with little variation is refused.
    """
    if order is not None:
        design, columns = design[:, order], [columns[j] for j in order]
    n, p = design.shape
    if n <= p:
        raise ValueError(f"the {model} model has {p} coefficients but only {n} units; it needs more units than "
                         "coefficients")
    j = _scaled_fit.aliased(design)
    if j is not None:
        raise ValueError(f"the {model} model's design is rank-deficient: {_scaled_fit.collinearity(columns, j)}; "
                         "drop it or a redundant covariate")


def arm_asymptotics(units: Units, estimator: str) -> str:
    """The note for ``details["asymptotics"]``: the units per arm the large-sample intervals rely on; a
    :class:`~causalattn.observational.SmallSampleWarning` below 20 in an arm (the observational estimators' rule;
    at 15 per arm the delta interval of the NIE covers 0.885, ``benchmarks/README.md``)."""
    treated = int(units.z.sum())
    return asymptotics(estimator, {"treated": treated, "control": units.n - treated}, stacklevel=4,
                       advice="; mediation's delta, quasi-Bayesian and bootstrap intervals are large-sample ones")
