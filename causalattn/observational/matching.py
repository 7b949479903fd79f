r"""Nearest-neighbour matching with replacement (Abadie and Imbens 2006, 2011): ATT and ATE.

Each unit :math:`i` of the target population (the treated for the ATT, every
unit for the ATE) is matched to the set :math:`\mathcal J_M(i)` of its
:math:`M` nearest units of the other arm, *with ties*: every unit whose squared
distance is within ``tie_tolerance`` of the :math:`M`-th smallest joins the
set, and all are weighted equally. The distance is
:math:`d(x, x')^2 = (x - x')^\top W (x - x')` on covariates standardized by
their sample standard deviations, with :math:`W = I` (``"inverse_variance"``,
Abadie-Imbens' default) or :math:`W` the inverse of their sample covariance
(``"mahalanobis"``), as in R's ``Matching::Match`` (``Weight = 1, 2``).

The missing potential outcome is imputed by the mean of the matches,
:math:`\hat Y_i(1 - Z_i) = \#\mathcal J_M(i)^{-1}\sum_{j \in \mathcal J_M(i)} Y_j`,
optionally bias-corrected (Abadie and Imbens 2011) with a linear regression
:math:`\hat\mu_w(x) = \hat\alpha_w + \hat\beta_w^\top x` fitted on arm
:math:`w` by weighted least squares with weights :math:`K_M(j)`:
:math:`Y_j + \hat\beta_{w}^\top(X_i - X_j)` replaces :math:`Y_j`. The estimate
is the mean over the target population of :math:`\hat Y_i(1) - \hat Y_i(0)`.

:math:`K_M(j) = \sum_i 1\{j \in \mathcal J_M(i)\} / \#\mathcal J_M(i)` is the
number of times unit :math:`j` is used as a match, and
:math:`KK_M(j) = \sum_i 1\{j \in \mathcal J_M(i)\} / \#\mathcal J_M(i)^2`.
The Abadie-Imbens (2006) variance for the population estimand, with
:math:`N_T` the size of the target population and :math:`r_i = 1` for its
units, is

.. math::

    \hat V = N_T^{-2}\sum_i r_i\{\hat Y_i(1) - \hat Y_i(0) - \hat\tau\}^2
    + N_T^{-2}\sum_i \hat\sigma^2(X_i, Z_i)\{K_M(i)^2 - KK_M(i) + 2r_iK_M(i)\},

with the conditional variance :math:`\hat\sigma^2(X_i, Z_i)` estimated by
matching unit :math:`i` to its :math:`J` nearest units of its own arm:
the sample variance of :math:`Y_i` and their outcomes. Without ties
this is AI's :math:`\{(K_M/M)^2 + (2M-1)K_M/M^2\}\hat\sigma^2` for the ATE
and :math:`K_M(K_M - 1)/M^2\,\hat\sigma^2` for the ATT; with ties and
:math:`J = 1` it is R ``Matching``'s ``se`` with ``Var.calc = 1``
(``standard_error="robust"``, the default: robust to heteroskedasticity).
``standard_error="homoskedastic"`` assumes one conditional variance for
every unit and estimates it from the matched pairs,
:math:`\hat\sigma^2 = \tfrac12 N_T^{-1}\sum_{(i, j)} \#\mathcal J_M(i)^{-1}
(\hat\tau_{ij} - \hat\tau)^2` over the pairs of a unit :math:`i` of the target
population and a match :math:`j`, with :math:`\hat\tau_{ij}` the pair's
(bias-corrected) difference in outcomes, treated minus control: R
``Matching``'s default ``Var.calc = 0``.

**Matching on the estimated propensity score** (``on="propensity"``) matches
on :math:`\hat e_i = F(\tilde X_i^\top\hat\theta)`, the logistic fit
(:math:`F` the logistic function, :math:`f = F(1 - F)` its density,
:math:`\tilde X = (1, X)`). The variance above treats :math:`\hat e` as known.
Abadie and Imbens (2016, Theorems 1 and 2) derive the variance when
:math:`\hat\theta` is the maximum-likelihood estimate, with
:math:`I_\theta = E\{f^2\tilde X\tilde X^\top/(F(1-F))\}` the Fisher information,
:math:`p = e(X)`, :math:`\mu(w, X) = E(Y \mid Z = w, X)` and
:math:`\bar\mu(w, p) = E(Y \mid Z = w, e(X) = p)`:

.. math::

    N\,V_{ATE} = \sigma^2 - c^\top I_\theta^{-1}c, \qquad
    c = E\Big[f\Big\{\frac{\mathrm{cov}(\tilde X, \mu(1, X) \mid p)}{p}
        + \frac{\mathrm{cov}(\tilde X, \mu(0, X) \mid p)}{1 - p}\Big\}\Big],

.. math::

    N\,V_{ATT} = \sigma_t^2 - c_t^\top I_\theta^{-1}c_t
        + \frac{\partial\tau_t}{\partial\theta}^\top I_\theta^{-1}\frac{\partial\tau_t}{\partial\theta},

.. math::

    c_t = \frac{1}{E(p)}E\Big[f\Big\{\tilde X\{\bar\mu(1, p) - \bar\mu(0, p) - \tau_t\}
        + \mathrm{cov}(\tilde X, \mu(1, X) \mid p) + \frac{p}{1 - p}\mathrm{cov}(\tilde X, \mu(0, X) \mid p)\Big\}\Big],
    \qquad
    \frac{\partial\tau_t}{\partial\theta} = \frac{1}{E(p)}E[f\tilde X\{\mu(1, X) - \mu(0, X) - \tau_t\}],

with :math:`\sigma^2, \sigma_t^2` the variances with the score known (above,
times :math:`N`). The ATE adjustment is never positive: matching on the
estimated score is at least as precise. The ATT's can go either way. Every
term is estimated by matching, as in the paper's section 4: the conditional
covariances are sample covariances of :math:`(\tilde X_j, Y_j)` over :math:`H_w(i)`, the
:math:`J + 1` units of arm :math:`w` nearest to unit :math:`i` on
:math:`\hat e` (:math:`i` itself and its :math:`J` nearest when
:math:`Z_i = w`; exactly :math:`J + 1` units, ties broken arbitrarily);
:math:`\bar\mu(w, \hat e_i)` is the mean outcome of :math:`H_w(i)` without
:math:`i`; :math:`\mu(1, X_i) - \mu(0, X_i)` is estimated by matching unit
:math:`i` to its :math:`M` nearest units of the other arm on the covariates
(``metric``); expectations are sample means (sums divided by :math:`N_1`
for the ATT) with :math:`\hat e_i`; and :math:`(N I_\theta)^{-1}` is the
covariance of :math:`\hat\theta` (statsmodels' ``Logit``). The bias
correction on the scalar score changes the estimator by
:math:`O_p(N^{-1})` only, so the same variance applies to it.

References
----------
Abadie, A. and Imbens, G. W. (2006). Large sample properties of matching
estimators for average treatment effects. *Econometrica* 74, 235-267.

Abadie, A. and Imbens, G. W. (2011). Bias-corrected matching estimators for
average treatment effects. *Journal of Business & Economic Statistics* 29, 1-11.

Abadie, A. and Imbens, G. W. (2016). Matching on the estimated propensity
score. *Econometrica* 84, 781-807.

Sekhon, J. S. (2011). Multivariate and propensity score matching software with
automated balance optimization: the Matching package for R. *Journal of
Statistical Software* 42(7).

Ding, P. (2024). *A First Course in Causal Inference*, ch. 15 (matching in
observational studies). CRC Press.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import WLS

from causalattn import _scaled_fit
from causalattn._validation import check_choice, check_confidence_level, check_flag, check_positive_int
from causalattn.estimate import Estimate, normal_estimate
from causalattn.observational._data import Units, check_arms, estimand_iv, units_iv, weighted_asymptotics
from causalattn.observational._design import check_collinear, check_constant, separation
from causalattn.observational._neighbours import cross_matches, group_covariances, metric_space, own_matches
from causalattn.observational._score_matching import estimated_score_change
from causalattn.observational.propensity import PropensityScore, design_matrix, score_from_units, score_model_iv

__all__ = ["match"]

METRICS = ("inverse_variance", "mahalanobis")
STANDARD_ERRORS = ("robust", "homoskedastic")


@dataclass(frozen=True)
class _Problem:
    units: Units
    score: PropensityScore | None  # the fitted score when matching on it
    estimand: str
    n_matches: int
    metric: str
    bias_correction: bool
    variance_matches: int
    standard_error: str
    tolerance: float
    level: float
    on: str


def _match_iv(data, outcome, treatment, covariates, estimand, n_matches, metric, on, model, bias_correction,
              variance_matches, standard_error, tie_tolerance, confidence_level) -> _Problem:
    estimand = estimand_iv(estimand)
    metric = check_choice("metric", metric, METRICS)
    on = check_choice("on", on, ("covariates", "propensity"))
    standard_error = check_choice("standard_error", standard_error, STANDARD_ERRORS)
    n_matches = check_positive_int("n_matches", n_matches)
    variance_matches = check_positive_int("variance_matches", variance_matches)
    bias_correction = check_flag("bias_correction", bias_correction)
    level = check_confidence_level(confidence_level)
    if isinstance(tie_tolerance, bool) or not isinstance(tie_tolerance, numbers.Real) or not (
            0 <= tie_tolerance < math.inf):
        raise ValueError(f"`tie_tolerance` must be a finite non-negative number, got {tie_tolerance!r}")
    if model is not None and on != "propensity":
        raise ValueError("`model` is the propensity-score model: it is used only with `on`='propensity'")
    if standard_error == "homoskedastic" and on == "covariates" and variance_matches != 1:
        raise ValueError("`variance_matches` is used by `standard_error`='robust' (and matching on the score) only: "
                         "the homoskedastic variance pools the matched pairs")
    units = units_iv(data, outcome, treatment, covariates)
    check_arms(units.z, "match")
    n_treated = int(units.z.sum())
    n_control = units.n - n_treated
    if n_matches > n_control:
        raise ValueError(f"`n_matches` ({n_matches}) must not exceed the number of control units ({n_control})")
    if estimand == "ATE" and n_matches > n_treated:
        raise ValueError(f"`n_matches` ({n_matches}) must not exceed the number of treated units ({n_treated}) "
                         "for the ATE")
    if variance_matches > min(n_treated, n_control) - 1:
        raise ValueError(f"`variance_matches` ({variance_matches}) must be smaller than the size of the smaller arm "
                         f"({min(n_treated, n_control)})")
    score = None
    if on == "propensity":
        score = score_from_units(units, score_model_iv(model))
        if score.logistic and estimand == "ATT" and n_matches > n_treated:
            raise ValueError(f"`n_matches` ({n_matches}) must not exceed the number of treated units ({n_treated}): "
                             "the Abadie-Imbens (2016) adjustment of the ATT matches every unit on the covariates")
        units = Units(units.y, units.z, np.array(score.score)[:, None], ["propensity score"], units.outcome,
                      units.treatment)
    else:
        _overlap_iv(units, estimand, metric, bias_correction)
    check_constant(units.x, units.names)
    return _Problem(units, score, estimand, n_matches, metric, bias_correction, variance_matches, standard_error,
                    float(tie_tolerance), level, on)


def _overlap_iv(units: Units, estimand: str, metric: str, bias_correction: bool) -> None:
    """Refuse covariates that matching cannot use: constant, collinear (for the Mahalanobis metric and the bias
    correction) or separating the units it must match (the treated for the ATT, everyone for the ATE)."""
    check_constant(units.x, units.names)
    if metric == "mahalanobis" or bias_correction:
        check_collinear(units.x, units.names)
    found = separation(units.x, units.z, units.names, treated_only=estimand == "ATT")
    if found is not None:
        raise ValueError(f"{found.describe()}: their matches would be extrapolations, and the {estimand} is not "
                         "identified there; trim those units, or drop or coarsen those covariates")


def _conditional_variances(space: np.ndarray, y: np.ndarray, z: np.ndarray, needed: np.ndarray, j: int,
                           tolerance: float) -> np.ndarray:
    r""":math:`\hat\sigma^2(X_i, Z_i)`: sample variance of :math:`Y_i` and its ``j`` nearest same-arm outcomes."""
    own = np.flatnonzero(needed)
    unit, partner = own_matches(space, z, own, j, tolerance)
    groups = np.concatenate([own, unit]), np.concatenate([own, partner])
    return group_covariances(*groups, y[:, None], y, len(y))[:, 0]


def _bias_slopes(x: np.ndarray, y: np.ndarray, k: np.ndarray, rows: np.ndarray, arm: str, names: list[str],
                 differences: np.ndarray) -> np.ndarray:
    """Slopes of the weighted least-squares fit of ``y`` on ``(1, x)`` over ``rows`` with weights ``k``.

    ``differences`` are the covariate differences between the units and these
    matches: a covariate constant among the matched units gets slope 0 when
    no difference involves it (its slope does not matter), an error otherwise.
    """
    used = rows & (k > 0)
    where = f" among the {int(used.sum())} matched {arm} units"
    flat = np.ptp(x[used], axis=0) == 0
    needed = flat & (differences != 0).any(axis=0)
    if needed.any():
        raise ValueError(f"`covariates` {[n for n, f in zip(names, needed, strict=True) if f]} are constant{where}, "
                         "yet some units differ on them from their matches: the bias correction cannot estimate their "
                         "slopes; use more matches (`n_matches`), drop those covariates, or set `bias_correction`="
                         "False (their differences are then left uncorrected)")
    kept = [n for n, f in zip(names, flat, strict=True) if not f]
    if used.sum() <= len(kept) + 1:
        raise ValueError(f"the bias correction regresses the outcome on {len(kept)} covariates{where}, too few units; "
                         "use more matches (`n_matches`), fewer covariates, or set `bias_correction`=False")
    check_collinear(x[used][:, ~flat], kept, where=where)
    slopes = np.zeros(x.shape[1])
    slopes[~flat] = _scaled_fit.least_squares(
        WLS(y[used], design_matrix(x[used][:, ~flat]), weights=k[used]),
        names=["the intercept", *(f"`covariates` {c!r}" for c in kept)]).params[1:]
    return slopes


def match(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    estimand: str = "ATT",
    n_matches: int = 1,
    metric: str = "inverse_variance",
    on: str = "covariates",
    model: Any = None,
    bias_correction: bool = True,
    variance_matches: int = 1,
    standard_error: str = "robust",
    tie_tolerance: float = 1e-5,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Abadie-Imbens nearest-neighbour matching estimator of the ATT or the ATE, with its AI variance.

    See the module docstring for the matching, the bias correction and the
    variance. The interval and p-value are normal with the Abadie-Imbens
    standard error. Matching is with replacement and ties are kept; the
    search is a blocked brute force in numpy (memory bounded, exact).

    Assumptions: ignorability given the covariates and overlap; without the
    bias correction the estimator has a bias of order :math:`N^{-1/k}` with
    :math:`k` continuous covariates (Abadie and Imbens 2006).

    Parameters
    ----------
    data, outcome, treatment, covariates
        As in :func:`~causalattn.observational.ipw` (``covariates`` required).
    estimand : {"ATT", "ATE"}
        The ATT matches each treated unit to controls; the ATE matches every
        unit to the other arm.
    n_matches : int
        :math:`M`, matches per unit (before ties).
    metric : {"inverse_variance", "mahalanobis"}
        Distance on the standardized covariates.
    on : {"covariates", "propensity"}
        Match on the covariates, or on the propensity score estimated from
        them. With the default logistic score the variance accounts for its
        estimation (Abadie and Imbens 2016, see the module docstring); with a
        scikit-learn ``model`` the AI (2006) variance treats the score as known.
    model : scikit-learn classifier, optional
        Score model for ``on="propensity"``; default statsmodels' logistic regression.
    bias_correction : bool
        Abadie-Imbens (2011) regression bias correction on the matching
        variables.
    variance_matches : int
        :math:`J`, same-arm matches used to estimate the conditional variances
        (and the groups :math:`H_w(i)` of :math:`J + 1` units of the AI 2016 adjustment).
    standard_error : {"robust", "homoskedastic"}
        The conditional variances of the Abadie-Imbens variance: estimated per
        unit by matching within its arm (robust to heteroskedasticity; R
        ``Matching``'s ``Var.calc = J``), or one pooled variance from the
        matched pairs (R ``Matching``'s default ``Var.calc = 0``; ``method`` ends
        in ``-homoskedastic``). See the module docstring.
    tie_tolerance : float
        Squared distances within this of the :math:`M`-th smallest are ties
        (``Matching``'s ``distance.tolerance``).
    confidence_level : float

    Returns
    -------
    Estimate
        ``method`` ``"matching-bias-corrected"`` or ``"matching"``, with
        ``-propensity`` when matching on the score, ``-ai2016`` when its
        standard error is the Abadie-Imbens (2016) one and ``-homoskedastic``
        with that standard error; ``details`` has
        ``matches`` (a DataFrame with columns ``unit`` and ``match``, row positions
        0 to n-1 in the data, ``weight``
        :math:`1/\#\mathcal J_M(i)`, ``distance``), ``weights`` (each unit's
        weight in the matched sample, :math:`r_i + K_M(i)`, for balance
        checks; their largest share and Kish's effective sample size per arm,
        ``max_weight_share_treated``, ``effective_n_treated`` ...),
        ``times_matched`` (:math:`K_M`), ``n_matched_pairs``, ``asymptotics`` and, with
        ``on="propensity"``, ``score``, ``score_estimation`` (``"accounted for
        (Abadie-Imbens 2016)"`` or ``"treated as known"``) and, for the
        former, ``standard_error_known_score`` (the AI 2006 standard error).
        The interval and p-value are large-sample normal
        (``details["distribution"]`` is ``"normal"``; see :mod:`causalattn.observational`).

    Warns
    -----
    SmallSampleWarning
        An arm with fewer than 20 effective units in the matched sample, or one
        unit carrying more than 10% of its arm's weight (a control matched to
        many treated units).

    Raises
    ------
    ValueError
        Fewer than 2 units in an arm, ``n_matches`` larger than an arm it
        matches into (with the AI 2016 adjustment of the ATT, also the treated
        arm), a constant covariate, collinear covariates (with the Mahalanobis
        metric or the bias correction), covariates that separate the units to
        be matched from the other arm (no overlap), a bias correction that
        cannot be fitted (named covariates), an adjusted variance that is not
        positive (too few units), or bad options.

    References
    ----------
    Abadie, A. and Imbens, G. W. (2006). *Econometrica* 74, 235-267.

    Abadie, A. and Imbens, G. W. (2011). *Journal of Business & Economic Statistics* 29, 1-11.

    Abadie, A. and Imbens, G. W. (2016). *Econometrica* 84, 781-807.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 15. CRC Press.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import match
    >>> nsw = datasets.load("lalonde_nsw")
    >>> est = match(nsw, "re78", "treat", ["age", "educ", "black", "married", "re74", "re75"])
    >>> round(est.estimate), est.method
    (1899, 'matching-bias-corrected')

    Matching on the estimated score, for the ATE: the Abadie-Imbens (2016)
    standard error, and the AI (2006) one that treats the score as known.

    >>> ps = match(nsw, "re78", "treat", ["age", "educ", "black", "married", "re74", "re75"],
    ...            on="propensity", estimand="ATE")
    >>> ps.method, round(ps.standard_error), round(ps.details["standard_error_known_score"])
    ('matching-bias-corrected-propensity-ai2016', 681, 696)
    """
    problem = _match_iv(data, outcome, treatment, covariates, estimand, n_matches, metric, on, model,
                        bias_correction, variance_matches, standard_error, tie_tolerance, confidence_level)
    units = problem.units
    x, y, z = units.x, units.y, units.z
    n = units.n
    space = metric_space(x, problem.metric)
    target = np.ones(n, dtype=bool) if problem.estimand == "ATE" else z == 1
    unit, partner, squared = cross_matches(space, z, np.flatnonzero(target), problem.n_matches, problem.tolerance)
    weight = 1.0 / np.bincount(unit, minlength=n)[unit]
    matches = pd.DataFrame({"unit": unit, "match": partner, "weight": weight, "distance": np.sqrt(squared)})
    k = np.bincount(partner, weights=weight, minlength=n)
    kk = np.bincount(partner, weights=weight**2, minlength=n)

    adjusted = y[partner].astype(float)
    if problem.bias_correction:
        for arm in np.unique(z[partner]):  # the arms that supply matches
            rows = z[partner] == arm
            differences = x[unit[rows]] - x[partner[rows]]
            slopes = _bias_slopes(x, y, k, z == arm, "treated" if arm else "control", units.names, differences)
            adjusted[rows] += differences @ slopes
    imputed = np.bincount(unit, weights=weight * adjusted, minlength=n)
    effects = np.where(z == 1, y - imputed, imputed - y)[target]
    tau = float(effects.mean())

    n_target = int(target.sum())
    if problem.standard_error == "robust":
        sigma2 = _conditional_variances(space, y, z, k > 0, problem.variance_matches, problem.tolerance)
    else:  # R's Var.calc = 0: half the weighted mean squared deviation of the matched pairs' effects
        pairs = np.where(z[unit] == 1, y[unit] - adjusted, adjusted - y[unit])
        sigma2 = np.full(n, 0.5 * float(weight @ (pairs - tau) ** 2) / n_target)
    variance = (np.sum((effects - tau) ** 2) + np.sum(sigma2 * (k**2 - kk + 2 * target * k))) / n_target**2
    method = "matching" + ("-bias-corrected" if problem.bias_correction else "") + (
        "-propensity" if problem.on == "propensity" else "") + (
        "-homoskedastic" if problem.standard_error == "homoskedastic" else "")
    score_details: dict[str, Any] = {}
    if problem.score is not None:
        score_details.update(score=x[:, 0], score_estimation="treated as known")
        if problem.score.logistic:
            known = variance
            variance = known + estimated_score_change(
                problem.score, y, space, tau, estimand=problem.estimand, n_matches=problem.n_matches,
                variance_matches=problem.variance_matches, metric=problem.metric, tolerance=problem.tolerance)
            if not variance > 0:
                raise ValueError(
                    f"the Abadie-Imbens (2016) variance adjusted for the estimated score is not positive "
                    f"({variance:.4g}; {known:.4g} with the score known): too few units for the adjustment; use more "
                    "units, or pass a scikit-learn `model`, whose score is treated as known")
            method += "-ai2016"
            score_details.update(score_estimation="accounted for (Abadie-Imbens 2016)",
                                 standard_error_known_score=math.sqrt(max(known, 0.0)))
    diagnostics = weighted_asymptotics("match", target + k, z,
                                       "; use more matches (`n_matches`) or trim units without close matches")
    details = {
        "matches": matches[["unit", "match", "weight", "distance"]],
        "weights": target + k,
        "times_matched": k,
        "n_matched_pairs": len(matches),
        "n_matches": problem.n_matches,
        "metric": problem.metric,
        "standard_error": problem.standard_error,
        **diagnostics,
        "distribution": "normal",
        **score_details,
    }
    return normal_estimate(problem.estimand, tau, math.sqrt(max(variance, 0.0)), confidence_level=problem.level,
                           method=method, n=n, details=details)
