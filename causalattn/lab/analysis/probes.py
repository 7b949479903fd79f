"""Memory recall probes of the simplified model (Bietti et al., 2023, eqs. 9 and 10).

Each trained matrix of the simplified two-layer model should become an
associative memory ``W ~ sum_i u_i v_i^T`` of known pairs ``(u_i, v_i)``. The
recall probe checks that ``W`` retrieves the right partner for every pair.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from causalattn.lab.models.contract import check_model
from causalattn.lab.models.transformer import SimplifiedAttention, Transformer
from causalattn.lab.tasks.bigram import BigramTask

__all__ = ["PROBE_KEYS", "recall", "memory_probes"]

PROBE_KEYS = ("w1k_recall", "w1k_recall_t64", "w2k_recall", "w2o_recall", "wf_kl")


def recall(matrix: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> float:
    r"""Recall of the memory pairs ``(left_i, right_i)`` by ``matrix`` (paper eq. 9).

    .. math::

        R = \frac{1}{n} \sum_{i=1}^n \mathbb{1}\Big\{ i = \arg\max_j \mathrm{left}_i^\top W \mathrm{right}_j \Big\}

    Parameters
    ----------
    matrix : torch.Tensor, shape (p, q)
    left : torch.Tensor, shape (n, p)
        One row per pair, e.g. the queries of an attention memory.
    right : torch.Tensor, shape (n, q)
        The partner of each row of ``left``, e.g. the keys.

    Returns
    -------
    float
        A perfect memory gives 1; a random matrix about ``1/n``.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, eq. (9).

    Examples
    --------
    >>> import torch
    >>> e = torch.eye(4)
    >>> recall(e, e, e)
    1.0
    """
    if matrix.dim() != 2 or left.dim() != 2 or right.dim() != 2:
        raise ValueError("`matrix`, `left` and `right` must be 2-d tensors")
    if left.shape[0] != right.shape[0] or left.shape[1] != matrix.shape[0] or right.shape[1] != matrix.shape[1]:
        raise ValueError(
            f"shapes do not fit: `left` {tuple(left.shape)}, `matrix` {tuple(matrix.shape)}, "
            f"`right` {tuple(right.shape)}"
            " (need left (n, p), matrix (p, q), right (n, q))"
        )
    with torch.no_grad():
        scores = left @ matrix @ right.T  # (n, n)
        hits = scores.argmax(1) == torch.arange(left.shape[0])
    return hits.float().mean().item()


def _kl_probe(model: Transformer, task: BigramTask) -> float:
    """Mean KL(pi_b(. | k) || softmax(W_U W_F w_E(k))) over the non-trigger tokens k (paper eq. 10)."""
    w_f = model.parameter_by_name("W_F")
    tokens = torch.arange(task.vocab_size)
    if task.fixed_triggers is not None:
        tokens = tokens[~torch.isin(tokens, task.fixed_triggers)]
    with torch.no_grad():
        log_q = torch.log_softmax(model.W_E[tokens] @ w_f.T @ model.W_U.T, dim=1)
        p = task.pi_b[tokens]
        kl = (torch.xlogy(p, p) - p * log_q).sum(1)
    return kl.mean().item()


def _memory_probes_iv(model: Any, task: Any) -> None:
    check_model(model)  # a TypeError naming `model` for what is no model at all
    if not isinstance(model, Transformer):
        raise TypeError(f"`model` must be a lab Transformer: the memory probes read the simplified model's matrices "
                        f"(W_E, W_pos, W_U, W1_K, W2_K, W2_O, W_F), which a {type(model).__name__} does not have")
    if not isinstance(task, BigramTask):
        raise TypeError(f"`task` must be a BigramTask (the probes use its bigram distribution and triggers), "
                        f"got {type(task).__name__}")
    if model.vocab_size != task.vocab_size:
        raise ValueError(f"`model` has {model.vocab_size} tokens but `task` has {task.vocab_size}")


def memory_probes(model: Transformer, task: BigramTask) -> dict[str, float]:
    r"""All memory probes of the simplified model, paper eqs. (9) and (10).

    - ``w1k_recall``: :math:`W^1_K` as the previous-token memory
      :math:`\sum_t p_t p_{t-1}^\top`: for each query position :math:`t`,
      does :math:`p_t^\top W^1_K p_s` peak at :math:`s = t - 1`? Over all
      positions, and over :math:`t < 64` (``w1k_recall_t64``).
    - ``w2k_recall``: :math:`W^2_K` as :math:`\sum_{k} w_E(k) (W^1_O W^1_V w_E(k))^\top`
      over the triggers (fixed triggers) or all tokens (random triggers).
    - ``w2o_recall``: :math:`W^2_O` as :math:`\sum_k W_U(k) (W^2_V w_E(k))^\top` over all tokens.
    - ``wf_kl``: eq. (10), the mean KL divergence between :math:`\pi_b(\cdot \mid k)`
      and :math:`\mathrm{softmax}(W_U W_F w_E(k))` over non-trigger tokens.

    Probes are NaN where the model has no such matrix: all recalls for anything
    but the simplified two-layer model (a vanilla lab model has attention
    matrices, but not these memories), ``wf_kl`` without a feed-forward ``W_F``.
    Comparisons run over all candidates (no causal mask), as in the authors' code.

    Parameters
    ----------
    model : Transformer
        A lab model (:func:`causalattn.lab.models.transformer.build_model`); the probes read
        its matrices, so another model of the
        :class:`causalattn.lab.models.contract.HookedModel` contract (an ``HFModel``)
        is a TypeError.
    task : BigramTask
        The task whose bigram distribution and triggers define the memories.

    Returns
    -------
    dict
        Keys :data:`PROBE_KEYS`.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, section 4.2, eqs. (9)-(10).

    Examples
    --------
    The hand-set induction-head model stores every memory exactly:

    >>> from causalattn.lab import BigramTask, TaskConfig, induction_head_model
    >>> task = BigramTask(TaskConfig(seq_len=64))
    >>> probes = memory_probes(induction_head_model(task, d_model=256), task)
    >>> probes["w1k_recall"], probes["w2k_recall"], probes["w2o_recall"]
    (1.0, 1.0, 1.0)
    """
    _memory_probes_iv(model, task)
    probes = dict.fromkeys(PROBE_KEYS, math.nan)
    if "W_F" in model.aliases():  # the simplified model's linear feed-forward layer
        probes["wf_kl"] = _kl_probe(model, task)
    if model.n_layers != 2 or not all(isinstance(block.attn, SimplifiedAttention) for block in model.blocks):
        return probes
    attn1, attn2 = model.blocks[0].attn, model.blocks[1].attn
    for key, pos in (("w1k_recall", model.W_pos), ("w1k_recall_t64", model.W_pos[:64])):
        probes[key] = recall(attn1.W_K, pos[1:], pos[:-1])  # query p_t, key p_{t-1}
    memory = model.W_E if task.fixed_triggers is None else model.W_E[task.fixed_triggers]
    probes["w2k_recall"] = recall(attn2.W_K, memory, memory @ attn1.W_OV.T)
    probes["w2o_recall"] = recall(attn2.W_O.T, model.W_E @ attn2.W_V.T, model.W_U)
    return probes
