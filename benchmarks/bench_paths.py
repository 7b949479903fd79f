"""Benchmark: path arms on SmolLM2-135M from the clean run's cache, against re-running the whole model per arm.

Setup (issue 19): 16 sequences of 32 random tokens repeated (one batch), SmolLM2-135M-Instruct on the CPU,
mean ablation; senders: 10 heads, one in each of layers 10-19 (head ``layer mod 9``). Arms per sender:

* ``ablate:``, the total effect, as ``evaluation_study`` runs it (resumed after the sender's attention);
* ``path:...->logits``, the direct effect: from the cache, only the final norm and the unembedding run;
* ``path:...->L{layer + 5}H0.k``, a receiver path: rerun from the receiver's layer.

Each kind is timed through :func:`causalattn.lab.studies.runner.run_arms` (the cached paths) and, for the
two path kinds, by re-running the whole model under the arm's hooks (what a path costs without the cache;
the numbers agree, checked here). Prints CPU seconds per arm and batch (steadier than wall time on a shared
machine) and the load average.

Run: ``python benchmarks/bench_paths.py``
"""

from __future__ import annotations

import os
import time

import torch

from causalattn.lab.interventions import HeadAblation, HeadPath, Reference
from causalattn.lab.models.hooks import hooks
from causalattn.lab.models.pretrained import load_pretrained
from causalattn.lab.studies.runner import run_arms
from causalattn.lab.tasks.metrics import token_metrics
from causalattn.lab.tasks.repeated import RepeatedTokensTask

SENDERS = [(layer, layer % 9) for layer in range(10, 20)]


def _cpu(fn) -> tuple[float, object]:
    start = time.process_time()
    out = fn()
    return time.process_time() - start, out


@torch.no_grad()
def main() -> None:
    print(f"load average before: {os.getloadavg()}")
    model, tokenizer = load_pretrained("smollm2-135m", progress=False)
    task = RepeatedTokensTask.from_tokenizer(tokenizer, 32, vocab_size=model.vocab_size)
    batch = task.sample(16, torch.Generator().manual_seed(0))
    kinds = {
        "ablation (total)": [HeadAblation(layer, head, "mean") for layer, head in SENDERS],
        "path to the logits (direct)": [HeadPath(layer, head, "mean") for layer, head in SENDERS],
        "path into a later key": [HeadPath(layer, head, "mean", (layer + 5, 0, "k")) for layer, head in SENDERS],
    }
    reference = Reference.compute(model, task.sample(32, torch.Generator().manual_seed(1)),
                                  [arm for arms in kinds.values() for arm in arms])
    control, _ = _cpu(lambda: run_arms(model, batch, [None], reference, 0))
    print(f"clean forward pass (control): {control:.1f} s CPU")
    for name, arms in kinds.items():
        cached, fast = _cpu(lambda arms=arms: run_arms(model, batch, arms, reference, 0))
        line = f"{name:>28}: {(cached - control) / len(arms):6.2f} s CPU per arm through run_arms"
        if isinstance(arms[0], HeadPath):
            def rerun(arms=arms):
                out = {}
                for arm in arms:
                    with hooks(model, arm.hooks(model, reference)):
                        out[arm.label] = token_metrics(model(batch.inputs), batch)
                return out
            full, slow = _cpu(rerun)
            for arm in arms:
                torch.testing.assert_close(fast[arm.label].loss, slow[arm.label].loss, rtol=1e-4, atol=1e-4)
            line += f"; {full / len(arms):6.2f} s re-running the model ({full / (cached - control):.1f}x)"
        print(line)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
