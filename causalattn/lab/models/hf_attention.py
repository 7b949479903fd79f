"""The explicit attention the HuggingFace adapter runs in a layer while a hook needs it: patterns and per-head inputs.

Fused attention kernels never form the attention pattern, and every head of a
layer reads one residual stream. While a hook acts on a layer's
``hook_pattern`` or on its ``hook_{q,k,v}_input``,
:class:`causalattn.lab.models.hf.HFModel` runs that layer's attention through
:func:`hooked_eager_attention` (registered with ``transformers``'
``AttentionInterface`` as ``"causalattn_hooked_eager"``), following an
:class:`AttentionPlan`:

* the pattern passes through the layer's ``hook_pattern`` point;
* a query head whose query (key, value) input a hook changed gets the query
  (key, value) computed from that input: :func:`split_inputs` runs the
  layer's own attention module on the normalized input (its projections, the
  query/key norms of families that have them, rotary positions) and keeps the
  head's slice. With grouped-query attention the key and value of a kv head
  are repeated per query head first, so one query head's key can differ from
  its kv-group siblings'.

References
----------
Nanda, N. and Bloom, J. (2022). TransformerLens (``use_split_qkv_input``, ``ungroup_grouped_query_attention``).
Ainslie, J. et al. (2023). GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
Checkpoints. EMNLP.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, eager_mask

from causalattn.lab.models.hooks import HookPoint, in_use

__all__ = ["HOOKED_ATTENTION", "AttentionPlan", "hooked_eager_attention", "planned", "split_inputs"]

HOOKED_ATTENTION = "causalattn_hooked_eager"


@dataclass
class AttentionPlan:
    """What :func:`hooked_eager_attention` does in one layer during one call of the model."""

    pattern: HookPoint | None = None  # the layer's hook_pattern point, if a hook acts on it
    # queries (0), keys (1), values (2) -> query head -> its own (batch, position, d_head) tensor
    own: dict[int, dict[int, torch.Tensor]] = field(default_factory=dict)
    capturing: bool = False  # a run of split_inputs: record q, k, v and stop


# attention module -> its plan (None: a layer run by the model's own fused attention when that is sdpa)
_PLANS: contextvars.ContextVar[dict[nn.Module, AttentionPlan | None]] = contextvars.ContextVar("causalattn_plans")


class _Captured(Exception):
    """Stops a capturing run of an attention module once its queries, keys and values are formed."""

    def __init__(self, qkv: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> None:
        super().__init__("queries, keys and values captured")
        self.qkv = qkv


def _repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(batch, kv_heads, position, d_head) -> (batch, kv_heads * n_rep, position, d_head), each kv head repeated."""
    return x if n_rep == 1 else x.repeat_interleave(n_rep, dim=1)


def hooked_eager_attention(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                           attention_mask: torch.Tensor | None, scaling: float | None = None,
                           dropout: float = 0.0, **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T * scaling + mask) v`` following the layer's :class:`AttentionPlan`.

    The eager attention of ``transformers`` (keys and values of a kv head shared
    by its ``n_rep`` query heads; softmax in float32). ``query`` is
    (batch, heads, query, d_head), ``key``/``value`` (batch, kv_heads, key, d_head);
    returns the output (batch, query, heads, d_head) and the pattern. Layers
    without a plan keep the fused ``sdpa`` kernel when the model uses it.
    """
    plans = _PLANS.get({})
    plan = plans.get(module)
    if module in plans and plan is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    n_rep = query.shape[1] // key.shape[1]
    key, value = _repeat_kv(key, n_rep), _repeat_kv(value, n_rep)  # (batch, heads, key, d_head)
    if plan is not None and plan.capturing:
        raise _Captured((query, key, value))
    if plan is not None and plan.own:
        qkv = [query, key, value]
        for i, heads in plan.own.items():
            qkv[i] = qkv[i].clone()
            for head, own in heads.items():
                qkv[i][:, head] = own
        query, key, value = qkv
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (batch, heads, query, key)
    if attention_mask is None:  # plain causal attention
        queries, length = scores.shape[-2:]
        future = torch.ones(queries, length, dtype=torch.bool, device=scores.device).triu(1 + length - queries)
        scores = scores.masked_fill(future, float("-inf"))
    elif attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask, float("-inf"))
    else:
        scores = scores + attention_mask[..., : scores.shape[-1]]
    pattern = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    if plan is not None and plan.pattern is not None:
        pattern = plan.pattern(pattern)
    pattern = nn.functional.dropout(pattern, p=dropout, training=module.training)
    out = torch.matmul(pattern, value).transpose(1, 2).contiguous()  # (batch, query, heads, d_head)
    return out, pattern


AttentionInterface.register(HOOKED_ATTENTION, hooked_eager_attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(HOOKED_ATTENTION, eager_mask)


@contextmanager
def planned(config: Any, plans: dict[nn.Module, AttentionPlan | None]) -> Iterator[None]:
    """Run the attention of the layers in ``plans`` with :func:`hooked_eager_attention` for the block.

    With an sdpa model, the layers without a plan keep the fused kernel.
    """
    implementation = config._attn_implementation
    token = _PLANS.set(plans)
    config._attn_implementation = HOOKED_ATTENTION
    try:
        yield
    finally:
        config._attn_implementation = implementation
        _PLANS.reset(token)


def split_inputs(points: tuple[HookPoint, HookPoint, HookPoint], norm: nn.Module, n_heads: int, plan: AttentionPlan,
                 resid: list[torch.Tensor]) -> Callable:
    """A forward pre-hook (``with_kwargs=True``) of an attention module that fills ``plan.own`` from ``points``.

    ``resid[0]`` is the residual stream entering the decoder layer (stored by
    a pre-hook of the layer). Each of the layer's ``hook_{q,k,v}_input`` points in
    use receives a copy of it per head (batch, position, heads, d_model); for
    each head whose returned input differs, the attention module runs once
    more on ``norm`` of that input, stopped by :func:`hooked_eager_attention`
    when its queries, keys and values are formed, and the head's slice is kept.
    """
    def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
        if plan.capturing:  # the capturing run itself
            return
        x = resid[0]
        plan.own = {}
        for i, point in enumerate(points):
            if not in_use(point):
                continue
            inputs = point(x.unsqueeze(2).repeat(1, 1, n_heads, 1))  # (batch, position, heads, d_model)
            for head in range(n_heads):
                if torch.equal(inputs[:, :, head], x):
                    continue
                hidden = norm(inputs[:, :, head])
                plan.capturing = True
                try:
                    if args:
                        module(hidden, *args[1:], **kwargs)
                    else:
                        module(*args, **{**kwargs, "hidden_states": hidden})
                except _Captured as captured:
                    plan.own.setdefault(i, {})[head] = captured.qkv[i][:, head]
                else:  # pragma: no cover - an attention module that does not call the attention interface
                    raise RuntimeError(f"{type(module).__name__} did not call the attention interface")
                finally:
                    plan.capturing = False
    return hook
