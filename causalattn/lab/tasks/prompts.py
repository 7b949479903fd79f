r"""User prompts as units: a :class:`PromptSet` holds the prompts with their answers, distractors, counterfactuals.

:meth:`PromptSet.from_frame` tokenizes a DataFrame of prompts and expected
continuations into a :class:`causalattn.lab.tasks.bigram.Batch` whose
in-context positions are the positions that predict an answer token (teacher
forcing) and whose other positions are the prompt's own next-token positions.
:func:`causalattn.lab.studies.prompts.prompt_study` evaluates them under
interventions.

Prompts of different lengths share a batch by padding on the **right**: with
causal attention a position never attends to later ones, so the padding
changes no logit of the prompt or its answer and positions keep their indices
(rotary and learned position embeddings see the same positions as unpadded);
the answer is read at each prompt's own last position. Left padding would
shift positions and need an attention mask, which the model contract does
not carry.

References
----------
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in
GPT-2 small. arXiv:2211.00593 (logit difference, counterfactual prompts).
"""

from __future__ import annotations

import csv
import dataclasses
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from causalattn._validation import check_columns
from causalattn.lab.tasks.bigram import Batch

__all__ = ["PROMPT_COLUMNS", "PromptSet", "read_prompts"]

#: The columns of a prompt file: the first two required, the others optional.
PROMPT_COLUMNS = ("prompt", "answer", "counterfactual", "distractor")


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
            The model's context and vocabulary (:func:`causalattn.lab.studies.prompts.prompt_study`
            passes them): a longer prompt, or a token outside the vocabulary, is a ValueError.
        """
        columns = [c for c in (prompt, answer, distractor, counterfactual) if c is not None]
        frame = check_columns(prompts, prompts=columns)
        if len(frame) < 2:
            raise ValueError(f"`prompts` must have at least 2 rows (a study needs at least 2 units), got {len(frame)}")
        if not callable(tokenizer):  # before: "'NoneType' object is not callable"
            raise TypeError(f"`tokenizer` must be a tokenizer, called as tokenizer(text, add_special_tokens=False), "
                            f"got {type(tokenizer).__name__}")
        pad = _pad_token(tokenizer)
        unk = getattr(tokenizer, "unk_token_id", None)

        def encode(column: str, row: int) -> list[int]:
            text = frame[column].iloc[row]
            if not isinstance(text, str) or not text:
                raise ValueError(f"`prompts`: column {column!r}, row {row} must be a non-empty string, got {text!r}")
            ids = list(tokenizer(text, add_special_tokens=False)["input_ids"])
            bad = [t for t in ids
                   if (unk is not None and t == unk) or t < 0 or (vocab_size is not None and t >= vocab_size)]
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


def read_prompts(path: str | os.PathLike) -> pd.DataFrame:
    """A prompt file, checked before any model is loaded: a CSV file with the columns of :data:`PROMPT_COLUMNS`.

    The columns ``prompt`` and ``answer`` are required, ``counterfactual`` and
    ``distractor`` optional (other columns are kept and ignored). Every cell of
    these columns must hold text other than blanks; cells are read as written
    (an answer keeps its leading space, ``"NA"`` stays text; a byte-order mark and
    Windows line ends are fine). A missing file or column, a column named twice, a
    line with more or fewer fields than the header (an unquoted comma in a prompt,
    which pandas read as an index, silently cutting the prompt), an empty cell or
    fewer than 2 prompts is a ValueError naming the column and the row (0-based,
    as in :meth:`PromptSet.from_frame`; the file's line is given too). Tokenizing needs the model's tokenizer: that is
    :meth:`PromptSet.from_frame`'s check.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "prompts.csv"
    >>> _ = path.write_text("prompt,answer\\nThe capital of France is, Paris\\nThe capital of Italy is,\\n")
    >>> read_prompts(path)
    Traceback (most recent call last):
    ...
    ValueError: ...prompts.csv: column 'answer' is empty in row 1 (line 3 of the file)
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path} is not a file")
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:  # a byte-order mark is not part of the header
            reader = csv.reader(handle)
            records = [(reader.line_num, row) for row in reader if row]  # blank lines skipped, as pandas does
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a readable CSV file ({type(exc).__name__}: {exc})") from None
    if not records:
        raise ValueError(f"{path} is not a readable CSV file (it holds no header line)")
    (_, header), rows = records[0], records[1:]
    twice = sorted({c for c in header if header.count(c) > 1})
    if twice:  # pandas would read the second as 'answer.1' and use the first silently
        raise ValueError(f"{path} names column(s) {twice} more than once")
    for line, row in rows:  # pandas took the first field of such rows as an index, shifting prompt and answer
        if len(row) != len(header):
            raise ValueError(f"{path}: line {line} has {len(row)} fields, the header {len(header)}: a prompt or answer "
                             'that contains a comma must be quoted ("Then, Mary gave a book to")')
    frame = pd.DataFrame([row for _, row in rows], columns=header, dtype=str)
    for column in PROMPT_COLUMNS[:2]:
        if column not in frame.columns:
            raise ValueError(f"{path} has no column {column!r} (its columns: {list(frame.columns)}); a prompt file "
                             "has the columns prompt and answer, and optionally counterfactual and distractor")
    if len(frame) < 2:
        raise ValueError(f"{path} holds {len(frame)} prompt(s); a study needs at least 2")
    for column in (c for c in PROMPT_COLUMNS if c in frame.columns):
        blank = frame[column].str.strip() == ""
        if blank.any():
            row = int(blank.to_numpy().argmax())
            raise ValueError(f"{path}: column {column!r} is empty in row {row} (line {rows[row][0]} of the file)")
    return frame


def _pad_token(tokenizer: Any) -> int:
    """The padding id: the tokenizer's pad, else eos, else 0 (never read: right padding, causal attention)."""
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
