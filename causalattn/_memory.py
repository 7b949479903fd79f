"""How much memory the sizes given to a command or a function need, estimated before any work.

A size such as a sequence length of 100000 is a valid integer, but the
attention patterns of one batch would then hold 10^10 numbers per head and
layer: the run would die allocating them, after a model was loaded or trained
for a while, with an allocator's message naming nothing the user gave.
:func:`check_memory` adds up the largest arrays (each a :class:`Need`: an
estimate of the order of magnitude, float32 numbers of 4 bytes) and refuses
the sizes, naming their flags or arguments, when the total exceeds this
machine's memory. The command line (:mod:`causalattn.cli.memory`) and the lab
(:func:`causalattn.lab.studies.evaluation.evaluation_study`,
:func:`causalattn.lab.models.transformer.build_model`) use it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FLOAT", "TOKEN", "Need", "check_memory", "physical_memory"]

FLOAT = 4  # bytes of a float32
TOKEN = 8  # bytes of a token id (int64)


@dataclass(frozen=True)
class Need:
    """Memory a group of arrays needs (``size`` bytes), and the flags or arguments (with values) setting its size."""

    what: str  # e.g. "the attention patterns (T x T per head, layer and sequence of a batch)"
    flags: tuple[tuple[str, int], ...]  # (("--seq-len", 100000), ("--study-batch-size", 16))
    size: float  # bytes


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say (the check is then skipped)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_memory(needs: Sequence[Need], available: float | None = None) -> None:
    """A ValueError naming the flags of the largest need when all of them exceed ``available`` bytes.

    ``available`` defaults to :func:`physical_memory`; without it nothing is checked.

    Examples
    --------
    >>> check_memory([Need("the patterns", (("--seq-len", 100000),), 8e12)], available=16e9)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `--seq-len` 100000: the run would need about 8e+03 GB of memory, mostly for the patterns ...
    """
    available = physical_memory() if available is None else available
    total = sum(need.size for need in needs)
    if available is None or total <= available:
        return
    worst = max(needs, key=lambda need: need.size)
    given = ", ".join(f"`{flag}` {value}" for flag, value in worst.flags)
    raise ValueError(f"{given}: the run would need about {total / 1e9:.3g} GB of memory, mostly for {worst.what} "
                     f"({worst.size / 1e9:.3g} GB), more than the {available / 1e9:.3g} GB of this machine; lower "
                     + " or ".join(f"`{flag}`" for flag, _ in worst.flags))
