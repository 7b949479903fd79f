r"""Per-unit outcomes from the logits at the positions where they are read, for the head map and attribution.

A unit (a sequence, a prompt) is scored at its *read positions*: the
in-context positions of a sequence (the second copy of a repeated one, the
repeated triggers of the bigram task) or the positions of a prompt that predict
its answer tokens (``batch.in_context`` in both cases). With :math:`c_{it}` the
correctness (the argmax of the logits is the next token) and :math:`\ell_{it}`
the cross-entropy at read position :math:`t \in R_i` of unit :math:`i`,

.. math::

    \text{in\_context\_accuracy}_i = \frac{1}{|R_i|}\sum_{t \in R_i} c_{it}, \qquad
    \text{in\_context\_loss}_i = \frac{1}{|R_i|}\sum_{t \in R_i} \ell_{it},

and for prompts (answer tokens :math:`a_1 .. a_m`, distractor :math:`d`,
:math:`t_i` the last prompt position, the first read position):

.. math::

    \text{accuracy}_i = \prod_{t \in R_i} c_{it}, \qquad
    \text{log\_prob}_i = -\sum_{t \in R_i} \ell_{it}, \qquad
    \text{logit\_diff}_i = \text{logit}_{t_i}(a_1) - \text{logit}_{t_i}(d),

the definitions of :mod:`causalattn.lab.studies.prompts`. Only the logits at the
read positions are needed (``run_from_z(..., where=...)`` computes no others),
and the loss-based outcomes are differentiable, which attribution patching
uses. A unit with no read position has NaN outcomes.

References
----------
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small. arXiv:2211.00593 (logit difference).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from causalattn.lab.tasks.bigram import Batch

__all__ = ["PROMPT_OUTCOMES", "SEQUENCE_OUTCOMES", "UnitOutcomes", "differentiable"]

SEQUENCE_OUTCOMES = ("in_context_accuracy", "in_context_loss")
PROMPT_OUTCOMES = ("accuracy", "log_prob", "logit_diff")


def differentiable(outcome: str) -> str:
    """The outcome that attribution patching differentiates for ``outcome``: accuracies are step functions.

    An accuracy's gradient is zero almost everywhere, so it is attributed
    through the loss of the same tokens (``in_context_loss``, or the
    answer's ``log_prob``); the others are their own.

    Examples
    --------
    >>> differentiable("in_context_accuracy"), differentiable("accuracy"), differentiable("logit_diff")
    ('in_context_loss', 'log_prob', 'logit_diff')
    """
    return {"in_context_accuracy": "in_context_loss", "accuracy": "log_prob"}.get(outcome, outcome)


def _cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    r"""Float64 cross-entropy :math:`\log\sum_v e^{z_v} - z_{\text{target}}` per row of ``logits`` (n, vocab).

    The log-sum-exp runs in the logits' own precision (at least float32) and
    only the two terms are subtracted in float64: the error is about one
    float32 rounding of the log-sum-exp (1e-6 at a loss of 10), the precision
    the float32 logits carry anyway, at a third of the time of casting the
    whole (n, vocab) array to float64 (0.06 s against 0.18 s for 496 rows of
    SmolLM2's 49,152 tokens).
    """
    logits = logits if logits.dtype in (torch.float32, torch.float64) else logits.float()
    picked = logits.gather(1, targets[:, None]).squeeze(1)
    return torch.logsumexp(logits, -1).double() - picked.double()


@dataclass(frozen=True)
class UnitOutcomes:
    """The outcomes of the units of one batch from the logits at their read positions; build it with :meth:`of`.

    Attributes
    ----------
    where : torch.Tensor (B, T) bool
        The read positions (``batch.in_context``).
    targets : torch.Tensor (n,) long
        The next token at each read position, in the row-major order of ``where``.
    unit : torch.Tensor (n,) long
        The unit (row) of each read position.
    first : torch.Tensor (B,) long
        Index (into the n read positions) of each unit's first read position; -1 for a unit without one.
    distractor : torch.Tensor (B,) long or None
        The first token of each prompt's distractor, for ``logit_diff``.
    prompts : bool
        Whether the units are prompts (the outcomes of :data:`PROMPT_OUTCOMES` are added).
    """

    where: torch.Tensor
    targets: torch.Tensor
    unit: torch.Tensor
    first: torch.Tensor
    distractor: torch.Tensor | None
    prompts: bool

    @classmethod
    def of(cls, batch: Batch, *, prompts: bool = False, distractor: torch.Tensor | None = None) -> UnitOutcomes:
        """The outcomes of ``batch``'s units, read at ``batch.in_context``.

        Examples
        --------
        >>> import torch
        >>> from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
        >>> batch = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=10)).sample(
        ...     2, torch.Generator().manual_seed(0))
        >>> outcomes = UnitOutcomes.of(batch)
        >>> outcomes.names, len(outcomes.targets)   # 3 read positions in each of the 2 sequences
        (('in_context_accuracy', 'in_context_loss'), 6)
        >>> logits = torch.nn.functional.one_hot(outcomes.targets, 10).float() * 5   # right everywhere
        >>> outcomes(logits)["in_context_accuracy"].tolist()
        [1.0, 1.0]
        """
        where = batch.in_context
        row, _ = torch.nonzero(where, as_tuple=True)
        counts = where.sum(1)
        starts = torch.cumsum(counts, 0) - counts
        first = torch.where(counts > 0, starts, torch.full_like(starts, -1))
        if distractor is not None and (not prompts or distractor.shape != (len(batch),)):
            raise ValueError(f"`distractor` must be one token per prompt ({len(batch)},) with prompts=True")
        return cls(where, batch.targets[where], row, first, distractor, prompts)

    @property
    def names(self) -> tuple[str, ...]:
        """The outcomes :meth:`__call__` returns."""
        if not self.prompts:
            return SEQUENCE_OUTCOMES
        return (*PROMPT_OUTCOMES[: 3 if self.distractor is not None else 2], *SEQUENCE_OUTCOMES)

    def __len__(self) -> int:
        return self.where.shape[0]

    def __call__(self, logits: torch.Tensor, names: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
        """Outcome name -> (B,) float64 tensor, from ``logits`` (n, vocab) at the read positions (differentiable).

        ``names`` restricts the outcomes computed (default :attr:`names`).
        """
        if logits.dim() != 2 or logits.shape[0] != len(self.targets):
            raise ValueError(f"`logits` must have shape ({len(self.targets)}, vocab): the read positions, "
                             f"got {tuple(logits.shape)}")
        names = self.names if names is None else names
        device = logits.device
        targets, unit, first = self.targets.to(device), self.unit.to(device), self.first.to(device)
        b = len(self)
        counts = torch.bincount(unit, minlength=b).double()
        out: dict[str, torch.Tensor] = {}
        needs_loss = {"in_context_loss", "log_prob"} & set(names)
        loss = _cross_entropy(logits, targets) if needs_loss else None
        if {"in_context_accuracy", "accuracy"} & set(names):
            with torch.no_grad():
                correct = (logits.argmax(-1) == targets).double()
                right = torch.zeros(b, dtype=torch.float64, device=device).index_add_(0, unit, correct)
        for name in names:
            if name == "in_context_accuracy":
                out[name] = right / counts
            elif name == "in_context_loss":
                out[name] = torch.zeros(b, dtype=loss.dtype, device=device).index_add(0, unit, loss) / counts
            elif name == "accuracy":
                out[name] = torch.where(counts > 0, (right == counts).double(), torch.nan)
            elif name == "log_prob":
                total = -torch.zeros(b, dtype=loss.dtype, device=device).index_add(0, unit, loss)
                out[name] = torch.where(counts > 0, total, torch.nan)
            elif name == "logit_diff":
                if self.distractor is None:
                    raise ValueError("`names`: 'logit_diff' needs prompts with a distractor")
                at = logits[first.clamp_min(0)].double()  # (B, vocab): each prompt's last position
                rows = torch.arange(b, device=device)
                diff = at[rows, targets[first.clamp_min(0)]] - at[rows, self.distractor.to(device)]
                out[name] = torch.where(first >= 0, diff, torch.nan)
            else:
                raise ValueError(f"`names`: unknown outcome {name!r}; these units have {list(self.names)}")
        return {name: out[name].cpu() for name in names}
