r"""One effect layer for every study: paired, two-arm and clustered designs, one procedure per row.

Each function returns one :class:`~causalattn.Estimate` whose confidence
interval and p-value come from the *same* procedure, named by ``method``:

``"t"`` (the default)
    Student's t: the paired t interval with :math:`m - 1` degrees of freedom
    for :math:`m` pairs, Welch's interval with Welch-Satterthwaite degrees of
    freedom for two arms, :math:`G - 1` degrees of freedom for :math:`G`
    clusters. The p-value is that of the same t test, so the interval excludes
    the null exactly when the test rejects it (below).
``"normal"``
    Neyman's conservative variance with the normal quantile (Ding ch. 4 and 7,
    :func:`causalattn.experiments.neyman`). Too narrow with few units: see the coverage
    table in ``benchmarks/README.md``.
``"randomization"``
    The Fisher randomization test (:func:`causalattn.frt`: sign flips within
    pairs, label permutations between arms), exact when the design's
    assignments can be enumerated, and the interval obtained by inverting the
    same test on the same assignments: the constant effects :math:`\tau` it
    does not reject. With few units that interval can be infinite (3 pairs:
    the two-sided p-value is never below 0.25), which is the honest answer.
``"bootstrap"``
    The BCa bootstrap interval of :func:`scipy.stats.bootstrap`, and the
    p-value obtained by inverting it: the smallest :math:`\alpha` at which the
    :math:`1 - \alpha` interval (from the same bootstrap distribution)
    excludes the null, floored at :math:`1/(B+1)` for :math:`B` resamples.
    A large-sample method: refused with fewer than 5 units in a resampled
    sample (pairs, an arm, clusters), where its p-value sat at the floor for
    most data sets without any effect.

**One rule for the test and the interval.** A row's test rejects the null
when :math:`p \le 1 - \text{confidence\_level}` (up to :math:`10^{-12}`), and
its interval holds exactly the values it does not reject: at the boundary
:math:`p = 1 - \text{level}` (5 pairs at the 93.75% level: the sign-flip
p-value cannot go below 2/32) the null is rejected and outside the interval.
The ends of a t or normal interval are the two values with :math:`p` exactly
:math:`1 - \text{level}`.

**What each interval relies on** is in ``details["relies_on"]``.

When every unit has the same difference (or both arms are constant) the
standard error is 0: the t, normal and bootstrap rows then report the
estimate with the degenerate interval ``[estimate, estimate]`` and no p-value
(``details["degenerate"]``) rather than a division by a zero that rounding
turned into a tiny number. Equal means "within 64 units in the last place of
the data's magnitude" (:data:`causalattn.experiments._inference.ZERO_SPREAD`),
the one rule of the effect layer and of :func:`causalattn.neyman`.

The data are rescaled by a power of two internally, so outcomes anywhere in
the float range (1e-300 to 1e300) give the same answers, scaled; complex
input and integers beyond 2**53 are refused.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (FRT and
confidence sets by inverting it), ch. 4 (Neyman, CRE), ch. 7 (matched pairs),
ch. 9 (finite and super populations).
Su, F. and Ding, P. (2021). Model-assisted analyses of cluster-randomized
experiments. *JRSS B* 83(5), 994-1015.
Welch, B. L. (1947). The generalization of "Student's" problem when several
different population variances are involved. *Biometrika* 34, 28-35.
Efron, B. (1987). Better bootstrap confidence intervals. *JASA* 82, 171-185.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from causalattn._validation import as_binary_array, as_float_array, check_same_index, check_same_length
from causalattn.estimate import Estimate
from causalattn.experiments._inference import (
    BOOTSTRAP_MIN_UNITS,
    METHODS,
    Options,
    Randomization,
    check_bootstrap_sizes,
    infer,
    one_sample,
    options_iv,
    two_sample,
)
from causalattn.experiments.designs import ClusterRandomized, Groups

__all__ = ["BOOTSTRAP_MIN_UNITS", "METHODS", "clustered_effect", "paired_effect", "two_arm_effect"]


def _paired_effect_iv(treated, control, method, confidence_level, null_value, n_resamples, rng, extra_pvalues):
    check_same_index(treated=treated, control=control)
    y1 = as_float_array("treated", treated)
    y0 = as_float_array("control", control)
    check_same_length(treated=y1, control=y0)
    if len(y1) < 2:
        raise ValueError(f"`treated`: need at least 2 pairs, got {len(y1)}")
    options = options_iv(method, confidence_level, null_value, n_resamples, rng, extra_pvalues)
    check_bootstrap_sizes(options, {"pairs": len(y1)}, "treated")
    return y1, y0, options


def paired_effect(treated, control, *, method: str = "t", confidence_level: float = 0.95, null_value: float = 0.0,
                  n_resamples: int = 10_000, rng=None, extra_pvalues: Sequence[str] = ()) -> Estimate:
    r"""The average effect in a matched-pairs design: one interval and one p-value from one procedure.

    Pair :math:`i` (a pair of units, or one unit observed under both arms)
    gives the difference :math:`D_i = Y_i(1) - Y_i(0)`; the estimate is
    :math:`\bar D = m^{-1}\sum_i D_i` over the :math:`m` pairs, with standard
    error :math:`s_D / \sqrt m` (Neyman's conservative variance for a
    matched-pairs experiment, Ding ch. 7).

    * ``"t"``: :math:`\bar D \pm t_{m-1,\,1-\alpha/2}\, s_D/\sqrt m` and the paired
      t test (:func:`scipy.stats.ttest_rel`); exact when the :math:`D_i` are
      normal, and the default because its coverage stays near nominal with few
      pairs (benchmarks/README.md).
    * ``"normal"``: the same with :math:`z_{1-\alpha/2}` (Ding's Neyman interval).
    * ``"randomization"``: the sign-flip FRT of :math:`H_0: D_i = \tau_0` for
      every pair (``design=MPE(pairs)`` of :func:`causalattn.frt`, exact when the
      :math:`2^m` sign vectors can be enumerated) and the interval
      :math:`\{\tau: p(\tau) > \alpha\}` from the same sign vectors. With
      :math:`m \le 5` pairs no two-sided p-value is below 0.0625, so the 95%
      interval is the whole line.
    * ``"bootstrap"``: BCa interval of the mean of the :math:`D_i`, p-value by
      inverting it (see :mod:`causalattn.effects`).

    Population covered: the interval covers the average effect of the
    population the pairs were sampled from (e.g. all sequences the task
    generates), for the one model or system they were measured on.

    Parameters
    ----------
    treated, control : array-like of float, shape (m,)
        The outcome of each pair under treatment and under control (at least 2 pairs).
    method : {"t", "normal", "randomization", "bootstrap"}
    confidence_level : float
    null_value : float
        The effect :math:`\tau_0` tested by ``pvalue``.
    n_resamples : int
        Monte Carlo sign flips (randomization, when :math:`2^m` is larger than
        ``n_resamples``) or bootstrap resamples.
    rng : None, int or numpy.random.Generator
        For the randomization and bootstrap methods.
    extra_pvalues : sequence of str
        Other methods whose p-values are added as ``details["pvalue_{method}"]``
        (computed from the same state of ``rng``); never mixed into ``pvalue``.

    Returns
    -------
    Estimate
        ``method`` is ``"paired-t"``, ``"paired-normal"``,
        ``"paired-randomization-exact"`` (or ``-monte-carlo``) or
        ``"paired-bootstrap"``; ``n`` is the number of pairs; ``details`` has
        ``df`` (t), ``exact`` and ``n_resamples`` (randomization).

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched-pairs
    experiments: Neyman and the sign-flip FRT) and ch. 3 (inverting an FRT).

    Examples
    --------
    Darwin's 15 pairs of cross- and self-fertilized plants (Ding ch. 7):

    >>> d = [6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6]
    >>> est = paired_effect(d, [0.0] * 15)
    >>> est.method, round(est.estimate, 4), [round(x, 3) for x in est.confidence_interval], round(est.pvalue, 4)
    ('paired-t', 2.6167, [0.004, 5.229], 0.0497)
    >>> exact = paired_effect(d, [0.0] * 15, method="randomization", n_resamples=2**15)
    >>> exact.method, round(exact.pvalue, 4)
    ('paired-randomization-exact', 0.0527)
    """
    y1, y0, options = _paired_effect_iv(treated, control, method, confidence_level, null_value, n_resamples, rng,
                                        extra_pvalues)
    m = len(y1)
    details = {"design": "paired", "n_pairs": m}

    def engine(scaled: np.ndarray):
        d = scaled[:m] - scaled[m:]
        return lambda opts, method, interval: one_sample(d, opts, method, "paired", m, details, interval)

    return infer(np.concatenate([y1, y0]), engine, options, "treated")


def _two_arm_effect_iv(outcome, treatment, method, confidence_level, null_value, n_resamples, rng, extra_pvalues):
    check_same_index(outcome=outcome, treatment=treatment)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    n1 = int(z.sum())
    if min(n1, len(z) - n1) < 2:
        raise ValueError(f"`treatment`: need at least 2 treated and 2 control units, found {n1} treated and "
                         f"{len(z) - n1} control")
    options = options_iv(method, confidence_level, null_value, n_resamples, rng, extra_pvalues)
    check_bootstrap_sizes(options, {"treated units": n1, "control units": len(z) - n1}, "treatment")
    return y, z, options


def two_arm_effect(outcome, treatment, *, method: str = "t", confidence_level: float = 0.95,
                   null_value: float = 0.0, n_resamples: int = 10_000, rng=None,
                   extra_pvalues: Sequence[str] = ()) -> Estimate:
    r"""The average effect in a two-arm randomized design (CRE): one interval and p-value from one procedure.

    The estimate is :math:`\hat\tau = \bar Y_1 - \bar Y_0` with Neyman's
    conservative standard error :math:`\{S_1^2/n_1 + S_0^2/n_0\}^{1/2}`
    (Ding ch. 4).

    * ``"t"``: Welch's interval :math:`\hat\tau \pm t_{\nu,\,1-\alpha/2}\,\widehat{se}` and
      test (:func:`scipy.stats.ttest_ind` with ``equal_var=False``), with the
      Welch-Satterthwaite degrees of freedom
      :math:`\nu = (v_1 + v_0)^2 / \{v_1^2/(n_1-1) + v_0^2/(n_0-1)\}`, :math:`v_a = S_a^2/n_a`.
    * ``"normal"``: Ding's Neyman interval with :math:`z_{1-\alpha/2}` (:func:`causalattn.experiments.neyman`).
    * ``"randomization"``: the label-permutation FRT of the sharp null
      :math:`Y_i(1) - Y_i(0) = \tau_0` (``design="cre"``, exact when the
      :math:`\binom{n}{n_1}` assignments can be enumerated) and the interval
      inverting it on the same assignments. 3 + 3 units have 20 assignments:
      no two-sided p-value is below 0.1 and the 95% interval is the whole line.
    * ``"bootstrap"``: BCa interval of :func:`scipy.stats.bootstrap`, each arm
      resampled on its own; p-value by inversion.

    Population covered: under complete randomization the interval covers the
    average effect over the units of the experiment (Neyman's finite
    population) conservatively, and over a population they were sampled from.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
        At least 2 treated and 2 control units.
    method : {"t", "normal", "randomization", "bootstrap"}
    confidence_level, null_value, n_resamples, rng, extra_pvalues
        As for :func:`paired_effect`.

    Returns
    -------
    Estimate
        ``method`` is ``"two-arm-t"`` (Welch), ``"two-arm-normal"``,
        ``"two-arm-randomization-exact"`` (or ``-monte-carlo``) or
        ``"two-arm-bootstrap"``; ``n`` is the number of units.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 (FRT) and 4 (Neyman's CRE analysis).
    Welch, B. L. (1947). *Biometrika* 34, 28-35.

    Examples
    --------
    >>> est = two_arm_effect([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0])
    >>> est.method, round(est.estimate, 4), round(est.standard_error, 4), round(est.details["df"], 2)
    ('two-arm-t', 2.3333, 0.6667, 3.2)
    >>> round(est.pvalue, 4)
    0.0357
    """
    y, z, options = _two_arm_effect_iv(outcome, treatment, method, confidence_level, null_value, n_resamples, rng,
                                       extra_pvalues)
    details = {"design": "two-arm", "n_treated": int(z.sum()), "n_control": int(len(z) - z.sum())}

    def engine(scaled: np.ndarray):
        y1, y0 = scaled[z == 1], scaled[z == 0]
        return lambda opts, method, interval: two_sample(y1, y0, opts, method, "two-arm", len(z), details, interval)

    return infer(y, engine, options, "outcome")


@dataclass(frozen=True)
class _ClusteredInputs:
    """The validated input of :func:`clustered_effect`."""

    outcome: np.ndarray
    clusters: Groups
    treated: np.ndarray | None  # the arm of each cluster (cluster-randomized), None when nested
    options: Options


def _clustered_effect_iv(outcome, clusters, treatment, method, confidence_level, null_value, n_resamples, rng,
                         extra_pvalues) -> _ClusteredInputs:
    check_same_index(outcome=outcome, clusters=clusters, treatment=treatment)
    y = as_float_array("outcome", outcome)
    groups = Groups(clusters, len(y), "clusters")
    labels, codes, sizes = groups.labels, groups.codes, groups.sizes
    options = options_iv(method, confidence_level, null_value, n_resamples, rng, extra_pvalues)
    if treatment is None:
        if len(labels) < 2:
            raise ValueError(f"`clusters`: need at least 2 clusters, got {len(labels)}")
        check_bootstrap_sizes(options, {"clusters": len(labels)}, "clusters")
        return _ClusteredInputs(y, groups, None, options)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    treated = np.bincount(codes, z) / sizes
    mixed = np.flatnonzero((treated > 0) & (treated < 1))
    if mixed.size:
        raise ValueError(f"`treatment` must be constant within each cluster (clusters are assigned whole), "
                         f"cluster {labels[mixed[0]].item()!r} has both arms")
    g1 = int(treated.sum())
    if min(g1, len(labels) - g1) < 2:
        raise ValueError(f"`treatment`: need at least 2 treated and 2 control clusters, found {g1} treated and "
                         f"{len(labels) - g1} control")
    check_bootstrap_sizes(options, {"treated clusters": g1, "control clusters": len(labels) - g1}, "clusters")
    return _ClusteredInputs(y, groups, treated.astype(int), options)


def clustered_effect(outcome, clusters, *, treatment=None, method: str = "t", confidence_level: float = 0.95,
                     null_value: float = 0.0, n_resamples: int = 10_000, rng=None,
                     extra_pvalues: Sequence[str] = ()) -> Estimate:
    r"""The average effect when units come in clusters: the clusters are the units of inference.

    Two designs, both analysed on the cluster means :math:`\bar Y_g` of the
    :math:`G` clusters (each cluster weighs the same; with equal cluster sizes
    this is also the average over units):

    * **Nested, both arms in every cluster** (``treatment=None``): ``outcome``
      holds each unit's paired difference :math:`D_{gi} = Y_{gi}(1) - Y_{gi}(0)`,
      e.g. held-out sequences (units) nested in independently trained models
      (clusters), every sequence evaluated under both arms. The estimate is
      :math:`\hat\tau = G^{-1}\sum_g \bar D_g` and the inference is that of
      :func:`paired_effect` on the :math:`G` cluster means: the t interval has
      :math:`G - 1` degrees of freedom, the randomization test flips the sign of
      whole clusters. It covers the average effect over the *population of
      clusters* (of training runs, say) the :math:`G` clusters were drawn from:
      it counts the variation between clusters as well as within them. The
      paired interval of one cluster's units covers that one cluster's effect
      only.
    * **Cluster-randomized** (``treatment`` given, constant within a cluster):
      whole clusters are assigned to the arms. The analysis is
      :func:`two_arm_effect` on the cluster means: Welch's t with
      Satterthwaite degrees of freedom (at most :math:`G - 2`), Neyman's
      interval, or the FRT of :func:`causalattn.frt` under the design
      :class:`causalattn.experiments.designs.ClusterRandomized` (whole clusters permuted,
      ``statistic="cluster_means"``: the same difference of cluster means),
      which is the randomization test of a cluster-randomized experiment. It
      covers the average over clusters of the cluster-mean effects.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
        Per-unit paired differences (nested design) or per-unit outcomes (cluster-randomized).
    clusters : array-like, shape (n,)
        A cluster label per unit; at least 2 clusters (2 per arm when randomized).
    treatment : array-like of 0/1, shape (n,), optional
        The arm of each unit's cluster, for a cluster-randomized design.
    method, confidence_level, null_value, n_resamples, rng, extra_pvalues
        As for :func:`paired_effect`; the randomization method flips the signs
        (nested) or permutes the arms (cluster-randomized) of whole clusters.

    Returns
    -------
    Estimate
        ``method`` is ``"clustered-paired-{method}"`` or
        ``"cluster-randomized-{method}"``; ``n`` is the number of units and
        ``details["n_clusters"]`` the number of clusters.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 4 and 7, and ch. 9
    (finite and super populations).
    Su, F. and Ding, P. (2021). Model-assisted analyses of cluster-randomized experiments.
    *JRSS B* 83(5), 994-1015.

    Examples
    --------
    Three models, two sequences each, every sequence under both arms:

    >>> d = [-0.50, -0.70, -0.90, -0.80, -0.20, -0.40]
    >>> est = clustered_effect(d, ["m0", "m0", "m1", "m1", "m2", "m2"])
    >>> est.method, round(est.estimate, 4), est.details["df"], round(est.pvalue, 4)
    ('clustered-paired-t', -0.5833, 2.0, 0.0669)
    """
    inputs = _clustered_effect_iv(outcome, clusters, treatment, method, confidence_level, null_value, n_resamples,
                                  rng, extra_pvalues)
    y, treated, codes, sizes = inputs.outcome, inputs.treated, inputs.clusters.codes, inputs.clusters.sizes
    g = inputs.clusters.k
    details = {"n_clusters": g, "cluster_sizes": "equal" if np.all(sizes == sizes[0]) else "unequal"}
    if treated is None:
        details["design"] = "clustered-paired"

        def engine(scaled: np.ndarray):
            means = np.bincount(codes, scaled) / sizes
            return lambda opts, method, interval: one_sample(means, opts, method, "clustered-paired", len(y),
                                                             details, interval)
    else:
        details["design"] = "cluster-randomized"
        randomized = ClusterRandomized(codes)

        def engine(scaled: np.ndarray):
            means = np.bincount(codes, scaled) / sizes
            frt_inputs = Randomization(scaled, treated[codes], randomized, "cluster_means",
                                       math.comb(g, int(treated.sum())))
            return lambda opts, method, interval: two_sample(means[treated == 1], means[treated == 0], opts, method,
                                                             "cluster-randomized", len(y), details, interval,
                                                             randomization=frt_inputs)
    return infer(y, engine, inputs.options, "outcome")
