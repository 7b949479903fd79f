"""How to train: the recipe (:class:`TrainConfig`) and the freezing schedules (:class:`Freeze`).

The recipe follows Bietti et al. (2023, section 5): fresh batches from the
task at every iteration, the cross-entropy of the next token (on all
positions or on the in-context positions only), a fixed learning rate with
weight decay. A freezing schedule keeps named parameters at their initial
value for the first iterations or throughout (the paper's Figure 3);
:func:`resolve_freeze` finds the parameter each schedule acts on.

References
----------
A. Bietti, V. Cabannes, D. Bouchacourt, H. Jegou and L. Bottou, "Birth of a
Transformer: A Memory Viewpoint", NeurIPS 2023, arXiv:2306.00802.

K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
2024, https://kellerjordan.github.io/posts/muon/.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from causalattn._validation import check_choice, check_positive_int, check_real, check_seed

__all__ = ["CHECKPOINT_EVERY", "LOG_EVERY", "LOSS_ON", "OPTIMIZERS", "Freeze", "TrainConfig", "check_schedule",
           "check_within_run", "resolve_freeze"]

OPTIMIZERS = ("muon", "adam", "sgd")
LOSS_ON = ("all", "in_context")
LOG_EVERY = 20  # the default logging interval, when the run is at least that long
CHECKPOINT_EVERY = 100  # the default checkpoint interval, when the run is at least that long


@dataclass(frozen=True)
class Freeze:
    """Keep a parameter at its current value for the first iterations, or throughout.

    A frozen parameter gets no update at all while frozen: no gradient step,
    no momentum and no weight decay (it is left out of the optimizer step, as
    a parameter with ``requires_grad=False``). Its momentum starts from zero
    when it is released.

    Parameters
    ----------
    parameter : str
        A paper alias (``"W1_K"``, ``"W2_K"``, ``"W2_O"``, ``"W_F"``, or
        ``"W{l}_Q/K/V/O"`` for the vanilla model) or a full
        ``named_parameters()`` name, resolved by ``model.parameter_by_name``.
    until : int or None
        Frozen during iterations ``0 .. until - 1`` (the first ``until``
        updates) and trained from iteration ``until`` on; ``None`` freezes it
        throughout.

    Examples
    --------
    >>> Freeze("W2_O", until=300).label
    'freeze:W2_O:until300'
    >>> Freeze("W1_K").label
    'freeze:W1_K:always'
    """

    parameter: str
    until: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.parameter, str) or not self.parameter:
            raise ValueError(f"`parameter` must be a non-empty parameter name, got {self.parameter!r}")
        if self.until is not None:
            check_positive_int("until", self.until)

    @property
    def label(self) -> str:
        """Stable name of the schedule, e.g. ``freeze:W2_O:until300``."""
        return f"freeze:{self.parameter}:" + ("always" if self.until is None else f"until{self.until}")

    def frozen_at(self, iteration: int) -> bool:
        """Whether the update of iteration ``iteration`` (0-based) leaves the parameter alone."""
        return self.until is None or iteration < self.until


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer, batches, loss, logging, freezing and seeds.

    The defaults are the fastest recipe found for the default task (fixed
    triggers, K = 5, T = 256) and the default simplified model (d = 256):
    Muon (Jordan et al. 2024; :class:`causalattn.lab.training.muon.Float32Muon`, the
    algorithm of ``torch.optim.Muon`` with Nesterov momentum 0.95 and the
    step scaled to AdamW's update size, Liu et al. 2025, orthogonalizing in
    float32 rather than bfloat16) at a fixed learning rate on the
    in-context loss (the authors' default loss), batches of 32 fresh
    sequences. Muon orthogonalizes each matrix's update, so every direction of
    a memory moves at the same rate: the associations with small gradients,
    here the previous-token memory ``W1_K`` at late positions (whose
    attention first spreads over all earlier positions), learn as fast as the
    others. Held-out in-context accuracy passes 0.9 after about 150
    iterations and 0.99 after about 250 (AdamW with the same learning rate:
    150 and 650; ``benchmarks/bench_training.py``); ``n_iters = 400`` leaves a margin. Under ``"muon"`` the
    embedding tables and vectors of the vanilla model are trained by AdamW.
    ``optimizer="adam"`` (AdamW, betas (0.9, 0.95)) was the default before;
    none of these AdamW recipes reached 0.99 sooner than 600 iterations: a
    cosine decay (stalls at 0.985), ``beta2 = 0.99``, a warmup, batches of
    16, a 3x or 10x learning rate on ``W1_K`` (0.96 and 0.92 after 700
    iterations). The paper's recipe is ``optimizer="sgd"`` with momentum
    0.9 (``lr`` about 5 for this parametrization, which has no ``1/sqrt(d)``
    in the attention scores); it is slower in the tail (0.97 at 300
    iterations). With the in-context loss an
    update computes the last layer at the in-context positions only
    (:meth:`causalattn.lab.models.transformer.Transformer.logits_at`), about half the
    cost of the full forward and backward pass. Timings:
    ``benchmarks/bench_training.py``.

    ``log_every`` left out is ``min(20, n_iters)``, ``checkpoint_every``
    ``min(100, n_iters)``. Every option that names an iteration is refused
    beyond ``n_iters`` (:func:`check_within_run`): a ``log_every`` (a history
    of the first and last iterations only), a ``checkpoint_every`` (a
    checkpoint at the end only) and a freezing schedule ending after the run
    (:func:`check_schedule`). The resolved values are fields like the others, so
    ``dataclasses.replace(TrainConfig(n_iters=10), n_iters=400)`` logs and checkpoints every 10 updates.
    """

    optimizer: str = "muon"  # "muon" (AdamW for tables and vectors) | "adam" (AdamW, betas (0.9, 0.95)) | "sgd"
    lr: float = 0.02  # fixed learning rate
    momentum: float = 0.9  # SGD momentum (adam and muon use their own: betas (0.9, 0.95), Nesterov 0.95)
    weight_decay: float = 1e-4  # L2 penalty for sgd, decoupled decay for adam and muon
    batch_size: int = 32  # fresh sequences per iteration
    n_iters: int = 400  # number of updates
    loss_on: str = "in_context"  # "in_context" positions only (2nd+ occurrence of a trigger) | "all" positions
    log_every: int | None = None  # evaluate on the held-out set every this many updates: default min(20, n_iters)
    eval_sequences: int = 256  # size of the held-out set used at every logged point
    freeze: tuple[Freeze, ...] = ()  # freezing schedules by parameter name
    data_seed: int = 0  # seed of the stream of training batches (the init is ModelConfig.init_seed)
    eval_seed: int = 1_000_003  # seed of the held-out set, the same for every run unless changed
    checkpoint_every: int | None = None  # with a checkpoint_dir: save every this many updates, and at the end
    # (checkpoints do not change the results); default min(100, n_iters)

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("loss_on", self.loss_on, LOSS_ON)
        for name in ("lr", "momentum", "weight_decay"):
            check_real(name, getattr(self, name))
        if self.lr <= 0:
            raise ValueError(f"`lr` must be positive, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"`weight_decay` must be non-negative, got {self.weight_decay}")
        check_positive_int("n_iters", self.n_iters)
        for name, default in (("log_every", LOG_EVERY), ("checkpoint_every", CHECKPOINT_EVERY)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, min(default, self.n_iters))
        for name in ("batch_size", "log_every", "eval_sequences", "checkpoint_every"):
            check_positive_int(name, getattr(self, name))
        # before: accepted; the history held iterations 0 and n_iters only, the one checkpoint was the last
        check_within_run("log_every", self.log_every, self.n_iters, "the run would be logged at its start and end "
                         f"only; lower it (left out it is min({LOG_EVERY}, n_iters))")
        check_within_run("checkpoint_every", self.checkpoint_every, self.n_iters, "the run would be checkpointed at "
                         f"its end only; lower it (left out it is min({CHECKPOINT_EVERY}, n_iters))")
        for name in ("data_seed", "eval_seed"):
            check_seed(name, getattr(self, name))
        freeze = tuple(self.freeze) if isinstance(self.freeze, (list, tuple)) else None
        if freeze is None or not all(isinstance(f, Freeze) for f in freeze):
            raise ValueError(f"`freeze` must be a tuple of Freeze values, got {self.freeze!r}")
        check_schedule(freeze, self.n_iters, "freeze")
        object.__setattr__(self, "freeze", freeze)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``freeze`` as a list of dictionaries)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`.

        A ``checkpoint_every`` beyond ``n_iters``, saved before it was refused, reads as ``n_iters``: both
        checkpoint at the end only.
        """
        data = dict(data)
        data["freeze"] = tuple(Freeze(**f) for f in data.get("freeze", ()))
        every, n_iters = data.get("checkpoint_every"), data.get("n_iters")
        if isinstance(every, int) and isinstance(n_iters, int) and every > n_iters > 0:
            data["checkpoint_every"] = n_iters
        return cls(**data)


def check_within_run(name: str, value: Any, n_iters: int, consequence: str, *, iteration: int | None = None,
                     limit: str = "n_iters") -> None:
    """Refuse an option that names an iteration ("every N updates", "until update N") beyond a run of ``n_iters``.

    The one check of every such option: ``TrainConfig``'s ``log_every`` and
    ``checkpoint_every``, freezing schedules (:func:`check_schedule`),
    ``training_study``'s ``at_iterations`` and the CLI's ``--freeze-until``.
    ``name`` and ``limit`` are the option and the run length as the message
    names them (a flag in the CLI), ``value`` is shown beside ``name``,
    ``iteration`` (default ``value``) is what is compared, and
    ``consequence`` says what would happen. The iteration ``n_iters`` itself
    (the end of the run) is accepted.

    Examples
    --------
    >>> check_within_run("checkpoint_every", 500, 400, "the run would be checkpointed at its end only")
    Traceback (most recent call last):
    ...
    ValueError: `checkpoint_every` (500) is beyond `n_iters` (400): the run would be checkpointed at its end only
    """
    if (value if iteration is None else iteration) > n_iters:
        raise ValueError(f"`{name}` ({value}) is beyond `{limit}` ({n_iters}): {consequence}")


def check_schedule(schedule: tuple[Freeze, ...], n_iters: int, name: str) -> None:
    """Refuse a freezing schedule of argument ``name`` that ends after a run of ``n_iters`` updates.

    ``until`` beyond ``n_iters`` would keep the parameter frozen for the whole
    run, as ``until=None`` does, under a label that says otherwise; ``until``
    equal to ``n_iters`` (frozen for every update of the run) is accepted.

    Examples
    --------
    >>> check_schedule((Freeze("W2_O", until=300),), 200, "freeze")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `freeze` (freeze:W2_O:until300) is beyond `n_iters` (200): it ends at iteration 300, so the ...
    """
    for item in schedule:
        if item.until is not None:  # before: accepted, frozen throughout without a word
            check_within_run(name, item.label, n_iters, f"it ends at iteration {item.until}, so the parameter "
                             f"would stay frozen for the whole run; lower `until`, or use Freeze({item.parameter!r}) "
                             "to freeze it throughout", iteration=item.until)


def resolve_freeze(model: nn.Module, freeze: tuple[Freeze, ...]) -> list[tuple[nn.Parameter, Freeze]]:
    """Each schedule with the parameter it acts on; unknown, untrained or repeated parameters are errors."""
    schedule: list[tuple[nn.Parameter, Freeze]] = []
    for f in freeze:
        try:
            param = model.parameter_by_name(f.parameter)
        except ValueError as exc:
            raise ValueError(f"`freeze`: {exc}") from None
        if not param.requires_grad:
            raise ValueError(f"`freeze`: parameter {f.parameter!r} is not trained by this model")
        for other_param, other in schedule:
            if other_param is param:
                raise ValueError(f"`freeze`: {f.label} and {other.label} act on the same parameter")
        schedule.append((param, f))
    return schedule
