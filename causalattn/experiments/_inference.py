r"""The procedures of the effect layer: one interval and one p-value per row, from one named method.

:func:`causalattn.paired_effect`, :func:`~causalattn.two_arm_effect`,
:func:`~causalattn.clustered_effect` and :func:`causalattn.neyman` validate
their data and hand it here. Each design is a sample of differences (pairs,
clusters), two independent arms, or two arms within strata, and each method
(``"t"``, ``"normal"``, ``"randomization"``, ``"bootstrap"``) gives the
estimate, its interval and its p-value together (see :mod:`causalattn.effects`).

Shared rules, stated once:

* **Scale.** The data are divided by a power of two near their largest
  magnitude before anything is computed (exact), and the results multiplied
  back, so the whole float range works: squares of 1e200 do not overflow, of
  1e-170 do not underflow to a standard error of 0.
* **No variation.** When every unit has the same difference (or every arm is
  constant), up to :data:`ZERO_SPREAD` units in the last place of the data,
  the t, normal and bootstrap rows report the estimate with the interval
  ``[estimate, estimate]`` and no p-value (``details["degenerate"]``).
* **Rejection.** A test rejects when :math:`p \le 1 - \text{level}`
  (:func:`causalattn._pvalues.rejects`); the interval holds what it does not reject.
* **Assumptions.** ``details["relies_on"]`` says what each method's interval needs.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from causalattn._pvalues import rejects
from causalattn._rounding import power_of_two_scale
from causalattn._student import satterthwaite_df, t_estimate
from causalattn._validation import check_choice, check_confidence_level, check_real, check_resamples, check_rng
from causalattn.estimate import ConfidenceInterval, Estimate, normal_estimate
from causalattn.experiments.designs import MPE, Design, Groups
from causalattn.experiments.randomization import check_n_resamples, enumerates, frt

__all__ = ["BOOTSTRAP_MIN_UNITS", "METHODS", "RELIES_ON", "ZERO_SPREAD", "Options", "Randomization",
           "check_bootstrap_sizes", "infer", "one_sample", "options_iv", "stratified_sample", "two_sample"]

#: The interval methods of the effect layer.
METHODS = ("t", "normal", "randomization", "bootstrap")

#: A sample (of differences, or an arm) whose range is at most this many units in the last place of the data's
#: magnitude has no variation: its standard error is rounding noise.
ZERO_SPREAD = 64

#: The bootstrap needs at least this many units in every resampled sample: with 2-4 units its distribution has
#: 3-35 distinct values, and its p-value sat at the floor 1/(B + 1) for most data sets with no effect at all.
BOOTSTRAP_MIN_UNITS = 5

#: What each method's interval relies on, recorded in ``details["relies_on"]``.
RELIES_ON = {
    "t": "normally distributed unit differences (exact then), or enough units for the central limit theorem",
    "normal": "a large sample: the normal approximation undercovers with few units (0.80 with 3 pairs, 0.88 with "
              "5; benchmarks/README.md)",
    "randomization": "only the randomization of the design for the p-value (the sharp null of no effect); the "
                     "interval assumes a constant effect",
    "bootstrap": "a large sample: the BCa interval undercovers with few units (0.83 with 5 pairs, 0.90 with 10; "
                 f"benchmarks/README.md); refused below {BOOTSTRAP_MIN_UNITS} units per sample",
}

_BOOTSTRAP_METHOD = "BCa"
_P_BISECTIONS = 14  # bootstrap p-value by inversion: to 2**-14 of the bracket (6e-5 or better)


@dataclass(frozen=True)
class Options:
    """The validated options shared by the designs (``null`` in the units the engines compute in)."""

    method: str
    level: float
    null: float
    n_resamples: int
    rng: np.random.Generator
    extra: tuple[str, ...]


@dataclass(frozen=True)
class Randomization:
    """The FRT behind a row whose randomized units are not the entries of its arms (whole clusters)."""

    outcome: np.ndarray  # per unit, scaled
    treatment: np.ndarray
    design: Design | str
    statistic: str
    count: int  # the number of assignments of the design


def options_iv(method, confidence_level, null_value, n_resamples, rng, extra_pvalues,
               methods: Sequence[str] = METHODS) -> Options:
    """Check the options of an effect-layer function; ``methods`` are the ones it offers."""
    method = check_choice("method", method, tuple(methods))
    level = check_confidence_level(confidence_level)
    null = check_real("null_value", null_value)
    n_resamples = check_n_resamples(n_resamples)
    if isinstance(extra_pvalues, str) or not isinstance(extra_pvalues, Sequence):
        raise TypeError(f"`extra_pvalues` must be a sequence of method names, got {extra_pvalues!r}")
    extra = tuple(check_choice("extra_pvalues", name, tuple(methods)) for name in extra_pvalues)
    if "bootstrap" in (method, *extra):  # one resample has no spread: SE NaN and a RuntimeWarning
        n_resamples = check_resamples("n_resamples", n_resamples, level)
    return Options(method, level, null, n_resamples, check_rng(rng), extra)


def check_bootstrap_sizes(options: Options, sizes: dict[str, int], argument: str) -> None:
    """Refuse the bootstrap (as the method or an extra p-value) when a resampled sample is too small."""
    if "bootstrap" in (options.method, *options.extra):
        small = {name: size for name, size in sizes.items() if size < BOOTSTRAP_MIN_UNITS}
        if small:
            listed = ", ".join(f"{size} {name}" for name, size in small.items())
            raise ValueError(f"`method`='bootstrap' needs at least {BOOTSTRAP_MIN_UNITS} units in every resampled "
                             f"sample, got {listed} (`{argument}`); with so few its p-value sits at the floor "
                             "1/(B + 1): use 't' or 'randomization'")


# --------------------------------------------------------------------------- shared pieces


def _constant(values: np.ndarray) -> bool:
    """Whether ``values`` are equal up to rounding (the data are scaled to magnitudes near 1)."""
    return float(np.ptp(values)) <= ZERO_SPREAD * np.finfo(float).eps


def _degenerate(estimand: str, estimate: float, options: Options, method: str, n: int, details: dict) -> Estimate:
    return Estimate(estimand, estimate, 0.0, ConfidenceInterval(estimate, estimate), options.level, None, method, n,
                    null_value=options.null,
                    details={**details, "degenerate": "no variation: every unit has the same effect, no test"})


def _frt_estimate(estimand, outcome, treatment, design: Design | str, statistic, count, options, method, n,
                  details, interval) -> Estimate:
    """The FRT p-value at the null and, if ``interval``, the interval inverting it on the same assignments.

    With ``count`` equally likely assignments enumerated, no two-sided p-value is
    below ``2 / count``: when that does not reject, the interval is the whole
    line, known without inverting the test.
    """
    whole_line = enumerates(count, options.n_resamples) and not rejects(2 / count, options.level)
    test = frt(outcome, treatment, design=design, statistic=statistic, null_effect=options.null,
               n_resamples=options.n_resamples, rng=options.rng, confidence_level=options.level,
               confidence=interval and not whole_line)
    low, high = (-math.inf, math.inf) if whole_line else test.confidence_interval
    if interval and not rejects(test.pvalue, options.level) and not low <= options.null <= high:
        # the null is in {tau: p(tau) > alpha} (an interval, p being unimodal in tau): the bisection
        # only stopped short of it, within its tolerance
        low, high = min(low, options.null), max(high, options.null)
    exact = bool(test.details["exact"])
    return Estimate(estimand, test.estimate, None, ConfidenceInterval(low, high), options.level, test.pvalue,
                    f"{method}-{'exact' if exact else 'monte-carlo'}", n, null_value=options.null,
                    details={**details, "exact": exact, "n_resamples": int(test.details["n_resamples"]),
                             "mc_standard_error": float(test.details["mc_standard_error"])})


def _bootstrap_estimate(estimand, samples, statistic, estimate, options, method, n, details) -> Estimate:
    """BCa interval of :func:`scipy.stats.bootstrap`; the p-value inverts it on the same bootstrap distribution."""
    common = dict(vectorized=True, method=_BOOTSTRAP_METHOD, paired=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(samples, statistic, n_resamples=options.n_resamples, rng=options.rng,
                                 confidence_level=options.level, **common)

        def interval(alpha: float) -> tuple[float, float]:
            ci = stats.bootstrap(samples, statistic, n_resamples=0, bootstrap_result=result,
                                 confidence_level=1 - alpha, **common).confidence_interval
            return float(ci.low), float(ci.high)

        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        details = {**details, "bootstrap_method": _BOOTSTRAP_METHOD, "n_resamples": options.n_resamples}
        if not (math.isfinite(low) and math.isfinite(high)):
            return Estimate(estimand, estimate, None, ConfidenceInterval(math.nan, math.nan), options.level, None,
                            method, n, null_value=options.null,
                            details={**details, "degenerate": "the BCa interval is undefined for these data"})

        def excludes(alpha: float) -> bool:
            lo, hi = interval(alpha)
            return not lo <= options.null <= hi

        alpha = 1 - options.level
        covered = low <= options.null <= high  # decides on which side of alpha the p-value lies
        if covered and not excludes(1 - 1e-9):
            pvalue = 1.0  # even the narrowest interval holds the null
        else:
            inside, outside = (alpha, 1.0) if covered else (0.0, alpha)  # excludes(outside) is True
            for _ in range(_P_BISECTIONS):
                middle = (inside + outside) / 2
                inside, outside = (inside, middle) if excludes(middle) else (middle, outside)
            # B resamples cannot show a p-value below 1/(B + 1); the floor stays <= alpha (coherence)
            pvalue = outside if covered else max(outside, min(1 / (options.n_resamples + 1), alpha))
    return Estimate(estimand, estimate, float(np.std(result.bootstrap_distribution, ddof=1)),
                    ConfidenceInterval(low, high), options.level, pvalue, method, n, null_value=options.null,
                    details=details)


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def _difference_in_means(x, y, axis=-1):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


# --------------------------------------------------------------------------- the designs


def one_sample(d: np.ndarray, options: Options, method: str, design: str, n: int, details: dict,
               interval: bool = True) -> Estimate:
    """Inference on the mean of the per-pair (or per-cluster) differences ``d`` (scaled data)."""
    m = len(d)
    estimand = f"{design} mean difference"
    name = f"{design}-{method}"
    estimate = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(m)
    if method == "randomization":
        return _frt_estimate(estimand, np.concatenate([d, np.zeros(m)]), np.repeat([1, 0], m),
                             MPE(np.tile(np.arange(m), 2)), "diff_in_means", 2**m, options, name, n, details,
                             interval)
    if _constant(d):
        return _degenerate(estimand, estimate, options, name, n, details)
    if method == "normal":
        return normal_estimate(estimand, estimate, se, confidence_level=options.level, method=name, n=n,
                               null_value=options.null, details=details)
    if method == "t":
        return t_estimate(estimand, estimate, se, m - 1, confidence_level=options.level, method=name, n=n,
                          null_value=options.null, details=details)
    return _bootstrap_estimate(estimand, (d,), _mean, estimate, options, name, n, details)


def two_sample(y1: np.ndarray, y0: np.ndarray, options: Options, method: str, design: str, n: int, details: dict,
               interval: bool = True, randomization: Randomization | None = None) -> Estimate:
    """Inference on the difference in means of two independent arms ``y1`` (treated) and ``y0`` (control).

    ``randomization`` describes the FRT when the units randomized are not the
    arms' entries (whole clusters); by default the arms' entries are permuted.
    """
    estimand = f"{design} difference in means"
    name = f"{design}-{method}"
    estimate = float(y1.mean() - y0.mean())
    v1, v0 = y1.var(ddof=1) / len(y1), y0.var(ddof=1) / len(y0)
    se = math.sqrt(v1 + v0)
    if method == "randomization":
        r = randomization or Randomization(np.concatenate([y1, y0]), np.repeat([1, 0], [len(y1), len(y0)]), "cre",
                                           "diff_in_means", math.comb(len(y1) + len(y0), len(y1)))
        return _frt_estimate(estimand, r.outcome, r.treatment, r.design, r.statistic, r.count, options, name, n,
                             details, interval)
    if _constant(y1) and _constant(y0):
        return _degenerate(estimand, estimate, options, name, n, details)
    if method == "normal":
        return normal_estimate(estimand, estimate, se, confidence_level=options.level, method=name, n=n,
                               null_value=options.null, details=details)
    if method == "t":
        return t_estimate(estimand, estimate, se, satterthwaite_df([v1, v0], [len(y1), len(y0)]),
                          confidence_level=options.level, method=name, n=n, null_value=options.null, details=details)
    return _bootstrap_estimate(estimand, (y1, y0), _difference_in_means, estimate, options, name, n, details)


def stratified_sample(y: np.ndarray, z: np.ndarray, groups: Groups, options: Options, method: str, n: int,
                      details: dict, interval: bool = True) -> Estimate:
    r"""Neyman's stratified difference in means :math:`\sum_k \pi_k \hat\tau_k` (methods ``"t"`` and ``"normal"``).

    The variance :math:`\sum_k \pi_k^2 (v_{1k} + v_{0k})`, :math:`v_{ak} = S_{ak}^2/n_{ak}`, and for ``"t"``
    Satterthwaite's degrees of freedom over its :math:`2K` terms (Welch's for one stratum).
    """
    estimand, name = "stratified difference in means", f"stratified-{method}"
    arms = [(y[members][z[members] == 1], y[members][z[members] == 0]) for members in groups.members]
    weights = groups.sizes / groups.n
    estimate = float(sum(w * (y1.mean() - y0.mean()) for w, (y1, y0) in zip(weights, arms, strict=True)))
    parts = [w**2 * arm.var(ddof=1) / len(arm) for w, pair in zip(weights, arms, strict=True) for arm in pair]
    se = math.sqrt(sum(parts))
    if all(_constant(arm) for pair in arms for arm in pair):
        return _degenerate(estimand, estimate, options, name, n, details)
    if method == "normal":
        return normal_estimate(estimand, estimate, se, confidence_level=options.level, method=name, n=n,
                               null_value=options.null, details=details)
    sizes = [len(arm) for pair in arms for arm in pair]
    return t_estimate(estimand, estimate, se, satterthwaite_df(parts, sizes), confidence_level=options.level,
                      method=name, n=n, null_value=options.null, details=details)


# --------------------------------------------------------------------------- scaling, extra p-values


Engine = Callable[[Options, str, bool], Estimate]


def _with_extra_pvalues(engine: Engine, options: Options) -> Estimate:
    """``engine(options, method, interval)`` for the main method, plus ``details["pvalue_{name}"]`` of the others.

    Every method starts from the same state of the random stream, so the extra
    randomization p-value equals the one ``method="randomization"`` reports.
    """
    start = copy.deepcopy(options.rng)
    main = engine(options, options.method, True)
    extra = {}
    for name in options.extra:
        if name == options.method:
            extra[f"pvalue_{name}"] = main.pvalue
        else:
            other = engine(dataclasses.replace(options, rng=copy.deepcopy(start), extra=()), name, False)
            extra[f"pvalue_{name}"] = other.pvalue
    return dataclasses.replace(main, details={**main.details, **extra}) if extra else main


def infer(data: np.ndarray, engine: Callable[[np.ndarray], Engine], options: Options, argument: str) -> Estimate:
    """Run ``engine(scaled data)`` on the data divided by a power of two near their magnitude, and scale back.

    ``engine`` receives the scaled copy of ``data`` and returns the
    ``(options, method, interval) -> Estimate`` function of the design; the
    estimate, standard error, interval and null value are multiplied back. A
    ValueError naming ``argument`` if a result overflows floating point.
    """
    scale = power_of_two_scale(data)
    with np.errstate(over="ignore", under="ignore"):
        null = options.null / scale
    if not math.isfinite(null):
        raise ValueError(f"`null_value` {options.null:.3g} is too large for data of magnitude {scale:.3g}: "
                         "divided by it, it overflows floating point")
    scaled = engine(data / scale)
    est = _with_extra_pvalues(scaled, dataclasses.replace(options, null=null))
    with np.errstate(over="ignore"):
        estimate = est.estimate * scale
        se = None if est.standard_error is None else est.standard_error * scale
        low, high = (end * scale for end in est.confidence_interval)
    finite_before = [x for x in (est.estimate, est.standard_error, *est.confidence_interval)
                     if x is not None and math.isfinite(x)]
    finite_after = [x for x in (estimate, se, low, high) if x is not None and math.isfinite(x)]
    if len(finite_after) < len(finite_before):
        shown = ", ".join(f"{x:.3g}" for x in finite_before)
        raise ValueError(f"`{argument}`: the estimate, its standard error or its interval ({shown}, times "
                         f"{scale:.3g}) overflows floating point; express the outcome in larger units")
    return dataclasses.replace(est, estimate=estimate, standard_error=se, confidence_interval=ConfidenceInterval(
        low, high), null_value=options.null, details={**est.details, "relies_on": RELIES_ON[options.method]})
