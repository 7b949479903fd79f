"""Several interventions applied together as one treatment: :class:`Combined`, labels joined with ``+``."""

from __future__ import annotations

from dataclasses import dataclass

from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.models.hooks import HookFn

__all__ = ["Combined"]


@dataclass(frozen=True)
class Combined(Intervention, joins=True):
    """Several interventions applied together as one treatment; label joined with ``+``.

    Examples
    --------
    >>> from causalattn.lab.interventions import HeadAblation
    >>> Combined((HeadAblation(0, 0), HeadAblation(1, 0))).label
    'ablate:L0H0:zero+ablate:L1H0:zero'
    """

    parts: tuple[Intervention, ...]

    def __post_init__(self) -> None:
        parts = tuple(self.parts) if isinstance(self.parts, (list, tuple)) else None
        if not parts or not all(isinstance(p, Intervention) for p in parts):
            raise TypeError(f"`parts` must be a non-empty tuple of interventions, got {self.parts!r}")
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, Combined) else (p,)))
        for i, p in enumerate(flat):
            for q in flat[i + 1:]:
                problem = p.conflicts_with(q) or q.conflicts_with(p)
                if problem:
                    raise ValueError(f"`parts` cannot form one treatment: {problem}")
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

    def check(self, model: HookedModel) -> None:
        for p in self.parts:
            p.check(model)

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        return set().union(*(p.needs(model) for p in self.parts))

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        return [pair for p in self.parts for pair in p._hooks(model, reference, offset)]
