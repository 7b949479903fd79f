"""The runs of a training study on disk: one checksummed record per finished run, its weights, its checkpoint.

A run ``(seed, arm)`` is saved as ``out_dir/units/seed{s}__{arm}.json`` (its
history and how it was run) and, when the study keeps its models, its final
weights as ``out_dir/models/seed{s}__{arm}.npz``, each recording the run it
holds (``{"seed", "arm"}``, checked on loading); while it trains, it
checkpoints to ``out_dir/checkpoints/seed{s}__{arm}/checkpoint.pt`` (which
records the run through its configurations, checked by
:func:`verified_checkpoint` before it is resumed), removed once its record
(and weights) are written and read back intact. ``study.json``
records the :func:`fingerprint` of the configuration
(:func:`causalattn.lab.studies.storage.open_study_folder`).
"""

from __future__ import annotations

import functools
import json
import shutil
import warnings
from contextlib import suppress
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.checksummed import DamagedFileWarning
from causalattn.lab.studies.storage import (
    StudyFolder,
    check_file_place,
    check_folder,
    expect_shapes,
    open_study_folder,
    slug,
)
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.checkpoints import CHECKPOINT_FILE, CheckpointError, load_checkpoint
from causalattn.lab.training.config import TrainConfig

__all__ = ["RunFiles", "checkpoint_folder", "drop_checkpoint", "fingerprint", "read_record", "run_configs",
           "unit_name", "unit_outcomes", "verified_checkpoint"]


def unit_name(seed: int, label: str) -> str:
    return f"seed{seed}__{slug(label)}"


def checkpoint_folder(out_dir: Path, seed: int, label: str) -> Path:
    """Where the unfinished run (seed, label) checkpoints, locally or through :class:`Segments`."""
    return out_dir / "checkpoints" / unit_name(seed, label)


def run_configs(model_config: ModelConfig, task_config: TaskConfig, train_config: TrainConfig, seed: int,
                schedule: tuple) -> tuple[ModelConfig, TaskConfig, TrainConfig]:
    """The configurations run ``(seed, arm)`` trains with: ``init_seed = data_seed = seed``, ``freeze = schedule``."""
    return (replace(model_config, init_seed=seed), task_config,
            replace(train_config, data_seed=seed, freeze=tuple(schedule)))


def verified_checkpoint(out_dir: Path, seed: int, label: str, model_config: ModelConfig, task_config: TaskConfig,
                        train_config: TrainConfig) -> int:
    """The updates done in the checkpoint that run ``(seed, label)`` resumes from (0: none, it starts over).

    A checkpoint records its run: the configurations with the run's
    ``init_seed``, ``data_seed`` and freezing schedule (``model_config``...,
    as the run is trained), inside what its checksum covers. One that is
    damaged, or holds another run or configuration (a file copied or moved
    here), is reported with a :class:`DamagedFileWarning` and removed, so that
    the run trains from iteration 0. A file or folder in the wrong place is a
    ValueError naming `out_dir`.
    """
    folder = checkpoint_folder(out_dir, seed, label)
    path = folder / CHECKPOINT_FILE
    if folder.exists():
        check_folder(folder, f"the checkpoint of the training run of seed {seed}, arm {label!r}")
    check_file_place(path, f"the checkpoint of the training run of seed {seed}, arm {label!r}")
    if not path.exists():
        return 0
    try:
        _, info = load_checkpoint(path, model_config=model_config, task_config=task_config, train_config=train_config)
    except CheckpointError as exc:
        reason = str(exc)
    except ValueError as exc:  # intact, but made for another run or configuration
        reason = f"{path} holds another run's checkpoint ({exc})"
    else:
        return info.iteration
    warnings.warn(f"{reason}; recomputing it: training from iteration 0", DamagedFileWarning, stacklevel=3)
    path.unlink()
    return 0


def drop_checkpoint(out_dir: Path, seed: int, label: str) -> None:
    """Remove a finished run's checkpoint folder, and the ``checkpoints`` folder once it is empty."""
    shutil.rmtree(checkpoint_folder(out_dir, seed, label), ignore_errors=True)
    with suppress(OSError):  # other runs' checkpoints are still there
        (out_dir / "checkpoints").rmdir()


def fingerprint(model_config, task_config, train_config, arms) -> dict:
    """What determines the result of a (seed, arm) run, apart from the seed: stored as ``study.json``."""
    model = asdict(model_config)
    del model["init_seed"]
    training = asdict(train_config)
    for per_unit in ("data_seed", "freeze", "checkpoint_every"):
        training.pop(per_unit, None)
    fingerprint = {
        "study": "training_study",
        "model_config": model,
        "task_config": asdict(task_config),
        "train_config": training,
        "arms": {label: [asdict(item) for item in schedule] for label, schedule in arms.items()},
    }
    return json.loads(json.dumps(fingerprint))


def unit_outcomes(history: pd.DataFrame, at_iterations, threshold, probes, n_iters) -> dict[str, Any]:
    logged = history.set_index("iteration")
    out: dict[str, Any] = {}
    for t in at_iterations:
        out[f"in_context_accuracy_at_{t}"] = float(logged.at[t, "in_context_accuracy"])
    reached = history.loc[history["in_context_accuracy"] >= threshold, "iteration"]
    out[f"restricted_iterations_to_{threshold:g}"] = int(reached.iloc[0]) if len(reached) else int(n_iters)
    out[f"restricted_iterations_to_{threshold:g}_censored"] = not len(reached)
    for probe in probes:
        for t in at_iterations:
            out[f"{probe}_at_{t}"] = float(logged.at[t, probe])
    return out


def read_record(record: Any, at_iterations, threshold, probes, n_iters) -> dict:
    """``record`` if its history gives the study's outcomes; else a LookupError or ValueError.

    A record written by another version, with other or missing fields, is
    thereby found out when the study is resumed, instead of stopping it later.
    (Which run a record holds is its file's identity, checked on loading.)
    """
    unit_outcomes(pd.DataFrame(record["history"]), at_iterations, threshold, probes, n_iters)
    return record


class RunFiles:
    """The folder of a training study: the records of finished runs and, with ``keep_models``, their weights.

    Parameters
    ----------
    out_dir : Path
        The study's folder.
    study : dict
        The :func:`fingerprint` of the configuration (a folder of another configuration is a ValueError).
    model_config : ModelConfig
        The models' configuration: kept weights must have its shapes.
    keep_models : bool
        Whether the runs' final weights are saved (and needed for a run to count as finished).
    """

    def __init__(self, out_dir: Path, study: dict, model_config: ModelConfig, keep_models: bool) -> None:
        self.out_dir = out_dir
        self.folder = open_study_folder(out_dir, study, units="units", kind="a training study")
        self.models = None
        if keep_models:  # the weights carry the configuration's checksum and their run, like the records
            self.models = StudyFolder(out_dir / "models", self.folder.study).create()
            self.shapes = {name: value.shape for name, value in build_model(model_config).state_dict().items()}

    def load(self, seed: int, label: str, **outcomes: Any) -> tuple[dict, dict[str, np.ndarray] | None] | None:
        """The saved record of run ``(seed, label)`` and its weights (None without ``keep_models``); None if not done.

        ``outcomes`` (``at_iterations``, ``threshold``, ``probes``, ``n_iters``) are
        those of :func:`read_record`: a record whose history does not give them is recomputed.
        """
        run = f"the training run of seed {seed}, arm {label!r}"
        name, identity = unit_name(seed, label), {"seed": seed, "arm": label}
        record = self.folder.load_json(f"{name}.json", identity=identity, recompute=run,
                                       parse=functools.partial(read_record, **outcomes))
        if record is None:
            return None
        if self.models is None:
            return record, None
        kept = self.models.load_arrays(f"{name}.npz", identity=identity, recompute=run,
                                       parse=expect_shapes(self.shapes))
        return None if kept is None else (record, kept)

    def save(self, seed: int, label: str, record: dict, weights: dict[str, np.ndarray] | None) -> None:
        """Save a finished run (the weights first: a record on disk means its run is complete); drop its checkpoint."""
        name, identity = unit_name(seed, label), {"seed": seed, "arm": label}
        if self.models is not None:
            self.models.save_arrays(f"{name}.npz", weights, identity=identity)
        self.folder.save_json(f"{name}.json", record, identity=identity)
        if self.folder.load_json(f"{name}.json", identity=identity) is not None and (
                self.models is None or self.models.load_arrays(f"{name}.npz", identity=identity) is not None):
            drop_checkpoint(self.out_dir, seed, label)  # written and read back intact: no longer needed
