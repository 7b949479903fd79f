"""Checks of the ``causalattn`` flags, before any work: each error is a ValueError naming the flag.

:func:`check_study_options` turns the flags of ``causalattn study`` into the model and task configurations and
the treatments (a :class:`StudySetup`); :func:`check_ablate_options` checks ``causalattn ablate``'s before the
model is loaded, :func:`check_ablate_model` those that need the loaded model, :func:`check_heads_options` those
of ``causalattn heads``; :func:`check_out` makes sure the output folder can be made and written, without making
it; :func:`dask_client` connects to the cluster of ``--scheduler`` or ``--local-cluster``. Nothing is written
to ``--out`` before these checks pass. The lab (and torch) is imported inside the functions, so
``causalattn --help`` stays light.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from causalattn._memory import check_memory
from causalattn._validation import check_integer, check_seed
from causalattn.cli.memory import ablate_needs, study_needs

__all__ = ["ABLATE_FINGERPRINT", "StudySetup", "check_ablate_model", "check_ablate_options",
           "check_heads_options", "check_out", "check_study_options", "dask_client", "default_treatments"]


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


# Smallest value of each integer option of `causalattn study` and `causalattn ablate`.
_MINIMA = {"n_layers": 1, "n_heads": 1, "d_model": 1, "n_triggers": 1, "seq_len": 2, "n_sequences": 2, "seeds": 2,
           "freeze_until": 1, "study_iters": 1, "study_batch_size": 1}
_ABLATE_MINIMA = {"k": 1, "length": 2, "n_sequences": 2, "scan_sequences": 1, "batch_size": 1}
# Configuration fields whose flag is not named after them.
_FLAG_OF_FIELD = {"max_seq_len": "seq_len", "kind": "model"}


def _flag(name: str) -> str:
    """The flag that sets the configuration field or option ``name`` (``d_model`` -> ``--d-model``)."""
    return "--" + _FLAG_OF_FIELD.get(name, name).replace("_", "-")


def _flagged(message: str) -> str:
    """``message`` with every backticked Python name replaced by its flag (`` `d_model` `` -> `` `--d-model` ``)."""
    return re.sub(r"`([a-z_]+)`", lambda m: f"`{_flag(m.group(1))}`", message)


def _check_bootstrap_units(method: str, name: str, units: int) -> None:
    """``--method bootstrap`` needs as many units (seeds, sequences) as the effect layer's bootstrap does."""
    from causalattn.effects import BOOTSTRAP_MIN_UNITS

    if method == "bootstrap" and units < BOOTSTRAP_MIN_UNITS:
        raise ValueError(f"`--method` bootstrap needs at least {BOOTSTRAP_MIN_UNITS} units per row, and "
                         f"`{_flag(name)}` gives {units}: raise `{_flag(name)}` or use --method t")


def check_study_options(args: argparse.Namespace) -> StudySetup:
    """Check every option of ``causalattn study`` before any work; return the configurations and treatments.

    Each error names the flag. Nothing is created or trained before these checks pass.
    """
    from causalattn.lab.interventions import parse_treatment
    from causalattn.lab.interventions.roles import resolve_roles
    from causalattn.lab.models.transformer import ModelConfig, build_model
    from causalattn.lab.studies._inputs import check_fits, equal_scores
    from causalattn.lab.tasks.bigram import TaskConfig
    from causalattn.lab.training.config import Freeze, check_within_run, resolve_freeze

    for name, minimum in _MINIMA.items():
        check_integer(_flag(name), getattr(args, name), minimum=minimum)
    check_seed("--seed", args.seed)
    _check_bootstrap_units(args.method, "seeds", args.seeds)
    if args.n_jobs == 0:
        raise ValueError("`--n-jobs` must be a non-zero integer (-1: all cores), got 0")
    if args.local_cluster is not None:
        check_integer("--local-cluster", args.local_cluster, minimum=1)
    check_memory(study_needs(args))  # before building a model of these sizes
    check_out(args.out)
    check_within_run("--freeze-until", args.freeze_until, args.study_iters, "the treated arms would stay frozen for "
                     "the whole run; lower it or raise --study-iters", limit="--study-iters")
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
    _check_study_sequences(args, task_config)
    skeleton = build_model(model_config)
    try:
        labels = args.treatments or default_treatments(args.n_layers)
        treatments = _parse_labels(labels, parse_treatment)  # ablate:L01H0:zero is ablate:L1H0:zero
        for treatment in treatments:  # fail before training if a part does not fit the model (any model's heads)
            check_fits(treatment, skeleton)
            parts = getattr(treatment, "parts", (treatment,))
            if args.n_heads == 1 and all(getattr(part, "layer", 0) is not None for part in parts):
                resolve_roles(treatment, equal_scores(skeleton))  # one head per layer: every model alike
    except ValueError as exc:
        raise ValueError(f"`--treatments`: {exc}") from None
    try:
        resolve_freeze(skeleton, tuple(Freeze(p, args.freeze_until) for p in args.freeze))
    except ValueError as exc:
        raise ValueError(_flagged(str(exc)).replace("`--name` ", "")) from None
    return StudySetup(model_config, task_config, treatments)


def _check_study_sequences(args: argparse.Namespace, task_config: Any) -> None:
    """The training runs' held-out set and the evaluation's sequences have in-context positions to score.

    Both are drawn as the study draws them (the held-out set with the training recipe's seed, the evaluated
    sequences with ``--seed``), so a ``--seq-len`` too short for ``--n-triggers`` is refused before training.
    """
    import torch

    from causalattn.cli.parser import STUDY_DEFAULTS
    from causalattn.lab.tasks.bigram import BigramTask
    from causalattn.lab.tasks.metrics import check_held_out
    from causalattn.lab.tasks.units import check_read_positions
    from causalattn.lab.training.config import TrainConfig

    task = BigramTask(task_config)
    try:
        check_held_out(task, STUDY_DEFAULTS["study_eval_sequences"], seed=TrainConfig.eval_seed)
    except ValueError as exc:
        raise ValueError(f"`--seq-len` {args.seq_len} is too short for `--n-triggers` {args.n_triggers}: "
                         f"{exc}") from None
    check_read_positions(task.sample(args.n_sequences, torch.Generator().manual_seed(args.seed)), "--n-sequences")


def check_out(given: str | os.PathLike) -> Path:
    """``--out`` as a Path; a ValueError naming it unless it is a folder, or a path where one can be made, that can be
    written.

    Nothing is made: the nearest existing folder on the path must be writable
    (a probe file is created there and removed at once). An empty ``--out``
    is refused: it would mean the current folder, without a word.
    """
    if not str(given).strip():
        raise ValueError("`--out` is empty: give a folder path ('.' for the current folder)")
    out = Path(given)
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out` {out} is not a folder (it is a file or a device); give a folder path")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    try:
        if not base.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(base))
        handle, probe = tempfile.mkstemp(dir=base, prefix=".causalattn-write-test-")
        os.close(handle)
        with contextlib.suppress(OSError):
            os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"`--out` {out} cannot be used as the output folder: {exc.strerror or exc}") from None
    return out


#: What a ``causalattn ablate`` folder records in its study.json: the flags that determine the head scan.
ABLATE_FINGERPRINT = ("model", "length", "scan_sequences", "seed", "batch_size")


def check_ablate_options(args: argparse.Namespace) -> tuple[Any, list | None]:
    """Every option of ``causalattn ablate`` that can be checked before the model is loaded; nothing is written.

    The integer sizes, the device, the prompt file of ``--prompts`` (its columns and rows), ``--outcome``, the
    labels of ``--treatments``, ``--out`` (usable, and not a folder of another run), and that ``--model`` names
    a model that exists. Returns the prompt file (a DataFrame, or None without ``--prompts``) and the
    interventions of ``--treatments`` (None: the top induction heads and control heads of the scan).
    """
    from causalattn.cli.parser import ABLATE_DEFAULTS
    from causalattn.lab.interventions import parse_treatment

    frame = _units_flags(args, ABLATE_DEFAULTS)
    for name, minimum in _ABLATE_MINIMA.items():
        if getattr(args, name) is not None:  # --n-sequences is None with prompts
            check_integer(_flag(name), getattr(args, name), minimum=minimum)
    check_seed("--seed", args.seed)  # before: 2**70 was refused as `seed` after the model was loaded
    _check_method_units(args, frame)
    from causalattn.lab.models.pretrained import check_device

    check_device(args.device, "--device")
    if args.decompose and (args.treatments is not None or frame is not None):
        raise ValueError("`--decompose` decomposes the scan's heads on repeated tokens: not with `--treatments` "
                         "or `--prompts`")
    treatments = None
    if args.treatments is not None:
        try:
            treatments = _parse_labels(args.treatments, parse_treatment)
        except ValueError as exc:
            raise ValueError(f"`--treatments`: {exc}") from None
        has_counterfactual = frame is not None and "counterfactual" in frame.columns
        for treatment in treatments:
            if "counterfactual" in _sources(treatment) and not has_counterfactual:
                raise ValueError(f"`--treatments`: {treatment.label!r} patches from the prompt's counterfactual: "
                                 "give `--prompts` with a counterfactual column")
    _check_out_and_model(args, ablate_fingerprint(args), "a `causalattn ablate` run")
    return frame, treatments


def _check_method_units(args: argparse.Namespace, frame: Any, share: int = 1) -> None:
    """``--method bootstrap`` needs enough units: the sequences, or the prompts (``1/share`` of them per row)."""
    if frame is None:
        _check_bootstrap_units(args.method, "n_sequences", args.n_sequences // share)
    else:
        _check_bootstrap_units(args.method, "prompts", len(frame) // share)


def _parse_labels(labels: list[str], parse: Any) -> list:
    """The interventions of ``labels``; a ValueError if two name the same one (``ablate:L01H0:zero`` is ``L1H0``)."""
    treatments = [parse(label) for label in labels]
    given: dict[str, str] = {}
    for text, treatment in zip(labels, treatments, strict=True):
        if treatment.label in given:
            raise ValueError(f"a label is given twice: {given[treatment.label]!r} and {text!r} both name "
                             f"{treatment.label!r}")
        given[treatment.label] = text
    return treatments


def _sources(treatment: Any) -> set[str]:
    """The named source sequences a treatment patches from (``patch:L3H1:counterfactual`` -> ``counterfactual``)."""
    parts = getattr(treatment, "parts", (treatment,))
    return {part.source for part in parts if isinstance(getattr(part, "source", None), str)}


def _check_out_and_model(args: argparse.Namespace, fingerprint: dict | None, kind: str) -> None:
    """``--out`` usable (and, with a ``fingerprint``, not another run's folder) and ``--model`` an existing model."""
    out = check_out(args.out)
    from causalattn.lab.models.pretrained import locate_model
    from causalattn.lab.studies.storage import check_study_folder

    if fingerprint is not None:
        try:
            check_study_folder(out, fingerprint, kind=kind)
        except ValueError as exc:
            raise ValueError(f"`--out`: {exc}") from None
    try:
        locate_model(args.model)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`--model`: {str(exc).replace('`name_or_path` ', '')}") from None


def _units_flags(args: argparse.Namespace, defaults: dict[str, int]) -> Any:
    """``--prompts`` read and checked (with ``--outcome``); ``--n-sequences`` filled in unless there are prompts."""
    from causalattn.cli.units import read_prompt_flags

    if args.prompts is not None and args.n_sequences is not None:
        raise ValueError("`--n-sequences` and `--prompts`: with prompts every prompt is a unit")
    if args.prompts is None and args.n_sequences is None:
        args.n_sequences = defaults["n_sequences"]
    return read_prompt_flags(args)


def check_heads_options(args: argparse.Namespace) -> Any:
    """Every flag of ``causalattn heads`` before the model is loaded, nothing written; returns the prompt file or None.

    As :func:`check_ablate_options`, and ``--layers`` (no layer named twice), ``--alpha``, ``--screen`` (and
    at least 4 units to split), ``--kind patch`` (prompts with counterfactuals), ``--task`` or ``--prompts``.
    """
    from causalattn.cli.parser import HEADS_DEFAULTS

    if args.prompts is not None and args.task is not None:
        raise ValueError("`--task` and `--prompts`: the units are either sequences of a task or your prompts")
    frame = _units_flags(args, HEADS_DEFAULTS)
    minima = {"length": 2, "n_sequences": 2 if args.screen is None else 4, "batch_size": 1, "per_forward": 1,
              "screen": 1, "local_cluster": 1}
    for name, minimum in minima.items():
        if getattr(args, name) is not None:
            check_integer(_flag(name), getattr(args, name), minimum=minimum)
    check_seed("--seed", args.seed)  # 2**70 was refused only after the model was loaded, as an overflow
    if args.n_jobs == 0:
        raise ValueError("`--n-jobs` must be a non-zero integer (-1: all cores), got 0")
    _check_method_units(args, frame, share=1 if args.screen is None else 2)  # the screen confirms on half
    if not 0 < args.alpha < 1:
        raise ValueError(f"`--alpha` must be a level in (0, 1), got {args.alpha}")
    if args.layers is not None:
        for layer in args.layers:
            check_integer("--layers", layer, minimum=0)
        twice = sorted({layer for layer in args.layers if args.layers.count(layer) > 1})
        if twice:
            raise ValueError(f"`--layers` names a layer twice: {twice}")
    from causalattn.lab.models.pretrained import check_device

    check_device(args.device, "--device")
    if args.kind == "patch" and (frame is None or "counterfactual" not in frame.columns):
        raise ValueError("`--kind` patch patches each head from the prompt's counterfactual: give `--prompts` "
                         "with a counterfactual column")
    _check_out_and_model(args, None, "a `causalattn heads` run")
    return frame


def dask_client(args: argparse.Namespace, stack: contextlib.ExitStack) -> Any:
    """A Dask client for `--scheduler` or `--local-cluster` (closed with ``stack``), else None."""
    if args.scheduler is None and args.local_cluster is None:
        return None
    flag = "--scheduler" if args.scheduler is not None else "--local-cluster"
    from causalattn.lab.studies.engine import import_distributed

    try:
        distributed = import_distributed()
    except ImportError as exc:
        raise ValueError(f"`{flag}`: {exc}") from None
    if args.scheduler is None:
        cluster = stack.enter_context(distributed.LocalCluster(
            n_workers=args.local_cluster, threads_per_worker=1, processes=True, dashboard_address=None))
        return stack.enter_context(distributed.Client(cluster))
    try:
        return stack.enter_context(distributed.Client(args.scheduler, timeout="20s"))
    except (OSError, ValueError, TypeError) as exc:  # unreachable or malformed address
        raise ValueError(f"`--scheduler`: cannot connect to {args.scheduler!r}: {exc}") from None


def ablate_fingerprint(args: argparse.Namespace) -> dict:
    """The study.json of a ``causalattn ablate`` folder: the command and the flags of :data:`ABLATE_FINGERPRINT`."""
    return {"command": "ablate", **{name: getattr(args, name) for name in ABLATE_FINGERPRINT}}


def check_ablate_model(args: argparse.Namespace, model: Any, tokenizer: Any, treatments: list | None) -> Any:
    """The options of ``causalattn ablate`` that need the loaded model: ``--k``, ``--length``, the memory, and
    that every part of ``treatments`` (of ``--treatments``) fits the model, before any head scan.

    Returns the task: repeated random tokens of the tokenizer's vocabulary.
    """
    from causalattn.lab.studies._inputs import check_fits
    from causalattn.lab.tasks.repeated import RepeatedTokensTask

    if args.treatments is None and 2 * args.k > model.n_layers * model.n_heads:
        raise ValueError(f"`--k` {args.k} is too large: the model has {model.n_layers * model.n_heads} heads")
    for treatment in treatments or ():
        try:
            check_fits(treatment, model)
        except ValueError as exc:
            raise ValueError(f"`--treatments`: {exc}") from None
    try:
        task = RepeatedTokensTask.from_tokenizer(tokenizer, args.length, vocab_size=model.vocab_size)
    except ValueError as exc:
        raise ValueError(f"`--length`: {exc}") from None
    if task.seq_len > model.max_len:
        raise ValueError(f"`--length` {args.length} is too long: 2L tokens exceed the model's context {model.max_len}")
    check_memory(ablate_needs(args, model, task.seq_len))
    return task
