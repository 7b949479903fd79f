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

import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from causalattn._validation import check_choice, check_flag, check_positive_int, check_rng, check_seed
from causalattn.lab.analysis.probes import PROBE_KEYS
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.engine import check_engine_options, resolve_client, run_jobs
from causalattn.lab.studies.storage import check_file_names, check_out_dir
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.config import Freeze, TrainConfig, check_schedule, check_within_run, resolve_freeze
from causalattn.lab.training.loop import train_iv
from causalattn.lab.training.results import TrainingStudy
from causalattn.lab.training.segments import Segments, TrainingJob, train_unit
from causalattn.lab.training.units import (
    RunFiles,
    checkpoint_folder,
    fingerprint,
    run_configs,
    unit_outcomes,
    verified_checkpoint,
)

__all__ = ["TrainingStudy", "training_study"]


def _check_arms(arms: Any, model_config: ModelConfig, n_iters: int) -> tuple[dict[str, tuple[Freeze, ...]], str]:
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
            check_schedule(schedule, n_iters, "freeze")
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


@dataclass(frozen=True)
class _TrainingArgs:
    """The arguments of :func:`training_study`, checked (:func:`_training_study_iv`)."""

    arms: dict[str, tuple[Freeze, ...]]
    control: str
    seeds: tuple[int, ...]
    design: str
    at_iterations: tuple[int, ...]
    threshold: float
    probes: tuple[str, ...]
    n_jobs: int
    out_dir: Path | None
    client: Any
    torch_threads: int | None
    rng: np.random.Generator  # checked whatever the design (only the randomized one draws from it)


def _training_study_iv(
    model_config, task_config, train_config, arms, seeds, design, at_iterations, threshold, probes, n_jobs, out_dir,
    client, torch_threads, keep_models, rng,
) -> _TrainingArgs:
    train_iv(model_config, task_config, train_config, None)  # the types, and that the task fits the model
    if train_config.freeze:
        raise ValueError("`train_config.freeze` must be empty: give the freezing schedules as `arms`")
    design = check_choice("design", design, ("paired", "randomized"))
    arms, control = _check_arms(arms, model_config, train_config.n_iters)
    seeds = _check_seeds(seeds, design, len(arms))
    n_iters = train_config.n_iters
    if at_iterations is None:
        at_iterations = (n_iters,)
    elif isinstance(at_iterations, numbers.Integral):
        at_iterations = (at_iterations,)
    at_iterations = tuple(sorted({check_positive_int("at_iterations", t, minimum=0) for t in at_iterations}))
    for t in at_iterations:
        check_within_run("at_iterations", t, n_iters, "the runs have no outcome there")
    logged = [t for t in at_iterations if t % train_config.log_every == 0 or t == n_iters]
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
    return _TrainingArgs(arms, control, seeds, design, at_iterations, float(threshold), probes, int(n_jobs), out_dir,
                         client, torch_threads, check_rng(rng))


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
    args = _training_study_iv(model_config, task_config, train_config, arms, seeds, design, at_iterations, threshold,
                              probes, n_jobs, out_dir, client, torch_threads, keep_models, rng)
    progress = check_flag("progress", progress)
    arms, out_dir, n_iters = args.arms, args.out_dir, train_config.n_iters
    outcomes = dict(at_iterations=args.at_iterations, threshold=args.threshold, probes=args.probes, n_iters=n_iters)
    runs = _assign(args.seeds, list(arms), args.design, args.rng)
    records: dict[tuple[int, str], dict] = {}
    weights: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    files = None
    if out_dir is not None:
        files = RunFiles(out_dir, fingerprint(model_config, task_config, train_config, arms), model_config,
                         keep_models)
        for seed, label in runs:
            found = files.load(seed, label, **outcomes)
            if found is not None:
                records[seed, label], kept = found
                if kept is not None:
                    weights[seed, label] = kept
    todo = [run for run in runs if run not in records]
    if args.client is None:  # local workers checkpoint into out_dir themselves, resuming from verified checkpoints
        for seed, label in todo if out_dir is not None else ():
            verified_checkpoint(out_dir, seed, label, *run_configs(model_config, task_config, train_config, seed,
                                                                   arms[label]))
        jobs = [TrainingJob(model_config, task_config, train_config, seed, label, arms[label],
                            None if out_dir is None else checkpoint_folder(out_dir, seed, label), keep_models)
                for seed, label in todo]
        follow, resumed = None, 0
    else:
        segments = Segments(model_config, task_config, train_config, arms, out_dir, keep_models)
        jobs = [segments.first(seed, label) for seed, label in todo]
        follow, resumed = segments.follow, segments.resumed
    with tqdm(total=len(runs) * n_iters, initial=(len(runs) - len(todo)) * n_iters + resumed,
              desc=f"training study ({len(runs)} runs)", unit="it", disable=not progress) as bar:
        finished = run_jobs(train_unit, jobs, n_jobs=args.n_jobs, client=args.client, progress=bar,
                            torch_threads=args.torch_threads, follow=follow)
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
        rows.append({"seed": seed, "arm": label, **unit_outcomes(history, **outcomes)})
        histories.append(history.assign(seed=seed, arm=label))
    histories = pd.concat(histories, ignore_index=True)
    histories = histories[["seed", "arm", *[c for c in histories.columns if c not in ("seed", "arm")]]]
    names = tuple(c for c in rows[0] if c not in ("seed", "arm") and not c.endswith("_censored"))
    return TrainingStudy(
        units=pd.DataFrame(rows), histories=histories, arms=arms, control=args.control, design=args.design,
        outcomes=names, threshold=args.threshold, n_iters=n_iters, model_config=model_config, weights=weights,
    )
