"""How much memory the sizes given on the command line need, estimated before any work.

A size such as ``--seq-len 100000`` is a valid integer, but the attention
patterns of one batch would then hold 10^10 numbers per head and layer: the
run would die allocating them, after the model was loaded or trained for a
while. :func:`causalattn._memory.check_memory` adds up the largest arrays a command allocates
(:func:`study_needs`, :func:`ablate_needs`; each an estimate of the order of
magnitude, float32 numbers of 4 bytes) and refuses the sizes, naming their
flags, when the total exceeds this machine's memory.
"""

from __future__ import annotations

import argparse
from typing import Any

from causalattn._memory import FLOAT, TOKEN, Need

__all__ = ["ablate_needs", "study_needs"]

# Batches that `causalattn study` runs whatever its flags: the held-out set of each logged point of the training
# study (64 sequences), the batches (50) and reference sequences (64) of the evaluation study.
STUDY_BATCHES = (64, 50, 64)


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
    """The largest arrays of ``causalattn ablate`` and ``causalattn heads`` on ``model`` (``seq_len`` tokens)."""
    t, batch = seq_len, args.batch_size
    flags = (("--batch-size", batch), ("--length", args.length))
    return [
        Need("the logits of a batch (tokens x vocabulary per sequence)", flags,
             FLOAT * 3 * batch * t * model.vocab_size),
        Need("the attention patterns of a batch (T x T per head)", flags, FLOAT * 2 * batch * model.n_heads * t * t),
        *([] if args.n_sequences is None else [  # None: the units are prompts, already in memory
            Need("the evaluated sequences", (("--n-sequences", args.n_sequences), ("--length", args.length)),
                 TOKEN * 2 * args.n_sequences * t)]),
    ]
