r"""Prompt studies: each user prompt evaluated under control and under every intervention (matched pairs).

A prompt study evaluates each prompt of a :class:`causalattn.lab.tasks.prompts.PromptSet`
under control and under every intervention (matched pairs, as
:func:`causalattn.lab.studies.evaluation.evaluation_study` does for sequences).
The outcomes of prompt :math:`i` with answer tokens :math:`a_1, \dots, a_m`
(teacher-forced after the prompt) and distractor :math:`d` are

.. math::

    \text{accuracy}_i = \mathbb 1\{\text{each } a_j \text{ is the argmax given the prompt and } a_{<j}\},
    \qquad
    \text{log\_prob}_i = \sum_{j=1}^m \log p(a_j \mid \text{prompt}, a_{<j}),

    \text{logit\_diff}_i = \ell(a_1) - \ell(d) \quad \text{(logits at the last prompt position)},

so ``accuracy`` says whether greedy decoding continues the prompt with the
answer, and the logit difference is the usual measure of circuits work (Wang
et al., 2022). The per-answer-token correctness and loss are the study's
in-context tokens (``in_context_accuracy``, ``in_context_loss``: means over the
answer's tokens), and the prompt's own tokens its global positions.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched-pairs experiments).
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small. arXiv:2211.00593 (logit difference, counterfactual prompts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from causalattn._validation import (
    check_confidence_level,
    check_flag,
    check_positive_int,
    check_resample_count,
    check_seed,
)
from causalattn.lab.interventions.base import Intervention, Reference
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.studies._inputs import check_treatments
from causalattn.lab.studies.evaluation import CONTROL, EvaluationStudy
from causalattn.lab.studies.runner import arm_outcomes, run_arms
from causalattn.lab.tasks.bigram import Batch
from causalattn.lab.tasks.metrics import TokenMetrics, token_metrics
from causalattn.lab.tasks.prompts import PromptSet

__all__ = ["PROMPT_OUTCOMES", "PromptMetrics", "prompt_study"]

PROMPT_OUTCOMES = ("accuracy", "log_prob", "logit_diff")


@dataclasses.dataclass(frozen=True)
class PromptMetrics(TokenMetrics):
    """:class:`TokenMetrics` of a batch of prompts, with the logit difference at each prompt's last position."""

    logit_diff: torch.Tensor | None  # (B,) float, answer's first token minus distractor's; None without distractors


def _measure(prompts: PromptSet, start: int):
    """``measure(logits, batch)`` for :func:`causalattn.lab.studies.runner.run_arms` on prompts ``start:start + B``."""
    def measure(logits: torch.Tensor, batch: Batch) -> PromptMetrics:
        metrics = token_metrics(logits, batch)
        rows = torch.arange(len(batch))
        stop = start + len(batch)
        diff = None
        if prompts.distractor is not None:
            at_last = logits[rows, prompts.last[start:stop]].double()  # (B, vocab)
            answer = batch.targets[rows, prompts.last[start:stop]]
            diff = (at_last[rows, answer] - at_last[rows, prompts.distractor[start:stop]]).cpu()
        return PromptMetrics(correct=metrics.correct, loss=metrics.loss, logit_diff=diff)
    return measure


def _prompt_outcomes(metrics: PromptMetrics, batch: Batch) -> dict[str, np.ndarray]:
    """:func:`arm_outcomes` and the prompt outcomes of :data:`PROMPT_OUTCOMES` (``logit_diff`` with distractors)."""
    arrays = arm_outcomes(metrics, batch)
    mask = batch.in_context
    all_right = (metrics.correct | ~mask).all(1)
    log_prob = -(metrics.loss.double() * mask).sum(1)
    arrays.update(accuracy=all_right.double().numpy(), log_prob=log_prob.numpy())
    if metrics.logit_diff is not None:
        arrays["logit_diff"] = metrics.logit_diff.numpy()
    return arrays


@dataclasses.dataclass(frozen=True)
class _PromptArgs:
    """The arguments of :func:`prompt_study`, checked (:func:`_prompt_study_iv`)."""

    model: HookedModel
    interventions: list[Intervention]
    batch_size: int
    n_resamples: int
    confidence_level: float
    seed: int


def _prompt_study_iv(model, prompts, treatments, batch_size, n_resamples, confidence_level, seed) -> _PromptArgs:
    model = check_model(model)
    if not isinstance(prompts, PromptSet):
        raise TypeError(f"`prompts` must be a PromptSet (PromptSet.from_frame), got {type(prompts).__name__}")
    if prompts.batch.inputs.shape[1] > model.max_len or int(prompts.batch.targets.max()) >= model.vocab_size:
        raise ValueError(f"`prompts` does not fit `model` (max_len={model.max_len}, vocab_size={model.vocab_size}): "
                         "build them with PromptSet.from_frame(..., max_len=model.max_len, "
                         "vocab_size=model.vocab_size)")
    interventions = check_treatments(treatments, {"`model`": model})
    seed = check_seed("seed", seed)
    return _PromptArgs(model, interventions, check_positive_int("batch_size", batch_size),
                       check_resample_count("n_resamples", n_resamples), check_confidence_level(confidence_level), seed)


def prompt_study(model: HookedModel, prompts: PromptSet, treatments: Sequence[Intervention | str], *,
                 batch_size: int = 16, seed: int = 0, n_resamples: int = 10_000, confidence_level: float = 0.95,
                 progress: bool = False) -> EvaluationStudy:
    """Evaluate every prompt under control and under each treatment: paired effects per prompt.

    The result is an :class:`causalattn.lab.studies.evaluation.EvaluationStudy` whose
    units are the prompts; besides its outcomes (``in_context_*``: the answer's
    tokens, ``global_*``: the prompt's own tokens) it has ``accuracy``,
    ``log_prob`` and ``logit_diff`` (see the module docstring), so
    ``study.effects("logit_diff")`` gives the paired Neyman interval, the
    sign-flip randomization p-value and the Holm adjustment per treatment.

    Parameters
    ----------
    model : HookedModel
    prompts : PromptSet
        From :meth:`PromptSet.from_frame` with ``max_len=model.max_len, vocab_size=model.vocab_size``.
    treatments : sequence of Intervention or label
        E.g. ``["ablate:L3H1:zero", "patch:L3H1:counterfactual"]``. Patching reads
        the counterfactual prompts; mean and resample ablation read the other
        prompts (prompt ``i`` is resampled from prompt ``i + 1``; with prompts
        of different lengths, positions past a prompt's end hold padding).
    batch_size, seed, n_resamples, confidence_level, progress
        As in :func:`causalattn.lab.studies.evaluation.evaluation_study`.

    Examples
    --------
    >>> import pandas as pd
    >>> from causalattn.lab.tasks.prompts import PromptSet
    >>> from causalattn.lab.models.pretrained import load_pretrained
    >>> model, tokenizer = load_pretrained("smollm2-135m")  # doctest: +SKIP
    >>> frame = pd.DataFrame({"prompt": ["The capital of France is", "The capital of Italy is"],
    ...                       "answer": [" Paris", " Rome"], "distractor": [" Rome", " Paris"]})
    >>> prompts = PromptSet.from_frame(tokenizer, frame, distractor="distractor", max_len=model.max_len,
    ...                                vocab_size=model.vocab_size)  # doctest: +SKIP
    >>> study = prompt_study(model, prompts, ["ablate:L20H3:zero"])  # doctest: +SKIP
    >>> study.effects("logit_diff").summary()  # doctest: +SKIP
    """
    args = _prompt_study_iv(model, prompts, treatments, batch_size, n_resamples, confidence_level, seed)
    progress = check_flag("progress", progress)
    model, interventions, batch_size = args.model, args.interventions, args.batch_size
    data = prompts.batch
    sources = {} if prompts.counterfactual is None else {"counterfactual": prompts.counterfactual}
    was_training = model.training
    model.eval()
    try:
        reference = Reference.compute(model, data.inputs.roll(-1, dims=0), interventions, sources=sources,
                                      generator=torch.Generator().manual_seed(args.seed))
        arms = [None, *interventions]
        parts: dict[str, list[dict[str, np.ndarray]]] = {CONTROL: [], **{t.label: [] for t in interventions}}
        for start in tqdm(range(0, len(data), batch_size), desc="prompt study", unit="batch", disable=not progress):
            batch = data.slice(start, start + batch_size)
            for label, metrics in run_arms(model, batch, arms, reference, start,
                                           measure=_measure(prompts, start)).items():
                parts[label].append(_prompt_outcomes(metrics, batch))
    finally:
        model.train(was_training)
    arrays = {label: {key: np.concatenate([p[key] for p in chunks]) for key in chunks[0]}
              for label, chunks in parts.items()}
    return EvaluationStudy(model, data, reference, interventions, arrays, seed=args.seed,
                           n_resamples=args.n_resamples, confidence_level=args.confidence_level, unit="prompt")
