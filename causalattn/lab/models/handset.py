"""A simplified two-layer model whose memories are written by hand (Bietti et al., 2023, eq. 7)."""

from __future__ import annotations

import torch

from causalattn.lab.models.transformer import ModelConfig, Transformer, build_model
from causalattn.lab.tasks.bigram import BigramTask

__all__ = ["induction_head_model"]


def induction_head_model(
    task: BigramTask,
    d_model: int = 256,
    *,
    attention_scale: float = 40.0,
    output_scale: float = 10.0,
    init_seed: int = 0,
) -> Transformer:
    r"""The simplified two-layer model with the induction-head memories of paper eq. (7).

    Starting from the random frozen embeddings and matrices of
    ``build_model(ModelConfig(kind="simplified", ...))``, the three trainable
    matrices are set to

    .. math::

        W^1_K = \alpha \sum_{t=2}^{T} p_t \, p_{t-1}^\top, \qquad
        W^2_K = \alpha \sum_{k \in Q} w_E(k) \, (W^1_O W^1_V (w_E(k) - p_1))^\top, \qquad
        W^2_O = \beta \sum_{k=1}^{N} W_U(k) \, (W^2_V w_E(k))^\top,

    with :math:`Q` the fixed triggers (all tokens for random triggers). The first
    layer is then a previous-token head (position :math:`t` copies
    :math:`W^1_O W^1_V w_E(z_{t-1})`), the second an induction head (a trigger
    attends to the position that followed its previous occurrence) and
    :math:`W^2_O` maps the attended token to its logit. The term :math:`-p_1`,
    an addition to eq. (7), keeps the first position (which attends to itself,
    having no previous token) from looking like the successor of its own token
    when the sequence starts with a trigger. The scales
    :math:`\alpha, \beta` make the attention sharp and the prediction confident.

    Parameters
    ----------
    task : BigramTask
        Gives the vocabulary, the triggers and ``T = task.config.seq_len``.
    d_model : int
        Width ``d``. The frozen random parts make every memory recall noisy:
        on the fixed-trigger task the in-context accuracy is about 0.97 at
        ``d = 256`` and 0.98-0.997 at ``d = 512`` (T = 64-256), but only about
        0.5-0.7 at ``d = 128``.
    attention_scale, output_scale : float
        :math:`\alpha` and :math:`\beta`.
    init_seed : int
        Seed of the frozen random parts.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, section 4, eq. (7).
    """
    if not isinstance(task, BigramTask):
        raise TypeError(f"`task` must be a BigramTask, got {type(task).__name__}")
    model = build_model(
        ModelConfig(
            kind="simplified",
            n_layers=2,
            d_model=d_model,
            vocab_size=task.vocab_size,
            max_seq_len=task.config.seq_len,
            init_seed=init_seed,
        )
    )
    attn1, attn2 = model.blocks[0].attn, model.blocks[1].attn
    pos, tok = model.W_pos, model.W_E
    triggers = tok if task.fixed_triggers is None else tok[task.fixed_triggers]
    with torch.no_grad():
        attn1.W_K.copy_(attention_scale * pos[1:].T @ pos[:-1])
        # keys W1_OV (w_E(k) - p_1): position 1 has no previous token, so its first-layer output
        # W1_OV x_1 must not count as "follows k" when z_1 = k
        previous = triggers @ attn1.W_OV.T  # (|Q|, d), rows W1_O W1_V w_E(k)
        keys = ((triggers - pos[0]) @ attn1.W_OV.T) / previous.square().sum(1, keepdim=True)
        attn2.W_K.copy_(attention_scale * triggers.T @ keys)
        attn2.W_O.copy_(output_scale * model.W_U.T @ (tok @ attn2.W_V.T))
    return model
