"""Designs on units in groups: stratified (SRE), matched pairs (MPE) and cluster randomization."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, ClassVar

import numpy as np

from causalattn._validation import check_positive_int, check_same_length
from causalattn.experiments.designs.base import Design, bits, combination_blocks, cre_moments, subset_assignments
from causalattn.experiments.designs.complete import CRE
from causalattn.experiments.designs.groups import Groups

__all__ = ["MPE", "SRE", "ClusterRandomized"]


def _counts_per_group(name: str, values) -> np.ndarray:
    """Whole-number counts (e.g. ``n_treated`` per stratum) as an int array; no silent truncation."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must hold integers, got {values!r}")
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise ValueError(f"`{name}` must hold whole numbers, got {arr.tolist()}")
    return arr.astype(int)


def _labels(design: Design, name: str, values: Any) -> tuple[np.ndarray, Groups]:
    """The labels of argument ``name`` as an array and their groups; the index of a pandas argument is kept."""
    design._remember_index(name, values)
    labels = np.asarray(values)
    return labels, Groups(labels, len(labels), name)


@dataclass(frozen=True, eq=False)
class SRE(Design, shorthand="sre"):
    """Stratified randomized experiment: a CRE within each stratum.

    Parameters
    ----------
    strata : array-like
        A stratum label per unit.
    n_treated : array-like of int, optional
        Treated units per stratum, in the order of ``np.unique(strata)``; read
        off the observed treatment when not given.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 5.

    Examples
    --------
    >>> SRE(["a", "a", "a", "b", "b"], [1, 1]).count()
    6
    >>> SRE(["a", "a", "a", "b", "b"]).bind([1, 1, 0, 0, 1]).n_treated.tolist()
    [2, 1]
    """

    strata: Any
    n_treated: Any = None
    fixed_group_counts: ClassVar[bool] = True

    def __post_init__(self) -> None:
        strata, groups = _labels(self, "strata", self.strata)
        object.__setattr__(self, "strata", strata)
        object.__setattr__(self, "groups", groups)
        if self.n_treated is None:
            return
        n_treated = _counts_per_group("n_treated", self.n_treated)
        if n_treated.shape != (groups.k,):
            raise ValueError(f"`n_treated` must give one count per stratum ({groups.k}), got shape {n_treated.shape}")
        bad = np.flatnonzero((n_treated < 1) | (n_treated >= groups.sizes))
        if bad.size:
            g = bad[0]
            raise ValueError(
                f"`strata`: stratum {groups.labels[g].item()!r} needs both arms, got {n_treated[g]} treated "
                f"of {groups.sizes[g]} units"
            )
        object.__setattr__(self, "n_treated", n_treated)

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.groups.n

    @property
    def bound(self) -> bool:
        return self.n_treated is not None

    def _bind(self, treatment: np.ndarray) -> SRE:
        check_same_length(treatment=treatment, strata=self.strata)
        n1, _ = self.groups.check_both_arms(treatment)
        return replace(self, n_treated=n1)

    def _check(self, treatment: np.ndarray) -> None:
        n1 = np.rint(self.groups.sums(treatment.astype(float))).astype(int)
        bad = np.flatnonzero(n1 != self.n_treated)
        if bad.size:
            g = bad[0]
            raise ValueError(f"`treatment` treats {n1[g]} units in stratum {self.groups.labels[g].item()!r}, "
                             f"the design {self.n_treated[g]}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        keys = rng.random((size, self.n))  # one uniform key per unit, row by row
        out = np.zeros(keys.shape)
        for members, n_treated in zip(self.groups.members, self.n_treated, strict=True):
            out[:, members] = subset_assignments(keys[:, members], n_treated)
        return out

    def _count(self) -> int:
        return math.prod(math.comb(int(s), int(c)) for s, c in zip(self.groups.sizes, self.n_treated, strict=True))

    def _enumerate(self, batch: int):
        # every stratum's subsets as a 0/1 table; assignment number i picks one row of each (mixed radix)
        tables = [np.concatenate(list(combination_blocks(int(size), int(c), 65536))).astype(np.uint8)
                  for size, c in zip(self.groups.sizes, self.n_treated, strict=True)]
        total = math.prod(len(table) for table in tables)
        for start in range(0, total, batch):
            codes = np.arange(start, min(start + batch, total), dtype=np.int64)
            out = np.zeros((len(codes), self.n))
            for members, table in zip(reversed(self.groups.members), reversed(tables), strict=True):
                codes, row = np.divmod(codes, len(table))
                out[:, members] = table[row]
            yield out, None

    def _treated_probability(self) -> np.ndarray:
        return (self.n_treated / self.groups.sizes)[self.groups.codes]

    def _linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        moments = [cre_moments(scores[m], int(c)) for m, c in zip(self.groups.members, self.n_treated, strict=True)]
        return float(sum(m for m, _ in moments)), float(sum(v for _, v in moments))


@dataclass(frozen=True, eq=False)
class MPE(Design, shorthand="mpe"):
    """Matched-pairs experiment: in each pair one unit is treated, each with probability 1/2.

    Parameters
    ----------
    pairs : array-like
        A pair label per unit; every label occurs exactly twice.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 7.

    Examples
    --------
    >>> MPE([0, 0, 1, 1]).draw(1, 2)
    array([[0., 1., 0., 1.],
           [1., 0., 0., 1.]])
    """

    pairs: Any
    fixed_group_counts: ClassVar[bool] = True
    paired: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if np.ndim(self.pairs) == 1 and len(self.pairs) < 2:
            raise ValueError(f"`pairs` must hold at least one pair (2 units), got {len(self.pairs)} unit(s)")
        pairs, groups = _labels(self, "pairs", self.pairs)
        bad = np.flatnonzero(groups.sizes != 2)
        if bad.size:
            raise ValueError(
                f"`pairs`: every pair must hold exactly 2 units, pair {groups.labels[bad[0]].item()!r} "
                f"has {groups.sizes[bad[0]]}"
            )
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "groups", groups)

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.groups.n

    @cached_property
    def members(self) -> np.ndarray:
        """``(pairs, 2)`` unit indices: the first and second unit of each pair."""
        return np.array(self.groups.members).reshape(-1, 2)

    def _check(self, treatment: np.ndarray) -> None:
        self.groups.check_both_arms(treatment)

    def _flips_to_assignments(self, first_treated: np.ndarray) -> np.ndarray:
        first, second = self.members.T
        out = np.empty((len(first_treated), self.n))
        out[:, first] = first_treated
        out[:, second] = 1.0 - first_treated
        return out

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self._flips_to_assignments((rng.random((size, self.groups.k)) < 0.5).astype(float))

    def _count(self) -> int:
        return 2**self.groups.k

    def _enumerate(self, batch: int):
        for start in range(0, 2**self.groups.k, batch):
            yield self._flips_to_assignments(bits(start, min(start + batch, 2**self.groups.k), self.groups.k)), None

    def _treated_probability(self) -> np.ndarray:
        return np.full(self.n, 0.5)

    def _linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        first, second = scores[self.members.T]
        return float((first + second).sum() / 2), float(((first - second) ** 2).sum() / 4)


def _whole_clusters(cluster_groups: Groups, treatment: np.ndarray) -> None:
    """A ValueError naming the first cluster whose units are not all in one arm."""
    n1 = np.rint(cluster_groups.sums(treatment.astype(float)))
    mixed = np.flatnonzero((n1 > 0) & (n1 < cluster_groups.sizes))
    if mixed.size:
        g = mixed[0]
        raise ValueError(f"`clusters`: cluster {cluster_groups.labels[g].item()!r} has both treated and control "
                         "units; a cluster-randomized design assigns clusters whole")


@dataclass(frozen=True, eq=False)
class ClusterRandomized(Design, shorthand="cluster"):
    """Cluster-randomized experiment: ``n_treated`` of the clusters are treated whole, all subsets equally likely.

    Every unit of a cluster gets its cluster's arm; the clusters follow a CRE.
    Unit-level statistics such as the difference in means then have a random
    number of treated units, and the FRT uses the cluster assignments only.
    :func:`causalattn.frt` studentizes with the cluster-level standard error
    here, and offers ``statistic="cluster_means"`` (each cluster weighing the same).

    Parameters
    ----------
    clusters : array-like
        A cluster label per unit.
    n_treated : int, optional
        Number of treated clusters; read off the observed treatment when not given.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 9 (cluster-randomized experiments);
    Middleton and Aronow (2015).

    Examples
    --------
    >>> design = ClusterRandomized(["a", "a", "b", "c", "c", "c"], 1)
    >>> design.count(), design.draw(0, 1).tolist()
    (3, [[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])
    """

    clusters: Any
    n_treated: int | None = None

    def __post_init__(self) -> None:
        clusters, cluster_groups = _labels(self, "clusters", self.clusters)
        if cluster_groups.k < 2:
            raise ValueError(f"`clusters` must hold at least 2 clusters, got {cluster_groups.k}")
        object.__setattr__(self, "clusters", clusters)
        object.__setattr__(self, "cluster_groups", cluster_groups)
        if self.n_treated is None:
            return
        n_treated = check_positive_int("n_treated", self.n_treated)
        if n_treated >= cluster_groups.k:
            raise ValueError(f"`n_treated` (treated clusters) must be less than the {cluster_groups.k} clusters, "
                             f"got {n_treated}")
        object.__setattr__(self, "base", CRE(cluster_groups.k, n_treated))

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.cluster_groups.n

    @property
    def bound(self) -> bool:
        return self.n_treated is not None

    def _bind(self, treatment: np.ndarray) -> ClusterRandomized:
        check_same_length(treatment=treatment, clusters=self.clusters)
        _whole_clusters(self.cluster_groups, treatment)
        treated = np.rint(self.cluster_groups.sums(treatment.astype(float))) > 0
        if treated.all() or not treated.any():
            raise ValueError(f"`treatment`: need at least 1 treated and 1 control cluster, found "
                             f"{int(treated.sum())} treated of {self.cluster_groups.k}")
        return replace(self, n_treated=int(treated.sum()))

    def _check(self, treatment: np.ndarray) -> None:
        _whole_clusters(self.cluster_groups, treatment)
        treated = int((np.rint(self.cluster_groups.sums(treatment.astype(float))) > 0).sum())
        if treated != self.n_treated:
            raise ValueError(f"`treatment` treats {treated} clusters, the design {self.n_treated}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.base._candidates(rng, size)[:, self.cluster_groups.codes]

    def _count(self) -> int:
        return self.base.count()

    def _enumerate(self, batch: int):
        for block, _ in self.base.enumerate(batch):
            yield block[:, self.cluster_groups.codes], None

    def _treated_probability(self) -> np.ndarray:
        return np.full(self.n, self.n_treated / self.cluster_groups.k)

    def _linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        return self.base.linear_moments(self.cluster_groups.sums(scores))
