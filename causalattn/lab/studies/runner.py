"""Running the arms of an intervention study: one clean forward pass, then every intervention from its cache.

:func:`run_arms` evaluates a batch under the control arm and under each
intervention. The clean forward pass is run once and cached at the residual
stream entering the earliest intervened layer (and at the head outputs of that
layer); an intervention that only replaces head outputs resumes from them
(skipping that layer's attention), one that names the activations it needs
(:meth:`causalattn.lab.interventions.base.Intervention.cache_names`, e.g. a path to the
logits, which only normalizes and unembeds) computes its logits from them, any
other resumes from the residual stream with ``run_from``. That fast path is
:class:`causalattn.lab.models.contract.Resumable`; a model without it re-runs the whole
forward pass under each arm's hooks.
:func:`arm_outcomes` reduces an arm's per-token metrics to the arrays a study keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel, Resumable
from causalattn.lab.models.hooks import hook_points, hooks, run_with_cache
from causalattn.lab.tasks.bigram import Batch
from causalattn.lab.tasks.metrics import TokenMetrics, token_metrics

__all__ = ["CONTROL", "arm_outcomes", "arm_shapes", "run_arms"]

CONTROL = "control"


@torch.no_grad()
def run_arms(model: HookedModel, batch: Batch, arms: list[Intervention | None], reference: Reference,
             offset: int, *, measure: Callable[[torch.Tensor, Batch], Any] = token_metrics) -> dict[str, Any]:
    """Per-token metrics of ``batch`` under each arm (``None`` = control, keyed ``"control"``).

    ``offset`` is the index of the batch's first sequence in the study, so that
    interventions drawing from ``reference`` (resample ablation) pair the same
    sequences whatever the batching. ``measure(logits, batch)`` reduces an arm's
    logits (default :func:`causalattn.lab.tasks.metrics.token_metrics`).

    Examples
    --------
    >>> import torch
    >>> from causalattn.lab import BigramTask, TaskConfig, build_model, ModelConfig, HeadAblation, Reference
    >>> task = BigramTask(TaskConfig(seq_len=16))
    >>> model = build_model(ModelConfig(d_model=32, max_seq_len=16)).eval()
    >>> batch = task.sample(4, torch.Generator().manual_seed(0))
    >>> arms = [HeadAblation(1, 0, "zero")]
    >>> reference = Reference.compute(model, batch, arms)
    >>> sorted(run_arms(model, batch, [None, *arms], reference, offset=0))
    ['ablate:L1H0:zero', 'control']
    """
    if not isinstance(model, Resumable):
        return {CONTROL if arm is None else arm.label: _rerun(model, batch, arm, reference, offset, measure)
                for arm in arms}
    treated = [a for a in arms if a is not None]
    from_cache = {a.label: a.cache_names(model) for a in treated}
    resumed = [a for a in treated if not from_cache[a.label]]
    resid = {layer: model.hook_name("resid_pre", layer) for layer in {min(a.layers) for a in resumed}}
    z_names = {layer: model.hook_name("z", layer) for layer in {a.layers[0] for a in resumed if _z_only(a)}}
    names = {*resid.values(), *z_names.values()}.union(*from_cache.values())
    logits, cache = run_with_cache(model, batch.inputs, names=sorted(names))
    # contiguous once, so that each arm's copy of z is contiguous and W_O reads it without another copy
    z_clean = {layer: cache[name].contiguous() for layer, name in z_names.items()}
    clean = measure(logits, batch) if any(arm is None for arm in arms) else None
    del logits  # (batch, position, vocab): not kept alive while the treated arms run (peak memory)
    out = {}
    for arm in arms:
        if arm is None:
            out[CONTROL] = clean
            continue
        if from_cache[arm.label]:
            out[arm.label] = measure(arm.from_cache(model, cache, reference, offset), batch)
            continue
        fwd = arm.hooks(model, reference, offset=offset)
        layer = min(arm.layers)
        resid_pre = cache[resid[layer]]
        if _z_only(arm):
            arm_logits = _run_from_z(model, layer, resid_pre, z_clean[layer], fwd)
        else:
            with hooks(model, fwd):
                arm_logits = model.run_from(layer, resid_pre)
        out[arm.label] = measure(arm_logits, batch)
        del arm_logits  # freed before the next arm's forward pass
    return out


def _z_only(arm: Intervention) -> bool:
    """Whether the arm only replaces head outputs, in one layer (it can resume after that layer's attention)."""
    return arm.acts_on_z_only and len(arm.layers) == 1


def _rerun(model: HookedModel, batch: Batch, arm: Intervention | None, reference: Reference,
           offset: int, measure: Callable[[torch.Tensor, Batch], Any]) -> Any:
    """``measure`` of the whole forward pass under the arm's hooks (no fast path)."""
    with hooks(model, [] if arm is None else arm.hooks(model, reference, offset=offset)):
        return measure(model(batch.inputs), batch)


def _run_from_z(model: Resumable, layer: int, resid_pre: torch.Tensor, z: torch.Tensor, fwd) -> torch.Tensor:
    """Logits when block ``layer``'s head outputs are replaced by ``fwd`` applied to the clean ``z``.

    The attention pattern of that layer is unchanged by a ``hook_z`` intervention,
    so the block resumes after it (``run_from_z``; tests check this against the
    full forward pass under the same hooks).
    """
    point = hook_points(model)[model.hook_name("z", layer)]
    for _, fn in fwd:
        replaced = fn(z, hook=point)
        z = z if replaced is None else replaced
    return model.run_from_z(layer, resid_pre, z)


def arm_shapes(batch: Batch) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the arrays that :func:`arm_outcomes` keeps for an arm on ``batch``."""
    n_in_context, n = int(batch.in_context.sum()), len(batch)
    return {"correct": (n_in_context,), "loss": (n_in_context,), "global_accuracy": (n,), "global_loss": (n,)}


def arm_outcomes(metrics: TokenMetrics, batch: Batch) -> dict[str, np.ndarray]:
    """Arrays kept for an arm on a batch: in-context tokens (flat, row-major) and per-sequence global outcomes."""
    in_context, glob = batch.in_context, batch.non_trigger
    correct, loss = metrics.correct, metrics.loss
    n_glob = glob.sum(1).clamp_min(1)
    return {
        "correct": correct[in_context].numpy().astype(np.int8),
        "loss": loss[in_context].double().numpy(),
        "global_accuracy": ((correct & glob).sum(1) / n_glob).double().numpy(),
        "global_loss": ((loss * glob).sum(1) / n_glob).double().numpy(),
    }
