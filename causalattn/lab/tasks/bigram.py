"""The bigram task with triggers of Bietti et al. (2023), section 3, generated in batches.

Each sequence has ``K`` trigger tokens ``q_k`` and one output token ``o_k`` per
trigger. The first token is drawn from the unigram distribution ``pi_u``;
afterwards every occurrence of ``q_k`` is followed by ``o_k``, and every other
token by a draw from the bigram conditional ``pi_b(. | previous)``. The bigram
statistics are those of the 65 characters of tiny Shakespeare
(:func:`causalattn.datasets.shakespeare_bigram_model`).

Generation is vectorized over the batch: one loop over the ``T + 1`` positions,
each step a table look-up and an inverse-CDF draw for all sequences at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol, runtime_checkable

import torch

from causalattn._validation import check_choice, check_positive_int
from causalattn.datasets import shakespeare_bigram_model

__all__ = ["VOCAB_SIZE", "TaskConfig", "Batch", "BigramTask", "Task"]

VOCAB_SIZE = 65  # characters of tiny Shakespeare, the vocabulary of the task
OUTPUT_DISTS = ("uniform", "bigram")


@dataclass(frozen=True)
class TaskConfig:
    """The bigram task with triggers (Bietti et al., 2023, section 3).

    Raises ValueError naming the field for impossible values.
    """

    n_triggers: int = 5  # K, triggers per sequence (fewer than the vocabulary size 65)
    seq_len: int = 256  # T, tokens fed to the model (the generator draws T + 1)
    random_triggers: bool = False  # False: the K most frequent tokens; True: drawn per sequence from pi_u
    output_dist: str = "uniform"  # law of o_k given q_k: "uniform" over the vocabulary or "bigram" pi_b(. | q_k)

    def __post_init__(self) -> None:
        check_positive_int("n_triggers", self.n_triggers)
        if self.n_triggers >= VOCAB_SIZE:  # before: 65 was accepted, and every global metric was NaN
            raise ValueError(f"`n_triggers` must be less than the vocabulary size {VOCAB_SIZE} (with every token a "
                             f"trigger no token follows the bigram model: no global position), got {self.n_triggers}")
        check_positive_int("seq_len", self.seq_len, minimum=2)
        if not isinstance(self.random_triggers, bool):
            raise TypeError(f"`random_triggers` must be a bool, got {type(self.random_triggers).__name__}")
        check_choice("output_dist", self.output_dist, OUTPUT_DISTS)


@dataclass(frozen=True)
class Batch:
    """A batch of sequences from :class:`BigramTask`; every field is a tensor.

    Position ``t`` of ``inputs`` predicts ``targets[:, t]``, the next token.
    """

    inputs: torch.Tensor  # (B, T) long, z_1 .. z_T
    targets: torch.Tensor  # (B, T) long, z_2 .. z_{T+1}
    in_context: torch.Tensor  # (B, T) bool, z_t is a trigger seen for the 2nd+ time: target predictable in context
    non_trigger: torch.Tensor  # (B, T) bool, "global" positions: z_t is not a trigger (repeated tokens: 1st copy)
    trigger_count: torch.Tensor  # (B, T) long, occurrences of z_t as a trigger up to and including t (0 if none)
    triggers: torch.Tensor  # (B, K) long, q_1 .. q_K of each sequence
    outputs: torch.Tensor  # (B, K) long, o_1 .. o_K of each sequence

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def slice(self, start: int, stop: int) -> Batch:
        """Sequences ``start:stop`` of every field, as a new Batch."""
        return Batch(**{f.name: getattr(self, f.name)[start:stop] for f in fields(self)})


@runtime_checkable
class Task(Protocol):
    """What a study asks of a task: ``sample(n, generator) -> Batch``, ``seq_len``, ``vocab_size``, ``config``.

    ``config`` is a dataclass recorded in a study folder's fingerprint.
    :class:`BigramTask` and :class:`causalattn.lab.tasks.repeated.RepeatedTokensTask` are tasks.
    """

    config: Any
    seq_len: int
    vocab_size: int

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch: ...


class BigramTask:
    r"""Sampler of the bigram task with triggers.

    For each sequence: triggers :math:`q_1, \dots, q_K` (fixed: the :math:`K`
    most frequent tokens; random: drawn from :math:`\pi_u` without replacement),
    outputs :math:`o_k \sim \pi_o(\cdot \mid q_k)` (uniform or :math:`\pi_b`),
    then

    .. math::

        z_1 \sim \pi_u, \qquad
        z_{t+1} = \begin{cases} o_k & \text{if } z_t = q_k, \\
                                \sim \pi_b(\cdot \mid z_t) & \text{otherwise.} \end{cases}

    As in the authors' code, outputs are drawn from the whole vocabulary, so an
    output may equal its trigger, another trigger or another output.

    Parameters
    ----------
    config : TaskConfig
        The task.

    Attributes
    ----------
    pi_u : torch.Tensor, shape (65,)
        Unigram distribution.
    pi_b : torch.Tensor, shape (65, 65)
        Bigram conditionals, ``pi_b[i, j] = P(next = j | current = i)``.
    vocab_size : int
    chars : list of str
        Token ``i`` is the character ``chars[i]``.
    fixed_triggers : torch.Tensor of shape (K,) or None
        The fixed triggers, most frequent first; None for random triggers.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, section 3.

    Examples
    --------
    >>> import torch
    >>> task = BigramTask(TaskConfig(n_triggers=3, seq_len=16))
    >>> batch = task.sample(4, torch.Generator().manual_seed(0))
    >>> tuple(batch.inputs.shape), tuple(batch.triggers.shape)
    ((4, 16), (4, 3))
    """

    def __init__(self, config: TaskConfig = TaskConfig()) -> None:
        if not isinstance(config, TaskConfig):
            raise TypeError(f"`config` must be a TaskConfig, got {type(config).__name__}")
        chars, pi_u, pi_b = shakespeare_bigram_model()
        self.config = config
        self.chars = chars
        self.pi_u = torch.as_tensor(pi_u, dtype=torch.float32)
        self.pi_b = torch.as_tensor(pi_b, dtype=torch.float32)
        self.vocab_size = len(chars)
        # Inverse-CDF tables (first index whose CDF exceeds u ~ U[0, 1), so zero-probability
        # tokens are never drawn); the last column is set to exactly 1 against rounding.
        self._cdf_u = self.pi_u.cumsum(0)
        self._cdf_u[-1] = 1.0
        self._cdf_b = self.pi_b.cumsum(1)
        self._cdf_b[:, -1] = 1.0
        most_frequent = torch.argsort(self.pi_u, descending=True, stable=True)
        self.fixed_triggers = None if config.random_triggers else most_frequent[: config.n_triggers]

    def __repr__(self) -> str:
        return f"BigramTask({self.config})"

    @property
    def seq_len(self) -> int:
        """``T``, positions fed to the model."""
        return self.config.seq_len

    def decode(self, tokens: torch.Tensor) -> str:
        """The characters of a 1-d tensor of tokens."""
        return "".join(self.chars[i] for i in tokens.tolist())

    def _triggers(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """(B, K) triggers: fixed, or K draws from pi_u without replacement (Gumbel top-k)."""
        k = self.config.n_triggers
        if self.fixed_triggers is not None:
            return self.fixed_triggers.expand(batch_size, k)
        uniform = torch.rand(batch_size, self.vocab_size, generator=generator)
        gumbel = -torch.log(-torch.log(uniform.clamp_min(torch.finfo(torch.float32).tiny)))
        return torch.topk(self.pi_u.log() + gumbel, k, dim=1).indices

    def _outputs(self, triggers: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(B, K) outputs, uniform over the vocabulary or pi_b(. | trigger)."""
        if self.config.output_dist == "uniform":
            return torch.randint(self.vocab_size, triggers.shape, generator=generator)
        rows = self.pi_b[triggers.reshape(-1)]  # (B * K, V)
        return torch.multinomial(rows, 1, generator=generator).view(triggers.shape)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` fresh sequences of ``T + 1`` tokens as a :class:`Batch`.

        Parameters
        ----------
        batch_size : int
            Number of sequences.
        generator : torch.Generator
            Source of randomness (CPU); the same seed gives the same batch.
        """
        batch_size = check_positive_int("batch_size", batch_size)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"`generator` must be a torch.Generator, got {type(generator).__name__}")
        n_tokens = self.config.seq_len + 1
        triggers = self._triggers(batch_size, generator)
        outputs = self._outputs(triggers, generator)
        # successor[b, v] = output of token v in sequence b if v is a trigger, else -1
        successor = torch.full((batch_size, self.vocab_size), -1, dtype=torch.long)
        successor.scatter_(1, triggers, outputs)
        uniform = torch.rand(n_tokens, batch_size, 1, generator=generator)

        steps = torch.empty(n_tokens, batch_size, dtype=torch.long)  # (T + 1, B): each step writes a row
        steps[0] = torch.searchsorted(self._cdf_u, uniform[0], right=True).squeeze(1)
        for t in range(1, n_tokens):
            previous = steps[t - 1]
            bigram = torch.searchsorted(self._cdf_b[previous], uniform[t], right=True).squeeze(1)
            forced = successor.gather(1, previous.unsqueeze(1)).squeeze(1)
            steps[t] = torch.where(forced >= 0, forced, bigram)
        tokens = steps.T  # (B, T + 1)

        inputs = tokens[:, :-1].contiguous()
        is_trigger = inputs.unsqueeze(2) == triggers.unsqueeze(1)  # (B, T, K); triggers are distinct
        trigger_count = (is_trigger.cumsum(1) * is_trigger).sum(2)  # (B, T)
        return Batch(
            inputs=inputs,
            targets=tokens[:, 1:].contiguous(),
            in_context=trigger_count >= 2,
            non_trigger=trigger_count == 0,
            trigger_count=trigger_count,
            triggers=triggers.contiguous(),
            outputs=outputs,
        )
