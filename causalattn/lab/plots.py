"""Figures of the lab: attention maps (paper Fig. 2), training curves (Fig. 4 left), memory probes (Figs. 3, 4 right).

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot, so nothing global changes and any backend (Agg included) works.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from torch import nn

from causalattn._validation import check_columns
from causalattn.lab.analysis.probes import PROBE_KEYS
from causalattn.lab.interventions.base import Intervention, parse_treatment
from causalattn.lab.models.hooks import HookFn, activations, hooks
from causalattn.lab.tasks.bigram import Batch

__all__ = ["plot_attention", "plot_training_curves", "plot_probes"]

_PROBE_LABELS = {
    "w1k_recall": "$W^1_K$ recall (previous token)",
    "w1k_recall_t64": "$W^1_K$ recall, $t < 64$",
    "w2k_recall": "$W^2_K$ recall (induction)",
    "w2o_recall": "$W^2_O$ recall (output)",
}


# At most this many labelled ticks per axis of an attention map; longer windows label every k-th position.
_MAX_LABELLED = 64
_TRIGGER_COLOUR, _OUTPUT_COLOUR = "tab:red", "tab:green"


def plot_attention(
    model: nn.Module,
    batch: Batch,
    index: int = 0,
    *,
    treatment: Intervention | str | None = None,
    reference: Any = None,
    fwd_hooks: Mapping[str, HookFn] | Iterable[tuple[str, HookFn]] | None = None,
    window: tuple[int, int] | None = None,
    chars: Sequence[str] | None = None,
) -> Figure:
    """Attention patterns of every layer and head on one sequence, triggers and outputs marked (paper Fig. 2).

    Parameters
    ----------
    model : nn.Module
        A model implementing :class:`causalattn.lab.models.contract.HookedModel`.
    batch : Batch
        Sequences of the task; sequence ``index`` is shown.
    index : int
        Which sequence of the batch.
    treatment : Intervention or label, optional
        An intervention active during the forward pass (``"ablate:L1H0:zero"``),
        with its ``reference`` (sequence ``index`` pairs with reference row
        ``index``). The figure is titled with it, and the map of every head it
        acts on says what it replaces: the *pattern* (a fixed pattern, shown
        as replaced) or the head's *output* (an ablation or a patch: the map
        shows the pattern the head still computes, which is no longer used).
    reference : Reference, Batch or tensor, optional
        The reference sequences or activations ``treatment`` needs (mean and
        resample ablation, patching; see :meth:`causalattn.lab.interventions.base.Intervention.hooks`).
    fwd_hooks : mapping or iterable of (name, fn), optional
        Further hook functions active during the forward pass (see
        :func:`causalattn.lab.models.hooks.hooks`); the maps of a layer whose
        head outputs or patterns they act on say so.
    window : (start, stop), optional
        Positions shown (queries and keys); default the first 64.
    chars : sequence of str, optional
        The characters the token ids stand for (``task.chars``); without
        them the ticks show token ids.

    Notes
    -----
    Ticks carry the token's character (a space is an open box). Windows
    longer than 64 positions label every k-th position only, so that labels
    never overprint. Every trigger token gets a long red tick and every output
    token (the token after a trigger) a long green one, labelled or not; the
    query labels of in-context positions (a trigger seen before, whose next
    token is predictable) are shaded. An induction head shows as dark cells
    at red queries and green keys; a previous-token head as the diagonal
    just below the main one. Under an ablation the ablated head's map is the
    same as without it (its output is replaced after its pattern is applied),
    and its title says so; the later layers show what the ablation changes.
    """
    n = batch.inputs.shape[1]
    if isinstance(index, bool) or not isinstance(index, numbers.Integral) or not 0 <= index < len(batch):
        raise ValueError(f"`index` must be in [0, {len(batch)}), got {index}")
    start, stop = window if window is not None else (0, min(n, 64))
    if not 0 <= start < stop <= n:
        raise ValueError(f"`window` must satisfy 0 <= start < stop <= {n}, got {window}")
    if chars is not None and len(chars) < model.vocab_size:
        raise ValueError(f"`chars` must name every token (vocab_size {model.vocab_size}), got {len(chars)}")
    inputs = batch.inputs[index : index + 1]
    n_layers, n_heads = model.n_layers, model.n_heads
    names = [model.hook_name("pattern", layer) for layer in range(n_layers)]
    treatment = parse_treatment(treatment) if isinstance(treatment, str) else treatment
    if treatment is not None and not isinstance(treatment, Intervention):
        raise TypeError(f"`treatment` must be an Intervention, a label or None, got {type(treatment).__name__}")
    extra = list(fwd_hooks.items()) if isinstance(fwd_hooks, Mapping) else list(fwd_hooks or [])
    applied = ([] if treatment is None else treatment.hooks(model, reference, offset=index)) + extra
    notes = _notes(model, treatment, [item[0] for item in extra if isinstance(item, tuple) and item])
    with torch.no_grad(), hooks(model, applied):
        cache = activations(model, inputs, names=names)  # stops after the last layer's pattern

    tokens = inputs[0, start:stop].tolist()
    labels = [_label(chars[t]) if chars is not None else str(t) for t in tokens]
    trigger = (batch.trigger_count[index] > 0).numpy()
    marks = {p - start: _OUTPUT_COLOUR for p in range(max(start, 1), stop) if trigger[p - 1]}
    marks.update({p - start: _TRIGGER_COLOUR for p in range(start, stop) if trigger[p]})  # a trigger stays red
    in_context = np.flatnonzero(batch.in_context[index, start:stop].numpy()).tolist()
    step = -(-(stop - start) // _MAX_LABELLED)  # label every step-th position
    shown = [label if i % step == 0 else "" for i, label in enumerate(labels)]

    fig = Figure(figsize=(6.5 * n_heads, 6 * n_layers + 0.4), layout="constrained")
    axes = np.atleast_2d(fig.subplots(n_layers, n_heads, squeeze=False))
    for layer, name in enumerate(names):
        pattern = cache[name][0, :, start:stop, start:stop].numpy()  # (heads, query, key)
        for head in range(n_heads):
            ax = axes[layer, head]
            image = ax.imshow(pattern[head], cmap="Blues", vmin=0, vmax=1, interpolation="nearest",
                              extent=(start - 0.5, stop - 0.5, stop - 0.5, start - 0.5))
            note = notes.get((layer, head)) or notes.get(layer)
            ax.set_title(f"layer {layer} head {head} (L{layer}H{head})" + (f"\n{note}" if note else ""),
                         color="tab:red" if note else "black")
            what = "characters" if chars is not None else "token ids"
            every = "" if step == 1 else f", every {step}th labelled"
            ax.set_xlabel(f"key position {start}-{stop - 1} ({what}{every})")
            ax.set_ylabel(f"query position {start}-{stop - 1} ({what}{every})")
            _mark_ticks(ax, start, shown, marks, in_context, width=1.5 if step == 1 else 0.5)
            fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    fig.legend(handles=[
        Line2D([], [], color=_TRIGGER_COLOUR, lw=2, label="trigger token"),
        Line2D([], [], color=_OUTPUT_COLOUR, lw=2, label="output token (follows a trigger)"),
        Patch(facecolor="mistyrose", label="in-context query (trigger seen before)"),
    ], loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    if treatment is not None or extra:
        fig.suptitle(f"under {treatment.label}" if treatment is not None else "under the hooks given (fwd_hooks)")
    return fig


# What an intervention on a hook point replaces, for the title of the map of a head it acts on
_REPLACES = {
    "z": "OUTPUT replaced by {what}\n(this pattern is computed but not used)",
    "pattern": "PATTERN replaced by {what} (shown)",
}


def _notes(model: Any, treatment: Intervention | None, hooked: list[str]) -> dict[Any, str]:
    """``(layer, head)`` -> what ``treatment`` replaces in that head; ``layer`` -> what hooks on ``hooked`` replace."""
    notes: dict[Any, str] = {}
    for layer in range(model.n_layers):
        for point, text in _REPLACES.items():
            if model.hook_name(point, layer) in hooked:
                notes[layer] = text.format(what=f"hooks on {model.hook_name(point, layer)}")
    for part in () if treatment is None else getattr(treatment, "parts", (treatment,)):
        point, layer, head = (getattr(part, key, None) for key in ("point", "layer", "head"))
        if point in _REPLACES and head is not None:
            notes[layer, head] = _REPLACES[point].format(what=part.label)
    return notes


def _label(char: str) -> str:
    """A visible tick label: spaces as an open box, newlines as an escape."""
    return "\u2423" if char == " " else repr(char)[1:-1]


def _mark_ticks(ax, start: int, labels: list[str], marks: dict[int, str], in_context: list[int],
                width: float) -> None:
    """Tick labels on both axes; long coloured ticks at trigger and output tokens; shaded in-context queries."""
    positions = np.arange(start, start + len(labels))
    ax.set_xticks(positions, labels, fontsize=7, family="monospace")
    ax.set_yticks(positions, labels, fontsize=7, family="monospace")
    ax.tick_params(length=2, width=0.5, pad=6)  # labels clear of the long marked ticks
    for axis in (ax.xaxis, ax.yaxis):
        for i, (tick, label) in enumerate(zip(axis.get_major_ticks(), axis.get_ticklabels(), strict=False)):
            if i in marks:
                tick.tick1line.set(markeredgecolor=marks[i], markersize=6, markeredgewidth=width)
                label.set(color=marks[i], fontweight="bold")
    for i in in_context:
        ax.get_yticklabels()[i].set_bbox({"facecolor": "mistyrose", "edgecolor": "none", "pad": 0.5})


def plot_training_curves(history: pd.DataFrame) -> Figure:
    """In-context and global loss (and in-context accuracy) against the iteration (paper Fig. 4, left).

    Parameters
    ----------
    history : pandas.DataFrame
        One row per logged iteration with columns ``iteration``, ``in_context_loss``,
        ``global_loss`` and, optionally, ``in_context_accuracy``.
    """
    check_columns(history, history=["iteration", "in_context_loss", "global_loss"])
    has_accuracy = "in_context_accuracy" in history.columns
    fig = Figure(figsize=(10 if has_accuracy else 5.5, 4), layout="constrained")
    axes = fig.subplots(1, 2 if has_accuracy else 1, squeeze=False)[0]
    ax = axes[0]
    ax.plot(history["iteration"], history["in_context_loss"], label="in-context loss")
    ax.plot(history["iteration"], history["global_loss"], label="global loss")
    ax.set_xlabel("iteration")
    ax.set_ylabel("cross-entropy")
    ax.legend()
    if has_accuracy:
        axes[1].plot(history["iteration"], history["in_context_accuracy"], color="tab:green")
        axes[1].set_ylim(0, 1.02)
        axes[1].set_xlabel("iteration")
        axes[1].set_ylabel("in-context accuracy")
    return fig


def plot_probes(history: pd.DataFrame) -> Figure:
    """Memory recall probes (eq. 9) and the W_F KL probe (eq. 10) against the iteration (paper Figs. 3, 4 right).

    Parameters
    ----------
    history : pandas.DataFrame
        Column ``iteration`` and any of ``w1k_recall``, ``w1k_recall_t64``,
        ``w2k_recall``, ``w2o_recall``, ``wf_kl``; all-NaN columns are skipped.
    """
    check_columns(history, history="iteration")
    present = [k for k in PROBE_KEYS if k in history.columns and history[k].notna().any()]
    if not present:
        raise ValueError(f"`history` has no probe column with values; expected some of {list(PROBE_KEYS)}")
    recalls = [k for k in present if k != "wf_kl"]
    panels = [p for p in (recalls, ["wf_kl"] if "wf_kl" in present else []) if p]
    fig = Figure(figsize=(5.5 * len(panels), 4), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, keys in zip(axes, panels, strict=True):
        for key in keys:  # the t < 64 variant dashed: it may coincide with the full W1_K recall
            ax.plot(history["iteration"], history[key], label=_PROBE_LABELS.get(key, "$W_F$ KL to $\\pi_b$"),
                    linestyle="--" if key == "w1k_recall_t64" else "-")
        ax.set_xlabel("iteration")
        if keys == ["wf_kl"]:
            ax.set_ylabel("KL divergence")
        else:
            ax.set_ylabel("memory recall")
            ax.set_ylim(-0.02, 1.02)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncols=2, fontsize=8)  # below: never over a curve
    return fig
