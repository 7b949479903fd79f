"""Benchmark: evaluation study of zero and mean ablation of every head vs re-running the whole model.

Setup (issue 5): 1,000 held-out sequences (T = 256) of the fixed-trigger task,
a 2-layer vanilla transformer with 4 heads per layer and d = 128; treatments:
zero and mean ablation of each of the 8 heads (16 treatments + control = 17 arms).

* study: ``evaluation_study`` (one clean forward pass per batch, cached; each
  treatment resumes after the intervened head outputs), then its effects table
  (paired Neyman, sign-flip FRT with 10,000 draws, bootstrap) for in-context accuracy;
* baseline: for every arm and batch, the whole model re-run under the
  intervention's hooks, then the same per-token metrics; half of it runs before
  the study and half after (load drift), then both are also timed interleaved
  on one batch, three times.

Prints wall times, the cost per (sequence x arm) forward, the speed-up and the
peak resident memory (ru_maxrss) of the process. Timings depend on the load of
the machine: the script prints the load average next to them.

Run: ``python benchmarks/bench_ablation.py [--n-sequences 1000] [--batch-size 50]``
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from causalattn.lab.interventions import HeadAblation, Reference
from causalattn.lab.models.hooks import hooks
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.evaluation import evaluation_study
from causalattn.lab.studies.runner import run_arms
from causalattn.lab.tasks.bigram import BigramTask, TaskConfig
from causalattn.lab.tasks.metrics import token_metrics


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


@torch.no_grad()
def rerun_all(model, batch, treatments, reference, offset) -> None:
    """The baseline on one batch: the whole model re-run under each arm's hooks, then the per-token metrics."""
    for arm in [None, *treatments]:
        with hooks(model, [] if arm is None else arm.hooks(model, reference, offset=offset)):
            token_metrics(model(batch.inputs), batch)


def baseline(model, task, treatments, first, stop, batch_size, reference_size, n_sequences, seed=0) -> float:
    """The baseline on sequences ``first:stop`` of the study's data (same reference); wall time of its forwards."""
    generator = torch.Generator().manual_seed(seed)
    data = task.sample(n_sequences, generator)
    reference = Reference.compute(model, task.sample(reference_size, generator), treatments, generator=generator)
    start = time.perf_counter()
    for offset in range(first, stop, batch_size):
        rerun_all(model, data.slice(offset, min(offset + batch_size, stop)), treatments, reference, offset)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sequences", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--seq-len", type=int, default=256)
    args = parser.parse_args()
    torch.manual_seed(0)
    task = BigramTask(TaskConfig(seq_len=args.seq_len))
    model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=4, d_model=128, max_seq_len=args.seq_len))
    model.eval()
    treatments = [HeadAblation(layer, head, kind) for layer in range(2) for head in range(4)
                  for kind in ("zero", "mean")]
    n_arms = len(treatments) + 1
    n_forwards = args.n_sequences * n_arms
    print(f"{args.n_sequences} sequences x {n_arms} arms (T={args.seq_len}, d=128, 2 layers x 4 heads), "
          f"batch {args.batch_size}, torch threads {torch.get_num_threads()}, load average {os.getloadavg()}")

    # warm-up (allocator, thread pool): the first forward passes of a process are slower
    evaluation_study(model, task, treatments[:2], n_sequences=args.batch_size, batch_size=args.batch_size,
                     progress=False)
    # The load of a shared machine drifts over minutes: the baseline runs half before and half after the
    # study, so that a steady drift weighs on both alike.
    half = args.n_sequences // 2
    t_base = baseline(model, task, treatments, 0, half, args.batch_size, 64, args.n_sequences)
    start = time.perf_counter()
    study = evaluation_study(model, task, treatments, n_sequences=args.n_sequences, batch_size=args.batch_size,
                             progress=False)
    t_study = time.perf_counter() - start
    start = time.perf_counter()
    table = study.effects("in_context_accuracy")
    t_stats = time.perf_counter() - start
    rss_study = peak_rss_gib()
    t_base += baseline(model, task, treatments, half, args.n_sequences, args.batch_size, 64, args.n_sequences)
    print(f"study     : {t_study:7.1f} s forward passes ({1e3 * t_study / n_forwards:.2f} ms per sequence x arm), "
          f"+ {t_stats:.1f} s statistics for {len(table)} effects; peak RSS {rss_study:.2f} GiB")
    print(f"baseline  : {t_base:7.1f} s forward passes ({1e3 * t_base / n_forwards:.2f} ms per sequence x arm)")
    print(f"speed-up of the study's forward passes over the baseline: {t_base / t_study:.2f}x (target >= 2x); "
          f"peak RSS {peak_rss_gib():.2f} GiB (target < 4 GiB); load average now {os.getloadavg()}")
    # The two runs above are minutes apart; on a shared machine the load drifts between them. Interleaving
    # the two on one batch, repeatedly, compares them under the same load.
    generator = torch.Generator().manual_seed(1)
    batch = task.sample(args.batch_size, generator)
    reference = Reference.compute(model, task.sample(64, generator), treatments)
    for rep in range(3):
        start = time.perf_counter()
        run_arms(model, batch, [None, *treatments], reference, 0)
        t_one = time.perf_counter() - start
        start = time.perf_counter()
        rerun_all(model, batch, treatments, reference, 0)
        t_all = time.perf_counter() - start
        print(f"interleaved, one batch of {args.batch_size} x {n_arms} arms, rep {rep}: study {t_one:.2f} s, "
              f"baseline {t_all:.2f} s, speed-up {t_all / t_one:.2f}x (load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
