"""Training runs on workers: the job that trains one run, whole or in segments shipped through a Dask cluster.

Locally, :func:`train_unit` trains a run to the end, checkpointing into the
study's folder. On a cluster the workers share no filesystem with the
caller: :class:`Segments` cuts each run into segments of
``checkpoint_every`` updates; each segment returns its checkpoint's bytes,
which the caller saves and sends with the next one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from causalattn.lab.studies.storage import write_atomic
from causalattn.lab.training.checkpoints import CHECKPOINT_FILE
from causalattn.lab.training.loop import train
from causalattn.lab.training.units import checkpoint_folder, run_configs, verified_checkpoint

__all__ = ["Segments", "train_unit"]


def train_unit(model_config, task_config, train_config, seed, label, schedule, checkpoint_dir, keep_model=False,
                segment=None, *, report) -> dict:
    """Train one (seed, arm) run on a worker, reporting each update; return its record (the caller saves it).

    The record carries the final weights only with ``keep_model``, so they
    travel back from the worker only when the study keeps its models.
    With a ``checkpoint_dir`` the run checkpoints there and trains to the end
    (a local run: the caller's filesystem). With a ``segment``
    ``(checkpoint, start, stop)`` instead (a run on a cluster) it resumes from
    the checkpoint's bytes (None: from iteration ``start`` = 0) in a temporary
    folder of the worker and trains up to iteration ``stop``; before the last
    iteration it returns ``{"seed", "arm", "iteration", "checkpoint"}``, the
    bytes of the checkpoint written there, for the caller to save and send with
    the next segment.
    """
    if segment is None:
        return _train(model_config, task_config, train_config, seed, label, schedule, checkpoint_dir, 0, None,
                      keep_model, report)
    checkpoint, start, stop = segment
    stop = None if stop == train_config.n_iters else stop  # the last segment returns the record
    with tempfile.TemporaryDirectory(prefix="causalattn-segment-") as folder:
        path = Path(folder) / CHECKPOINT_FILE
        if checkpoint is not None:
            path.write_bytes(checkpoint)
        try:
            return _train(model_config, task_config, train_config, seed, label, schedule, folder, start, stop,
                          keep_model, report)
        except _SegmentEnd:
            return {"seed": seed, "arm": label, "iteration": stop, "checkpoint": path.read_bytes()}


class _SegmentEnd(Exception):
    """Raised by the callback of a segment's last update, just after ``train`` wrote that iteration's checkpoint."""


def _train(model_config, task_config, train_config, seed, label, schedule, checkpoint_dir, start, stop,
           keep_model, report) -> dict:
    """Train (resuming from ``checkpoint_dir``), reporting the updates after ``start``; stop at ``stop`` if given.

    The record carries the final ``weights`` only with ``keep_model`` (they travel back from the worker).
    """
    reported = start

    def count(done: int) -> None:
        nonlocal reported
        report(done - reported)  # a run resumed from a checkpoint first counts the updates done before
        reported = done
        if done == stop:
            raise _SegmentEnd

    result = train(*run_configs(model_config, task_config, train_config, seed, schedule),
                   checkpoint_dir=checkpoint_dir, progress=False, callback=count)
    count(train_config.n_iters)  # a run loaded finished from its checkpoint did no update here
    history = result.history
    record = {
        "seed": seed,
        "arm": label,
        "schedule": [item.label for item in schedule],
        "torch_threads": torch.get_num_threads(),
        "history": {column: history[column].tolist() for column in history.columns},
    }
    if keep_model:
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

    def _job(self, seed: int, label: str, checkpoint: bytes | None, start: int) -> tuple:
        return (*self.configs, seed, label, self.arms[label], None, self.keep_models,
                (checkpoint, start, self._stop(start)))

    def _path(self, seed: int, label: str) -> Path:
        return checkpoint_folder(self.out_dir, seed, label) / CHECKPOINT_FILE

    def first(self, seed: int, label: str) -> tuple:
        """The job of the run's first segment: from its saved checkpoint if it is intact and the run's, else from 0."""
        done = 0 if self.out_dir is None else verified_checkpoint(self.out_dir, seed, label, *run_configs(
            *self.configs, seed, self.arms[label]))
        if not done:
            return self._job(seed, label, None, 0)
        self.resumed += done
        return self._job(seed, label, self._path(seed, label).read_bytes(), done)

    def follow(self, index: int, result: dict) -> tuple | None:
        """Save a segment's checkpoint and return the next segment's job; None for a finished run's record."""
        if "checkpoint" not in result:
            return None
        seed, label = result["seed"], result["arm"]
        path = self._path(seed, label)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, result["checkpoint"])
        return self._job(seed, label, result["checkpoint"], result["iteration"])
