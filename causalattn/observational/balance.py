r"""Covariate balance before and after weighting or matching: standardized mean differences and a love plot.

For covariate :math:`x` with (weighted) arm means :math:`\bar x_1, \bar x_0` and
variances :math:`s_1^2, s_0^2`, the standardized mean difference is
:math:`(\bar x_1 - \bar x_0) / \sqrt{(s_{1}^2 + s_{0}^2)/2}` with the
*unweighted* variances in the denominator, before and after (so that only
the means move), and the variance ratio is :math:`s_1^2 / s_0^2` (weighted
after). Absolute SMDs below 0.1 are the usual rule of thumb for balance.

References
----------
Austin, P. C. (2009). Balance diagnostics for comparing the distribution of
baseline covariates between treatment groups in propensity-score matched
samples. *Statistics in Medicine* 28, 3083-3107.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 11 (balance
checking with the propensity score). CRC Press.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from causalattn._validation import as_float_array
from causalattn.estimate import Estimate
from causalattn.observational._data import units_iv

__all__ = ["Balance", "balance"]


def _weighted_moments(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted means and variances (frequency-weight form, denominator sum(w) - 1 for unit weights)."""
    total = w.sum()
    mean = w @ x / total
    var = w @ (x - mean) ** 2 / total * (len(w) / max(len(w) - 1, 1))
    return mean, var


@dataclass(frozen=True, repr=False)
class Balance:
    """A balance table: one row per covariate, SMD and variance ratio before and after.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns ``mean_treated``, ``mean_control``, ``smd_before``,
        ``variance_ratio_before`` and, if weights were given,
        ``mean_treated_after``, ``mean_control_after``, ``smd_after``,
        ``variance_ratio_after``.
    """

    table: pd.DataFrame

    def __repr__(self) -> str:
        worst = self.table["smd_before"].abs().max()
        text = f"Balance({len(self.table)} covariates; max |SMD| before {worst:.3f}"
        if "smd_after" in self.table:
            text += f", after {self.table['smd_after'].abs().max():.3f}"
        return text + ")"

    def plot(self, *, threshold: float = 0.1) -> Figure:
        """The love plot: absolute SMD of each covariate before and after, with a ``threshold`` line."""
        table = self.table.iloc[::-1]
        fig = Figure(figsize=(6.5, 1.2 + 0.35 * len(table)), layout="constrained")
        ax = fig.add_subplot()
        ys = np.arange(len(table))
        ax.scatter(table["smd_before"].abs(), ys, color="C3", label="before", zorder=3)
        if "smd_after" in table:
            ax.scatter(table["smd_after"].abs(), ys, color="C0", label="after", zorder=3)
            for y, a, b in zip(ys, table["smd_before"].abs(), table["smd_after"].abs(), strict=True):
                ax.plot([a, b], [y, y], color="grey", lw=0.8)
        ax.axvline(threshold, color="grey", ls="--", lw=1)
        ax.set_yticks(ys, table.index)
        ax.set_xlabel("absolute standardized mean difference")
        ax.set_title("Covariate balance (love plot)")
        ax.legend()
        return fig


def balance(
    data: pd.DataFrame | None = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    weights: Any = None,
) -> Balance:
    r"""Standardized mean differences and variance ratios of the covariates, before and after.

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    treatment : str or array_like
        The 0/1 treatment.
    covariates : list of str or array_like
        Numeric covariates.
    weights : array_like or Estimate, optional
        Non-negative weight per unit defining the "after" sample, or an
        :class:`~causalattn.Estimate` of :func:`~causalattn.observational.ipw`
        or :func:`~causalattn.observational.match`, whose
        ``details["weights"]`` are used (IPW weights, or each unit's number of
        uses in the matched sample).

    Returns
    -------
    Balance
        ``table`` and the love plot :meth:`Balance.plot`.

    References
    ----------
    Austin, P. C. (2009). *Statistics in Medicine* 28, 3083-3107.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 11. CRC Press.

    Examples
    --------
    >>> from causalattn.observational import balance
    >>> b = balance(treatment=[1, 1, 0, 0], covariates=[3.0, 1.0, 0.0, 2.0])
    >>> round(float(b.table.loc["covariate0", "smd_before"]), 4)
    0.7071
    """
    units = units_iv(data, None, treatment, covariates, need_outcome=False, others={"weights": weights})
    w = _weights_iv(weights, units.n, units.z)
    constant = [name for name, column in zip(units.names, units.x.T, strict=True) if np.ptp(column) == 0]
    if constant:
        raise ValueError(f"`covariates` {constant} are constant: they are balanced by construction and have no "
                         "standardized difference or variance ratio; drop them")
    z = units.z == 1
    rows = {}
    for j, name in enumerate(units.names):
        x = units.x[:, j]
        m1, v1 = _weighted_moments(x[z], np.ones(z.sum()))
        m0, v0 = _weighted_moments(x[~z], np.ones((~z).sum()))
        if v1 == v0 == 0:
            raise ValueError(f"`covariates`: column {name!r} is constant within each arm ({m1:g} for the treated, "
                             f"{m0:g} for the controls): it separates the arms, there is no overlap on it")
        scale = np.sqrt((v1 + v0) / 2)
        row = {"mean_treated": m1, "mean_control": m0, "smd_before": (m1 - m0) / scale,
               "variance_ratio_before": _variance_ratio(v1, v0, name, "")}
        if w is not None:
            a1, u1 = _weighted_moments(x[z], w[z])
            a0, u0 = _weighted_moments(x[~z], w[~z])
            row.update(mean_treated_after=a1, mean_control_after=a0, smd_after=(a1 - a0) / scale,
                       variance_ratio_after=_variance_ratio(u1, u0, name, "weighted "))
        rows[name] = row
    return Balance(pd.DataFrame(rows).T.astype(float))


def _variance_ratio(treated: float, control: float, name: str, kind: str) -> float:
    """``treated / control`` (inf if only the controls have no variance); both zero is an error naming the column."""
    if treated == control == 0:
        raise ValueError(f"`weights`: covariate {name!r} has no variance in either {kind}arm (the weight sits on units "
                         "that share one value), so its variance ratio is undefined")
    return treated / control if control > 0 else math.inf


def _weights_iv(weights: Any, n: int, z: np.ndarray) -> np.ndarray | None:
    if weights is None:
        return None
    if isinstance(weights, Estimate):
        if "weights" not in weights.details:
            raise ValueError(f"`weights`: the Estimate (method {weights.method!r}) has no details['weights']")
        weights = weights.details["weights"]
    w = as_float_array("weights", weights, vector=False)
    if w.shape != (n,):
        raise ValueError(f"`weights` must have one value per unit, shape ({n},), got shape {w.shape}")
    if (w < 0).any():
        raise ValueError("`weights` must be non-negative")
    for arm, value in (("treated", 1), ("control", 0)):
        if not w[z == value].sum() > 0:
            raise ValueError(f"`weights` are all zero among the {arm} units: the weighted {arm} sample is empty")
    return w
