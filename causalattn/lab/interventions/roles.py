r"""Treatments named by a head's role, not its index: "ablate the induction head of layer 1", resolved per model.

In a model with several heads per layer the index of a head means nothing
across training runs: head 0 of layer 1 is the induction head in one seed and
a quiet head in another. A role treatment names the head by what it does,
measured by the attention-based scores of a head scan
(:func:`causalattn.lab.analysis.head_scan.head_scan`, Olsson et al. 2022):

* ``role="induction"``: the head with the highest induction score,
* ``role="previous_token"``: the head with the highest previous-token score,

within layer ``layer`` (or over all layers when ``layer`` is None), ties going
to the lower layer, then the lower head. Two treatments act on that head:

* :class:`RoleAblation` (``ablate_role:``) ablates its output, resolving to a
  :class:`causalattn.lab.interventions.ablation.HeadAblation`;
* :class:`RolePattern` (``pattern_role:``) fixes its attention pattern,
  resolving to a :class:`causalattn.lab.interventions.pattern.PatternFreeze`.

:meth:`RoleTreatment.resolve` turns either into the concrete index treatment of
one model given that model's scan; :func:`causalattn.lab.studies.models_study.models_study`
resolves them on every model and records the head each model used.

Labels read ``{prefix}:{role}@L{layer}:{kind}`` or, over all layers,
``{prefix}:{role}:{kind}``, with ``kind`` one of the resolved class's kinds:

* ``ablate_role:induction@L1:zero``, ``ablate_role:previous_token:mean``
  (kinds ``zero``, ``mean``, ``resample``);
* ``pattern_role:previous_token@L0:uniform``, ``pattern_role:induction@L1:clean``
  (kinds ``uniform``, ``previous_token``, ``clean``, ``corrupted``).

The ``ablate:`` and ``pattern:`` prefixes belong to the index labels
(``ablate:L1H0:zero``, ``pattern:L0H0:uniform``).

References
----------
Olsson, C. et al. (2022). In-context Learning and Induction Heads. Transformer Circuits Thread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from causalattn._validation import check_choice, check_positive_int
from causalattn.lab.analysis.head_scan import HeadScan
from causalattn.lab.interventions.ablation import ABLATION_KINDS, HeadAblation
from causalattn.lab.interventions.base import Intervention
from causalattn.lab.interventions.combined import Combined
from causalattn.lab.interventions.pattern import PATTERN_KINDS, PatternFreeze
from causalattn.lab.models.contract import HookedModel

__all__ = ["ROLES", "RoleAblation", "RolePattern", "RoleTreatment", "resolve_roles"]

#: Role name -> the head-scan score that defines it.
ROLES = {"induction": "induction_score", "previous_token": "previous_token_score"}
_LABEL = re.compile(r"^(?P<prefix>[a-z_]+):(?P<role>[a-z_]+)(@L(?P<layer>\d+))?:(?P<kind>[a-z_]+)$")


@dataclass(frozen=True)
class RoleTreatment(Intervention):
    """Base of the treatments that name a head by its role: ``role``, ``layer``, ``kind``, :meth:`resolve`.

    Parameters
    ----------
    role : {"induction", "previous_token"}
        The head with the highest induction (previous-token) score of a head scan.
    layer : int or None
        Search this layer only; None searches every layer.
    kind : str
        One of the ``kind`` values of the index treatment the subclass resolves to.

    A subclass declares its label prefix and that index treatment
    (``resolves_to``, and ``kinds``, its ``kind`` values). A role is not a head
    until it is resolved on a model (:meth:`resolve`): an evaluation study of
    one model takes the resolved index treatment, and
    :func:`causalattn.lab.studies.models_study.models_study` resolves it per model;
    every method that would touch a model before says so.
    """

    role: str
    layer: int | None = None
    kind: str = ""

    resolves_to: ClassVar[type[HeadAblation] | type[PatternFreeze]]
    kinds: ClassVar[tuple[str, ...]]

    def __post_init__(self) -> None:
        check_choice("role", self.role, tuple(ROLES))
        if self.layer is not None:
            check_positive_int("layer", self.layer, minimum=0)
        check_choice("kind", self.kind, self.kinds)

    @classmethod
    def from_label(cls, text: str) -> RoleTreatment:
        match = _LABEL.match(text)
        if match is None or match["prefix"] != cls.prefix:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. '{cls.prefix}:induction@L1:"
                             f"{cls.kinds[0]}' or '{cls.prefix}:previous_token:{cls.kinds[1]}'")
        layer = None if match["layer"] is None else int(match["layer"])
        return cls(match["role"], layer, match["kind"])

    @property
    def label(self) -> str:  # type: ignore[override]
        where = "" if self.layer is None else f"@L{self.layer}"
        return f"{self.prefix}:{self.role}{where}:{self.kind}"

    def resolve(self, scan: HeadScan) -> HeadAblation | PatternFreeze:
        """The index treatment of the head with the highest role score in ``scan`` (of one model).

        Ties go to the lower layer, then the lower head (:meth:`HeadScan.top`).
        """
        if not isinstance(scan, HeadScan):
            raise TypeError(f"`scan` must be a HeadScan (causalattn.lab.analysis.head_scan), got {type(scan).__name__}")
        scores = scan.scores
        if self.layer is not None:
            scores = scores[scores["layer"] == self.layer]
            if scores.empty:
                raise ValueError(f"`layer` {self.layer} of {self.label!r} is out of range: the scan has "
                                 f"layers 0..{int(scan.scores['layer'].max())}")
        best = HeadScan(scores, scan.n_sequences, scan.length).top(1, ROLES[self.role]).iloc[0]
        return self.resolves_to(int(best["layer"]), int(best["head"]), self.kind)

    def _unresolved(self) -> ValueError:
        return ValueError(f"`treatments`: {self.label!r} names a role, not a head; resolve it on each model first "
                          f"({type(self).__name__}.resolve(head_scan(model, task)), or "
                          "causalattn.lab.studies.models_study)")

    @property
    def layers(self) -> tuple[int, ...]:
        raise self._unresolved()

    @property
    def acts_on_z_only(self) -> bool:
        return self.resolves_to.point == "z"

    @property
    def targets(self) -> frozenset[tuple[str, str]]:
        where = "" if self.layer is None else f" of layer {self.layer}"
        return frozenset({(self.resolves_to.point, f"the {self.role} head{where}")})

    def check(self, model: HookedModel) -> None:
        raise self._unresolved()

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        raise self._unresolved()

    def _hooks(self, model: HookedModel, reference: Any, offset: int) -> Any:
        raise self._unresolved()


@dataclass(frozen=True)
class RoleAblation(RoleTreatment, prefix="ablate_role"):
    """Ablate the head playing ``role`` (in ``layer``), whichever index it has in a given model.

    Parameters
    ----------
    role, layer
        As for :class:`RoleTreatment`: the head is resolved per model (:meth:`resolve`).
    kind : {"zero", "mean", "resample"}
        As for :class:`causalattn.lab.interventions.ablation.HeadAblation`, which :meth:`resolve` returns.

    Examples
    --------
    >>> RoleAblation("induction", 1).label
    'ablate_role:induction@L1:zero'
    >>> RoleAblation.from_label("ablate_role:previous_token:mean")
    RoleAblation(role='previous_token', layer=None, kind='mean')
    """

    kind: str = "zero"

    resolves_to: ClassVar[type[HeadAblation]] = HeadAblation
    kinds: ClassVar[tuple[str, ...]] = ABLATION_KINDS


@dataclass(frozen=True)
class RolePattern(RoleTreatment, prefix="pattern_role"):
    """Fix the attention pattern of the head playing ``role`` (in ``layer``), whichever index it has in a given model.

    Parameters
    ----------
    role, layer
        As for :class:`RoleTreatment`: the head is resolved per model (:meth:`resolve`).
    kind : {"uniform", "previous_token", "clean", "corrupted"}
        As for :class:`causalattn.lab.interventions.pattern.PatternFreeze`, which :meth:`resolve` returns.

    Examples
    --------
    >>> RolePattern("previous_token", 0).label
    'pattern_role:previous_token@L0:uniform'
    >>> RolePattern.from_label("pattern_role:induction@L1:previous_token")
    RolePattern(role='induction', layer=1, kind='previous_token')
    """

    kind: str = "uniform"

    resolves_to: ClassVar[type[PatternFreeze]] = PatternFreeze
    kinds: ClassVar[tuple[str, ...]] = PATTERN_KINDS


def resolve_roles(treatment: Intervention, scan: HeadScan) -> Intervention:
    """``treatment`` with every role treatment (also inside a :class:`Combined`) resolved on ``scan``.

    Two parts of a combination that resolve to the same intervention in this model (the induction head
    is also the previous-token head) act once: the treatment ablates the union of the heads named. Two
    that resolve to different interventions on one hook point of one head (a zero and a mean ablation)
    are a ValueError naming the treatment.

    Examples
    --------
    >>> import pandas as pd
    >>> scan = HeadScan(pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1],
    ...                               "induction_score": [0.0, 0.1, 0.2, 0.9],
    ...                               "previous_token_score": [0.1, 0.8, 0.0, 0.1]}), n_sequences=4, length=8)
    >>> resolve_roles(Combined((RoleAblation("previous_token"), RoleAblation("induction", 1))), scan).label
    'ablate:L0H1:zero+ablate:L1H1:zero'
    >>> resolve_roles(RolePattern("previous_token", 0, "previous_token"), scan).label
    'pattern:L0H1:previous_token'
    >>> resolve_roles(Combined((RoleAblation("previous_token", 0), RoleAblation("induction", 0))), scan).label
    'ablate:L0H1:zero'
    """
    if isinstance(treatment, RoleTreatment):
        return treatment.resolve(scan)
    if isinstance(treatment, Combined):
        parts = tuple(dict.fromkeys(resolve_roles(part, scan) for part in treatment.parts))  # one head, once
        try:
            return parts[0] if len(parts) == 1 else Combined(parts)
        except ValueError as exc:
            raise ValueError(f"`treatment` {treatment.label!r} names one head twice in this model: {exc}") from None
    return treatment
