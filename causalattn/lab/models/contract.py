"""What a study needs from a model: the :class:`HookedModel` protocol (and the optional :class:`Resumable` fast path).

Evaluation, interventions, metrics and the runner ask a model only through
this contract; nothing outside a model builds hook-name strings or reads its
configuration. Two models implement it: the lab's own
:class:`causalattn.lab.models.transformer.Transformer` and :class:`causalattn.lab.models.hf.HFModel`,
the adapter of a HuggingFace ``transformers`` causal language model.

A model

* is a ``torch.nn.Module`` whose hook points are
  :class:`causalattn.lab.models.hooks.HookPoint` submodules named by their module
  path with TransformerLens' names, so that :func:`causalattn.lab.models.hooks.hooks`
  and :func:`causalattn.lab.models.hooks.run_with_cache` find them;
* has the sizes ``n_layers, n_heads, d_head, d_model, vocab_size, max_len``
  (``n_heads`` counts query heads: with grouped-query attention every query
  head is its own unit);
* maps ``(batch, position)`` long tokens to ``(batch, position, vocab)`` logits
  when called (sequences of one batch share their positions: pad on the right);
* names its hook points with ``hook_name(point, layer)``, ``point`` one of
  :data:`POINTS`:

  =============  =================================  ===============================
  point          hook name                          shape
  =============  =================================  ===============================
  resid_pre      ``blocks.{l}.hook_resid_pre``      (batch, position, d_model)
  q_input        ``blocks.{l}.hook_q_input``        (batch, position, head, d_model)
  k_input        ``blocks.{l}.hook_k_input``        (batch, position, head, d_model)
  v_input        ``blocks.{l}.hook_v_input``        (batch, position, head, d_model)
  pattern        ``blocks.{l}.attn.hook_pattern``   (batch, head, query, key)
  z              ``blocks.{l}.attn.hook_z``         (batch, position, head, d_head)
  attn_out       ``blocks.{l}.hook_attn_out``       (batch, position, d_model)
  resid_post     ``blocks.{l}.hook_resid_post``     (batch, position, d_model)
  =============  =================================  ===============================

  ``z`` is each head's output before the output projection (``W_O``,
  ``o_proj``, ``c_proj``), where heads are still separate. ``q_input``,
  ``k_input``, ``v_input`` are the residual stream from which each head
  computes its queries, keys and values (before the block's normalization):
  a copy of ``resid_pre`` per head, so that a hook can give one head's key
  another input than the rest (TransformerLens' ``use_split_qkv_input``; with
  grouped-query attention there is one per *query* head, as TransformerLens'
  ``ungroup_grouped_query_attention``: a head's key is computed from its own
  input, its kv-group siblings keep theirs). They are optional points
  (``HookPoint(optional=True)``): a model computes them only while a hook
  acts on one, and ``run_with_cache`` keeps them only when named;
* maps head outputs to the residual stream, ``attn_out(layer, z)``: the
  attention output of block ``layer`` (what ``hook_attn_out`` sees) when its
  head outputs are ``z``, hooks bypassed;
* optionally (:class:`Resumable`) restarts its forward pass from the residual
  stream entering a layer, ``run_from(layer, resid_pre)``, or from a layer's
  head outputs, ``run_from_z(layer, resid_pre, z)``; a study then reuses one
  clean forward pass for every intervention.

A hook function receives the activation and, as the keyword ``hook``, the
hook point (as in TransformerLens): ``fn(activation, hook=point)``; it returns
a replacement of the same shape, or None to keep the activation.

References
----------
Nanda, N. and Bloom, J. (2022). TransformerLens (hook names, ``HookedRootModule``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from causalattn._validation import check_integer

__all__ = ["POINTS", "HookedModel", "Resumable", "check_activation", "check_layer", "check_model", "check_tokens",
           "describe", "transformer_lens_name"]

POINTS = {
    "resid_pre": "blocks.{layer}.hook_resid_pre",
    "q_input": "blocks.{layer}.hook_q_input",
    "k_input": "blocks.{layer}.hook_k_input",
    "v_input": "blocks.{layer}.hook_v_input",
    "pattern": "blocks.{layer}.attn.hook_pattern",
    "z": "blocks.{layer}.attn.hook_z",
    "attn_out": "blocks.{layer}.hook_attn_out",
    "resid_post": "blocks.{layer}.hook_resid_post",
}
SIZES = ("n_layers", "n_heads", "d_head", "d_model", "vocab_size", "max_len")


@runtime_checkable
class HookedModel(Protocol):
    """A model a study can run and intervene on (see the module docstring)."""

    n_layers: int  # attention layers (blocks)
    n_heads: int  # query heads per layer
    d_head: int  # width of one head's output z
    d_model: int  # width of the residual stream
    vocab_size: int  # tokens 0 .. vocab_size - 1
    max_len: int  # longest input

    training: bool

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (batch, position, vocab) of (batch, position) long ``tokens``."""
        ...

    def hook_name(self, point: str, layer: int) -> str:
        """The hook-point name of ``point`` (a key of :data:`POINTS`) in block ``layer``."""
        ...

    def attn_out(self, layer: int, z: torch.Tensor) -> torch.Tensor:
        """Attention output (batch, position, d_model) of block ``layer`` for head outputs ``z`` (as ``hook_z``)."""
        ...

    def named_modules(self, *args: Any, **kwargs: Any) -> Any:
        """Submodules by path (``torch.nn.Module``): where the hook points are found."""
        ...

    def eval(self) -> Any: ...

    def train(self, mode: bool = True) -> Any: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> Any: ...


@runtime_checkable
class Resumable(Protocol):
    """The optional fast path: restart the forward pass inside the model."""

    def run_from(self, layer: int, resid_pre: torch.Tensor) -> torch.Tensor:
        """Logits from the residual stream entering block ``layer`` (``0 .. n_layers``)."""
        ...

    def run_from_z(self, layer: int, resid_pre: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Logits when block ``layer`` gets ``resid_pre`` and its head outputs (``hook_z``) are ``z``.

        The hook functions on that block's ``hook_z`` are not applied (``z`` is
        the replaced value); those on later points are.
        """
        ...


def check_model(model: Any, name: str = "model") -> HookedModel:
    """``model`` if it implements :class:`HookedModel`, else a TypeError naming the argument and what is missing.

    Examples
    --------
    >>> check_model(torch.nn.Linear(2, 2))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    TypeError: `model` must implement causalattn.lab.models.contract.HookedModel (...); Linear lacks n_layers, ...
    """
    missing = [attr for attr in (*SIZES, "hook_name", "attn_out") if not hasattr(model, attr)]
    if missing or not isinstance(model, HookedModel):
        raise TypeError(f"`{name}` must implement causalattn.lab.models.contract.HookedModel (a lab Transformer or an "
                        f"HFModel); {type(model).__name__} lacks {', '.join(missing) or 'torch.nn.Module methods'}")
    return model


def check_layer(layer: Any, n_layers: int, name: str = "layer") -> int:
    """``layer`` as an int in ``0 .. n_layers - 1``, else a ValueError (TypeError: not an integer) naming ``name``."""
    return check_integer(name, layer, minimum=0, maximum=n_layers - 1)


def describe(x: Any) -> str:
    """``a torch.float32 tensor of shape (2, 3)`` for a tensor, else the type's name (for error messages)."""
    if isinstance(x, torch.Tensor):
        return f"a {x.dtype} tensor of shape {tuple(x.shape)}"
    return type(x).__name__


def check_tokens(tokens: Any, vocab_size: int, max_len: int, name: str = "tokens") -> torch.Tensor:
    """``tokens`` if a (batch, position) long tensor of ids in ``0 .. vocab_size - 1``, else a ValueError naming it.

    At least one sequence of 1 to ``max_len`` positions: an empty batch or
    empty sequences have no logits to study, and a negative id would index the
    embedding from its end (``W_E[-1]``: the last token's row, silently).

    Examples
    --------
    >>> check_tokens(torch.tensor([[3, 65]]), vocab_size=65, max_len=8)
    Traceback (most recent call last):
    ...
    ValueError: `tokens` must be token ids in [0, 64] (the vocabulary), got values in [3, 65]
    >>> check_tokens(torch.zeros(0, 4, dtype=torch.long), vocab_size=65, max_len=8)
    Traceback (most recent call last):
    ...
    ValueError: `tokens` must hold at least one sequence of at least one token, got shape (0, 4)
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
        raise ValueError(f"`{name}` must be a (batch, position) long tensor, got {describe(tokens)}")
    if tokens.numel() == 0:
        raise ValueError(f"`{name}` must hold at least one sequence of at least one token, got shape "
                         f"{tuple(tokens.shape)}")
    if tokens.shape[1] > max_len:
        raise ValueError(f"`{name}` has {tokens.shape[1]} positions, more than the model's context max_len={max_len}")
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"`{name}` must be token ids in [0, {vocab_size - 1}] (the vocabulary), got values in "
                         f"[{low}, {high}]")
    return tokens


def check_activation(name: str, x: Any, shape: tuple[int | None, ...]) -> torch.Tensor:
    """``x`` if a floating-point tensor of ``shape`` (None: any size there), else a ValueError naming it.

    Examples
    --------
    >>> check_activation("resid_pre", torch.zeros(2, 5, 7), (None, None, 16))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `resid_pre` must be a floating-point tensor of shape (batch, position, 16), got ... shape (2, 5, 7)
    """
    names = iter(("batch", "position"))
    wanted = ", ".join(next(names, "any") if size is None else str(size) for size in shape)
    if (not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() != len(shape)
            or any(size is not None and size != got for size, got in zip(shape, x.shape, strict=True))):
        raise ValueError(f"`{name}` must be a floating-point tensor of shape ({wanted}), got {describe(x)}")
    return x


def transformer_lens_name(point: str, layer: int, n_layers: int) -> str:
    """TransformerLens' name of ``point`` in block ``layer``; ValueError naming `point` or `layer` if there is none.

    Examples
    --------
    >>> transformer_lens_name("z", 1, n_layers=2)
    'blocks.1.attn.hook_z'
    """
    if point not in POINTS:
        raise ValueError(f"`point` must be one of {sorted(POINTS)}, got {point!r}")
    return POINTS[point].format(layer=check_layer(layer, n_layers))
