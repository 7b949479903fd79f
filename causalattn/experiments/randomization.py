"""The Fisher randomization test (FRT) and its confidence interval by test inversion.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from causalattn._validation import (
    MAX_RESAMPLES,
    as_binary_array,
    as_float_array,
    check_choice,
    check_confidence_level,
    check_flag,
    check_real,
    check_resample_count,
    check_rng,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import ConfidenceInterval, Estimate
from causalattn.experiments._assignments import Assignments, assignments, batch_iv
from causalattn.experiments._inversion import invert
from causalattn.experiments._statistics import Statistic, statistic_iv
from causalattn.experiments.designs import CRE, Design, resolve_design, stratified_difference

__all__ = ["MAX_EXACT", "MAX_RESAMPLES", "enumerates", "frt", "frt_confidence_interval"]

MAX_EXACT = 2**20
"""``frt`` enumerates every assignment when the design has at most this many (or at most ``n_resamples``)."""
# MAX_RESAMPLES (from _validation, the bound of every resampling count): no test evaluates more assignments:
# ``method="exact"`` refuses larger designs, ``"auto"`` draws instead of enumerating them.

_METHODS = ("auto", "exact", "monte-carlo", "asymptotic")
_ALTERNATIVES = ("two-sided", "greater", "less")


def enumerates(count: int, n_resamples: int) -> bool:
    """Whether ``method="auto"`` enumerates a design of ``count`` assignments rather than drawing ``n_resamples``.

    It does when there are at most :data:`MAX_EXACT` assignments, or at most
    ``n_resamples`` of them and no more than :data:`MAX_RESAMPLES` (the limit of
    ``method="exact"``): ``n_resamples=10**18`` never starts enumerating 1e17 assignments.

    Examples
    --------
    >>> enumerates(2**15, 10_000), enumerates(3 * 10**6, 10**7), enumerates(10**17, 10**18)
    (True, True, False)
    """
    return count <= MAX_EXACT or count <= min(n_resamples, MAX_RESAMPLES)


def check_n_resamples(n_resamples) -> int:
    """A positive integer of at most :data:`MAX_RESAMPLES`, named ``n_resamples`` in the messages."""
    return check_resample_count("n_resamples", n_resamples)


@dataclass(frozen=True)
class _Problem:
    """A validated FRT: everything but the null effect and the random stream."""

    outcome: np.ndarray
    treatment: np.ndarray
    design: Design
    statistic: Statistic
    alternative: str
    method: str  # "exact", "monte-carlo" or "asymptotic"
    n_resamples: int
    batch: int
    confidence_level: float


def _method_iv(method, statistic: Statistic, design: Design, alternative: str, n_resamples: int) -> str:
    method = check_choice("method", method, _METHODS)
    count = design.count()
    if method == "auto":
        return "exact" if enumerates(count, n_resamples) else "monte-carlo"
    if method == "exact" and count > MAX_RESAMPLES:
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


def _frt_iv(outcome, treatment, design, statistic, alternative, null_effect, covariates, method, n_resamples,
            batch, rng, confidence_level):
    indexes = {"outcome": outcome, "treatment": treatment, **(design.indexes if isinstance(design, Design) else {})}
    check_same_index(**{**indexes, **({} if covariates is None else {"covariates": covariates})})
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    design = resolve_design(design, z)
    statistic = statistic_iv(statistic, design, z, covariates)
    alternative = check_choice("alternative", alternative, _ALTERNATIVES)
    tau = check_real("null_effect", null_effect)
    n_resamples = check_n_resamples(n_resamples)
    batch = batch_iv(batch, n_resamples, len(y))
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


def _test(problem: _Problem, tau: float, assignments: Assignments) -> _TestResult:
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
    statistic: str | Callable = "diff_in_means",
    alternative: str = "two-sided",
    null_effect: float = 0.0,
    covariates=None,
    method: str = "auto",
    n_resamples: int = 10_000,
    batch: int | None = None,
    rng=None,
    confidence: bool = False,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Fisher randomization test of the sharp null of a constant additive effect.

    Under :math:`H_0: Y_i(1) = Y_i(0) + \tau` for all units (``null_effect`` =
    :math:`\tau`, default 0: no effect for anyone), the control outcomes are
    imputed as :math:`Y(0) = Y - \tau Z` and the observed statistic
    :math:`t = T(Z, Y(0))` is compared with :math:`T(A, Y(0))` over the
    assignments :math:`A` of the design. If the design has at most
    :data:`MAX_EXACT` :math:`= 2^{20}` assignments (or at most ``n_resamples``,
    up to :data:`MAX_RESAMPLES` :math:`= 2^{26}`) all are enumerated
    (``method="frt-exact"``, p-value :math:`P(T \ge t)` under the design);
    otherwise ``n_resamples`` assignments are drawn (``method="frt-monte-carlo"``)
    and :math:`p = (1 + \#\{T_r \ge t\}) / (1 + R)`, with Monte Carlo standard
    error :math:`\{p(1 - p) / R\}^{1/2}`. ``"less"`` counts :math:`T_r \le t`;
    ``"two-sided"`` doubles the smaller one-sided p-value (capped at 1), as
    :func:`scipy.stats.permutation_test` does. Ties are judged with a relative
    tolerance of :math:`100\epsilon`.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
        The observed assignment.
    design : Design or "cre"
        How the treatment was assigned, a value of
        :mod:`causalattn.experiments.designs` (``ca.designs``) carrying its own
        arguments; the numbers it leaves open (the number of treated units) are
        read off ``treatment``. ``CRE()`` (or ``"cre"``, the default): permute
        the labels, the number treated fixed. ``BRE(probability)``: Bernoulli
        (assignments with an empty arm excluded). ``SRE(strata)``: permute within
        strata. ``MPE(pairs)``: flip within pairs (each pair has one treated and
        one control unit). ``ReM(covariates, threshold)``: CRE assignments whose
        Mahalanobis distance on the design's covariates is at most ``threshold``.
        ``ClusterRandomized(clusters)``: permute whole clusters (every unit of a
        cluster in one arm). A name stands only for a design without arguments
        (:data:`causalattn.experiments.designs.DESIGNS`).
    statistic : {"diff_in_means", "studentized", "rank_sum", "signed_rank", "ks", "adjusted", "cluster_means"}
        ``"diff_in_means"``: the difference in means, stratified
        :math:`\sum_k \pi_k \hat\tau_k` for SRE and the mean pair difference for MPE.
        ``"studentized"``: that difference divided by its Neyman standard error
        (the Welch t statistic for CRE; see :func:`causalattn.experiments.neyman`); under
        cluster randomization by its cluster-level standard error
        :math:`\{\sum_a \frac{G_a}{G_a-1}\sum_{g \in a} e_g^2 / N_a^2\}^{1/2}`, with
        :math:`e_g` the sum of cluster :math:`g`'s residuals from its arm's mean and
        :math:`N_a`, :math:`G_a` the units and clusters of arm :math:`a` (Welch's t on
        the cluster means when the clusters have equal sizes; at least 2 clusters per arm).
        ``"cluster_means"`` (cluster randomization only): the difference between the
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
    covariates : array-like, shape (n, K), optional
        Adjustment covariates, for ``statistic="adjusted"`` (the covariates a
        rerandomization balances belong to its design, ``ReM``).
    method : {"auto", "exact", "monte-carlo", "asymptotic"}
        ``"auto"`` enumerates when the design has at most :data:`MAX_EXACT`
        assignments, or at most ``n_resamples`` and no more than
        :data:`MAX_RESAMPLES` (:func:`enumerates`), and draws otherwise;
        ``"exact"`` always enumerates (up to :math:`2^{26}` assignments);
        ``"monte-carlo"`` always draws.
        ``"asymptotic"`` (``method="frt-asymptotic"``) uses the normal approximation
        of the linear rank statistics under the design,
        :math:`(W - E W \mp c) / \mathrm{Var}(W)^{1/2}` with the design's mean and
        variance (ties included) and the continuity correction :math:`c = 1/2`
        for the unweighted rank sum and the signed rank (as
        ``scipy.stats.mannwhitneyu`` and R's ``wilcox.test``), or, for ``"ks"``
        under a CRE, Smirnov's limit ``scipy.stats.kstwo.sf(d, round(n1 n0 / n))``
        of ``scipy.stats.ks_2samp(method="asymp")``.
    n_resamples : int
        Monte Carlo draws, when the design is not enumerated; at most :data:`MAX_RESAMPLES`.
    batch : int, optional
        Assignments evaluated at once (memory is about ``8 * batch * n`` bytes);
        default about :math:`2^{22} / n`. Drawn assignments come in chunks of at
        most 4096 rows and 8 MB whatever ``batch`` is. The result does not depend on it.
    rng : None, int or numpy.random.Generator
    confidence : bool
        Also compute the interval :math:`\{\tau : p(\tau) > 1 - \text{level}\}` by
        inverting the test (bisection over :math:`\tau`, every test on the same
        assignments; a p-value equal to :math:`1 - \text{level}` rejects, see
        :mod:`causalattn._pvalues`). This runs some 20-40 tests, so it is off by
        default and the interval is then ``(nan, nan)``. For the difference in
        means under a design with fixed arm sizes (CRE, SRE, MPE, ReM) the
        statistic is :math:`A\,b(y) - \tau A\,b(z)`, so only two numbers per
        assignment are kept between the tests; otherwise the assignments are
        kept in memory when there are at most :math:`2^{23}` numbers (64 MB),
        else enumerated or redrawn. See :func:`frt_confidence_interval`.
    confidence_level : float
        For the interval, when ``confidence=True``.

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
    >>> from causalattn.experiments.designs import MPE
    >>> res = frt(y, z, design=MPE(pairs), alternative="greater")
    >>> round(res.pvalue, 8), res.method, res.details["exact"]
    (0.02633667, 'frt-exact', True)
    >>> round(frt(y, z, design=MPE(pairs), statistic="signed_rank", alternative="greater").pvalue, 4)
    0.0206
    """
    problem, tau, generator = _frt_iv(outcome, treatment, design, statistic, alternative, null_effect, covariates,
                                      method, n_resamples, batch, rng, confidence_level)
    confidence = check_flag("confidence", confidence)
    null_assignments = assignments(problem.design, problem.method, problem.n_resamples, problem.batch, generator,
                                   reuse=confidence, basis=problem.statistic.basis, outcome=problem.outcome,
                                   treatment=problem.treatment)
    result = _test(problem, tau, null_assignments)
    estimand, observed_effect = _observed_effect(problem)
    interval = (invert(lambda t: _test(problem, t, null_assignments).pvalue, observed_effect,
                       outcome=problem.outcome, treatment=problem.treatment,
                       confidence_level=problem.confidence_level, alternative=problem.alternative)
                if confidence else ConfidenceInterval(math.nan, math.nan))
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
