r"""User prompts as units: the expected next token(s), a distractor, a counterfactual prompt for patching.

A prompt study evaluates each prompt of a DataFrame under control and under
every intervention (matched pairs, as :func:`causalattn.lab.studies.evaluation.evaluation_study`
does for sequences). The outcomes of prompt :math:`i` with answer tokens
:math:`a_1, \dots, a_m` (teacher-forced after the prompt) and distractor
:math:`d` are

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

Prompts of different lengths share a batch by padding on the **right**: with
causal attention a position never attends to later ones, so the padding
changes no logit of the prompt or its answer and positions keep their indices
(rotary and learned position embeddings see the same positions as unpadded);
the answer is read at each prompt's own last position. Left padding would
shift positions and need an attention mask, which the model contract does
not carry.

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched-pairs experiments).
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small. arXiv:2211.00593 (logit difference, counterfactual prompts).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from causalattn._validation import check_columns, check_confidence_level, check_positive_int
from causalattn.lab.interventions.base import Intervention, Reference, as_interventions
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.studies.evaluation import CONTROL, EvaluationStudy
from causalattn.lab.studies.runner import arm_outcomes, run_arms
from causalattn.lab.tasks.bigram import Batch
from causalattn.lab.tasks.metrics import TokenMetrics, token_metrics

__all__ = ["PROMPT_OUTCOMES", "PromptMetrics", "PromptSet", "prompt_study"]

PROMPT_OUTCOMES = ("accuracy", "log_prob", "logit_diff")


@dataclasses.dataclass(frozen=True)
class PromptSet:
    """Tokenized prompts with their answers: build it with :meth:`from_frame`.

    Attributes
    ----------
    frame : pandas.DataFrame
        The prompts as given.
    batch : Batch
        Prompt and answer tokens, right-padded; ``in_context`` marks the
        positions that predict an answer token, ``non_trigger`` the prompt's own
        next-token positions.
    last : torch.Tensor (n,) long
        Position of each prompt's last token (where the first answer token is read).
    distractor : torch.Tensor (n,) long or None
        First token of each distractor.
    counterfactual : torch.Tensor (n, T) long or None
        The counterfactual prompts (each as long as its prompt) with the answer, right-padded.
    """

    frame: pd.DataFrame
    batch: Batch
    last: torch.Tensor
    distractor: torch.Tensor | None
    counterfactual: torch.Tensor | None

    def __len__(self) -> int:
        return len(self.frame)

    @classmethod
    def from_frame(cls, tokenizer: Any, prompts: pd.DataFrame, *, prompt: str = "prompt", answer: str = "answer",
                   distractor: str | None = None, counterfactual: str | None = None, max_len: int | None = None,
                   vocab_size: int | None = None) -> PromptSet:
        """Tokenize the prompts (no special tokens added) and check them against the model's limits.

        Parameters
        ----------
        tokenizer : a HuggingFace tokenizer (``tokenizer(text, add_special_tokens=False)["input_ids"]``)
        prompts : pandas.DataFrame
            One row per prompt.
        prompt, answer : str
            Columns of the prompt text and of the expected continuation. The
            answer is tokenized on its own, so write it as it continues the
            prompt (usually with a leading space: ``" Paris"``); it may be
            several tokens.
        distractor : str, optional
            Column of a wrong continuation, for ``logit_diff`` (its first token,
            which must differ from the answer's first token).
        counterfactual : str, optional
            Column of a counterfactual prompt with as many tokens as its prompt
            (patching pairs positions), the source ``"counterfactual"`` of
            :class:`causalattn.lab.interventions.base.HeadPatch`.
        max_len, vocab_size : int, optional
            The model's context and vocabulary (:func:`prompt_study` passes them):
            a longer prompt, or a token outside the vocabulary, is a ValueError.
        """
        columns = [c for c in (prompt, answer, distractor, counterfactual) if c is not None]
        frame = check_columns(prompts, prompts=columns)
        if len(frame) < 2:
            raise ValueError(f"`prompts` must have at least 2 rows (a study needs at least 2 units), got {len(frame)}")
        pad = _pad_token(tokenizer)
        unk = getattr(tokenizer, "unk_token_id", None)

        def encode(column: str, row: int) -> list[int]:
            text = frame[column].iloc[row]
            if not isinstance(text, str) or not text:
                raise ValueError(f"`prompts`: column {column!r}, row {row} must be a non-empty string, got {text!r}")
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            bad = [t for t in ids if (unk is not None and t == unk) or (vocab_size is not None and t >= vocab_size)]
            if not ids or bad:
                raise ValueError(f"`prompts`: {column} {text!r} (row {row}) is not in the model's vocabulary: it "
                                 f"tokenizes to {ids}" + (f" (unknown or out-of-range ids {bad})" if bad else ""))
            return ids

        rows, cf_rows, last, first_distractor = [], [], [], []
        for i in range(len(frame)):
            p, a = encode(prompt, i), encode(answer, i)
            if max_len is not None and len(p) + len(a) - 1 > max_len:
                raise ValueError(f"`prompts`: row {i} is {len(p)} prompt + {len(a)} answer tokens, longer than the "
                                 f"model's context max_len={max_len} (the model reads {len(p) + len(a) - 1})")
            rows.append((p, a))
            last.append(len(p) - 1)
            if distractor is not None:
                d = encode(distractor, i)
                if d[0] == a[0]:
                    raise ValueError(f"`prompts`: row {i}: the distractor {frame[distractor].iloc[i]!r} starts with "
                                     f"the answer's first token {a[0]}, so their logit difference is 0 by construction")
                first_distractor.append(d[0])
            if counterfactual is not None:
                c = encode(counterfactual, i)
                if len(c) != len(p):
                    raise ValueError(f"`prompts`: row {i}: the counterfactual has {len(c)} tokens and the prompt "
                                     f"{len(p)}; patching pairs positions, so they must be equally long")
                cf_rows.append((c, a))
        batch = _batch(rows, pad)
        cf = _batch(cf_rows, pad).inputs if counterfactual is not None else None
        return cls(frame.reset_index(drop=True), batch, torch.tensor(last),
                   torch.tensor(first_distractor) if distractor is not None else None, cf)


def _pad_token(tokenizer: Any) -> int:
    """The padding id: the tokenizer's pad, else eos, else 0 (padding is never read: right padding, causal attention)."""
    for name in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            return int(value)
    return 0


def _batch(rows: list[tuple[list[int], list[int]]], pad: int) -> Batch:
    """Right-padded Batch of prompt + answer tokens; in-context = positions predicting an answer token."""
    t = max(len(p) + len(a) for p, a in rows) - 1
    n = len(rows)
    tokens = torch.full((n, t + 1), pad, dtype=torch.long)
    in_context = torch.zeros(n, t, dtype=torch.bool)
    prompt_positions = torch.zeros(n, t, dtype=torch.bool)
    for i, (p, a) in enumerate(rows):
        tokens[i, : len(p) + len(a)] = torch.tensor(p + a)
        in_context[i, len(p) - 1: len(p) + len(a) - 1] = True
        prompt_positions[i, : len(p) - 1] = True
    return Batch(inputs=tokens[:, :-1].contiguous(), targets=tokens[:, 1:].contiguous(), in_context=in_context,
                 non_trigger=prompt_positions, trigger_count=in_context.long() * 2,
                 triggers=torch.zeros(n, 0, dtype=torch.long), outputs=torch.zeros(n, 0, dtype=torch.long))


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


def _prompt_study_iv(model, prompts, treatments, batch_size, n_resamples, confidence_level, seed):
    model = check_model(model)
    if not isinstance(prompts, PromptSet):
        raise TypeError(f"`prompts` must be a PromptSet (PromptSet.from_frame), got {type(prompts).__name__}")
    if prompts.batch.inputs.shape[1] > model.max_len or int(prompts.batch.targets.max()) >= model.vocab_size:
        raise ValueError(f"`prompts` does not fit `model` (max_len={model.max_len}, vocab_size={model.vocab_size}): "
                         "build them with PromptSet.from_frame(..., max_len=model.max_len, vocab_size=model.vocab_size)")
    interventions = as_interventions(treatments)
    for t in interventions:
        t.check(model)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an integer, got {seed!r}")
    return (model, interventions, check_positive_int("batch_size", batch_size),
            check_positive_int("n_resamples", n_resamples), check_confidence_level(confidence_level), int(seed))


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
    >>> from causalattn.lab.models.hf import load_pretrained
    >>> model, tokenizer = load_pretrained("smollm2-135m")  # doctest: +SKIP
    >>> frame = pd.DataFrame({"prompt": ["The capital of France is", "The capital of Italy is"],
    ...                       "answer": [" Paris", " Rome"], "distractor": [" Rome", " Paris"]})
    >>> prompts = PromptSet.from_frame(tokenizer, frame, distractor="distractor", max_len=model.max_len,
    ...                                vocab_size=model.vocab_size)  # doctest: +SKIP
    >>> study = prompt_study(model, prompts, ["ablate:L20H3:zero"])  # doctest: +SKIP
    >>> study.effects("logit_diff").summary()  # doctest: +SKIP
    """
    model, interventions, batch_size, n_resamples, level, seed = _prompt_study_iv(
        model, prompts, treatments, batch_size, n_resamples, confidence_level, seed)
    data = prompts.batch
    sources = {} if prompts.counterfactual is None else {"counterfactual": prompts.counterfactual}
    was_training = model.training
    model.eval()
    try:
        reference = Reference.compute(model, data.inputs.roll(-1, dims=0), interventions, sources=sources,
                                      generator=torch.Generator().manual_seed(seed))
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
    return EvaluationStudy(model, data, reference, interventions, arrays, seed=seed, n_resamples=n_resamples,
                           confidence_level=level)

