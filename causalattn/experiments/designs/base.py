"""The :class:`Design` contract, the registry of design names, and binding a design to an observed assignment."""

from __future__ import annotations

import inspect
import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from causalattn._registry import Registry
from causalattn._validation import as_binary_array, check_positive_int, check_rng
from causalattn.experiments.designs.groups import Groups

__all__ = ["DESIGNS", "Design", "resolve_design"]

_MIN_CANDIDATES = 100_000  # rejection sampling gives up after max(this, _CANDIDATES_PER_DRAW * wanted) candidates
_CANDIDATES_PER_DRAW = 10_000

DESIGNS: Registry[type[Design]] = Registry("design", argument="design")
"""The registry of design names, ``{"cre": CRE, "bre": BRE, ...}``: a subclass of :class:`Design` registers
itself with ``class MyDesign(Design, shorthand="mine")``."""


class Design(ABC):
    """Base class: candidate assignments drawn row by row, and an optional acceptance rule.

    A subclass declares its name in :data:`DESIGNS` in the class statement,
    ``class MyDesign(Design, shorthand="mine")``, and implements
    ``_candidates``, ``_count``, ``_enumerate`` and ``_check`` (optionally
    ``_accept``, ``_treated_probability``, ``_linear_moments``). A design
    whose numbers can be read off the observed assignment (the number of
    treated units, say) may leave them open: it is then not :attr:`bound`,
    and implements ``_bind(treatment)``, which returns the complete design.
    """

    n: int | None
    shorthand: ClassVar[str] = ""  # the name in DESIGNS, if registered
    paired: ClassVar[bool] = False
    fixed_group_counts: ClassVar[bool] = False  # every assignment treats as many units in each group as any other
    _rejection_hint: ClassVar[str] = ""
    _pandas_indexes: Mapping[str, pd.Index] = MappingProxyType({})

    def __init_subclass__(cls, shorthand: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if shorthand is not None:
            cls.shorthand = shorthand
            DESIGNS.add(shorthand, cls)

    # ------------------------------------------------------------------ what a subclass implements

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
    def _count(self) -> int:
        """The number of distinct assignments (an upper bound for designs with an acceptance rule)."""

    @abstractmethod
    def _enumerate(self, batch: int) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """All distinct assignments, ``(rows, weights)`` per batch."""

    def _treated_probability(self) -> np.ndarray | None:
        return None

    def _linear_moments(self, scores: np.ndarray) -> tuple[float, float] | None:
        return None

    def _bind(self, treatment: np.ndarray) -> Design:
        """The complete design whose open numbers are those of ``treatment`` (only called when not bound)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ binding to an observed assignment

    @property
    def bound(self) -> bool:
        """Whether every number of the design is fixed (else :meth:`bind` reads them off an assignment)."""
        return True

    def bind(self, treatment) -> Design:
        """This design with the numbers it leaves open read off the observed ``treatment``, checked against it.

        A bound design is returned as it is after :meth:`check_assignment`.
        """
        z = as_binary_array("treatment", treatment)
        design = self
        if not self.bound:
            design = self._bind(z)
            object.__setattr__(design, "_pandas_indexes", self._pandas_indexes)
        design.check_assignment(z)
        return design

    def _require_bound(self) -> None:
        if not self.bound:
            raise ValueError(f"`design`: this {type(self).__name__} leaves the number of treated units open; give "
                             "`n_treated` (and `n`), or pass the design to frt or hodges_lehmann, which take them "
                             "from the observed treatment (Design.bind)")

    def _remember_index(self, name: str, values: Any) -> None:
        """Keep the index of a pandas argument (labels, covariates), so that callers can compare it."""
        if isinstance(values, (pd.Series, pd.DataFrame)):
            object.__setattr__(self, "_pandas_indexes", MappingProxyType({**self._pandas_indexes,
                                                                          name: values.index}))

    @property
    def indexes(self) -> Mapping[str, pd.Index]:
        """The indexes of the pandas objects the design was built from, by argument name (``{"strata": ...}``)."""
        return self._pandas_indexes

    # ------------------------------------------------------------------ what every design offers

    @cached_property
    def groups(self) -> Groups:
        """The strata the statistics respect; one group unless the design is stratified or paired."""
        self._require_bound()
        return Groups(None, self.n)

    def count(self) -> int:
        """The number of distinct assignments (an upper bound for designs with an acceptance rule)."""
        self._require_bound()
        return self._count()

    def treated_probability(self) -> np.ndarray | None:
        """:math:`\\pi_i = P(Z_i = 1)` per unit, or ``None`` when it has no closed form."""
        self._require_bound()
        return self._treated_probability()

    def linear_moments(self, scores: np.ndarray) -> tuple[float, float] | None:
        """Mean and variance of :math:`\\sum_i Z_i a_i` under the design, or ``None`` when unknown."""
        self._require_bound()
        return self._linear_moments(scores)

    def check_assignment(self, treatment) -> np.ndarray:
        """The observed ``treatment`` as a 0/1 int array, after checking that the design can produce it."""
        self._require_bound()
        z = as_binary_array("treatment", treatment)
        if len(z) != self.n:
            raise ValueError(f"`treatment` has {len(z)} units but the {type(self).__name__} design has {self.n}")
        self._check(z)
        return z

    def enumerate(self, batch: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        """All distinct assignments, ``(rows, weights)`` per batch of at most ``batch`` rows.

        ``weights`` is None for equally likely assignments, else the relative probabilities.
        """
        self._require_bound()
        return self._enumerate(check_positive_int("batch", batch))

    def draw(self, rng, size: int) -> np.ndarray:
        """``size`` assignments as a ``(size, n)`` float array of 0.0/1.0 (``rng``: None, seed or Generator)."""
        size = check_positive_int("size", size, minimum=0)
        return np.concatenate([np.zeros((0, self.n or 0)), *self.draw_batches(rng, size, max(size, 1))])

    def draw_batches(self, rng, total: int, batch: int) -> Iterator[np.ndarray]:
        """``total`` assignments in batches of at most ``batch`` rows.

        Candidates are drawn :meth:`_chunk` rows at a time (at most 4096 rows and
        about 8 MB, whatever ``batch`` is) and handed out as views of at most
        ``batch`` rows, so the concatenated stream does not depend on ``batch``.
        Designs with an acceptance rule give up with a ValueError stating the
        acceptance rate after :math:`\\max(10^5, 10^4 \\times \\text{total})` candidates.
        """
        self._require_bound()
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


def _takes_no_arguments(cls: type[Design]) -> bool:
    """Whether ``cls()`` is a design: every argument of its constructor has a default."""
    return all(p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               for p in inspect.signature(cls).parameters.values())


def resolve_design(design: str | Design, treatment) -> Design:
    """The bound :class:`Design` that ``design`` names, checked against the observed ``treatment``.

    ``design`` is a :class:`Design` value (its open numbers, such as the number
    of treated units, are read off ``treatment``: :meth:`Design.bind`), or the
    name in :data:`DESIGNS` of a design that takes no arguments (``"cre"``),
    shorthand for ``DESIGNS[name]()``. A design with arguments (strata, pairs,
    clusters, a probability, covariates) must be given as a value.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3-9 (the designs).

    Examples
    --------
    >>> from causalattn.experiments.designs import CRE, SRE
    >>> resolve_design(SRE([0, 0, 0, 1, 1]), [1, 0, 0, 1, 0]).count()
    6
    >>> resolve_design("cre", [1, 0, 0, 1]).n_treated
    2
    """
    if isinstance(design, str):
        free = [name for name, cls in DESIGNS.items() if _takes_no_arguments(cls)]
        cls = DESIGNS.lookup(design, hint="or a Design value such as causalattn.designs.SRE(strata)")
        if not _takes_no_arguments(cls):
            parameters = ", ".join(p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
                                   for p in inspect.signature(cls).parameters.values())
            raise ValueError(f"`design`={design!r} needs arguments: pass the value {cls.__name__}({parameters}) "
                             f"(causalattn.designs.{cls.__name__}); names stand only for the designs without "
                             f"arguments, {free}")
        design = cls()
    elif isinstance(design, type) and issubclass(design, Design):
        raise TypeError(f"`design` must be a Design value, got the class {design.__name__}: call it with its "
                        f"arguments, e.g. {design.__name__}(...)")
    elif not isinstance(design, Design):
        raise TypeError(f"`design` must be a Design value (e.g. causalattn.designs.SRE(strata)) or one of "
                        f"{[name for name, cls in DESIGNS.items() if _takes_no_arguments(cls)]}, "
                        f"got {type(design).__name__}")
    return design.bind(treatment)


def subset_assignments(keys: np.ndarray, n_treated: int) -> np.ndarray:
    """``(B, n)`` 0/1 rows treating, in each row, the ``n_treated`` units with the smallest uniform keys."""
    treated = np.argpartition(keys, n_treated - 1, axis=1)[:, :n_treated]  # (B, n_treated)
    out = np.zeros(keys.shape)
    np.put_along_axis(out, treated, 1.0, axis=1)
    return out


def bits(start: int, stop: int, width: int) -> np.ndarray:
    """The binary digits of ``start, ..., stop - 1`` as a ``(stop - start, width)`` float array."""
    codes = np.arange(start, stop, dtype=np.int64)[:, None]
    return ((codes >> np.arange(width)) & 1).astype(float)


def cre_moments(scores: np.ndarray, n_treated: int) -> tuple[float, float]:
    """Mean and variance of :math:`\\sum_i Z_i a_i` when ``n_treated`` of the units are drawn without replacement."""
    n = len(scores)
    centred = scores - scores.mean()
    return n_treated * float(scores.mean()), n_treated * (n - n_treated) / (n * (n - 1)) * float(centred @ centred)


def combination_blocks(n: int, k: int, batch: int) -> Iterator[np.ndarray]:
    """The ``(<= batch, n)`` 0/1 rows of all ``k``-subsets of ``range(n)``, in lexicographic order."""
    subsets = itertools.combinations(range(n), k)
    while True:
        flat = np.fromiter(itertools.chain.from_iterable(itertools.islice(subsets, batch)), dtype=np.intp)
        if not flat.size:
            return
        out = np.zeros((flat.size // k, n))
        np.put_along_axis(out, flat.reshape(-1, k), 1.0, axis=1)
        yield out
