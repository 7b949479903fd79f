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

import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from causalattn._memory import FLOAT, Need, check_memory
from causalattn._validation import check_flag
from causalattn.lab.analysis.probes import memory_probes
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.checksummed import DamagedFileWarning
from causalattn.lab.tasks.bigram import VOCAB_SIZE, Batch, BigramTask, TaskConfig
from causalattn.lab.tasks.metrics import check_held_out, evaluate
from causalattn.lab.training.checkpoints import (
    CHECKPOINT_FILE,
    CheckpointError,
    check_configs,
    history_frame,
    read_checkpoint,
    write_checkpoint,
)
from causalattn.lab.training.config import Freeze, TrainConfig, resolve_freeze
from causalattn.lab.training.optimizers import Optimizers, make_optimizer

__all__ = ["HISTORY_COLUMNS", "TrainResult", "train", "train_iv"]

# Columns of the history besides the probe keys, in order.
HISTORY_COLUMNS = ("iteration", "loss", "in_context_accuracy", "in_context_loss", "global_loss", "global_accuracy")


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
        with a :class:`~causalattn.lab.studies.checksummed.DamagedFileWarning` and
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
    progress = check_flag("progress", progress)
    task = BigramTask(task_config)
    model = build_model(model_config)
    schedule = resolve_freeze(model, train_config.freeze)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = make_optimizer(model, trainable, train_config)
    generator = torch.Generator().manual_seed(train_config.data_seed)

    rows: list[dict[str, float]] = []
    seconds: list[float] = []
    start = 0
    payload = _resume_payload(checkpoint_path)
    if payload is not None:
        check_configs(
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
                write_checkpoint(
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
        history=history_frame(rows),
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
        return read_checkpoint(checkpoint_path)
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
    if model_config.vocab_size != VOCAB_SIZE:  # before: found after the first update, naming `inputs` or `model`
        raise ValueError(f"`model_config.vocab_size` ({model_config.vocab_size}) must be the task's vocabulary size "
                         f"{VOCAB_SIZE} (the characters of tiny Shakespeare, which the memory probes read)")
    t, layers = task_config.seq_len, model_config.n_layers
    sizes = (train_config.batch_size, train_config.eval_sequences)
    check_memory([Need(  # before: batch_size=10**9 died in torch's allocator, after the model was built
        "the attention patterns and activations of a training or held-out batch",
        (("train_config.batch_size", sizes[0]), ("train_config.eval_sequences", sizes[1]), ("task_config.seq_len", t)),
        FLOAT * 3 * max(sizes) * layers * (model_config.n_heads * t * t + 4 * t * model_config.d_model))])
    try:  # before: NaN in-context accuracy at every logged iteration, and a loss of 0 on batches without them
        check_held_out(BigramTask(task_config), train_config.eval_sequences, seed=train_config.eval_seed)
    except ValueError as exc:
        raise ValueError(f"`task_config.seq_len` ({task_config.seq_len}) or `train_config.eval_sequences` "
                         f"({train_config.eval_sequences}): {exc}") from None
    if checkpoint_dir is None:
        return None
    if not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise TypeError(f"`checkpoint_dir` must be a path, got {type(checkpoint_dir).__name__}")
    path = Path(checkpoint_dir)
    if path.exists() and not path.is_dir():
        raise ValueError(f"`checkpoint_dir` must be a folder, got the file {path}")
    return path / CHECKPOINT_FILE


def _step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer | Optimizers,
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
