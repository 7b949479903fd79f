"""Training runs on workers: the job that trains one run, whole or in segments shipped through a Dask cluster.

Locally, :func:`train_unit` trains a run to the end, checkpointing into the
study's folder. On a cluster the workers share no filesystem with the
caller: :class:`Segments` cuts each run into segments of
``checkpoint_every`` updates; each segment returns its checkpoint's bytes,
which the caller saves and sends with the next one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from causalattn.lab.models.transformer import ModelConfig
from causalattn.lab.studies.checksummed import write_atomic
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.checkpoints import CHECKPOINT_FILE
from causalattn.lab.training.config import Freeze, TrainConfig
from causalattn.lab.training.loop import train
from causalattn.lab.training.units import checkpoint_folder, run_configs, verified_checkpoint

__all__ = ["Segment", "Segments", "TrainingJob", "train_unit"]


@dataclass(frozen=True)
class Segment:
    """A part of a run on a cluster: from the checkpoint's bytes (None: from iteration 0) up to iteration ``stop``."""

    checkpoint: bytes | None
    start: int
    stop: int


@dataclass(frozen=True)
class TrainingJob:
    """One job of a training study: run ``(seed, label)`` trained under ``schedule``, whole or one segment of it.

    Attributes
    ----------
    model_config, task_config, train_config
        The study's configuration (``init_seed``, ``data_seed`` and ``freeze`` are set per run).
    seed : int
    label : str
        The arm.
    schedule : tuple of Freeze
        The arm's freezing schedule.
    checkpoint_dir : Path or None
        A local run checkpoints here (the caller's filesystem) and trains to the end.
    keep_model : bool
        Whether the record carries the final weights back.
    segment : Segment or None
        A run on a cluster: the segment to train, in a temporary folder of the worker.
    """

    model_config: ModelConfig
    task_config: TaskConfig
    train_config: TrainConfig
    seed: int
    label: str
    schedule: tuple[Freeze, ...]
    checkpoint_dir: Path | None = None
    keep_model: bool = False
    segment: Segment | None = None


def train_unit(job: TrainingJob, *, report) -> dict:
    """Train one (seed, arm) run on a worker, reporting each update; return its record (the caller saves it).

    The record carries the final weights only with ``job.keep_model``, so they
    travel back from the worker only when the study keeps its models.
    Without a segment the run checkpoints in ``job.checkpoint_dir`` and trains
    to the end (a local run: the caller's filesystem). With a segment instead
    (a run on a cluster) it resumes from the checkpoint's bytes (None: from
    iteration ``start`` = 0) in a temporary folder of the worker and trains up
    to iteration ``stop``; before the last iteration it returns ``{"seed",
    "arm", "iteration", "checkpoint"}``, the bytes of the checkpoint written
    there, for the caller to save and send with the next segment.
    """
    if job.segment is None:
        return _train(job, job.checkpoint_dir, 0, None, report)
    segment = job.segment
    stop = None if segment.stop == job.train_config.n_iters else segment.stop  # the last segment returns the record
    with tempfile.TemporaryDirectory(prefix="causalattn-segment-") as folder:
        path = Path(folder) / CHECKPOINT_FILE
        if segment.checkpoint is not None:
            path.write_bytes(segment.checkpoint)
        try:
            return _train(job, folder, segment.start, stop, report)
        except _SegmentEnd:
            return {"seed": job.seed, "arm": job.label, "iteration": stop, "checkpoint": path.read_bytes()}


class _SegmentEnd(Exception):
    """Raised by the callback of a segment's last update, just after ``train`` wrote that iteration's checkpoint."""


def _train(job: TrainingJob, checkpoint_dir, start: int, stop: int | None, report) -> dict:
    """Train (resuming from ``checkpoint_dir``), reporting the updates after ``start``; stop at ``stop`` if given.

    The record carries the final ``weights`` only with ``job.keep_model`` (they travel back from the worker).
    """
    reported = start

    def count(done: int) -> None:
        nonlocal reported
        report(done - reported)  # a run resumed from a checkpoint first counts the updates done before
        reported = done
        if done == stop:
            raise _SegmentEnd

    result = train(*run_configs(job.model_config, job.task_config, job.train_config, job.seed, job.schedule),
                   checkpoint_dir=checkpoint_dir, progress=False, callback=count)
    count(job.train_config.n_iters)  # a run loaded finished from its checkpoint did no update here
    history = result.history
    record = {
        "seed": job.seed,
        "arm": job.label,
        "schedule": [item.label for item in job.schedule],
        "torch_threads": torch.get_num_threads(),
        "history": {column: history[column].tolist() for column in history.columns},
    }
    if job.keep_model:
        record["weights"] = {name: value.detach().numpy().copy() for name, value in result.model.state_dict().items()}
    return record


class Segments:
    """The runs of a study on a cluster, trained in segments of ``checkpoint_every`` updates.

    Workers share no filesystem with this process: each segment returns its
    checkpoint's bytes, which :meth:`follow` writes to
    ``out_dir/checkpoints/{unit}/checkpoint.pt`` (the file a local run writes,
    checksummed, written atomically) and sends with the next segment. A rerun
    starts each unfinished run from its saved checkpoint (:meth:`first`). Once
    a run's record is saved, its checkpoint is removed, as a local run's is.
    Without ``out_dir`` a run is one segment: there is nothing to resume from.
    """

    def __init__(self, model_config, task_config, train_config, arms, out_dir, keep_models) -> None:
        self.configs = (model_config, task_config, train_config)
        self.arms = arms
        self.out_dir = out_dir
        self.keep_models = keep_models
        self.resumed = 0  # updates done before, in the checkpoints the runs resume from

    def _stop(self, start: int) -> int:
        train_config = self.configs[2]
        if self.out_dir is None:
            return train_config.n_iters
        return min((start // train_config.checkpoint_every + 1) * train_config.checkpoint_every, train_config.n_iters)

    def _job(self, seed: int, label: str, checkpoint: bytes | None, start: int) -> TrainingJob:
        return TrainingJob(*self.configs, seed, label, self.arms[label], keep_model=self.keep_models,
                           segment=Segment(checkpoint, start, self._stop(start)))

    def _path(self, seed: int, label: str) -> Path:
        return checkpoint_folder(self.out_dir, seed, label) / CHECKPOINT_FILE

    def first(self, seed: int, label: str) -> TrainingJob:
        """The job of the run's first segment: from its saved checkpoint if it is intact and the run's, else from 0."""
        done = 0 if self.out_dir is None else verified_checkpoint(self.out_dir, seed, label, *run_configs(
            *self.configs, seed, self.arms[label]))
        if not done:
            return self._job(seed, label, None, 0)
        self.resumed += done
        return self._job(seed, label, self._path(seed, label).read_bytes(), done)

    def follow(self, index: int, result: dict) -> TrainingJob | None:
        """Save a segment's checkpoint and return the next segment's job; None for a finished run's record."""
        if "checkpoint" not in result:
            return None
        seed, label = result["seed"], result["arm"]
        path = self._path(seed, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, result["checkpoint"])
        return self._job(seed, label, result["checkpoint"], result["iteration"])
