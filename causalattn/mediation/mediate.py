r"""Causal mediation analysis with parametric models: natural direct and indirect effects, CDE, intervals."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import (
    check_choice,
    check_confidence_level,
    check_flag,
    check_resamples,
    check_rng,
)
from causalattn.mediation import intervals
from causalattn.mediation._units import Units, arm_asymptotics, units_iv
from causalattn.mediation.decomposition import Decomposition
from causalattn.mediation.models import LINKS, Fit, fit_models, refit_theta, total_fit
from causalattn.mediation.natural import effects, row_names
from causalattn.observational._data import MAX_MAGNITUDE

__all__ = ["mediate"]

_DEFAULT_DRAWS = 1000


def _cde_iv(cde_at: Any) -> tuple[float, ...]:
    if cde_at is None:
        return ()
    values = [cde_at] if isinstance(cde_at, numbers.Real) else cde_at
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray, pd.Series)):
        raise TypeError(f"`cde_at` must be a mediator value or a list of them, got {type(cde_at).__name__}")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"`cde_at` must hold finite mediator values, got {value!r}")
        if abs(value) > MAX_MAGNITUDE:  # CDE(m) = b1 + b3 m: its variance has m^2
            raise ValueError(f"`cde_at` value {value!r} is beyond {MAX_MAGNITUDE:.0e} in magnitude: the variance of "
                             "CDE(m) holds m^2, which overflows; express the mediator in other units")
        out.append(float(value))
    return tuple(out)


def _count_iv(name: str, value: Any, used: bool, method: str, level: float) -> int:
    """``n_draws`` or ``n_resamples``: only with its method, at least ``minimum_resamples(level)`` (40 at 95%)."""
    if value is None:
        return _DEFAULT_DRAWS if used else 0
    if not used:
        raise ValueError(f"`{name}` is not used by method={method!r}; leave it out")
    return check_resamples(name, value, level)


@dataclass(frozen=True)
class _MediateArgs:
    """The checked arguments of :func:`mediate`."""

    units: Units
    link: str
    interaction: bool
    cde: tuple[float, ...]
    method: str
    n_draws: int
    n_resamples: int
    rng: np.random.Generator
    level: float


def _mediate_iv(data, outcome, treatment, mediator, covariates, link, interaction, cde_at, method, n_draws,
                n_resamples, rng, confidence_level) -> _MediateArgs:
    """Validate the arguments of :func:`mediate` (all of them before any fit)."""
    link = check_choice("link", link, LINKS)
    interaction = check_flag("interaction", interaction)
    method = check_choice("method", method, intervals.METHODS)
    level = check_confidence_level(confidence_level)
    n_draws = _count_iv("n_draws", n_draws, method == "quasi-bayesian", method, level)
    n_resamples = _count_iv("n_resamples", n_resamples, method == "bootstrap", method, level)
    generator = check_rng(rng)
    cde = _cde_iv(cde_at)
    units = units_iv(data, outcome, treatment, mediator, covariates, binary_outcome=link != "identity")
    if link != "identity" and np.unique(units.m).size == 2:
        raise ValueError(f"`mediator` {units.mediator!r} takes two values, but with link={link!r} the natural effects "
                         "average the outcome model over the mediator model's normal distribution, which a binary "
                         "mediator does not have (their intervals then miss the truth: NIE 0.33 [0.32, 0.34] for a "
                         "true 0.40); use link='identity', where only the mediator's mean enters and a binary "
                         "mediator is fine")
    return _MediateArgs(units, link, interaction, cde, method, n_draws, n_resamples, generator, level)


def _row_details(units: Units, fit: Fit, cde: tuple[float, ...], method_details: dict) -> list[dict]:
    scale = "risk difference" if fit.link != "identity" else "difference in means"
    common = {"treatment": units.treatment, "outcome": units.outcome, "mediator": units.mediator, "link": fit.link,
              "interaction": fit.interaction, "scale": scale, **method_details}
    observed = (float(units.m.min()), float(units.m.max()))
    details = []
    for row in row_names(cde):
        extra = {"component": row.component, "imai": row.imai} if row.imai else {"component": row.component}
        details.append({**common, **extra})
    for d, m in zip(details[len(details) - len(cde):], cde, strict=True):
        d["extrapolated"] = not observed[0] <= m <= observed[1]
    if fit.link == "identity" and not fit.interaction:
        total = total_fit(units)
        a, b, c_prime = fit.mediator.params[1], fit.outcome.params[2], fit.outcome.params[1]
        for d in details:
            if d["component"] == "indirect":
                d.update(product_ab=float(a * b), difference_c_c_prime=float(total.params[1] - c_prime))
    return details


def mediate(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    mediator: str,
    covariates: str | Sequence[str] | None = None,
    *,
    link: str = "identity",
    interaction: bool = False,
    cde_at: float | Sequence[float] | None = None,
    method: str = "quasi-bayesian",
    n_draws: int | None = None,
    n_resamples: int | None = None,
    rng: Any = None,
    confidence_level: float = 0.95,
) -> Decomposition:
    r"""Natural direct and indirect effects of a binary treatment through one mediator, with intervals.

    Fits the mediator model (OLS, normal errors) and the outcome model (OLS,
    probit or logit; the treatment-mediator product if ``interaction``), both
    with the ``covariates``, by statsmodels, and evaluates the mediation
    formula exactly at the estimates (:mod:`causalattn.mediation.natural`).
    With a linear outcome only the mediator's mean enters, so any mediator
    (binary, a count) is fine; with a probit or logit outcome the formula
    integrates over the mediator's normal distribution, so the mediator must
    be (close to) normal given the treatment and covariates, and a binary one
    is refused:

    .. math::
        \mathrm{NDE}(z^*) = \psi(1, z^*) - \psi(0, z^*), \quad
        \mathrm{NIE}(z) = \psi(z, 1) - \psi(z, 0), \quad
        \psi(z, z^*) = \frac1n\sum_i E\{Y(z, M(z^*)) \mid X_i\}.

    The two decompositions of the total effect, :math:`\mathrm{NDE}(0) + \mathrm{NIE}(1)` and
    :math:`\mathrm{NDE}(1) + \mathrm{NIE}(0)`, hold exactly. In Imai, Keele and Tingley's
    (2010) names (``details["imai"]``): NDE(0) = ADE (control), NIE(1) = ACME (treated),
    NDE(1) = ADE (treated), NIE(0) = ACME (control). Without an interaction the linear
    model's NIE is the Baron-Kenny product :math:`ab`, which equals :math:`c - c'` (both in
    the indirect rows' details; :func:`~causalattn.baron_kenny` gives them with intervals).
    For binary outcomes every effect is a risk difference.

    Assumptions (Ding 2024, ch. 27): the treatment is ignorable given the
    covariates (randomized in the framing data), the mediator is ignorable given
    the treatment and covariates (no unmeasured mediator-outcome confounder:
    :func:`~causalattn.mediation_sensitivity` asks what one would do), no
    mediator-outcome confounder affected by the treatment, and correct models.
    Effects are averaged over the sample's covariates, and the delta and
    quasi-Bayesian intervals are conditional on them (the bootstrap's are not).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit; numeric columns without missing values.
    outcome, treatment, mediator : str
        Column names; ``treatment`` 0/1 with at least 2 units in each arm;
        ``outcome`` 0/1 for ``link="probit"`` or ``"logit"``.
    covariates : str or list of str, optional
        Pre-treatment covariates, in both models.
    link : {"identity", "probit", "logit"}
        The outcome model: OLS, or a binomial GLM with this link.
    interaction : bool
        Add the treatment-mediator product to the outcome model (VanderWeele
        and Vansteelandt 2009); the two decompositions then differ.
    cde_at : float or list of float, optional
        Mediator values :math:`m` at which to report the controlled direct
        effect :math:`\mathrm{CDE}(m) = E\{Y(1, m) - Y(0, m)\}` (Ding 2024, ch. 28);
        ``details["extrapolated"]`` says whether :math:`m` is outside the
        observed mediator values.
    method : {"quasi-bayesian", "bootstrap", "delta"}
        The one procedure behind every row's interval and p-value
        (:mod:`causalattn.mediation.intervals`): simulation from the
        coefficients' normal distribution with the percentile interval (R's
        default), the percentile bootstrap over units, or the delta method
        (Sobel) with the normal interval.
    n_draws : int, optional
        Quasi-Bayesian draws (default 1000); only with that method.
    n_resamples : int, optional
        Bootstrap resamples (default 1000); only with that method.
    rng : None, int or numpy.random.Generator
        Randomness of the simulation or bootstrap.
    confidence_level : float

    Returns
    -------
    Decomposition
        Rows ``"total effect"``, ``"NDE(0)"``, ``"NIE(1)"``, ``"NDE(1)"``,
        ``"NIE(0)"``, ``"NDE (average)"``, ``"NIE (average)"``,
        ``"proportion mediated"`` (NIE (average) / total effect), then one
        ``"CDE(m=...)"`` per value of ``cde_at``; ``n`` is the number of units;
        ``method`` ``"quasi-bayesian"``, ``"bootstrap-percentile"`` or
        ``"delta"``. ``fits`` holds the statsmodels results ``"mediator"`` and
        ``"outcome"``.

    Raises
    ------
    ValueError, TypeError
        Before any fit, for a missing or non-numeric column, missing values, a constant outcome, a binary
        (two-valued) mediator with ``link="probit"`` or ``"logit"`` (the mediator model is normal),
        a treatment that is not 0/1 or has fewer than 2 units in an arm, a
        constant mediator, a rank-deficient design (e.g. a mediator that the
        treatment and covariates determine), a binary outcome model on a
        non-binary outcome, a separated binary outcome, or a bad option.

    Notes
    -----
    The mediator's residual variance is :math:`\hat\sigma^2 = \mathrm{SSR}/(n - p_M)`, as R's
    ``lm``; it matters only for binary outcomes. Coverage of the intervals is measured in
    ``benchmarks/coverage.py`` (n = 100 and 500); with fewer units all three are large-sample
    approximations of unmeasured accuracy.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 27-28. CRC Press.

    Baron, R. M. and Kenny, D. A. (1986). The moderator-mediator variable distinction in social
    psychological research. *Journal of Personality and Social Psychology* 51, 1173-1182.

    VanderWeele, T. J. and Vansteelandt, S. (2009). Conceptual issues concerning mediation,
    interventions and composition. *Statistics and Its Interface* 2, 457-468.

    Imai, K., Keele, L. and Tingley, D. (2010). A general approach to causal mediation analysis.
    *Psychological Methods* 15, 309-334.

    Examples
    --------
    >>> import pandas as pd
    >>> from causalattn import datasets, mediate
    >>> framing = datasets.load("framing")
    >>> x = pd.get_dummies(framing[["educ", "gender"]], drop_first=True, dtype=float)
    >>> data = pd.concat([framing, x], axis=1)
    >>> covariates = ["age", "income", *x.columns]
    >>> table = mediate(data, "cong_mesg", "treat", "emo", covariates, link="probit", rng=0)
    >>> table["NIE(1)"]  # anxiety carries the effect of the story on asking to write to Congress
    Estimate(NIE(1) = 0.08515, SE 0.02584, 95% CI [0.03783, 0.1399], p = 0.000999; method=quasi-bayesian, n=265)
    >>> table["NDE(0)"]
    Estimate(NDE(0) = 0.01156, SE 0.05661, 95% CI [-0.09922, 0.1243], p = 0.796; method=quasi-bayesian, n=265)
    """
    args = _mediate_iv(data, outcome, treatment, mediator, covariates, link, interaction, cde_at, method, n_draws,
                       n_resamples, rng, confidence_level)
    units, link, interaction, cde, method, level = (args.units, args.link, args.interaction, args.cde, args.method,
                                                    args.level)
    fit = fit_models(units, link, interaction)
    note = {"asymptotics": arm_asymptotics(units, "mediate")}
    p_m = fit.n_mediator
    rows = row_names(cde)
    options = {"n_mediator": p_m, "link": link, "interaction": interaction, "cde_at": cde}
    values = effects(fit.theta, units.x, **options)
    names = [row.estimand for row in rows]
    if method == "delta":
        se = intervals.delta_standard_errors(lambda t: effects(t, units.x, **options), fit.theta, fit.cov)
        details = _row_details(units, fit, cde, note)
        table = intervals.estimates(names, values, level=level, method="delta", n=units.n, details=details,
                                    standard_errors=se)
    else:
        if method == "quasi-bayesian":
            blocks = [(slice(0, p_m), fit.cov[:p_m, :p_m]), (slice(p_m + 1, None), fit.cov[p_m + 1:, p_m + 1:])]
            draws = intervals.quasi_bayesian_draws(lambda t: effects(t, units.x, **options), blocks, fit.theta,
                                                   args.n_draws, args.rng, units.n * (64 if link == "logit" else 4))
            extra = {"n_draws": args.n_draws}
        else:
            def statistic(rows_: np.ndarray) -> np.ndarray:
                resample = units.subset(rows_)
                return effects(refit_theta(resample, link, interaction, fit), resample.x, **options)

            draws = intervals.bootstrap_draws(units.n, statistic, len(rows), args.n_resamples, level, args.rng)
            extra = {"n_resamples": args.n_resamples}
        details = _row_details(units, fit, cde, {**note, **extra})
        table = intervals.estimates(names, values, level=level, n=units.n, details=details, draws=draws,
                                    method="quasi-bayesian" if method == "quasi-bayesian" else "bootstrap-percentile")
    title = f"mediation: {units.treatment} -> {units.mediator} -> {units.outcome} ({link} outcome model)"
    return Decomposition(table, title, fits={"mediator": fit.mediator, "outcome": fit.outcome})
