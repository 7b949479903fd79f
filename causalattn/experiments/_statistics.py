"""The test statistics of the Fisher randomization test, each fitted to its design.

A statistic is a function ``T(y0, assignments) -> (B,)`` of the imputed
control outcomes and a ``(B, n)`` block of 0/1 assignments. The linear ones
(rank sums, signed ranks, the difference in means with fixed arm sizes) also
give their unit scores or basis, for asymptotic p-values and for test
inversion that keeps two numbers per assignment.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (CRE),
ch. 5 (SRE, van Elteren), ch. 7 (MPE, signed ranks, covariate adjustment), ch. 9 (clusters).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from causalattn import _scaled_fit
from causalattn._validation import check_choice
from causalattn.experiments.designs import ClusterRandomized, Design, stratified_difference
from causalattn.experiments.matched_pairs import covariate_differences

STATISTICS = ("diff_in_means", "studentized", "rank_sum", "signed_rank", "ks", "adjusted", "cluster_means")


@dataclass(frozen=True)
class Statistic:
    """A test statistic ``function(y0, assignments) -> (B,)``; linear ones are ``assignments @ scores(y0)``."""

    name: str
    function: Callable[[np.ndarray, np.ndarray], np.ndarray]
    scores: Callable[[np.ndarray], np.ndarray] | None = None
    continuity: float = 0.0  # for the normal approximation of an integer-valued linear statistic
    basis: Callable[[np.ndarray], np.ndarray] | None = None  # T(A, y0) = A @ basis(y0), basis linear in y0


def _linear(name: str, scores: Callable[[np.ndarray], np.ndarray], continuity: float = 0.0) -> Statistic:
    return Statistic(name, lambda y, a: a @ scores(y), scores, continuity)


def _difference_in_means(design: Design, z: np.ndarray) -> Statistic:
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

    return Statistic("diff_in_means", lambda y, a: a @ basis(y), basis=basis)


def _cluster_means(design: ClusterRandomized) -> Statistic:
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

    return Statistic("cluster_means", lambda y, a: a @ basis(y), basis=basis)


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
    dx = dx / _scaled_fit.column_scales(dx)  # the intercept does not depend on their units; G's conditioning does
    precision = np.linalg.inv(dx.T @ dx)
    m = len(first)

    def intercept(y: np.ndarray, assignments: np.ndarray) -> np.ndarray:
        d = y[first] - y[second]
        signs = 2 * assignments[:, first] - 1  # (B, m)
        u = signs @ dx  # (B, K)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (signs @ d - u @ (precision @ (dx.T @ d))) / (m - np.einsum("bk,kl,bl->b", u, precision, u))

    return intercept


def statistic_iv(statistic, design: Design, z: np.ndarray, covariates) -> Statistic:
    """The statistic object; a ValueError when a built-in statistic does not fit the design."""
    if statistic != "adjusted" and covariates is not None:
        raise ValueError("`covariates` (adjustment covariates) are only used with statistic='adjusted'; the "
                         "covariates balanced by a rerandomization belong to its design, ReM(covariates, threshold)")
    if callable(statistic):
        return Statistic(getattr(statistic, "__name__", "custom"), statistic)
    name = check_choice("statistic", statistic, STATISTICS)
    groups, paired = design.groups, design.paired
    cluster = isinstance(design, ClusterRandomized)
    if name == "cluster_means":
        if not cluster:
            raise ValueError(f"`statistic`='cluster_means' needs a cluster-randomized design "
                             f"(design=ClusterRandomized(clusters)), "
                             f"got {type(design).__name__}")
        return _cluster_means(design)
    if name in ("signed_rank", "adjusted") and not paired:
        raise ValueError(f"`statistic`={name!r} needs a matched-pairs design (design=MPE(pairs)), "
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
        return Statistic(name, lambda y, a: stratified_difference(y, a, groups, paired=paired)[0])
    if name == "studentized":
        if paired and groups.k < 2:
            raise ValueError("`pairs`: the studentized statistic needs at least 2 pairs")
        if cluster:
            if min(design.n_treated, design.cluster_groups.k - design.n_treated) < 2:
                raise ValueError(f"`clusters`: the studentized statistic needs at least 2 treated and 2 control "
                                 f"clusters, got {design.n_treated} of {design.cluster_groups.k} treated")
            return Statistic(name, _cluster_studentized(design))
        if not paired:
            groups.check_both_arms(z, minimum=2)

        def studentized(y, a):
            tau, var = stratified_difference(y, a, groups, paired=paired, variance=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                return tau / np.sqrt(var)

        return Statistic(name, studentized)
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
        return Statistic(name, _adjusted(members, covariate_differences(covariates, design)))
    return Statistic(name, _ks)
