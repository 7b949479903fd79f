"""The units of a study and what their outcomes need: sequences drawn from a task, or a user's prompts.

:func:`draw_units` turns a task (``sample(n, generator)``) or a
:class:`causalattn.lab.tasks.prompts.PromptSet` into :class:`Units`: a batch of
units with their read positions (``batch.in_context``), the distractors and
counterfactuals of prompts, and the reference sequences that mean and resample
ablation read. Units can be sliced into batches and split into halves
(:meth:`Units.take`) with everything that belongs to them.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, fields
from typing import Any

import torch

from causalattn._validation import check_positive_int
from causalattn.lab.tasks.bigram import Batch, Task
from causalattn.lab.tasks.outcomes import UnitOutcomes
from causalattn.lab.tasks.prompts import PromptSet

__all__ = ["Units", "check_read_positions", "draw_units"]


@dataclass(frozen=True)
class Units:
    """A batch of units (sequences or prompts) with what their outcomes and interventions need.

    Attributes
    ----------
    batch : Batch
        The units' tokens; ``in_context`` marks where their outcomes are read.
    kind : {"sequence", "prompt"}
        What a unit is (the ``unit`` of every effect).
    distractor : torch.Tensor (n,) long or None
        Prompts: the first token of each distractor (for ``logit_diff``).
    counterfactual : torch.Tensor (n, T) long or None
        Prompts: each prompt's counterfactual (the source ``"counterfactual"`` of patching).
    """

    batch: Batch
    kind: str
    distractor: torch.Tensor | None = None
    counterfactual: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.batch)

    def take(self, index: torch.Tensor) -> Units:
        """The units at ``index`` (a 1-d long tensor), in that order."""
        batch = Batch(**{f.name: getattr(self.batch, f.name)[index] for f in fields(self.batch)})
        return dataclasses.replace(self, batch=batch,
                                   distractor=None if self.distractor is None else self.distractor[index],
                                   counterfactual=None if self.counterfactual is None else self.counterfactual[index])

    def slice(self, start: int, stop: int) -> Units:
        """Units ``start:stop``."""
        return self.take(torch.arange(start, min(stop, len(self))))

    def outcomes(self) -> UnitOutcomes:
        """Their outcomes, read at ``batch.in_context``."""
        return UnitOutcomes.of(self.batch, prompts=self.kind == "prompt", distractor=self.distractor)

    @property
    def default_outcome(self) -> str:
        """``in_context_accuracy`` for sequences; ``logit_diff`` for prompts with distractors, else ``accuracy``."""
        if self.kind == "sequence":
            return "in_context_accuracy"
        return "logit_diff" if self.distractor is not None else "accuracy"

    @property
    def reference(self) -> torch.Tensor:
        """Prompts' reference sequences: each unit's is the next unit (``i + 1``, the last one's the first)."""
        return self.batch.inputs.roll(-1, dims=0)

    @property
    def sources(self) -> dict[str, torch.Tensor]:
        """The named source sequences of :class:`causalattn.lab.interventions.base.Reference` (counterfactuals)."""
        return {} if self.counterfactual is None else {"counterfactual": self.counterfactual}


def draw_units(data: Any, n: int | None, seed: int, reference_size: int) -> tuple[Units, torch.Tensor | None]:
    """The units of ``data`` and the reference sequences of mean and resample ablation.

    Parameters
    ----------
    data : Task or PromptSet
        A task: ``n + reference_size`` sequences are drawn in one call with a
        generator seeded by ``seed``, the first ``n`` are the units and the
        others the reference (drawn together, so a task with a finite pool of
        sequences never gives a unit as its own reference). A PromptSet: every
        prompt is a unit (``n`` must be None or its length) and prompt
        ``i``'s reference is prompt ``i + 1`` (as in :func:`causalattn.lab.studies.prompts.prompt_study`).
    n : int or None
        Units to draw from a task.
    seed : int
    reference_size : int

    Returns
    -------
    (Units, torch.Tensor or None)
        The units and the reference tokens (R, T) (None for prompts).
    """
    if isinstance(data, PromptSet):
        if n is not None and n != len(data):
            raise ValueError(f"`n_sequences` must be None with prompts (every prompt is a unit), got {n}")
        return Units(data.batch, "prompt", data.distractor, data.counterfactual), None
    if not isinstance(data, Task):
        raise TypeError(f"`data` must be a task (sample(n, generator) -> Batch) or a PromptSet, "
                        f"got {type(data).__name__}")
    n = check_positive_int("n_sequences", n, minimum=2)
    reference_size = check_positive_int("reference_size", reference_size)
    try:
        drawn = data.sample(n + reference_size, torch.Generator().manual_seed(seed))
    except ValueError as exc:  # a finite pool of sequences: name the arguments that asked for too many
        raise ValueError(f"`n_sequences` + `reference_size` = {n + reference_size}: {exc}") from None
    check_read_positions(drawn.slice(0, n), "n_sequences")
    return Units(drawn.slice(0, n), "sequence"), drawn.inputs[n:]


def check_read_positions(batch: Batch, argument: str, *, warn: bool = False) -> None:
    """Refuse sequences of which fewer than 2 have a read position, before anything is evaluated on them.

    A sequence without one (too short for a trigger or a token to repeat) has
    NaN in-context outcomes and is left out of the paired effects, which need
    at least 2 sequences. ``argument`` names the count of sequences drawn.
    With ``warn`` (a study whose other outcomes, such as ``global_loss``, are
    still defined) a ``UserWarning`` says so instead of a ValueError.

    Examples
    --------
    >>> from causalattn.lab.tasks.bigram import BigramTask, TaskConfig
    >>> batch = BigramTask(TaskConfig(seq_len=2)).sample(50, torch.Generator().manual_seed(0))
    >>> check_read_positions(batch, "n_sequences")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `n_sequences`: only 1 of the 50 sequences drawn have an in-context position (a token whose next ...
    """
    have = int(batch.in_context.any(1).sum())
    if have >= 2:
        return
    message = (f"`{argument}`: only {have} of the {len(batch)} sequences drawn have an in-context position (a token "
               "whose next token can be read from earlier in the sequence); the effects need at least 2: draw more "
               "sequences or make them longer")
    if not warn:  # before: the whole evaluation ran, then every effect was refused for want of pairs
        raise ValueError(message)
    warnings.warn(f"{message}. The in-context outcomes will be refused; the global ones are defined", UserWarning,
                  stacklevel=3)
