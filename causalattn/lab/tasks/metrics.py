"""Per-token correctness and loss of a lab model, and held-out evaluation on fresh sequences."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from causalattn._validation import check_positive_int
from causalattn.lab.tasks.bigram import Batch, BigramTask

__all__ = ["TokenMetrics", "check_held_out", "evaluate", "token_metrics"]


@dataclass(frozen=True)
class TokenMetrics:
    """Per-token outcomes of one batch."""

    correct: torch.Tensor  # (B, T) bool, argmax of the logits equals the target
    loss: torch.Tensor  # (B, T) float, cross-entropy -log p(target)


def token_metrics(logits: torch.Tensor, batch: Batch) -> TokenMetrics:
    """Correctness (greedy prediction equals the next token) and cross-entropy at every position.

    Parameters
    ----------
    logits : torch.Tensor, shape (B, T, V)
    batch : Batch
        The batch the logits were computed on.
    """
    if logits.dim() != 3 or logits.shape[:2] != batch.targets.shape:
        raise ValueError(
            f"`logits` must have shape (B, T, V) with (B, T) = {tuple(batch.targets.shape)}, got {tuple(logits.shape)}"
        )
    logits = logits.detach().float().to(batch.targets.device)  # a model on another device returns its logits there
    loss = F.cross_entropy(logits.transpose(1, 2), batch.targets, reduction="none")  # (B, T)
    return TokenMetrics(correct=logits.argmax(-1) == batch.targets, loss=loss)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    task: BigramTask,
    n_sequences: int = 1024,
    *,
    generator: torch.Generator | None = None,
    seed: int = 0,
    batch_size: int = 256,
) -> dict[str, float]:
    r"""Accuracy and loss of ``model`` on ``n_sequences`` fresh held-out sequences of ``task``.

    In-context positions (a trigger seen for the 2nd+ time, whose next token is
    its output) and global positions (non-trigger tokens) are pooled over all
    sequences: ``in_context_accuracy`` is the fraction of in-context tokens
    predicted correctly by the argmax of the logits, ``in_context_loss`` their
    mean cross-entropy; likewise ``global_accuracy``, ``global_loss``. The count
    of in-context tokens is ``n_in_context``.

    Parameters
    ----------
    model : nn.Module
        A lab model (``model(inputs) -> logits``).
    task : BigramTask
    n_sequences : int
        Held-out sequences to draw.
    generator : torch.Generator, optional
        Source of the sequences; if None, a generator seeded with ``seed``.
    seed : int
        Seed used when ``generator`` is None.
    batch_size : int
        Sequences drawn and evaluated per forward pass (bounds memory). The draws
        depend on it: the same ``seed`` and ``batch_size`` give the same sequences.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, section 4.
    """
    sums = torch.zeros(6, dtype=torch.float64)  # ic correct, ic loss, ic count, global correct, loss, count
    for batch in _held_out(task, n_sequences, generator, seed, batch_size):
        metrics = token_metrics(model(batch.inputs), batch)
        for offset, mask in ((0, batch.in_context), (3, batch.non_trigger)):
            sums[offset] += metrics.correct[mask].sum()
            sums[offset + 1] += metrics.loss[mask].double().sum()
            sums[offset + 2] += mask.sum()
    ic_correct, ic_loss, n_ic, gl_correct, gl_loss, n_gl = sums.tolist()
    nan = float("nan")
    return {
        "in_context_accuracy": ic_correct / n_ic if n_ic else nan,
        "in_context_loss": ic_loss / n_ic if n_ic else nan,
        "global_accuracy": gl_correct / n_gl if n_gl else nan,
        "global_loss": gl_loss / n_gl if n_gl else nan,
        "n_in_context": int(n_ic),
    }


def _held_out(task: BigramTask, n_sequences: int, generator: torch.Generator | None, seed: int,
              batch_size: int) -> Iterator[Batch]:
    """The held-out sequences of :func:`evaluate`, in its batches."""
    n_sequences = check_positive_int("n_sequences", n_sequences)
    batch_size = check_positive_int("batch_size", batch_size)
    if generator is None:
        generator = torch.Generator().manual_seed(seed)
    for start in range(0, n_sequences, batch_size):
        yield task.sample(min(batch_size, n_sequences - start), generator)


def check_held_out(task: BigramTask, n_sequences: int, seed: int) -> None:
    """Refuse a held-out set of :func:`evaluate` (``n_sequences``, ``seed``) without in-context or global positions.

    Without them its in-context (or global) accuracy and loss are NaN at every
    logged iteration: sequences too short for their triggers to repeat, or too
    few of them. The message says which; callers name their arguments.

    Examples
    --------
    >>> from causalattn.lab.tasks.bigram import TaskConfig
    >>> check_held_out(BigramTask(TaskConfig(seq_len=3)), 8, seed=0)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: the held-out set (8 sequences of 3 tokens, 5 triggers) has no in-context position (a trigger ...
    """
    counts = torch.zeros(2, dtype=torch.long)
    for batch in _held_out(task, n_sequences, None, seed, 256):
        counts += torch.stack([batch.in_context.sum(), batch.non_trigger.sum()])
    for count, what in zip(counts.tolist(), ("in-context position (a trigger seen a second time)",
                                             "global position (a token that is not a trigger)"), strict=True):
        if count == 0:
            raise ValueError(f"the held-out set ({n_sequences} sequences of {task.seq_len} tokens, "
                             f"{task.config.n_triggers} triggers) has no {what}: its accuracy and loss there would be "
                             "NaN at every logged iteration; use longer sequences or more held-out sequences")
