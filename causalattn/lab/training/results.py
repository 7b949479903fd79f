"""The result of a training study: its runs, their histories, the effects of the freezing schedules, the curves.

:class:`TrainingStudy` is what :func:`causalattn.lab.training.study.training_study`
returns; its :meth:`~TrainingStudy.effects` table is built like every study's
(:mod:`causalattn.lab.studies.table`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy import stats

from causalattn._validation import check_confidence_level
from causalattn.effects import paired_effect, two_arm_effect
from causalattn.estimate import Estimate
from causalattn.lab.models.transformer import ModelConfig, Transformer, build_model
from causalattn.lab.studies.table import EffectOptions, StudyEffects, study_effect
from causalattn.lab.training.config import Freeze
from causalattn.lab.training.threshold import TimeToThreshold, time_to_threshold

__all__ = ["TrainingStudy"]


@dataclass(frozen=True, repr=False)
class TrainingStudy(StudyEffects):
    r"""The result of :func:`training_study`.

    Attributes
    ----------
    units : DataFrame
        One row per run: ``seed``, ``arm`` and one column per outcome (plus the
        censoring flag of the time-to-threshold outcome).
    histories : DataFrame
        The training histories of all runs, long format with ``seed`` and ``arm``.
    arms : mapping of str to tuple of Freeze
        The freezing schedules by label.
    control : str
        Label of the control arm (empty schedule).
    design : str
        ``"paired"`` or ``"randomized"``.
    outcomes : tuple of str
        The outcome columns of ``units``.
    threshold : float
        Accuracy of the time-to-threshold outcome.
    n_iters : int
        Training iterations per run (the censoring time).
    model_config : ModelConfig or None
        The models' configuration (``init_seed`` aside).
    weights : mapping of (int, str) to dict of arrays
        The final weights of each (seed, arm) run, with ``keep_models`` (else empty).

    Effects
    -------
    :meth:`effects` (of :class:`causalattn.lab.studies.table.StudyEffects`)
    gives the effect of each freezing schedule against the control, one row
    per (treatment, outcome), every outcome unless told which; the units are
    the seeds. Paired design: with :math:`D_s = Y_s(a) - Y_s(\text{control})`
    over the :math:`n` seeds, the estimate is :math:`\bar D` with standard
    error :math:`s_D/\sqrt n` (:func:`causalattn.paired_effect`). Randomized
    design: the difference in means with Neyman's standard error
    :math:`(s_1^2/n_1 + s_0^2/n_0)^{1/2}` (:func:`causalattn.two_arm_effect`).
    The interval and ``pvalue`` come from one procedure, ``method``: ``"t"``
    (default: paired t with :math:`n - 1` df, or Welch), so the interval
    excludes 0 exactly when :math:`p < 1 - \text{confidence level}`;
    ``"normal"``, ``"randomization"`` (the FRT and the interval inverting it:
    with 3 paired seeds no two-sided p-value is below 0.25 and the 95%
    interval is the whole line) or ``"bootstrap"``. Over repeated studies the
    interval covers the average effect over the population of seeds; the
    coverage of each method with few units is measured in
    ``benchmarks/README.md``. By default the confidence level is 0.95, 10,000
    resamples, and the questions' streams are seeded by 0.

    ``details["pvalue_randomization"]`` carries the randomization p-value
    (sign flips within seeds, or label permutations; exact when the
    assignments can be enumerated) beside the row's own p-value: with
    :math:`n` paired seeds it cannot go below :math:`2/2^n`. ``n`` counts the
    seeds; besides the shared keys (:data:`causalattn.lab.studies.table.DETAIL_KEYS`,
    ``unit`` ``"seed"``) the details have ``design`` and, for the
    time-to-threshold outcome, ``n_censored`` (censored runs), ``restricted_at``
    and ``estimand``.

    Time to threshold: a run that never reaches the threshold counts as
    ``n_iters`` (censored), so the effect is on :math:`\min(T, n_{iters})`:
    the difference in restricted mean iterations to the threshold,
    restricted at ``n_iters`` (``details["estimand"]``,
    ``details["restricted_at"]``), whose interval is valid for that
    quantity. When every run of the comparison is censored both restricted
    means are ``n_iters``: the estimate is 0 with the degenerate interval
    [0, 0] and no p-value (``details["degenerate"]``), which says nothing
    about iterations beyond ``n_iters``. :meth:`time_to_threshold` gives the
    Kaplan-Meier curves and log-rank tests beside it.

    References
    ----------
    P. Ding, *A First Course in Causal Inference* (2024), ch. 3 (FRT), 4
    (Neyman) and 7 (matched pairs).
    """

    _effect_defaults = EffectOptions()

    units: pd.DataFrame
    histories: pd.DataFrame
    arms: Mapping[str, tuple[Freeze, ...]]
    control: str
    design: str
    outcomes: tuple[str, ...]
    threshold: float
    n_iters: int
    model_config: ModelConfig | None = None
    weights: Mapping[tuple[int, str], Mapping[str, np.ndarray]] = field(default_factory=dict)
    _effects_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __repr__(self) -> str:
        return (
            f"TrainingStudy({self.design}: {self.units['seed'].nunique()} seeds, arms {list(self.arms)}, "
            f"{len(self.units)} runs)"
        )

    def model(self, seed: int, arm: str | None = None) -> Transformer:
        """The final model of the run of ``seed`` under ``arm`` (default the control), in eval mode.

        Needs a study run with ``keep_models=True``. Each call builds a new
        model (``init_seed = seed``) and loads the run's weights into it.
        """
        arm = self.control if arm is None else arm
        if (seed, arm) not in self.weights:
            if not self.weights:
                raise ValueError("this study kept no models: run training_study with `keep_models=True`")
            raise ValueError(f"`seed`, `arm`: no run ({seed!r}, {arm!r}); runs: {sorted(self.weights)}")
        model = build_model(replace(self.model_config, init_seed=seed))
        model.load_state_dict({name: torch.from_numpy(value) for name, value in self.weights[seed, arm].items()})
        return model.eval()

    @property
    def treatments(self) -> tuple[str, ...]:
        """The labels of the arms other than the control."""
        return tuple(label for label in self.arms if label != self.control)

    @property
    def _default_outcomes(self) -> tuple[str, ...]:
        return self.outcomes

    def _effect(self, label: str, outcome: str, options: EffectOptions) -> Estimate:
        units = self.units[self.units["arm"].isin([self.control, label])]
        y = units[outcome].to_numpy(dtype=float)
        treated = (units["arm"] == label).to_numpy()
        if self.design == "paired":
            wide = units.pivot(index="seed", columns="arm", values=outcome)
            data = wide[label].to_numpy(dtype=float), wide[self.control].to_numpy(dtype=float)
        else:
            data = y, treated.astype(int)
        details = {"design": self.design}
        censored = f"{outcome}_censored"
        if censored in units:
            details.update(n_censored=int(units[censored].sum()), restricted_at=self.n_iters, estimand=(
                f"difference in restricted mean iterations to {self.threshold:g}, restricted at {self.n_iters} "
                f"(a run that never reaches {self.threshold:g} counts {self.n_iters})"))
        return study_effect(paired_effect if self.design == "paired" else two_arm_effect, *data, treatment=label,
                            outcome=outcome, unit="seed", means=(y[treated].mean(), y[~treated].mean()),
                            options=options, **details)

    def _title(self, outcomes: tuple[str, ...]) -> str:
        n_seeds = self.units["seed"].nunique()
        return f"Training study ({self.design}, {n_seeds} seeds): effect of freezing vs {self.control!r}"

    def time_to_threshold(self) -> TimeToThreshold:
        """Kaplan-Meier curves of the iterations to the threshold per arm, restricted means and log-rank tests.

        The view beside the restricted-mean rows of :meth:`effects` (see
        :mod:`causalattn.lab.training.threshold`): ``.curves``, ``.arms``
        (restricted mean and median per arm), ``.logrank`` (each treatment
        against the control; it ignores the pairing of a paired design) and
        ``.plot()``.
        """
        outcome = f"restricted_iterations_to_{self.threshold:g}"
        return time_to_threshold(self.units, outcome, self.control, self.treatments, self.threshold, self.n_iters)

    def plot_curves(self, metric: str = "in_context_accuracy", *, confidence_level: float = 0.95) -> Figure:
        r"""Mean training curve of each arm across seeds with a pointwise band.

        The band is :math:`\bar y_t \pm z_{1-\alpha/2}\, s_t / \sqrt n` over the
        :math:`n` seeds of the arm at logged iteration :math:`t`. For the paired
        design a second panel shows the per-seed difference from the control,
        with the same pointwise band: where it excludes zero, the treatment
        changed the curve at that iteration (pointwise, not simultaneously).
        Dotted vertical lines mark the iterations where a freeze ends (named in the legend).
        """
        if metric not in self.histories.columns or metric in ("seed", "arm", "iteration"):
            names = [c for c in self.histories.columns if c not in ("seed", "arm", "iteration")]
            raise ValueError(f"`metric` must be a history column, one of {names}, got {metric!r}")
        z = stats.norm.ppf(0.5 + check_confidence_level(confidence_level) / 2)
        curves = {
            label: self.histories[self.histories["arm"] == label].pivot(index="iteration", columns="seed",
                                                                         values=metric)
            for label in self.arms
        }
        paired = self.design == "paired"
        fig = Figure(figsize=(11, 4) if paired else (6, 4), layout="constrained")
        axes = fig.subplots(1, 2 if paired else 1, squeeze=False)[0]

        def band(ax, frame, label, color):
            mean = frame.mean(axis=1)
            half = z * frame.std(axis=1, ddof=1) / math.sqrt(frame.shape[1])
            ax.plot(frame.index, mean, color=color, label=label)
            ax.fill_between(frame.index, mean - half, mean + half, color=color, alpha=0.2, linewidth=0)

        colors = {label: f"C{i}" for i, label in enumerate(self.arms)}
        for label, frame in curves.items():
            band(axes[0], frame, f"{label} (n={frame.shape[1]})", colors[label])
        axes[0].set(xlabel="iteration", ylabel=metric, title=f"{metric}: mean over seeds, {confidence_level:.0%} band")
        if paired:
            for label in self.treatments:
                band(axes[1], curves[label] - curves[self.control], label, colors[label])
            axes[1].axhline(0, color="grey", linewidth=0.8)
            axes[1].set(xlabel="iteration", ylabel=f"difference in {metric}",
                        title=f"paired difference from {self.control!r}")
        untils = {item.until for schedule in self.arms.values() for item in schedule if item.until is not None}
        for ax in axes:
            for until in sorted(untils):
                ax.axvline(until, color="grey", linestyle=":", linewidth=1, label=f"freeze ends ({until})")
            ax.legend(fontsize="small")
        return fig
