"""Benchmark: 20 single-head ablations of SmolLM2-135M on repeated tokens, fast path vs re-running the model.

Setup (issue 9): 64 sequences of 64 random tokens repeated (64 + 64 tokens after
the bos token), SmolLM2-135M-Instruct (30 layers x 9 heads) on the CPU; treatments:
zero ablation of 20 single heads, one in each of layers 10-29 (head ``layer mod 9``),
where induction heads live; control + 20 arms.

* fast: :func:`causalattn.lab.studies.runner.run_arms`, the path of ``evaluation_study``:
  one clean forward pass per batch, cached; each ablation resumes after the
  intervened layer's attention (``run_from_z``);
* rerun: for every arm and batch, the whole model re-run under the ablation's
  hooks, then the same per-token metrics.

Each mode runs in its own process (``--mode``) so that its peak resident memory
(ru_maxrss, model included) is its own; the parent prints both, the speed-up in
wall time and in CPU time (steadier on a shared machine) and the load average.

Run: ``python benchmarks/bench_real_ablation.py [--n-sequences 64] [--batch-size 16]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from causalattn.lab.interventions import HeadAblation, Reference
from causalattn.lab.models.hooks import hooks
from causalattn.lab.models.pretrained import load_pretrained
from causalattn.lab.studies.runner import run_arms
from causalattn.lab.tasks.metrics import token_metrics
from causalattn.lab.tasks.repeated import RepeatedTokensTask

HEADS = [(layer, layer % 9) for layer in range(10, 30)]


@torch.no_grad()
def measure(mode: str, n_sequences: int, batch_size: int) -> dict:
    model, tokenizer = load_pretrained("smollm2-135m")
    task = RepeatedTokensTask.from_tokenizer(tokenizer, 64, vocab_size=model.vocab_size)
    data = task.sample(n_sequences, torch.Generator().manual_seed(0))
    arms = [HeadAblation(layer, head, "zero") for layer, head in HEADS]
    reference = Reference.compute(model, data, arms)  # zero ablation reads nothing: empty
    start, cpu = time.perf_counter(), time.process_time()
    for offset in range(0, n_sequences, batch_size):
        batch = data.slice(offset, offset + batch_size)
        if mode == "fast":
            run_arms(model, batch, [None, *arms], reference, offset)
        else:
            for arm in [None, *arms]:
                with hooks(model, [] if arm is None else arm.hooks(model, reference, offset=offset)):
                    token_metrics(model(batch.inputs), batch)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"mode": mode, "seconds": seconds, "cpu_seconds": cpu, "peak_gib": peak_gib,
            "load": os.getloadavg(), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sequences", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--mode", choices=("fast", "rerun"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.n_sequences, args.batch_size)))
        return
    print(f"load average before: {os.getloadavg()}")
    results = {}
    for mode in ("fast", "rerun"):
        done = subprocess.run([sys.executable, __file__, "--mode", mode, "--n-sequences", str(args.n_sequences),
                               "--batch-size", str(args.batch_size)], capture_output=True, text=True, check=True)
        results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
        r = results[mode]
        print(f"{mode:>5}: {r['seconds']:7.1f} s wall, {r['cpu_seconds']:7.1f} s CPU for 21 arms x {args.n_sequences} "
              f"sequences, peak RSS "
              f"{r['peak_gib']:.2f} GiB, {r['threads']} torch threads, load average after {r['load']}")
    speedup = results["rerun"]["seconds"] / results["fast"]["seconds"]
    cpu_speedup = results["rerun"]["cpu_seconds"] / results["fast"]["cpu_seconds"]
    print(f"speed-up of the fast path: {speedup:.2f}x wall, {cpu_speedup:.2f}x CPU time (target >= 1.5x); "
          f"peak under 3 GiB: "
          f"{max(r['peak_gib'] for r in results.values()) < 3}")


if __name__ == "__main__":
    main()
