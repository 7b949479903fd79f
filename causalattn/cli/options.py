"""Checks of the ``causalattn`` flags, before any work: each error is a ValueError naming the flag.

:func:`check_study_options` turns the flags of ``causalattn study`` into the model and task configurations and
the treatments (a :class:`StudySetup`); :func:`check_ablate_options` checks ``causalattn ablate``'s before the
model is loaded; :func:`prepare_out` makes sure the output folder can be written. The lab (and torch) is
imported inside the functions, so ``causalattn --help`` stays light.
"""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["StudySetup", "check_ablate_options", "check_study_options", "default_treatments", "prepare_out"]


@dataclass(frozen=True)
class StudySetup:
    """What the flags of ``causalattn study`` describe, checked: the configurations and the treatments."""

    model_config: Any  # causalattn.lab.models.transformer.ModelConfig
    task_config: Any  # causalattn.lab.tasks.bigram.TaskConfig
    treatments: list  # interventions, parsed from --treatments (or the defaults)


def default_treatments(n_layers: int) -> list[str]:
    """Zero and mean ablation of the induction head of the last layer and of the previous-token head of layer 0."""
    roles = [f"induction@L{n_layers - 1}"] + (["previous_token@L0"] if n_layers > 1 else [])
    return [f"ablate_role:{role}:{kind}" for role in roles for kind in ("zero", "mean")]


# Smallest value of each integer option of `causalattn study`.
_MINIMA = {"n_layers": 1, "n_heads": 1, "d_model": 1, "n_triggers": 1, "seq_len": 2, "n_sequences": 2, "seed": 0,
           "seeds": 2, "freeze_until": 1, "study_iters": 1, "study_batch_size": 1}
# Configuration fields whose flag is not named after them.
_FLAG_OF_FIELD = {"max_seq_len": "seq_len", "kind": "model"}


def _flag(name: str) -> str:
    """The flag that sets the configuration field or option ``name`` (``d_model`` -> ``--d-model``)."""
    return "--" + _FLAG_OF_FIELD.get(name, name).replace("_", "-")


def _flagged(message: str) -> str:
    """``message`` with every backticked Python name replaced by its flag (`` `d_model` `` -> `` `--d-model` ``)."""
    return re.sub(r"`([a-z_]+)`", lambda m: f"`{_flag(m.group(1))}`", message)


def check_study_options(args: argparse.Namespace) -> StudySetup:
    """Check every option of ``causalattn study`` before any work; return the configurations and treatments.

    Each error names the flag. Nothing is created or trained before these checks pass.
    """
    import pandas as pd

    from causalattn.lab.analysis.head_scan import SCORES, HeadScan
    from causalattn.lab.interventions import parse_treatment
    from causalattn.lab.interventions.roles import resolve_roles
    from causalattn.lab.models.transformer import ModelConfig, build_model
    from causalattn.lab.tasks.bigram import TaskConfig
    from causalattn.lab.training.config import Freeze, resolve_freeze

    for name, minimum in _MINIMA.items():
        if getattr(args, name) < minimum:
            raise ValueError(f"`{_flag(name)}` must be at least {minimum}, got {getattr(args, name)}")
    if args.n_jobs == 0:
        raise ValueError("`--n-jobs` must be a non-zero integer (-1: all cores), got 0")
    if args.freeze_until > args.study_iters:
        raise ValueError(f"`--freeze-until` ({args.freeze_until}) is beyond `--study-iters` ({args.study_iters}): "
                         "the treated arms would stay frozen for the whole run; lower it or raise --study-iters")
    if not 0 < args.threshold <= 1:
        raise ValueError(f"`--threshold` must be an in-context accuracy in (0, 1], got {args.threshold}")
    if len(set(args.freeze)) < len(args.freeze):
        raise ValueError(f"`--freeze` names a parameter twice: {args.freeze}")
    try:
        model_config = ModelConfig(kind=args.model, n_layers=args.n_layers, n_heads=args.n_heads,
                                   d_model=args.d_model, max_seq_len=args.seq_len)
        task_config = TaskConfig(n_triggers=args.n_triggers, seq_len=args.seq_len,
                                 random_triggers=args.random_triggers, output_dist=args.output_dist)
    except ValueError as exc:
        raise ValueError(_flagged(str(exc))) from None
    skeleton = build_model(model_config)
    # a scan of equal scores: every role resolves to some head, so a role in a missing layer fails here
    blank = HeadScan(pd.DataFrame([(layer, head, 0.0, 0.0) for layer in range(args.n_layers)
                                   for head in range(args.n_heads)], columns=["layer", "head", *SCORES]),
                     n_sequences=1, length=2)
    try:
        labels = args.treatments or default_treatments(args.n_layers)
        if len(set(labels)) < len(labels):
            raise ValueError(f"a label is given twice: {labels}")
        treatments = [parse_treatment(label) for label in labels]
        for treatment in treatments:  # fail before training if a treatment does not fit the model
            resolve_roles(treatment, blank).check(skeleton)
    except ValueError as exc:
        raise ValueError(f"`--treatments`: {exc}") from None
    try:
        resolve_freeze(skeleton, tuple(Freeze(p, args.freeze_until) for p in args.freeze))
    except ValueError as exc:
        raise ValueError(_flagged(str(exc)).replace("`--name` ", "")) from None
    return StudySetup(model_config, task_config, treatments)


def prepare_out(out: Path) -> None:
    """Create the output folder; a clear error if it is a file, a device or cannot be written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out` {out} is not a folder (it is a file or a device); give a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"`--out` {out} cannot be used as the output folder: {exc.strerror or exc}") from None


def check_ablate_options(args: argparse.Namespace) -> None:
    """Every option checked before the model is loaded; the message names the flag."""
    for name, minimum in (("k", 1), ("length", 2), ("n_sequences", 2), ("scan_sequences", 1), ("batch_size", 1)):
        value = getattr(args, name)
        if value < minimum:
            raise ValueError(f"`{_flag(name)}` must be at least {minimum}, got {value}")
    import torch

    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError):
        raise ValueError(f"`--device` must name a torch device such as cpu or cuda, got {args.device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`--device` {args.device!r}: this machine has no CUDA device (use --device cpu)")
