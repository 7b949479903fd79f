r"""Path patching: a head's ablated output reaching the logits only directly, or one receiver's input only.

Ablating head :math:`h` (layer :math:`s`) everywhere is its *total* effect
(:class:`~causalattn.lab.interventions.ablation.HeadAblation`). A path
intervention lets the ablated output travel along one path only, every other
reader seeing :math:`h`'s clean output. With

.. math::

    \delta = \mathrm{attn\_out}_s(\tilde z) - \mathrm{attn\_out}_s(z),

the change that ablating :math:`h` makes to what layer :math:`s` adds to the
residual stream (:math:`z` the clean head outputs of layer :math:`s`,
:math:`\tilde z` the same with head :math:`h`'s replaced), a
:class:`HeadPath` adds :math:`\delta` at one place only:

* ``path:L{s}H{h}->logits:{kind}``, the **direct effect**: the final residual
  stream :math:`x_L + \delta` goes through the final normalization (recomputed,
  as it is not linear) and the unembedding. Every later layer, and the
  feed-forward part of layer :math:`s` itself, reads the clean stream.
* ``path:L{s}H{h}->L{r}H{g}.{q|k|v}:{kind}``, the **path through a receiver**:
  head :math:`g` of layer :math:`r > s` computes its queries (keys, values)
  from :math:`x_r + \delta` (normalized by the block's own norm), its other
  inputs and every other head of layer :math:`r` from the clean :math:`x_r`;
  the layers after :math:`r` recompute from the changed output of that
  layer (in which :math:`h`'s own output is still the clean one).

"Ablated" means what ``kind`` says, as for ``ablate:``: ``zero`` sets the
head's output :math:`z_h` (before the output projection) to 0, so its
contribution :math:`W_O^h z_h` vanishes (a bias of the projection stays, as
it is shared by the heads); ``mean`` replaces it by its mean over the
reference sequences, per position (``...:mean:overall``: one mean over all
positions); ``resample`` by its output on a reference sequence (sequence
:math:`i` of the evaluated batch takes row :math:`(\text{offset} + i) \bmod R`).
The indirect effect (total minus direct) and the self-repair (direct minus
total) are contrasts of these arms:
:func:`causalattn.lab.studies.decomposition.decompose`.

The receiver reads :math:`x_r + \delta` through the ``hook_{q,k,v}_input``
points of the model contract, so a path runs on the lab's transformers and on
HuggingFace models alike; with grouped-query attention the receiver is a query
head and its kv-group siblings keep their clean keys and values.
:class:`RolePath` (``path_role:``) names the sender and receiver by their roles.

References
----------
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in GPT-2
small. arXiv:2211.00593 (path patching).
Vig, J. et al. (2020). Investigating Gender Bias in Language Models Using Causal Mediation Analysis. NeurIPS.
McGrath, T. et al. (2023). The Hydra Effect: Emergent Self-repair in Language Model Computations.
arXiv:2307.15771 (direct effect through the unembedding; self-repair).
Goldowsky-Dill, N. et al. (2023). Localizing Model Behavior with Path Patching. arXiv:2304.05969.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from causalattn._validation import check_choice, check_positive_int
from causalattn.lab.analysis.head_scan import HeadScan
from causalattn.lab.interventions.ablation import ABLATION_KINDS, HeadAblation
from causalattn.lab.interventions.base import HeadIntervention, Reference
from causalattn.lab.interventions.roles import ROLES, RoleTreatment
from causalattn.lab.models.contract import HookedModel, Resumable
from causalattn.lab.models.hooks import HookFn, hook_points, hooks

__all__ = ["RECEIVER_INPUTS", "HeadPath", "RolePath"]

#: The inputs of a receiver head a path can reach: its queries, keys or values.
RECEIVER_INPUTS = ("q", "k", "v")
_LABEL = re.compile(r"^path:L(?P<layer>\d+)H(?P<head>\d+)->(?P<target>[^:]*):(?P<rest>.+)$")
_RECEIVER = re.compile(r"^L(?P<layer>\d+)H(?P<head>\d+)\.(?P<input>\w+)$")
_ROLE_LABEL = re.compile(r"^path_role:(?P<role>[a-z_]+)(@L(?P<layer>\d+))?->(?P<target>[^:]*):(?P<kind>[a-z_]+)$")
_ROLE_RECEIVER = re.compile(r"^(?P<role>[a-z_]+)(@L(?P<layer>\d+))?\.(?P<input>\w+)$")
_SHELL = " (typed on a command line, a label with '->' must be quoted: the shell reads '>' as a redirection)"


def _receiver_input(text: str, value: Any) -> str:
    if value not in RECEIVER_INPUTS:
        raise ValueError(f"`label` {text!r}: the receiver's input must be one of {list(RECEIVER_INPUTS)} "
                         f"(queries, keys, values), got {value!r}")
    return value


@dataclass(frozen=True)
class HeadPath(HeadIntervention, prefix="path"):
    """Ablate head ``head`` of layer ``layer`` along one path only: to the logits, or into one receiver's input.

    Parameters
    ----------
    layer, head : int
        The sender (0-based; with grouped-query attention, a query head).
    kind : {"zero", "mean", "resample"}
        How the sender is ablated, as for
        :class:`~causalattn.lab.interventions.ablation.HeadAblation`.
    receiver : tuple (layer, head, input) or None
        None: the direct path to the logits. Else the receiver head, in a later
        layer, and which of its inputs the ablated output reaches: ``"q"``,
        ``"k"`` or ``"v"``.
    per_position : bool
        Mean ablation only: the mean at each position (default) or over all
        positions (label suffix ``:overall``).

    See the module docstring for what is ablated and what is frozen.

    Examples
    --------
    >>> HeadPath(0, 0, "mean", receiver=(1, 0, "k")).label
    'path:L0H0->L1H0.k:mean'
    >>> HeadPath.from_label("path:L1H0->logits:zero")
    HeadPath(layer=1, head=0, kind='zero', receiver=None, per_position=True)
    """

    kind: str = "zero"
    receiver: tuple[int, int, str] | None = None
    per_position: bool = True

    point: ClassVar[str] = "z"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.kind, str) and self.kind not in ABLATION_KINDS:
            raise ValueError(f"`kind` must be one of {list(ABLATION_KINDS)}, got {self.kind!r}: a path carries the "
                             "sender's ablated output; patching a path from a source sequence is not supported "
                             f"(patch:L{self.layer}H{self.head}:{self.kind} patches the head along every path)")
        HeadAblation(self.layer, self.head, self.kind, self.per_position)  # checks kind and per_position
        if self.receiver is not None:
            if not isinstance(self.receiver, tuple) or len(self.receiver) != 3:
                raise TypeError(f"`receiver` must be None (the logits) or a tuple (layer, head, input), "
                                f"got {self.receiver!r}")
            layer, head, kind = self.receiver
            check_choice("receiver input", kind, RECEIVER_INPUTS)
            object.__setattr__(self, "receiver", (check_positive_int("receiver layer", layer, minimum=0),
                                                  check_positive_int("receiver head", head, minimum=0), kind))
            if self.receiver[0] <= self.layer:
                what = "the sender itself" if self.receiver[:2] == (self.layer, self.head) else \
                    f"layer {self.receiver[0]}, not after the sender's layer {self.layer}"
                raise ValueError(f"`receiver` of {self.label!r} is {what}: a head reads only the outputs of "
                                 "earlier layers")

    @classmethod
    def from_label(cls, text: str) -> HeadPath:
        match = _LABEL.match(text)
        if match is None:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. 'path:L0H0->L1H0.k:mean' or "
                             f"'path:L1H0->logits:zero'{_SHELL if text.endswith('-') else ''}")
        target, rest = match["target"], match["rest"].split(":")
        receiver = None
        if target != "logits":
            found = _RECEIVER.match(target)
            if found is None:
                raise ValueError(f"`label` {text!r}: the path must end at 'logits' or at a receiver's input such "
                                 f"as 'L1H0.k', got {target!r}")
            receiver = (int(found["layer"]), int(found["head"]), _receiver_input(text, found["input"]))
        if len(rest) == 2 and rest[1] == "overall":
            if rest[0] != "mean":
                raise ValueError(f"`label` {text!r}: ':overall' applies to mean ablation only")
            return cls(int(match["layer"]), int(match["head"]), "mean", receiver, per_position=False)
        if len(rest) != 1:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. 'path:L0H0->L1H0.k:mean' or "
                             "'path:L0H0->logits:mean:overall'")
        return cls(int(match["layer"]), int(match["head"]), rest[0], receiver)

    @property
    def target(self) -> str:
        """``"logits"`` or the receiver's input, e.g. ``"L1H0.k"``."""
        if self.receiver is None:
            return "logits"
        layer, head, kind = self.receiver
        return f"L{layer}H{head}.{kind}"

    @property
    def label(self) -> str:  # type: ignore[override]
        suffix = "" if self.per_position else ":overall"
        return f"path:L{self.layer}H{self.head}->{self.target}:{self.kind}{suffix}"

    @property
    def ablation(self) -> HeadAblation:
        """The sender's ablation: the total effect's treatment."""
        return HeadAblation(self.layer, self.head, self.kind, self.per_position)

    @property
    def acts_on_z_only(self) -> bool:
        return False

    def check(self, model: HookedModel) -> None:
        super().check(model)
        if self.receiver is not None:
            layer, head, _ = self.receiver
            if layer >= model.n_layers or head >= model.n_heads:
                raise ValueError(f"`receiver` L{layer}H{head} of {self.label!r} is out of range: the model has "
                                 f"{model.n_layers} layer(s) of {model.n_heads} head(s)")

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        return self.ablation.needs(model)

    @property
    def targets(self) -> frozenset[tuple[str, str]]:
        """The path itself: two paths from one sender to one place would add the sender's change twice."""
        return frozenset({(f"path to {self.target}", f"L{self.layer}H{self.head}")})

    @property
    def reads(self) -> frozenset[tuple[str, str]]:
        """The sender's clean output, which no other part of a treatment may replace."""
        return frozenset({(self.point, f"L{self.layer}H{self.head}")})

    def _target_name(self, model: HookedModel) -> str:
        if self.receiver is None:
            return model.hook_name("resid_post", model.n_layers - 1)
        layer, _, kind = self.receiver
        return model.hook_name(f"{kind}_input", layer)

    def _change(self, model: HookedModel, reference: Reference | None, offset: int):
        """``delta(z)``: the change ablating the sender makes to its layer's attention output, given clean ``z``."""
        ablate = self.ablation._hooks(model, reference, offset)
        point = hook_points(model)[self._name(model)]

        def delta(z: torch.Tensor) -> torch.Tensor:
            ablated = z
            for _, fn in ablate:
                ablated = fn(ablated, hook=point)
            return model.attn_out(self.layer, ablated) - model.attn_out(self.layer, z)
        return delta

    def _adder(self, change: dict[str, torch.Tensor]) -> HookFn:
        """Hook adding ``change["delta"]`` at the target: the final residual stream, or the receiver's input."""
        if self.receiver is None:
            return lambda x, hook=None: x + change["delta"]
        head = self.receiver[1]

        def add(x: torch.Tensor, hook: Any = None) -> torch.Tensor:
            x = x.clone()  # (batch, position, heads, d_model)
            x[:, :, head] += change["delta"]
            return x
        return add

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        delta, change = self._change(model, reference, offset), {}

        def sender(z: torch.Tensor, hook: Any = None) -> None:
            change["delta"] = delta(z)  # the sender's output itself is left clean
        return [(self._name(model), sender), (self._target_name(model), self._adder(change))]

    def cache_names(self, model: HookedModel) -> set[str]:
        """Hook points of the clean run that :meth:`from_cache` reads: the sender's layer's ``z``, and the final
        residual stream (direct path) or the residual stream entering the receiver's layer."""
        target = (model.hook_name("resid_post", model.n_layers - 1) if self.receiver is None
                  else model.hook_name("resid_pre", self.receiver[0]))
        return {self._name(model), target}

    def from_cache(self, model: Resumable, cache: dict[str, torch.Tensor], reference: Reference | None,
                   offset: int) -> torch.Tensor:
        """Logits of this arm from the clean run's activations at :meth:`cache_names`, without rerunning the model
        before the target: the direct path only normalizes and unembeds, a receiver path reruns from its layer."""
        self.check(model)
        change = {"delta": self._change(model, reference, offset)(cache[self._name(model)])}
        if self.receiver is None:
            return model.run_from(model.n_layers, cache[self._target_name(model)] + change["delta"])
        layer = self.receiver[0]
        with hooks(model, [(self._target_name(model), self._adder(change))]):
            return model.run_from(layer, cache[model.hook_name("resid_pre", layer)])


@dataclass(frozen=True)
class RolePath(RoleTreatment, prefix="path_role"):
    """A path from the head playing ``role`` (in ``layer``), resolved per model like the other role treatments.

    Parameters
    ----------
    role, layer, kind
        The sender, as for :class:`~causalattn.lab.interventions.roles.RoleAblation`.
    receiver_role : {"induction", "previous_token"} or None
        None: the direct path to the logits. Else the receiver is the head with
        the highest score of that role in ``receiver_layer`` (if given) or in
        any layer after the sender's.
    receiver_layer : int or None
    receiver_input : {"q", "k", "v"} or None
        Required with a receiver.

    Labels read ``path_role:{role}[@L{layer}]->{logits | receiver_role[@L{layer}].{q|k|v}}:{kind}``.

    Examples
    --------
    >>> RolePath.from_label("path_role:previous_token@L0->induction.k:mean").label
    'path_role:previous_token@L0->induction.k:mean'
    >>> RolePath("induction", 1).label
    'path_role:induction@L1->logits:zero'
    """

    kind: str = "zero"
    receiver_role: str | None = None
    receiver_layer: int | None = None
    receiver_input: str | None = None

    resolves_to: ClassVar[type[HeadPath]] = HeadPath
    kinds: ClassVar[tuple[str, ...]] = ABLATION_KINDS

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.receiver_role is None:
            if self.receiver_layer is not None or self.receiver_input is not None:
                raise ValueError("`receiver_layer` and `receiver_input` need a `receiver_role`")
            return
        check_choice("receiver_role", self.receiver_role, tuple(ROLES))
        check_choice("receiver_input", self.receiver_input, RECEIVER_INPUTS)
        if self.receiver_layer is not None:
            check_positive_int("receiver_layer", self.receiver_layer, minimum=0)
            if self.layer is not None and self.receiver_layer <= self.layer:
                raise ValueError("`receiver_layer` must be None or a layer after the sender's, "
                                 f"got {self.receiver_layer!r}")

    @classmethod
    def from_label(cls, text: str) -> RolePath:
        match = _ROLE_LABEL.match(text)
        if match is None:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. "
                             "'path_role:previous_token@L0->induction@L1.k:mean' or 'path_role:induction->logits:zero'"
                             f"{_SHELL if text.endswith('-') else ''}")
        layer = None if match["layer"] is None else int(match["layer"])
        if match["target"] == "logits":
            return cls(match["role"], layer, match["kind"])
        found = _ROLE_RECEIVER.match(match["target"])
        if found is None:
            raise ValueError(f"`label` {text!r}: the path must end at 'logits' or at a receiver's input such as "
                             f"'induction@L1.k', got {match['target']!r}")
        return cls(match["role"], layer, match["kind"], found["role"],
                   None if found["layer"] is None else int(found["layer"]), _receiver_input(text, found["input"]))

    @property
    def label(self) -> str:  # type: ignore[override]
        sender = f"{self.role}" + ("" if self.layer is None else f"@L{self.layer}")
        target = "logits" if self.receiver_role is None else (
            f"{self.receiver_role}" + ("" if self.receiver_layer is None else f"@L{self.receiver_layer}")
            + f".{self.receiver_input}")
        return f"path_role:{sender}->{target}:{self.kind}"

    @property
    def acts_on_z_only(self) -> bool:
        return False

    @property
    def _sender(self) -> str:
        return f"the {self.role} head" + ("" if self.layer is None else f" of layer {self.layer}")

    @property
    def targets(self) -> frozenset[tuple[str, str]]:
        return frozenset({(f"path to {self.label.split('->')[1].rsplit(':', 1)[0]}", self._sender)})

    @property
    def reads(self) -> frozenset[tuple[str, str]]:
        return frozenset({(self.resolves_to.point, self._sender)})

    def resolve(self, scan: HeadScan) -> HeadPath:
        """The :class:`HeadPath` between the heads with the highest role scores in ``scan`` (of one model)."""
        sender = RoleTreatment.resolve(self, scan)  # a HeadPath to the logits, from the sender
        if self.receiver_role is None:
            return sender
        scores = scan.scores
        later = scores[scores["layer"] == self.receiver_layer] if self.receiver_layer is not None else \
            scores[scores["layer"] > sender.layer]
        if later.empty:
            raise ValueError(f"{self.label!r}: no receiver in " + (
                f"layer {self.receiver_layer}: the scan has layers 0..{int(scores['layer'].max())}"
                if self.receiver_layer is not None else f"a layer after the sender's, L{sender.layer}"))
        best = HeadScan(later, scan.n_sequences, scan.length).top(1, ROLES[self.receiver_role]).iloc[0]
        return HeadPath(sender.layer, sender.head, self.kind,
                        receiver=(int(best["layer"]), int(best["head"]), self.receiver_input))
