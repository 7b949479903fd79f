"""Training the lab's transformers on the bigram task, with freezing schedules and memory probes.

The recipe follows Bietti et al. (2023, section 5): every iteration draws a
fresh batch of sequences from the task, the loss is the cross-entropy of the
next token (on all positions or on the in-context positions only), and the
optimizer takes a fixed learning rate with weight decay: Muon by default (the
fastest here), the paper's SGD with momentum, or AdamW. A freezing schedule
keeps named parameters at their initial value for the first iterations or
throughout (the paper's Figure 3). Every
``log_every`` iterations the model is evaluated on a fixed held-out set of
sequences and the memory probes of :func:`causalattn.lab.analysis.probes.memory_probes`
are recorded, giving a tidy history (one row per logged iteration).

Two seeds make a run reproducible and let a training study pair its arms:
``ModelConfig.init_seed`` fixes the initialization and
``TrainConfig.data_seed`` the stream of training batches. The held-out set is
drawn from its own generator (``TrainConfig.eval_seed``), so it is the same at
every logged point and in every arm.

References
----------
A. Bietti, V. Cabannes, D. Bouchacourt, H. Jegou and L. Bottou, "Birth of a
Transformer: A Memory Viewpoint", NeurIPS 2023, arXiv:2306.00802.

K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
2024, https://kellerjordan.github.io/posts/muon/.

J. Liu et al., "Muon is Scalable for LLM Training", 2025, arXiv:2502.16982.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import numbers
import os
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from causalattn._validation import check_choice, check_positive_int
from causalattn.lab.analysis.probes import memory_probes
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.storage import DamagedFileWarning
from causalattn.lab.tasks.bigram import Batch, BigramTask, TaskConfig
from causalattn.lab.tasks.metrics import evaluate
from causalattn.lab.training.muon import Float32Muon

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "Freeze",
    "TrainConfig",
    "TrainResult",
    "load_checkpoint",
    "save_checkpoint",
    "train",
]

OPTIMIZERS = ("muon", "adam", "sgd")
LOSS_ON = ("all", "in_context")
# Columns of the history besides the probe keys, in order.
HISTORY_COLUMNS = ("iteration", "loss", "in_context_accuracy", "in_context_loss", "global_loss", "global_accuracy")
# File name of the checkpoint that `train` writes into its `checkpoint_dir`.
CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT_VERSION = 2  # 2: the payload is stored as a byte tensor beside its SHA-256 checksum


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
    """

    optimizer: str = "muon"  # "muon" (AdamW for tables and vectors) | "adam" (AdamW, betas (0.9, 0.95)) | "sgd"
    lr: float = 0.02  # fixed learning rate
    momentum: float = 0.9  # SGD momentum (adam and muon use their own: betas (0.9, 0.95), Nesterov 0.95)
    weight_decay: float = 1e-4  # L2 penalty for sgd, decoupled decay for adam and muon
    batch_size: int = 32  # fresh sequences per iteration
    n_iters: int = 400  # number of updates
    loss_on: str = "in_context"  # "in_context" positions only (2nd+ occurrence of a trigger) | "all" positions
    log_every: int = 20  # evaluate on the held-out set and record probes every this many updates
    eval_sequences: int = 256  # size of the held-out set used at every logged point
    freeze: tuple[Freeze, ...] = ()  # freezing schedules by parameter name
    data_seed: int = 0  # seed of the stream of training batches (the init is ModelConfig.init_seed)
    eval_seed: int = 1_000_003  # seed of the held-out set, the same for every run unless changed
    checkpoint_every: int = 100  # with a checkpoint_dir: save every this many updates (and at the end)

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("loss_on", self.loss_on, LOSS_ON)
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"`{name}` must be a finite number, got {value!r}")
        if self.lr <= 0:
            raise ValueError(f"`lr` must be positive, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise ValueError(f"`weight_decay` must be non-negative, got {self.weight_decay}")
        for name in ("batch_size", "n_iters", "log_every", "eval_sequences", "checkpoint_every"):
            _check_positive(name, getattr(self, name))
        for name in ("data_seed", "eval_seed"):
            _check_positive(name, getattr(self, name), minimum=0)
        freeze = tuple(self.freeze) if isinstance(self.freeze, (list, tuple)) else None
        if freeze is None or not all(isinstance(f, Freeze) for f in freeze):
            raise ValueError(f"`freeze` must be a tuple of Freeze values, got {self.freeze!r}")
        object.__setattr__(self, "freeze", freeze)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (``freeze`` as a list of dictionaries)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["freeze"] = tuple(Freeze(**f) for f in data.get("freeze", ()))
        return cls(**data)


def _check_positive(name: str, value: Any, minimum: int = 1) -> None:
    """Like :func:`check_positive_int`, but a non-integer is a ValueError too (configs report ValueErrors)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    check_positive_int(name, value, minimum=minimum)


@dataclass(frozen=True, repr=False)
class TrainResult:
    """A trained model with its history.

    Attributes
    ----------
    model : torch.nn.Module
        The model after ``train_config.n_iters`` updates (in eval mode).
    history : pandas.DataFrame
        One row per logged iteration (0, ``log_every``, ..., ``n_iters``):
        ``iteration`` (updates done), ``loss`` (training loss of the last
        update; NaN at iteration 0), held-out ``in_context_accuracy``,
        ``in_context_loss``, ``global_loss``, ``global_accuracy``, and the
        memory probes ``w1k_recall``, ``w1k_recall_t64``, ``w2k_recall``,
        ``w2o_recall``, ``wf_kl``.
    seconds : tuple of float
        Wall-clock seconds spent on training updates (sampling, forward,
        backward, step; not the held-out evaluation) up to each row of
        ``history``. Kept out of the history so that two runs with the same
        seeds have identical histories.
    model_config, task_config, train_config
        The configurations of the run.
    """

    model: nn.Module
    history: pd.DataFrame
    seconds: tuple[float, ...]
    model_config: ModelConfig
    task_config: TaskConfig
    train_config: TrainConfig

    def __repr__(self) -> str:
        last = self.history.iloc[-1]
        return (
            f"TrainResult(iteration={int(last['iteration'])}, "
            f"in_context_accuracy={last['in_context_accuracy']:.3f}, global_loss={last['global_loss']:.3f})"
        )

    def seconds_to(self, accuracy: float) -> float:
        """Training seconds until held-out in-context accuracy first reached ``accuracy`` (NaN if never)."""
        reached = (self.history["in_context_accuracy"] >= accuracy).to_numpy()
        return self.seconds[int(reached.argmax())] if reached.any() else math.nan

    def iterations_to(self, accuracy: float) -> float:
        """First logged iteration with held-out in-context accuracy >= ``accuracy`` (NaN if never)."""
        reached = self.history.loc[self.history["in_context_accuracy"] >= accuracy, "iteration"]
        return float(reached.iloc[0]) if len(reached) else math.nan


@dataclass(frozen=True, repr=False)
class CheckpointInfo:
    """What :func:`load_checkpoint` returns beside the model: the configurations and the run's progress."""

    model_config: ModelConfig
    task_config: TaskConfig
    train_config: TrainConfig | None
    iteration: int
    history: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __repr__(self) -> str:
        return f"CheckpointInfo(iteration={self.iteration}, model={self.model_config.kind}, rows={len(self.history)})"


# --------------------------------------------------------------------------- training


def train(
    model_config: ModelConfig,
    task_config: TaskConfig,
    train_config: TrainConfig,
    *,
    checkpoint_dir: str | os.PathLike | None = None,
    progress: bool = True,
    callback: Callable[[int], None] | None = None,
) -> TrainResult:
    r"""Train a model on the bigram task with fresh batches, logging held-out metrics and memory probes.

    Each iteration :math:`i = 0, \dots, n-1` draws a batch of ``batch_size``
    fresh sequences and takes one optimizer step on the mean cross-entropy

    .. math:: L = -\frac{1}{|S|} \sum_{(b, t) \in S} \log p_\theta(z^{(b)}_{t+1} \mid z^{(b)}_{1:t}),

    where :math:`S` is every position (``loss_on="all"``) or the in-context
    positions, the second and later occurrences of a trigger
    (``loss_on="in_context"``, the authors' default). Parameters named in
    ``train_config.freeze`` take no part in the step while frozen.

    Parameters
    ----------
    model_config : ModelConfig
        The model; ``init_seed`` fixes its initialization.
    task_config : TaskConfig
        The data.
    train_config : TrainConfig
        The recipe; ``data_seed`` fixes the training batches.
    checkpoint_dir : path, optional
        Folder for ``checkpoint.pt``, written every ``checkpoint_every``
        updates and at the end (atomically: a run killed mid-write keeps its
        previous checkpoint). If it already holds a checkpoint of the same
        configurations, training resumes from it and gives the same history as
        an uninterrupted run; a finished run is returned without training.
        A damaged checkpoint (failing its checksum, truncated) is reported
        with a :class:`~causalattn.lab.studies.storage.DamagedFileWarning` and
        training starts over.
    progress : bool
        Show a tqdm progress bar.
    callback : callable, optional
        Called as ``callback(done)`` after each update (and its logging and
        checkpoint), with ``done`` the number of updates done so far; a study
        uses it to move its own progress bar, e.g. from a worker process.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        A freeze schedule naming a parameter the model does not have or does
        not train, or a checkpoint in ``checkpoint_dir`` whose configurations
        differ from the arguments.

    References
    ----------
    A. Bietti et al., "Birth of a Transformer: A Memory Viewpoint", NeurIPS
    2023, section 5 (training setup) and Figure 3 (freezing).

    Examples
    --------
    Ten updates of a tiny model (well under a second once torch is loaded):

    >>> from causalattn.lab import ModelConfig, TaskConfig, TrainConfig, train
    >>> result = train(ModelConfig(d_model=32, max_seq_len=32), TaskConfig(seq_len=32),
    ...                TrainConfig(n_iters=10, batch_size=8, log_every=5, eval_sequences=16), progress=False)
    >>> result.history["iteration"].tolist()
    [0, 5, 10]
    >>> bool(0 <= result.history["in_context_accuracy"].iloc[-1] <= 1)
    True
    """
    checkpoint_path = train_iv(model_config, task_config, train_config, checkpoint_dir)
    task = BigramTask(task_config)
    model = build_model(model_config)
    schedule = resolve_freeze(model, train_config.freeze)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = _make_optimizer(model, trainable, train_config)
    generator = torch.Generator().manual_seed(train_config.data_seed)

    rows: list[dict[str, float]] = []
    seconds: list[float] = []
    start = 0
    payload = _resume_payload(checkpoint_path)
    if payload is not None:
        _check_configs(
            payload, f"the checkpoint in `checkpoint_dir` ({checkpoint_path})",
            model_config=model_config, task_config=task_config, train_config=train_config,
        )
        model.load_state_dict(payload["model_state"])
        optimizer.load_state_dict(payload["optimizer_state"])
        generator.set_state(payload["generator_state"])
        rows = list(payload["history"])
        seconds = list(payload["seconds"])
        start = payload["iteration"]
    if start == 0:
        rows.append(_log_row(model, task, train_config, 0, math.nan))
        seconds.append(0.0)

    n_iters = train_config.n_iters
    elapsed = seconds[-1]
    with tqdm(total=n_iters, initial=start, disable=not progress, desc="training", unit="it") as bar:
        for iteration in range(start, n_iters):
            tick = time.perf_counter()
            loss = _step(model, optimizer, task.sample(train_config.batch_size, generator),
                         schedule, iteration, train_config.loss_on)
            elapsed += time.perf_counter() - tick
            done = iteration + 1
            if done % train_config.log_every == 0 or done == n_iters:
                rows.append(_log_row(model, task, train_config, done, loss))
                seconds.append(elapsed)
                bar.set_postfix(in_context_acc=f"{rows[-1]['in_context_accuracy']:.3f}", refresh=False)
            if checkpoint_path is not None and (done % train_config.checkpoint_every == 0 or done == n_iters):
                _write_checkpoint(
                    checkpoint_path, model, task_config, train_config,
                    optimizer=optimizer, generator=generator, iteration=done, rows=rows, seconds=seconds,
                )
            bar.update()
            if callback is not None:
                callback(done)
    for p in trainable:
        p.requires_grad_(True)
    model.eval()
    return TrainResult(
        model=model,
        history=_history_frame(rows),
        seconds=tuple(seconds),
        model_config=model_config,
        task_config=task_config,
        train_config=train_config,
    )


def _resume_payload(checkpoint_path: Path | None) -> dict[str, Any] | None:
    """The payload to resume from, or None (no checkpoint; a damaged one is reported and training starts over)."""
    if checkpoint_path is None or not checkpoint_path.exists():
        return None
    try:
        return _read_checkpoint(checkpoint_path)
    except CheckpointError as exc:
        warnings.warn(f"{exc}; recomputing it: training from iteration 0", DamagedFileWarning, stacklevel=3)
        return None


def train_iv(
    model_config: Any, task_config: Any, train_config: Any, checkpoint_dir: Any
) -> Path | None:
    """Check :func:`train`'s arguments (types, task fits the model); the checkpoint file path, or None."""
    for name, value, cls in (
        ("model_config", model_config, ModelConfig),
        ("task_config", task_config, TaskConfig),
        ("train_config", train_config, TrainConfig),
    ):
        if not isinstance(value, cls):
            raise TypeError(f"`{name}` must be a {cls.__name__}, got {type(value).__name__}")
    if model_config.max_seq_len < task_config.seq_len:
        raise ValueError(
            f"`model_config.max_seq_len` ({model_config.max_seq_len}) is shorter than "
            f"`task_config.seq_len` ({task_config.seq_len})"
        )
    if checkpoint_dir is None:
        return None
    if not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise TypeError(f"`checkpoint_dir` must be a path, got {type(checkpoint_dir).__name__}")
    path = Path(checkpoint_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"`checkpoint_dir` must be a folder, got the file {path}")
    return path / CHECKPOINT_FILE


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


# Tables trained by AdamW even under optimizer="muon": Muon orthogonalizes the update of a hidden
# weight matrix, which is not meant for an embedding (Jordan et al. 2024; Liu et al. 2025).
EMBEDDINGS = ("W_E", "W_pos", "W_U")
MUON_MOMENTUM = 0.95  # Nesterov momentum, torch.optim.Muon's default


def _make_optimizer(model: nn.Module, params: list[nn.Parameter], config: TrainConfig) -> Any:
    """The optimizer of ``config`` over ``params``; under "muon", AdamW takes the tables and vectors."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    names = {id(p): name for name, p in model.named_parameters()}
    is_hidden = [config.optimizer == "muon" and p.ndim == 2 and names[id(p)] not in EMBEDDINGS for p in params]
    hidden = [p for p, h in zip(params, is_hidden) if h]
    rest = [p for p, h in zip(params, is_hidden) if not h]
    adam = torch.optim.AdamW(rest, lr=config.lr, betas=(0.9, 0.95), weight_decay=config.weight_decay) if rest else None
    if not hidden:
        return adam
    muon = Float32Muon(hidden, lr=config.lr, weight_decay=config.weight_decay, momentum=MUON_MOMENTUM)
    return muon if adam is None else _Optimizers(muon, adam)


class _Optimizers:
    """Optimizers stepped together as one (Muon for the hidden matrices, AdamW for the rest)."""

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = optimizers

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for optimizer, part in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(part)


def _step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | _Optimizers,
    batch: Batch,
    schedule: list[tuple[nn.Parameter, Freeze]],
    iteration: int,
    loss_on: str,
) -> float:
    """One optimizer update; returns the training loss. Frozen parameters get no gradient, so no update."""
    for param, f in schedule:
        param.requires_grad_(not f.frozen_at(iteration))
    model.train()
    optimizer.zero_grad(set_to_none=True)
    if loss_on == "all":
        logits = model(batch.inputs)  # (batch, position, vocab)
        loss = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten())
    else:
        # the logits at the in-context positions only, (n, vocab): the model skips the other queries
        logits = model.logits_at(batch.inputs, batch.in_context)
        # a batch without in-context positions contributes a zero loss rather than NaN
        loss = F.cross_entropy(logits, batch.targets[batch.in_context], reduction="sum") / max(1, logits.shape[0])
    loss.backward()
    optimizer.step()
    return loss.item()


def _log_row(model: nn.Module, task: BigramTask, config: TrainConfig, iteration: int, loss: float) -> dict:
    """Held-out metrics on the fixed held-out set (seed ``config.eval_seed``) and the memory probes."""
    model.eval()
    with torch.no_grad():
        metrics = evaluate(model, task, config.eval_sequences, seed=config.eval_seed)
        probes = memory_probes(model, task)
    row = {"iteration": iteration, "loss": loss}
    row.update({k: float(metrics[k]) for k in HISTORY_COLUMNS[2:]})
    row.update({k: float(v) for k, v in probes.items()})
    return row


def _history_frame(rows: list[dict]) -> pd.DataFrame:
    history = pd.DataFrame(rows)
    history["iteration"] = history["iteration"].astype(int)
    return history


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    task_config: TaskConfig,
    train_config: TrainConfig | None = None,
    *,
    history: pd.DataFrame | None = None,
) -> None:
    """Save a model with its configurations (as JSON) and, optionally, its training history.

    The file holds the state dict, ``model.config``, ``task_config`` and
    ``train_config`` as JSON, and the history as plain lists, so that
    :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``.
    The file is written atomically (a temporary file renamed into place) and
    carries a SHA-256 checksum of everything it holds, verified by
    :func:`load_checkpoint`.

    Parameters
    ----------
    path : path
        File to write.
    model : torch.nn.Module
        A lab model (it has a ``config`` attribute, a :class:`ModelConfig`).
    task_config : TaskConfig
        The task it was trained (or hand-set) for.
    train_config : TrainConfig, optional
        How it was trained; None for a hand-set model.
    history : pandas.DataFrame, optional
        The training history (``TrainResult.history``).
    """
    if not isinstance(getattr(model, "config", None), ModelConfig):
        raise TypeError(f"`model` must be a lab model with a ModelConfig `config`, got {type(model).__name__}")
    if not isinstance(task_config, TaskConfig):
        raise TypeError(f"`task_config` must be a TaskConfig, got {type(task_config).__name__}")
    if train_config is not None and not isinstance(train_config, TrainConfig):
        raise TypeError(f"`train_config` must be a TrainConfig or None, got {type(train_config).__name__}")
    rows = [] if history is None else history.to_dict(orient="records")
    iteration = int(rows[-1]["iteration"]) if rows else 0
    _write_checkpoint(Path(path), model, task_config, train_config, iteration=iteration, rows=rows, seconds=[])


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model_config: ModelConfig | None = None,
    task_config: TaskConfig | None = None,
    train_config: TrainConfig | None = None,
) -> tuple[nn.Module, CheckpointInfo]:
    """Load a model saved by :func:`save_checkpoint` or :func:`train`, checking its configurations.

    Parameters
    ----------
    path : path
        The checkpoint file.
    model_config, task_config, train_config : optional
        The configurations the caller expects; each one given must equal the
        checkpoint's, else a ValueError names the argument and the fields that
        differ.

    Returns
    -------
    model : torch.nn.Module
        The model, rebuilt from its configuration with the saved weights, in eval mode.
    info : CheckpointInfo
        The configurations, the number of updates done and the history.

    Raises
    ------
    CheckpointError
        (a ValueError) naming the file, when it is missing, is not a
        causalattn checkpoint (random bytes, a pickle, a text file, a
        truncated file), or fails its SHA-256 checksum (altered weights).
    ValueError
        A configuration given that differs from the checkpoint's.
    """
    payload = _read_checkpoint(Path(path))
    _check_configs(
        payload, f"the checkpoint {path}",
        model_config=model_config, task_config=task_config, train_config=train_config,
    )
    saved_model_config = ModelConfig(**json.loads(payload["model_config"]))
    model = build_model(saved_model_config)
    model.load_state_dict(payload["model_state"])
    model.eval()
    train_json = json.loads(payload["train_config"])
    info = CheckpointInfo(
        model_config=saved_model_config,
        task_config=TaskConfig(**json.loads(payload["task_config"])),
        train_config=None if train_json is None else TrainConfig.from_dict(train_json),
        iteration=payload["iteration"],
        history=_history_frame(payload["history"]) if payload["history"] else pd.DataFrame(),
    )
    return model, info


def _config_json(config: Any) -> str:
    if config is None:
        return "null"
    data = config.to_dict() if isinstance(config, TrainConfig) else dataclasses.asdict(config)
    return json.dumps(data, sort_keys=True)


def _write_checkpoint(
    path: Path,
    model: nn.Module,
    task_config: TaskConfig,
    train_config: TrainConfig | None,
    *,
    iteration: int,
    rows: list[dict],
    seconds: list[float],
    optimizer: torch.optim.Optimizer | _Optimizers | None = None,
    generator: torch.Generator | None = None,
) -> None:
    payload = {
        "model_state": model.state_dict(),
        "model_config": _config_json(model.config),
        "task_config": _config_json(task_config),
        "train_config": _config_json(train_config),
        "iteration": iteration,
        # plain Python numbers, so that torch.load(weights_only=True) reads them
        "history": [{k: int(v) if k == "iteration" else float(v) for k, v in row.items()} for row in rows],
        "seconds": list(seconds),
        "optimizer_state": None if optimizer is None else optimizer.state_dict(),
        "generator_state": None if generator is None else generator.get_state(),
    }
    inner = io.BytesIO()
    torch.save(payload, inner)
    content = inner.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"format_version": _FORMAT_VERSION, "sha256": hashlib.sha256(content).hexdigest(),
                "payload": torch.frombuffer(bytearray(content), dtype=torch.uint8)}, tmp)
    os.replace(tmp, path)


class CheckpointError(ValueError):
    """A file that is not a readable, intact causalattn checkpoint (the message names the file)."""


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """The payload of the checkpoint at ``path``, after verifying its SHA-256 checksum.

    Both layers are read with ``torch.load(weights_only=True)``: tensors and
    plain Python values only, never arbitrary pickled objects.
    """
    if not path.is_file():
        raise CheckpointError(f"`path`: no checkpoint file at {path}")
    problem = f"`path`: {path} is not a causalattn checkpoint (format {_FORMAT_VERSION})"
    try:  # torch raises UnpicklingError, RuntimeError, EOFError, KeyError... on foreign or truncated files
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's remarks on a plain pickle's protocol: we explain below
            outer = torch.load(path, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"{problem}: it cannot be read ({type(exc).__name__}; truncated or another format)"
        ) from None
    if not isinstance(outer, dict) or outer.get("format_version") != _FORMAT_VERSION:
        found = outer.get("format_version") if isinstance(outer, dict) else None
        raise CheckpointError(f"{problem}" + (f": it has format {found}, written without a checksum by an older "
                                              "causalattn; train again" if found is not None else ""))
    stored = outer.get("payload")
    content = stored.numpy().tobytes() if isinstance(stored, torch.Tensor) else b""
    if hashlib.sha256(content).hexdigest() != outer.get("sha256"):
        raise CheckpointError(f"`path`: {path} is damaged: its weights and state fail their SHA-256 checksum")
    return torch.load(io.BytesIO(content), weights_only=True)


def _check_configs(payload: Mapping[str, Any], where: str, **expected: Any) -> None:
    """A ValueError naming the argument whose configuration differs from the checkpoint's."""
    for name, config in expected.items():
        if config is None:
            continue
        saved = json.loads(payload[name])
        given = json.loads(_config_json(config))
        if saved != given:
            if saved is None:
                raise ValueError(f"`{name}` was given but {where} has no {name}")
            diff = ", ".join(
                f"{k}={given.get(k)!r} here vs {saved.get(k)!r}"
                for k in sorted(set(saved) | set(given)) if saved.get(k) != given.get(k)
            )
            raise ValueError(f"`{name}` does not match {where}: {diff}")
