"""How much memory the sizes given on the command line need, estimated before any work.

A size such as ``--seq-len 100000`` is a valid integer, but the attention
patterns of one batch would then hold 10^10 numbers per head and layer: the
run would die allocating them, after the model was loaded or trained for a
while. :func:`check_memory` adds up the largest arrays a command allocates
(:func:`study_needs`, :func:`ablate_needs`; each an estimate of the order of
magnitude, float32 numbers of 4 bytes) and refuses the sizes, naming their
flags, when the total exceeds this machine's memory.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Need", "ablate_needs", "check_memory", "physical_memory", "study_needs"]

FLOAT = 4  # bytes of a float32
TOKEN = 8  # bytes of a token id (int64)
# Batches that `causalattn study` runs whatever its flags: the held-out set of each logged point of the training
# study (64 sequences), the batches (50) and reference sequences (64) of the evaluation study.
STUDY_BATCHES = (64, 50, 64)


@dataclass(frozen=True)
class Need:
    """Memory a group of arrays needs (``size`` bytes), and the flags (with their values) that set their size."""

    what: str  # e.g. "the attention patterns (T x T per head, layer and sequence of a batch)"
    flags: tuple[tuple[str, int], ...]  # (("--seq-len", 100000), ("--study-batch-size", 16))
    size: float  # bytes


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the system does not say (the check is then skipped)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def study_needs(args: argparse.Namespace) -> list[Need]:
    """The largest arrays of ``causalattn study``: patterns, weights with their optimizer state, activations."""
    t, d, layers, heads, batch = args.seq_len, args.d_model, args.n_layers, args.n_heads, args.study_batch_size
    # a training update keeps scores, pattern and their gradient; the other batches keep the pattern of every layer
    rows = max(3 * batch, *(2 * size for size in STUDY_BATCHES))
    return [
        Need("the attention patterns (T x T per head, layer and sequence of a batch)",
             (("--seq-len", t), ("--n-layers", layers), ("--n-heads", heads), ("--study-batch-size", batch)),
             FLOAT * rows * heads * layers * t * t),
        Need("the weights with their gradients and optimizer state",
             (("--d-model", d), ("--n-layers", layers)), FLOAT * 4 * (layers * 4 * d * d + (2 * 65 + t) * d)),
        Need("the activations of a training batch", (("--study-batch-size", batch), ("--seq-len", t),
                                                     ("--d-model", d), ("--n-layers", layers)),
             FLOAT * 8 * batch * t * d * layers),
        Need("the held-out sequences of the evaluation study", (("--n-sequences", args.n_sequences), ("--seq-len", t)),
             TOKEN * 2 * args.n_sequences * t),
    ]


def ablate_needs(args: argparse.Namespace, model: Any, seq_len: int) -> list[Need]:
    """The largest arrays of ``causalattn ablate`` on ``model`` (sequences of ``seq_len`` tokens)."""
    t, batch = seq_len, args.batch_size
    flags = (("--batch-size", batch), ("--length", args.length))
    return [
        Need("the logits of a batch (tokens x vocabulary per sequence)", flags,
             FLOAT * 3 * batch * t * model.vocab_size),
        Need("the attention patterns of a batch (T x T per head)", flags, FLOAT * 2 * batch * model.n_heads * t * t),
        Need("the evaluated sequences", (("--n-sequences", args.n_sequences), ("--length", args.length)),
             TOKEN * 2 * args.n_sequences * t),
    ]


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
