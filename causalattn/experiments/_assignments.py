r"""The assignments a Fisher randomization test compares the observed one with: enumerated or drawn, in batches.

Every assignment of the design is enumerated, or ``n_resamples`` are drawn,
``batch`` rows at a time so that memory stays bounded. Test inversion runs many
tests on the same assignments; they are then kept in memory (as two numbers
each for a statistic linear in the outcomes), or enumerated again, or redrawn
from a copy of the generator's starting state.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press, ch. 3 (FRT, Monte Carlo approximation).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from causalattn._validation import check_positive_int
from causalattn.experiments.designs import Design

BATCH_ELEMENTS = 2**22  # default batch: about 32 MB per float64 assignment matrix
CACHE_ELEMENTS = 2**23  # test inversion keeps up to 64 MB of assignments in memory

Blocks = Callable[[], Iterable[tuple[np.ndarray, "np.ndarray | None"]]]


def batch_iv(batch, n_resamples: int, n: int) -> int:
    """``batch`` checked, or by default about ``BATCH_ELEMENTS / n`` rows (at most ``n_resamples``)."""
    if batch is None:
        return max(1, min(n_resamples, BATCH_ELEMENTS // n))
    return check_positive_int("batch", batch)


@dataclass(frozen=True)
class Assignments:
    r"""The assignments to test against, as a function giving blocks of ``(rows, weights)``.

    ``projected``: each row is not an assignment :math:`A` but the pair
    :math:`(A\,b(y), A\,b(z))` of a statistic linear in the outcomes,
    :math:`T(A, y - \tau z) = A\,b(y) - \tau A\,b(z)`, computed once for all tests.
    """

    blocks: Blocks
    projected: bool = False


def assignments(
    design: Design, method: str, n_resamples: int, batch: int, rng: np.random.Generator, *, reuse: bool,
    basis: Callable[[np.ndarray], np.ndarray] | None, outcome: np.ndarray, treatment: np.ndarray,
) -> Assignments:
    """The enumerated (``method="exact"``) or drawn assignments; none for ``"asymptotic"``.

    With ``reuse`` every call of ``blocks`` gives the same ones (test inversion).
    They are then kept in memory as projections on ``basis`` of ``outcome`` and
    ``treatment`` for statistics linear in the outcomes (two numbers per
    assignment), else in full when there are at most ``CACHE_ELEMENTS``
    numbers, else enumerated again or redrawn from a copy of the generator's
    starting state.
    """
    if method == "asymptotic":
        return Assignments(lambda: ())
    if method == "exact":
        size = design.count()
        source = lambda: design.enumerate(batch)  # noqa: E731
    else:
        size = n_resamples

        def source(generator=rng):
            return ((a, None) for a in design.draw_batches(generator, n_resamples, batch))

    if not reuse:
        return Assignments(source)
    if basis is not None:
        columns = np.column_stack([basis(outcome), basis(treatment.astype(float))])  # (n, 2)
        projections = [(block @ columns, weights) for block, weights in source() if len(block)]
        return Assignments(lambda: projections, projected=True)
    if size * design.n <= CACHE_ELEMENTS:
        cached = list(source())
        return Assignments(lambda: cached)
    if method == "exact":
        return Assignments(source)
    start = copy.deepcopy(rng)
    return Assignments(lambda: source(copy.deepcopy(start)))
