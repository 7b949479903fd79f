"""Checks the intervention studies share: a task that fits every model, treatments that fit every model."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pandas as pd

from causalattn.lab.analysis.head_scan import SCORES, HeadScan
from causalattn.lab.interventions.base import Intervention, as_interventions
from causalattn.lab.interventions.roles import RoleTreatment, resolve_roles
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.studies.runner import CONTROL
from causalattn.lab.studies.storage import check_file_names
from causalattn.lab.tasks.bigram import Task


def check_task(task: Any, models: Mapping[str, HookedModel]) -> Task:
    """``task`` if it is a :class:`Task` whose sequences fit every model of ``models`` (name in messages -> model)."""
    if not isinstance(task, Task) or not dataclasses.is_dataclass(task.config):
        raise TypeError("`task` must be a task (sample(n, generator) -> Batch, seq_len, vocab_size, a dataclass "
                        f"config) such as BigramTask or RepeatedTokensTask, got {type(task).__name__}")
    for name, model in models.items():
        if task.seq_len > model.max_len or task.vocab_size > model.vocab_size:
            raise ValueError(f"`task` does not fit {name}: sequences of {task.seq_len} tokens over "
                             f"{task.vocab_size} symbols vs max_len={model.max_len}, vocab_size={model.vocab_size}")
    return task


def parts(treatment: Intervention) -> tuple[Intervention, ...]:
    """The interventions a treatment applies together (itself, or the parts of a combination)."""
    return getattr(treatment, "parts", (treatment,))


def check_treatments(treatments: Any, models: Mapping[str, HookedModel], *, roles: bool = False) -> list[Intervention]:
    """The treatments as interventions with distinct labels and file names, each fitting every model.

    With ``roles``, a role treatment (:mod:`causalattn.lab.interventions.roles`) is
    accepted: it is resolved on each model later, so only its layer is checked here.
    """
    interventions = as_interventions(treatments)
    if any(t.label == CONTROL for t in interventions):
        raise ValueError(f"`treatments`: {CONTROL!r} is the name of the control arm")
    check_file_names("treatments", [CONTROL, *(t.label for t in interventions)])  # each arm's files: slug(label)
    for name, model in models.items():  # every model, before the first long computation
        for part in (p for t in interventions for p in parts(t)):
            if not (roles and isinstance(part, RoleTreatment)):
                part.check(model)
            elif part.layer is not None and part.layer >= model.n_layers:
                raise ValueError(f"`layer` {part.layer} of {part.label!r} is out of range: {name} has "
                                 f"{model.n_layers} layer(s)")
            else:
                check_fits(part, model)
    return interventions


def check_fits(treatment: Intervention, model: HookedModel) -> None:
    """A ValueError unless every part of ``treatment`` fits ``model``, before any head scan.

    A role part is resolved on a scan of equal scores, where every role names
    some head: so what no scan could resolve (a layer out of range, a path's
    receiver in no layer after its sender's) is refused here, and the head it
    names is checked like an index part's.
    """
    scan = equal_scores(model)
    for part in parts(treatment):
        resolve_roles(part, scan).check(model)


def equal_scores(model: HookedModel) -> HeadScan:
    """A head scan of ``model`` where every head scores 0 on every role: a role resolves to its lowest head."""
    return HeadScan(pd.DataFrame([(layer, head, 0.0, 0.0) for layer in range(model.n_layers)
                                  for head in range(model.n_heads)], columns=["layer", "head", *SCORES]),
                    n_sequences=1, length=2)
