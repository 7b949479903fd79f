"""Pretrained HuggingFace causal language models in the lab: the :class:`HFModel` adapter.

:class:`HFModel` wraps a ``transformers`` causal LM of the Llama family
(Llama, Mistral, Qwen2, Qwen3: rotary positions, grouped-query attention) or
GPT-2 and implements :class:`causalattn.lab.models.contract.HookedModel` with
TransformerLens' hook names and shapes, so every study, intervention and
metric of the lab runs on it unchanged:

* ``blocks.{l}.hook_resid_pre`` / ``hook_resid_post``: the input / output of
  decoder layer ``l`` (batch, position, d_model);
* ``blocks.{l}.attn.hook_z``: each query head's output before the output
  projection (``o_proj`` / ``c_proj``), (batch, position, head, d_head), so a
  head ablation acts on that head alone (after the projection heads are
  mixed). With grouped-query attention every query head is its own unit;
* ``blocks.{l}.hook_attn_out``: the attention output added to the residual stream;
* ``blocks.{l}.attn.hook_pattern``: the attention weights (batch, head, query,
  key). Fused attention kernels never form them, so while a hook acts on a
  pattern the model runs an explicit softmax attention registered with
  ``transformers``' ``AttentionInterface`` (the library's eager math with the
  pattern hooked between the softmax and the product with the values); plain
  runs keep the model's fast default attention.

The adapter attaches PyTorch hooks to the HuggingFace modules only during a
call in which some hook point is in use, and removes them afterwards: the
wrapped model is never modified. ``run_from``/``run_from_z`` (the fast path of
:class:`causalattn.lab.models.contract.Resumable`) restart from a cached decoder-layer
input with the positions and attention masks the HuggingFace model computes.

Inputs are unpadded or right-padded sequences (no attention mask: position
``t`` sees positions ``0..t``). :func:`causalattn.lab.models.pretrained.load_pretrained`
loads a model from a GGUF file or a checkpoint folder, offline, as an :class:`HFModel`.

References
----------
Nanda, N. and Bloom, J. (2022). TransformerLens (hook names and shapes).
Wolf, T. et al. (2020). Transformers: State-of-the-Art Natural Language Processing. EMNLP (system demonstrations).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

try:
    import transformers
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError('causalattn.lab.models.hf needs the "hf" extra (transformers, gguf, accelerate): '
                      'pip install "causalattn[hf]"') from error

from causalattn.lab.models.contract import check_activation, check_layer, check_tokens, transformer_lens_name
from causalattn.lab.models.hf_attention import HOOKED_ATTENTION, AttentionPlan, planned, split_inputs
from causalattn.lab.models.hooks import HookPoint, in_use

__all__ = ["FAMILIES", "HOOKED_ATTENTION", "HFModel"]

LLAMA_FAMILY = ("llama", "mistral", "qwen2", "qwen3")
FAMILIES = (*LLAMA_FAMILY, "gpt2")  # supported ``config.model_type`` values

class _Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.hook_pattern = HookPoint()  # (batch, head, query, key)
        self.hook_z = HookPoint()  # (batch, position, head, d_head)


class _Block(nn.Module):
    """The hook points of one decoder layer (the layer itself stays in the HuggingFace model)."""

    def __init__(self) -> None:
        super().__init__()
        self.hook_resid_pre = HookPoint()
        self.hook_q_input = HookPoint(optional=True)  # (batch, position, head, d_model), computed only while hooked
        self.hook_k_input = HookPoint(optional=True)
        self.hook_v_input = HookPoint(optional=True)
        self.attn = _Attention()
        self.hook_attn_out = HookPoint()
        self.hook_resid_post = HookPoint()


class _Parts:
    """Where a model family keeps its layers, and how its layers and head are run."""

    def __init__(self, hf_model: nn.Module) -> None:
        self.hf_model = hf_model
        self.config = hf_model.config

    def layers(self) -> nn.ModuleList:
        raise NotImplementedError

    def attention(self, layer: int) -> nn.Module:
        raise NotImplementedError

    def out_proj(self, layer: int) -> nn.Module:
        raise NotImplementedError

    def attn_norm(self, layer: int) -> nn.Module:
        """The normalization of the residual stream before layer ``layer``'s attention."""
        raise NotImplementedError

    def run_layers(self, start: int, x: torch.Tensor) -> torch.Tensor:
        """Decoder layers ``start, start+1, ...`` on the residual stream ``x`` (batch, position, d_model)."""
        raise NotImplementedError

    def after_attention(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """The rest of decoder layer ``layer`` once the attention output is added: ``x + mlp(norm(x))``."""
        raise NotImplementedError

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def attn_out(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """The attention output of ``layer`` for head outputs ``z`` (batch, position, head, d_head), hooks bypassed."""
        return self.out_proj(layer).forward(z.flatten(2))

    def positions(self, x: torch.Tensor) -> torch.Tensor:
        return torch.arange(x.shape[1], device=x.device).unsqueeze(0)


class _LlamaParts(_Parts):
    """Llama, Mistral, Qwen2, Qwen3: ``model.layers[l].self_attn.o_proj``, rotary positions, RMSNorm."""

    def layers(self) -> nn.ModuleList:
        return self.hf_model.model.layers

    def attention(self, layer: int) -> nn.Module:
        return self.layers()[layer].self_attn

    def out_proj(self, layer: int) -> nn.Module:
        return self.attention(layer).o_proj

    def attn_norm(self, layer: int) -> nn.Module:
        return self.layers()[layer].input_layernorm

    def _sliding(self) -> list[bool]:
        """Which layers attend within a sliding window (as the model's own forward decides)."""
        types = getattr(self.config, "layer_types", None)
        if types:
            return [t == "sliding_attention" for t in types]
        return [getattr(self.config, "sliding_window", None) is not None] * self.config.num_hidden_layers

    def run_layers(self, start: int, x: torch.Tensor) -> torch.Tensor:
        positions = self.positions(x)
        embeddings = self.hf_model.model.rotary_emb(x, position_ids=positions)
        sliding = self._sliding()
        masks = {kind: fn(self.config, x, None, None, position_ids=positions) for kind, fn in
                 ((False, create_causal_mask), (True, create_sliding_window_causal_mask)) if kind in sliding[start:]}
        for index, layer in enumerate(self.layers()[start:], start):
            x = layer(x, attention_mask=masks[sliding[index]], position_ids=positions, position_embeddings=embeddings)
        return x

    def after_attention(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        module = self.layers()[layer]
        return x + module.mlp(module.post_attention_layernorm(x))

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        return self.hf_model.lm_head(self.hf_model.model.norm(x))


class _GPT2Parts(_Parts):
    """GPT-2: ``transformer.h[l].attn.c_proj``, learned positions added before the first layer, LayerNorm."""

    def layers(self) -> nn.ModuleList:
        return self.hf_model.transformer.h

    def attention(self, layer: int) -> nn.Module:
        return self.layers()[layer].attn

    def out_proj(self, layer: int) -> nn.Module:
        return self.attention(layer).c_proj

    def attn_norm(self, layer: int) -> nn.Module:
        return self.layers()[layer].ln_1

    def run_layers(self, start: int, x: torch.Tensor) -> torch.Tensor:
        positions = self.positions(x)
        mask = create_causal_mask(self.config, x, None, None, position_ids=positions)
        for layer in self.layers()[start:]:
            x = layer(x, None, mask, position_ids=positions)
        return x

    def attn_out(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        return self.attention(layer).resid_dropout(super().attn_out(layer, z))

    def after_attention(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        module = self.layers()[layer]
        return x + module.mlp(module.ln_2(x))

    def unembed(self, x: torch.Tensor) -> torch.Tensor:
        return self.hf_model.lm_head(self.hf_model.transformer.ln_f(x))


def _parts(hf_model: Any) -> _Parts:
    if not isinstance(hf_model, transformers.PreTrainedModel):
        raise TypeError(f"`hf_model` must be a transformers causal LM (PreTrainedModel), got {type(hf_model).__name__}")
    family = getattr(hf_model.config, "model_type", None)
    if family not in FAMILIES:
        raise ValueError(f"`hf_model`: model family {family!r} ({type(hf_model).__name__}) is not supported; "
                         f"supported: {', '.join(FAMILIES)}")
    if not hasattr(hf_model, "lm_head"):
        raise ValueError(f"`hf_model` must be a causal LM with a language-model head (e.g. LlamaForCausalLM, "
                         f"GPT2LMHeadModel), got {type(hf_model).__name__}")
    return _GPT2Parts(hf_model) if family == "gpt2" else _LlamaParts(hf_model)


class HFModel(nn.Module):
    """A HuggingFace causal LM behind the lab's model contract (:class:`causalattn.lab.models.contract.HookedModel`).

    Parameters
    ----------
    hf_model : transformers.PreTrainedModel
        A causal LM of a supported family (:data:`FAMILIES`: ``LlamaForCausalLM``,
        ``MistralForCausalLM``, ``Qwen2ForCausalLM``, ``Qwen3ForCausalLM``,
        ``GPT2LMHeadModel``), held as ``self.hf_model`` and never modified.

    Attributes
    ----------
    n_layers, n_heads, d_head, d_model, vocab_size, max_len : int
        ``n_heads`` counts query heads; ``n_kv_heads`` the key/value heads
        (fewer with grouped-query attention).

    Examples
    --------
    A tiny randomly initialized GPT-2 (no weights downloaded):

    >>> import torch
    >>> from transformers import GPT2Config, GPT2LMHeadModel
    >>> from causalattn.lab import HFModel, run_with_cache
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> config = GPT2Config(n_layer=2, n_head=4, n_embd=32, vocab_size=50, n_positions=16)
    >>> model = HFModel(GPT2LMHeadModel(config).eval())
    >>> model.n_layers, model.n_heads, model.d_head
    (2, 4, 8)
    >>> logits, cache = run_with_cache(model, torch.zeros(3, 10, dtype=torch.long))
    >>> [tuple(x.shape) for x in (logits, cache["blocks.1.attn.hook_pattern"], cache["blocks.1.attn.hook_z"])]
    [(3, 10, 50), (3, 4, 10, 10), (3, 10, 4, 8)]
    """

    def __init__(self, hf_model: Any) -> None:
        super().__init__()
        parts = _parts(hf_model)
        config = hf_model.config
        self.hf_model = hf_model
        self._parts = parts
        self.family = config.model_type
        self.n_layers = int(config.num_hidden_layers)
        self.n_heads = int(config.num_attention_heads)
        self.n_kv_heads = int(getattr(config, "num_key_value_heads", None) or self.n_heads)
        self.d_model = int(config.hidden_size)
        self.d_head = int(getattr(config, "head_dim", None) or self.d_model // self.n_heads)
        self.vocab_size = int(config.vocab_size)
        self.max_len = int(config.n_positions if self.family == "gpt2" else config.max_position_embeddings)
        self.blocks = nn.ModuleList(_Block() for _ in range(self.n_layers))
        self.train(hf_model.training)  # the wrapper takes the wrapped model's mode

    def __repr__(self) -> str:
        return (f"HFModel({type(self.hf_model).__name__}: {self.n_layers} layers x {self.n_heads} heads "
                f"({self.n_kv_heads} kv) of {self.d_head}, d_model={self.d_model}, vocab={self.vocab_size}, "
                f"max_len={self.max_len})")

    def hook_name(self, point: str, layer: int) -> str:
        """TransformerLens name of ``point`` (a key of :data:`~causalattn.lab.models.contract.POINTS`) in ``layer``."""
        return transformer_lens_name(point, layer, self.n_layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Next-token logits (batch, position, vocab) of (batch, position) long ``tokens``, on the model's device."""
        tokens = check_tokens(tokens, self.vocab_size, self.max_len).to(self.hf_model.device)
        with self._bridged():
            return self.hf_model(input_ids=tokens, use_cache=False).logits

    def attn_out(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Attention output (batch, position, d_model) of decoder layer ``layer`` for head outputs ``z`` (batch,
        position, head, d_head): the output projection (``o_proj``, ``c_proj``) of the concatenated heads, no hook
        applied."""
        return self._parts.attn_out(check_layer(layer, self.n_layers), z)

    def run_from(self, layer: int, resid_pre: torch.Tensor) -> torch.Tensor:
        """Logits from the residual stream entering decoder layer ``layer`` (``0 .. n_layers``)."""
        layer = check_layer(layer, self.n_layers + 1)
        check_activation("resid_pre", resid_pre, (None, None, self.d_model))
        with self._bridged():
            return self._parts.unembed(self._parts.run_layers(layer, resid_pre))

    def run_from_z(self, layer: int, resid_pre: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits when decoder layer ``layer`` gets ``resid_pre`` and its head outputs (``hook_z``) are ``z``.

        ``z`` is (batch, position, head, d_head); the attention of that layer is
        not recomputed. Hooks on its ``hook_z`` are not applied, those on later
        points are.
        """
        layer = check_layer(layer, self.n_layers)
        batch, length, _ = check_activation("resid_pre", resid_pre, (None, None, self.d_model)).shape
        check_activation("z", z, (batch, length, self.n_heads, self.d_head))
        block, parts = self.blocks[layer], self._parts
        with self._bridged():
            x = resid_pre + block.hook_attn_out(parts.attn_out(layer, z))
            x = block.hook_resid_post(parts.after_attention(layer, x))
            return parts.unembed(parts.run_layers(layer + 1, x))

    @contextmanager
    def _bridged(self) -> Iterator[None]:
        """Attach PyTorch hooks feeding the hook points that have functions, for one call; remove them after."""
        handles, plans = [], {}
        try:
            for layer, block in enumerate(self.blocks):
                handles += self._bridge_layer(layer, block, plans)
            if not plans:
                yield
                return
            if self.hf_model.config._attn_implementation == "sdpa":  # the other layers keep the fused kernel
                plans = {self._parts.attention(layer): plans.get(self._parts.attention(layer))
                         for layer in range(self.n_layers)}
            with planned(self.hf_model.config, plans):
                yield
        finally:
            for handle in handles:
                handle.remove()

    def _bridge_layer(self, layer: int, block: _Block, plans: dict) -> list:
        parts, handles = self._parts, []
        decoder, out_proj, attention = parts.layers()[layer], parts.out_proj(layer), parts.attention(layer)
        if in_use(block.hook_resid_pre):
            def resid_pre(module, args, kwargs, point=block.hook_resid_pre):
                if args:
                    return (point(args[0]), *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": point(kwargs["hidden_states"])}
            handles.append(decoder.register_forward_pre_hook(resid_pre, with_kwargs=True))
        inputs = (block.hook_q_input, block.hook_k_input, block.hook_v_input)
        if any(in_use(point) for point in inputs) or in_use(block.attn.hook_pattern):
            plans[attention] = plan = AttentionPlan(block.attn.hook_pattern if in_use(block.attn.hook_pattern)
                                                    else None)
        if any(in_use(point) for point in inputs):
            resid: list[torch.Tensor] = []

            def keep(module, args, kwargs):  # after resid_pre: the decoder layer's input as the hooks left it
                resid[:] = [args[0] if args else kwargs["hidden_states"]]
            handles.append(decoder.register_forward_pre_hook(keep, with_kwargs=True))
            handles.append(attention.register_forward_pre_hook(
                split_inputs(inputs, parts.attn_norm(layer), self.n_heads, plan, resid), with_kwargs=True))
        if in_use(block.attn.hook_z):
            def z(module, args, point=block.attn.hook_z):
                x = args[0]  # (batch, position, heads * d_head)
                heads = x.view(*x.shape[:-1], self.n_heads, self.d_head)  # (batch, position, head, d_head)
                return (point(heads).reshape(x.shape), *args[1:])
            handles.append(out_proj.register_forward_pre_hook(z))
        if in_use(block.hook_attn_out):
            handles.append(out_proj.register_forward_hook(
                lambda module, args, output, point=block.hook_attn_out: point(output)))
        if in_use(block.hook_resid_post):
            def resid_post(module, args, output, point=block.hook_resid_post):
                return point(output) if isinstance(output, torch.Tensor) else (point(output[0]), *output[1:])
            handles.append(decoder.register_forward_hook(resid_post))
        return handles

