"""Benchmark: how fast the simplified model learns the induction head (issue 4, "Targets").

Trains the simplified associative-memory model of Bietti et al. (2023) with the
default recipe (``TrainConfig()``, ``ModelConfig()``) on the default task
(fixed triggers, K = 5, T = 256) and prints

- seconds per training iteration at batch 16 and 32, before (the explicit path,
  every hook point computed, as before issue 10) and after (the fused path that
  training takes: :meth:`causalattn.lab.models.transformer.Transformer.logits_at`), in
  process CPU time with one torch thread, the two interleaved (``--only steps``),
- the training time until held-out in-context accuracy first reaches 0.9 and
  0.99 (measured on 1,000 held-out sequences at every logged point; the time
  counts the training updates, not these evaluations; the wall time including
  them is printed too),
- the same for d = 128 (where the model's memories may saturate below 0.99),
- the time until random triggers reach 0.95,
- the one-layer baseline's in-context accuracy (the paper reports ~55%),
- the time for k seeds trained side by side (k runs on local processes, one
  torch thread each, through :func:`causalattn.lab.studies.engine.run_jobs`, as a
  training study runs them) against k runs one after the other,
- peak memory (ru_maxrss).

Reference (issue 4): the authors' code, d = 128, batch 64, SGD, takes about
1.1 s per iteration on this machine and passes 0.9 after about 350 s.
Targets: 0.99 within 120 s on 2 cores, d <= 256 (issue 4); within 60 s (issue 10).

Run:  python benchmarks/bench_training.py [--threads N] [--quick] [--seeds K] [--only steps|runs|seeds]
Timings are only meaningful on an otherwise idle machine; the script prints
the load average with every timing.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time

import torch
from torch.nn import functional as F

from causalattn.lab.models.hooks import hooks
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.engine import run_jobs
from causalattn.lab.tasks.bigram import BigramTask, TaskConfig
from causalattn.lab.tasks.metrics import evaluate
from causalattn.lab.training.config import TrainConfig
from causalattn.lab.training.loop import train
from causalattn.lab.training.muon import Float32Muon

HELD_OUT = 1000  # held-out sequences behind every logged accuracy
FINAL_EVAL = 2000  # sequences for the final accuracy of each run


def run(name: str, model: ModelConfig, task: TaskConfig, recipe: TrainConfig, thresholds: tuple[float, ...]) -> None:
    wall = time.perf_counter()
    result = train(model, task, recipe, progress=False)
    wall = time.perf_counter() - wall
    final = evaluate(result.model, BigramTask(task), FINAL_EVAL, seed=recipe.eval_seed + 1)
    per_iter = result.seconds[-1] / recipe.n_iters
    print(f"\n{name}: d={model.d_model}, layers={model.n_layers}, {recipe.optimizer} lr={recipe.lr}, "
          f"batch={recipe.batch_size}, loss_on={recipe.loss_on}, {recipe.n_iters} iterations")
    print(f"  seconds per iteration: {per_iter:.3f}   training time {result.seconds[-1]:.1f} s, "
          f"wall time with evaluations {wall:.1f} s   (load average {os.getloadavg()})")
    for threshold in thresholds:
        iters, secs = result.iterations_to(threshold), result.seconds_to(threshold)
        reached = "not reached" if iters != iters else f"iteration {iters:.0f}, {secs:.1f} s of training"
        print(f"  held-out in-context accuracy >= {threshold}: {reached}")
    print(f"  final in-context accuracy on {FINAL_EVAL} held-out sequences: {final['in_context_accuracy']:.4f} "
          f"(best logged {result.history['in_context_accuracy'].max():.4f}); "
          f"probes at the end: " + ", ".join(f"{k}={result.history[k].iloc[-1]:.3f}"
                                             for k in ("w1k_recall", "w2k_recall", "w2o_recall")))


def steps(batch_sizes: tuple[int, ...], repeats: int) -> None:
    """Process CPU seconds per update (one thread), explicit path against fused path, interleaved ``repeats`` times.

    An update is what ``train`` does for the default recipe: sample a batch, the
    in-context loss, backward, a Muon step (the default optimizer). A no-op hook on ``hook_embed``
    makes the model compute every hook point explicitly (the path before issue 10).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    recipe, task = TrainConfig(), BigramTask(TaskConfig())
    print(f"\nseconds per update (process CPU time, 1 thread; median [min] of {repeats} interleaved repeats "
          "of 5 updates each)")
    for batch_size in batch_sizes:
        generator = torch.Generator().manual_seed(0)
        model = build_model(ModelConfig())
        optimizer = Float32Muon([p for p in model.parameters() if p.requires_grad], lr=recipe.lr,
                                weight_decay=recipe.weight_decay)

        def update(model=model, optimizer=optimizer, generator=generator, batch_size=batch_size) -> None:
            batch = task.sample(batch_size, generator)
            logits = model.logits_at(batch.inputs, batch.in_context)
            loss = F.cross_entropy(logits, batch.targets[batch.in_context], reduction="sum") / max(1, len(logits))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        times: dict[str, list[float]] = {"explicit": [], "fused": []}
        update()  # warm-up
        for _ in range(repeats):
            for path, seconds in times.items():
                with hooks(model, {"hook_embed": lambda x, hook: None} if path == "explicit" else {}):
                    tick = time.process_time()
                    for _ in range(5):
                        update()
                    seconds.append((time.process_time() - tick) / 5)
        median = {path: sorted(s)[len(s) // 2] for path, s in times.items()}
        print(f"  batch {batch_size}: explicit {median['explicit']:.3f} [{min(times['explicit']):.3f}] s, "
              f"fused {median['fused']:.3f} [{min(times['fused']):.3f}] s: "
              f"{median['explicit'] / median['fused']:.2f}x   (load average {os.getloadavg()})")
    torch.set_num_threads(threads)


def one_seed(job: tuple[ModelConfig, TaskConfig, TrainConfig, int], *, report) -> float:
    """Train one seed (``job``: model, task, recipe, seed); its training seconds (a job of :func:`run_jobs`)."""
    model, task, recipe, seed = job
    result = train(dataclasses.replace(model, init_seed=seed), task, dataclasses.replace(recipe, data_seed=seed),
                   progress=False, callback=lambda done: report(1))
    return result.seconds[-1]


def seeds(k: int, recipe: TrainConfig, threads: int) -> None:
    """k seeds one after the other (``threads`` torch threads) vs side by side (k runs, 2 processes, 1 thread)."""
    model, task = ModelConfig(), TaskConfig()
    jobs = [(model, task, recipe, seed) for seed in range(k)]
    print(f"\n{k} seeds x {recipe.n_iters} iterations (default model and task)")
    wall = time.perf_counter()
    list(run_jobs(one_seed, jobs, torch_threads=threads))
    one_by_one = time.perf_counter() - wall
    print(f"  one after the other, {threads} torch threads: {one_by_one:.1f} s   (load average {os.getloadavg()})")
    wall = time.perf_counter()
    list(run_jobs(one_seed, jobs, n_jobs=2, torch_threads=1))
    side_by_side = time.perf_counter() - wall
    print(f"  side by side, 2 processes x 1 thread: {side_by_side:.1f} s = {side_by_side / one_by_one:.2f} x "
          f"one after the other   (load average {os.getloadavg()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--quick", action="store_true", help="fewer iterations (a smoke test, not the benchmark)")
    parser.add_argument("--seeds", type=int, default=4, help="k of the k-seeds comparison")
    parser.add_argument("--only", choices=("steps", "runs", "seeds"), default=None, help="run one part only")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats of the per-update timing")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores; "
          f"load average before: {os.getloadavg()}")

    recipe = dataclasses.replace(TrainConfig(), eval_sequences=HELD_OUT, log_every=25)
    if args.quick:
        recipe = dataclasses.replace(recipe, n_iters=20, log_every=10, checkpoint_every=20)
    fixed, random_triggers = TaskConfig(), TaskConfig(random_triggers=True)
    if args.only in (None, "steps"):
        steps((16, 32), 1 if args.quick else args.repeats)
    if args.only in (None, "runs"):
        run("Fixed triggers, default model", ModelConfig(), fixed, recipe, (0.9, 0.99))
        run("Fixed triggers, d = 128", ModelConfig(d_model=128), fixed, recipe, (0.9, 0.99))
        run("Random triggers, default model", ModelConfig(), random_triggers, recipe, (0.9, 0.95))
        run("One-layer baseline, fixed triggers", ModelConfig(n_layers=1), fixed, recipe, (0.5,))
    if args.only in (None, "seeds"):
        # training cost only: a small held-out set, evaluated at the start and the end
        length = 20 if args.quick else 200
        short = dataclasses.replace(recipe, n_iters=length, log_every=length, checkpoint_every=length,
                                    eval_sequences=32)
        seeds(args.seeds, short, torch.get_num_threads())

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB on Linux
    print(f"\npeak memory (ru_maxrss): {peak:.2f} GiB (limit 4 GiB)")
    print(f"load average after: {os.getloadavg()}")
    if peak >= 4:
        sys.exit("peak memory above 4 GiB")


if __name__ == "__main__":
    main()
