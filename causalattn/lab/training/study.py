"""Training studies: freezing schedules as treatments, training seeds as units.

A training study asks what a change to *how* a model is trained does to what it
learns. The paper's Figure 3 question (Bietti et al., 2023) is one: does keeping
``W2_O`` (or ``W2_K``, or ``W1_K``) at its random initialization until
iteration 300 slow the formation of the induction head? Here each training seed
is a unit, each arm is a freezing schedule (a tuple of
:class:`~causalattn.lab.training.config.Freeze`; the empty schedule is the control), and
the outcomes are read from each run's training history.

Designs
-------
``"paired"`` (matched pairs): every seed is trained under every arm with the
same initialization (``ModelConfig.init_seed = seed``) and the same stream of
training batches (``TrainConfig.data_seed = seed``). The seed is the pair; the
runs of one seed differ only by the treatment, so the per-seed difference
removes the seed-to-seed variation of initialization and data.
``"randomized"`` (completely randomized): the seeds are randomly split into
arms of (nearly) equal size and each is trained under its arm only.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from scipy import stats
from tqdm.auto import tqdm

from causalattn._streams import base_seed, question_rng
from causalattn._validation import (
    check_choice,
    check_confidence_level,
    check_flag,
    check_positive_int,
    check_rng,
    check_seed,
)
from causalattn.effects import METHODS, paired_effect, two_arm_effect
from causalattn.estimate import Estimate, EstimateTable
from causalattn.lab.analysis.probes import PROBE_KEYS
from causalattn.lab.models.transformer import ModelConfig, Transformer, build_model
from causalattn.lab.studies.engine import check_engine_options, resolve_client, run_jobs
from causalattn.lab.studies.storage import check_file_names, check_out_dir
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.config import Freeze, TrainConfig, resolve_freeze
from causalattn.lab.training.loop import train_iv
from causalattn.lab.training.segments import Segments, train_unit
from causalattn.lab.training.threshold import TimeToThreshold, time_to_threshold
from causalattn.lab.training.units import (
    RunFiles,
    checkpoint_folder,
    fingerprint,
    run_configs,
    unit_outcomes,
    verified_checkpoint,
)
from causalattn.multiple_testing import adjust_pvalues
from causalattn.plots import plot_forest

__all__ = ["TrainingStudy", "training_study"]


def _check_arms(arms: Any, model_config: ModelConfig) -> tuple[dict[str, tuple[Freeze, ...]], str]:
    if not isinstance(arms, Mapping) or len(arms) < 2:
        raise ValueError(
            f"`arms` must map at least two labels to freezing schedules (the control's is empty), got {arms!r}"
        )
    clean: dict[str, tuple[Freeze, ...]] = {}
    for label, schedule in arms.items():
        if not isinstance(label, str) or not label:
            raise TypeError(f"`arms` labels must be non-empty strings, got {label!r}")
        schedule = (schedule,) if isinstance(schedule, Freeze) else tuple(schedule)
        for item in schedule:
            if not isinstance(item, Freeze):
                raise TypeError(f"`arms`: the schedule of {label!r} must hold Freeze values, got {item!r}")
        clean[label] = schedule
    controls = [label for label, schedule in clean.items() if not schedule]
    if len(controls) != 1:
        raise ValueError(
            f"`arms` must have exactly one empty schedule (the control), found {len(controls)}: {controls}"
        )
    check_file_names("arms", list(clean))
    model = build_model(model_config)
    for label, schedule in clean.items():
        try:
            resolve_freeze(model, schedule)
        except ValueError as exc:
            raise ValueError(f"`arms`: arm {label!r}: {exc}") from None
    return clean, controls[0]


def _check_seeds(seeds: Any, design: str, n_arms: int) -> tuple[int, ...]:
    if isinstance(seeds, (str, bytes, numbers.Number, Mapping)) or not isinstance(seeds, Iterable):
        raise TypeError(f"`seeds` must be a sequence of integers, got {seeds!r}")  # a Series or an array: its values
    seeds = tuple(check_seed("seeds", s) for s in seeds)
    if len(set(seeds)) < len(seeds):
        raise ValueError(f"`seeds` must be distinct, got {list(seeds)}")
    if design == "paired" and len(seeds) < 2:
        raise ValueError(f"a study needs at least 2 units: `seeds` has {len(seeds)}")
    if design == "randomized" and len(seeds) < 2 * n_arms:
        raise ValueError(
            f"a randomized study needs at least 2 units per arm: `seeds` has {len(seeds)} for {n_arms} arms"
        )
    return seeds


def _training_study_iv(
    model_config, task_config, train_config, arms, seeds, design, at_iterations, threshold, probes, n_jobs, out_dir,
    client, torch_threads, keep_models,
):
    train_iv(model_config, task_config, train_config, None)  # the types, and that the task fits the model
    if train_config.freeze:
        raise ValueError("`train_config.freeze` must be empty: give the freezing schedules as `arms`")
    design = check_choice("design", design, ("paired", "randomized"))
    arms, control = _check_arms(arms, model_config)
    seeds = _check_seeds(seeds, design, len(arms))
    n_iters = train_config.n_iters
    if at_iterations is None:
        at_iterations = (n_iters,)
    elif isinstance(at_iterations, numbers.Integral):
        at_iterations = (at_iterations,)
    at_iterations = tuple(sorted({check_positive_int("at_iterations", t, minimum=0) for t in at_iterations}))
    logged = [t for t in at_iterations if t <= n_iters and (t % train_config.log_every == 0 or t == n_iters)]
    if not at_iterations or logged != list(at_iterations):
        raise ValueError(
            f"`at_iterations` must be logged iterations (multiples of log_every={train_config.log_every}, "
            f"or n_iters={n_iters}), got {list(at_iterations)}"
        )
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0 < threshold <= 1:
        raise ValueError(f"`threshold` must be an accuracy in (0, 1], got {threshold!r}")
    probes = (probes,) if isinstance(probes, str) else tuple(probes)
    for probe in probes:
        check_choice("probes", probe, PROBE_KEYS)
    n_jobs, torch_threads = check_engine_options(n_jobs, torch_threads)
    if not isinstance(keep_models, bool):
        raise TypeError(f"`keep_models` must be True or False, got {keep_models!r}")
    client = resolve_client(client)
    out_dir = check_out_dir(out_dir)
    return (arms, control, seeds, design, at_iterations, float(threshold), probes, int(n_jobs), out_dir, client,
            torch_threads)


def _assign(seeds, labels, design, rng) -> list[tuple[int, str]]:
    """The (seed, arm) runs: all pairs (paired) or a complete randomization of seeds to arms."""
    if design == "paired":
        return [(seed, label) for seed in seeds for label in labels]
    arm_of = np.resize(np.arange(len(labels)), len(seeds))  # sizes differ by at most one
    check_rng(rng).shuffle(arm_of)
    return [(seed, labels[a]) for seed, a in zip(seeds, arm_of, strict=True)]


def training_study(
    model_config: ModelConfig,
    task_config: TaskConfig,
    train_config: TrainConfig,
    arms: Mapping[str, Sequence[Freeze]],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    design: str = "paired",
    at_iterations: int | Sequence[int] | None = None,
    threshold: float = 0.9,
    probes: Sequence[str] = (),
    rng: int | np.random.Generator | None = 0,
    out_dir: str | os.PathLike | None = None,
    n_jobs: int = 1,
    client: Any = None,
    torch_threads: int | None = 1,
    keep_models: bool = False,
    progress: bool = True,
) -> TrainingStudy:
    r"""Train under each freezing schedule across seeds; the seeds are the units of a causal study.

    Run ``(s, a)`` trains ``model_config`` with ``init_seed = s`` on ``task_config``
    with ``train_config`` (``data_seed = s``, ``freeze = arms[a]``). In the
    ``"paired"`` design every seed runs under every arm (matched pairs, the seed
    is the pair); in the ``"randomized"`` design the seeds are split at random
    into arms of sizes differing by at most one (a completely randomized
    experiment) and each seed runs once.

    Outcomes of a run, read from its training history (held-out in-context
    accuracy, logged every ``train_config.log_every`` iterations):

    - ``in_context_accuracy_at_{t}`` for each ``t`` in ``at_iterations``;
    - ``restricted_iterations_to_{threshold}``: :math:`\min(T, n_{iters})`, with
      :math:`T` the first logged iteration with in-context accuracy :math:`\ge`
      ``threshold`` (so its resolution is ``log_every``). A run that never
      reaches it is *censored*: its value is ``n_iters`` and the column
      ``restricted_iterations_to_{threshold}_censored`` is True. The effect on
      this outcome is the difference in **restricted mean** iterations to the
      threshold, restricted at ``n_iters`` (:mod:`causalattn.lab.training.threshold`):
      a well-defined quantity with a valid interval, though not the difference
      in mean iterations when runs are censored; the number of censored runs
      is reported with each effect, and :meth:`TrainingStudy.time_to_threshold`
      gives the Kaplan-Meier curves and log-rank tests beside it;
    - ``{probe}_at_{t}`` for each probe in ``probes`` (the memory recall probes
      of eq. 9-10 of the paper) and each ``t``.

    Parameters
    ----------
    model_config, task_config, train_config : ModelConfig, TaskConfig, TrainConfig
        The common configuration; ``train_config.freeze`` must be empty.
    arms : mapping of str to tuple of Freeze
        Label -> freezing schedule; exactly one schedule is empty (the control),
        e.g. ``{"control": (), "freeze:W2_O:until300": (Freeze("W2_O", 300),)}``.
    seeds : sequence of int
        The units. Paired: at least 2; randomized: at least 2 per arm.
    design : {"paired", "randomized"}
    at_iterations : int or sequence of int, optional
        Logged iterations at which accuracy and probes are outcomes; default the last.
    threshold : float
        In-context accuracy defining the time-to-threshold outcome.
    probes : sequence of str
        Probe columns (of :data:`causalattn.lab.analysis.probes.PROBE_KEYS`) to use as outcomes.
    rng : int, Generator or None
        Seeds the randomized assignment (ignored for ``"paired"``).
    out_dir : path, optional
        Each finished run is written to ``out_dir/units/seed{s}__{arm}.json``
        (history included, atomic write) as soon as it ends, and unfinished runs
        checkpoint to ``out_dir/checkpoints/seed{s}__{arm}/checkpoint.pt`` every
        ``train_config.checkpoint_every`` updates; a run's checkpoint is
        removed once its unit file (and, with ``keep_models``, its weights in
        ``out_dir/models``) is written and read back intact. Calling again
        with the same folder skips the finished runs and resumes the others
        from their checkpoints; more seeds may be added. ``out_dir/study.json`` records
        the configuration; a folder from a different configuration is a
        ValueError; a damaged one is rewritten, keeping only the runs whose
        files show they were made under this configuration
        (:func:`causalattn.lab.studies.storage.open_study_folder`). On a Dask cluster
        only this process writes to ``out_dir``, so the cluster needs no shared
        filesystem: a run trains in segments of ``checkpoint_every`` updates,
        each of which sends its checkpoint back; this process saves it and
        sends it with the next segment. An interrupted study on a cluster
        resumes like a local one (on either).
    n_jobs : int
        Parallel runs on this machine (joblib; -1 for all cores), in local
        processes unless ``joblib.parallel_config(backend=...)`` sets another
        backend. Ignored on a Dask cluster.
    client : distributed.Client, optional
        Run the runs on this Dask cluster (``pip install "causalattn[distributed]"``);
        an active ``joblib.parallel_config(backend="dask")`` selects its client
        too. Each worker needs the same causalattn and torch versions.
    torch_threads : int or None
        torch's intra-op threads in each run, set on its worker and recorded
        as ``torch_threads`` in the run's record; None keeps each worker's
        setting. Results are bit-identical wherever the runs execute (in this
        process, local processes or a cluster of the same kind of CPU) when
        the thread counts are equal, and equal to about 1e-6 otherwise
        (summation order). The default runs each run on one thread: the
        parallelism is across runs.
    progress : bool
        Show a progress bar over the training updates of all runs; it moves
        after every update, reported by the workers while they train (see
        :mod:`causalattn.lab.studies.engine`).

    Returns
    -------
    TrainingStudy
        ``.units`` (one row per run), ``.histories``, ``.effects(outcome)`` and,
        with ``keep_models``, ``.model(seed, arm)``.

    References
    ----------
    A. Bietti, V. Cabannes, D. Bouchacourt, H. Jegou and L. Bottou, "Birth of a
    Transformer: A Memory Viewpoint", NeurIPS 2023 (arXiv 2306.00802), Figure 3.
    P. Ding, *A First Course in Causal Inference* (2024), ch. 4 (completely
    randomized experiments) and ch. 7 (matched-pairs experiments).

    Examples
    --------
    The paper's experiment is ``TrainConfig(n_iters=600)`` with the output
    matrix frozen until iteration 300, on several seeds. In miniature (a tiny
    model, 10 updates, 2 paired seeds; about a second):

    >>> from causalattn.lab import Freeze, ModelConfig, TaskConfig, TrainConfig
    >>> arms = {"control": (), "freeze:W2_O:until5": (Freeze("W2_O", until=5),)}
    >>> study = training_study(ModelConfig(d_model=32, max_seq_len=32), TaskConfig(seq_len=32),
    ...                        TrainConfig(n_iters=10, batch_size=8, log_every=5, eval_sequences=16), arms,
    ...                        seeds=(0, 1), at_iterations=(5, 10), progress=False)
    >>> len(study.units), study.effects("in_context_accuracy_at_5")[0].estimand
    (4, 'freeze:W2_O:until5')

    With ``keep_models=True`` the trained models come back too:

    >>> kept = training_study(ModelConfig(d_model=32, max_seq_len=32), TaskConfig(seq_len=32),
    ...                       TrainConfig(n_iters=10, batch_size=8, log_every=5, eval_sequences=16), arms,
    ...                       seeds=(0, 1), at_iterations=(5, 10), keep_models=True, progress=False)
    >>> kept.model(1, "control").config.init_seed
    1
    """
    (arms, control, seeds, design, at_iterations, threshold, probes, n_jobs, out_dir, client,
     torch_threads) = _training_study_iv(
        model_config, task_config, train_config, arms, seeds, design, at_iterations, threshold, probes, n_jobs,
        out_dir, client, torch_threads, keep_models,
    )
    progress = check_flag("progress", progress)
    runs = _assign(seeds, list(arms), design, rng)
    records: dict[tuple[int, str], dict] = {}
    weights: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    files = None
    if out_dir is not None:
        files = RunFiles(out_dir, fingerprint(model_config, task_config, train_config, arms), model_config,
                         keep_models)
        for seed, label in runs:
            found = files.load(seed, label, at_iterations=at_iterations, threshold=threshold, probes=probes,
                               n_iters=train_config.n_iters)
            if found is not None:
                records[seed, label], kept = found
                if kept is not None:
                    weights[seed, label] = kept
    todo = [run for run in runs if run not in records]
    n_iters = train_config.n_iters
    if client is None:  # local workers checkpoint into out_dir themselves, resuming from verified checkpoints
        for seed, label in todo if out_dir is not None else ():
            verified_checkpoint(out_dir, seed, label, *run_configs(model_config, task_config, train_config, seed,
                                                                   arms[label]))
        jobs = [(model_config, task_config, train_config, seed, label, arms[label],
                 None if out_dir is None else checkpoint_folder(out_dir, seed, label), keep_models, None)
                for seed, label in todo]
        follow, resumed = None, 0
    else:
        segments = Segments(model_config, task_config, train_config, arms, out_dir, keep_models)
        jobs = [segments.first(seed, label) for seed, label in todo]
        follow, resumed = segments.follow, segments.resumed
    with tqdm(total=len(runs) * n_iters, initial=(len(runs) - len(todo)) * n_iters + resumed,
              desc=f"training study ({len(runs)} runs)", unit="it", disable=not progress) as bar:
        finished = run_jobs(train_unit, jobs, n_jobs=n_jobs, client=client, progress=bar, torch_threads=torch_threads,
                            follow=follow)
        with closing(finished):  # an error or interrupt here cancels the runs still on the workers
            for _, record in finished:
                run = record["seed"], record["arm"]
                if keep_models:
                    weights[run] = record.pop("weights")
                records[run] = record
                if files is not None:
                    files.save(*run, record, weights.get(run))

    histories, rows = [], []
    for seed, label in runs:
        history = pd.DataFrame(records[seed, label]["history"])
        rows.append({"seed": seed, "arm": label,
                     **unit_outcomes(history, at_iterations, threshold, probes, train_config.n_iters)})
        histories.append(history.assign(seed=seed, arm=label))
    histories = pd.concat(histories, ignore_index=True)
    histories = histories[["seed", "arm", *[c for c in histories.columns if c not in ("seed", "arm")]]]
    outcomes = tuple(c for c in rows[0] if c not in ("seed", "arm") and not c.endswith("_censored"))
    return TrainingStudy(
        units=pd.DataFrame(rows), histories=histories, arms=arms, control=control, design=design,
        outcomes=outcomes, threshold=threshold, n_iters=train_config.n_iters, model_config=model_config,
        weights=weights,
    )


@dataclass(frozen=True, repr=False)
class TrainingStudy:
    """The result of :func:`training_study`.

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
    """

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

    def effects(
        self,
        outcome: str | Sequence[str] | None = None,
        *,
        adjust: str | None = "holm",
        confidence_level: float = 0.95,
        method: str = "t",
        n_resamples: int = 10_000,
        rng: int | np.random.Generator | None = 0,
    ) -> EstimateTable:
        r"""The effect of each freezing schedule against the control, one row per (treatment, outcome).

        The units are the seeds. Paired design: with :math:`D_s = Y_s(a) -
        Y_s(\text{control})` over the :math:`n` seeds, the estimate is :math:`\bar D`
        with standard error :math:`s_D/\sqrt n` (:func:`causalattn.paired_effect`).
        Randomized design: the difference in means with Neyman's standard error
        :math:`(s_1^2/n_1 + s_0^2/n_0)^{1/2}` (:func:`causalattn.two_arm_effect`).
        The interval and ``pvalue`` come from one procedure, ``method``:
        ``"t"`` (default: paired t with :math:`n - 1` df, or Welch), so the
        interval excludes 0 exactly when :math:`p < 1 - \text{confidence level}`;
        ``"normal"``, ``"randomization"`` (the FRT and the interval inverting
        it: with 3 paired seeds no two-sided p-value is below 0.25 and the 95%
        interval is the whole line) or ``"bootstrap"``. Over repeated studies the
        interval covers the average effect over the population of seeds; the
        coverage of each method with few units is measured in
        ``benchmarks/README.md``.

        ``details["pvalue_randomization"]`` carries the randomization p-value
        (sign flips within seeds, or label permutations; exact when the
        assignments can be enumerated) beside the row's own p-value: with
        :math:`n` paired seeds it cannot go below :math:`2/2^n`.

        Time to threshold: a run that never reaches the threshold counts as
        ``n_iters`` (censored), so the effect is on :math:`\min(T, n_{iters})`:
        the difference in restricted mean iterations to the threshold,
        restricted at ``n_iters`` (``details["estimand"]``,
        ``details["restricted_at"]``), whose interval is valid for that
        quantity. When every run of the comparison is censored both restricted
        means are ``n_iters``: the estimate is 0 with the degenerate interval
        [0, 0] and no p-value (``details["degenerate"]``), which says nothing
        about iterations beyond ``n_iters``.

        Parameters
        ----------
        outcome : str or sequence of str, optional
            Outcome column(s) of :attr:`units`; default all of :attr:`outcomes`.
        adjust : {"holm", "bh"} or None
            Multiple-testing adjustment of ``pvalue`` across treatments, within
            each outcome (:func:`causalattn.adjust_pvalues`).
        confidence_level : float
        method : {"t", "normal", "randomization", "bootstrap"}
        n_resamples : int
            Monte Carlo draws of the randomization test when exact enumeration
            is larger, and bootstrap resamples.
        rng : int, Generator or None
            Seeds the random streams; each (treatment, outcome) question has its
            own stream, so a row does not depend on which other rows are asked for.

        Returns
        -------
        EstimateTable
            Estimand = treatment label; ``n`` = number of seeds; details
            ``treatment``, ``outcome``, ``unit`` (``"seed"``), ``pvalue_adjusted``,
            ``pvalue_randomization``, ``mean_treated``, ``mean_control`` and, for
            the time-to-threshold outcome, ``n_censored`` (censored runs).

        References
        ----------
        P. Ding, *A First Course in Causal Inference* (2024), ch. 3 (FRT), 4
        (Neyman) and 7 (matched pairs).
        """
        outcomes = self.outcomes if outcome is None else (outcome,) if isinstance(outcome, str) else tuple(outcome)
        for name in outcomes:
            check_choice("outcome", name, self.outcomes)
        if adjust is not None:
            adjust = check_choice("adjust", adjust, ("holm", "bh"))
        confidence_level = check_confidence_level(confidence_level)
        method = check_choice("method", method, METHODS)
        n_resamples = check_positive_int("n_resamples", n_resamples)
        seed = base_seed(rng)
        estimates: list[Estimate] = []
        for name in outcomes:
            table = EstimateTable(
                [self._effect(label, name, confidence_level, method, n_resamples, seed) for label in self.treatments]
            )
            estimates.extend(adjust_pvalues(table, method=adjust) if adjust else table)
        n_seeds = self.units["seed"].nunique()
        return EstimateTable(
            estimates, title=f"Training study ({self.design}, {n_seeds} seeds): effect of freezing vs {self.control!r}"
        )

    def _effect(self, label, outcome, confidence_level, method, n_resamples, seed) -> Estimate:
        units = self.units[self.units["arm"].isin([self.control, label])]
        options = dict(method=method, confidence_level=confidence_level, n_resamples=n_resamples,
                       rng=question_rng(seed, label, outcome), extra_pvalues=("randomization",))
        if self.design == "paired":
            wide = units.pivot(index="seed", columns="arm", values=outcome)
            est = paired_effect(wide[label].to_numpy(dtype=float), wide[self.control].to_numpy(dtype=float),
                                **options)
        else:
            est = two_arm_effect(units[outcome].to_numpy(dtype=float), (units["arm"] == label).to_numpy(dtype=int),
                                 **options)
        y = units[outcome].to_numpy(dtype=float)
        treated = (units["arm"] == label).to_numpy()
        details = {"treatment": label, "outcome": outcome, "design": self.design, "unit": "seed",
                   "mean_treated": float(y[treated].mean()), "mean_control": float(y[~treated].mean())}
        censored = f"{outcome}_censored"
        if censored in units:
            details.update(n_censored=int(units[censored].sum()), restricted_at=self.n_iters, estimand=(
                f"difference in restricted mean iterations to {self.threshold:g}, restricted at {self.n_iters} "
                f"(a run that never reaches {self.threshold:g} counts {self.n_iters})"))
        return replace(est, estimand=label, details={**est.details, **details})

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

    def plot_forest(self, outcome: str | Sequence[str] | None = None, **effects_kwargs) -> Figure:
        """Forest plot (:func:`causalattn.plot_forest`) of :meth:`effects` for ``outcome``."""
        return plot_forest(self.effects(outcome, **effects_kwargs))
