"""Interventions on attention heads as values: ablating a head's output, freezing its pattern, combinations.

Each intervention is a frozen dataclass with a stable ``label`` (``"ablate:L1H0:mean"``,
``"pattern:L0H0:previous_token"``, ``"ablate:L0H0:zero+ablate:L1H0:zero"``) that
names the estimand in the statistics, and :meth:`hooks` returns the
``(hook name, function)`` pairs that apply it through :func:`causalattn.lab.hooks.hooks`;
the model's code is never touched. :func:`parse_treatment` turns a label back
into the value.

* :class:`HeadAblation` replaces head ``h``'s output before ``W_O``
  (``blocks.{l}.attn.hook_z``, shape (batch, position, heads, d_head)) by
  zero, by its mean over a reference batch (per position or over all
  positions), or by its output on another sequence (resample ablation).
* :class:`PatternFreeze` replaces head ``h``'s attention pattern
  (``blocks.{l}.attn.hook_pattern``, shape (batch, heads, query, key)) by
  uniform causal attention, exact previous-token attention, or the pattern the
  head produced on another clean or corrupted sequence.
* :class:`Combined` applies several interventions together (one treatment).

Interventions that need reference activations (mean, resample, clean and
corrupted patterns) read them from a :class:`Reference`, computed once from a
reference batch; sequence ``i`` of an evaluated batch uses reference sequence
``(offset + i) mod R``.

References
----------
Nanda, N. and Bloom, J. (2022). TransformerLens (hook names and ablation kinds).
Bietti, A. et al. (2023). Birth of a Transformer: A Memory Viewpoint. arXiv:2306.00802.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from causalattn._validation import check_choice
from causalattn.lab.hooks import HookFn, hook_points, run_with_cache

__all__ = ["ABLATION_KINDS", "PATTERN_KINDS", "Combined", "HeadAblation", "Intervention", "PatternFreeze",
           "Reference", "as_interventions", "parse_treatment"]

ABLATION_KINDS = ("zero", "mean", "resample")
PATTERN_KINDS = ("uniform", "previous_token", "clean", "corrupted")


def _check_index(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a non-negative integer, got {value!r}")
    if value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer, got {value}")
    return int(value)


def _model_shape(model: nn.Module) -> tuple[int, int]:
    config = getattr(model, "config", None)
    if config is None or not hasattr(config, "n_layers") or not hasattr(config, "n_heads"):
        raise TypeError(f"`model` must be a lab transformer with a `config` (n_layers, n_heads), got "
                        f"{type(model).__name__}")
    return config.n_layers, config.n_heads


class Reference:
    """Activations of a model on reference sequences, computed once, read by the interventions that need them.

    Parameters
    ----------
    clean : dict
        Hook name -> activation on the reference sequences (first axis: sequence).
    corrupted : dict
        Hook name -> activation on the corrupted reference sequences.

    Build it with :meth:`compute`.
    """

    def __init__(self, clean: dict[str, torch.Tensor], corrupted: dict[str, torch.Tensor]) -> None:
        self.clean = clean
        self.corrupted = corrupted

    @classmethod
    def compute(
        cls, model: nn.Module, inputs: Any, interventions: Iterable[Intervention], *,
        generator: torch.Generator | None = None,
    ) -> Reference:
        """Run ``model`` once on the reference ``inputs`` (and once on their corruption) and keep what is needed.

        Parameters
        ----------
        model : nn.Module
        inputs : torch.Tensor (R, T) long, or a :class:`causalattn.lab.task.Batch`
            The reference sequences.
        interventions : iterable of Intervention
            Only the activations these need are kept.
        generator : torch.Generator, optional
            Seeds the corruption: each reference sequence with its positions
            shuffled (same tokens, no in-context structure left).
        """
        inputs = _as_inputs(inputs)
        clean_names, corrupted_names = set(), set()
        for item in interventions:
            for source, name in item.needs():
                (clean_names if source == "clean" else corrupted_names).add(name)
        with torch.no_grad():
            clean = run_with_cache(model, inputs, names=sorted(clean_names))[1] if clean_names else {}
            corrupted = {}
            if corrupted_names:
                gen = generator if generator is not None else torch.Generator().manual_seed(0)
                order = torch.argsort(torch.rand(inputs.shape, generator=gen), dim=1)
                shuffled = inputs.gather(1, order)
                corrupted = run_with_cache(model, shuffled, names=sorted(corrupted_names))[1]
        return cls(clean, corrupted)

    def get(self, source: str, name: str, label: str) -> torch.Tensor:
        store = self.clean if source == "clean" else self.corrupted
        if name not in store:
            raise ValueError(f"`reference` holds no {source} activations at {name!r}, needed by {label!r}; "
                             "compute it with Reference.compute(model, inputs, [intervention, ...])")
        return store[name]


def _as_inputs(inputs: Any) -> torch.Tensor:
    tokens = getattr(inputs, "inputs", inputs)
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
        raise TypeError("`reference` must be a Reference, a Batch or a (batch, position) long tensor of tokens, "
                        f"got {type(inputs).__name__}")
    return tokens


def _rows(n: int, offset: int, size: int) -> torch.Tensor:
    """Reference sequence of each of ``n`` evaluated sequences starting at ``offset``."""
    return (torch.arange(n) + offset) % size


class Intervention:
    """Base of the intervention values: a ``label``, ``check(model)``, ``needs()``, ``hooks(...)``."""

    label: str

    @property
    def layers(self) -> tuple[int, ...]:
        """Layers acted on; the study reuses the clean forward pass up to ``min(layers)``."""
        raise NotImplementedError

    @property
    def acts_on_z_only(self) -> bool:
        """True when every part replaces head outputs (``hook_z``), leaving the attention patterns as they are."""
        raise NotImplementedError

    def check(self, model: nn.Module) -> None:
        """ValueError unless the intervention fits ``model`` (layers, heads, hook points)."""
        raise NotImplementedError

    def needs(self) -> set[tuple[str, str]]:
        """``(source, hook name)`` pairs of reference activations needed (source: ``clean``/``corrupted``)."""
        raise NotImplementedError

    def hooks(self, model: nn.Module, reference: Any = None, *, offset: int = 0) -> list[tuple[str, HookFn]]:
        """``(hook name, function)`` pairs applying the intervention, for :func:`causalattn.lab.hooks.hooks`.

        Parameters
        ----------
        model : nn.Module
            The model (checked with :meth:`check`).
        reference : Reference, Batch or tensor, optional
            Reference activations, or reference sequences to compute them from;
            needed by mean and resample ablation and by clean/corrupted patterns.
        offset : int
            Index of the first evaluated sequence (sequence ``i`` uses
            reference sequence ``(offset + i) mod R``).
        """
        self.check(model)
        if self.needs() and not isinstance(reference, Reference):
            if reference is None:
                raise ValueError(f"`reference` is needed by {self.label!r}: pass reference sequences or a Reference")
            reference = Reference.compute(model, reference, [self])
        return self._hooks(reference, offset)

    def _hooks(self, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class _HeadIntervention(Intervention):
    layer: int
    head: int

    def __post_init__(self) -> None:
        _check_index("layer", self.layer)
        _check_index("head", self.head)

    @property
    def layers(self) -> tuple[int, ...]:
        return (self.layer,)

    @property
    def hook_name(self) -> str:
        raise NotImplementedError

    def check(self, model: nn.Module) -> None:
        n_layers, n_heads = _model_shape(model)
        if self.layer >= n_layers:
            raise ValueError(f"`layer` {self.layer} of {self.label!r} is out of range: the model has {n_layers} "
                             f"layer(s), 0..{n_layers - 1}")
        if self.head >= n_heads:
            raise ValueError(f"`head` {self.head} of {self.label!r} is out of range: the model has {n_heads} "
                             f"head(s) per layer, 0..{n_heads - 1}")
        if self.hook_name not in hook_points(model):
            raise ValueError(f"{self.label!r} does not fit the model: it has no hook point {self.hook_name!r}")


@dataclass(frozen=True)
class HeadAblation(_HeadIntervention):
    """Ablate head ``head`` of layer ``layer``: replace its output before ``W_O``.

    Parameters
    ----------
    layer, head : int
        The head (0-based).
    kind : {"zero", "mean", "resample"}
        Zero; the mean over the reference sequences; or the head's output on a
        reference sequence (a different sequence from the one evaluated).
    per_position : bool
        Mean ablation only: the mean at each position (default) or one mean
        over all positions (label suffix ``:overall``).

    Examples
    --------
    >>> HeadAblation(1, 0, "mean").label
    'ablate:L1H0:mean'
    """

    kind: str = "zero"
    per_position: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("kind", self.kind, ABLATION_KINDS)
        if not isinstance(self.per_position, bool):
            raise TypeError(f"`per_position` must be True or False, got {self.per_position!r}")
        if not self.per_position and self.kind != "mean":
            raise ValueError(f"`per_position`=False applies to kind='mean' only, got kind={self.kind!r}")

    @property
    def label(self) -> str:  # type: ignore[override]
        suffix = "" if self.per_position else ":overall"
        return f"ablate:L{self.layer}H{self.head}:{self.kind}{suffix}"

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.attn.hook_z"

    @property
    def acts_on_z_only(self) -> bool:
        return True

    def needs(self) -> set[tuple[str, str]]:
        return set() if self.kind == "zero" else {("clean", self.hook_name)}

    def _hooks(self, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        head = self.head
        if self.kind == "zero":
            def replace(z: torch.Tensor, hook: Any = None) -> torch.Tensor:
                z = z.clone()
                z[:, :, head] = 0.0
                return z
            return [(self.hook_name, replace)]
        ref = reference.get("clean", self.hook_name, self.label)[:, :, head]  # (R, T, d_head)
        if self.kind == "mean":
            mean = ref.mean(0) if self.per_position else ref.mean((0, 1))  # (T, d_head) or (d_head,)

            def replace(z: torch.Tensor, hook: Any = None) -> torch.Tensor:
                if self.per_position:
                    _check_length(self.label, mean.shape[0], z.shape[1])
                z = z.clone()
                z[:, :, head] = mean[: z.shape[1]] if self.per_position else mean
                return z
            return [(self.hook_name, replace)]

        def replace(z: torch.Tensor, hook: Any = None) -> torch.Tensor:
            _check_length(self.label, ref.shape[1], z.shape[1])
            z = z.clone()
            z[:, :, head] = ref[_rows(z.shape[0], offset, ref.shape[0]), : z.shape[1]]
            return z
        return [(self.hook_name, replace)]


def _check_length(label: str, reference_len: int, length: int) -> None:
    if reference_len < length:
        raise ValueError(f"{label!r} does not fit: its reference sequences have {reference_len} positions, "
                         f"the evaluated ones {length}")


@dataclass(frozen=True)
class PatternFreeze(_HeadIntervention):
    """Fix the attention pattern of head ``head`` in layer ``layer``.

    Parameters
    ----------
    layer, head : int
        The head (0-based).
    kind : {"uniform", "previous_token", "clean", "corrupted"}
        Uniform causal attention (query ``t`` weighs keys ``0..t`` equally);
        exact previous-token attention (``t`` attends to ``t - 1``, position 0
        to itself); or the pattern the head produced on a reference sequence,
        clean or corrupted (its positions shuffled).

    Examples
    --------
    >>> PatternFreeze(0, 0, "previous_token").label
    'pattern:L0H0:previous_token'
    """

    kind: str = "uniform"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("kind", self.kind, PATTERN_KINDS)

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"pattern:L{self.layer}H{self.head}:{self.kind}"

    @property
    def hook_name(self) -> str:
        return f"blocks.{self.layer}.attn.hook_pattern"

    @property
    def acts_on_z_only(self) -> bool:
        return False

    def needs(self) -> set[tuple[str, str]]:
        return {(self.kind, self.hook_name)} if self.kind in ("clean", "corrupted") else set()

    def _hooks(self, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        head, kind = self.head, self.kind
        ref = reference.get(kind, self.hook_name, self.label)[:, head] if kind in ("clean", "corrupted") else None

        def replace(pattern: torch.Tensor, hook: Any = None) -> torch.Tensor:
            batch, _, length, _ = pattern.shape  # (batch, heads, query, key)
            pattern = pattern.clone()
            if ref is not None:
                _check_length(self.label, ref.shape[-1], length)
                pattern[:, head] = ref[_rows(batch, offset, ref.shape[0]), :length, :length]
            else:
                pattern[:, head] = _fixed_pattern(kind, length, pattern.dtype)
            return pattern
        return [(self.hook_name, replace)]


def _fixed_pattern(kind: str, length: int, dtype: torch.dtype) -> torch.Tensor:
    """(T, T) uniform causal or previous-token attention; rows sum to 1."""
    if kind == "uniform":
        causal = torch.ones(length, length, dtype=dtype).tril()
        return causal / causal.sum(1, keepdim=True)
    previous = torch.zeros(length, length, dtype=dtype)
    previous[0, 0] = 1.0
    idx = torch.arange(1, length)
    previous[idx, idx - 1] = 1.0
    return previous


@dataclass(frozen=True)
class Combined(Intervention):
    """Several interventions applied together as one treatment; label joined with ``+``.

    Examples
    --------
    >>> Combined((HeadAblation(0, 0), HeadAblation(1, 0))).label
    'ablate:L0H0:zero+ablate:L1H0:zero'
    """

    parts: tuple[Intervention, ...]

    def __post_init__(self) -> None:
        parts = tuple(self.parts) if isinstance(self.parts, (list, tuple)) else None
        if not parts or not all(isinstance(p, Intervention) for p in parts):
            raise TypeError(f"`parts` must be a non-empty tuple of interventions, got {self.parts!r}")
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, Combined) else (p,)))
        object.__setattr__(self, "parts", flat)

    @property
    def label(self) -> str:  # type: ignore[override]
        return "+".join(p.label for p in self.parts)

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(sorted({layer for p in self.parts for layer in p.layers}))

    @property
    def acts_on_z_only(self) -> bool:
        return all(p.acts_on_z_only for p in self.parts)

    def check(self, model: nn.Module) -> None:
        for p in self.parts:
            p.check(model)

    def needs(self) -> set[tuple[str, str]]:
        return set().union(*(p.needs() for p in self.parts))

    def _hooks(self, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        return [pair for p in self.parts for pair in p._hooks(reference, offset)]


_PART = re.compile(r"^(ablate|pattern):L(\d+)H(\d+):([a-z_]+)(:overall)?$")


def parse_treatment(label: str) -> Intervention:
    """The intervention named by ``label`` (the inverse of ``.label``).

    Examples
    --------
    >>> parse_treatment("ablate:L1H0:mean+pattern:L0H0:uniform").label
    'ablate:L1H0:mean+pattern:L0H0:uniform'
    """
    if not isinstance(label, str):
        raise TypeError(f"`label` must be a string such as 'ablate:L1H0:mean', got {type(label).__name__}")
    parts: list[Intervention] = []
    for text in label.split("+"):
        match = _PART.match(text.strip())
        if match is None:
            raise ValueError(f"`label` {label!r}: cannot read {text!r}; expected e.g. 'ablate:L1H0:zero', "
                             "'ablate:L1H0:mean:overall' or 'pattern:L0H0:previous_token', joined with '+'")
        what, layer, head, kind, overall = match.groups()
        if what == "ablate":
            parts.append(HeadAblation(int(layer), int(head), kind, per_position=overall is None))
        elif overall:
            raise ValueError(f"`label` {label!r}: ':overall' applies to mean ablation only")
        else:
            parts.append(PatternFreeze(int(layer), int(head), kind))
    return parts[0] if len(parts) == 1 else Combined(tuple(parts))


def as_interventions(treatments: Any) -> list[Intervention]:
    """Interventions from a sequence of interventions or labels; a ValueError on duplicate labels."""
    if isinstance(treatments, (str, Intervention)) or not isinstance(treatments, Sequence):
        treatments = [treatments]
    out = [t if isinstance(t, Intervention) else parse_treatment(t) for t in treatments]
    if not out:
        raise ValueError("`treatments` must hold at least one intervention")
    labels = [t.label for t in out]
    duplicated = sorted({x for x in labels if labels.count(x) > 1})
    if duplicated:
        raise ValueError(f"`treatments` has duplicate labels: {duplicated}")
    return out
