"""The Fisher randomization test (FRT), its confidence interval by test inversion, and Hodges-Lehmann.

Under the sharp null hypothesis :math:`H_0: Y_i(1) - Y_i(0) = \\tau` for every
unit, the control potential outcomes are known, :math:`Y_i(0) = Y_i - \\tau Z_i`,
so any statistic :math:`T(Z, Y(0))` has a known distribution over the
assignments :math:`A` that the design could have produced. The p-value compares
the observed :math:`T(Z, Y(0))` with :math:`T(A, Y(0))`, exactly (all
assignments) or by Monte Carlo. The design is any :class:`causalattn.experiments.designs.Design`;
the FRT only draws, enumerates and counts its assignments.

References
----------
Fisher, R. A. (1935). *The Design of Experiments*. Oliver and Boyd.
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (FRT in
CRE), ch. 5 (SRE), ch. 6 (ReM, BRE), ch. 7 (MPE, signed ranks, covariate adjustment).
Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank
tests. *Annals of Mathematical Statistics* 34(2), 598-611.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_choice,
    check_confidence_level,
    check_flag,
    check_positive_int,
    check_rng,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import ConfidenceInterval, Estimate
from causalattn.experiments.designs import (
    CRE,
    DESIGNS,
    ClusterRandomized,
    Design,
    resolve_design,
    stratified_difference,
)
from causalattn.experiments.matched_pairs import covariate_differences

__all__ = ["MAX_EXACT", "frt", "frt_confidence_interval", "hodges_lehmann"]

MAX_EXACT = 2**20
"""``frt`` enumerates every assignment when the design has at most this many (or at most ``n_resamples``)."""

_EXACT_CEILING = 2**26  # method="exact" refuses designs with more assignments (minutes of enumeration)
_STATISTICS = ("diff_in_means", "studentized", "rank_sum", "signed_rank", "ks", "adjusted", "cluster_means")
_METHODS = ("auto", "exact", "monte-carlo", "asymptotic")
_ALTERNATIVES = ("two-sided", "greater", "less")
_BATCH_ELEMENTS = 2**22  # default batch: about 32 MB per float64 assignment matrix
_CACHE_ELEMENTS = 2**23  # test inversion keeps up to 64 MB of assignments in memory


@dataclass(frozen=True)
class _Statistic:
    """A test statistic ``function(y0, assignments) -> (B,)``; linear ones are ``assignments @ scores(y0)``."""

    name: str
    function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scores: Callable[[np.ndarray], np.ndarray] | None = None
    continuity: float = 0.0  # for the normal approximation of an integer-valued linear statistic
    basis: Callable[[np.ndarray], np.ndarray] | None = None  # T(A, y0) = A @ basis(y0), basis linear in y0


def _linear(name: str, scores: Callable[[np.ndarray], np.ndarray], continuity: float = 0.0) -> _Statistic:
    return _Statistic(name, lambda y, a: a @ scores(y), scores, continuity)


def _difference_in_means(design: Design, z: np.ndarray) -> _Statistic:
    r"""The (stratified, paired) difference in means as :math:`A\,(w \circ \tilde y)`, when arm sizes are fixed.

    With :math:`n_{1k}, n_{0k}` treated and control units in group :math:`k` for
    every assignment, :math:`\hat\tau(A) = \sum_i A_i w_i \tilde y_i` with
    :math:`w_i = \pi_k (1/n_{1k} + 1/n_{0k})` and :math:`\tilde y` the outcomes
    centred within groups: only the (weighted) treated sum varies between assignments.
    """
    groups = design.groups
    n1 = np.rint(groups.sums(z.astype(float)))
    weights = (groups.sizes / groups.n * (1 / n1 + 1 / (groups.sizes - n1)))[groups.codes]

    def basis(y: np.ndarray) -> np.ndarray:
        return weights * (y - (groups.sums(y) / groups.sizes)[groups.codes])

    return _Statistic("diff_in_means", lambda y, a: a @ basis(y), basis=basis)


def _cluster_means(design: ClusterRandomized) -> _Statistic:
    r"""The difference in cluster means :math:`G_1^{-1}\sum_{g: A_g = 1} \bar y_g - G_0^{-1}\sum_{g: A_g = 0} \bar y_g`.

    Every assignment treats :math:`G_1` of the :math:`G` clusters, so with
    :math:`w_i = (1/G_1 + 1/G_0) / s_{g(i)}` (:math:`s_g` the size of cluster
    :math:`g`) and :math:`M` the average cluster mean, the statistic is
    :math:`A\,\{w \circ (y - M)\}`: linear in the outcomes, like the difference in means of a CRE.
    """
    clusters = design.cluster_groups
    g1 = design.n_treated
    g0 = clusters.k - g1
    weights = (1 / g1 + 1 / g0) / clusters.sizes[clusters.codes]

    def basis(y: np.ndarray) -> np.ndarray:
        return weights * (y - np.mean(clusters.sums(y) / clusters.sizes))

    return _Statistic("cluster_means", lambda y, a: a @ basis(y), basis=basis)


def _cluster_studentized(design: ClusterRandomized) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    r"""The difference in means over its cluster-level standard error, per assignment.

    With :math:`N_a` units and :math:`G_a` clusters in arm :math:`a`, the
    residual sum :math:`e_g = \sum_{i \in g} (y_i - \bar y_{a(g)})` of each
    cluster gives :math:`\widehat{\mathrm{Var}}(\bar y_a) = \frac{G_a}{G_a - 1}
    \sum_{g \in a} e_g^2 / N_a^2`: the cluster-robust variance with the
    small-sample factor that makes it :math:`S_a^2/N_a` (Neyman's) for clusters
    of one unit, and :math:`s_a^2 / G_a` of the cluster means for clusters of
    equal size (then the statistic is Welch's t on the cluster means).
    """
    clusters = design.cluster_groups
    first = np.array([members[0] for members in clusters.members])

    def studentized(y: np.ndarray, a: np.ndarray) -> np.ndarray:
        n1 = a.sum(axis=1)
        mean1, mean0 = a @ y / n1, (1 - a) @ y / (len(y) - n1)  # (B,)
        treated = a[:, first]  # (B, clusters)
        residual_sums = clusters.sums(y)[None, :] - clusters.sizes * np.where(treated == 1, mean1[:, None],
                                                                             mean0[:, None])
        variances = []
        for arm, units in ((treated, n1), (1 - treated, len(y) - n1)):
            count = arm.sum(axis=1)
            variances.append(count / (count - 1) * (arm * residual_sums**2).sum(axis=1) / units**2)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (mean1 - mean0) / np.sqrt(variances[0] + variances[1])

    return studentized


def _ks(outcome: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov distance between treated and control outcomes, per row."""
    order = np.argsort(outcome, kind="stable")
    ends = np.r_[np.flatnonzero(np.diff(outcome[order])), len(outcome) - 1]  # last index of each tie group
    treated = np.cumsum(assignments[:, order], axis=1)[:, ends]  # (B, distinct values)
    n1 = treated[:, -1:]
    control = (ends + 1) - treated
    return np.abs(treated / n1 - control / (len(outcome) - n1)).max(axis=1)


def _within_ranks(design: Design) -> Callable[[np.ndarray], np.ndarray]:
    """van Elteren's scores: ranks within each stratum divided by the stratum size plus one."""
    groups = design.groups

    def scores(y: np.ndarray) -> np.ndarray:
        out = np.empty(len(y))
        for members, size in zip(groups.members, groups.sizes, strict=True):
            out[members] = stats.rankdata(y[members]) / (size + 1)
        return out

    return scores


def _signed_rank_scores(members: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Unit scores :math:`a` with :math:`\\sum_i A_i a_i` Wilcoxon's signed-rank statistic of the pair differences."""
    first, second = members.T

    def scores(y: np.ndarray) -> np.ndarray:
        d = y[first] - y[second]  # first minus second unit of each pair
        nonzero = d != 0
        ranks = np.zeros(len(d))
        ranks[nonzero] = stats.rankdata(np.abs(d[nonzero]))  # zero differences are dropped, as in R and scipy
        out = np.empty(len(y))
        out[first], out[second] = (d > 0) * ranks, (d < 0) * ranks
        return out

    return scores


def _adjusted(members: np.ndarray, dx: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    r"""The intercept of the OLS fit of the pair differences on the covariate differences, per assignment.

    With signs :math:`s_i = \pm 1` (first unit treated or not), :math:`d_i = s_i D_i` and
    :math:`x_i = s_i X_i`, the normal equations have the constant block
    :math:`G = \sum_i X_i X_i^\top`, and the intercept is
    :math:`(t - u^\top G^{-1} c) / (m - u^\top G^{-1} u)` with :math:`t = \sum_i s_i D_i`,
    :math:`u = \sum_i s_i X_i`, :math:`c = \sum_i X_i D_i`.
    """
    first, second = members.T  # dx: (m, K) covariate differences, first minus second unit
    precision = np.linalg.inv(dx.T @ dx)
    m = len(first)

    def intercept(y: np.ndarray, assignments: np.ndarray) -> np.ndarray:
        d = y[first] - y[second]
        signs = 2 * assignments[:, first] - 1  # (B, m)
        u = signs @ dx  # (B, K)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (signs @ d - u @ (precision @ (dx.T @ d))) / (m - np.einsum("bk,kl,bl->b", u, precision, u))

    return intercept


def _statistic_iv(statistic, design: Design, z: np.ndarray, covariates) -> _Statistic:
    """The statistic object; a ValueError when a built-in statistic does not fit the design."""
    if statistic != "adjusted" and covariates is not None:
        raise ValueError("`covariates` is only used with design='rem' or statistic='adjusted'")
    if callable(statistic):
        return _Statistic(getattr(statistic, "__name__", "custom"), statistic)
    name = check_choice("statistic", statistic, _STATISTICS)
    groups, paired = design.groups, design.paired
    cluster = isinstance(design, ClusterRandomized)
    if name == "cluster_means":
        if not cluster:
            raise ValueError(f"`statistic`='cluster_means' needs a cluster-randomized design (design='cluster'), "
                             f"got {type(design).__name__}")
        return _cluster_means(design)
    if name in ("signed_rank", "adjusted") and not paired:
        raise ValueError(f"`statistic`={name!r} needs a matched-pairs design (design='mpe'), "
                         f"got {type(design).__name__}")
    if name == "rank_sum" and paired:
        raise ValueError("`statistic`='rank_sum' ranks the whole sample and ignores the pairs; under a "
                         "matched-pairs design use statistic='signed_rank' (Wilcoxon's signed-rank statistic)")
    if name == "ks" and (paired or groups.k > 1):
        raise ValueError(f"`statistic`='ks' compares the arms of one sample; under {type(design).__name__} use "
                         "'rank_sum' (stratified), 'signed_rank' (pairs), the difference in means or a callable")
    if name == "diff_in_means":
        if design.fixed_group_counts:
            return _difference_in_means(design, z)
        return _Statistic(name, lambda y, a: stratified_difference(y, a, groups, paired=paired)[0])
    if name == "studentized":
        if paired and groups.k < 2:
            raise ValueError("`pairs`: the studentized statistic needs at least 2 pairs")
        if cluster:
            if min(design.n_treated, design.cluster_groups.k - design.n_treated) < 2:
                raise ValueError(f"`clusters`: the studentized statistic needs at least 2 treated and 2 control "
                                 f"clusters, got {design.n_treated} of {design.cluster_groups.k} treated")
            return _Statistic(name, _cluster_studentized(design))
        if not paired:
            groups.check_both_arms(z, minimum=2)

        def studentized(y, a):
            tau, var = stratified_difference(y, a, groups, paired=paired, variance=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                return tau / np.sqrt(var)

        return _Statistic(name, studentized)
    if name == "rank_sum":
        if groups.k > 1:
            return _linear(name, _within_ranks(design))
        return _linear(name, stats.rankdata, continuity=0.5)
    members = np.array(groups.members).reshape(-1, 2) if paired else None
    if name == "signed_rank":
        return _linear(name, _signed_rank_scores(members), continuity=0.5)
    if name == "adjusted":
        if covariates is None:
            raise ValueError("`covariates` is required with statistic='adjusted'")
        return _Statistic(name, _adjusted(members, covariate_differences(covariates, design)))
    return _Statistic(name, _ks)


@dataclass(frozen=True)
class _Problem:
    """A validated FRT: everything but the null effect and the random stream."""

    outcome: np.ndarray
    treatment: np.ndarray
    design: Design
    statistic: _Statistic
    alternative: str
    method: str  # "exact", "monte-carlo" or "asymptotic"
    n_resamples: int
    batch: int
    confidence_level: float


def _method_iv(method, statistic: _Statistic, design: Design, alternative: str, n_resamples: int) -> str:
    method = check_choice("method", method, _METHODS)
    count = design.count()
    if method == "auto":
        return "exact" if count <= max(MAX_EXACT, n_resamples) else "monte-carlo"
    if method == "exact" and count > _EXACT_CEILING:
        raise ValueError(f"`method`='exact': the design has {count:.3g} assignments, more than 2**26; "
                         "use method='monte-carlo'")
    if method == "asymptotic":
        if statistic.name == "ks":
            if not isinstance(design, CRE):
                raise ValueError("`method`='asymptotic' with statistic='ks' needs a completely randomized design")
            if alternative != "greater":
                raise ValueError("`alternative`: the KS distance is non-negative and its asymptotic p-value is "
                                 "P(D >= d); use alternative='greater'")
        elif statistic.scores is None:
            raise ValueError("`method`='asymptotic' is available for statistic 'rank_sum', 'signed_rank' and 'ks'; "
                             "for the difference in means use causalattn.experiments.neyman")
        elif design.linear_moments(np.ones(design.n)) is None:
            raise ValueError(f"`method`='asymptotic' needs the moments of the statistic under the design, which "
                             f"{type(design).__name__} does not give; use method='auto'")
    return method


def _frt_iv(outcome, treatment, design, strata, pairs, statistic, alternative, null_effect, n_resamples, batch,
            rng, confidence_level, covariates, probability, threshold, clusters, method):
    check_same_index(outcome=outcome, treatment=treatment, strata=strata, pairs=pairs, clusters=clusters,
                     covariates=covariates)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    design_covariates = None
    if isinstance(design, str) and design in DESIGNS and "covariates" in DESIGNS[design].arguments:
        design_covariates, covariates = covariates, None
    design = resolve_design(design, z, strata=strata, pairs=pairs, covariates=design_covariates,
                            probability=probability, threshold=threshold, clusters=clusters)
    statistic = _statistic_iv(statistic, design, z, covariates)
    alternative = check_choice("alternative", alternative, _ALTERNATIVES)
    tau = as_float_array("null_effect", [null_effect])[0]
    n_resamples = check_positive_int("n_resamples", n_resamples)
    batch = max(1, min(n_resamples, _BATCH_ELEMENTS // len(y))) if batch is None else check_positive_int(
        "batch", batch)
    method = _method_iv(method, statistic, design, alternative, n_resamples)
    problem = _Problem(y, z, design, statistic, alternative, method, n_resamples, batch,
                       check_confidence_level(confidence_level))
    return problem, tau, check_rng(rng)


def _evaluate(problem: _Problem, y0: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    values = np.asarray(problem.statistic.function(y0, assignments), dtype=float)
    if values.shape != (len(assignments),):
        raise ValueError(
            f"`statistic` must return one value per assignment, shape ({len(assignments)},), got {values.shape}"
        )
    return values


@dataclass(frozen=True)
class _TestResult:
    observed: float
    null_distribution: np.ndarray
    pvalue: float
    mc_standard_error: float


def _combine(greater: float, less: float, alternative: str) -> tuple[float, float]:
    """The p-value of ``alternative`` from the two one-sided ones, and the one-sided p-value it rests on."""
    if alternative == "two-sided":
        smaller = min(greater, less)
        return min(1.0, 2 * smaller), smaller
    p = greater if alternative == "greater" else less
    return p, p


def _pvalue(null, weights, observed, alternative, exact):
    """Exact (weighted) or Monte Carlo ``(1 + b) / (1 + R)`` p-value, and its Monte Carlo standard error."""
    tolerance = 100 * np.finfo(float).eps * abs(observed)  # ties despite rounding, as scipy.stats does
    extreme = {"greater": null >= observed - tolerance, "less": null <= observed + tolerance}
    if exact:
        w = np.ones(len(null)) if weights is None else weights
        one_sided = {k: float(w[v].sum() / w.sum()) for k, v in extreme.items()}
    else:
        one_sided = {k: (1 + int(v.sum())) / (1 + len(null)) for k, v in extreme.items()}
    p, smaller = _combine(one_sided["greater"], one_sided["less"], alternative)
    factor = 2.0 if alternative == "two-sided" else 1.0
    se = 0.0 if exact else factor * math.sqrt(smaller * (1 - smaller) / len(null))
    return p, se


def _asymptotic_pvalue(problem: _Problem, y0: np.ndarray, observed: float) -> float:
    """Normal approximation of a linear statistic under the design; Smirnov's limit for the KS distance."""
    if problem.statistic.name == "ks":
        n1 = int(problem.treatment.sum())
        n0 = len(y0) - n1
        return float(np.clip(stats.kstwo.sf(observed, np.round(n1 * n0 / (n1 + n0))), 0, 1))
    mean, variance = problem.design.linear_moments(problem.statistic.scores(y0))
    if variance <= 0:
        return 1.0
    sd, c = math.sqrt(variance), problem.statistic.continuity
    greater = float(stats.norm.sf((observed - mean - c) / sd))
    less = float(stats.norm.cdf((observed - mean + c) / sd))
    return _combine(greater, less, problem.alternative)[0]


_Blocks = Callable[[], Iterable[tuple[np.ndarray, "np.ndarray | None"]]]


@dataclass(frozen=True)
class _Assignments:
    r"""The assignments to test against, as a function giving blocks of ``(rows, weights)``.

    ``projected``: each row is not an assignment :math:`A` but the pair
    :math:`(A\,b(y), A\,b(z))` of a statistic linear in the outcomes,
    :math:`T(A, y - \tau z) = A\,b(y) - \tau A\,b(z)`, computed once for all tests.
    """

    blocks: _Blocks
    projected: bool = False


def _assignments(problem: _Problem, rng: np.random.Generator, reuse: bool) -> _Assignments:
    """The enumerated or drawn assignments; with ``reuse`` every call gives the same ones (test inversion).

    For reuse they are kept in memory as projections for statistics linear in the
    outcomes (two numbers per assignment), else in full when there are at most
    ``_CACHE_ELEMENTS`` numbers, else enumerated again or redrawn from a copy of
    the generator's starting state.
    """
    design = problem.design
    if problem.method == "asymptotic":
        return _Assignments(lambda: ())
    if problem.method == "exact":
        size = design.count()
        source = lambda: design.enumerate(problem.batch)  # noqa: E731
    else:
        size = problem.n_resamples

        def source(generator=rng):
            return ((a, None) for a in design.draw_batches(generator, problem.n_resamples, problem.batch))

    if not reuse:
        return _Assignments(source)
    basis = problem.statistic.basis
    if basis is not None:
        columns = np.column_stack([basis(problem.outcome), basis(problem.treatment.astype(float))])  # (n, 2)
        projections = [(block @ columns, weights) for block, weights in source() if len(block)]
        return _Assignments(lambda: projections, projected=True)
    if size * design.n <= _CACHE_ELEMENTS:
        cached = list(source())
        return _Assignments(lambda: cached)
    if problem.method == "exact":
        return _Assignments(source)
    start = copy.deepcopy(rng)
    return _Assignments(lambda: source(copy.deepcopy(start)))


def _test(problem: _Problem, tau: float, assignments: _Assignments) -> _TestResult:
    """One FRT of the sharp null of a constant effect ``tau`` against ``assignments``."""
    y0 = problem.outcome - tau * problem.treatment
    observed = float(_evaluate(problem, y0, problem.treatment[None, :].astype(float))[0])
    if math.isnan(observed):
        raise ValueError(f"`statistic` ({problem.statistic.name}) is NaN for the observed assignment")
    if problem.method == "asymptotic":
        return _TestResult(observed, np.empty(0), _asymptotic_pvalue(problem, y0, observed), 0.0)
    values, probabilities = [], []
    for block, block_weights in assignments.blocks():
        if len(block):
            values.append(block[:, 0] - tau * block[:, 1] if assignments.projected
                          else _evaluate(problem, y0, block))
            probabilities.append(block_weights)
    null = np.concatenate(values)
    weights = None if probabilities[0] is None else np.concatenate(probabilities)
    p, se = _pvalue(null, weights, observed, problem.alternative, problem.method == "exact")
    return _TestResult(observed, null, p, se)


def _boundary(pvalue: Callable[[float], float], centre: float, step: float, alpha: float, tol: float) -> float:
    """The last ``tau`` from ``centre`` in the direction of ``step`` with ``pvalue(tau) > alpha`` (within ``tol``)."""
    inside, outside = centre, centre + step
    for _ in range(60):
        if pvalue(outside) <= alpha:
            break
        inside, step = outside, 2 * step
        outside = centre + step
    else:
        return math.copysign(math.inf, step)
    while abs(outside - inside) > tol:
        middle = (inside + outside) / 2
        if pvalue(middle) > alpha:
            inside = middle
        else:
            outside = middle
    return inside


def _invert(problem: _Problem, assignments: _Assignments, centre: float) -> ConfidenceInterval:
    """Confidence interval ``{tau : p(tau) > 1 - level}``, every test on the same assignments."""
    y, z = problem.outcome, problem.treatment
    scale = float(np.std(y)) * math.sqrt(1 / z.sum() + 1 / (len(z) - z.sum())) or 1.0

    def pvalue(tau: float) -> float:
        return _test(problem, tau, assignments).pvalue

    alpha = 1 - problem.confidence_level + 1e-12  # p = 1 - level exactly (e.g. 4/20 at 80%) is a rejection
    tol = 1e-3 * scale
    low = -math.inf if problem.alternative == "less" else _boundary(pvalue, centre, -scale, alpha, tol)
    high = math.inf if problem.alternative == "greater" else _boundary(pvalue, centre, scale, alpha, tol)
    return ConfidenceInterval(low, high)


def _observed_effect(problem: _Problem) -> tuple[str, float]:
    """The estimand and its estimate: the covariate-adjusted or the (stratified, paired) difference in means."""
    z = problem.treatment[None, :].astype(float)
    design = problem.design
    if problem.statistic.name in ("adjusted", "cluster_means"):
        estimand = ("covariate-adjusted paired difference in means" if problem.statistic.name == "adjusted"
                    else "difference in cluster means")
        return estimand, float(problem.statistic.function(problem.outcome, z)[0])
    kind = "paired " if design.paired else ("stratified " if design.groups.k > 1 else "")
    effect = stratified_difference(problem.outcome, z, design.groups, paired=design.paired)[0][0]
    return f"{kind}difference in means", float(effect)


def frt(
    outcome,
    treatment,
    *,
    design: str | Design = "cre",
    strata=None,
    pairs=None,
    statistic: str | Callable = "diff_in_means",
    alternative: str = "two-sided",
    null_effect: float = 0.0,
    n_resamples: int = 10_000,
    batch: int | None = None,
    rng=None,
    confidence_level: float = 0.95,
    covariates=None,
    probability: float | None = None,
    threshold: float | None = None,
    confidence: bool = False,
    clusters=None,
    method: str = "auto",
) -> Estimate:
    r"""Fisher randomization test of the sharp null of a constant additive effect.

    Under :math:`H_0: Y_i(1) = Y_i(0) + \tau` for all units (``null_effect`` =
    :math:`\tau`, default 0: no effect for anyone), the control outcomes are
    imputed as :math:`Y(0) = Y - \tau Z` and the observed statistic
    :math:`t = T(Z, Y(0))` is compared with :math:`T(A, Y(0))` over the
    assignments :math:`A` of the design. If the design has at most
    :data:`MAX_EXACT` :math:`= 2^{20}` assignments (or at most ``n_resamples``)
    all are enumerated (``method="frt-exact"``, p-value :math:`P(T \ge t)` under
    the design); otherwise ``n_resamples`` assignments are drawn
    (``method="frt-monte-carlo"``) and :math:`p = (1 + \#\{T_r \ge t\}) / (1 + R)`,
    with Monte Carlo standard error :math:`\{p(1 - p) / R\}^{1/2}`. ``"less"``
    counts :math:`T_r \le t`; ``"two-sided"`` doubles the smaller one-sided
    p-value (capped at 1), as :func:`scipy.stats.permutation_test` does. Ties
    are judged with a relative tolerance of :math:`100\epsilon`.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
        The observed assignment.
    design : {"cre", "bre", "sre", "mpe", "rem", "cluster"} or Design
        A :class:`causalattn.experiments.designs.Design` instance, or the shorthand of
        :data:`causalattn.experiments.designs.DESIGNS` built from the observed assignment:
        ``"cre"``: permute the labels (fixed number treated). ``"bre"``: Bernoulli
        with ``probability`` (assignments with an empty arm excluded). ``"sre"``:
        permute within ``strata``. ``"mpe"``: flip within ``pairs`` (each pair has
        one treated and one control unit). ``"rem"``: CRE assignments whose
        Mahalanobis distance on ``covariates`` is at most ``threshold``.
        ``"cluster"``: permute whole ``clusters`` (every unit of a cluster in one arm).
    strata, pairs, clusters : array-like, optional
        A label per unit, for ``"sre"``, ``"mpe"`` and ``"cluster"``.
    statistic : {"diff_in_means", "studentized", "rank_sum", "signed_rank", "ks", "adjusted", "cluster_means"}
        ``"diff_in_means"``: the difference in means, stratified
        :math:`\sum_k \pi_k \hat\tau_k` for SRE and the mean pair difference for MPE.
        ``"studentized"``: that difference divided by its Neyman standard error
        (the Welch t statistic for CRE; see :func:`causalattn.experiments.neyman`); under
        ``"cluster"`` by its cluster-level standard error
        :math:`\{\sum_a \frac{G_a}{G_a-1}\sum_{g \in a} e_g^2 / N_a^2\}^{1/2}`, with
        :math:`e_g` the sum of cluster :math:`g`'s residuals from its arm's mean and
        :math:`N_a`, :math:`G_a` the units and clusters of arm :math:`a` (Welch's t on
        the cluster means when the clusters have equal sizes; at least 2 clusters per arm).
        ``"cluster_means"`` (``"cluster"`` only): the difference between the
        average cluster mean of the treated and of the control clusters, each
        cluster weighing the same (the estimate of :func:`causalattn.clustered_effect`).
        ``"rank_sum"``: Wilcoxon's :math:`W = \sum_i Z_i R_i`, with average ranks
        :math:`R_i` for ties (R's ``wilcox.test`` reports :math:`W - n_1(n_1+1)/2`);
        under SRE van Elteren's :math:`\sum_k \sum_{i \in k} Z_i R_{ki} / (n_k + 1)`
        with ranks :math:`R_{ki}` within stratum :math:`k` (Ding ch. 5); refused under MPE.
        ``"signed_rank"`` (MPE only): Wilcoxon's :math:`W_+ = \sum_i 1\{\hat\tau_i > 0\} R_i`,
        with :math:`R_i` the rank of :math:`|\hat\tau_i|` among the non-zero pair
        differences (Ding ch. 7; zero differences dropped as in R and scipy).
        ``"ks"``: the Kolmogorov-Smirnov distance of the two arms; it is
        non-negative, so use ``alternative="greater"``; refused under SRE and MPE.
        ``"adjusted"`` (MPE only, with ``covariates``): Ding's covariate-adjusted
        estimator, the intercept of the OLS fit of the pair differences
        :math:`\hat\tau_i` on the covariate differences :math:`\hat\tau_{X,i}`
        (see :func:`causalattn.matched_pairs_adjusted`).
        A callable ``f(outcome, assignments) -> values`` receives the imputed
        ``Y(0)`` of shape ``(n,)`` and a float 0/1 array of shape ``(B, n)``
        and returns ``B`` values.
    alternative : {"two-sided", "greater", "less"}
    null_effect : float
        :math:`\tau` of the sharp null.
    n_resamples : int
        Monte Carlo draws, when the design has more than ``max(MAX_EXACT, n_resamples)`` assignments.
    batch : int, optional
        Assignments evaluated at once (memory is about ``8 * batch * n`` bytes);
        default about :math:`2^{22} / n`. Drawn assignments come in chunks of at
        most 4096 rows and 8 MB whatever ``batch`` is. The result does not depend on it.
    rng : None, int or numpy.random.Generator
    confidence_level : float
        For the interval, when ``confidence=True``.
    covariates : array-like, shape (n, K), optional
        For ``design="rem"``, or for ``statistic="adjusted"``.
    probability : float, optional
        Treatment probability, for ``"bre"``.
    threshold : float, optional
        Acceptance threshold :math:`a`, for ``"rem"``.
    confidence : bool
        Also compute the interval :math:`\{\tau : p(\tau) > 1 - \text{level}\}` by
        inverting the test (bisection over :math:`\tau`, every test on the same
        assignments). This runs some 20-40 tests, so it is off by default and the
        interval is then ``(nan, nan)``. For the difference in means under a design
        with fixed arm sizes (CRE, SRE, MPE, ReM) the statistic is
        :math:`A\,b(y) - \tau A\,b(z)`, so only two numbers per assignment are kept
        between the tests; otherwise the assignments are kept in memory when there
        are at most :math:`2^{23}` numbers (64 MB), else enumerated or redrawn.
        See :func:`frt_confidence_interval`.
    method : {"auto", "exact", "monte-carlo", "asymptotic"}
        ``"auto"`` enumerates when the design has at most ``max(MAX_EXACT,
        n_resamples)`` assignments and draws otherwise; ``"exact"`` always
        enumerates (up to :math:`2^{26}` assignments); ``"monte-carlo"`` always draws.
        ``"asymptotic"`` (``method="frt-asymptotic"``) uses the normal approximation
        of the linear rank statistics under the design,
        :math:`(W - E W \mp c) / \mathrm{Var}(W)^{1/2}` with the design's mean and
        variance (ties included) and the continuity correction :math:`c = 1/2`
        for the unweighted rank sum and the signed rank (as
        ``scipy.stats.mannwhitneyu`` and R's ``wilcox.test``), or, for ``"ks"``
        under a CRE, Smirnov's limit ``scipy.stats.kstwo.sf(d, round(n1 n0 / n))``
        of ``scipy.stats.ks_2samp(method="asymp")``.

    Returns
    -------
    Estimate
        ``estimate`` is the observed (stratified, paired or covariate-adjusted)
        difference in means, ``pvalue`` the FRT p-value, ``null_value`` :math:`\tau`,
        ``standard_error`` None; ``method`` is ``"frt-exact"``, ``"frt-monte-carlo"``
        or ``"frt-asymptotic"``. ``details``: ``statistic`` (observed :math:`t`),
        ``null_distribution`` (the statistic over the enumerated or drawn
        assignments; empty if asymptotic), ``exact``, ``mc_standard_error`` (0 unless
        Monte Carlo), ``n_resamples`` (assignments used), ``statistic_name``,
        ``design`` (the shorthand), ``alternative``.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3, 5, 6 and 7.
    van Elteren, P. H. (1960). On the combination of independent two-sample tests of Wilcoxon.
    *Bulletin of the International Statistical Institute* 37, 351-361.

    Examples
    --------
    Darwin's 15 pairs of plants (Ding ch. 7): the treated unit of each pair
    carries the difference, the control 0; all :math:`2^{15}` sign flips are enumerated.

    >>> d = [6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6]
    >>> import numpy as np
    >>> y = np.column_stack([d, np.zeros(15)]).ravel()
    >>> z = np.tile([1, 0], 15)
    >>> pairs = np.repeat(np.arange(15), 2)
    >>> res = frt(y, z, design="mpe", pairs=pairs, alternative="greater")
    >>> round(res.pvalue, 8), res.method, res.details["exact"]
    (0.02633667, 'frt-exact', True)
    >>> round(frt(y, z, design="mpe", pairs=pairs, statistic="signed_rank", alternative="greater").pvalue, 4)
    0.0206
    """
    problem, tau, generator = _frt_iv(outcome, treatment, design, strata, pairs, statistic, alternative,
                                      null_effect, n_resamples, batch, rng, confidence_level, covariates,
                                      probability, threshold, clusters, method)
    confidence = check_flag("confidence", confidence)
    assignments = _assignments(problem, generator, reuse=confidence)
    result = _test(problem, tau, assignments)
    estimand, observed_effect = _observed_effect(problem)
    interval = (_invert(problem, assignments, observed_effect) if confidence
                else ConfidenceInterval(math.nan, math.nan))
    return Estimate(
        estimand=estimand,
        estimate=observed_effect,
        standard_error=None,
        confidence_interval=interval,
        confidence_level=problem.confidence_level,
        pvalue=result.pvalue,
        method=f"frt-{problem.method}",
        n=len(problem.outcome),
        null_value=tau,
        details={
            "statistic": result.observed,
            "statistic_name": problem.statistic.name,
            "null_distribution": result.null_distribution,
            "exact": problem.method == "exact",
            "mc_standard_error": result.mc_standard_error,
            "n_resamples": len(result.null_distribution),
            "design": problem.design.shorthand or type(problem.design).__name__,
            "alternative": problem.alternative,
        },
    )


def frt_confidence_interval(outcome, treatment, **kwargs) -> ConfidenceInterval:
    """The confidence interval of :func:`frt` by test inversion; keywords as for :func:`frt`.

    Shorthand for ``frt(outcome, treatment, confidence=True, **kwargs).confidence_interval``.
    The interval collects the constant effects :math:`\\tau` that the test does not
    reject at level ``1 - confidence_level``; its ends are found by bisection to
    :math:`10^{-3}` of the standard error scale, every test using the same
    assignments (the same ``rng`` state). One-sided alternatives give one-sided
    intervals.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 (confidence sets by inverting FRTs).

    Examples
    --------
    >>> ci = frt_confidence_interval([3.1, 4.5, 2.2, 8.0, 1.2, 0.3, 2.9, 2.0], [1, 1, 1, 1, 0, 0, 0, 0])
    >>> [round(end, 1) for end in ci]  # all 70 assignments enumerated
    [-0.7, 7.7]
    """
    return frt(outcome, treatment, confidence=True, **kwargs).confidence_interval


def _hodges_lehmann_iv(outcome, treatment, design, strata, pairs, probability, clusters):
    check_same_index(outcome=outcome, treatment=treatment, strata=strata, pairs=pairs, clusters=clusters)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    if isinstance(design, str) and design in DESIGNS and "covariates" in DESIGNS[design].arguments:
        raise ValueError(f"`design`: hodges_lehmann supports designs with a known treatment probability per unit "
                         f"(cre, bre, sre, mpe, cluster), got {design!r}")
    design = resolve_design(design, z, strata=strata, pairs=pairs, probability=probability, clusters=clusters)
    if not design.paired and design.treated_probability() is None:
        raise ValueError(f"`design`: hodges_lehmann supports designs with a known treatment probability per unit, "
                         f"got {type(design).__name__}")
    return y, z, design


def hodges_lehmann(outcome, treatment, *, design: str | Design = "cre", strata=None, pairs=None,
                   probability: float | None = None, clusters=None) -> float:
    r"""Hodges-Lehmann estimate of a constant additive effect from the rank statistic of the design.

    The effect :math:`\tau` at which the rank statistic of the imputed control
    outcomes :math:`Y - \tau Z` equals its expectation under the design. Without
    pairs: :math:`\sum_i (Z_i - \pi_i)\,\{R_i(\tau) - (n+1)/2\} = 0`, with
    :math:`\pi_i` the probability that unit :math:`i` is treated (:math:`n_1/n`
    for CRE, :math:`n_{1k}/n_k` for SRE, ``probability`` for BRE, the share of
    treated clusters for cluster randomization). In pairs, the signed-rank
    equation :math:`\sum_i \mathrm{sign}(e_i) R(|e_i|) = 0` with
    :math:`e_i = \hat\tau_i - \tau`, whose root is the median of the Walsh averages
    :math:`(\hat\tau_i + \hat\tau_j)/2, i \le j`. The left side is a non-increasing
    step function of :math:`\tau`; the estimate is the midpoint of its sign
    change, found by bisection on outcomes rescaled to :math:`[-1, 1]` (the
    tolerance is :math:`10^{-13}` of the outcomes' spread, so the answer scales
    with the data from :math:`10^{-300}` to :math:`10^{308}`). For a CRE this is the
    median of the :math:`n_1 n_0` differences :math:`Y_i - Y_j` (treated :math:`i`,
    control :math:`j`).

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
    design : {"cre", "bre", "sre", "mpe", "cluster"} or Design
        As for :func:`frt` (rerandomization has no closed-form :math:`\pi_i` and is refused).
    strata, pairs, clusters : array-like, optional
    probability : float, optional

    Returns
    -------
    float
        A ValueError if the estimate is too large for float64.

    References
    ----------
    Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank tests.
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 and 7.

    Examples
    --------
    >>> round(hodges_lehmann([5.0, 7.0, 9.0, 1.0, 2.0], [1, 1, 1, 0, 0]), 6)
    5.5
    >>> round(hodges_lehmann([5e-14, 7e-14, 9e-14, 1e-14, 2e-14], [1, 1, 1, 0, 0]) / 1e-14, 6)
    5.5
    >>> round(hodges_lehmann([3.0, 1.0, 5.0, 1.0, 2.0, 4.0], [1, 0, 1, 0, 0, 1], design="mpe",
    ...                      pairs=[0, 0, 1, 1, 2, 2]), 6)  # pair differences 2, 4, 2: Walsh averages 2, 3, 2, 4, 3, 2
    2.5
    """
    y, z, design = _hodges_lehmann_iv(outcome, treatment, design, strata, pairs, probability, clusters)
    # rescale to [-1, 1] in two steps that cannot overflow; the effect is invariant to the shift
    magnitude = float(np.max(np.abs(y))) or 1.0
    shifted = y / magnitude - np.median(y / magnitude)
    spread = float(np.max(np.abs(shifted))) or 1.0
    scaled = shifted / spread

    if design.paired:
        first, second = np.array(design.groups.members).reshape(-1, 2).T
        sign = np.where(z[first] == 1, 1.0, -1.0)
        differences = sign * (scaled[first] - scaled[second])  # treated minus control, in [-2, 2]

        def equation(tau: float) -> float:
            e = differences - tau
            return float(np.sign(e) @ stats.rankdata(np.abs(e)))
    else:
        weights = z - design.treated_probability()
        centre = (len(y) + 1) / 2

        def equation(tau: float) -> float:
            return float(weights @ (stats.rankdata(scaled - tau * z) - centre))

    def crossing(positive_side: bool) -> float:
        """sup{tau: equation > 0} (positive_side) or inf{tau: equation < 0}."""
        low, high = -3.0, 3.0  # the effect lies within the range of the differences, [-2, 2]
        while high - low > 1e-13:
            middle = (low + high) / 2
            value = equation(middle)
            if (value > 0) if positive_side else (value >= 0):
                low = middle
            else:
                high = middle
        return (low + high) / 2

    estimate = (crossing(True) + crossing(False)) / 2 * spread
    with np.errstate(over="ignore"):
        result = float(np.float64(estimate) * magnitude)
    if not math.isfinite(result):
        raise ValueError(f"`outcome`: the Hodges-Lehmann estimate {estimate:.6g} x {magnitude:.6g} is too large "
                         "for float64")
    return result
