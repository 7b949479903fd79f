r"""The two regressions of a mediation analysis, fitted by statsmodels.

Mediator model (OLS, normal errors):

.. math:: M = \alpha_0 + \alpha_1 Z + \alpha_X^\top X + \varepsilon, \qquad \varepsilon \sim N(0, \sigma^2),

with :math:`\hat\sigma^2 = \mathrm{SSR}/(n - p_M)`, the residual variance of R's
``lm`` and statsmodels' ``OLS(...).fit().scale``. Outcome model, with the
exposure-mediator interaction :math:`\beta_3` when asked for:

.. math:: g\{E(Y \mid Z, M, X)\} = \beta_0 + \beta_1 Z + \beta_2 M + \beta_3 ZM + \beta_X^\top X,

OLS for ``link="identity"``, a binomial GLM (IRLS, as R's ``glm``) for
``"probit"`` and ``"logit"``. The parameters are laid out as one vector
:math:`\theta = (\alpha, \sigma^2, \beta)` with the block-diagonal covariance
of the two fits and :math:`\widehat{\mathrm{var}}(\hat\sigma^2) = 2\hat\sigma^4/(n - p_M)`
(normal errors): the two models' scores are uncorrelated, since the outcome
model's residual has mean zero given :math:`(Z, M, X)` (Imai, Keele and
Tingley 2010, appendix).

References
----------
Imai, K., Keele, L. and Tingley, D. (2010). A general approach to causal
mediation analysis. *Psychological Methods* 15, 309-334.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.regression.linear_model import OLS
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from causalattn import _scaled_fit
from causalattn._rounding import zero_up_to_rounding
from causalattn.mediation._units import Units, check_full_rank

__all__ = ["LINKS", "Fit", "fit_models", "mediator_design", "outcome_design", "refit_theta", "total_fit"]

#: Links of the outcome model.
LINKS = ("identity", "probit", "logit")

_GLM_LINKS = {"probit": families.links.Probit, "logit": families.links.Logit}
_GLM_TOLERANCE = 1e-10  # IRLS stops when no coefficient of the column-scaled design moves by more than this
_GLM_MAXITER = 200
_CERTAIN = 1e-10  # a fitted probability this close to 0 or 1 signals quasi-separation (R: "numerically 0 or 1")


@dataclass(frozen=True)
class Fit:
    """The fitted mediator and outcome models, and their parameters as one vector with its covariance.

    Attributes
    ----------
    mediator, outcome : statsmodels results
        The OLS fit of the mediator; the OLS or GLM fit of the outcome.
    link : str
    interaction : bool
        Whether the outcome model has the treatment-mediator product.
    theta : numpy.ndarray
        :math:`(\\alpha, \\sigma^2, \\beta)`.
    cov : numpy.ndarray
        Its block-diagonal covariance.
    """

    mediator: Any
    outcome: Any
    link: str
    interaction: bool
    theta: np.ndarray
    cov: np.ndarray

    @property
    def n_mediator(self) -> int:
        """Number of coefficients of the mediator model, :math:`p_M`."""
        return len(self.mediator.params)


def mediator_design(units: Units) -> tuple[np.ndarray, list[str]]:
    """The mediator model's design ``[1, Z, X]`` and its column names (quoted, for messages)."""
    names = ["the intercept", f"`treatment` {units.treatment!r}", *(f"covariate {c!r}" for c in units.covariates)]
    return np.column_stack([np.ones(units.n), units.z, units.x]), names


def outcome_design(units: Units, interaction: bool) -> tuple[np.ndarray, list[str]]:
    """The outcome model's design ``[1, Z, M, (Z M), X]`` and its column names."""
    columns = [np.ones(units.n), units.z, units.m]
    names = ["the intercept", f"`treatment` {units.treatment!r}", f"`mediator` {units.mediator!r}"]
    if interaction:
        columns.append(units.z * units.m)
        names.append("the treatment-mediator product")
    names.extend(f"covariate {c!r}" for c in units.covariates)
    return np.column_stack([*columns, units.x]), names


def _glm_fit(units: Units, design: np.ndarray, names: list[str], link: str, start: np.ndarray | None) -> Any:
    """The binomial GLM's statsmodels results, its coefficients converged to about 1e-10 of each column's scale.

    IRLS runs on the column-scaled design (:func:`causalattn._scaled_fit.maximum_likelihood`:
    the results are in the units of the data) and stops when no scaled
    coefficient moves by more than 1e-10: a criterion on the deviance
    (statsmodels' default) leaves the coefficients of a probit model (whose
    Fisher scoring converges only linearly) wrong in the 6th digit, and one on
    the raw coefficients depends on the units of the data.
    """
    family = families.Binomial(link=_GLM_LINKS[link]())
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in exp on the way to a separation
        try:
            fit = _scaled_fit.maximum_likelihood(GLM(units.y, design, family=family), start_params=start,
                                                 outcome=f"`outcome` {units.outcome!r}", names=names,
                                                 tol_criterion="params", atol=_GLM_TOLERANCE, rtol=0.0,
                                                 maxiter=_GLM_MAXITER)
        except PerfectSeparationWarning:
            raise ValueError(f"`outcome` is perfectly predicted by the treatment, mediator and covariates "
                             f"(separation): the {link} model's coefficients are infinite and the natural "
                             "effects not estimable; use link='identity' (a linear probability model) or fewer "
                             "covariates") from None
    if not fit.converged:
        raise ValueError(f"the {link} outcome model did not converge in {_GLM_MAXITER} IRLS iterations; check "
                         "`outcome` for quasi-separation (a covariate pattern whose outcome is always 0 or 1)")
    return fit


def total_fit(units: Units) -> Any:
    """The OLS fit of the outcome on the mediator model's design ``[1, Z, X]`` (the total effect's regression)."""
    design, names = mediator_design(units)
    return _scaled_fit.least_squares(OLS(units.y, design), outcome=f"`outcome` {units.outcome!r}", names=names)


def _checked_fits(units: Units, link: str, interaction: bool, start: np.ndarray | None) -> tuple[Any, Any]:
    """The mediator and outcome models' fits, each design first checked for full rank (a ValueError naming the
    redundant column)."""
    x_m, names_m = mediator_design(units)
    x_y, names_y = outcome_design(units, interaction)
    check_full_rank(x_m, names_m, "mediator")
    check_full_rank(x_y, names_y, "outcome", order=_rank_order(x_y.shape[1], interaction))
    mediator = _scaled_fit.least_squares(OLS(units.m, x_m), outcome=f"`mediator` {units.mediator!r}",
                                         names=names_m)
    if link == "identity":
        outcome = _scaled_fit.least_squares(OLS(units.y, x_y), outcome=f"`outcome` {units.outcome!r}",
                                            names=names_y)
        if zero_up_to_rounding(float(np.abs(outcome.resid).max()), float(np.abs(units.y).max())):
            raise ValueError(f"`outcome` {units.outcome!r} is fitted exactly by the treatment, mediator and covariates "
                             "(its residuals are rounding noise): every standard error would be rounding noise and "
                             "every test meaningless, and no error is left for a confounder to correlate with; is the "
                             "outcome computed from them?")
        return mediator, outcome
    return mediator, _glm_fit(units, x_y, names_y, link, start)


def fit_models(units: Units, link: str, interaction: bool) -> Fit:
    """Fit both models on ``units``; a ValueError for a rank-deficient design or a separated binary outcome."""
    mediator, outcome = _checked_fits(units, link, interaction, None)
    sigma2 = float(mediator.scale)
    if link != "identity":
        certain = int(((outcome.fittedvalues < _CERTAIN) | (outcome.fittedvalues > 1 - _CERTAIN)).sum())
        if certain:
            warnings.warn(f"the {link} outcome model gives {certain} unit(s) a probability of 0 or 1 (quasi-"
                          "separation): some coefficients are infinite and their standard errors meaningless; the "
                          "natural effects are their limits, to which those units contribute nothing", stacklevel=3)
    p_m, p_y = len(mediator.params), len(outcome.params)
    cov = np.zeros((p_m + 1 + p_y, p_m + 1 + p_y))
    cov[:p_m, :p_m] = mediator.cov_params()
    cov[p_m, p_m] = 2 * sigma2**2 / mediator.df_resid
    cov[p_m + 1:, p_m + 1:] = outcome.cov_params()
    theta = np.concatenate([mediator.params, [sigma2], outcome.params])
    return Fit(mediator, outcome, link, interaction, theta, cov)


def refit_theta(units: Units, link: str, interaction: bool, start: Fit) -> np.ndarray:
    """The parameter vector of both models refitted on ``units`` (a bootstrap resample), IRLS started at ``start``.

    A resample holding one arm only, or a rank-deficient or separated one, is a ValueError.
    """
    if units.z.min() == units.z.max():
        raise ValueError("a resample holds units of one treatment arm only")
    mediator, outcome = _checked_fits(units, link, interaction, start.outcome.params)
    return np.concatenate([mediator.params, [float(mediator.scale)], outcome.params])


def _rank_order(p: int, interaction: bool) -> list[int]:
    """Columns of the outcome design in the order the rank check adds them: the mediator (and product) last.

    So that a mediator the treatment and covariates determine is named as the
    culprit, not a covariate that comes after it in the design.
    """
    first = 4 if interaction else 3
    return [0, 1, *range(first, p), 2, *([3] if interaction else [])]
