"""Ablating and patching a head's output: :class:`HeadAblation` (``ablate:``) and :class:`HeadPatch` (``patch:``).

Both replace head ``h``'s output before the output projection
(``blocks.{l}.attn.hook_z``, shape (batch, position, heads, d_head)), the point
where heads are still separate: by zero, by its mean over a reference batch
(per position or over all positions), by its output on another sequence
(resample ablation), or by its output on a named source sequence such as a
designed counterfactual (activation patching).

References
----------
Nanda, N. and Bloom, J. (2022). TransformerLens (hook names and ablation kinds).
Meng, K., Bau, D., Andonian, A. and Belinkov, Y. (2022). Locating and Editing Factual Associations in GPT.
NeurIPS (activation patching).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

import torch

from causalattn._validation import check_choice
from causalattn.lab.interventions.base import HeadIntervention, Reference
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.models.hooks import HookFn

__all__ = ["ABLATION_KINDS", "HeadAblation", "HeadPatch"]

ABLATION_KINDS = ("zero", "mean", "resample")
_SOURCE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class HeadAblation(HeadIntervention, prefix="ablate"):
    """Ablate head ``head`` of layer ``layer``: replace its output before the output projection.

    Parameters
    ----------
    layer, head : int
        The head (0-based; with grouped-query attention, the query head).
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
    >>> HeadAblation.from_label("ablate:L1H0:mean:overall")
    HeadAblation(layer=1, head=0, kind='mean', per_position=False)
    """

    kind: str = "zero"
    per_position: bool = True

    point: ClassVar[str] = "z"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("kind", self.kind, ABLATION_KINDS)
        if not isinstance(self.per_position, bool):
            raise TypeError(f"`per_position` must be True or False, got {self.per_position!r}")
        if not self.per_position and self.kind != "mean":
            raise ValueError(f"`per_position`=False applies to kind='mean' only, got kind={self.kind!r}")

    @classmethod
    def from_label(cls, text: str) -> HeadAblation:
        layer, head, rest = cls._split(text)
        if len(rest) == 2 and rest[1] == "overall":
            if rest[0] != "mean":
                raise ValueError(f"`label` {text!r}: ':overall' applies to mean ablation only")
            return cls(layer, head, "mean", per_position=False)
        if len(rest) != 1:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. 'ablate:L1H0:zero' or "
                             "'ablate:L1H0:mean:overall'")
        return cls(layer, head, rest[0])

    @property
    def label(self) -> str:  # type: ignore[override]
        suffix = "" if self.per_position else ":overall"
        return f"ablate:L{self.layer}H{self.head}:{self.kind}{suffix}"

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        return set() if self.kind == "zero" else {("clean", self._name(model))}

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        name = self._name(model)
        if self.kind == "zero":
            return self._replace_z(name, lambda z: 0.0)
        ref = reference.get("clean", name, self.label)[:, :, self.head]  # (R, T, d_head)
        if self.kind == "resample":
            return self._from_source(name, ref, offset)
        if not self.per_position:
            mean = ref.mean((0, 1))  # (d_head,)
            return self._replace_z(name, lambda z: mean)
        mean = ref.mean(0)  # (T, d_head)

        def per_position(z: torch.Tensor) -> torch.Tensor:
            self._check_fits(mean.shape[0], z.shape[1])
            return mean[: z.shape[1]]
        return self._replace_z(name, per_position)


@dataclass(frozen=True)
class HeadPatch(HeadIntervention, prefix="patch"):
    """Activation patching: give head ``head`` of layer ``layer`` its output on a source sequence.

    Sequence ``i`` of an evaluated batch starting at ``offset`` takes the head's
    output (``hook_z``, before the output projection) on row ``(offset + i) mod R``
    of source ``source``: with one designed counterfactual per evaluated
    sequence (``Reference.compute(..., sources={"counterfactual": tokens})``),
    each sequence gets the head's output on its own counterfactual.

    Parameters
    ----------
    layer, head : int
    source : str
        Name of the source sequences in the :class:`Reference`: ``"corrupted"``
        or a name given in ``sources``. ``"clean"`` is refused: it names the
        reference batch, so the patch would be resample ablation
        (``ablate:L{l}H{h}:resample``) under a second label, and patching a
        sequence from its own clean run would change nothing.

    Examples
    --------
    >>> HeadPatch(1, 0, "counterfactual").label
    'patch:L1H0:counterfactual'
    """

    source: str = "corrupted"

    point: ClassVar[str] = "z"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.source, str) or not _SOURCE.match(self.source):
            raise ValueError(f"`source` must be a name of letters, digits and '_', got {self.source!r}")
        if self.source == "clean":  # before: accepted, one intervention under two labels
            raise ValueError(f"`source` 'clean' names the reference sequences, so 'patch:L{self.layer}H{self.head}:"
                             f"clean' would be resample ablation under a second label: write 'ablate:L{self.layer}H"
                             f"{self.head}:resample' (patching a sequence from its own clean run changes nothing)")

    @classmethod
    def from_label(cls, text: str) -> HeadPatch:
        layer, head, rest = cls._split(text)
        if len(rest) != 1:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. 'patch:L1H0:counterfactual'")
        return cls(layer, head, rest[0])

    @property
    def label(self) -> str:  # type: ignore[override]
        return f"patch:L{self.layer}H{self.head}:{self.source}"

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        return {(self.source, self._name(model))}

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        name = self._name(model)
        return self._from_source(name, reference.get(self.source, name, self.label)[:, :, self.head], offset)
