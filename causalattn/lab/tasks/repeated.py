r"""Repeated random tokens, the standard induction test for real language models.

A sequence is ``L`` distinct random tokens, then the same ``L`` tokens again
(optionally after a beginning-of-sequence token):

.. math::

    [\text{bos}],\; r_1, \dots, r_L,\; r_1, \dots, r_L .

Nothing predicts the first copy; in the second copy every next token is
predictable by copying from the first (the job of an induction head: attend to
the token after the previous occurrence of the current token, and copy it).
Units are sequences; the outcomes of a sequence are the next-token accuracy
and loss over its *in-context* positions, the second copy. The tokens are
drawn uniformly without replacement, so each token of the second copy has
exactly one earlier occurrence.

The batch is a :class:`causalattn.lab.tasks.bigram.Batch` written in the bigram task's
terms: every token of a sequence is a "trigger" whose "output" is the token
after it, so ``in_context`` marks the second copy (a token seen for the
second time), ``trigger_count`` is 1 in the first copy and 2 in the second,
and the "global" positions (``non_trigger``) are those of the first copy, where
the next token is not predictable.

References
----------
Olsson, C. et al. (2022). In-context Learning and Induction Heads. Transformer Circuits Thread.
Elhage, N. et al. (2021). A Mathematical Framework for Transformer Circuits. Transformer Circuits Thread.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any

import torch

from causalattn._validation import check_positive_int
from causalattn.lab.tasks.bigram import Batch

__all__ = ["RepeatedTokensConfig", "RepeatedTokensTask", "repeated_batch"]


@dataclass(frozen=True)
class RepeatedTokensConfig:
    """Repeated random tokens; raises ValueError/TypeError naming the field for impossible values."""

    length: int = 32  # L, random tokens in each copy
    vocab_size: int = 49152  # tokens are drawn from 0 .. vocab_size - 1 (the model's vocabulary)
    excluded: tuple[int, ...] = ()  # token ids never drawn (special tokens: bos, eos, padding ...)
    bos_token: int | None = None  # token put before the first copy, or None for no prefix

    def __post_init__(self) -> None:
        check_positive_int("length", self.length, minimum=2)
        # one token would make every prediction certain (accuracy 1, loss 0) and no logit difference possible
        check_positive_int("vocab_size", self.vocab_size, minimum=2)
        if not isinstance(self.excluded, tuple) or not all(_is_token(t, self.vocab_size) for t in self.excluded):
            raise TypeError(f"`excluded` must be a tuple of token ids in [0, {self.vocab_size}), got {self.excluded!r}")
        if self.bos_token is not None and not _is_token(self.bos_token, self.vocab_size):
            raise ValueError(f"`bos_token` must be None or a token id in [0, {self.vocab_size}), "
                             f"got {self.bos_token!r}")
        allowed = self.vocab_size - len(set(self.excluded))
        if allowed < self.length:
            raise ValueError(f"`length` {self.length} is more than the {allowed} tokens that may be drawn "
                             "(vocab_size minus excluded): the L tokens of a copy are distinct")


def _is_token(value: Any, vocab_size: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, numbers.Integral) and 0 <= value < vocab_size


class RepeatedTokensTask:
    r"""Sampler of repeated random token sequences (the induction test of Olsson et al., 2022).

    Each sequence holds ``T + 1 = b + 2L`` tokens (``b = 1`` with a ``bos_token``,
    else 0); position ``t`` of ``inputs`` predicts ``targets[:, t]``. The
    in-context positions are the second copy: ``t = b + L, ..., b + 2L - 2``
    (``L - 1`` tokens per sequence, each predicting :math:`r_{j+1}` after
    :math:`r_j`).

    Parameters
    ----------
    config : RepeatedTokensConfig

    Attributes
    ----------
    seq_len : int
        ``T``, positions fed to the model.
    vocab_size : int
    start : int
        Position of :math:`r_1` in the first copy (``b``).
    allowed : torch.Tensor
        The token ids that may be drawn.

    Examples
    --------
    >>> import torch
    >>> task = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=100, bos_token=0, excluded=(0,)))
    >>> batch = task.sample(2, torch.Generator().manual_seed(0))
    >>> batch.inputs.shape, task.seq_len
    (torch.Size([2, 8]), 8)
    >>> bool((batch.inputs[:, 1:4] == batch.inputs[:, 5:8]).all())  # r_1 r_2 r_3 twice (inputs end before r_4)
    True
    >>> batch.in_context[0].int().tolist()  # the second copy, whose next token is predictable
    [0, 0, 0, 0, 0, 1, 1, 1]
    """

    def __init__(self, config: RepeatedTokensConfig = RepeatedTokensConfig()) -> None:
        if not isinstance(config, RepeatedTokensConfig):
            raise TypeError(f"`config` must be a RepeatedTokensConfig, got {type(config).__name__}")
        self.config = config
        self.vocab_size = config.vocab_size
        self.start = 0 if config.bos_token is None else 1
        self.seq_len = self.start + 2 * config.length - 1
        keep = torch.ones(config.vocab_size, dtype=torch.bool)
        keep[list(config.excluded)] = False
        self.allowed = torch.nonzero(keep).squeeze(1)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, length: int = 32, *, vocab_size: int | None = None) -> RepeatedTokensTask:
        """The task for a HuggingFace tokenizer: its bos token first, none of its special tokens drawn.

        ``vocab_size`` (default ``len(tokenizer)``) is the model's vocabulary when
        it is larger than the tokenizer's (padded embeddings): ids the tokenizer
        does not know are then never drawn.
        """
        n_known = len(tokenizer)
        vocab_size = n_known if vocab_size is None else check_positive_int("vocab_size", vocab_size)
        if vocab_size < n_known:
            raise ValueError(f"`vocab_size` {vocab_size} is smaller than the tokenizer's {n_known} tokens")
        special = {int(t) for t in tokenizer.all_special_ids if t is not None}
        excluded = tuple(sorted(special | set(range(n_known, vocab_size))))
        return cls(RepeatedTokensConfig(length=length, vocab_size=vocab_size, excluded=excluded,
                                        bos_token=tokenizer.bos_token_id))

    def __repr__(self) -> str:
        c = self.config
        return (f"RepeatedTokensTask(length={c.length}, vocab_size={c.vocab_size}, bos_token={c.bos_token}, "
                f"{len(c.excluded)} excluded)")

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` sequences as a :class:`Batch` (the same generator state gives the same batch).

        Parameters
        ----------
        batch_size : int
        generator : torch.Generator
            Source of randomness (CPU).
        """
        batch_size = check_positive_int("batch_size", batch_size)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"`generator` must be a torch.Generator, got {type(generator).__name__}")
        # L distinct allowed tokens per sequence: the indices of the L smallest of n uniform draws
        draws = torch.rand(batch_size, len(self.allowed), generator=generator)
        first = self.allowed[torch.topk(draws, self.config.length, dim=1, largest=False).indices]  # (B, L)
        return repeated_batch(first, self.config.bos_token)


def repeated_batch(first: torch.Tensor, bos_token: int | None) -> Batch:
    """The :class:`Batch` of sequences ``[bos] first first``: ``first`` (B, L) long, each row repeated once.

    ``in_context`` marks the second copy (from its second token: position ``t``
    predicts token ``t + 1``), ``non_trigger`` the first copy, ``trigger_count`` is
    1 in the first copy and 2 in the second (the module docstring).

    Examples
    --------
    >>> repeated_batch(torch.tensor([[7, 8, 9]]), bos_token=0).inputs.tolist()
    [[0, 7, 8, 9, 7, 8]]
    """
    batch_size, length = first.shape
    start = 0 if bos_token is None else 1
    parts = [first, first]
    if start:
        parts.insert(0, torch.full((batch_size, 1), bos_token, dtype=torch.long))
    tokens = torch.cat(parts, dim=1)  # (B, b + 2L)
    count = torch.zeros(start + 2 * length - 1, dtype=torch.long)
    count[start:start + length] = 1
    count[start + length:] = 2
    count = count.expand(batch_size, -1)
    return Batch(
        inputs=tokens[:, :-1].contiguous(),
        targets=tokens[:, 1:].contiguous(),
        in_context=count == 2,
        non_trigger=count == 1,
        trigger_count=count.contiguous(),
        triggers=first,
        outputs=first.roll(-1, dims=1),  # r_{j+1} follows r_j; r_1 follows r_L
    )
