"""The runs of a training study on disk: one checksummed record per finished run, its weights, its checkpoint.

A run ``(seed, arm)`` is saved as ``out_dir/units/seed{s}__{arm}.json`` (its
history and how it was run) and, when the study keeps its models, its final
weights as ``out_dir/models/seed{s}__{arm}.npz``; while it trains, it
checkpoints to ``out_dir/checkpoints/seed{s}__{arm}/checkpoint.pt``, removed
once its record (and weights) are written and read back intact. ``study.json``
records the :func:`fingerprint` of the configuration
(:func:`causalattn.lab.studies.storage.open_study_folder`).
"""

from __future__ import annotations

import functools
import json
import shutil
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.storage import StudyFolder, expect_shapes, open_study_folder, slug

__all__ = ["RunFiles", "checkpoint_folder", "drop_checkpoint", "fingerprint", "read_record", "unit_name",
           "unit_outcomes"]


def unit_name(seed: int, label: str) -> str:
    return f"seed{seed}__{slug(label)}"


def checkpoint_folder(out_dir: Path, seed: int, label: str) -> Path:
    """Where the unfinished run (seed, label) checkpoints, locally or through :class:`Segments`."""
    return out_dir / "checkpoints" / unit_name(seed, label)


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
    out[f"iterations_to_{threshold:g}"] = int(reached.iloc[0]) if len(reached) else int(n_iters)
    out[f"iterations_to_{threshold:g}_censored"] = not len(reached)
    for probe in probes:
        for t in at_iterations:
            out[f"{probe}_at_{t}"] = float(logged.at[t, probe])
    return out


def read_record(record: Any, run: tuple[int, str], at_iterations, threshold, probes, n_iters) -> dict:
    """``record`` if it is a whole record of ``run`` whose outcomes its history gives; else a LookupError or ValueError.

    A record written by another version, with other or missing fields, is
    thereby found out when the study is resumed, instead of stopping it later.
    """
    if (record["seed"], record["arm"]) != run:
        raise ValueError(f"the record of another run: seed {record['seed']!r}, arm {record['arm']!r}")
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
        if keep_models:  # the weights carry the configuration's checksum, like the units
            self.models = StudyFolder(out_dir / "models", self.folder.study)
            self.models.units.mkdir(exist_ok=True)
            self.shapes = {name: value.shape for name, value in build_model(model_config).state_dict().items()}

    def load(self, seed: int, label: str, **outcomes: Any) -> tuple[dict, dict[str, np.ndarray] | None] | None:
        """The saved record of run ``(seed, label)`` and its weights (None without ``keep_models``); None if not done.

        ``outcomes`` (``at_iterations``, ``threshold``, ``probes``, ``n_iters``) are
        those of :func:`read_record`: a record whose history does not give them is recomputed.
        """
        run = f"the training run of seed {seed}, arm {label!r}"
        name = unit_name(seed, label)
        record = self.folder.load_json(f"{name}.json", recompute=run,
                                       parse=functools.partial(read_record, run=(seed, label), **outcomes))
        if record is None:
            return None
        if self.models is None:
            return record, None
        kept = self.models.load_arrays(f"{name}.npz", recompute=run, parse=expect_shapes(self.shapes))
        return None if kept is None else (record, kept)

    def save(self, seed: int, label: str, record: dict, weights: dict[str, np.ndarray] | None) -> None:
        """Save a finished run (the weights first: a record on disk means its run is complete); drop its checkpoint."""
        name = unit_name(seed, label)
        if self.models is not None:
            self.models.save_arrays(f"{name}.npz", weights)
        self.folder.save_json(f"{name}.json", record)
        if self.folder.load_json(f"{name}.json") is not None and (
                self.models is None or self.models.load_arrays(f"{name}.npz") is not None):
            drop_checkpoint(self.out_dir, seed, label)  # written and read back intact: no longer needed
