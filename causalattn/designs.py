"""Experimental designs that draw treatment assignments: CRE, BRE, SRE, MPE and ReM.

Each design describes how a vector of 0/1 treatment indicators
:math:`Z = (Z_1, \\dots, Z_n)` is drawn. The Fisher randomization test
(:func:`causalattn.frt`) and simulations use two operations:

* ``draw(rng, size)``: a ``(size, n)`` float array of 0.0/1.0 assignments drawn
  from a seeded :class:`numpy.random.Generator`;
* ``enumerate(batch)``: all distinct assignments, ``batch`` rows at a time,
  with their (relative) probabilities, when there are few enough.

Every design consumes the generator one assignment (row) after the other, so a
stream of assignments is the same whether it is drawn at once or in batches of
any size (:meth:`Design.draw_batches`). Assignments are floats so that statistics are
BLAS matrix products such as ``A @ y``.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (CRE),
ch. 5 (SRE, post-stratification), ch. 7 (MPE), ch. 6 (rerandomization, BRE).
Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate
balance in experiments. *Annals of Statistics* 40(2), 1263-1282.
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse, stats

from causalattn._validation import as_float_array, check_positive_int

__all__ = ["BRE", "CRE", "MPE", "ReM", "SRE", "Design"]


class Groups:
    """Units grouped into strata (or pairs), with vectorized per-group sums.

    Parameters
    ----------
    labels : array-like of length n, or None
        A label per unit; ``None`` puts every unit in one group.
    name : str
        Argument name used in error messages (``"strata"`` or ``"pairs"``).
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


_GROUP_WORD = {"strata": "stratum", "pairs": "pair"}


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


def _chunks(rows: Iterator, width: int, batch: int, fill) -> Iterator[np.ndarray]:
    """Group an iterator of assignment descriptions into ``(<= batch, width)`` arrays via ``fill``."""
    while True:
        block = list(itertools.islice(rows, batch))
        if not block:
            return
        out = np.zeros((len(block), width))
        for r, item in enumerate(block):
            fill(out[r], item)
        yield out


class Design(ABC):
    """Base class: candidate assignments drawn row by row, and an optional acceptance rule."""

    n: int

    @abstractmethod
    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``(size, n)`` candidate assignments; row ``i`` must only use the generator after row ``i - 1``."""

    def _accept(self, assignments: np.ndarray) -> np.ndarray | None:
        """Boolean mask of acceptable rows, or ``None`` when every assignment is acceptable."""
        return None

    @abstractmethod
    def count(self) -> int:
        """The number of distinct assignments (an upper bound for designs with an acceptance rule)."""

    @abstractmethod
    def enumerate(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """All distinct assignments, ``(rows, weights)`` per batch; ``weights`` is None for equal probabilities."""

    def draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` assignments as a ``(size, n)`` float array of 0.0/1.0."""
        return next(self.draw_batches(rng, size, size))

    def draw_batches(self, rng: np.random.Generator, total: int, batch: int) -> Iterator[np.ndarray]:
        """``total`` assignments in batches of at most ``batch`` rows.

        The concatenated stream does not depend on ``batch``: candidates are drawn
        from ``rng`` in row order and accepted ones are buffered, never skipped.
        """
        pending: list[np.ndarray] = []
        have = 0
        done = 0
        while done < total:
            want = min(batch, total - done)
            while have < want:
                candidates = self._candidates(rng, want)
                mask = self._accept(candidates)
                if mask is not None:
                    candidates = candidates[mask]
                pending.append(candidates)
                have += len(candidates)
            block = np.concatenate(pending) if len(pending) > 1 else pending[0]
            pending, have = [block[want:]], have - want
            done += want
            yield block[:want]


@dataclass(frozen=True, eq=False)
class CRE(Design):
    """Completely randomized experiment: ``n_treated`` of ``n`` units treated, all subsets equally likely.

    Examples
    --------
    >>> import numpy as np
    >>> CRE(5, 2).draw(np.random.default_rng(0), 3).sum(axis=1)
    array([2., 2., 2.])
    """

    n: int
    n_treated: int

    def __post_init__(self) -> None:
        check_positive_int("n", self.n, minimum=2)
        check_positive_int("n_treated", self.n_treated)
        if self.n_treated >= self.n:
            raise ValueError(f"`n_treated` must be less than `n` = {self.n}, got {self.n_treated}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        out = np.zeros((size, self.n))
        out[:, : self.n_treated] = 1.0
        return rng.permuted(out, axis=1, out=out)  # a Fisher-Yates shuffle of each row in turn

    def count(self) -> int:
        return math.comb(self.n, self.n_treated)

    def enumerate(self, batch: int = 65536):
        def fill(row, treated):
            row[list(treated)] = 1.0

        for block in _chunks(itertools.combinations(range(self.n), self.n_treated), self.n, batch, fill):
            yield block, None


@dataclass(frozen=True, eq=False)
class BRE(Design):
    """Bernoulli randomized experiment: units treated independently with ``probability``.

    Assignments with an empty arm are excluded (the difference in means is
    undefined there): draws are conditional on both arms being non-empty, an
    event of probability :math:`1 - p^n - (1 - p)^n`.
    """

    n: int
    probability: float

    def __post_init__(self) -> None:
        check_positive_int("n", self.n, minimum=2)
        if not 0 < self.probability < 1:
            raise ValueError(f"`probability` must be in (0, 1), got {self.probability}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return (rng.random((size, self.n)) < self.probability).astype(float)

    def _accept(self, assignments: np.ndarray) -> np.ndarray:
        n1 = assignments.sum(axis=1)
        return (n1 > 0) & (n1 < self.n)

    def count(self) -> int:
        return 2**self.n - 2

    def enumerate(self, batch: int = 65536):
        for start in range(1, 2**self.n - 1, batch):
            block = _bits(start, min(start + batch, 2**self.n - 1), self.n)
            n1 = block.sum(axis=1)
            yield block, self.probability**n1 * (1 - self.probability) ** (self.n - n1)


@dataclass(frozen=True, eq=False)
class SRE(Design):
    """Stratified randomized experiment: a CRE within each stratum.

    Parameters
    ----------
    strata : array-like
        A stratum label per unit.
    n_treated : array-like of int
        Treated units per stratum, in the order of ``np.unique(strata)``.
    """

    strata: np.ndarray
    n_treated: np.ndarray
    groups: Groups = field(init=False, repr=False)

    def __post_init__(self) -> None:
        strata = np.asarray(self.strata)
        groups = Groups(strata, len(strata), "strata")
        n_treated = np.asarray(self.n_treated, dtype=int)
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
    def from_treatment(cls, strata, treatment) -> SRE:
        """The SRE with the per-stratum treated counts of an observed ``treatment``."""
        groups = Groups(strata, len(treatment), "strata")
        n1, _ = groups.check_both_arms(np.asarray(treatment))
        return cls(strata, n1)

    @property
    def n(self) -> int:  # type: ignore[override]
        return self.groups.n

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        keys = rng.random((size, self.n))  # one uniform key per unit, row by row
        out = np.zeros(keys.shape)
        for members, n_treated in zip(self.groups.members, self.n_treated):
            out[:, members] = _subset_assignments(keys[:, members], n_treated)
        return out

    def count(self) -> int:
        return math.prod(math.comb(int(s), int(c)) for s, c in zip(self.groups.sizes, self.n_treated))

    def enumerate(self, batch: int = 65536):
        per_stratum = [
            itertools.combinations(members.tolist(), int(c)) for members, c in zip(self.groups.members, self.n_treated)
        ]

        def fill(row, treated_by_stratum):
            for treated in treated_by_stratum:
                row[list(treated)] = 1.0

        for block in _chunks(itertools.product(*per_stratum), self.n, batch, fill):
            yield block, None


@dataclass(frozen=True, eq=False)
class MPE(Design):
    """Matched-pairs experiment: in each pair one unit is treated, each with probability 1/2.

    Parameters
    ----------
    pairs : array-like
        A pair label per unit; every label occurs exactly twice.
    """

    pairs: np.ndarray
    groups: Groups = field(init=False, repr=False)

    def __post_init__(self) -> None:
        pairs = np.asarray(self.pairs)
        groups = Groups(pairs, len(pairs), "pairs")
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

    @property
    def _first_second(self) -> tuple[np.ndarray, np.ndarray]:
        members = np.array(self.groups.members)  # (pairs, 2)
        return members[:, 0], members[:, 1]

    def _flips_to_assignments(self, first_treated: np.ndarray) -> np.ndarray:
        first, second = self._first_second
        out = np.empty((len(first_treated), self.n))
        out[:, first] = first_treated
        out[:, second] = 1.0 - first_treated
        return out

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self._flips_to_assignments((rng.random((size, self.groups.k)) < 0.5).astype(float))

    def count(self) -> int:
        return 2**self.groups.k

    def enumerate(self, batch: int = 65536):
        for start in range(0, 2**self.groups.k, batch):
            yield self._flips_to_assignments(_bits(start, min(start + batch, 2**self.groups.k), self.groups.k)), None


@dataclass(frozen=True, eq=False)
class ReM(Design):
    r"""Rerandomization: a CRE whose assignments are accepted only if the Mahalanobis distance is small.

    .. math::
        M(Z) = \frac{n_1 n_0}{n}\,(\bar x_1 - \bar x_0)^\top S_x^{-1} (\bar x_1 - \bar x_0) \le a,

    with :math:`S_x` the sample covariance of the covariates. Under the CRE,
    :math:`M` is approximately :math:`\chi^2_K`; ``threshold`` is :math:`a`
    (e.g. ``scipy.stats.chi2.ppf(0.001, K)`` accepts about 0.1% of CRE draws).

    Parameters
    ----------
    covariates : array-like, shape (n, K)
        Stored centred.
    n_treated : int
    threshold : float
        Acceptance threshold :math:`a > 0`.
    """

    covariates: np.ndarray
    n_treated: int
    threshold: float
    base: CRE = field(init=False, repr=False)
    _precision: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        x = np.asarray(self.covariates, dtype=float)
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"`covariates` must be a 2-d array (units x covariates), got shape {x.shape}")
        as_float_array("covariates", x.ravel())
        if not self.threshold > 0:
            raise ValueError(f"`threshold` must be positive, got {self.threshold}")
        cov = np.atleast_2d(np.cov(x, rowvar=False))
        if np.linalg.matrix_rank(cov) < x.shape[1]:
            raise ValueError("`covariates` are collinear: their sample covariance matrix is singular")
        object.__setattr__(self, "covariates", x - x.mean(axis=0))
        object.__setattr__(self, "base", CRE(len(x), self.n_treated))
        object.__setattr__(self, "_precision", np.linalg.inv(cov))

    @property
    def n(self) -> int:  # type: ignore[override]
        return len(self.covariates)

    def mahalanobis(self, assignments: np.ndarray) -> np.ndarray:
        """:math:`M` for each row of ``assignments`` (``(B, n) -> (B,)``)."""
        n1, n0 = self.n_treated, self.n - self.n_treated
        diff = (assignments @ self.covariates) * (1 / n1 + 1 / n0)  # (B, K) mean differences (covariates centred)
        return n1 * n0 / self.n * np.einsum("bk,kl,bl->b", diff, self._precision, diff)

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.base._candidates(rng, size)

    def _accept(self, assignments: np.ndarray) -> np.ndarray:
        return self.mahalanobis(assignments) <= self.threshold

    def acceptance_probability(self) -> float:
        """The asymptotic acceptance probability :math:`P(\\chi^2_K \\le a)`."""
        return float(stats.chi2.cdf(self.threshold, self.covariates.shape[1]))

    def count(self) -> int:
        return self.base.count()

    def enumerate(self, batch: int = 65536):
        for block, _ in self.base.enumerate(batch):
            yield block[self._accept(block)], None
