r"""The results of an evaluation study: per-sequence outcomes, paired effects, token-level tables, heterogeneity.

:class:`EvaluationStudy` is what :func:`causalattn.lab.studies.evaluation.evaluation_study`
(and :func:`causalattn.lab.studies.prompts.prompt_study`) return. Each sequence
(prompt) was evaluated under the control arm and under every treatment, so the
effect of treatment :math:`j` on an outcome :math:`Y` is the paired mean
difference :math:`n^{-1}\sum_i \{Y_i(j) - Y_i(\text{control})\}`, reported by
the effect layer in the table every study builds (:mod:`causalattn.lab.studies.table`).

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched-pairs experiments).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import check_choice, check_positive_int
from causalattn.effects import paired_effect
from causalattn.estimate import Estimate, EstimateTable
from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.studies.runner import CONTROL
from causalattn.lab.studies.table import EffectOptions, StudyEffects, study_effect
from causalattn.lab.tasks.bigram import Batch
from causalattn.regression import ols
from causalattn.tables.paired import PairedTable
from causalattn.tables.simpson import SimpsonResult, simpson

__all__ = ["OUTCOMES", "EvaluationStudy", "Heterogeneity"]

OUTCOMES = ("in_context_accuracy", "in_context_loss", "global_accuracy", "global_loss")


@dataclasses.dataclass(frozen=True)
class Heterogeneity:
    """Effects of one treatment by stratum, the pooled effect, and the check for a Simpson-style reversal.

    Attributes
    ----------
    treatment, outcome, by : str
    pooled : Estimate
        The paired effect over all sequences.
    by_stratum : EstimateTable
        The paired effect within each stratum (sequences with tokens in it).
    simpson : SimpsonResult or None
        Token-level check (binary correctness, accuracy only): marginal,
        per-stratum, Mantel-Haenszel and standardized risk differences.
    reverses : bool
        Whether the pooled effect points one way and every stratum the other.
    """

    treatment: str
    outcome: str
    by: str
    pooled: Estimate
    by_stratum: EstimateTable
    simpson: SimpsonResult | None
    reverses: bool

    def summary(self) -> str:
        verdict = ("the pooled effect REVERSES the direction of every stratum" if self.reverses
                   else "no reversal: the pooled effect does not point against every stratum")
        lines = [self.by_stratum.summary(), "", f"pooled: {self.pooled!r}", verdict]
        if self.simpson is not None:
            lines.append(f"token-level check: {self.simpson.verdict}")
        return "\n".join(lines)


class EvaluationStudy(StudyEffects):
    """Results of :func:`evaluation_study`: per-unit outcomes, effects with intervals, token-level tables.

    Attributes
    ----------
    treatments : list of str
        Treatment labels, in order; the control arm is ``"control"``.
    units : pandas.DataFrame
        One row per sequence x arm: ``sequence, arm, in_context_accuracy,
        in_context_loss, n_in_context, global_accuracy, global_loss`` and any
        further per-sequence :attr:`outcomes` (in-context outcomes are NaN for a
        sequence without in-context tokens).
    tokens : pandas.DataFrame
        One row per in-context token x arm: ``sequence, arm, position,
        trigger_count, correct, loss``.
    unit : str
        What a unit is, in each row's ``details["unit"]``: ``"sequence"``, or
        ``"prompt"`` for :func:`causalattn.lab.studies.prompts.prompt_study` (the
        ``sequence`` column then numbers the prompts).

    :meth:`effects` and :meth:`plot_forest` (of :class:`causalattn.lab.studies.table.StudyEffects`)
    report in-context accuracy unless told another outcome.
    """

    _default_outcomes = ("in_context_accuracy",)

    def __init__(self, model, data: Batch, reference: Reference, interventions: list[Intervention],
                 arms: dict[str, dict[str, np.ndarray]], *, seed: int, n_resamples: int,
                 confidence_level: float, unit: str = "sequence") -> None:
        self.model = model
        self.unit = check_choice("unit", unit, ("sequence", "prompt"))
        self.data = data
        self.reference = reference
        self.interventions = {t.label: t for t in interventions}
        self.treatments = list(self.interventions)
        self.seed = seed
        self.n_resamples = n_resamples
        self.confidence_level = confidence_level
        self._arms = arms
        seq, pos = np.nonzero(data.in_context.numpy())  # row-major, the order the token arrays are kept in
        self._token_index = pd.DataFrame({"sequence": seq, "position": pos,
                                          "trigger_count": data.trigger_count.numpy()[seq, pos]})
        self._effect_defaults = EffectOptions(confidence_level=confidence_level, n_resamples=n_resamples, seed=seed)
        self._effects_cache: dict[tuple, EstimateTable] = {}
        self._units: pd.DataFrame | None = None
        self._tokens: pd.DataFrame | None = None

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Outcome names: :data:`OUTCOMES`, then any per-sequence outcome the arms carry (e.g. a prompt study's)."""
        arrays = self._arms[CONTROL]
        return OUTCOMES + tuple(k for k in arrays if k not in ("correct", "loss", *OUTCOMES))

    def __repr__(self) -> str:
        return (f"EvaluationStudy({len(self.data)} {self.unit}s x {len(self.treatments) + 1} arms: control, "
                f"{', '.join(self.treatments)})")

    @property
    def units(self) -> pd.DataFrame:
        if self._units is None:
            n = len(self.data)
            seq = self._token_index["sequence"].to_numpy()
            counts = np.bincount(seq, minlength=n)
            frames = []
            for label, arrays in self._arms.items():
                with np.errstate(invalid="ignore", divide="ignore"):
                    accuracy = np.bincount(seq, arrays["correct"], minlength=n) / counts
                    loss = np.bincount(seq, arrays["loss"], minlength=n) / counts
                frames.append(pd.DataFrame({
                    "sequence": np.arange(n), "arm": label, "in_context_accuracy": accuracy,
                    "in_context_loss": loss, "n_in_context": counts,
                    "global_accuracy": arrays["global_accuracy"], "global_loss": arrays["global_loss"],
                    **{key: arrays[key] for key in self.outcomes[len(OUTCOMES):]},
                }))
            self._units = pd.concat(frames, ignore_index=True)
        return self._units

    @property
    def tokens(self) -> pd.DataFrame:
        if self._tokens is None:
            self._tokens = pd.concat(
                [self._token_index.assign(arm=label, correct=arrays["correct"].astype(bool), loss=arrays["loss"])
                 for label, arrays in self._arms.items()], ignore_index=True,
            )[["sequence", "arm", "position", "trigger_count", "correct", "loss"]]
        return self._tokens

    def pairs(self, treatment: Any, outcome: str = "in_context_accuracy", *, baseline: Any = CONTROL) -> pd.DataFrame:
        """The outcome of each sequence under ``treatment`` and control: ``treated``, ``control`` by ``sequence``.

        The ``control`` column holds the ``baseline`` arm: the control unless it names another treatment.
        Sequences without the outcome under both arms (no in-context tokens) are left out.
        """
        label, base = self._contrast(treatment, baseline)
        outcome = check_choice("outcome", outcome, self.outcomes)
        wide = self.units.pivot(index="sequence", columns="arm", values=outcome)[[label, base]].dropna()
        return wide.set_axis(["treated", "control"], axis=1).rename_axis(columns=None)

    def _contrast(self, treatment: Any, baseline: Any) -> tuple[str, str]:
        """The labels of ``treatment`` and of ``baseline`` (the control, or another treatment of the study)."""
        label = self._treatment(treatment)
        base = CONTROL if isinstance(baseline, str) and baseline == CONTROL else self._treatment(baseline, "baseline")
        if base == label:
            raise ValueError(f"`baseline` {base!r} is the treatment itself: the contrast is 0 by construction")
        return label, base

    def effect(self, treatment: Any, outcome: str = "in_context_accuracy", *, method: str = "t",
               confidence_level: float | None = None, n_resamples: int | None = None,
               rng: int | np.random.Generator | None = None, baseline: Any = CONTROL) -> Estimate:
        r"""The paired effect of ``treatment`` on ``outcome``, its interval and p-value from one procedure.

        The estimate is the mean over sequences of :math:`Y_i(\text{treatment}) - Y_i(\text{baseline})`, the
        baseline arm being the control unless ``baseline`` names another treatment of the study (the contrast
        of two treatments, e.g. a total minus a direct effect,
        :func:`causalattn.lab.studies.decomposition.decompose`); ``details["baseline"]`` names it and
        ``details["mean_control"]`` is its mean.
        ``method`` (:func:`causalattn.paired_effect`) gives the interval and
        ``pvalue``: ``"t"`` (default: paired t, :math:`n - 1` df), ``"normal"``
        (paired Neyman), ``"randomization"`` (sign-flip FRT and its inversion)
        or ``"bootstrap"`` (BCa). ``details["pvalue_randomization"]`` is the
        sign-flip FRT p-value of the sharp null of no effect on any sequence,
        whatever the method. ``details`` also has the two arm means
        (``mean_treated``, ``mean_control``), ``treatment``, ``outcome`` and
        ``unit`` (:attr:`unit`); ``n`` is the number of sequences or prompts (pairs).
        ``confidence_level``, ``n_resamples`` and ``rng`` default to the
        study's; the random stream of a (treatment, baseline, outcome) question
        depends on the seed and the question only.
        """
        label, base = self._contrast(treatment, baseline)
        outcome = check_choice("outcome", outcome, self.outcomes)
        options = EffectOptions.check(method=method, adjust=None, confidence_level=confidence_level,
                                      n_resamples=n_resamples, rng=rng, defaults=self._effect_defaults)
        return self._effect(label, outcome, options, base)

    def _effect(self, label: str, outcome: str, options: EffectOptions, baseline: str = CONTROL) -> Estimate:
        pairs = self.pairs(label, outcome, baseline=baseline)
        if len(pairs) < 2:
            raise ValueError(f"`outcome` {outcome!r}: fewer than 2 {self.unit}s have it under both arms "
                             f"({self.unit}s without in-context tokens are dropped)")
        y1, y0 = pairs["treated"].to_numpy(), pairs["control"].to_numpy()
        return study_effect(paired_effect, y1, y0, treatment=label, outcome=outcome, unit=self.unit,
                            means=(y1.mean(), y0.mean()), options=options, baseline=baseline,
                            keys=(label, outcome) if baseline == CONTROL else (label, baseline, outcome))

    def _title(self, outcomes: tuple[str, ...]) -> str:
        return f"effects on {', '.join(outcomes)} (treatment - control), {len(self.data)} {self.unit}s"

    def token_table(self, treatment: Any) -> PairedTable:
        """Paired 2x2 table of the in-context tokens: correct/incorrect under ``treatment`` vs control."""
        label = self._treatment(treatment)
        return PairedTable.from_data(self._arms[label]["correct"], self._arms[CONTROL]["correct"])

    def token_tables(self) -> dict[str, PairedTable]:
        """:meth:`token_table` of every treatment."""
        return {label: self.token_table(label) for label in self.treatments}

    def token_regression(self, treatment: Any, outcome: str = "correct") -> Estimate:
        r"""OLS of a token's ``outcome`` (``"correct"`` or ``"loss"``) on the arm, errors clustered by sequence.

        The coefficient of the treatment indicator is the difference in the
        token-level means; clustering by sequence accounts for tokens of one
        sequence sharing the sequence (and for the two arms of a token).
        """
        label = self._treatment(treatment)
        outcome = check_choice("outcome", outcome, ("correct", "loss"))
        seq = self._token_index["sequence"].to_numpy()
        data = pd.DataFrame({
            outcome: np.concatenate([self._arms[label][outcome], self._arms[CONTROL][outcome]]).astype(float),
            "treated": np.repeat([1, 0], len(seq)), "sequence": np.tile(seq, 2),
        })
        est = ols(data, outcome=outcome, treatment="treated", cov_type="cluster", clusters="sequence",
                  confidence_level=self.confidence_level)
        return dataclasses.replace(est, estimand=label, details={**est.details, "treatment": label,
                                                                 "outcome": f"token_{outcome}"})

    def heterogeneity(self, treatment: Any, by: str = "position", *, bins: int = 4,
                      outcome: str = "in_context_accuracy", method: str = "t") -> Heterogeneity:
        """Effect of ``treatment`` within strata of the in-context tokens, and a Simpson-style reversal check.

        Parameters
        ----------
        treatment : Intervention or label
        by : {"position", "trigger_count"}
            ``"position"``: ``bins`` equal ranges of the position in the sequence;
            ``"trigger_count"``: the trigger's occurrence number (2nd, 3rd, ...;
            the last stratum collects ``bins + 1`` and later).
        bins : int
        outcome : {"in_context_accuracy", "in_context_loss"}
        method : {"t", "normal", "randomization", "bootstrap"}
            The procedure of every interval and p-value (:func:`causalattn.paired_effect`).

        Each stratum's effect is the paired effect over the sequences that have
        tokens in it (their accuracy within the stratum), with ``method``. Because both
        arms see the very same tokens, the stratum composition is identical
        across arms; a reversal between the pooled and stratified effects would
        then need the strata to weigh differently per sequence.
        """
        label = self._treatment(treatment)
        by = check_choice("by", by, ("position", "trigger_count"))
        bins = check_positive_int("bins", bins)
        outcome = check_choice("outcome", outcome, ("in_context_accuracy", "in_context_loss"))
        options = EffectOptions.check(method=method, adjust=None, defaults=self._effect_defaults)
        index = self._token_index
        if by == "position":
            edges = np.linspace(0, self.data.inputs.shape[1], bins + 1).round().astype(int)
            codes = np.searchsorted(edges, index["position"].to_numpy(), side="right") - 1
            names = [f"{a}-{b - 1}" for a, b in zip(edges[:-1], edges[1:], strict=True)]
        else:
            codes = np.minimum(index["trigger_count"].to_numpy(), bins + 1) - 2
            names = [str(c) for c in range(2, bins + 1)] + [f"{bins + 1}+" if bins > 1 else "2+"]
        stratum = np.array(names, dtype=object)[codes]
        key = "correct" if outcome == "in_context_accuracy" else "loss"
        y1, y0 = self._arms[label][key].astype(float), self._arms[CONTROL][key].astype(float)
        rows = []
        for code, name in enumerate(names):
            mask = codes == code
            frame = pd.DataFrame({"sequence": index["sequence"][mask], "y1": y1[mask], "y0": y0[mask]})
            means = frame.groupby("sequence")[["y1", "y0"]].mean()
            m = len(means)
            if m < 2:
                continue
            est = study_effect(paired_effect, means["y1"], means["y0"], treatment=label, outcome=outcome,
                               unit=self.unit, means=(means["y1"].mean(), means["y0"].mean()), options=options,
                               keys=(label, outcome, by, name), stratum=name, n_tokens=int(mask.sum()))
            rows.append(dataclasses.replace(est, estimand=f"{by} {name}"))
        pooled = self._effect(label, outcome, options)
        by_stratum = EstimateTable(rows, title=f"{label}: effect on {outcome} by {by}")
        directions = {np.sign(e.estimate) for e in rows}
        pooled_direction = np.sign(pooled.estimate)
        reverses = pooled_direction != 0 and directions == {-pooled_direction}
        check = None
        if outcome == "in_context_accuracy":
            tokens = pd.DataFrame({"treated": np.repeat([1, 0], len(y1)),
                                   "correct": np.concatenate([y1, y0]).astype(int),
                                   "stratum": np.tile(stratum, 2)})
            kept = tokens["stratum"].isin([e.details["stratum"] for e in rows])
            check = simpson(tokens[kept], "treated", "correct", "stratum",
                            confidence_level=self.confidence_level)
        return Heterogeneity(label, outcome, by, pooled, by_stratum, check, bool(reverses))

    def plot_attention(self, treatment: Any = None, index: int = 0, *, chars: Sequence[str] | None = None,
                       window: tuple[int, int] | None = None):
        """Attention maps of held-out sequence ``index`` under ``treatment`` (control if None).

        ``chars`` (``task.chars``) labels the tokens with their characters and
        ``window`` picks the positions, as in :func:`causalattn.lab.plots.plot_attention`;
        the map of a head whose output ``treatment`` replaces says so in its title.
        """
        from causalattn.lab.plots import plot_attention

        intervention = None if treatment is None else self.interventions[self._treatment(treatment)]
        return plot_attention(self.model, self.data, index, treatment=intervention, reference=self.reference,
                              chars=chars, window=window)
