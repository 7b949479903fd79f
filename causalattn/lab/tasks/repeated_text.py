r"""Repeated natural text: in-context accuracy on the second occurrence of a passage.

A sequence is the first ``L`` tokens of a passage of text, then the same ``L``
tokens again (after the beginning-of-sequence token, if any):

.. math::

    [\text{bos}],\; w_1, \dots, w_L,\; w_1, \dots, w_L .

As with repeated random tokens (:mod:`causalattn.lab.tasks.repeated`, the same
:class:`causalattn.lab.tasks.bigram.Batch` layout), every token of the second copy
can be copied from the first, and the outcome is the next-token accuracy over
the second copy. Unlike random tokens, natural text is also predictable
without the copy (the first copy's accuracy measures how much), and a token
may occur twice within a passage; the second copy's accuracy is what a model
does with a passage it has just read.

The bundled passages (``causalattn.datasets.load("shakespeare_passages")``)
are 256 speeches of tiny Shakespeare, each at least 200 characters long.

References
----------
Olsson, C. et al. (2022). In-context Learning and Induction Heads. Transformer Circuits Thread (repeated text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from causalattn._validation import check_positive_int
from causalattn.lab.tasks.bigram import Batch
from causalattn.lab.tasks.repeated import repeated_batch

__all__ = ["RepeatedTextConfig", "RepeatedTextTask"]


@dataclass(frozen=True)
class RepeatedTextConfig:
    """Repeated passages of text, as token ids; raises ValueError/TypeError naming the field for impossible values."""

    passages: tuple[tuple[int, ...], ...]  # the first `length` token ids of each passage
    vocab_size: int  # the model's vocabulary (every id below it)
    bos_token: int | None = None  # token put before the first copy, or None for no prefix

    def __post_init__(self) -> None:
        # one token would make every prediction certain (accuracy 1, loss 0) and no logit difference possible
        check_positive_int("vocab_size", self.vocab_size, minimum=2)
        if not isinstance(self.passages, tuple) or len(self.passages) < 2:
            raise ValueError("`passages` must be a tuple of at least 2 passages (tuples of token ids)")
        lengths = {len(p) if isinstance(p, tuple) else -1 for p in self.passages}
        if len(lengths) != 1 or min(lengths) < 2:
            raise ValueError(f"`passages` must be tuples of one length >= 2 (L tokens each), got lengths "
                             f"{sorted(lengths)}")
        if not all(isinstance(t, int) and 0 <= t < self.vocab_size for p in self.passages for t in p):
            raise ValueError(f"`passages` must hold token ids in [0, {self.vocab_size})")
        bos = self.bos_token
        if bos is not None and not (isinstance(bos, int) and not isinstance(bos, bool) and 0 <= bos < self.vocab_size):
            raise ValueError(f"`bos_token` must be None or a token id in [0, {self.vocab_size}), got {bos!r}")

    @property
    def length(self) -> int:
        """``L``, the tokens of each copy."""
        return len(self.passages[0])


class RepeatedTextTask:
    """Sampler of repeated passages (a passage's first ``L`` tokens, twice): build it with :meth:`from_tokenizer`.

    A draw of ``n`` sequences takes ``n`` distinct passages at random; the
    passages are a finite pool, so two separate draws may share passages
    (draw everything you need in one call, as :func:`causalattn.lab.studies.head_map.head_map` does).

    Attributes
    ----------
    config : RepeatedTextConfig
    seq_len : int
        ``T = b + 2L - 1``, positions fed to the model.
    vocab_size : int

    Examples
    --------
    >>> task = RepeatedTextTask(RepeatedTextConfig(passages=((5, 6, 7), (8, 9, 5)), vocab_size=10, bos_token=0))
    >>> task.sample(1, torch.Generator().manual_seed(0)).inputs.tolist()
    [[0, 5, 6, 7, 5, 6]]
    """

    def __init__(self, config: RepeatedTextConfig) -> None:
        if not isinstance(config, RepeatedTextConfig):
            raise TypeError(f"`config` must be a RepeatedTextConfig, got {type(config).__name__}")
        self.config = config
        self.vocab_size = config.vocab_size
        self.seq_len = (0 if config.bos_token is None else 1) + 2 * config.length - 1
        self._tokens = torch.tensor(config.passages, dtype=torch.long)  # (P, L)

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, length: int = 32, *, passages: Sequence[str] | None = None,
                       vocab_size: int | None = None) -> RepeatedTextTask:
        """The task for a HuggingFace tokenizer: each passage's first ``length`` tokens, its bos token first.

        Parameters
        ----------
        tokenizer : a HuggingFace tokenizer
        length : int
            ``L``, tokens of each copy; every passage must have at least that many.
        passages : sequence of str, optional
            The texts (default: the bundled ``shakespeare_passages``).
        vocab_size : int, optional
            The model's vocabulary (default ``len(tokenizer)``).
        """
        length = check_positive_int("length", length, minimum=2)
        if passages is None:
            from causalattn.datasets import load

            passages = load("shakespeare_passages")["text"].tolist()
        if isinstance(passages, str) or not all(isinstance(p, str) for p in passages):
            raise TypeError("`passages` must be a sequence of strings")
        vocab_size = len(tokenizer) if vocab_size is None else check_positive_int("vocab_size", vocab_size)
        unknown = getattr(tokenizer, "unk_token_id", None)
        rows = []
        for i, text in enumerate(passages):
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            if unknown is not None and unknown in ids[:length]:
                raise ValueError(f"`passages`: passage {i} ({text[:40]!r}...) has words the tokenizer does not know "
                                 f"(its unknown token {unknown})")
            if len(ids) < length:
                raise ValueError(f"`length` {length} is more than the {len(ids)} tokens of passage {i} "
                                 f"({text[:40]!r}...); use a smaller length")
            rows.append(tuple(int(t) for t in ids[:length]))
        return cls(RepeatedTextConfig(passages=tuple(rows), vocab_size=vocab_size,
                                      bos_token=getattr(tokenizer, "bos_token_id", None)))

    def __repr__(self) -> str:
        c = self.config
        return f"RepeatedTextTask({len(c.passages)} passages, length={c.length}, bos_token={c.bos_token})"

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` distinct passages at random, each repeated, as a :class:`Batch`."""
        batch_size = check_positive_int("batch_size", batch_size)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"`generator` must be a torch.Generator, got {type(generator).__name__}")
        if batch_size > len(self._tokens):
            raise ValueError(f"`batch_size` {batch_size}: cannot draw that many distinct passages from "
                             f"{len(self._tokens)}")
        rows = torch.randperm(len(self._tokens), generator=generator)[:batch_size]
        return repeated_batch(self._tokens[rows], self.config.bos_token)
