"""The model and the units of ``causalattn ablate`` and ``causalattn heads``: a pretrained model, sequences or prompts.

:func:`read_prompt_flags` reads ``--prompts FILE.csv`` and checks ``--outcome`` against it before any model is
loaded; :func:`load_model` loads the model (``--model``, ``--device``) and :func:`build_units` builds the
units: repeated random tokens, repeated passages of text (``--task text``) or the prompts, each error naming
its flag.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["build_units", "check_outcome", "load_model", "read_prompt_flags"]


def read_prompt_flags(args: argparse.Namespace) -> Any:
    """The checked prompt file of ``--prompts`` (a DataFrame), or None; ``--outcome`` checked against the units."""
    from causalattn.lab.tasks.prompts import read_prompts

    frame = None
    if args.prompts is not None:
        try:
            frame = read_prompts(args.prompts)
        except ValueError as exc:
            raise ValueError(f"`--prompts`: {exc}") from None
    check_outcome(args.outcome, frame)
    return frame


def check_outcome(outcome: str | None, frame: Any) -> None:
    """``--outcome`` must be one of the units' outcomes (``logit_diff`` needs a distractor column)."""
    from causalattn.lab.tasks.outcomes import PROMPT_OUTCOMES, SEQUENCE_OUTCOMES

    if outcome is None:
        return
    if frame is None:
        allowed = SEQUENCE_OUTCOMES
    else:
        allowed = (*PROMPT_OUTCOMES, *SEQUENCE_OUTCOMES)
        if outcome == "logit_diff" and "distractor" not in frame.columns:
            raise ValueError("`--outcome` logit_diff needs a distractor column in the `--prompts` file")
    if outcome not in allowed:
        units = "sequences" if frame is None else "prompts"
        raise ValueError(f"`--outcome` {outcome!r} is not an outcome of {units}: choose one of {list(allowed)}")


def load_model(args: argparse.Namespace, step: str) -> tuple[Any, Any]:
    """The pretrained model of ``--model`` on ``--device`` and its tokenizer (an error names ``--model``)."""
    from causalattn.lab.models.pretrained import load_pretrained

    print(f"{step} loading {args.model} on {args.device}")
    try:
        model, tokenizer = load_pretrained(args.model, device=args.device, progress=not args.no_progress)
    except ValueError as exc:
        raise ValueError(f"`--model`: {str(exc).replace('`name_or_path` ', '')}") from None
    print(f"      {model}")
    return model, tokenizer


def build_units(args: argparse.Namespace, model: Any, tokenizer: Any, frame: Any) -> tuple[Any, str]:
    """(units, what they are): the prompts of ``frame`` as a PromptSet, or the task of ``--task`` and ``--length``."""
    if frame is not None:
        from causalattn.lab.tasks.prompts import PromptSet

        columns = {name: name if name in frame.columns else None for name in ("distractor", "counterfactual")}
        try:
            prompts = PromptSet.from_frame(tokenizer, frame, **columns, max_len=model.max_len,
                                           vocab_size=model.vocab_size)
        except ValueError as exc:
            raise ValueError(f"`--prompts` {args.prompts}: {exc}") from None
        return prompts, f"{len(prompts)} prompts of {args.prompts}"
    if getattr(args, "task", None) == "text":
        from causalattn.lab.tasks.repeated_text import RepeatedTextTask

        try:
            task = RepeatedTextTask.from_tokenizer(tokenizer, args.length, vocab_size=model.vocab_size)
        except ValueError as exc:
            raise ValueError(f"`--length`: {exc}") from None
        what = f"{args.n_sequences} passages of Shakespeare, each repeated (2 x {args.length} tokens)"
    else:
        from causalattn.lab.tasks.repeated import RepeatedTokensTask

        task = RepeatedTokensTask.from_tokenizer(tokenizer, args.length, vocab_size=model.vocab_size)
        what = f"{args.n_sequences} sequences of 2 x {args.length} random tokens"
    if task.seq_len > model.max_len:
        raise ValueError(f"`--length` {args.length} is too long: 2L tokens exceed the model's context {model.max_len}")
    return task, what
