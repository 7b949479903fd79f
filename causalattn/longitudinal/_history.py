"""Input checks shared by the longitudinal estimators: treatments at T times, the confounders measured before each.

Data are *wide*: one row per subject, a 0/1 treatment column per time
(``treatments=["a0", "a1"]``) and the confounders measured before each
treatment (``confounders=[["l0"], ["l1", "cd4_1"]]``, or ``["l0", "l1"]``
for one column per time). The history of a subject at time t is every
confounder measured up to t and every treatment before t. Rows with missing
values are refused, never dropped.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalattn._rounding import power_of_two_scale
from causalattn._validation import as_binary_array, as_float_array, check_columns, check_not_constant
from causalattn.observational._data import asymptotics


@dataclass(frozen=True)
class History:
    """Validated treatments (n x T, 0/1), confounders per time (n x p_t each) and their names."""

    treatments: np.ndarray
    confounders: tuple[np.ndarray, ...]
    treatment_names: tuple[str, ...]
    confounder_names: tuple[tuple[str, ...], ...]

    @property
    def n(self) -> int:
        return self.treatments.shape[0]

    @property
    def times(self) -> int:
        return self.treatments.shape[1]

    def design(self, t: int, *, with_confounders: bool = True, through: int | None = None) -> np.ndarray:
        """Columns [1, confounders up to time t, treatments 0..through-1] (``through`` defaults to t)."""
        through = t if through is None else through
        columns = [np.ones((self.n, 1))]
        if with_confounders:
            columns += list(self.confounders[: t + 1])
        columns.append(self.treatments[:, :through])
        return np.column_stack(columns)

    def names(self, t: int, *, through: int | None = None) -> list[str]:
        """The names of the columns of :meth:`design` (with confounders)."""
        through = t if through is None else through
        return ["const", *(c for names in self.confounder_names[: t + 1] for c in names),
                *self.treatment_names[:through]]


def history_iv(data: Any, treatments: Any, confounders: Any) -> History:
    """Validate ``data`` (a DataFrame), ``treatments`` (>= 2 binary columns) and per-time ``confounders``."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame (one row per subject), got {type(data).__name__}")
    if isinstance(treatments, str) or not isinstance(treatments, (list, tuple)) or \
            not all(isinstance(c, str) for c in treatments):
        raise TypeError("`treatments` must be a list of column names, one per time, e.g. ['a0', 'a1']")
    if len(treatments) < 2:
        raise ValueError(f"`treatments` must name at least 2 times (a single time is a point treatment: use "
                         f"causalattn.observational), got {list(treatments)}")
    if not isinstance(confounders, (list, tuple)) or len(confounders) != len(treatments):
        raise ValueError(f"`confounders` must be a list with one entry per treatment time ({len(treatments)}): "
                         "the column(s) measured before each treatment, e.g. [['l0'], ['l1']]")
    per_time = []
    for t, entry in enumerate(confounders):
        names = [entry] if isinstance(entry, str) else entry
        if not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names):
            raise TypeError(f"`confounders`: entry {t} must be a column name or a list of names, got {entry!r}")
        per_time.append(tuple(names))
    every = [*treatments, *(c for names in per_time for c in names)]
    repeated = sorted({c for c in every if every.count(c) > 1})
    if repeated:
        raise ValueError(f"`treatments` and `confounders` use column(s) {repeated} more than once")
    check_columns(data, treatments=list(treatments), confounders=[c for names in per_time for c in names])
    z = np.column_stack([_binary(data, c) for c in treatments])
    for t, c in enumerate(treatments):
        if z[:, t].min() == z[:, t].max():
            raise ValueError(f"`treatments`: column {c!r} (time {t}) is constant ({z[0, t]} for every subject): "
                             "no contrast at that time")
    # each confounder divided by a power of two near its magnitude: exact, and the fits' predictions do not
    # change, but a column of 1e-30s (or 1e30s) beside the constant no longer looks collinear
    x = tuple(np.column_stack([_rescaled(as_float_array("confounders", data[c], column=c)) for c in names])
              if names else np.empty((len(data), 0)) for names in per_time)
    return History(z, x, tuple(treatments), tuple(per_time))


def study_iv(data: Any, outcome: Any, treatments: Any, confounders: Any, treated: Any,
             control: Any) -> tuple[History, np.ndarray, np.ndarray, np.ndarray]:
    """The history, the outcome and the two regimes of a regime contrast (:func:`msm`, :func:`g_formula`)."""
    history = history_iv(data, treatments, confounders)
    if not isinstance(outcome, str):
        raise TypeError(f"`outcome` must be a column name, got {type(outcome).__name__}")
    check_columns(data, outcome=outcome)
    if outcome in (*history.treatment_names, *(c for names in history.confounder_names for c in names)):
        raise ValueError(f"`outcome` column {outcome!r} is also a treatment or a confounder")
    y = as_float_array("outcome", data[outcome], column=outcome)
    check_not_constant(f"`outcome` column {outcome!r}", y)
    treated_regime = regime_iv("treated", treated, history.times, 1)
    control_regime = regime_iv("control", control, history.times, 0)
    if (treated_regime == control_regime).all():
        raise ValueError(f"`treated` and `control` are the same regime {treated_regime.tolist()}: nothing to contrast")
    return history, y, treated_regime, control_regime


def _rescaled(column: np.ndarray) -> np.ndarray:
    return column / power_of_two_scale(column)


def _binary(data: pd.DataFrame, column: str) -> np.ndarray:
    try:
        return as_binary_array("treatments", data[column])
    except ValueError as exc:
        raise ValueError(f"{exc} (column {column!r})") from None


def regime_iv(name: str, value: Any, times: int, default: int) -> np.ndarray:
    """A static regime: a 0/1 treatment per time (``None``: ``default`` at every time)."""
    if value is None:
        return np.full(times, default)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"`{name}` must be a sequence of 0/1 treatments, one per time, got {value!r}")
    if len(value) != times or not all(isinstance(v, numbers.Integral) and v in (0, 1) for v in value):
        raise ValueError(f"`{name}` must be {times} treatments of 0 or 1 (one per time), got {list(value)}")
    return np.asarray(value, dtype=int)


def contrast_label(treated: np.ndarray, control: np.ndarray) -> str:
    """``"always vs never treated"`` or the regimes written out, e.g. ``"(1, 0) vs (0, 0)"``."""
    if treated.all() and not control.any():
        return "always vs never treated"
    return f"({', '.join(map(str, treated))}) vs ({', '.join(map(str, control))})"


def time_asymptotics(estimator: str, history: History, weights: np.ndarray | None = None) -> str:
    """The note for ``details["asymptotics"]``: per time and treatment arm, the (Kish effective, with ``weights``)
    number of subjects, and with weights the largest share one subject carries; a
    :class:`~causalattn.observational.SmallSampleWarning` below the observational estimators' thresholds (20 units,
    10% of an arm's weight)."""
    w = np.ones(history.n) if weights is None else weights
    sizes, shares = {}, {}
    for t, name in enumerate(history.treatment_names):
        for arm in (1, 0):
            wa = w[history.treatments[:, t] == arm]
            sizes[f"{name} = {arm}"] = float(wa.sum() ** 2 / (wa**2).sum())
            shares[f"{name} = {arm}"] = float(wa.max() / wa.sum())
    return asymptotics(estimator, sizes, shares if weights is not None else None, stacklevel=4,
                       advice="; the interval is a large-sample one (its coverage is measured with 500 and 2,000 "
                              "subjects in benchmarks/README.md)")
