r"""The head map: every head ablated one at a time, each head's effect with its interval, adjusted across heads.

:func:`head_map` measures every unit (a sequence drawn from a task, or a user's
prompt) under control and with each head of the chosen layers ablated (zero,
mean or resample ablation of its output, or patching it from the prompt's
counterfactual), and returns a :class:`causalattn.lab.studies.head_table.HeadMap`:
each head's paired effect with its interval, the p-values adjusted across all
heads (Holm, Benjamini-Hochberg, Benjamini-Yekutieli), the discoveries at a
chosen level, a layer x head heatmap.

It is exact and fast: for each batch of units the clean forward pass runs
once; each head's ablated pass resumes after that head's layer's attention
from the clean cache, several heads stacked along the batch dimension, with
the logits computed at the read positions only
(:func:`causalattn.lab.studies.head_runner.run_heads`). Batches x groups of
heads are independent jobs of the engine (:func:`causalattn.lab.studies.engine.run_jobs`:
local processes or a Dask cluster, the same numbers), and every finished
(batch, head) is saved as it comes back, so an interrupted map resumes
(``out_dir``, :mod:`causalattn.lab.studies.storage`).

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched pairs).
Olsson, C. et al. (2022). In-context Learning and Induction Heads. Transformer Circuits Thread.
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small. arXiv:2211.00593.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from causalattn._validation import (
    check_choice,
    check_confidence_level,
    check_flag,
    check_positive_int,
    check_resample_count,
    check_seed,
)
from causalattn.lab.interventions.ablation import HeadAblation, HeadPatch
from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.studies.checksummed import digest, state_digest
from causalattn.lab.studies.engine import check_engine_options, resolve_client, run_jobs
from causalattn.lab.studies.head_runner import run_heads
from causalattn.lab.studies.head_table import HeadMap
from causalattn.lab.studies.storage import StudyFolder, expect_shapes, open_study_folder
from causalattn.lab.tasks.bigram import Task
from causalattn.lab.tasks.prompts import PromptSet
from causalattn.lab.tasks.units import Units, draw_units

__all__ = ["KINDS", "MapOptions", "head_interventions", "head_map", "map_units", "prepare_map", "select_heads"]

KINDS = ("zero", "mean", "resample", "patch")  # ablation kinds, and patching from the counterfactual prompts
LOGITS_BUDGET = 2**28  # bytes of float32 logits at the read positions per stacked forward pass (per_forward=None)
N_SEQUENCES = 64  # sequences drawn from a task by default
HEADS_PER_JOB = 64  # at most this many heads per job: an interrupted map loses at most one job per worker


def select_heads(model: HookedModel, layers: Any = None, heads: Any = None) -> list[tuple[int, int]]:
    """The (layer, head) pairs of a map: every head of ``layers`` (all layers if None), or the pairs ``heads``.

    A layer or head out of range, a duplicate, or nothing selected is a ValueError naming the argument.

    Examples
    --------
    >>> from causalattn.lab import ModelConfig, build_model
    >>> model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, max_seq_len=8))
    >>> select_heads(model, layers=[1])
    [(1, 0), (1, 1)]
    >>> select_heads(model, heads=[(0, 1), (0, 1)])
    Traceback (most recent call last):
    ...
    ValueError: `heads` names a head twice: [(0, 1)]
    """
    if layers is not None and heads is not None:
        raise ValueError("`layers` and `heads`: give one of them (heads of whole layers, or single heads)")
    if heads is None:
        layers = range(model.n_layers) if layers is None else _as_list("layers", layers)
        for layer in layers:
            _check_index("layers", layer, model.n_layers, "layer")
        _no_duplicates("layers", list(layers), "a layer")
        heads = [(int(layer), head) for layer in layers for head in range(model.n_heads)]
    else:
        heads = _as_list("heads", heads)
        for pair in heads:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"`heads` must hold (layer, head) pairs, got {pair!r}")
            _check_index("heads", pair[0], model.n_layers, "layer")
            _check_index("heads", pair[1], model.n_heads, "head")
        heads = [(int(layer), int(head)) for layer, head in heads]
        _no_duplicates("heads", heads, "a head")
    if not heads:
        raise ValueError(f"`{'layers' if layers is not None else 'heads'}` selects no head")
    return sorted(heads)


def _as_list(name: str, value: Any) -> list:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence | range | np.ndarray):
        raise TypeError(f"`{name}` must be a sequence, got {type(value).__name__}")
    return list(value)


def _check_index(name: str, value: Any, size: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < size:
        raise ValueError(f"`{name}`: {what} {value!r} is out of range: the model has {size} ({what}s 0..{size - 1})")


def _no_duplicates(name: str, values: list, what: str) -> None:
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"`{name}` names {what} twice: {twice}")


def head_interventions(heads: Sequence[tuple[int, int]], kind: str) -> list[Intervention]:
    """The treatment of each head: :class:`HeadAblation` of ``kind``, or :class:`HeadPatch` from the counterfactual."""
    kind = check_choice("kind", kind, KINDS)
    if kind == "patch":
        return [HeadPatch(layer, head, "counterfactual") for layer, head in heads]
    return [HeadAblation(layer, head, kind) for layer, head in heads]


@dataclasses.dataclass(frozen=True)
class MapOptions:
    """The checked options of a map (:func:`head_map`), apart from the model and the units."""

    heads: list[tuple[int, int]]
    kind: str
    outcome: str | None  # None: the units' default outcome
    batch_size: int
    per_forward: int | None  # None: as many heads per forward pass as LOGITS_BUDGET allows
    seed: int
    n_resamples: int
    confidence_level: float
    out_dir: Path | None = None
    n_jobs: int = 1
    client: Any = None
    torch_threads: int | None = None
    progress: bool = True


def _fits(model: HookedModel, data: Any) -> None:
    if isinstance(data, PromptSet):
        tokens = data.batch
        if tokens.inputs.shape[1] > model.max_len or int(tokens.targets.max()) >= model.vocab_size:
            raise ValueError(f"`data` (prompts) does not fit `model` (max_len={model.max_len}, vocab_size="
                             f"{model.vocab_size}): build them with PromptSet.from_frame(..., max_len=model.max_len, "
                             "vocab_size=model.vocab_size)")
    elif isinstance(data, Task):
        if data.seq_len > model.max_len or data.vocab_size > model.vocab_size:
            raise ValueError(f"`data` does not fit `model`: sequences of {data.seq_len} tokens over {data.vocab_size} "
                             f"symbols vs max_len={model.max_len}, vocab_size={model.vocab_size}")
    else:
        raise TypeError(f"`data` must be a task (sample(n, generator) -> Batch) or a PromptSet, "
                        f"got {type(data).__name__}")


def head_map(model: HookedModel, data: Task | PromptSet, *, layers: Sequence[int] | None = None,
             heads: Sequence[tuple[int, int]] | None = None, kind: str = "mean", outcome: str | None = None,
             n_sequences: int | None = None, seed: int = 0, batch_size: int = 16, reference_size: int = 32,
             per_forward: int | None = None, out_dir: str | os.PathLike | None = None, n_resamples: int = 10_000,
             confidence_level: float = 0.95, n_jobs: int = 1, client: Any = None, torch_threads: int | None = None,
             progress: bool = True) -> HeadMap:
    """Ablate every head of ``layers`` (or the ``heads`` given) one at a time; each head's effect with error control.

    Parameters
    ----------
    model : HookedModel
        A lab model or a pretrained one (:class:`causalattn.lab.models.hf.HFModel`).
    data : Task or PromptSet
        The units: ``n_sequences`` sequences drawn from a task
        (:class:`causalattn.lab.tasks.repeated.RepeatedTokensTask`,
        :class:`causalattn.lab.tasks.repeated_text.RepeatedTextTask`, :class:`BigramTask`),
        or every prompt of a :class:`causalattn.lab.tasks.prompts.PromptSet`.
    layers : sequence of int, optional
        Every head of these layers (default: every layer).
    heads : sequence of (layer, head), optional
        These heads only (instead of ``layers``).
    kind : {"mean", "zero", "resample", "patch"}
        Replace the head's output by its mean over the reference sequences
        (per position), by zero, by its output on another unit (resample:
        unit ``i`` takes reference ``i mod R``), or by its output on the prompt's own
        counterfactual (``"patch"``, prompts with counterfactuals).
    outcome : str, optional
        The default outcome of the result (every outcome is measured): for
        sequences ``"in_context_accuracy"`` (default) or ``"in_context_loss"``;
        for prompts ``"logit_diff"`` (default with distractors), ``"accuracy"``
        (default without), ``"log_prob"`` and the in-context ones
        (:mod:`causalattn.lab.tasks.outcomes`).
    n_sequences : int, optional
        Sequences drawn from a task (default 64); with prompts, None (every prompt is a unit).
    seed : int
        Seeds the sequences (the units, then ``reference_size`` reference
        sequences, drawn together) and every head's randomization test.
    batch_size : int
        Units per forward pass (times the heads stacked, ``per_forward``).
    reference_size : int
        Reference sequences of mean and resample ablation (tasks; prompt
        ``i``'s reference is prompt ``i + 1``).
    per_forward : int, optional
        Heads stacked into one forward pass (default: as many as keep the
        logits of the read positions within 256 MiB).
    out_dir : path, optional
        Folder where every finished (batch, head) is saved; rerunning resumes,
        and a map of other heads on the same units reuses the heads in common.
        A folder made with another model or other units is refused.
    n_resamples, confidence_level
        Of every head's test and interval (:func:`causalattn.paired_effect`).
    n_jobs, client, torch_threads
        Where the jobs (batches x up to 64 heads) run: local processes
        (joblib) or a Dask cluster, as in :func:`causalattn.lab.studies.evaluation.evaluation_study`.
    progress : bool
        Show a progress bar over batches x heads.

    Returns
    -------
    HeadMap

    Examples
    --------
    The hand-set induction-head model of Bietti et al.: its layer-1 head is the induction head.

    >>> from causalattn.lab import BigramTask, TaskConfig, induction_head_model
    >>> task = BigramTask(TaskConfig(seq_len=64))
    >>> model = induction_head_model(task, d_model=128)
    >>> result = head_map(model, task, kind="zero", n_sequences=20, n_resamples=999, progress=False)
    >>> result.discoveries(alpha=0.05, adjust="holm")[["layer", "head"]].values.tolist()  # most significant first
    [[1, 0], [0, 0]]
    """
    units, reference_tokens, options = prepare_map(
        model, data, layers=layers, heads=heads, kind=kind, outcome=outcome, n_sequences=n_sequences, seed=seed,
        batch_size=batch_size, reference_size=reference_size, per_forward=per_forward, out_dir=out_dir,
        n_resamples=n_resamples, confidence_level=confidence_level, n_jobs=n_jobs, client=client,
        torch_threads=torch_threads, progress=progress)
    return map_units(model, units, reference_tokens, options)


def prepare_map(model: HookedModel, data: Any, *, layers: Any, heads: Any, kind: Any, outcome: Any, n_sequences: Any,
                seed: Any, batch_size: Any, reference_size: Any, per_forward: Any, out_dir: Any, n_resamples: Any,
                confidence_level: Any, n_jobs: Any, client: Any, torch_threads: Any,
                progress: Any) -> tuple[Units, torch.Tensor | None, MapOptions]:
    """Check the options of :func:`head_map` and draw its units, before any forward pass.

    Returns the units, the reference sequences (None for prompts) and the options.
    """
    model = check_model(model)
    _fits(model, data)
    options = _map_iv(model, layers, heads, kind, outcome, batch_size, per_forward, seed, n_resamples,
                      confidence_level, out_dir, n_jobs, client, torch_threads, progress)
    if n_sequences is None and not isinstance(data, PromptSet):
        n_sequences = N_SEQUENCES
    units, reference_tokens = draw_units(data, n_sequences, options.seed, reference_size)
    _check_units(units, options)
    return units, reference_tokens, options


def _check_units(units: Units, options: MapOptions) -> str:
    """The outcome of the map (``options.outcome`` or the units' default), checked against the units."""
    outcome = check_choice("outcome", options.outcome or units.default_outcome, units.outcomes().names)
    if options.kind == "patch" and units.counterfactual is None:
        raise ValueError("`kind` 'patch' patches each head from the prompt's counterfactual: give prompts with a "
                         "counterfactual column")
    return outcome


def _map_iv(model, layers, heads, kind, outcome, batch_size, per_forward, seed, n_resamples, confidence_level,
            out_dir, n_jobs, client, torch_threads, progress) -> MapOptions:
    selected = select_heads(model, layers, heads)
    kind = check_choice("kind", kind, KINDS)
    if outcome is not None and not isinstance(outcome, str):
        raise TypeError(f"`outcome` must be an outcome name or None, got {type(outcome).__name__}")
    seed = check_seed("seed", seed)
    n_jobs, torch_threads = check_engine_options(n_jobs, torch_threads)
    return MapOptions(
        heads=selected, kind=kind, outcome=outcome, batch_size=check_positive_int("batch_size", batch_size),
        per_forward=None if per_forward is None else check_positive_int("per_forward", per_forward),
        seed=int(seed), n_resamples=check_resample_count("n_resamples", n_resamples),
        confidence_level=check_confidence_level(confidence_level), out_dir=None if out_dir is None else Path(out_dir),
        n_jobs=n_jobs, client=resolve_client(client), torch_threads=torch_threads,
        progress=check_flag("progress", progress))


def map_units(model: HookedModel, units: Units, reference_tokens: torch.Tensor | None, options: MapOptions, *,
              details: dict | None = None) -> HeadMap:
    """The head map of ``options.heads`` on ``units`` (the engine of :func:`head_map` and of the screen's confirmation).

    ``reference_tokens`` are the sequences of mean and resample ablation (None:
    the units' own, :attr:`Units.reference`); ``details`` is added to the result's.
    """
    outcome = _check_units(units, options)
    names = units.outcomes().names
    reference_tokens = units.reference if reference_tokens is None else reference_tokens
    arms = head_interventions(options.heads, options.kind)
    folder = None if options.out_dir is None else open_study_folder(
        options.out_dir, kind="a head map", units="heads", fingerprint={
            "study": "head_map", "model": repr(model), "model_state_sha256": state_digest(model),
            "units": _units_digest(units), "reference": digest({"tokens": reference_tokens.numpy()}),
            "kind": options.kind, "batch_size": options.batch_size},
        explain={"model_state_sha256": "another model's weights",
                 "units": "other units (another task, seed, number of sequences or prompt file)"})
    starts = list(range(0, len(units), options.batch_size))
    was_training = model.training
    model.eval()
    try:
        reference = Reference.compute(model, reference_tokens, arms, sources=units.sources,
                                      generator=torch.Generator().manual_seed(options.seed))
        control, treated, jobs = _load(folder, units, starts, arms, names, options.batch_size)
        todo = [job for job in jobs if job[1]]
        calls = [_MapJob(model, units.slice(start, start + options.batch_size), pending,
                         _needed(reference, model, pending), start, options.per_forward, names)
                 for start, pending in todo]
        total = len(starts) * len(arms)
        with tqdm(total=total, initial=total - sum(len(p) for _, p in todo), desc="head map", unit="head-batch",
                  disable=not options.progress) as bar:
            finished = run_jobs(_map_job, calls, n_jobs=options.n_jobs, client=options.client, progress=bar,
                                torch_threads=options.torch_threads)
            with closing(finished):  # an error or interrupt here cancels the jobs still on the workers
                for index, (batch_control, batch_treated) in finished:
                    k = starts.index(todo[index][0])
                    if control[k] is None:
                        control[k] = batch_control
                        _save(folder, k, starts[k], "control", batch_control)
                    for label, arrays in batch_treated.items():
                        treated[label][k] = arrays
                        _save(folder, k, starts[k], label, arrays)
    finally:
        model.train(was_training)
    return HeadMap(
        heads=list(options.heads), labels=[arm.label for arm in arms],
        control={name: np.concatenate([c[name] for c in control]) for name in names},
        treated={name: np.stack([np.concatenate([t[name] for t in treated[arm.label]]) for arm in arms])
                 for name in names},
        outcome=outcome, unit=units.kind, shape=(model.n_layers, model.n_heads), seed=options.seed,
        n_resamples=options.n_resamples, confidence_level=options.confidence_level,
        details={"kind": options.kind, "n_units": len(units), "batch_size": options.batch_size,
                 "reference_size": len(reference_tokens), **(details or {})})


def _units_digest(units: Units) -> str:
    arrays = {f.name: getattr(units.batch, f.name).numpy() for f in dataclasses.fields(units.batch)}
    for name in ("distractor", "counterfactual"):
        if getattr(units, name) is not None:
            arrays[name] = getattr(units, name).numpy()
    return digest(arrays)


def _file(k: int, start: int, label: str) -> tuple[str, dict]:
    """The file name and the identity of arm ``label`` on batch ``k`` (its first unit ``start``)."""
    name = "control" if label == "control" else label.split(":")[1]  # "ablate:L3H1:mean" -> "L3H1"
    return f"batch{k:05d}__{name}.npz", {"arm": label, "batch": k, "first_unit": start}


def _save(folder: StudyFolder | None, k: int, start: int, label: str, arrays: dict[str, np.ndarray]) -> None:
    if folder is not None:
        name, identity = _file(k, start, label)
        folder.save_arrays(name, arrays, identity=identity)


def _load(folder, units, starts, arms, names, batch_size):
    """The saved outcomes (None where missing) and, per batch, the arms still to run: ``(start, arms)`` pairs."""
    control: list[dict | None] = [None] * len(starts)
    treated: dict[str, list[dict | None]] = {arm.label: [None] * len(starts) for arm in arms}
    jobs = []
    for k, start in enumerate(starts):
        size = min(batch_size, len(units) - start)
        parse = expect_shapes({name: (size,) for name in names})
        where = f"units {start}-{start + size - 1}"
        if folder is not None:
            name, identity = _file(k, start, "control")
            control[k] = folder.load_arrays(name, identity=identity, recompute=f"the control arm on {where}",
                                            parse=parse)
            for arm in arms:
                name, identity = _file(k, start, arm.label)
                treated[arm.label][k] = folder.load_arrays(name, identity=identity,
                                                           recompute=f"{arm.label} on {where}", parse=parse)
        pending = [arm for arm in arms if treated[arm.label][k] is None]
        n_jobs = max(1, math.ceil(len(pending) / HEADS_PER_JOB))
        size = math.ceil(len(pending) / n_jobs) if pending else 0
        chunks = [pending[i:i + size] for i in range(0, len(pending), size)] if pending else []
        if control[k] is None and not chunks:
            chunks = [[]]  # the clean pass alone
        jobs += [(start, chunk) for chunk in chunks]
    return control, treated, jobs


def _needed(reference: Reference, model: HookedModel, arms: list[Intervention]) -> Reference:
    """The part of ``reference`` that ``arms`` read (a job ships only its layers' activations)."""
    wanted = set().union(*(arm.needs(model) for arm in arms)) if arms else set()
    return Reference({source: {name: reference.activations[source][name] for s, name in wanted if s == source}
                      for source in {s for s, _ in wanted}})


@dataclasses.dataclass(frozen=True)
class _MapJob:
    """One job of the map: a batch of units (the first is unit ``offset``) under control and under ``arms``."""

    model: HookedModel
    units: Units
    arms: list[Intervention]
    reference: Reference
    offset: int
    per_forward: int | None
    names: tuple[str, ...]


def _map_job(job: _MapJob, *, report) -> tuple[dict, dict]:
    """The outcomes of one batch of units under control and under ``arms``: one job, on a worker."""
    outcomes, per_forward = job.units.outcomes(), job.per_forward
    if per_forward is None:
        vocab = job.model.vocab_size
        per_forward = max(1, min(len(job.arms) or 1, LOGITS_BUDGET // (4 * vocab * max(1, len(outcomes.targets)))))
    return run_heads(job.model, job.units.batch, job.arms, job.reference, job.offset, outcomes,
                     per_forward=per_forward, names=job.names, report=report)
