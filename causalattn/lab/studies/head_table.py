r"""The head map's results: each head's paired effect, p-values adjusted across heads, discoveries, a heatmap.

Head :math:`(l, h)` is a treatment and unit :math:`i` (a sequence, a prompt) is
measured under control and with that head ablated, so each head's effect is a
matched-pairs comparison: :math:`\hat\tau_{lh} = n^{-1}\sum_i \{Y_i(lh) - Y_i(\text{control})\}`
with the interval and p-value of one procedure (:func:`causalattn.paired_effect`;
default the paired t). The intervals are per head (each covers its own
effect with the stated probability; they are not simultaneous).

With :math:`m` heads there are :math:`m` tests, and the smallest of many
p-values overstates the evidence. Every head's p-value is adjusted across all
:math:`m` heads of the map (:func:`causalattn.adjust_pvalues`, ``family="all"``:
a head whose every unit changed by the same amount has no test and counts as
p = 1):

* ``pvalue_holm``: Holm, controls the family-wise error rate (the probability
  of naming any head that has no effect) under any dependence;
* ``pvalue_bh``: Benjamini-Hochberg, controls the false discovery rate (the
  expected share of named heads that have no effect) for independent or
  positively dependent tests;
* ``pvalue_by``: Benjamini-Yekutieli, the false discovery rate under any
  dependence. The heads are measured on the same units, so their tests are
  dependent in ways no one can sign: BY is the one whose guarantee needs no
  assumption, Holm the one that guards against any false claim.

The *discoveries* at level :math:`\alpha` under an adjustment are the heads whose
adjusted p-value is below :math:`\alpha`. The rows are built as every study's
(:func:`causalattn.lab.studies.table.study_table`: the same details, the same
random stream per question, the same options of ``effects``).

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched pairs).
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scand. J. Statist.* 6, 65-70.
Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate. *JRSS B* 57, 289-300.
Benjamini, Y. and Yekutieli, D. (2001). The control of the false discovery rate in multiple testing under
dependency. *Annals of Statistics* 29, 1165-1188.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from causalattn._pvalues import format_pvalue
from causalattn._validation import check_choice
from causalattn.effects import paired_effect
from causalattn.estimate import Estimate
from causalattn.lab.studies.table import EffectOptions, StudyEffects, study_effect
from causalattn.multiple_testing import ADJUSTMENTS

__all__ = ["HEAD_COLUMNS", "HeadMap", "check_alpha"]

#: Columns of :meth:`HeadMap.to_frame` (and of ``head_effects.csv``), in order.
HEAD_COLUMNS = ("layer", "head", "treatment", "outcome", "estimate", "standard_error", "ci_low", "ci_high", "pvalue",
                "pvalue_holm", "pvalue_bh", "pvalue_by", "pvalue_randomization", "discovery", "method", "n", "unit",
                "mean_control", "mean_treated")


def check_alpha(alpha: Any) -> float:
    """``alpha`` as a float in (0, 1), else a ValueError naming it."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0 < alpha < 1:
        raise ValueError(f"`alpha` must be a number in (0, 1), got {alpha!r}")
    return float(alpha)


@dataclasses.dataclass(frozen=True, repr=False)
class HeadMap(StudyEffects):
    """Each head's effect on the units' outcomes: made by :func:`causalattn.lab.studies.head_map.head_map`.

    :meth:`effects` is every study's (:class:`causalattn.lab.studies.table.StudyEffects`):
    one paired effect per head (:func:`causalattn.paired_effect`, ``method``
    giving every row's interval and ``pvalue``), with the keys of
    :data:`causalattn.lab.studies.table.DETAIL_KEYS` and the head's ``layer``
    and ``head``; ``pvalue`` is adjusted across all heads of the map
    (``family="all"``: a head without a test counts as p = 1), by ``adjust`` into
    ``pvalue_adjusted`` and by each of Holm, BH and BY into ``pvalue_holm``,
    ``pvalue_bh``, ``pvalue_by``. ``pvalue_randomization`` is the sign-flip
    test's p-value whatever the method (it exists where the t test does not:
    every unit changed by the same amount). Units without a read position (NaN
    outcomes) are left out of a head's row. :meth:`to_frame`, :meth:`discoveries`,
    :meth:`summary` and :meth:`plot` take the same options, and ``alpha``: a
    *discovery* is a head whose ``adjust``-adjusted p-value is below ``alpha``.

    Attributes
    ----------
    heads : list of (int, int)
        The (layer, head) of each treatment, in order.
    labels : list of str
        Their treatment labels (``"ablate:L3H1:mean"``).
    control : dict
        Outcome name -> (n,) outcome of each unit under control.
    treated : dict
        Outcome name -> (heads, n) outcome of each unit with each head ablated.
    outcome : str
        The outcome of :meth:`effects`, :meth:`to_frame`, :meth:`plot` when none is named.
    unit : str
        What a unit is (``"sequence"``, ``"prompt"``).
    shape : (int, int)
        The model's layers and heads per layer (the heatmap's grid).
    seed, n_resamples, confidence_level
        The defaults of the tests (the random stream of each head's test depends on the seed and the question
        only).
    details : dict
        How the map was made (the ablation kind, the units, a sample split ...).
    """

    heads: list[tuple[int, int]]
    labels: list[str]
    control: Mapping[str, np.ndarray]
    treated: Mapping[str, np.ndarray]
    outcome: str
    unit: str
    shape: tuple[int, int]
    seed: int = 0
    n_resamples: int = 10_000
    confidence_level: float = 0.95
    details: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    _cache: dict = dataclasses.field(default_factory=dict, compare=False)

    _family = "all"  # every head of the map is a hypothesis, tested or not (class attributes, not fields)
    _adjustments = ADJUSTMENTS

    @property
    def treatments(self) -> list[str]:
        """The treatment labels (:attr:`labels`)."""
        return list(self.labels)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes measured (any of them can be asked for)."""
        return tuple(self.control)

    @property
    def n(self) -> int:
        """Units."""
        return len(next(iter(self.control.values())))

    @property
    def _default_outcomes(self) -> tuple[str, ...]:
        return (self.outcome,)

    @property
    def _effect_defaults(self) -> EffectOptions:
        return EffectOptions(confidence_level=self.confidence_level, n_resamples=self.n_resamples, seed=self.seed)

    @property
    def _effects_cache(self) -> dict:
        return self._cache

    def __repr__(self) -> str:
        return (f"HeadMap({len(self.heads)} heads x {self.n} {self.unit}s, {self._treatment_kind}; "
                f"outcomes {', '.join(self.outcomes)})")

    @property
    def _treatment_kind(self) -> str:
        kind = self.details.get("kind", "?")
        return "patched from the counterfactual" if kind == "patch" else f"{kind} ablation"

    def _outcome(self, outcome: str | None) -> str:
        return self.outcome if outcome is None else check_choice("outcome", outcome, self.outcomes)

    def _effect(self, treatment: str, outcome: str, options: EffectOptions) -> Estimate:
        i = self.labels.index(treatment)
        control = np.asarray(self.control[outcome], dtype=float)
        treated = np.asarray(self.treated[outcome][i], dtype=float)
        keep = ~(np.isnan(treated) | np.isnan(control))
        if keep.sum() < 2:
            raise ValueError(f"`outcome` {outcome!r}: fewer than 2 {self.unit}s have it under both arms")
        layer, head = self.heads[i]
        return study_effect(paired_effect, treated[keep], control[keep], treatment=treatment, outcome=outcome,
                            unit=self.unit, means=(treated[keep].mean(), control[keep].mean()), options=options,
                            layer=layer, head=head)

    def _title(self, outcomes: tuple[str, ...]) -> str:
        return f"effect of ablating each head on {', '.join(outcomes)} ({self.n} {self.unit}s)"

    def to_frame(self, outcome: str | None = None, *, alpha: float = 0.05, adjust: str = "holm", method: str = "t",
                 confidence_level: float | None = None, n_resamples: int | None = None,
                 rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """One row per head, the columns :data:`HEAD_COLUMNS`; ``discovery``: ``adjust``-adjusted p-value below
        ``alpha``.

        The other options are :meth:`effects`'. Empty p-values (a head with no test) are NaN.
        """
        alpha = check_alpha(alpha)
        adjust = check_choice("adjust", adjust, ADJUSTMENTS)
        rows = []
        for e in self.effects(self._outcome(outcome), method=method, adjust=adjust,
                              confidence_level=confidence_level, n_resamples=n_resamples, rng=rng):
            row = e.to_dict()
            row.update({key: e.details[key] for key in _PVALUES})
            row["discovery"] = e.details["pvalue_adjusted"] is not None and e.details["pvalue_adjusted"] < alpha
            rows.append(row)
        frame = pd.DataFrame(rows, columns=list(HEAD_COLUMNS))
        return frame.astype({column: float for column in ("pvalue", *_PVALUES)})

    def discoveries(self, outcome: str | None = None, *, alpha: float = 0.05, adjust: str = "holm",
                    method: str = "t", confidence_level: float | None = None, n_resamples: int | None = None,
                    rng: int | np.random.Generator | None = None) -> pd.DataFrame:
        """The heads whose ``adjust``-adjusted p-value is below ``alpha``, most significant first (:meth:`to_frame`)."""
        frame = self.to_frame(outcome, alpha=alpha, adjust=adjust, method=method, confidence_level=confidence_level,
                              n_resamples=n_resamples, rng=rng)
        found = frame[frame["discovery"]]
        return found.sort_values([f"pvalue_{adjust}", "layer", "head"], kind="stable").reset_index(drop=True)

    def summary(self, outcome: str | None = None, *, alpha: float = 0.05, adjust: str = "holm", method: str = "t",
                confidence_level: float | None = None, n_resamples: int | None = None,
                rng: int | np.random.Generator | None = None, top: int = 10) -> str:
        """The discoveries under each adjustment, and the ``top`` heads by the size of their effect."""
        outcome = self._outcome(outcome)
        options = dict(alpha=alpha, adjust=adjust, method=method, confidence_level=confidence_level,
                       n_resamples=n_resamples, rng=rng)
        frame = self.to_frame(outcome, **options)
        found = self.discoveries(outcome, **options)
        level = self.effects(outcome, method=method, adjust=adjust, confidence_level=confidence_level,
                             n_resamples=n_resamples, rng=rng)[0].confidence_level
        lines = [repr(self), *([self.details["selection"]] if "selection" in self.details else []),
                 f"effects on {outcome}: {frame['method'].iloc[0]} {level:.0%} interval per head "
                 f"(not simultaneous); p-values adjusted across all {len(frame)} heads",
                 f"control mean {frame['mean_control'].iloc[0]:.4g}"]
        counts = [f"unadjusted {int((frame['pvalue'] < alpha).sum())}"]
        counts += [f"{name} {int((frame[f'pvalue_{name}'] < alpha).sum())}" for name in ADJUSTMENTS]
        lines.append(f"heads with p < {alpha:g}: " + ", ".join(counts))
        untested = int(frame["pvalue"].isna().sum())
        if untested:
            lines.append(f"{untested} head{'s' if untested > 1 else ''} changed every {self.unit} by the same "
                         f"amount (no {method} test; counted "
                         "as p = 1 in the adjustments; see pvalue_randomization)")
        lines.append(f"discoveries ({adjust}, alpha = {alpha:g}): "
                     + (", ".join(f"L{r.layer}H{r.head}" for r in found.itertuples()) or "none"))
        shown = frame.reindex(frame["estimate"].abs().sort_values(ascending=False, kind="stable").index).head(top)
        table = pd.DataFrame({
            "head": [f"L{r.layer}H{r.head}" for r in shown.itertuples()],
            "estimate": shown["estimate"].map(lambda x: f"{x:.4g}"),
            "CI": [f"[{a:.4g}, {b:.4g}]" for a, b in zip(shown["ci_low"], shown["ci_high"], strict=True)],
            **{column: shown[column].map(_p) for column in ("pvalue", "pvalue_holm", "pvalue_bh", "pvalue_by")},
        })
        lines += [f"largest {len(shown)} effects:", table.to_string(index=False)]
        return "\n".join(lines)

    def plot(self, outcome: str | None = None, *, alpha: float = 0.05, adjust: str = "holm", method: str = "t",
             confidence_level: float | None = None, n_resamples: int | None = None,
             rng: int | np.random.Generator | None = None) -> Figure:
        """Layer x head heatmap of the effects (diverging colors around 0); discoveries outlined in black.

        Heads not in the map are blank.
        """
        outcome = self._outcome(outcome)
        frame = self.to_frame(outcome, alpha=alpha, adjust=adjust, method=method, confidence_level=confidence_level,
                              n_resamples=n_resamples, rng=rng)
        n_layers, n_heads = self.shape
        grid = np.full((n_layers, n_heads), np.nan)
        grid[frame["layer"], frame["head"]] = frame["estimate"]
        limit = float(np.nanmax(np.abs(grid))) if np.isfinite(grid).any() else 1.0
        fig = Figure(figsize=(2.4 + 0.45 * n_heads, 1.6 + 0.24 * n_layers), layout="constrained")
        ax = fig.subplots()
        image = ax.imshow(grid, cmap="RdBu", vmin=-max(limit, 1e-12), vmax=max(limit, 1e-12), aspect="auto",
                          interpolation="nearest")
        for row in frame[frame["discovery"]].itertuples():
            ax.add_patch(Rectangle((row.head - 0.5, row.layer - 0.5), 1, 1, fill=False, edgecolor="black",
                                   linewidth=1.8))
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_xticks(range(n_heads))
        ax.set_yticks(range(n_layers))
        ax.tick_params(labelsize=7)
        fig.colorbar(image, ax=ax, shrink=0.8, label=f"effect on {outcome.replace('_', ' ')}")
        found = int(frame["discovery"].sum())
        ax.set_title(f"{self._treatment_kind}, {self.n} {self.unit}s; outlined: {found} "
                     f"discoveries ({adjust}, alpha {alpha:g})", fontsize=9)
        return fig


_PVALUES = ("pvalue_holm", "pvalue_bh", "pvalue_by", "pvalue_randomization")


def _p(value: float) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format_pvalue(value)
