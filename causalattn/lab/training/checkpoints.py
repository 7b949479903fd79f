"""Checkpoints of the lab's models: one checksummed file with the weights, the configurations and the progress.

A checkpoint holds the state dict, the model, task and training
configurations as JSON, the history of a run as plain lists and, for a run
in progress, the optimizer's and the batch generator's states, so that
:func:`causalattn.lab.training.loop.train` resumes it exactly. Both layers
of the file are read with ``torch.load(weights_only=True)``: tensors and
plain Python values only, never arbitrary pickled objects. The file carries
a SHA-256 checksum of everything it holds and is written atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.checksummed import write_atomic
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.config import TrainConfig

__all__ = ["CHECKPOINT_FILE", "CheckpointError", "CheckpointInfo", "check_configs", "history_frame",
           "load_checkpoint", "read_checkpoint", "save_checkpoint", "write_checkpoint"]

# File name of the checkpoint that `train` writes into its `checkpoint_dir`.
CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT_VERSION = 2  # 2: the payload is stored as a byte tensor beside its SHA-256 checksum


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


class CheckpointError(ValueError):
    """A file that is not a readable, intact causalattn checkpoint (the message names the file)."""


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
    write_checkpoint(Path(path), model, task_config, train_config, iteration=iteration, rows=rows, seconds=[])


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
    payload = read_checkpoint(Path(path))
    check_configs(
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
        history=history_frame(payload["history"]) if payload["history"] else pd.DataFrame(),
    )
    return model, info


def history_frame(rows: list[dict]) -> pd.DataFrame:
    history = pd.DataFrame(rows)
    history["iteration"] = history["iteration"].astype(int)
    return history


def _config_json(config: Any) -> str:
    if config is None:
        return "null"
    data = config.to_dict() if isinstance(config, TrainConfig) else dataclasses.asdict(config)
    return json.dumps(data, sort_keys=True)


def write_checkpoint(
    path: Path,
    model: nn.Module,
    task_config: TaskConfig,
    train_config: TrainConfig | None,
    *,
    iteration: int,
    rows: list[dict],
    seconds: list[float],
    optimizer: Any = None,
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
    outer = io.BytesIO()
    torch.save({"format_version": _FORMAT_VERSION, "sha256": hashlib.sha256(content).hexdigest(),
                "payload": torch.frombuffer(bytearray(content), dtype=torch.uint8)}, outer)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, outer.getvalue())


def read_checkpoint(path: Path) -> dict[str, Any]:
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


def check_configs(payload: Mapping[str, Any], where: str, **expected: Any) -> None:
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
