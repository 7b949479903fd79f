r"""Many single-head interventions on one batch, stacked: the fast path of the head map.

:func:`run_heads` evaluates a batch of units under the control arm and under
each of many interventions that replace head outputs in one layer
(:class:`causalattn.lab.interventions.ablation.HeadAblation`, ``HeadPatch``):

1. one clean forward pass, caching every intervened layer's residual stream
   (``hook_resid_pre``) and head outputs (``hook_z``);
2. an intervention on head :math:`h` of layer :math:`l` changes :math:`z^{(l)}_h`
   only, so the attention of layer :math:`l` (and everything before it) is the
   clean one: the pass resumes after it (``run_from_z``);
3. ``per_forward`` interventions of one layer are stacked along the batch
   dimension (copy :math:`j` of the batch has head :math:`h_j` replaced) and run as one
   forward pass;
4. the logits are computed at the units' read positions only (``where=``),
   where the outcomes are read (:class:`causalattn.lab.tasks.outcomes.UnitOutcomes`).

The cost of head :math:`h` of layer :math:`l`, in forward passes of the batch, is
about :math:`(L - l - \tfrac12)/L` of the layers plus the unembedding at the read
positions, against a whole forward pass with full logits when the model is
re-run under the intervention's hooks (what :func:`causalattn.lab.studies.runner.run_arms`
does for a model without the fast path, and what this module does then too).
The outcomes are the same up to float rounding (tests check both against the
re-run, on the lab's model, a tiny GPT-2 and a tiny Llama with grouped-query attention).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from causalattn._validation import check_positive_int
from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel, Resumable
from causalattn.lab.models.hooks import hooks, run_with_cache
from causalattn.lab.studies.runner import replace_z, z_only
from causalattn.lab.tasks.bigram import Batch
from causalattn.lab.tasks.outcomes import UnitOutcomes

__all__ = ["run_heads"]

Outcomes = dict[str, np.ndarray]  # outcome name -> (B,) float64

@torch.no_grad()
def run_heads(model: HookedModel, batch: Batch, arms: Sequence[Intervention], reference: Reference | None,
              offset: int, outcomes: UnitOutcomes, *, per_forward: int = 1, names: tuple[str, ...] | None = None,
              report: Callable[[int], None] | None = None) -> tuple[Outcomes, dict[str, Outcomes]]:
    """The outcomes of ``batch`` under control and under each arm: ``(control, {label: outcomes})``.

    Parameters
    ----------
    model : HookedModel
        With the fast path (:class:`causalattn.lab.models.contract.Resumable`),
        stackable arms resume after their layer's attention, ``per_forward`` at
        a time; otherwise every arm re-runs the whole model under its hooks.
    batch : Batch
        The units (sequences ``offset, offset + 1, ...`` of the study).
    arms : sequence of Intervention
        Interventions; those that replace head outputs in one layer take the fast path
        (:func:`causalattn.lab.studies.runner.z_only`).
    reference : Reference or None
        Reference activations of the arms that read them (mean, resample, patching).
    offset : int
        Index of the batch's first unit in the study (pairs units with reference rows).
    outcomes : UnitOutcomes
        The batch's read positions and outcomes (``UnitOutcomes.of(batch)``).
    per_forward : int
        Interventions of one layer stacked into one forward pass (a batch of
        ``per_forward * len(batch)`` sequences): more is faster for small
        models, while the logits at the read positions take
        ``per_forward * n_read * vocab`` floats.
    names : tuple of str, optional
        The outcomes to compute (default: all of ``outcomes.names``).
    report : callable, optional
        ``report(k)`` after every forward pass that evaluated ``k`` arms (progress).

    Examples
    --------
    >>> import torch
    >>> from causalattn.lab import BigramTask, TaskConfig, build_model, ModelConfig, HeadAblation
    >>> from causalattn.lab.tasks.outcomes import UnitOutcomes
    >>> task = BigramTask(TaskConfig(seq_len=16))
    >>> model = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=32, max_seq_len=16)).eval()
    >>> batch = task.sample(4, torch.Generator().manual_seed(0))
    >>> arms = [HeadAblation(layer, head) for layer in range(2) for head in range(2)]
    >>> control, treated = run_heads(model, batch, arms, None, 0, UnitOutcomes.of(batch), per_forward=2)
    >>> sorted(treated), control["in_context_accuracy"].shape
    (['ablate:L0H0:zero', 'ablate:L0H1:zero', 'ablate:L1H0:zero', 'ablate:L1H1:zero'], (4,))
    """
    per_forward = check_positive_int("per_forward", per_forward)
    names = outcomes.names if names is None else names
    report = report or (lambda k: None)
    where = outcomes.where

    def score(logits: torch.Tensor, read: bool = False) -> Outcomes:
        """The outcomes from all the logits (batch, position, vocab), or from those at the read positions."""
        logits = logits if read else logits[where.to(logits.device)]
        return {name: value.numpy() for name, value in outcomes(logits, names).items()}

    fast = isinstance(model, Resumable)
    stacked = [arm for arm in arms if fast and z_only(arm)]
    layers = sorted({arm.layers[0] for arm in stacked})
    cached = [model.hook_name(point, layer) for layer in layers for point in ("resid_pre", "z")]
    logits, cache = run_with_cache(model, batch.inputs, names=cached)
    control = score(logits)
    del logits  # (batch, position, vocab): not kept alive while the arms run
    treated: dict[str, Outcomes] = {}
    for arm in arms:
        if arm not in stacked:
            with hooks(model, arm.hooks(model, reference, offset=offset)):
                treated[arm.label] = score(model(batch.inputs))
            report(1)
    for layer in layers:
        group = [arm for arm in stacked if arm.layers[0] == layer]
        resid_pre = cache[model.hook_name("resid_pre", layer)]
        z_clean = cache[model.hook_name("z", layer)].contiguous()
        for start in range(0, len(group), per_forward):
            chunk = group[start:start + per_forward]
            z = torch.cat([replace_z(model, layer, z_clean, arm.hooks(model, reference, offset=offset))
                           for arm in chunk])  # (k * batch, position, head, d_head): copy j has arm j applied
            k = len(chunk)
            stacked_logits = model.run_from_z(layer, resid_pre.repeat(k, 1, 1), z, where=where.repeat(k, 1))
            for arm, part in zip(chunk, stacked_logits.chunk(k), strict=True):
                treated[arm.label] = score(part, read=True)
            del stacked_logits
            report(k)
    return control, {arm.label: treated[arm.label] for arm in arms}
