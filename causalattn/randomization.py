"""The Fisher randomization test (FRT), its confidence interval by test inversion, and Hodges-Lehmann.

Under the sharp null hypothesis :math:`H_0: Y_i(1) - Y_i(0) = \\tau` for every
unit, the control potential outcomes are known, :math:`Y_i(0) = Y_i - \\tau Z_i`,
so any statistic :math:`T(Z, Y(0))` has a known distribution over the
assignments :math:`A` that the design could have produced. The p-value compares
the observed :math:`T(Z, Y(0))` with :math:`T(A, Y(0))`, exactly (all
assignments) or by Monte Carlo.

References
----------
Fisher, R. A. (1935). *The Design of Experiments*. Oliver and Boyd.
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (FRT in
CRE), ch. 5 (SRE), ch. 7 (MPE), ch. 6 (ReM, BRE).
Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank
tests. *Annals of Mathematical Statistics* 34(2), 598-611.
"""

from __future__ import annotations

import copy
import math
import numbers
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
    check_same_length,
)
from causalattn.designs import BRE, CRE, MPE, SRE, Design, Groups, ReM
from causalattn.estimate import ConfidenceInterval, Estimate
from causalattn.neyman import stratified_difference

__all__ = ["frt", "frt_confidence_interval", "hodges_lehmann"]

_STATISTICS = ("diff_in_means", "studentized", "rank_sum", "ks")
_DESIGNS = ("cre", "bre", "sre", "mpe", "rem")
_ALTERNATIVES = ("two-sided", "greater", "less")
_DESIGN_ARGUMENTS = {"strata": "sre", "pairs": "mpe", "covariates": "rem", "threshold": "rem", "probability": "bre"}
_BATCH_ELEMENTS = 2**22  # default batch: about 32 MB per float64 assignment matrix
_CACHE_ELEMENTS = 2**23  # test inversion keeps up to 64 MB of assignments in memory


def _ks(outcome: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov distance between treated and control outcomes, per row."""
    order = np.argsort(outcome, kind="stable")
    ends = np.r_[np.flatnonzero(np.diff(outcome[order])), len(outcome) - 1]  # last index of each tie group
    treated = np.cumsum(assignments[:, order], axis=1)[:, ends]  # (B, distinct values)
    n1 = treated[:, -1:]
    control = (ends + 1) - treated
    return np.abs(treated / n1 - control / (len(outcome) - n1)).max(axis=1)


def _builtin_statistic(name: str, groups: Groups, paired: bool) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    if name == "diff_in_means":
        return lambda y, a: stratified_difference(y, a, groups, paired=paired)[0]
    if name == "studentized":

        def studentized(y, a):
            tau, var = stratified_difference(y, a, groups, paired=paired, variance=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                return tau / np.sqrt(var)

        return studentized
    if name == "rank_sum":
        return lambda y, a: a @ stats.rankdata(y)
    return _ks


@dataclass(frozen=True)
class _Problem:
    """A validated FRT: everything but the null effect and the random stream."""

    outcome: np.ndarray
    treatment: np.ndarray
    design: Design
    groups: Groups
    paired: bool
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray]
    statistic_name: str
    alternative: str
    n_resamples: int
    batch: int
    confidence_level: float


def _as_number(name, value) -> float:
    """``float(value)``, with a TypeError naming ``name`` when it is not a real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a number, got {value!r}")
    return float(value)


def _design_iv(design, y, z, strata, pairs, covariates, probability, threshold):
    """The design object, its grouping for the statistics, and whether units are paired."""
    design = check_choice("design", design, _DESIGNS)
    values = {"strata": strata, "pairs": pairs, "covariates": covariates, "threshold": threshold,
              "probability": probability}
    for name, owner in _DESIGN_ARGUMENTS.items():
        if values[name] is None and owner == design:
            raise ValueError(f"`{name}` is required with design={design!r}")
        if values[name] is not None and owner != design:
            raise ValueError(f"`{name}` is only used with design={owner!r}, got design={design!r}")
    n = len(y)
    single = Groups(None, n)
    if design == "sre":
        check_same_length(outcome=y, strata=np.asarray(strata))
        sre = SRE.from_treatment(strata, z)
        return sre, sre.groups, False
    if design == "mpe":
        check_same_length(outcome=y, pairs=np.asarray(pairs))
        mpe = MPE(pairs)
        mpe.groups.check_both_arms(z)
        return mpe, mpe.groups, True
    n1, _ = single.check_both_arms(z)
    if design == "cre":
        return CRE(n, int(n1[0])), single, False
    if design == "bre":
        return BRE(n, _as_number("probability", probability)), single, False
    try:
        x = np.asarray(covariates, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`covariates` must be numeric, could not convert it: {exc}") from None
    check_same_length(outcome=y, covariates=x)
    rem = ReM(x, int(n1[0]), _as_number("threshold", threshold))
    distance = float(rem.mahalanobis(z[None, :].astype(float))[0])
    if distance > rem.threshold:
        raise ValueError(
            f"`treatment` is not acceptable under rerandomization: its Mahalanobis distance {distance:.4g} "
            f"exceeds `threshold` = {rem.threshold:.4g}"
        )
    return rem, single, False


def _frt_iv(outcome, treatment, design, strata, pairs, statistic, alternative, null_effect, n_resamples, batch,
            rng, confidence_level, covariates, probability, threshold):
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    design_obj, groups, paired = _design_iv(design, y, z, strata, pairs, covariates, probability, threshold)
    if callable(statistic):
        function, name = statistic, getattr(statistic, "__name__", "custom")
    else:
        name = check_choice("statistic", statistic, _STATISTICS)
        if name == "studentized":
            if paired and groups.k < 2:
                raise ValueError("`pairs`: the studentized statistic needs at least 2 pairs")
            if not paired:
                groups.check_both_arms(z, minimum=2)
        function = _builtin_statistic(name, groups, paired)
    alternative = check_choice("alternative", alternative, _ALTERNATIVES)
    tau = as_float_array("null_effect", [null_effect])[0]
    n_resamples = check_positive_int("n_resamples", n_resamples)
    batch = max(1, min(n_resamples, _BATCH_ELEMENTS // len(y))) if batch is None else check_positive_int(
        "batch", batch)
    problem = _Problem(y, z, design_obj, groups, paired, function, name, alternative, n_resamples, batch,
                       check_confidence_level(confidence_level))
    return problem, tau, check_rng(rng)


def _evaluate(problem: _Problem, y0: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    values = np.asarray(problem.statistic(y0, assignments), dtype=float)
    if values.shape != (len(assignments),):
        raise ValueError(
            f"`statistic` must return one value per assignment, shape ({len(assignments)},), got {values.shape}"
        )
    return values


@dataclass(frozen=True)
class _TestResult:
    observed: float
    null_distribution: np.ndarray
    exact: bool
    pvalue: float
    mc_standard_error: float


def _pvalue(null, weights, observed, alternative, exact):
    """Exact (weighted) or Monte Carlo ``(1 + b) / (1 + R)`` p-value, and its Monte Carlo standard error."""
    tolerance = 100 * np.finfo(float).eps * abs(observed)  # ties despite rounding, as scipy.stats does
    extreme = {"greater": null >= observed - tolerance, "less": null <= observed + tolerance}
    if exact:
        w = np.ones(len(null)) if weights is None else weights
        one_sided = {k: float(w[v].sum() / w.sum()) for k, v in extreme.items()}
    else:
        one_sided = {k: (1 + int(v.sum())) / (1 + len(null)) for k, v in extreme.items()}
    if alternative == "two-sided":
        smaller = min(one_sided.values())
        p, factor = min(1.0, 2 * smaller), 2.0
    else:
        smaller = p = one_sided[alternative]
        factor = 1.0
    se = 0.0 if exact else factor * math.sqrt(smaller * (1 - smaller) / len(null))
    return p, se


_Blocks = Callable[[], Iterable[tuple[np.ndarray, "np.ndarray | None"]]]


def _assignment_blocks(problem: _Problem, rng: np.random.Generator, reuse: bool) -> tuple[_Blocks, bool]:
    """A function giving the blocks of ``(assignments, weights)`` to test against, and whether they are exact.

    With ``reuse`` every call gives the same assignments (for test inversion):
    they are kept in memory when there are at most ``_CACHE_ELEMENTS`` numbers,
    else redrawn from a copy of the generator's starting state.
    """
    if problem.design.count() <= problem.n_resamples:
        return (lambda: problem.design.enumerate(problem.batch)), True

    def draw(generator):
        return ((a, None) for a in problem.design.draw_batches(generator, problem.n_resamples, problem.batch))

    if not reuse:
        return (lambda: draw(rng)), False
    if problem.n_resamples * problem.design.n <= _CACHE_ELEMENTS:
        cached = list(draw(rng))
        return (lambda: cached), False
    return (lambda: draw(copy.deepcopy(rng))), False


def _test(problem: _Problem, tau: float, blocks: _Blocks, exact: bool) -> _TestResult:
    """One FRT of the sharp null of a constant effect ``tau`` against the assignments of ``blocks``."""
    y0 = problem.outcome - tau * problem.treatment
    observed = float(_evaluate(problem, y0, problem.treatment[None, :].astype(float))[0])
    if math.isnan(observed):
        raise ValueError(f"`statistic` ({problem.statistic_name}) is NaN for the observed assignment")
    values, probabilities = [], []
    for block, block_weights in blocks():
        if len(block):
            values.append(_evaluate(problem, y0, block))
            probabilities.append(block_weights)
    null = np.concatenate(values)
    weights = None if probabilities[0] is None else np.concatenate(probabilities)
    p, se = _pvalue(null, weights, observed, problem.alternative, exact)
    return _TestResult(observed, null, exact, p, se)


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


def _invert(problem: _Problem, blocks: _Blocks, exact: bool, centre: float) -> ConfidenceInterval:
    """Confidence interval ``{tau : p(tau) > 1 - level}``, every test on the same assignments."""
    y, z = problem.outcome, problem.treatment
    scale = float(np.std(y)) * math.sqrt(1 / z.sum() + 1 / (len(z) - z.sum())) or 1.0

    def pvalue(tau: float) -> float:
        return _test(problem, tau, blocks, exact).pvalue

    alpha = 1 - problem.confidence_level
    tol = 1e-3 * scale
    low = -math.inf if problem.alternative == "less" else _boundary(pvalue, centre, -scale, alpha, tol)
    high = math.inf if problem.alternative == "greater" else _boundary(pvalue, centre, scale, alpha, tol)
    return ConfidenceInterval(low, high)


def frt(
    outcome,
    treatment,
    *,
    design: str = "cre",
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
) -> Estimate:
    r"""Fisher randomization test of the sharp null of a constant additive effect.

    Under :math:`H_0: Y_i(1) = Y_i(0) + \tau` for all units (``null_effect`` =
    :math:`\tau`, default 0: no effect for anyone), the control outcomes are
    imputed as :math:`Y(0) = Y - \tau Z` and the observed statistic
    :math:`t = T(Z, Y(0))` is compared with :math:`T(A, Y(0))` over the
    assignments :math:`A` of the design. If the design has at most
    ``n_resamples`` distinct assignments all are enumerated (``method="frt-exact"``,
    p-value :math:`P(T \ge t)` under the design); otherwise ``n_resamples``
    assignments are drawn (``method="frt-monte-carlo"``) and
    :math:`p = (1 + \#\{T_r \ge t\}) / (1 + R)`, with Monte Carlo standard error
    :math:`\{p(1 - p) / R\}^{1/2}`. ``"less"`` counts :math:`T_r \le t`;
    ``"two-sided"`` doubles the smaller one-sided p-value (capped at 1), as
    :func:`scipy.stats.permutation_test` does. Ties are judged with a relative
    tolerance of :math:`100\epsilon`.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
        The observed assignment.
    design : {"cre", "bre", "sre", "mpe", "rem"}
        ``"cre"``: permute the labels (fixed number treated). ``"bre"``: Bernoulli
        with ``probability`` (assignments with an empty arm excluded). ``"sre"``:
        permute within ``strata``. ``"mpe"``: flip within ``pairs`` (each pair has
        one treated and one control unit). ``"rem"``: CRE assignments whose
        Mahalanobis distance on ``covariates`` is at most ``threshold``
        (see :class:`causalattn.designs.ReM`).
    strata, pairs : array-like, optional
        A label per unit, for ``"sre"`` and ``"mpe"``.
    statistic : {"diff_in_means", "studentized", "rank_sum", "ks"} or callable
        ``"diff_in_means"``: the difference in means, stratified
        :math:`\sum_k \pi_k \hat\tau_k` for SRE and the mean pair difference for MPE.
        ``"studentized"``: that difference divided by its Neyman standard error
        (the Welch t statistic for CRE; see :func:`causalattn.neyman`).
        ``"rank_sum"``: Wilcoxon's :math:`W = \sum_i Z_i R_i`, with average ranks
        :math:`R_i` for ties (R's ``wilcox.test`` reports :math:`W - n_1(n_1+1)/2`).
        ``"ks"``: the Kolmogorov-Smirnov distance of the two arms; it is
        non-negative, so use ``alternative="greater"``.
        A callable ``f(outcome, assignments) -> values`` receives the imputed
        ``Y(0)`` of shape ``(n,)`` and a float 0/1 array of shape ``(B, n)``
        and returns ``B`` values.
    alternative : {"two-sided", "greater", "less"}
    null_effect : float
        :math:`\tau` of the sharp null.
    n_resamples : int
        Monte Carlo draws, and the largest number of assignments enumerated exactly.
    batch : int, optional
        Assignments evaluated at once (memory is about ``8 * batch * n`` bytes);
        default about :math:`2^{22} / n`. The result does not depend on it.
    rng : None, int or numpy.random.Generator
    confidence_level : float
        For the interval, when ``confidence=True``.
    covariates : array-like, shape (n, K), optional
        For ``"rem"``.
    probability : float, optional
        Treatment probability, for ``"bre"``.
    threshold : float, optional
        Acceptance threshold :math:`a`, for ``"rem"``.
    confidence : bool
        Also compute the interval :math:`\{\tau : p(\tau) > 1 - \text{level}\}` by
        inverting the test (bisection over :math:`\tau`, every test on the same
        assignments). This runs some 20-40 tests, so it is off by default and the
        interval is then ``(nan, nan)``. The assignments are kept in memory
        between the tests when ``n_resamples * n <= 2**23`` (64 MB), else redrawn.
        See :func:`frt_confidence_interval`.

    Returns
    -------
    Estimate
        ``estimate`` is the observed (stratified or paired) difference in means,
        ``pvalue`` the FRT p-value, ``null_value`` :math:`\tau`, ``standard_error``
        None. ``details``: ``statistic`` (observed :math:`t`), ``null_distribution``
        (the statistic over the enumerated or drawn assignments), ``exact``,
        ``mc_standard_error`` (0 if exact), ``n_resamples`` (assignments used),
        ``statistic_name``, ``design``, ``alternative``.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3, 5, 6 and 7.

    Examples
    --------
    >>> d = [6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6]
    >>> import numpy as np
    >>> y = np.column_stack([d, np.zeros(15)]).ravel()  # treated unit carries the pair difference
    >>> z = np.tile([1, 0], 15)
    >>> res = frt(y, z, design="mpe", pairs=np.repeat(np.arange(15), 2), alternative="greater",
    ...           n_resamples=2**15)
    >>> round(res.pvalue, 8), res.method
    (0.02633667, 'frt-exact')
    """
    problem, tau, generator = _frt_iv(outcome, treatment, design, strata, pairs, statistic, alternative,
                                      null_effect, n_resamples, batch, rng, confidence_level, covariates,
                                      probability, threshold)
    confidence = check_flag("confidence", confidence)
    blocks, exact = _assignment_blocks(problem, generator, reuse=confidence)
    result = _test(problem, tau, blocks, exact)
    observed_effect = float(stratified_difference(problem.outcome, problem.treatment[None, :].astype(float),
                                                  problem.groups, paired=problem.paired)[0][0])
    interval = (_invert(problem, blocks, exact, observed_effect) if confidence
                else ConfidenceInterval(math.nan, math.nan))
    kind = "paired " if problem.paired else ("stratified " if problem.groups.k > 1 else "")
    return Estimate(
        estimand=f"{kind}difference in means",
        estimate=observed_effect,
        standard_error=None,
        confidence_interval=interval,
        confidence_level=problem.confidence_level,
        pvalue=result.pvalue,
        method="frt-exact" if result.exact else "frt-monte-carlo",
        n=len(problem.outcome),
        null_value=tau,
        details={
            "statistic": result.observed,
            "statistic_name": problem.statistic_name,
            "null_distribution": result.null_distribution,
            "exact": result.exact,
            "mc_standard_error": result.mc_standard_error,
            "n_resamples": len(result.null_distribution),
            "design": design,
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
    """
    return frt(outcome, treatment, confidence=True, **kwargs).confidence_interval


def hodges_lehmann(outcome, treatment, *, design: str = "cre", strata=None, pairs=None,
                   probability: float | None = None) -> float:
    r"""Hodges-Lehmann estimate of a constant additive effect from the rank-sum statistic.

    The effect :math:`\tau` at which the rank sum of the imputed control outcomes
    :math:`Y - \tau Z` equals its expectation under the design:
    :math:`\sum_i (Z_i - \pi_i)\,\{R_i(\tau) - (n+1)/2\} = 0`, with :math:`\pi_i`
    the probability that unit :math:`i` is treated (:math:`n_1/n` for CRE,
    :math:`n_{1k}/n_k` for SRE, 1/2 for MPE, ``probability`` for BRE). The left
    side is a non-increasing step function of :math:`\tau`; the estimate is the
    midpoint of its sign change, found by bisection. For a CRE this is the median
    of the :math:`n_1 n_0` differences :math:`Y_i - Y_j` (treated :math:`i`,
    control :math:`j`).

    References
    ----------
    Hodges, J. L. and Lehmann, E. L. (1963). Estimates of location based on rank tests.
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3.

    Examples
    --------
    >>> round(hodges_lehmann([5.0, 7.0, 9.0, 1.0, 2.0], [1, 1, 1, 0, 0]), 6)
    5.5
    """
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    if check_choice("design", design, _DESIGNS) == "rem":
        raise ValueError("`design`: hodges_lehmann supports 'cre', 'bre', 'sre' and 'mpe', got 'rem'")
    design_obj, groups, _ = _design_iv(design, y, z, strata, pairs, None, probability, None)
    if isinstance(design_obj, BRE):
        treated_probability = np.full(len(y), design_obj.probability)
    else:
        n1, _ = groups.check_both_arms(z)
        treated_probability = (n1 / groups.sizes)[groups.codes]
    weights = z - treated_probability
    centre = (len(y) + 1) / 2

    def equation(tau: float) -> float:
        return float(weights @ (stats.rankdata(y - tau * z) - centre))

    spread = float(np.ptp(y)) + 1.0
    tol = 1e-12 * spread

    def crossing(positive_side: bool) -> float:
        """sup{tau: equation > 0} (positive_side) or inf{tau: equation < 0}."""
        low, high = -spread, spread
        while high - low > tol:
            middle = (low + high) / 2
            value = equation(middle)
            if (value > 0) if positive_side else (value >= 0):
                low = middle
            else:
                high = middle
        return (low + high) / 2

    return (crossing(True) + crossing(False)) / 2
