"""Benchmark: the head map of SmolLM2-135M (all 270 heads x 64 sequences of 2 x 32 tokens), fast path vs naive.

Setup (issue 20): SmolLM2-135M-Instruct (30 layers x 9 heads) on the CPU, 64 repeated-random-token
sequences (``[bos]`` + 32 tokens + the same 32), batches of 16, mean ablation of each head (the reference mean
over 32 other sequences), outcome: in-context accuracy on the second copy.

* ``fast``: :func:`causalattn.lab.studies.head_map.head_map`, the whole map: per batch one clean forward
  pass, then each head's pass resumes after its layer's attention from the clean cache, several heads stacked
  into one forward pass, logits computed at the 31 read positions only;
* ``naive``: for each head and batch, the whole model re-run under the head's ablation hook, full logits,
  then the same outcomes. Its time per head does not depend on the head (always a full forward pass), so it
  is measured on a sample of heads (``--naive-heads``, one in each of that many evenly spaced layers) and
  multiplied by the number of heads, plus one clean pass per batch for the control outcomes (which the fast
  map's time includes too); the spread over the sampled heads is printed;
* ``screen``: :func:`causalattn.lab.studies.head_screen.screen_heads` with ``top=20``: attribution
  patching of every head on a random half (32 sequences), exact confirmation of the top 20 on the other half;
* ``reference``: :meth:`Reference.compute` for the map (every head's mean over the 32 reference sequences) and
  for layer 0 alone, its forward pass stopped after the last point needed, against the whole model run to
  cache the same points (what it did before), the fastest of 3 of each;
* the rank correlation (Spearman) between attribution patching (on all 64 sequences, of the in-context
  loss) and the exact map's effects on the in-context loss, and on the in-context accuracy by absolute value.

Each part runs in its own process (``--part``) so that its peak resident memory is its own; times are wall
and CPU seconds after the model is loaded, with the load average before and after. Timings are only
meaningful on an idle machine. A 2-core machine also runs about 10% slower after minutes of full load than
rested (naive 8.2 s per head rested, 8.8-9.1 s right after the fast map, 2026-12-07): the default order, fast
then naive, samples the naive heads in the warm state the 20-40 minute runs they stand for spend most of their
time in; naive first on a rested machine understates the speed-up (1.66x against 1.85-1.90x).

Run: ``python benchmarks/bench_head_map.py [--n-sequences 64] [--layers 0 15 29]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
from scipy import stats

from causalattn.lab.analysis.attribution import attribution_patching
from causalattn.lab.interventions import HeadAblation, Reference
from causalattn.lab.models.hooks import hooks, run_with_cache
from causalattn.lab.models.pretrained import load_pretrained
from causalattn.lab.studies.head_map import head_map
from causalattn.lab.studies.head_screen import screen_heads
from causalattn.lab.tasks.repeated import RepeatedTokensTask
from causalattn.lab.tasks.units import draw_units

KIND, BATCH, REFERENCE, TOP = "mean", 16, 32, 20


def _clock():
    return time.perf_counter(), time.process_time()


def _since(clock) -> dict:
    wall, cpu = clock
    return {"seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}


def measure(part: str, n_sequences: int, layers: list[int] | None, naive_heads: int) -> dict:
    clock = _clock()
    model, tokenizer = load_pretrained("smollm2-135m", progress=False)
    loading = _since(clock)
    task = RepeatedTokensTask.from_tokenizer(tokenizer, 32, vocab_size=model.vocab_size)
    options = dict(kind=KIND, n_sequences=n_sequences, batch_size=BATCH, reference_size=REFERENCE, seed=0,
                   progress=False)
    out: dict = {"part": part, "loading": loading, "load_before": os.getloadavg(), "threads": torch.get_num_threads()}
    clock = _clock()
    if part == "fast":
        result = head_map(model, task, layers=layers, **options)
        out["heads"] = len(result.heads)
        out["effects"] = {name: result.effects(name).to_frame()["estimate"].tolist()
                          for name in ("in_context_accuracy", "in_context_loss")}
        out["discoveries"] = {c: [f"L{r.layer}H{r.head}" for r in result.discoveries(alpha=0.05, adjust=c).itertuples()]
                              for c in ("holm", "bh", "by")}
        out["summary"] = result.summary(alpha=0.05, adjust="holm", top=12)
    elif part == "naive":
        units, reference_tokens = draw_units(task, n_sequences, 0, REFERENCE)
        picked = np.linspace(0, model.n_layers - 1, naive_heads).round().astype(int)
        arms = [HeadAblation(int(layer), int(layer) % model.n_heads, KIND) for layer in picked]
        reference = Reference.compute(model, reference_tokens, arms)
        per_head = []
        with torch.no_grad():
            control_clock = _clock()  # a map needs the control outcomes too: one clean pass per batch
            for start in range(0, n_sequences, BATCH):
                batch = units.slice(start, start + BATCH)
                outcomes = batch.outcomes()
                outcomes(model(batch.batch.inputs)[outcomes.where])
            out["control"] = _since(control_clock)
            for arm in arms:
                head_clock = _clock()
                for start in range(0, n_sequences, BATCH):
                    batch = units.slice(start, start + BATCH)
                    outcomes = batch.outcomes()
                    with hooks(model, arm.hooks(model, reference, offset=start)):
                        outcomes(model(batch.batch.inputs)[outcomes.where])
                per_head.append(_since(head_clock))
        out["per_head"] = per_head
        out["sampled"] = [arm.label for arm in arms]
    elif part == "screen":
        screen = screen_heads(model, task, top=TOP, layers=layers, **options)
        out["selected"] = [list(h) for h in screen.selected]
        out["discoveries"] = {c: len(screen.confirmed.discoveries(alpha=0.05, adjust=c)) for c in ("holm", "bh", "by")}
    elif part == "reference":  # the map's reference (all heads) and one of layer 0: stopped vs whole passes
        _, reference_tokens = draw_units(task, n_sequences, 0, REFERENCE)
        mapped = layers or range(model.n_layers)
        for name, arms in (("layer0", [HeadAblation(0, head, KIND) for head in range(model.n_heads)]),
                           ("map", [HeadAblation(layer, head, KIND) for layer in mapped
                                    for head in range(model.n_heads)])):
            names = sorted({point for arm in arms for _, point in arm.needs(model)})
            with torch.no_grad():
                whole, stopped = [], []
                for _ in range(3):  # the fastest of 3 of each, interleaved
                    clock_ = _clock()
                    run_with_cache(model, reference_tokens, names=names)  # what Reference.compute did before
                    whole.append(_since(clock_))
                    clock_ = _clock()
                    Reference.compute(model, reference_tokens, arms)
                    stopped.append(_since(clock_))
            out[name] = {"whole": min(whole, key=lambda t: t["seconds"]),
                         "stopped": min(stopped, key=lambda t: t["seconds"])}
    elif part == "atp":
        units, reference_tokens = draw_units(task, n_sequences, 0, REFERENCE)
        heads = [(layer, head) for layer in (layers or range(model.n_layers)) for head in range(model.n_heads)]
        arms = [HeadAblation(layer, head, KIND) for layer, head in heads]
        reference = Reference.compute(model, reference_tokens, arms)
        atp = attribution_patching(model, units, arms, reference, outcome="in_context_accuracy")
        out["atp"] = atp.estimates.tolist()
    out.update(_since(clock))
    out["load_after"] = os.getloadavg()
    out["peak_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def _run(part: str, args) -> dict:
    command = [sys.executable, __file__, "--part", part, "--n-sequences", str(args.n_sequences),
               "--naive-heads", str(args.naive_heads)]
    if args.layers:
        command += ["--layers", *map(str, args.layers)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-sequences", type=int, default=64)
    parser.add_argument("--layers", type=int, nargs="+", default=None, help="map these layers only (default: all)")
    parser.add_argument("--naive-heads", type=int, default=6, help="heads re-run naively (the sample)")
    parser.add_argument("--parts", nargs="+", default=["fast", "naive", "screen", "atp"])
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        print(json.dumps(measure(args.part, args.n_sequences, args.layers, args.naive_heads)))
        return
    print(f"load average before: {os.getloadavg()}")
    results = {part: _run(part, args) for part in args.parts}
    for part, r in results.items():
        print(f"{part:>6}: {r['seconds']:7.1f} s wall, {r['cpu_seconds']:7.1f} s CPU after loading "
              f"({r['loading']['seconds']:.1f} s to load); peak {r['peak_gib']:.2f} GiB; load {r['load_before']} -> "
              f"{r['load_after']}")
    if "reference" in results:
        for name in ("layer0", "map"):
            whole, stopped = results["reference"][name]["whole"], results["reference"][name]["stopped"]
            print(f"reference {name}: {stopped['seconds']:.3f} s stopped after the last point needed, "
                  f"{whole['seconds']:.3f} s through the whole model ({whole['seconds'] / stopped['seconds']:.1f}x; "
                  f"CPU {stopped['cpu_seconds']:.3f} vs {whole['cpu_seconds']:.3f} s)")
    if "fast" in results and "naive" in results:
        fast, naive = results["fast"], results["naive"]
        per_head = np.array([h["seconds"] for h in naive["per_head"]])
        per_head_cpu = np.array([h["cpu_seconds"] for h in naive["per_head"]])
        n, control = fast["heads"], naive["control"]
        naive_wall = control["seconds"] + n * per_head.mean()
        naive_cpu = control["cpu_seconds"] + n * per_head_cpu.mean()
        print(f"naive: {per_head.mean():.2f} s per head over {len(per_head)} sampled heads ({naive['sampled']}; "
              f"range {per_head.min():.2f}-{per_head.max():.2f} s) and {control['seconds']:.1f} s for the control "
              f"pass, so {n} heads: {naive_wall:.0f} s wall, {naive_cpu:.0f} s CPU")
        wall, cpu = naive_wall / fast["seconds"], naive_cpu / fast["cpu_seconds"]
        print(f"fast map of {n} heads: {fast['seconds']:.0f} s wall, {fast['cpu_seconds']:.0f} s CPU; speed-up "
              f"{wall:.2f}x wall, {cpu:.2f}x CPU; whole map with model loading "
              f"{fast['seconds'] + fast['loading']['seconds']:.0f} s")
    if "fast" in results and "atp" in results:
        atp = np.array(results["atp"]["atp"])
        loss = np.array(results["fast"]["effects"]["in_context_loss"])
        accuracy = np.array(results["fast"]["effects"]["in_context_accuracy"])
        print(f"Spearman, AtP vs exact effect on in_context_loss: {stats.spearmanr(atp, loss).statistic:.3f}; "
              f"|AtP| vs |exact effect on in_context_accuracy|: "
              f"{stats.spearmanr(np.abs(atp), np.abs(accuracy)).statistic:.3f}")
        top = set(np.argsort(-np.abs(atp))[:TOP]) & set(np.argsort(-np.abs(accuracy))[:TOP])
        print(f"top {TOP} by |AtP| and by |exact accuracy effect| share {len(top)} heads")
    if "fast" in results:
        print(results["fast"]["summary"])
        for correction, found in results["fast"]["discoveries"].items():
            print(f"exact map, in-context accuracy, {correction}: {len(found)} discoveries: {' '.join(found)}")
    if "screen" in results:
        s = results["screen"]
        print(f"screen + confirmation of the top {TOP}: {s['seconds']:.0f} s after loading; discoveries "
              f"{s['discoveries']}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
