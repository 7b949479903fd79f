"""The base of the interventions on attention heads: :class:`Intervention`, the label registry, :class:`Reference`.

Each intervention is a frozen dataclass with a stable ``label`` (``"ablate:L1H0:mean"``,
``"pattern:L0H0:previous_token"``, ``"ablate:L0H0:zero+ablate:L1H0:zero"``) that
names the estimand in the statistics, and :meth:`Intervention.hooks` returns the
``(hook name, function)`` pairs that apply it through :func:`causalattn.lab.models.hooks.hooks`;
the model's code is never touched. Interventions ask the model only through
:class:`causalattn.lab.models.contract.HookedModel` (sizes and ``hook_name``), so they
run on the lab's transformers and on pretrained HuggingFace models alike.

* :class:`~causalattn.lab.interventions.ablation.HeadAblation` (``ablate:``) replaces head ``h``'s output before the
  output projection (``blocks.{l}.attn.hook_z``, shape (batch, position, heads,
  d_head)) by zero, by its mean over a reference batch (per position or over
  all positions), or by its output on another sequence (resample ablation).
* :class:`~causalattn.lab.interventions.ablation.HeadPatch` (``patch:``) replaces head ``h``'s output by its output on
  a named source sequence, e.g. a designed counterfactual (activation patching).
* :class:`~causalattn.lab.interventions.pattern.PatternFreeze` (``pattern:``) replaces head ``h``'s attention pattern
  (``blocks.{l}.attn.hook_pattern``, shape (batch, heads, query, key)) by
  uniform causal attention, exact previous-token attention, or the pattern the
  head produced on another clean or corrupted sequence.
* :class:`~causalattn.lab.interventions.combined.Combined` applies several interventions together (one
  treatment).

These name a head by its index, the same head in every model. The role
treatments of :mod:`causalattn.lab.interventions.roles` name it by what it does
(``ablate_role:induction@L1:zero``, ``pattern_role:previous_token@L0:uniform``)
and are resolved to one of the above on each model by a head scan.

The vocabulary is open: each class declares its label prefix
(``class HeadPatch(Intervention, prefix="patch")``) and parses its own labels in
``from_label``; the prefix is registered in :data:`PREFIXES` (a registry like the designs'),
:func:`parse_treatment` dispatches on it, so a new kind
of intervention is one class in one file.

Interventions that need activations on other sequences (mean, resample,
patching, clean and corrupted patterns) read them from a :class:`Reference`,
computed once from named source sequences: ``"clean"`` (the reference batch),
``"corrupted"`` (each reference sequence with its positions shuffled, unless
given) and any sequences the user gives. Sequence ``i`` of an evaluated batch
uses row ``(offset + i) mod R`` of a source with ``R`` rows, so a source with
one row per evaluated sequence pairs them one to one.

References
----------
Nanda, N. and Bloom, J. (2022). TransformerLens (hook names and ablation kinds).
Meng, K., Bau, D., Andonian, A. and Belinkov, Y. (2022). Locating and Editing Factual Associations in GPT.
NeurIPS (activation patching).
Bietti, A. et al. (2023). Birth of a Transformer: A Memory Viewpoint. arXiv:2306.00802.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from causalattn._registry import Registry
from causalattn._validation import check_positive_int
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.models.hooks import HookFn, activations

__all__ = ["JOINERS", "PREFIXES", "HeadIntervention", "Intervention", "Reference", "as_interventions",
           "parse_treatment"]

#: Label prefix (``"ablate"``, ``"pattern"``, ...) -> the intervention class that reads labels starting with it.
PREFIXES: Registry[type[Intervention]] = Registry("intervention prefix", argument="label")
#: ``"+"`` -> the class of several parts applied together (:class:`~causalattn.lab.interventions.combined.Combined`).
JOINERS: Registry[type[Intervention]] = Registry("label joiner", argument="label")


def _as_tokens(inputs: Any, name: str) -> torch.Tensor:
    tokens = getattr(inputs, "inputs", inputs)
    if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
        raise TypeError(f"`{name}` must be a Batch or a (batch, position) long tensor of tokens, "
                        f"got {type(inputs).__name__}")
    return tokens


class Reference:
    """Activations of a model on named source sequences, computed once, read by the interventions that need them.

    Parameters
    ----------
    activations : mapping
        Source name -> {hook name -> activation} (first axis: sequence).

    Build it with :meth:`compute`.
    """

    def __init__(self, activations: Mapping[str, Mapping[str, torch.Tensor]]) -> None:
        self.activations = {source: dict(acts) for source, acts in activations.items()}

    def __repr__(self) -> str:
        return f"Reference({ {source: sorted(acts) for source, acts in self.activations.items()} })"

    @classmethod
    def compute(
        cls, model: HookedModel, inputs: Any, interventions: Sequence[Intervention], *,
        generator: torch.Generator | None = None, sources: Mapping[str, Any] | None = None,
    ) -> Reference:
        """Run ``model`` once on each source the ``interventions`` need and keep the activations they read.

        Each forward pass stops once the last activation needed is in
        (:func:`causalattn.lab.models.hooks.activations`): a reference at layer
        0 costs one layer of the model, not the whole model with its unembedding.

        Parameters
        ----------
        model : HookedModel
        inputs : torch.Tensor (R, T) long, or a :class:`causalattn.lab.tasks.bigram.Batch`
            The reference sequences: source ``"clean"``.
        interventions : sequence of Intervention
            Only the sources and activations these need are computed.
        generator : torch.Generator, optional
            Seeds the default ``"corrupted"`` source: each reference sequence with
            its positions shuffled (same tokens, no in-context structure left).
        sources : mapping, optional
            More source sequences by name (tensors or Batches), e.g.
            ``{"counterfactual": tokens}`` for :class:`HeadPatch`, or
            ``{"corrupted": tokens}`` to replace the shuffled corruption.

        Examples
        --------
        >>> import torch
        >>> from causalattn.lab import ModelConfig, build_model
        >>> from causalattn.lab.interventions import HeadPatch
        >>> model = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=8))
        >>> tokens = torch.randint(65, (4, 8), generator=torch.Generator().manual_seed(0))
        >>> Reference.compute(model, tokens, [HeadPatch(1, 0, "counterfactual")], sources={"counterfactual": tokens})
        Reference({'counterfactual': ['blocks.1.attn.hook_z']})
        """
        model = check_model(model)
        inputs = _as_tokens(inputs, "inputs")
        given = {} if sources is None else sources
        if not isinstance(given, Mapping) or "clean" in given or not all(isinstance(k, str) for k in given):
            names = sorted(map(str, given)) if isinstance(given, Mapping) else ""
            raise ValueError("`sources` must map names other than 'clean' (the reference `inputs`) to sequences, "
                             f"got {type(given).__name__} {names}")
        tokens = {"clean": inputs, **{name: _as_tokens(seqs, f"sources[{name!r}]") for name, seqs in given.items()}}
        wanted: dict[str, set[str]] = {}
        for item in interventions:
            for source, name in item.needs(model):
                wanted.setdefault(source, set()).add(name)
        missing = sorted(set(wanted) - set(tokens) - {"corrupted"})
        if missing:
            raise ValueError(f"`sources` has no sequences named {missing}, needed by the interventions; "
                             f"given: {sorted(tokens)}")
        if "corrupted" in wanted and "corrupted" not in tokens:
            gen = generator if generator is not None else torch.Generator().manual_seed(0)
            order = torch.argsort(torch.rand(inputs.shape, generator=gen), dim=1)
            tokens["corrupted"] = inputs.gather(1, order)
        with torch.no_grad():  # each pass stops after the last point needed (no unembedding)
            return cls({source: activations(model, tokens[source], names=names) for source, names in wanted.items()})

    def get(self, source: str, name: str, label: str) -> torch.Tensor:
        """The activation at hook ``name`` on source ``source``; a ValueError naming ``label`` if absent."""
        store = self.activations.get(source, {})
        if name not in store:
            raise ValueError(f"`reference` holds no {source} activations at {name!r}, needed by {label!r}; "
                             "compute it with Reference.compute(model, inputs, [intervention, ...])")
        return store[name]


class Intervention:
    """Base of the intervention values: ``label``, ``from_label``, ``check(model)``, ``needs(model)``, ``hooks(...)``.

    A subclass declares its label prefix, ``class MyPatch(Intervention, prefix="mypatch")``,
    which registers it in :data:`PREFIXES`, where :func:`parse_treatment` finds it; the class of
    several parts joined by ``+`` (:class:`causalattn.lab.interventions.combined.Combined`)
    declares ``joins="+"`` (:data:`JOINERS`).
    """

    prefix: ClassVar[str] = ""
    label: str

    def __init_subclass__(cls, prefix: str | None = None, joins: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if prefix is not None:
            PREFIXES.add(prefix, cls)
            cls.prefix = prefix
        if joins is not None:
            JOINERS.add(joins, cls)

    @classmethod
    def from_label(cls, text: str) -> Intervention:
        """The intervention whose label is ``text`` (its prefix is this class's); ValueError if unreadable."""
        raise NotImplementedError

    @property
    def layers(self) -> tuple[int, ...]:
        """Layers acted on; the study reuses the clean forward pass up to ``min(layers)``."""
        raise NotImplementedError

    @property
    def acts_on_z_only(self) -> bool:
        """True when every part replaces head outputs (``hook_z``), leaving the attention patterns as they are."""
        raise NotImplementedError

    @property
    def targets(self) -> frozenset[tuple[str, str]]:
        """``(hook point, head)`` pairs whose value this intervention replaces, e.g. ``("z", "L1H0")``.

        Two parts of one :class:`~causalattn.lab.interventions.combined.Combined`
        treatment may not share one: the later hook would silently overwrite the
        earlier. A kind that does not say what it replaces returns the empty set.
        """
        return frozenset()

    @property
    def reads(self) -> frozenset[tuple[str, str]]:
        """``(hook point, head)`` pairs whose clean value this intervention reads (a path reads its sender's output).

        No other part of one :class:`~causalattn.lab.interventions.combined.Combined`
        treatment may replace them (have them in its :attr:`targets`). Empty by default.
        """
        return frozenset()

    def check(self, model: HookedModel) -> None:
        """ValueError unless the intervention fits ``model`` (layers, heads)."""
        raise NotImplementedError

    def needs(self, model: HookedModel) -> set[tuple[str, str]]:
        """``(source, hook name)`` pairs of reference activations needed (source: ``clean``, ``corrupted`` ...)."""
        raise NotImplementedError

    def cache_names(self, model: HookedModel) -> set[str]:
        """Hook points of the clean run from which :meth:`from_cache` computes this arm's logits.

        Empty (the default): the runner resumes the arm from the residual stream
        entering ``min(layers)`` under its :meth:`hooks`.
        """
        return set()

    def from_cache(self, model: Any, cache: dict[str, torch.Tensor], reference: Reference | None,
                   offset: int) -> torch.Tensor:
        """Logits of this arm from the clean run's activations at :meth:`cache_names` (a ``Resumable`` model)."""
        raise NotImplementedError

    def hooks(self, model: HookedModel, reference: Any = None, *, offset: int = 0) -> list[tuple[str, HookFn]]:
        """``(hook name, function)`` pairs applying the intervention, for :func:`causalattn.lab.models.hooks.hooks`.

        Parameters
        ----------
        model : HookedModel
            The model (checked with :meth:`check`).
        reference : Reference, Batch or tensor, optional
            Reference activations, or reference sequences to compute them from;
            needed by mean and resample ablation, patching and clean/corrupted patterns.
        offset : int
            Index of the first evaluated sequence (sequence ``i`` uses
            reference sequence ``(offset + i) mod R``).
        """
        model = check_model(model)
        self.check(model)
        if self.needs(model) and not isinstance(reference, Reference):
            if reference is None:
                raise ValueError(f"`reference` is needed by {self.label!r}: pass reference sequences or a Reference")
            reference = Reference.compute(model, _as_tokens(reference, "reference"), [self])
        return self._hooks(model, reference, offset)

    def _hooks(self, model: HookedModel, reference: Reference | None, offset: int) -> list[tuple[str, HookFn]]:
        raise NotImplementedError

    def __str__(self) -> str:
        return self.label


_HEAD_LABEL = re.compile(r"^(?P<prefix>[a-z_]+):L(?P<layer>\d+)H(?P<head>\d+):(?P<rest>.+)$")


@dataclass(frozen=True)
class HeadIntervention(Intervention):
    """Base of the interventions on one head ``head`` of layer ``layer``, labelled ``{prefix}:L{layer}H{head}:...``."""

    layer: int
    head: int

    point: ClassVar[str]  # the contract's hook point acted on ("z", "pattern")

    def __post_init__(self) -> None:
        check_positive_int("layer", self.layer, minimum=0)
        check_positive_int("head", self.head, minimum=0)

    @classmethod
    def _split(cls, text: str) -> tuple[int, int, list[str]]:
        """``prefix:L{layer}H{head}:rest`` -> (layer, head, rest split on ':')."""
        match = _HEAD_LABEL.match(text)
        if match is None or match["prefix"] != cls.prefix:
            raise ValueError(f"`label` {text!r}: cannot read it; expected e.g. '{cls.prefix}:L1H0:...'")
        return int(match["layer"]), int(match["head"]), match["rest"].split(":")

    @property
    def layers(self) -> tuple[int, ...]:
        return (self.layer,)

    @property
    def acts_on_z_only(self) -> bool:
        return self.point == "z"

    @property
    def targets(self) -> frozenset[tuple[str, str]]:
        return frozenset({(self.point, f"L{self.layer}H{self.head}")})

    def _name(self, model: HookedModel) -> str:
        return model.hook_name(self.point, self.layer)

    def check(self, model: HookedModel) -> None:
        if self.layer >= model.n_layers:
            raise ValueError(f"`layer` {self.layer} of {self.label!r} is out of range: the model has "
                             f"{model.n_layers} layer(s), 0..{model.n_layers - 1}")
        if self.head >= model.n_heads:
            raise ValueError(f"`head` {self.head} of {self.label!r} is out of range: the model has {model.n_heads} "
                             f"head(s) per layer, 0..{model.n_heads - 1}")

    def _replace_z(self, name: str, values: Any) -> list[tuple[str, HookFn]]:
        """Hook replacing this head's z by ``values(z)`` (a (batch, position, d_head) tensor)."""
        head = self.head

        def replace(z: torch.Tensor, hook: Any = None) -> torch.Tensor:
            z = z.clone()  # (batch, position, heads, d_head)
            z[:, :, head] = values(z)
            return z
        return [(name, replace)]

    def _from_source(self, name: str, ref: torch.Tensor, offset: int) -> list[tuple[str, HookFn]]:
        """Hook giving this head its z on the paired row of a source: ``ref`` is (R, T, d_head)."""
        def paired(z: torch.Tensor) -> torch.Tensor:
            self._check_fits(ref.shape[1], z.shape[1])
            return ref[self._rows(z.shape[0], offset, ref.shape[0]), : z.shape[1]]
        return self._replace_z(name, paired)

    @staticmethod
    def _rows(n: int, offset: int, size: int) -> torch.Tensor:
        """Reference sequence of each of ``n`` evaluated sequences starting at ``offset``."""
        return (torch.arange(n) + offset) % size

    def _check_fits(self, reference_len: int, length: int) -> None:
        if reference_len < length:
            raise ValueError(f"{self.label!r} does not fit: its reference sequences have {reference_len} positions, "
                             f"the evaluated ones {length}")


def parse_treatment(label: str) -> Intervention:
    """The intervention named by ``label`` (the inverse of ``.label``): parts joined by ``+``, each read by its class.

    The grammar of a part (``{a|b}`` is one of the choices, ``[...]`` is optional):

    * ``ablate:L{layer}H{head}:{zero|mean|resample}``, or ``...:mean:overall``
      (:class:`causalattn.lab.interventions.ablation.HeadAblation`);
    * ``patch:L{layer}H{head}:{source}`` (:class:`causalattn.lab.interventions.ablation.HeadPatch`);
    * ``pattern:L{layer}H{head}:{uniform|previous_token|clean|corrupted}``
      (:class:`causalattn.lab.interventions.pattern.PatternFreeze`);
    * ``path:L{layer}H{head}->{logits|L{layer}H{head}.{q|k|v}}:{zero|mean|resample}``, or ``...:mean:overall``:
      the sender's ablated output along one path only, to the logits (the
      direct effect) or into one receiver's queries, keys or values
      (:class:`causalattn.lab.interventions.path.HeadPath`);
    * ``ablate_role:{role}[@L{layer}]:{zero|mean|resample}`` and
      ``pattern_role:{role}[@L{layer}]:{uniform|previous_token|clean|corrupted}``,
      ``role`` one of ``induction``, ``previous_token``: the same, on the head
      that plays the role (in layer ``layer``, else in any layer), resolved on
      each model (:mod:`causalattn.lab.interventions.roles`); and
      ``path_role:{role}[@L{layer}]->{logits|role[@L{layer}].{q|k|v}}:{zero|mean|resample}``
      (:class:`causalattn.lab.interventions.path.RolePath`).

    Examples
    --------
    >>> parse_treatment("ablate:L1H0:mean+pattern:L0H0:uniform").label
    'ablate:L1H0:mean+pattern:L0H0:uniform'
    >>> parse_treatment("pattern_role:previous_token@L0:uniform")
    RolePattern(role='previous_token', layer=0, kind='uniform')
    >>> parse_treatment("path:L0H0->L1H0.k:mean").receiver
    (1, 0, 'k')
    """
    if not isinstance(label, str):
        raise TypeError(f"`label` must be a string such as 'ablate:L1H0:mean', got {type(label).__name__}")
    parts: list[Intervention] = []
    for text in label.split("+"):
        text = text.strip()
        kind = PREFIXES.get(text.split(":", 1)[0])
        if kind is None:
            raise ValueError(f"`label` {label!r}: cannot read {text!r}; each part starts with one of "
                             f"{sorted(PREFIXES)}, e.g. 'ablate:L1H0:zero', 'ablate:L1H0:mean:overall', "
                             "'pattern:L0H0:previous_token' or 'pattern_role:previous_token@L0:uniform', "
                             "parts joined with '+'")
        parts.append(kind.from_label(text))
    return parts[0] if len(parts) == 1 else JOINERS["+"](tuple(parts))


def as_interventions(treatments: Any) -> list[Intervention]:
    """Interventions from a sequence of interventions or labels; a ValueError on duplicate labels."""
    if isinstance(treatments, (str, Intervention)) or not isinstance(treatments, Iterable):
        treatments = [treatments]
    out = [t if isinstance(t, Intervention) else parse_treatment(t) for t in treatments]  # a Series: its values
    if not out:
        raise ValueError("`treatments` must hold at least one intervention")
    labels = [t.label for t in out]
    duplicated = sorted({x for x in labels if labels.count(x) > 1})
    if duplicated:
        raise ValueError(f"`treatments` has duplicate labels: {duplicated}")
    return out
