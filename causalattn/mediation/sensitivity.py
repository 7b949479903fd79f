r"""Sensitivity of the ACME to a confounder of mediator and outcome that no one measured (Imai, Keele, Yamamoto 2010).

In the linear structural model without interaction,

.. math::
    M = \alpha_0 + \alpha_1 Z + \alpha_X^\top X + \varepsilon_2, \qquad
    Y = \beta_0 + \beta_1 Z + \gamma M + \beta_X^\top X + \varepsilon_3,

an unmeasured confounder of :math:`M` and :math:`Y` shows up as a correlation
:math:`\rho = \mathrm{corr}(\varepsilon_2, \varepsilon_3) \ne 0`, under which OLS's
:math:`\hat\gamma` estimates :math:`\gamma + \rho\sigma_3/\sigma_2` instead of :math:`\gamma`.
Correcting for it (Imai, Keele and Yamamoto 2010, Theorem 2),

.. math::
    \mathrm{ACME}(\rho) = \hat\alpha_1\Big(\hat\gamma - \frac{\rho}{\sqrt{1-\rho^2}}\,
    \frac{\hat\sigma_3}{\hat\sigma_2}\Big)
    = \frac{\hat\alpha_1\hat\sigma_1}{\hat\sigma_2}\Big(\tilde\rho - \rho\sqrt{\frac{1-\tilde\rho^2}{1-\rho^2}}\Big),

with :math:`\hat\sigma_2, \hat\sigma_3` the residual standard deviations of the mediator and
outcome regressions (sums of squares over :math:`n`, so that the two forms agree exactly),
:math:`\hat\sigma_1` that of the regression of :math:`Y` on :math:`(Z, X)`, and
:math:`\tilde\rho` the correlation of the residuals of :math:`M` and :math:`Y` on :math:`(Z, X)`.
:math:`\mathrm{ACME}(0) = \hat\alpha_1\hat\gamma` and the ACME is 0 exactly at
:math:`\rho = \tilde\rho`. In terms of variance explained by the confounder
:math:`U` (their section 5.2): :math:`R^{2*}_M R^{2*}_Y = \rho^2` of the variance the models
leave unexplained, :math:`\tilde R^2_M \tilde R^2_Y = \rho^2(1 - R^2_M)(1 - R^2_Y)` of the total.

Intervals at each :math:`\rho`:

* ``"delta"``: :math:`\mathrm{var} = (\hat\gamma - \rho'\hat r)^2 v_{\alpha} + \hat\alpha_1^2 v_\gamma
  + (\hat\alpha_1\rho'\hat r)^2\{1/(2 d_2) + 1/(2 d_3)\}` with :math:`\rho' = \rho/\sqrt{1-\rho^2}`,
  :math:`\hat r = \hat\sigma_3/\hat\sigma_2`, the OLS variances of :math:`\hat\alpha_1, \hat\gamma`
  and :math:`\mathrm{var}(\log\hat\sigma_j) \approx 1/(2 d_j)` (normal errors, :math:`d_j` residual
  degrees of freedom); the two regressions' estimates are asymptotically independent. Normal
  interval and z test, as R's ``medsens``;
* ``"bootstrap"``: :func:`scipy.stats.bootstrap` over units (percentile), the whole curve
  recomputed on each resample, p-values inverting the percentile interval
  (:mod:`causalattn.mediation.intervals`).

References
----------
Imai, K., Keele, L. and Yamamoto, T. (2010). Identification, inference and sensitivity analysis
for causal mediation effects. *Statistical Science* 25, 51-71.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 27. CRC Press.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import as_float_array, check_choice, check_confidence_level, check_resamples, check_rng
from causalattn.estimate import EstimateTable
from causalattn.mediation import intervals
from causalattn.mediation._units import Units, arm_asymptotics, units_iv
from causalattn.mediation.models import fit_models
from causalattn.mediation.plots import plot_sensitivity

__all__ = ["MediationSensitivity", "mediation_sensitivity"]

METHODS = ("delta", "bootstrap")
DEFAULT_RHO = tuple(round(r, 2) for r in np.arange(-0.9, 0.901, 0.05))


@dataclass(frozen=True, repr=False)
class MediationSensitivity:
    """The ACME as a function of the error correlation :math:`\\rho`; see :func:`mediation_sensitivity`.

    Attributes
    ----------
    rho : tuple of float
        The correlations, one row of ``estimates`` each.
    estimates : EstimateTable
        ``ACME(rho=...)`` rows, each with its interval and p-value.
    rho_at_zero : float
        :math:`\\tilde\\rho`, where the ACME is 0.
    acme_at_zero_rho : float
        The ACME under sequential ignorability (:math:`\\rho = 0`), :math:`\\hat\\alpha_1\\hat\\gamma`.
    r2_star_product, r2_tilde_product : float
        :math:`R^{2*}_M R^{2*}_Y` and :math:`\\tilde R^2_M \\tilde R^2_Y` at :math:`\\rho = \\tilde\\rho`.
    r2_mediator, r2_outcome : float
        :math:`R^2` of the mediator and outcome regressions.
    treatment, mediator, outcome, method : str
    n : int
    """

    rho: tuple[float, ...]
    estimates: EstimateTable
    rho_at_zero: float
    acme_at_zero_rho: float
    r2_star_product: float
    r2_tilde_product: float
    r2_mediator: float
    r2_outcome: float
    treatment: str
    mediator: str
    outcome: str
    method: str
    n: int

    def __repr__(self) -> str:
        return (f"MediationSensitivity(ACME = {self.acme_at_zero_rho:.4g} at rho = 0, 0 at rho = "
                f"{self.rho_at_zero:.3f} (R2*_M R2*_Y = {self.r2_star_product:.3g}, R2~_M R2~_Y = "
                f"{self.r2_tilde_product:.3g}); {len(self.rho)} values of rho; method={self.method}, n={self.n})")

    def to_frame(self) -> pd.DataFrame:
        """One row per :math:`\\rho`: ``rho`` and the columns of :meth:`EstimateTable.to_frame`."""
        frame = self.estimates.to_frame()
        return frame[["rho", *(c for c in frame.columns if c != "rho")]]

    def plot(self, **kwargs: Any):
        """The curve of :func:`~causalattn.mediation.plots.plot_sensitivity`."""
        return plot_sensitivity(self, **kwargs)


def _rho_iv(rho: Any) -> tuple[float, ...]:
    if rho is None:
        return DEFAULT_RHO
    values = as_float_array("rho", [rho] if np.ndim(rho) == 0 else rho)
    if not ((values > -1) & (values < 1)).all():
        raise ValueError(f"`rho` must be strictly between -1 and 1, got {values[(values <= -1) | (values >= 1)][:5]}")
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class _Pieces:
    """What the curve needs from one sample: alpha_1, gamma, sigma_3 / sigma_2, and their variances."""

    alpha: float
    gamma: float
    ratio: float
    var_alpha: float
    var_gamma: float
    var_log_ratio: float


def _pieces(units: Units) -> _Pieces:
    fit = fit_models(units, "identity", False)
    m, y = fit.mediator, fit.outcome
    return _Pieces(float(m.params[1]), float(y.params[2]), math.sqrt(y.ssr / m.ssr), float(m.bse[1]) ** 2,
                   float(y.bse[2]) ** 2, 1 / (2 * m.df_resid) + 1 / (2 * y.df_resid))


def _curve(p: _Pieces, rho: np.ndarray) -> np.ndarray:
    return p.alpha * (p.gamma - rho / np.sqrt(1 - rho**2) * p.ratio)


def mediation_sensitivity(data: pd.DataFrame, outcome: str, treatment: str, mediator: str,
                          covariates: str | Sequence[str] | None = None, *, rho: Any = None, method: str = "delta",
                          n_resamples: int | None = None, rng: Any = None,
                          confidence_level: float = 0.95) -> MediationSensitivity:
    r"""How the ACME changes if the errors of the mediator and outcome models correlate (linear models).

    See the module docstring for :math:`\mathrm{ACME}(\rho)` and the intervals. The models are
    those of :func:`~causalattn.mediate` with ``link="identity"`` and no interaction (there
    the ACME is the same under treatment and control).

    Parameters
    ----------
    data, outcome, treatment, mediator, covariates
        As in :func:`~causalattn.mediate`.
    rho : float or sequence of float, optional
        Correlations in (-1, 1); default -0.9 to 0.9 by 0.05.
    method : {"delta", "bootstrap"}
        The procedure behind every row's interval and p-value. (No quasi-Bayesian
        method: the curve depends on the residual standard deviations, which it
        does not simulate.)
    n_resamples : int, optional
        Bootstrap resamples (default 1000); only with ``method="bootstrap"``.
    rng : None, int or numpy.random.Generator
    confidence_level : float

    Returns
    -------
    MediationSensitivity
        ``rho_at_zero`` is :math:`\tilde\rho` exactly (R's ``medsens`` reports the nearest
        grid value), with :math:`R^{2*}_M R^{2*}_Y` and :math:`\tilde R^2_M\tilde R^2_Y` there.

    References
    ----------
    Imai, K., Keele, L. and Yamamoto, T. (2010). Identification, inference and sensitivity
    analysis for causal mediation effects. *Statistical Science* 25, 51-71.

    Examples
    --------
    >>> from causalattn import datasets, mediation_sensitivity
    >>> result = mediation_sensitivity(datasets.load("framing"), "immigr", "treat", "emo", ["age", "income"])
    >>> round(result.rho_at_zero, 3), round(result.acme_at_zero_rho, 4)
    (0.538, 0.2905)
    """
    method = check_choice("method", method, METHODS)
    level = check_confidence_level(confidence_level)
    if n_resamples is not None and method != "bootstrap":
        raise ValueError(f"`n_resamples` is not used by method={method!r}; leave it out")
    if method == "bootstrap":
        n_resamples = check_resamples("n_resamples", 1000 if n_resamples is None else n_resamples, level)
    generator = check_rng(rng)
    grid = _rho_iv(rho)
    units = units_iv(data, outcome, treatment, mediator, covariates, binary_outcome=False)
    pieces = _pieces(units)
    note = arm_asymptotics(units, "mediation_sensitivity")
    rhos = np.asarray(grid)
    values = _curve(pieces, rhos)
    names = [f"ACME(rho={r:g})" for r in grid]
    common = {"treatment": units.treatment, "mediator": units.mediator, "outcome": units.outcome,
              "component": "indirect"}
    details = [{**common, "rho": r, "asymptotics": note} for r in grid]
    if method == "delta":
        shrink = rhos / np.sqrt(1 - rhos**2) * pieces.ratio
        var = ((pieces.gamma - shrink) ** 2 * pieces.var_alpha + pieces.alpha**2 * pieces.var_gamma
               + (pieces.alpha * shrink) ** 2 * pieces.var_log_ratio)
        rows = intervals.estimates(names, values, level=level, method="delta", n=units.n, details=details,
                                   standard_errors=np.sqrt(var))
    else:
        draws = intervals.bootstrap_draws(units.n, lambda r: _curve(_pieces(units.subset(r)), rhos), len(grid),
                                          n_resamples, level, generator)
        rows = intervals.estimates(names, values, level=level, method="bootstrap-percentile", n=units.n,
                                   details=[{**d, "n_resamples": n_resamples} for d in details], draws=draws)
    slope = pieces.gamma / pieces.ratio  # ACME(rho) = 0 where rho / sqrt(1 - rho^2) = gamma / ratio
    rho_tilde = slope / math.sqrt(1 + slope**2)
    fit = fit_models(units, "identity", False)
    r2_m, r2_y = float(fit.mediator.rsquared), float(fit.outcome.rsquared)
    return MediationSensitivity(grid, EstimateTable(rows, f"ACME(rho): {units.treatment} -> {units.mediator} -> "
                                                          f"{units.outcome}"),
                                rho_tilde, pieces.alpha * pieces.gamma, rho_tilde**2,
                                rho_tilde**2 * (1 - r2_m) * (1 - r2_y), r2_m, r2_y, units.treatment, units.mediator,
                                units.outcome, method, units.n)
