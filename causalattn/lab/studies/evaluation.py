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
models with :func:`causalattn.lab.studies.models_study.models_study`). Effects come from the effect layer
(:func:`causalattn.paired_effect`): by default the paired t interval with :math:`n - 1` degrees of freedom and the
p-value of the same t test, so that the interval excludes 0 exactly when
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
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from causalattn._memory import FLOAT, TOKEN, Need, check_memory
from causalattn._streams import question_rng
from causalattn._validation import check_choice, check_confidence_level, check_flag, check_positive_int, check_seed
from causalattn.effects import METHODS, paired_effect
from causalattn.estimate import Estimate, EstimateTable
from causalattn.lab.interventions.base import Intervention, Reference, as_interventions
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.studies.engine import check_engine_options, resolve_client, run_jobs
from causalattn.lab.studies.runner import CONTROL, arm_outcomes, arm_shapes, run_arms
from causalattn.lab.studies.storage import (
    check_file_names,
    check_out_dir,
    digest,
    expect_shapes,
    open_study_folder,
    slug,
)
from causalattn.lab.tasks.bigram import Batch, Task
from causalattn.multiple_testing import adjust_pvalues
from causalattn.plots import plot_forest
from causalattn.regression import ols
from causalattn.tables.paired import PairedTable
from causalattn.tables.simpson import SimpsonResult, simpson

__all__ = ["CONTROL", "OUTCOMES", "EvaluationStudy", "Heterogeneity", "evaluation_study"]

OUTCOMES = ("in_context_accuracy", "in_context_loss", "global_accuracy", "global_loss")


def _state_hash(model: nn.Module) -> str:
    return digest({name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()})


def _arm_file(k: int, start: int, label: str) -> tuple[str, dict]:
    """The file name and the identity of arm ``label`` on batch ``k`` (its first sequence ``start``)."""
    return f"batch{k:05d}__{slug(label)}.npz", {"arm": label, "batch": k, "first_sequence": start}


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def _evaluation_iv(model, task, treatments, n_sequences, seed, batch_size, reference_size, out_dir,
                   n_resamples, confidence_level, n_jobs, client, torch_threads):
    model = check_model(model)
    if not isinstance(task, Task) or not dataclasses.is_dataclass(task.config):
        raise TypeError("`task` must be a task (sample(n, generator) -> Batch, seq_len, vocab_size, a dataclass "
                        f"config) such as BigramTask or RepeatedTokensTask, got {type(task).__name__}")
    if task.seq_len > model.max_len or task.vocab_size > model.vocab_size:
        raise ValueError(f"`task` does not fit `model`: sequences of {task.seq_len} tokens over "
                         f"{task.vocab_size} symbols vs max_len={model.max_len}, vocab_size={model.vocab_size}")
    interventions = as_interventions(treatments)
    if any(t.label == CONTROL for t in interventions):
        raise ValueError(f"`treatments`: {CONTROL!r} is the name of the control arm")
    check_file_names("treatments", [CONTROL, *(t.label for t in interventions)])  # each arm's files: slug(label)
    for t in interventions:
        t.check(model)
    n_sequences = check_positive_int("n_sequences", n_sequences, minimum=2)  # a study needs at least 2 units
    seed = check_seed("seed", seed)
    batch_size = check_positive_int("batch_size", batch_size)
    reference_size = check_positive_int("reference_size", reference_size)
    n_resamples = check_positive_int("n_resamples", n_resamples)
    level = check_confidence_level(confidence_level)
    t, sequences = task.seq_len, (("n_sequences", n_sequences), ("reference_size", reference_size))
    batch = min(batch_size, max(n_sequences, reference_size))  # the largest batch run
    check_memory([  # before: n_sequences=10**9 died in torch's allocator
        Need("the sequences", (*sequences, ("task.seq_len", t)), TOKEN * 2 * (n_sequences + reference_size) * t),
        Need("the logits of a batch", (("batch_size", batch_size), ("task.seq_len", t)),
             FLOAT * 3 * batch * t * model.vocab_size),
        Need("the attention patterns and activations of a batch", (("batch_size", batch_size), ("task.seq_len", t)),
             FLOAT * 2 * batch * model.n_layers * (model.n_heads * t * t + 4 * t * model.d_model))])
    out_dir = check_out_dir(out_dir)
    n_jobs, torch_threads = check_engine_options(n_jobs, torch_threads)
    return (interventions, int(n_sequences), int(seed), batch_size, reference_size, out_dir, n_resamples, level,
            n_jobs, resolve_client(client), torch_threads)


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
    (interventions, n_sequences, seed, batch_size, reference_size, out_dir, n_resamples, level, n_jobs, client,
     torch_threads) = _evaluation_iv(model, task, treatments, n_sequences, seed, batch_size, reference_size, out_dir,
                                     n_resamples, confidence_level, n_jobs, client, torch_threads)
    progress = check_flag("progress", progress)
    generator = torch.Generator().manual_seed(seed)
    data = task.sample(n_sequences, generator)
    reference_batch = task.sample(reference_size, generator)
    folder = None
    if out_dir is not None:
        folder = open_study_folder(out_dir, kind="an evaluation study", units="arms", fingerprint={
            "study": "evaluation_study", "model": repr(model), "model_state_sha256": _state_hash(model),
            "task_config": dataclasses.asdict(task.config),
            "n_sequences": n_sequences, "seed": seed, "batch_size": batch_size, "reference_size": reference_size,
        }, explain={"model_state_sha256": "another model's weights (the model was retrained or replaced since)"})
    was_training = model.training
    model.eval()
    try:
        reference = Reference.compute(model, reference_batch, interventions, generator=generator)
        arms: list[Intervention | None] = [None, *interventions]
        labels = [CONTROL, *(t.label for t in interventions)]
        starts = list(range(0, n_sequences, batch_size))
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
                jobs.append((model, batch, pending, reference, start))
                batches.append(k)
        done = len(starts) * len(arms) - sum(len(job[2]) for job in jobs)
        with tqdm(total=len(starts) * len(arms), initial=done, desc="evaluation study", unit="arm-batch",
                  disable=not progress) as bar:
            finished = run_jobs(_evaluate_batch, jobs, n_jobs=n_jobs, client=client, progress=bar,
                                torch_threads=torch_threads)
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
                           seed=seed, n_resamples=n_resamples, confidence_level=level)


def _evaluate_batch(model: HookedModel, batch: Batch, arms: list[Intervention | None], reference: Reference,
                    offset: int, *, report) -> dict[str, dict[str, np.ndarray]]:
    """The outcome arrays of ``batch`` (sequences ``offset``, ...) under each arm: one job, on a worker."""
    metrics = run_arms(model, batch, arms, reference, offset)
    report(len(arms))
    return {label: arm_outcomes(m, batch) for label, m in metrics.items()}


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


class EvaluationStudy:
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
    """

    def __init__(self, model, data: Batch, reference: Reference, interventions: list[Intervention],
                 arms: dict[str, dict[str, np.ndarray]], *, seed: int, n_resamples: int,
                 confidence_level: float) -> None:
        self.model = model
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
        self._effects: dict[tuple, EstimateTable] = {}
        self._units: pd.DataFrame | None = None
        self._tokens: pd.DataFrame | None = None

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Outcome names: :data:`OUTCOMES`, then any per-sequence outcome the arms carry (e.g. a prompt study's)."""
        arrays = self._arms[CONTROL]
        return OUTCOMES + tuple(k for k in arrays if k not in ("correct", "loss", *OUTCOMES))

    def __repr__(self) -> str:
        return (f"EvaluationStudy({len(self.data)} sequences x {len(self.treatments) + 1} arms: control, "
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

    def _check_treatment(self, treatment: Any, name: str = "treatment") -> str:
        label = treatment.label if isinstance(treatment, Intervention) else treatment
        if label not in self.interventions:
            raise ValueError(f"`{name}` {label!r} is not in this study; treatments: {self.treatments}")
        return label

    def _paired(self, treatment: str, outcome: str, baseline: str = CONTROL) -> tuple[np.ndarray, np.ndarray]:
        wide = self.units.pivot(index="sequence", columns="arm", values=outcome)[[treatment, baseline]].dropna()
        if len(wide) < 2:
            raise ValueError(f"`outcome` {outcome!r}: fewer than 2 sequences have it under both arms "
                             f"(sequences without in-context tokens are dropped)")
        return wide[treatment].to_numpy(), wide[baseline].to_numpy()

    def effect(self, treatment: Any, outcome: str = "in_context_accuracy", *, method: str = "t",
               baseline: Any = CONTROL) -> Estimate:
        r"""The paired effect of ``treatment`` on ``outcome``, its interval and p-value from one procedure.

        The estimate is the mean over sequences of :math:`Y_i(\text{treatment}) - Y_i(\text{baseline})`, the
        baseline arm being the control unless ``baseline`` names another treatment of the study (the contrast
        of two treatments, e.g. a total minus a direct effect,
        :func:`causalattn.lab.studies.decomposition.decompose`).
        ``method`` (:func:`causalattn.paired_effect`) gives the interval and
        ``pvalue``: ``"t"`` (default: paired t, :math:`n - 1` df), ``"normal"``
        (paired Neyman), ``"randomization"`` (sign-flip FRT and its inversion)
        or ``"bootstrap"`` (BCa). ``details["pvalue_randomization"]`` is the
        sign-flip FRT p-value of the sharp null of no effect on any sequence,
        whatever the method. ``details`` also has the two arm means,
        ``treatment``, ``outcome`` and ``unit`` (``"sequence"``); ``n`` is the
        number of sequences (pairs); ``control_mean`` is the baseline arm's mean,
        named by ``details["baseline"]``. The random stream of a (treatment,
        baseline, outcome) question depends on the study's seed and the question only.
        """
        label = self._check_treatment(treatment)
        base = CONTROL if isinstance(baseline, str) and baseline == CONTROL else \
            self._check_treatment(baseline, "baseline")
        if base == label:
            raise ValueError(f"`baseline` {base!r} is the treatment itself: the contrast is 0 by construction")
        outcome = check_choice("outcome", outcome, self.outcomes)
        method = check_choice("method", method, METHODS)
        y1, y0 = self._paired(label, outcome, base)
        question = (label, outcome) if base == CONTROL else (label, base, outcome)
        est = paired_effect(y1, y0, method=method, confidence_level=self.confidence_level,
                            n_resamples=self.n_resamples, rng=question_rng(self.seed, *question),
                            extra_pvalues=("randomization",))
        return dataclasses.replace(est, estimand=label, details={
            **est.details, "treatment": label, "baseline": base, "outcome": outcome, "unit": "sequence",
            "treated_mean": float(y1.mean()), "control_mean": float(y0.mean())})

    def effects(self, outcome: str = "in_context_accuracy", adjust: str | None = "holm", *,
                method: str = "t") -> EstimateTable:
        """One :meth:`effect` per treatment; ``pvalue`` adjusted across treatments (``"holm"``, ``"bh"`` or None).

        The adjustment applies to ``pvalue``, the p-value of the row's own
        ``method``, and is stored as ``details["pvalue_adjusted"]``.
        """
        outcome = check_choice("outcome", outcome, self.outcomes)
        if adjust is not None:
            check_choice("adjust", adjust, ("holm", "bh"))
        method = check_choice("method", method, METHODS)
        key = (outcome, adjust, method)
        if key not in self._effects:
            table = EstimateTable([self.effect(t, outcome, method=method) for t in self.treatments],
                                  title=f"effects on {outcome} (treatment - control), {len(self.data)} sequences")
            self._effects[key] = adjust_pvalues(table, adjust) if adjust is not None else table
        return self._effects[key]

    def token_table(self, treatment: Any) -> PairedTable:
        """Paired 2x2 table of the in-context tokens: correct/incorrect under ``treatment`` vs control."""
        label = self._check_treatment(treatment)
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
        label = self._check_treatment(treatment)
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
        label = self._check_treatment(treatment)
        by = check_choice("by", by, ("position", "trigger_count"))
        bins = check_positive_int("bins", bins)
        outcome = check_choice("outcome", outcome, ("in_context_accuracy", "in_context_loss"))
        method = check_choice("method", method, METHODS)
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
            est = paired_effect(means["y1"], means["y0"], method=method, confidence_level=self.confidence_level,
                                n_resamples=self.n_resamples, rng=question_rng(self.seed, label, outcome, by, name))
            rows.append(dataclasses.replace(est, estimand=f"{by} {name}",
                                            details={**est.details, "treatment": label, "outcome": outcome,
                                                     "unit": "sequence", "stratum": name,
                                                     "n_tokens": int(mask.sum())}))
        pooled = self.effect(label, outcome, method=method)
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

    def plot_forest(self, outcome: str = "in_context_accuracy", adjust: str | None = "holm"):
        """Forest plot of :meth:`effects` (matplotlib Figure)."""
        return plot_forest(self.effects(outcome, adjust), xlabel=f"change in {outcome.replace('_', ' ')}")

    def plot_attention(self, treatment: Any = None, index: int = 0, *, chars: Sequence[str] | None = None,
                       window: tuple[int, int] | None = None):
        """Attention maps of held-out sequence ``index`` under ``treatment`` (control if None).

        ``chars`` (``task.chars``) labels the tokens with their characters and
        ``window`` picks the positions, as in :func:`causalattn.lab.plots.plot_attention`;
        the map of a head whose output ``treatment`` replaces says so in its title.
        """
        from causalattn.lab.plots import plot_attention

        intervention = None if treatment is None else self.interventions[self._check_treatment(treatment)]
        return plot_attention(self.model, self.data, index, treatment=intervention, reference=self.reference,
                              chars=chars, window=window)
