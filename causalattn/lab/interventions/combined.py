"""Several interventions applied together as one treatment: :class:`Combined`, labels joined with ``+``."""

from __future__ import annotations

from dataclasses import dataclass

from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.models.hooks import HookFn

__all__ = ["Combined"]


@dataclass(frozen=True)
class Combined(Intervention, joins="+"):
    """Several interventions applied together as one treatment; label joined with ``+``.

    The parts act on distinct (hook point, head) pairs (their ``targets``): two
    parts that replace the same value, such as the output of one head
    (``ablate:L1H0:zero+patch:L1H0:corrupted``) or its pattern
    (``pattern:L0H0:uniform+pattern:L0H0:previous_token``), are a ValueError,
    in either order; otherwise the later hook would silently win. One part may
    fix a head's pattern and another replace its output. Nor may a part replace
    what another reads (its ``reads``: a path reads its sender's clean output).

    Examples
    --------
    >>> from causalattn.lab.interventions import HeadAblation, PatternFreeze
    >>> Combined((HeadAblation(0, 0), HeadAblation(1, 0))).label
    'ablate:L0H0:zero+ablate:L1H0:zero'
    >>> Combined((PatternFreeze(0, 0, "uniform"), PatternFreeze(0, 0, "previous_token")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `parts`: 'pattern:L0H0:uniform' and 'pattern:L0H0:previous_token' both replace the pattern of L0H0; ...
    """

    parts: tuple[Intervention, ...]

    def __post_init__(self) -> None:
        parts = tuple(self.parts) if isinstance(self.parts, (list, tuple)) else None
        if not parts or not all(isinstance(p, Intervention) for p in parts):
            raise TypeError(f"`parts` must be a non-empty tuple of interventions, got {self.parts!r}")
        flat = tuple(q for p in parts for q in (p.parts if isinstance(p, Combined) else (p,)))
        seen: dict[tuple[str, str], Intervention] = {}
        for part in flat:
            for target in sorted(part.targets):
                if target in seen:
                    point, head = target
                    raise ValueError(f"`parts`: {seen[target].label!r} and {part.label!r} both replace the {point} "
                                     f"of {head}; one treatment may act on each hook point of a head once")
                seen[target] = part
        for part in flat:
            for read in sorted(part.reads):
                if read in seen and seen[read] is not part:
                    point, head = read
                    raise ValueError(f"`parts`: {part.label!r} reads the clean {point} of {head}, which "
                                     f"{seen[read].label!r} replaces")
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

    @property
    def targets(self) -> frozenset[tuple[str, str]]:
        return frozenset().union(*(p.targets for p in self.parts))

    @property
    def reads(self) -> frozenset[tuple[str, str]]:
        return frozenset().union(*(p.reads for p in self.parts))

    def check(self, model: HookedModel) -> None:
        for p in self.parts:
            p.check(model)

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        return set().union(*(p.needs(model) for p in self.parts))

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        return [pair for p in self.parts for pair in p._hooks(model, reference, offset)]
