r"""Attribution patching: every head's ablation effect estimated from one forward and one backward pass.

Ablating head :math:`h` of layer :math:`l` replaces its output :math:`z = z^{(l)}_h`
(each position's ``hook_z`` slice, before the output projection) by
:math:`z'` (zero, the reference mean, another unit's output, the
counterfactual's). To first order in :math:`z' - z`, the change of unit
:math:`i`'s outcome :math:`Y_i` is

.. math::

    \widehat{\Delta}_{i,lh} = \sum_{t, d} \frac{\partial Y_i}{\partial z_{i t d}}\,(z'_{itd} - z_{itd}),

and one backward pass of :math:`\sum_i Y_i` gives the gradient at every head of
every layer at once (each unit's outcome depends on its own sequence only).
So the effect of all :math:`m` heads costs about two forward passes instead of
:math:`m` ablated ones. The approximation is linear: it misjudges heads whose
ablation moves the model far (saturated softmaxes, large ablations such as
zeroing), which is why :mod:`causalattn.lab.studies.head_screen` uses it only
to *choose* the heads that the exact ablation then measures on other units.

Accuracies are step functions of the logits (their gradient is zero almost
everywhere), so they are attributed through the loss of the same tokens
(:func:`causalattn.lab.tasks.outcomes.differentiable`).

References
----------
Nanda, N. (2023). Attribution Patching: Activation Patching At Industrial Scale. neelnanda.io.
Kramar, J., Lieberum, T., Shah, R. and Nanda, N. (2024). AtP*: An efficient and scalable method for
localizing LLM behaviour to components. arXiv:2403.00745.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from causalattn._validation import check_positive_int
from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.models.hooks import hooks
from causalattn.lab.studies.runner import replace_z
from causalattn.lab.tasks.outcomes import differentiable
from causalattn.lab.tasks.units import Units

__all__ = ["Attribution", "attribution_patching"]


@dataclasses.dataclass(frozen=True, repr=False)
class Attribution:
    """Attribution-patching estimates of each head's effect: :func:`attribution_patching`'s result.

    Attributes
    ----------
    heads : list of (int, int)
    labels : list of str
        The treatment of each head (``"ablate:L3H1:mean"``).
    scores : numpy.ndarray (heads, n)
        Each unit's estimated change of ``outcome`` under each head's treatment.
    outcome : str
        The outcome attributed (differentiable; see :func:`causalattn.lab.tasks.outcomes.differentiable`).
    unit : str
    """

    heads: list[tuple[int, int]]
    labels: list[str]
    scores: np.ndarray
    outcome: str
    unit: str

    def __repr__(self) -> str:
        return f"Attribution({len(self.heads)} heads x {self.scores.shape[1]} {self.unit}s; outcome {self.outcome})"

    @property
    def estimates(self) -> np.ndarray:
        """Each head's estimated average effect (the mean over units; NaN units left out)."""
        return np.nanmean(self.scores, axis=1)

    def to_frame(self) -> pd.DataFrame:
        """One row per head: ``layer, head, treatment, outcome, atp, rank`` (rank 1: the largest ``|atp|``)."""
        estimates = self.estimates
        order = np.argsort(-np.abs(estimates), kind="stable")
        rank = np.empty(len(order), dtype=int)
        rank[order] = np.arange(1, len(order) + 1)
        return pd.DataFrame({"layer": [h[0] for h in self.heads], "head": [h[1] for h in self.heads],
                             "treatment": self.labels, "outcome": self.outcome, "atp": estimates, "rank": rank})

    def top(self, k: int) -> list[tuple[int, int]]:
        """The ``k`` heads of largest estimated effect in absolute value (ties: lower layer, then head)."""
        k = check_positive_int("k", k)
        frame = self.to_frame().sort_values("rank")
        return [(int(r.layer), int(r.head)) for r in frame.head(k).itertuples()]


def attribution_patching(model: HookedModel, units: Units, arms: Sequence[Intervention], reference: Reference | None,
                         *, outcome: str, batch_size: int = 8, offset: int = 0,
                         progress: Any = None) -> Attribution:
    """Estimate each arm's effect on ``outcome`` for every unit, from one forward and one backward pass per batch.

    Parameters
    ----------
    model : HookedModel
    units : Units
        The units (:func:`causalattn.lab.tasks.units.draw_units`).
    arms : sequence of Intervention
        One-head interventions on head outputs (``HeadAblation``, ``HeadPatch``).
    reference : Reference or None
        The reference activations the arms read (mean, resample, patching).
    outcome : str
        An outcome of the units; an accuracy is attributed through its loss.
    batch_size : int
        Units per forward and backward pass (the backward pass keeps every layer's activations).
    offset : int
        Index of the first unit in the study (pairs units with reference rows, as in the exact runs).
    progress : tqdm bar, optional
        Moved by the number of units of each batch.

    Examples
    --------
    >>> import torch
    >>> from causalattn.lab import ModelConfig, build_model, HeadAblation
    >>> from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
    >>> from causalattn.lab.tasks.units import draw_units
    >>> task = RepeatedTokensTask(RepeatedTokensConfig(length=6, vocab_size=40))
    >>> model = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, vocab_size=40, max_seq_len=16))
    >>> units, _ = draw_units(task, 8, 0, 1)
    >>> atp = attribution_patching(model, units, [HeadAblation(1, 0), HeadAblation(1, 1)], None,
    ...                            outcome="in_context_accuracy")
    >>> atp.outcome, atp.scores.shape
    ('in_context_loss', (2, 8))
    """
    batch_size = check_positive_int("batch_size", batch_size)
    target = differentiable(outcome)
    layers = sorted({arm.layers[0] for arm in arms})
    names = {layer: model.hook_name("z", layer) for layer in layers}
    scores = np.full((len(arms), len(units)), np.nan)
    parameters = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    model.eval()
    try:
        for p in parameters:  # gradients with respect to the head outputs only, none for the weights
            p.requires_grad_(False)
        for start in range(0, len(units), batch_size):
            batch = units.slice(start, start + batch_size)
            scores[:, start:start + len(batch)] = _attribute(model, batch, arms, reference, offset + start, target,
                                                             names)
            if progress is not None:
                progress.update(len(batch))
    finally:
        for p in parameters:
            p.requires_grad_(True)
        model.train(was_training)
    return Attribution([(arm.layers[0], arm.head) for arm in arms], [arm.label for arm in arms], scores, target,
                       units.kind)


def _attribute(model: HookedModel, units: Units, arms: Sequence[Intervention], reference: Reference | None,
               offset: int, outcome: str, names: dict[int, str]) -> np.ndarray:
    """(arms, B) first-order effects on one batch: a forward pass keeping each layer's z, a backward pass."""
    kept: dict[int, torch.Tensor] = {}

    def keep(layer: int):
        def fn(z: torch.Tensor, hook: Any = None) -> torch.Tensor | None:
            if z.requires_grad:  # depends on an earlier kept z: a node of the graph
                z.retain_grad()
                kept[layer] = z
                return None
            z = z.detach().requires_grad_()  # the first kept layer: a leaf
            kept[layer] = z
            return z
        return fn

    outcomes = units.outcomes()
    with torch.enable_grad(), hooks(model, [(name, keep(layer)) for layer, name in names.items()]):
        logits = model(units.batch.inputs)
        values = outcomes(logits[outcomes.where.to(logits.device)], (outcome,))[outcome]
        values.nan_to_num(0.0).sum().backward()
    out = np.empty((len(arms), len(units)))
    with torch.no_grad():
        for index, arm in enumerate(arms):
            layer = arm.layers[0]
            z = kept[layer].detach()
            delta = replace_z(model, layer, z, arm.hooks(model, reference, offset=offset)) - z  # (B, T, head, d)
            out[index] = (kept[layer].grad * delta)[:, :, arm.head].double().sum((1, 2)).cpu().numpy()
    out[:, torch.isnan(values.detach()).cpu().numpy()] = np.nan
    return out
