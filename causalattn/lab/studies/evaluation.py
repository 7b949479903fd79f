r"""The evaluation study: every held-out sequence under control and under each intervention (matched pairs).

Units are held-out sequences of the task. Each sequence is evaluated by the
same model under the control arm (no intervention) and under every treatment,
so each treatment-control comparison is a matched-pairs experiment in which
the two "units" of a pair are the same sequence under the two arms. The
effect of treatment :math:`j` on an outcome :math:`Y` (in-context accuracy or
loss of a sequence) is

.. math::

    \tau_j = \frac1n \sum_{i=1}^n \{Y_i(j) - Y_i(\text{control})\},

the average over the population of sequences the task generates, for this one
model (to reach the population of training runs, evaluate several trained
models with :func:`causalattn.lab.studies.models_study.models_study`). Effects
come from the effect layer (:func:`causalattn.paired_effect`), one row per
treatment and outcome (:mod:`causalattn.lab.studies.table`): by default the
paired t interval with :math:`n - 1` degrees of freedom and the p-value of the
same t test, so that the interval excludes 0 exactly when
:math:`p < 1 - \text{confidence level}`; ``method=`` chooses the normal,
randomization (sign-flip FRT, interval by inverting it) or bootstrap procedure
instead. The sign-flip Fisher randomization p-value travels beside it as
``pvalue_randomization``. At the token level, the in-context tokens form a
paired 2x2 table of correct/incorrect (:class:`causalattn.PairedTable`:
McNemar, paired RD/RR/OR), and a regression of correctness on the arm with
standard errors clustered by sequence (:func:`causalattn.ols`,
``cov_type="cluster"``).

Efficiency: the arms of a batch are run by :func:`causalattn.lab.studies.runner.run_arms`,
which runs the clean forward pass once and resumes every intervention from its
cache; finished (batch, arm) results are saved in a
:class:`causalattn.lab.studies.storage.StudyFolder` so that a study resumes.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched-pairs experiments).
Bietti, A. et al. (2023). Birth of a Transformer: A Memory Viewpoint. arXiv:2306.00802.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from causalattn._memory import FLOAT, TOKEN, Need, check_memory
from causalattn._validation import (
    check_confidence_level,
    check_flag,
    check_positive_int,
    check_resample_count,
    check_seed,
)
from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.studies._inputs import check_task, check_treatments
from causalattn.lab.studies.checksummed import state_digest
from causalattn.lab.studies.engine import check_engine_options, resolve_client, run_jobs
from causalattn.lab.studies.evaluation_results import OUTCOMES, EvaluationStudy, Heterogeneity
from causalattn.lab.studies.runner import CONTROL, arm_outcomes, arm_shapes, run_arms
from causalattn.lab.studies.storage import check_out_dir, expect_shapes, open_study_folder, slug
from causalattn.lab.tasks.bigram import Batch, Task
from causalattn.lab.tasks.units import check_read_positions

__all__ = ["CONTROL", "OUTCOMES", "EvaluationStudy", "Heterogeneity", "evaluation_study"]


def _arm_file(k: int, start: int, label: str) -> tuple[str, dict]:
    """The file name and the identity of arm ``label`` on batch ``k`` (its first sequence ``start``)."""
    return f"batch{k:05d}__{slug(label)}.npz", {"arm": label, "batch": k, "first_sequence": start}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


@dataclasses.dataclass(frozen=True)
class _EvaluationArgs:
    """The arguments of :func:`evaluation_study`, checked (:func:`_evaluation_iv`)."""

    model: HookedModel
    task: Task
    interventions: list[Intervention]
    n_sequences: int
    seed: int
    batch_size: int
    reference_size: int
    out_dir: Path | None
    n_resamples: int
    confidence_level: float
    n_jobs: int
    client: Any
    torch_threads: int | None


def _evaluation_iv(model, task, treatments, n_sequences, seed, batch_size, reference_size, out_dir,
                   n_resamples, confidence_level, n_jobs, client, torch_threads) -> _EvaluationArgs:
    model = check_model(model)
    task = check_task(task, {"`model`": model})
    interventions = check_treatments(treatments, {"`model`": model})
    n_sequences = check_positive_int("n_sequences", n_sequences, minimum=2)  # a study needs at least 2 units
    seed = check_seed("seed", seed)
    batch_size = check_positive_int("batch_size", batch_size)
    reference_size = check_positive_int("reference_size", reference_size)
    t, sequences = task.seq_len, (("n_sequences", n_sequences), ("reference_size", reference_size))
    batch = min(batch_size, max(n_sequences, reference_size))  # the largest batch run
    check_memory([  # before: n_sequences=10**9 died in torch's allocator
        Need("the sequences", (*sequences, ("task.seq_len", t)), TOKEN * 2 * (n_sequences + reference_size) * t),
        Need("the logits of a batch", (("batch_size", batch_size), ("task.seq_len", t)),
             FLOAT * 3 * batch * t * model.vocab_size),
        Need("the attention patterns and activations of a batch", (("batch_size", batch_size), ("task.seq_len", t)),
             FLOAT * 2 * batch * model.n_layers * (model.n_heads * t * t + 4 * t * model.d_model))])
    n_jobs, torch_threads = check_engine_options(n_jobs, torch_threads)
    return _EvaluationArgs(
        model, task, interventions, n_sequences, int(seed), batch_size, reference_size, check_out_dir(out_dir),
        check_resample_count("n_resamples", n_resamples), check_confidence_level(confidence_level), n_jobs,
        resolve_client(client), torch_threads)


@dataclasses.dataclass(frozen=True)
class _BatchJob:
    """One job of an evaluation study: ``batch`` (sequences ``offset``, ...) under each of ``arms`` (None: control)."""

    model: HookedModel
    batch: Batch
    arms: list[Intervention | None]
    reference: Reference
    offset: int


def evaluation_study(
    model: HookedModel,
    task: Task,
    treatments: Sequence[Intervention | str],
    *,
    n_sequences: int = 500,
    seed: int = 0,
    batch_size: int = 50,
    reference_size: int = 64,
    out_dir: str | os.PathLike | None = None,
    n_resamples: int = 10_000,
    confidence_level: float = 0.95,
    n_jobs: int = 1,
    client: Any = None,
    torch_threads: int | None = None,
    progress: bool = True,
) -> EvaluationStudy:
    """Evaluate the same held-out sequences under control and under every treatment.

    Parameters
    ----------
    model : HookedModel
        A lab model (:func:`causalattn.lab.build_model`, a trained or hand-set one)
        or a pretrained one (:class:`causalattn.lab.HFModel`); any model
        implementing :class:`causalattn.lab.models.contract.HookedModel`.
    task : Task
        Source of the held-out sequences: a :class:`BigramTask`, or
        :class:`causalattn.lab.tasks.repeated.RepeatedTokensTask` for real models.
    treatments : sequence of Intervention or label
        E.g. ``[HeadAblation(1, 0, "mean"), "pattern:L0H0:uniform"]``; labels must be unique.
    n_sequences : int
        Number of held-out sequences (units), at least 2.
    seed : int
        Seeds the held-out sequences, then the reference sequences (``reference_size``
        more, for mean/resample ablation and clean/corrupted patterns), then the
        randomization tests and bootstrap.
    batch_size : int
        Sequences per forward pass.
    reference_size : int
        Number of reference sequences.
    out_dir : path, optional
        Folder where each finished (batch, arm) is saved as it completes (atomic
        writes); rerunning with the same folder resumes without redoing them. A
        folder from a different configuration is a ValueError naming `out_dir`;
        a damaged ``study.json`` is rewritten, keeping only the arm files that
        show they were made under this configuration
        (:func:`causalattn.lab.studies.storage.open_study_folder`).
        Arms are saved by label, so a rerun with more treatments reuses the
        finished ones.
    n_resamples : int
        Sign-flip draws of the randomization tests (exact enumeration when the
        number of pairs is small enough).
    confidence_level : float
    n_jobs : int
        Batches evaluated in parallel on this machine (joblib; -1 for all
        cores), in local processes unless ``joblib.parallel_config(backend=...)``
        sets another backend. Ignored on a Dask cluster.
    client : distributed.Client, optional
        Evaluate the batches on this Dask cluster (``pip install
        "causalattn[distributed]"``); an active
        ``joblib.parallel_config(backend="dask")`` selects its client too. The
        workers return each batch's arrays and only this process writes
        ``out_dir``: no shared filesystem is needed. This process draws the
        sequences and computes the reference activations.
    torch_threads : int or None
        torch's intra-op threads while a batch is evaluated (on its worker);
        None keeps each worker's setting (in this process: the current one).
        The results are bit-identical wherever the batches run when the thread
        counts are equal.
    progress : bool
        Show a progress bar (over batches x arms).

    Returns
    -------
    EvaluationStudy

    Examples
    --------
    Zero-ablating the induction head of the hand-set model on 20 short
    sequences (under a second):

    >>> from causalattn.lab import BigramTask, TaskConfig, induction_head_model
    >>> task = BigramTask(TaskConfig(seq_len=64))
    >>> model = induction_head_model(task, d_model=128)
    >>> study = evaluation_study(model, task, ["ablate:L1H0:zero"], n_sequences=20, n_resamples=999,
    ...                          progress=False)
    >>> effect = study.effects("in_context_accuracy")[0]
    >>> effect.estimand, effect.n, effect.estimate < -0.3
    ('ablate:L1H0:zero', 20, True)
    """
    args = _evaluation_iv(model, task, treatments, n_sequences, seed, batch_size, reference_size, out_dir,
                          n_resamples, confidence_level, n_jobs, client, torch_threads)
    progress = check_flag("progress", progress)
    model, interventions, batch_size = args.model, args.interventions, args.batch_size
    generator = torch.Generator().manual_seed(args.seed)
    data = task.sample(args.n_sequences, generator)
    check_read_positions(data, "n_sequences", warn=True)  # its global outcomes are still defined
    reference_batch = task.sample(args.reference_size, generator)
    folder = None
    if args.out_dir is not None:
        folder = open_study_folder(args.out_dir, kind="an evaluation study", units="arms", fingerprint={
            "study": "evaluation_study", "model": repr(model), "model_state_sha256": state_digest(model),
            "task_config": dataclasses.asdict(task.config), "n_sequences": args.n_sequences, "seed": args.seed,
            "batch_size": batch_size, "reference_size": args.reference_size,
        }, explain={"model_state_sha256": "another model's weights (the model was retrained or replaced since)"})
    was_training = model.training
    model.eval()
    try:
        reference = Reference.compute(model, reference_batch, interventions, generator=generator)
        arms: list[Intervention | None] = [None, *interventions]
        labels = [CONTROL, *(t.label for t in interventions)]
        starts = list(range(0, args.n_sequences, batch_size))
        results: dict[str, list[dict[str, np.ndarray] | None]] = {label: [] for label in labels}
        jobs, batches = [], []  # one job per batch with arms still to evaluate
        for k, start in enumerate(starts):
            batch = data.slice(start, start + batch_size)
            for label in labels:
                name, identity = _arm_file(k, start, label)
                results[label].append(None if folder is None else folder.load_arrays(
                    name, identity=identity, parse=expect_shapes(arm_shapes(batch)),
                    recompute=f"arm {label!r} on sequences {start}-{start + len(batch) - 1}"))
            pending = [arm for arm, label in zip(arms, labels, strict=True) if results[label][k] is None]
            if pending:
                jobs.append(_BatchJob(model, batch, pending, reference, start))
                batches.append(k)
        done = len(starts) * len(arms) - sum(len(job.arms) for job in jobs)
        with tqdm(total=len(starts) * len(arms), initial=done, desc="evaluation study", unit="arm-batch",
                  disable=not progress) as bar:
            finished = run_jobs(_evaluate_batch, jobs, n_jobs=args.n_jobs, client=args.client, progress=bar,
                                torch_threads=args.torch_threads)
            with closing(finished):  # an error or interrupt here cancels the batches still on the workers
                for index, computed in finished:
                    k = batches[index]
                    for label, arrays in computed.items():
                        if folder is not None:
                            name, identity = _arm_file(k, starts[k], label)
                            folder.save_arrays(name, arrays, identity=identity)
                        results[label][k] = arrays
    finally:
        model.train(was_training)
    return EvaluationStudy(model, data, reference, interventions,
                           {label: _concat(parts) for label, parts in results.items()},
                           seed=args.seed, n_resamples=args.n_resamples, confidence_level=args.confidence_level)


def _evaluate_batch(job: _BatchJob, *, report) -> dict[str, dict[str, np.ndarray]]:
    """The outcome arrays of the job's batch under each of its arms: one job, on a worker."""
    metrics = run_arms(job.model, job.batch, job.arms, job.reference, job.offset)
    report(len(job.arms))
    return {label: arm_outcomes(m, job.batch) for label, m in metrics.items()}
