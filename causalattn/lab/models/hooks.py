"""Named hook points: where interventions read or replace activations.

A model places :class:`HookPoint` identity modules at the points worth
intervening on, named after their module path as in TransformerLens
(``blocks.{l}.attn.hook_pattern``, ``blocks.{l}.attn.hook_z``,
``blocks.{l}.hook_resid_post`` ...). :func:`hooks` attaches functions to them
for the duration of a ``with`` block and always removes them, even on error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["HookPoint", "HookFn", "activations", "has_hooks", "hook_points", "hooks", "in_use", "run_with_cache"]

# A hook function receives the activation and, as the keyword ``hook``, the hook point
# (``fn(activation, hook=point)``, as in TransformerLens); it returns a replacement
# tensor of the same shape, or None to leave the activation as is.
HookFn = Callable[..., "torch.Tensor | None"]


class HookPoint(nn.Module):
    """An identity module that marks a named activation; ``name`` is set by :func:`hook_points`.

    An ``optional`` point (the per-head query, key and value inputs) is computed
    only while a hook acts on it, and :func:`run_with_cache` keeps it only when
    asked for by name.
    """

    def __init__(self, optional: bool = False) -> None:
        super().__init__()
        self.name = ""
        self.optional = optional

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def has_hooks(model: nn.Module) -> bool:
    """Whether any forward or backward hook is attached to ``model``, one of its submodules, or every module.

    A model may take a fused fast path only when this is False: a hook must see
    (and may replace) every activation of the explicit computation.

    Examples
    --------
    >>> point = HookPoint()
    >>> has_hooks(point)
    False
    >>> with hooks(point, {"": lambda x, hook: None}):
    ...     has_hooks(point)
    True
    """
    global_hooks = (nn.modules.module._global_forward_hooks, nn.modules.module._global_forward_pre_hooks,
                    nn.modules.module._global_backward_hooks, nn.modules.module._global_backward_pre_hooks)
    return any(global_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
        for m in model.modules()
    )


def in_use(point: HookPoint) -> bool:
    """Whether a function is attached to ``point``: a model computes its optional points only then.

    Examples
    --------
    >>> point = HookPoint()
    >>> in_use(point)
    False
    >>> with hooks(point, {"": lambda x, hook: None}):
    ...     in_use(point)
    True
    """
    return bool(point._forward_hooks or point._forward_pre_hooks)


def hook_points(model: nn.Module) -> dict[str, HookPoint]:
    """All hook points of ``model`` by module path (and records each path as the point's ``name``)."""
    points = {}
    for name, module in model.named_modules():
        if isinstance(module, HookPoint):
            module.name = name
            points[name] = module
    return points


def _as_items(fwd_hooks: Mapping[str, HookFn] | Iterable[tuple[str, HookFn]]) -> list[tuple[str, HookFn]]:
    items = list(fwd_hooks.items()) if isinstance(fwd_hooks, Mapping) else list(fwd_hooks)
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and callable(item[1])):
            raise TypeError(f"`fwd_hooks` must map hook-point names to callables, got item {item!r}")
    return items


@contextmanager
def hooks(
    model: nn.Module, fwd_hooks: Mapping[str, HookFn] | Iterable[tuple[str, HookFn]]
) -> Iterator[nn.Module]:
    """Attach forward hooks to named hook points for the duration of the block.

    Several functions may act on the same point; they run in the order given.
    Each is called as ``fn(activation, hook=point)`` (TransformerLens' convention)
    and returns a replacement of the same shape or None.

    Examples
    --------
    Zero the output of the second layer's attention, then check that the
    hook is gone after the block:

    >>> import torch
    >>> from causalattn.lab import ModelConfig, build_model
    >>> model = build_model(ModelConfig(d_model=32, max_seq_len=16))
    >>> tokens = torch.randint(0, 65, (2, 16), generator=torch.Generator().manual_seed(0))
    >>> clean = model(tokens)
    >>> with hooks(model, {"blocks.1.attn.hook_z": lambda z, hook: torch.zeros_like(z)}):
    ...     ablated = model(tokens)
    >>> torch.allclose(ablated, clean), torch.equal(model(tokens), clean)
    (False, True)
    """
    points = hook_points(model)
    items = _as_items(fwd_hooks)
    for name, _ in items:
        if name not in points:
            raise ValueError(f"`fwd_hooks`: no hook point named {name!r}; the model has {sorted(points)}")
    handles = []
    try:
        for name, fn in items:
            point = points[name]
            handles.append(point.register_forward_hook(lambda module, inputs, output, fn=fn: fn(output, hook=module)))
        yield model
    finally:
        for handle in handles:
            handle.remove()


def run_with_cache(
    model: nn.Module, *args, names: Iterable[str] | None = None, **kwargs
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``model(*args, **kwargs)`` and return its output with the activations at the named points.

    ``names=None`` keeps every point but the optional ones (the per-head query, key and value inputs, a copy of
    the residual stream per head: name them to keep them).
    """
    points = hook_points(model)
    wanted = [name for name, point in points.items() if not point.optional] if names is None else list(names)
    cache: dict[str, torch.Tensor] = {}
    with hooks(model, [(name, _saver(cache)) for name in wanted]):
        out = model(*args, **kwargs)
    return out, cache


class _Collected(Exception):
    """Raised by :func:`activations`' last hook: every activation asked for is cached."""


def _saver(cache: dict[str, torch.Tensor], stop_at: int | None = None) -> HookFn:
    """A hook function storing its activation in ``cache`` under its point's name; once ``cache`` holds
    ``stop_at`` activations it raises :class:`_Collected`, ending the forward pass."""
    def save(x: torch.Tensor, hook: HookPoint) -> None:
        cache[hook.name] = x.detach()
        if len(cache) == stop_at:
            raise _Collected
    return save


def activations(model: nn.Module, *args, names: Iterable[str], **kwargs) -> dict[str, torch.Tensor]:
    """The activations of ``model(*args, **kwargs)`` at the named points, the forward pass stopped once all are in.

    The layers after the last point needed (and the unembedding) are not run:
    the activations are those of :func:`run_with_cache`, for a fraction of
    the cost when the points are in early layers. A point that the forward
    pass never reaches is missing from the result, as in :func:`run_with_cache`.

    Examples
    --------
    >>> import torch
    >>> from causalattn.lab import ModelConfig, build_model
    >>> model = build_model(ModelConfig(d_model=32, max_seq_len=16))
    >>> tokens = torch.randint(0, 65, (2, 16), generator=torch.Generator().manual_seed(0))
    >>> early = activations(model, tokens, names=["blocks.0.attn.hook_z"])
    >>> _, cache = run_with_cache(model, tokens, names=["blocks.0.attn.hook_z"])
    >>> torch.equal(early["blocks.0.attn.hook_z"], cache["blocks.0.attn.hook_z"])
    True
    """
    wanted = sorted(set(names))
    cache: dict[str, torch.Tensor] = {}
    try:
        with hooks(model, [(name, _saver(cache, stop_at=len(wanted))) for name in wanted]):
            model(*args, **kwargs)
    except _Collected:
        pass
    return cache
