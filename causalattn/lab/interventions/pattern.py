"""Fixing a head's attention pattern: :class:`PatternFreeze` (``pattern:``) and the fixed patterns.

The pattern of head ``h`` (``blocks.{l}.attn.hook_pattern``, shape (batch,
heads, query, key)) is replaced by uniform causal attention, by exact
previous-token attention, or by the pattern the head produced on another
clean or corrupted sequence.

References
----------
Bietti, A. et al. (2023). Birth of a Transformer: A Memory Viewpoint. arXiv:2306.00802 (section 6: the
previous-token and induction patterns).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from causalattn._validation import check_choice
from causalattn.lab.interventions.base import HeadIntervention, Reference
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.models.hooks import HookFn

__all__ = ["PATTERN_KINDS", "PatternFreeze", "fixed_pattern"]

PATTERN_KINDS = ("uniform", "previous_token", "clean", "corrupted")


@dataclass(frozen=True)
class PatternFreeze(HeadIntervention, prefix="pattern"):
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

    point: ClassVar[str] = "pattern"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("kind", self.kind, PATTERN_KINDS)

    @classmethod
    def from_label(cls, text: str) -> PatternFreeze:
        layer, head, rest = cls._split(text)
        if len(rest) != 1:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. 'pattern:L0H0:previous_token' "
                             "(':overall' applies to mean ablation only)")
        return cls(layer, head, rest[0])

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"pattern:L{self.layer}H{self.head}:{self.kind}"

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        return {(self.kind, self._name(model))} if self.kind in ("clean", "corrupted") else set()

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        head, kind, name = self.head, self.kind, self._name(model)
        ref = reference.get(kind, name, self.label)[:, head] if kind in ("clean", "corrupted") else None

        def replace(pattern: torch.Tensor, hook: Any = None) -> torch.Tensor:
            batch, _, length, _ = pattern.shape  # (batch, heads, query, key)
            pattern = pattern.clone()
            if ref is not None:
                self._check_fits(ref.shape[-1], length)
                pattern[:, head] = ref[self._rows(batch, offset, ref.shape[0]), :length, :length]
            else:
                pattern[:, head] = fixed_pattern(kind, length, pattern.dtype, pattern.device)
            return pattern
        return [(name, replace)]


def fixed_pattern(kind: str, length: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(T, T) uniform causal or previous-token attention; rows sum to 1."""
    if kind == "uniform":
        causal = torch.ones(length, length, dtype=dtype, device=device).tril()
        return causal / causal.sum(1, keepdim=True)
    previous = torch.zeros(length, length, dtype=dtype, device=device)
    previous[0, 0] = 1.0
    idx = torch.arange(1, length, device=device)
    previous[idx, idx - 1] = 1.0
    return previous
