r"""The fused forward pass of the simplified transformer: the same logits without materializing the hook points.

Training with the in-context loss needs the logits at a few positions only.
:func:`fused_logits` computes them for a simplified
:class:`causalattn.lab.models.transformer.Transformer` with no hook attached
(the model calls it from ``forward`` and ``logits_at``), about 2x faster per
training update than the explicit computation:

- first layer: its input is the frozen embedding ``x_t = W_E[z_t] + W_pos[t]``,
  so its keys are ``(W_E W_K^T)[z_t] + (W_pos W_K^T)[t]`` and its values
  likewise (tables of 65 + T rows instead of a product over every position);
- last layer (``W_Q = I``): the scores of query ``h_t`` are
  :math:`h_t^T W_K h_s = (W_K^T h_t)^T h_s` and the output is
  :math:`W_O W_V \sum_s p_{ts} h_s`, so only the selected queries are
  multiplied by ``W_K`` and ``W_O W_V``, and the unembedding and ``W_F``
  act on the selected positions only. The selected positions of each
  sequence are packed into blocks of :data:`PACK` queries, each attending over
  the residual stream of its own sequence with a per-query causal mask.

The result and its gradients equal the explicit computation up to float
rounding (``tests/lab/test_fused_path.py``).

References
----------
Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, section 4.2 (the simplified model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch.nn import functional as F

if TYPE_CHECKING:
    from causalattn.lab.models.transformer import Transformer

__all__ = ["PACK", "fused_logits"]

# Query slots per block of the packed last layer (see Transformer.logits_at): a sequence with c
# selected positions fills ceil(c / PACK) blocks, each attending over that sequence's T positions.
PACK = 64


def fused_logits(model: Transformer, inputs: torch.Tensor, where: torch.Tensor | None) -> torch.Tensor:
    """Logits of a simplified ``model`` without hook points: (batch, T, vocab), or (n, vocab) at ``where``."""
    seq_len = inputs.shape[1]
    w_pos = model.W_pos[:seq_len]
    h = model.W_E[inputs] + w_pos  # (batch, position, d), frozen embeddings
    causal = model.blocks[0].attn.mask[:seq_len, :seq_len]
    *early, last = [block.attn for block in model.blocks]
    for layer, attn in enumerate(early):
        if layer == 0:  # keys and values of the embeddings from (vocab + T)-row tables
            keys = F.embedding(inputs, model.W_E @ attn.W_K.T) + w_pos @ attn.W_K.T
            values = (model.W_E @ attn.W_OV.T)[inputs] + w_pos @ attn.W_OV.T
        else:
            keys, values = h @ attn.W_K.T, h @ attn.W_OV.T
        pattern = torch.softmax(torch.baddbmm(causal, h, keys.transpose(1, 2)), dim=-1)  # (batch, query, key)
        h = h + torch.bmm(pattern, values)
    if where is not None:
        slots, context_of, mask = _pack(where)
        queries = h.new_zeros(mask.shape[0] * PACK, h.shape[2]).index_copy(0, slots, h[where] @ last.W_K)
        queries = queries.view(mask.shape[0], PACK, h.shape[2])  # (blocks, PACK, d)
        context = h.index_select(0, context_of)  # (blocks, T, d): the sequence of each block
    else:
        queries, context, mask = h @ last.W_K, h, causal
    # scores q^T W_K h_s = (W_K^T q) . h_s; output W_O W_V sum_s p_s h_s
    pattern = torch.softmax(torch.baddbmm(mask, queries, context.transpose(1, 2)), dim=-1)
    mixed = torch.bmm(pattern, context)  # (blocks, query, d)
    if where is not None:
        mixed, h = mixed.flatten(0, 1)[slots], h[where]  # (n, d)
    h = h + mixed @ (last.W_O @ last.W_V).T
    ff = model.blocks[-1].ff
    if ff is not None:
        h = h + ff(h)
    return h @ model.W_U.T


def _pack(where: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Blocks of PACK query slots holding each sequence's selected positions (row-major order of ``where``).

    Returns the slot of every selected position (n,), the sequence of every
    block (blocks,), and the additive causal mask (blocks, PACK, T): slot
    query at position t sees keys 0..t; an empty slot sees key 0 only.
    """
    seq, pos = where.nonzero(as_tuple=True)
    counts = where.sum(1)
    n_blocks = (counts + PACK - 1) // PACK  # per sequence
    rank = torch.arange(seq.shape[0], device=where.device) - (counts.cumsum(0) - counts)[seq]  # in its sequence
    slots = ((n_blocks.cumsum(0) - n_blocks)[seq] + rank // PACK) * PACK + rank % PACK
    total = int(n_blocks.sum())
    query_pos = torch.zeros(total * PACK, dtype=torch.long, device=where.device).index_copy(0, slots, pos)
    keys = torch.arange(where.shape[1], device=where.device)
    mask = torch.zeros(total * PACK, where.shape[1], device=where.device)
    mask.masked_fill_(keys > query_pos[:, None], float("-inf"))  # (slots, key)
    return slots, torch.repeat_interleave(n_blocks), mask.view(total, PACK, where.shape[1])
