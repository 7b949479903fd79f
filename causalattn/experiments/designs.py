"""Experimental designs as values: CRE, BRE, SRE, MPE, ReM and cluster randomization.

A :class:`Design` describes how the vector of 0/1 treatment indicators
:math:`Z = (Z_1, \\dots, Z_n)` is drawn. The Fisher randomization test
(:func:`causalattn.frt`), :func:`causalattn.hodges_lehmann` and simulations
only use what every design offers, so a new design needs no edit to them:

* ``draw(rng, size)``: a ``(size, n)`` float array of 0.0/1.0 assignments drawn
  from a seeded :class:`numpy.random.Generator`;
* ``enumerate(batch)``: all distinct assignments, ``batch`` rows at a time,
  with their (relative) probabilities, when there are few enough (``count()``);
* ``check_assignment(treatment)``: is the observed assignment one the design can produce?
* ``groups``, ``paired`` and ``fixed_group_counts``: the strata (or pairs) that
  the statistics respect, and whether every assignment treats the same number
  of units in each (then the difference in means is linear in the assignment);
* ``treated_probability()`` and ``linear_moments(scores)``: the probability
  that each unit is treated and the mean and variance of a linear statistic
  :math:`\\sum_i Z_i a_i` (for Hodges-Lehmann and asymptotic p-values).

The strings ``"cre"``, ``"bre"``, ``"sre"``, ``"mpe"``, ``"rem"`` and
``"cluster"`` are shorthand resolved in one registry, :data:`DESIGNS`, by
:func:`resolve_design`, which builds the design from the observed assignment.

Every design draws its candidates in chunks of a fixed number of rows, so a
stream of assignments is the same whether it is drawn at once or in batches of
any size (:meth:`Design.draw_batches`). Assignments are floats so that statistics are
BLAS matrix products such as ``A @ y``.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (CRE),
ch. 5 (SRE, post-stratification), ch. 6 (rerandomization, BRE), ch. 7 (MPE),
ch. 9 (cluster-randomized experiments).
Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate
balance in experiments. *Annals of Statistics* 40(2), 1263-1282.
Middleton, J. A. and Aronow, P. M. (2015). Unbiased estimation of the average
treatment effect in cluster-randomized experiments. *Statistics, Politics and Policy* 6(1-2), 39-75.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
from scipy import sparse, stats

from causalattn import _fields as fields
from causalattn._registry import Registry
from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_positive_int,
    check_rng,
    check_same_length,
)

__all__ = ["BRE", "CRE", "DESIGNS", "ClusterRandomized", "Design", "Groups", "MPE", "ReM", "SRE",
           "resolve_design", "stratified_difference"]

_GROUP_WORD = {"strata": "stratum", "pairs": "pair", "clusters": "cluster"}
_MIN_CANDIDATES = 100_000  # rejection sampling gives up after max(this, _CANDIDATES_PER_DRAW * wanted) candidates
_CANDIDATES_PER_DRAW = 10_000
_SELECTION_UNITS = 8192  # CRE draws by selection sampling up to this many units, by shuffling rows beyond


class Groups:
    """Units grouped into strata (or pairs, or clusters), with vectorized per-group sums.

    Parameters
    ----------
    labels : array-like of length n, or None
        A label per unit; ``None`` puts every unit in one group.
    n : int
        Number of units.
    name : str
        Argument name used in error messages (``"strata"``, ``"pairs"`` or ``"clusters"``).

    Examples
    --------
    >>> g = Groups(["a", "b", "a"], 3)
    >>> g.k, g.sizes.tolist(), g.sums(np.array([1.0, 2.0, 3.0])).tolist()
    (2, [2, 1], [4.0, 2.0])
    """

    def __init__(self, labels, n: int, name: str = "strata") -> None:
        self.name = name
        if labels is None:
            self.labels = np.array([0])
            self.codes = np.zeros(n, dtype=np.intp)
        else:
            labels = np.asarray(labels)
            if labels.ndim != 1:
                raise ValueError(f"`{name}` must be one-dimensional, got shape {labels.shape}")
            if len(labels) != n:
                raise ValueError(f"arguments must have the same length: `{name}` has {len(labels)}, expected {n}")
            if labels.dtype.kind == "f" and np.isnan(labels).any():
                raise ValueError(f"`{name}` must not contain NaN")
            try:
                self.labels, self.codes = np.unique(labels, return_inverse=True)
            except TypeError:
                raise TypeError(f"`{name}` labels must be mutually comparable (e.g. all ints or all strings, "
                                f"no None), got {sorted({type(x).__name__ for x in labels.tolist()})}") from None
        self.n = n
        self.k = len(self.labels)
        self.sizes = np.bincount(self.codes, minlength=self.k)
        self.members = [np.flatnonzero(self.codes == g) for g in range(self.k)]

    def sums(self, x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-group sums of ``x * weights`` along the last axis: ``(..., n) -> (..., k)``."""
        w = np.ones(self.n) if weights is None else weights
        if self.k == 1:
            return (x @ w)[..., None]
        matrix = sparse.csr_array((w, (np.arange(self.n), self.codes)), shape=(self.n, self.k))
        return np.asarray(x @ matrix) if x.ndim == 2 else matrix.T @ x

    def check_both_arms(self, treatment: np.ndarray, minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Treated and control counts per group; a ValueError naming the group that has too few."""
        n1 = np.rint(self.sums(np.asarray(treatment, dtype=float))).astype(int)
        n0 = self.sizes - n1
        bad = np.flatnonzero((n1 < minimum) | (n0 < minimum))
        if bad.size:
            g = bad[0]
            arm = "treated" if n1[g] < minimum else "control"
            where = "" if self.k == 1 else f" in {_GROUP_WORD[self.name]} {self.labels[g].item()!r}"
            raise ValueError(
                f"`{'treatment' if self.k == 1 else self.name}`: need at least {minimum} {arm} unit(s){where}, "
                f"found {n1[g]} treated and {n0[g]} control"
            )
        return n1, n0


def stratified_difference(
    outcome: np.ndarray, assignments: np.ndarray, groups: Groups, *, paired: bool = False, variance: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""The stratified difference in means and its conservative variance, for each row of ``assignments``.

    With strata :math:`k = 1, \dots, K` of sizes :math:`n_k` and :math:`\pi_k = n_k / n`,
    :math:`\hat\tau = \sum_k \pi_k (\bar Y_{1k} - \bar Y_{0k})` and
    :math:`\hat V = \sum_k \pi_k^2 (S_{1k}^2 / n_{1k} + S_{0k}^2 / n_{0k})`.
    One stratum gives the CRE difference in means. For pairs (``paired=True``)
    :math:`\hat\tau` is the mean of the pair differences :math:`\hat\tau_i` and
    :math:`\hat V = \sum_i (\hat\tau_i - \hat\tau)^2 / \{m (m - 1)\}`.

    ``outcome`` is ``(n,)`` and ``assignments`` ``(B, n)`` of 0/1; returns two
    ``(B,)`` arrays (the second ``None`` unless ``variance``). Assignments with
    fewer than 2 units in an arm of a stratum give a NaN variance.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 4 (CRE), 5 (SRE) and 7 (MPE).

    Examples
    --------
    >>> tau, var = stratified_difference(np.array([3.0, 5.0, 4.0, 1.0, 2.0, 2.0]),
    ...                                  np.array([[1.0, 1, 1, 0, 0, 0]]), Groups(None, 6), variance=True)
    >>> round(float(tau[0]), 4), round(float(var[0]), 4)
    (2.3333, 0.4444)
    """
    centred = outcome - (groups.sums(outcome) / groups.sizes)[groups.codes]  # for accuracy of the variances
    n1 = groups.sums(assignments)  # (B, K)
    n0 = groups.sizes - n1
    total = groups.sums(centred)
    sum1 = groups.sums(assignments, centred)
    mean1, mean0 = sum1 / n1, (total - sum1) / n0
    weights = groups.sizes / groups.n
    tau_k = mean1 - mean0
    tau = tau_k @ weights
    if not variance:
        return tau, None
    with np.errstate(divide="ignore", invalid="ignore"):
        if paired:
            m = groups.k
            var = ((tau_k - tau[:, None]) ** 2).sum(axis=1) / (m * (m - 1))
        else:
            squares1 = groups.sums(assignments, centred**2)
            var1 = (squares1 - n1 * mean1**2) / (n1 - 1)
            var0 = (groups.sums(centred**2) - squares1 - n0 * mean0**2) / (n0 - 1)
            var = (var1 / n1 + var0 / n0) @ weights**2
    return tau, np.maximum(var, 0.0)


def _subset_assignments(keys: np.ndarray, n_treated: int) -> np.ndarray:
    """``(B, n)`` 0/1 rows treating, in each row, the ``n_treated`` units with the smallest uniform keys."""
    treated = np.argpartition(keys, n_treated - 1, axis=1)[:, :n_treated]  # (B, n_treated)
    out = np.zeros(keys.shape)
    np.put_along_axis(out, treated, 1.0, axis=1)
    return out


def _bits(start: int, stop: int, width: int) -> np.ndarray:
    """The binary digits of ``start, ..., stop - 1`` as a ``(stop - start, width)`` float array."""
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return ((codes >> np.arange(width)) & 1).astype(float)


def _cre_moments(scores: np.ndarray, n_treated: int) -> tuple[float, float]:
    """Mean and variance of :math:`\\sum_i Z_i a_i` when ``n_treated`` of the units are drawn without replacement."""
    n = len(scores)
    centred = scores - scores.mean()
    return n_treated * float(scores.mean()), n_treated * (n - n_treated) / (n * (n - 1)) * float(centred @ centred)


DESIGNS: Registry[type[Design]] = Registry("design", argument="design")
"""The registry of design shorthands, ``{"cre": CRE, "bre": BRE, ...}``: a subclass of :class:`Design`
registers itself with ``class MyDesign(Design, shorthand="mine")``."""


class Design(ABC):
    """Base class: candidate assignments drawn row by row, and an optional acceptance rule.

    Subclasses declare their name in :data:`DESIGNS` in the class statement,
    ``class MyDesign(Design, shorthand="mine")``, set ``arguments`` (the
    keyword arguments :meth:`from_treatment` takes), and implement
    ``_candidates``, ``count``, ``_enumerate``, ``_check`` and ``from_treatment``.
    """

    n: int
    shorthand: ClassVar[str] = ""  # the name in DESIGNS, if registered
    arguments: ClassVar[tuple[str, ...]] = ()
    paired: ClassVar[bool] = False
    fixed_group_counts: ClassVar[bool] = False  # every assignment treats as many units in each group as any other
    _rejection_hint: ClassVar[str] = ""

    def __init_subclass__(cls, shorthand: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if shorthand is not None:
            cls.shorthand = shorthand
            DESIGNS.add(shorthand, cls)

    @classmethod
    @abstractmethod
    def from_treatment(cls, treatment, **arguments) -> Design:
        """The design that could have produced the observed ``treatment`` (used by :func:`resolve_design`)."""

    @abstractmethod
    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(size, n)`` candidate assignments, a deterministic function of the generator's state and ``size``.

        :meth:`draw_batches` always asks for :meth:`_chunk` rows at a time, so
        the stream of assignments does not depend on the caller's ``batch``.
        """

    def _accept(self, assignments: np.ndarray) -> np.ndarray | None:
        """Boolean mask of acceptable rows, or ``None`` when every assignment is acceptable."""
        return None

    @abstractmethod
    def _check(self, treatment: np.ndarray) -> None:
        """A ValueError naming `treatment` if the design cannot produce this 0/1 assignment."""

    @abstractmethod
    def count(self) -> int:
        """The number of distinct assignments (an upper bound for designs with an acceptance rule)."""

    @abstractmethod
    def _enumerate(self, batch: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """All distinct assignments, ``(rows, weights)`` per batch."""

    @cached_property
    def groups(self) -> Groups:
        """The strata the statistics respect; one group unless the design is stratified or paired."""
        return Groups(None, self.n)

    def treated_probability(self) -> np.ndarray | None:
        """:math:`\\pi_i = P(Z_i = 1)` per unit, or ``None`` when it has no closed form."""
        return None

    def linear_moments(self, scores: np.ndarray) -> tuple[float, float] | None:
        """Mean and variance of :math:`\\sum_i Z_i a_i` under the design, or ``None`` when unknown."""
        return None

    def check_assignment(self, treatment) -> np.ndarray:
        """The observed ``treatment`` as a 0/1 int array, after checking that the design can produce it."""
        z = as_binary_array("treatment", treatment)
        if len(z) != self.n:
            raise ValueError(f"`treatment` has {len(z)} units but the {type(self).__name__} design has {self.n}")
        self._check(z)
        return z

    def enumerate(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """All distinct assignments, ``(rows, weights)`` per batch of at most ``batch`` rows.

        ``weights`` is None for equally likely assignments, else the relative probabilities.
        """
        return self._enumerate(check_positive_int("batch", batch))

    def draw(self, rng, size: int) -> np.ndarray:
        """``size`` assignments as a ``(size, n)`` float array of 0.0/1.0 (``rng``: None, seed or Generator)."""
        size = check_positive_int("size", size, minimum=0)
        return np.concatenate([np.zeros((0, self.n)), *self.draw_batches(rng, size, max(size, 1))])

    def draw_batches(self, rng, total: int, batch: int) -> Iterator[np.ndarray]:
        """``total`` assignments in batches of at most ``batch`` rows.

        Candidates are drawn :meth:`_chunk` rows at a time (at most 4096 rows and
        about 8 MB, whatever ``batch`` is) and handed out as views of at most
        ``batch`` rows, so the concatenated stream does not depend on ``batch``.
        Designs with an acceptance rule give up with a ValueError stating the
        acceptance rate after :math:`\\max(10^5, 10^4 \\times \\text{total})` candidates.
        """
        rng = check_rng(rng)
        total = check_positive_int("total", total, minimum=0)
        batch = check_positive_int("batch", batch)
        return self._batches(rng, total, batch)

    def _chunk(self) -> int:
        """Candidates drawn at once: a fixed number of rows (at most 4096 and about 8 MB), whatever ``batch`` is."""
        return max(16, min(4096, 2**20 // self.n))

    def _batches(self, rng: np.random.Generator, total: int, batch: int) -> Iterator[np.ndarray]:
        done = drawn = 0
        limit = max(_MIN_CANDIDATES, _CANDIDATES_PER_DRAW * total)
        chunk = self._chunk()
        while done < total:
            candidates = self._candidates(rng, chunk)
            drawn += chunk
            mask = self._accept(candidates)
            if mask is not None:
                candidates = candidates[mask]
                if drawn >= limit and done + len(candidates) < total:
                    raise ValueError(
                        f"{type(self).__name__}: only {done + len(candidates)} of {drawn} candidate assignments "
                        f"were acceptable (acceptance rate {(done + len(candidates)) / drawn:.2g}), {total} wanted; "
                        f"{self._rejection_hint}"
                    )
            candidates = candidates[: total - done]
            for start in range(0, len(candidates), batch):  # views of the chunk, no copies
                yield candidates[start : start + batch]
            done += len(candidates)


def _combination_blocks(n: int, k: int, batch: int) -> Iterator[np.ndarray]:
    """The ``(<= batch, n)`` 0/1 rows of all ``k``-subsets of ``range(n)``, in lexicographic order."""
    subsets = itertools.combinations(range(n), k)
    while True:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.islice(subsets, batch)), dtype=np.intp)
        if not flat.size:
            return
        out = np.zeros((flat.size // k, n))
        np.put_along_axis(out, flat.reshape(-1, k), 1.0, axis=1)
        yield out


@dataclass(frozen=True, eq=False)
class CRE(Design, shorthand="cre"):
    """Completely randomized experiment: ``n_treated`` of ``n`` units treated, all subsets equally likely.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3.

    Examples
    --------
    >>> CRE(5, 2).draw(0, 3).sum(axis=1)
    array([2., 2., 2.])
    >>> CRE(5, 2).count()
    10
    """

    n: int
    n_treated: int
    fixed_group_counts: ClassVar[bool] = True

    def __post_init__(self) -> None:
        check_positive_int("n", self.n, minimum=2)
        check_positive_int("n_treated", self.n_treated)
        if self.n_treated >= self.n:
            raise ValueError(f"`n_treated` must be less than `n` = {self.n}, got {self.n_treated}")

    @classmethod
    def from_treatment(cls, treatment) -> CRE:
        z = as_binary_array("treatment", treatment)
        n1, _ = Groups(None, len(z)).check_both_arms(z)
        return cls(len(z), int(n1[0]))

    def _check(self, treatment: np.ndarray) -> None:
        if treatment.sum() != self.n_treated:
            raise ValueError(f"`treatment` treats {treatment.sum()} units, the design {self.n_treated}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.n > _SELECTION_UNITS:  # one Python step per unit would cost more than a C shuffle per row
            out = np.zeros((size, self.n))
            out[:, : self.n_treated] = 1.0
            return rng.permuted(out, axis=1, out=out)  # a Fisher-Yates shuffle of each row in turn
        # Selection sampling (Knuth's Algorithm S), all assignments at once: unit i is treated with
        # probability (treated still needed) / (units left), which draws every subset with equal probability
        keys = rng.random((self.n, size))  # (units, assignments): each unit's step is one contiguous row
        keys *= (self.n - np.arange(self.n))[:, None]  # keys[i] < needed  <=>  uniform < needed / (n - i)
        needed = np.full(size, float(self.n_treated))
        for row in keys:
            np.less(row, needed, out=row)
            needed -= row
        return keys.T  # (assignments, units), a view

    def count(self) -> int:
        return math.comb(self.n, self.n_treated)

    def _enumerate(self, batch: int):
        for block in _combination_blocks(self.n, self.n_treated, batch):
            yield block, None

    def treated_probability(self) -> np.ndarray:
        return np.full(self.n, self.n_treated / self.n)

    def linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        return _cre_moments(scores, self.n_treated)


@dataclass(frozen=True, eq=False)
class BRE(Design, shorthand="bre"):
    """Bernoulli randomized experiment: units treated independently with ``probability``.

    Assignments with an empty arm are excluded (the difference in means is
    undefined there): draws are conditional on both arms being non-empty, an
    event of probability :math:`1 - p^n - (1 - p)^n`, by rejection.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 and 6.

    Examples
    --------
    >>> BRE(4, 0.5).count()
    14
    """

    n: int
    probability: float
    arguments: ClassVar[tuple[str, ...]] = ("probability",)
    _rejection_hint: ClassVar[str] = "`probability` is too close to 0 or 1 for this number of units"

    def __post_init__(self) -> None:
        check_positive_int("n", self.n, minimum=2)
        probability = fields.real("probability", self.probability)
        if not 0 < probability < 1:
            raise ValueError(f"`probability` must be in (0, 1), got {probability}")
        object.__setattr__(self, "probability", probability)

    @classmethod
    def from_treatment(cls, treatment, *, probability) -> BRE:
        z = as_binary_array("treatment", treatment)
        Groups(None, len(z)).check_both_arms(z)
        return cls(len(z), probability)

    def _check(self, treatment: np.ndarray) -> None:
        Groups(None, self.n).check_both_arms(treatment)

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return (rng.random((size, self.n)) < self.probability).astype(float)

    def _accept(self, assignments: np.ndarray) -> np.ndarray:
        n1 = assignments.sum(axis=1)
        return (n1 > 0) & (n1 < self.n)

    def count(self) -> int:
        return 2**self.n - 2

    def _enumerate(self, batch: int):
        for start in range(1, 2**self.n - 1, batch):
            block = _bits(start, min(start + batch, 2**self.n - 1), self.n)
            n1 = block.sum(axis=1)
            yield block, self.probability**n1 * (1 - self.probability) ** (self.n - n1)

    def treated_probability(self) -> np.ndarray:
        return np.full(self.n, self.probability)


def _counts_per_group(name: str, values) -> np.ndarray:
    """Whole-number counts (e.g. ``n_treated`` per stratum) as an int array; no silent truncation."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must hold integers, got {values!r}")
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and (arr == np.round(arr)).all()):
        raise ValueError(f"`{name}` must hold whole numbers, got {arr.tolist()}")
    return arr.astype(int)


@dataclass(frozen=True, eq=False)
class SRE(Design, shorthand="sre"):
    """Stratified randomized experiment: a CRE within each stratum.

    Parameters
    ----------
    strata : array-like
        A stratum label per unit.
    n_treated : array-like of int
        Treated units per stratum, in the order of ``np.unique(strata)``.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 5.

    Examples
    --------
    >>> SRE(["a", "a", "a", "b", "b"], [1, 1]).count()
    6
    """

    strata: np.ndarray
    n_treated: np.ndarray
    fixed_group_counts: ClassVar[bool] = True
    arguments: ClassVar[tuple[str, ...]] = ("strata",)

    def __post_init__(self) -> None:
        strata = np.asarray(self.strata)
        groups = Groups(strata, len(strata), "strata")
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
        object.__setattr__(self, "strata", strata)
        object.__setattr__(self, "n_treated", n_treated)
        object.__setattr__(self, "groups", groups)

    @classmethod
    def from_treatment(cls, treatment, *, strata) -> SRE:
        """The SRE with the per-stratum treated counts of an observed ``treatment``."""
        z = as_binary_array("treatment", treatment)
        groups = Groups(strata, len(z), "strata")
        n1, _ = groups.check_both_arms(z)
        return cls(strata, n1)

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.groups.n

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
            out[:, members] = _subset_assignments(keys[:, members], n_treated)
        return out

    def count(self) -> int:
        return math.prod(math.comb(int(s), int(c)) for s, c in zip(self.groups.sizes, self.n_treated, strict=True))

    def _enumerate(self, batch: int):
        # every stratum's subsets as a 0/1 table; assignment number i picks one row of each (mixed radix)
        tables = [np.concatenate(list(_combination_blocks(int(size), int(c), 65536))).astype(np.uint8)
                  for size, c in zip(self.groups.sizes, self.n_treated, strict=True)]
        total = math.prod(len(table) for table in tables)
        for start in range(0, total, batch):
            codes = np.arange(start, min(start + batch, total), dtype=np.int64)
            out = np.zeros((len(codes), self.n))
            for members, table in zip(reversed(self.groups.members), reversed(tables), strict=True):
                codes, row = np.divmod(codes, len(table))
                out[:, members] = table[row]
            yield out, None

    def treated_probability(self) -> np.ndarray:
        return (self.n_treated / self.groups.sizes)[self.groups.codes]

    def linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        moments = [_cre_moments(scores[m], int(c)) for m, c in zip(self.groups.members, self.n_treated, strict=True)]
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

    pairs: np.ndarray
    fixed_group_counts: ClassVar[bool] = True
    arguments: ClassVar[tuple[str, ...]] = ("pairs",)
    paired: ClassVar[bool] = True

    def __post_init__(self) -> None:
        pairs = np.asarray(self.pairs)
        if pairs.ndim == 1 and len(pairs) < 2:
            raise ValueError(f"`pairs` must hold at least one pair (2 units), got {len(pairs)} unit(s)")
        groups = Groups(pairs, len(pairs), "pairs")
        bad = np.flatnonzero(groups.sizes != 2)
        if bad.size:
            raise ValueError(
                f"`pairs`: every pair must hold exactly 2 units, pair {groups.labels[bad[0]].item()!r} "
                f"has {groups.sizes[bad[0]]}"
            )
        object.__setattr__(self, "pairs", pairs)
        object.__setattr__(self, "groups", groups)

    @classmethod
    def from_treatment(cls, treatment, *, pairs) -> MPE:
        z = as_binary_array("treatment", treatment)
        check_same_length(treatment=z, pairs=np.asarray(pairs))
        design = cls(pairs)
        design.check_assignment(z)
        return design

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

    def count(self) -> int:
        return 2**self.groups.k

    def _enumerate(self, batch: int):
        for start in range(0, 2**self.groups.k, batch):
            yield self._flips_to_assignments(_bits(start, min(start + batch, 2**self.groups.k), self.groups.k)), None

    def treated_probability(self) -> np.ndarray:
        return np.full(self.n, 0.5)

    def linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        first, second = scores[self.members.T]
        return float((first + second).sum() / 2), float(((first - second) ** 2).sum() / 4)


@dataclass(frozen=True, eq=False)
class ReM(Design, shorthand="rem"):
    r"""Rerandomization: a CRE whose assignments are accepted only if the Mahalanobis distance is small.

    .. math::
        M(Z) = \frac{n_1 n_0}{n}\,(\bar x_1 - \bar x_0)^\top S_x^{-1} (\bar x_1 - \bar x_0) \le a,

    with :math:`S_x` the sample covariance of the covariates. Under the CRE,
    :math:`M` is approximately :math:`\chi^2_K`; ``threshold`` is :math:`a`
    (e.g. ``scipy.stats.chi2.ppf(0.001, K)`` accepts about 0.1% of CRE draws).
    Draws are by rejection and give up, with the observed acceptance rate, when
    fewer than about :math:`10^{-4}` of the candidates are acceptable.

    Parameters
    ----------
    covariates : array-like, shape (n, K)
        Stored centred.
    n_treated : int
    threshold : float
        Acceptance threshold :math:`a > 0`.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 6; Morgan and Rubin (2012).

    Examples
    --------
    >>> rem = ReM(np.arange(10.0), 5, 1.0)
    >>> bool((rem.mahalanobis(rem.draw(0, 20)) <= 1.0).all())
    True
    """

    covariates: np.ndarray
    n_treated: int
    threshold: float
    fixed_group_counts: ClassVar[bool] = True
    arguments: ClassVar[tuple[str, ...]] = ("covariates", "threshold")
    _rejection_hint: ClassVar[str] = "raise `threshold`"

    def __post_init__(self) -> None:
        x = _covariate_matrix(self.covariates)
        threshold = fields.real("threshold", self.threshold)
        if not threshold > 0:
            raise ValueError(f"`threshold` must be positive, got {threshold}")
        if len(x) < 2:
            raise ValueError(f"`covariates` must have at least 2 rows (units), got {len(x)}")
        base = CRE(len(x), self.n_treated)
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        if np.linalg.matrix_rank(cov) < x.shape[1]:
            raise ValueError("`covariates` are collinear: their sample covariance matrix is singular "
                             f"({len(x)} units, {x.shape[1]} covariates)")
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "covariates", x - x.mean(axis=0))
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "_precision", np.linalg.inv(cov))

    @classmethod
    def from_treatment(cls, treatment, *, covariates, threshold) -> ReM:
        z = as_binary_array("treatment", treatment)
        x = _covariate_matrix(covariates)
        check_same_length(treatment=z, covariates=x)
        n1, _ = Groups(None, len(z)).check_both_arms(z)
        design = cls(x, int(n1[0]), threshold)
        design.check_assignment(z)
        return design

    @property
    def n(self) -> int:  # type: ignore[override]
        return len(self.covariates)

    def mahalanobis(self, assignments: np.ndarray) -> np.ndarray:
        """:math:`M` for each row of ``assignments`` (``(B, n) -> (B,)``)."""
        n1, n0 = self.n_treated, self.n - self.n_treated
        diff = (assignments @ self.covariates) * (1 / n1 + 1 / n0)  # (B, K) mean differences (covariates centred)
        return n1 * n0 / self.n * np.einsum("bk,kl,bl->b", diff, self._precision, diff)

    def _check(self, treatment: np.ndarray) -> None:
        self.base._check(treatment)
        distance = float(self.mahalanobis(treatment[None, :].astype(float))[0])
        if distance > self.threshold:
            raise ValueError(
                f"`treatment` is not acceptable under rerandomization: its Mahalanobis distance {distance:.4g} "
                f"exceeds `threshold` = {self.threshold:.4g}"
            )

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.base._candidates(rng, size)

    def _accept(self, assignments: np.ndarray) -> np.ndarray:
        return self.mahalanobis(assignments) <= self.threshold

    def acceptance_probability(self) -> float:
        """The asymptotic acceptance probability :math:`P(\\chi^2_K \\le a)`."""
        return float(stats.chi2.cdf(self.threshold, self.covariates.shape[1]))

    def count(self) -> int:
        return self.base.count()

    def _enumerate(self, batch: int):
        for block, _ in self.base._enumerate(batch):
            yield block[self._accept(block)], None


def _covariate_matrix(covariates) -> np.ndarray:
    """Covariates as a finite ``(n, K)`` float array (a 1-d array is one covariate)."""
    x = as_float_array("covariates", covariates, vector=False)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"`covariates` must be a 2-d array (units x covariates), got shape {x.shape}")
    return x


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
    n_treated : int
        Number of treated clusters.

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

    clusters: np.ndarray
    n_treated: int
    arguments: ClassVar[tuple[str, ...]] = ("clusters",)

    def __post_init__(self) -> None:
        clusters = np.asarray(self.clusters)
        cluster_groups = Groups(clusters, len(clusters), "clusters")
        n_treated = check_positive_int("n_treated", self.n_treated)
        if cluster_groups.k < 2:
            raise ValueError(f"`clusters` must hold at least 2 clusters, got {cluster_groups.k}")
        if n_treated >= cluster_groups.k:
            raise ValueError(f"`n_treated` (treated clusters) must be less than the {cluster_groups.k} clusters, "
                             f"got {n_treated}")
        object.__setattr__(self, "clusters", clusters)
        object.__setattr__(self, "cluster_groups", cluster_groups)
        object.__setattr__(self, "base", CRE(cluster_groups.k, n_treated))

    @classmethod
    def from_treatment(cls, treatment, *, clusters) -> ClusterRandomized:
        z = as_binary_array("treatment", treatment)
        cluster_groups = Groups(clusters, len(z), "clusters")
        _whole_clusters(cluster_groups, z)
        treated = np.rint(cluster_groups.sums(z.astype(float))) > 0
        if treated.all() or not treated.any():
            raise ValueError(f"`treatment`: need at least 1 treated and 1 control cluster, found "
                             f"{int(treated.sum())} treated of {cluster_groups.k}")
        return cls(clusters, int(treated.sum()))

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.cluster_groups.n

    def _check(self, treatment: np.ndarray) -> None:
        _whole_clusters(self.cluster_groups, treatment)
        treated = int((np.rint(self.cluster_groups.sums(treatment.astype(float))) > 0).sum())
        if treated != self.n_treated:
            raise ValueError(f"`treatment` treats {treated} clusters, the design {self.n_treated}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.base._candidates(rng, size)[:, self.cluster_groups.codes]

    def count(self) -> int:
        return self.base.count()

    def _enumerate(self, batch: int):
        for block, _ in self.base._enumerate(batch):
            yield block[:, self.cluster_groups.codes], None

    def treated_probability(self) -> np.ndarray:
        return np.full(self.n, self.n_treated / self.cluster_groups.k)

    def linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        return self.base.linear_moments(self.cluster_groups.sums(scores))


def _whole_clusters(cluster_groups: Groups, treatment: np.ndarray) -> None:
    """A ValueError naming the first cluster whose units are not all in one arm."""
    n1 = np.rint(cluster_groups.sums(treatment.astype(float)))
    mixed = np.flatnonzero((n1 > 0) & (n1 < cluster_groups.sizes))
    if mixed.size:
        g = mixed[0]
        raise ValueError(f"`clusters`: cluster {cluster_groups.labels[g].item()!r} has both treated and control "
                         "units; a cluster-randomized design assigns clusters whole")


def resolve_design(design: str | Design, treatment, **arguments: Any) -> Design:
    """The :class:`Design` named by ``design`` (a key of :data:`DESIGNS` or an instance), checked against ``treatment``.

    A name builds the design that could have produced the observed
    ``treatment`` from the design's ``arguments`` (e.g. ``strata`` for
    ``"sre"``, ``probability`` for ``"bre"``), passed here as keywords;
    arguments that are ``None`` count as not given. An instance is returned
    after :meth:`Design.check_assignment`; it takes no arguments.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3-9 (the designs).

    Examples
    --------
    >>> resolve_design("sre", [1, 0, 0, 1, 0], strata=[0, 0, 0, 1, 1], probability=None).count()
    6
    >>> resolve_design(CRE(4, 2), [1, 0, 0, 1]).n_treated
    2
    """
    given = {name: value for name, value in arguments.items() if value is not None}
    owners = {name: shorthand for shorthand, cls in DESIGNS.items() for name in cls.arguments}
    if isinstance(design, Design):
        if given:
            name = next(iter(given))
            raise ValueError(f"`{name}` is only used with a design given by name (design={owners.get(name)!r}); "
                             f"the {type(design).__name__} instance already holds its design")
        design.check_assignment(treatment)
        return design
    if not isinstance(design, str):
        raise TypeError(f"`design` must be a Design instance or one of {list(DESIGNS)}, got {type(design).__name__}")
    cls = DESIGNS.lookup(design, hint="or a Design instance")
    for name in given:
        if name not in cls.arguments:
            raise ValueError(f"`{name}` is only used with design={owners.get(name)!r}, got design={design!r}")
    for name in cls.arguments:
        if name not in given:
            raise ValueError(f"`{name}` is required with design={design!r}")
    return cls.from_treatment(treatment, **given)
