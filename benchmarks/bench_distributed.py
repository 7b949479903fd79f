"""Benchmark: a training study on a Dask cluster, trained in checkpoint segments vs one task per run.

On a cluster the runs of :func:`causalattn.lab.training.study.training_study` with
an ``out_dir`` train in segments of ``checkpoint_every`` updates: each segment
returns its checkpoint to the client, which saves it and sends it with the
next segment (so an interrupted study resumes mid-run without a shared
filesystem). Without ``out_dir`` a run is one task. This script times the two,
interleaved ``--repeats`` times, on a ``LocalCluster`` of 2 worker processes
(one thread each): 2 seeds x 2 arms, a d = 64 model on T = 64 sequences, 200
updates per run, segments of 100 and of 20 updates. It prints the wall time
of each study and the load average next to it.
First it measures, in this process, the fixed cost of a segment: ``train``
called on a finished checkpoint (building the model, the task and the
optimizer, reading and checking the checkpoint), against the time of one update, and
the size of a checkpoint.

Run: ``python benchmarks/bench_distributed.py [--repeats 2]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import distributed
import torch

from causalattn.lab.models.transformer import ModelConfig
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.checkpoints import CHECKPOINT_FILE
from causalattn.lab.training.config import Freeze, TrainConfig
from causalattn.lab.training.loop import train
from causalattn.lab.training.study import training_study

MODEL = ModelConfig(d_model=64, max_seq_len=64)
TASK = TaskConfig(seq_len=64)
TRAIN = TrainConfig(n_iters=200, log_every=20, batch_size=32, eval_sequences=64)
ARMS = {"control": (), "freeze:W2_O:until100": (Freeze("W2_O", until=100),)}
OPTIONS = dict(seeds=(0, 1), threshold=0.5, progress=False)
VARIANTS = [("one task per run (no out_dir)", 100, False), ("segments of 100 updates", 100, True),
            ("segments of 20 updates", 20, True)]


def segment_cost(repeats: int) -> None:
    """Median seconds of ``train`` on a finished checkpoint (no update), and of one update."""
    config = replace(TRAIN, n_iters=20, checkpoint_every=20)
    with tempfile.TemporaryDirectory() as folder:
        result = train(MODEL, TASK, config, checkpoint_dir=folder, progress=False)
        size = (Path(folder) / CHECKPOINT_FILE).stat().st_size
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            train(MODEL, TASK, config, checkpoint_dir=folder, progress=False)
            seconds.append(time.perf_counter() - start)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"fixed cost of a segment: {statistics.median(seconds) * 1e3:.0f} ms (median of {repeats}); one update: "
          f"{result.seconds[-1] / config.n_iters * 1e3:.0f} ms; a checkpoint: {size / 1e6:.2f} MB "
          f"(load average {load})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    segment_cost(5)
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
          as cluster, distributed.Client(cluster) as client):
        short = replace(TRAIN, n_iters=20, checkpoint_every=20)
        training_study(MODEL, TASK, short, ARMS, client=client, **OPTIONS)  # start the workers
        for _ in range(args.repeats):
            for name, every, saved in VARIANTS:
                with tempfile.TemporaryDirectory() as folder:
                    start = time.perf_counter()
                    training_study(MODEL, TASK, replace(TRAIN, checkpoint_every=every), ARMS, client=client,
                                   out_dir=folder if saved else None, **OPTIONS)
                    seconds = time.perf_counter() - start
                load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"{name:32s} {seconds:7.1f} s (load average {load})", flush=True)


if __name__ == "__main__":
    main()
