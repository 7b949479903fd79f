"""Build ``shakespeare_passages.csv``: passages of tiny Shakespeare for in-context accuracy on natural text.

The second view of the head map (issue 20): a sequence is a passage of text
followed by the same passage again, and the outcome is the next-token accuracy
on the second copy, where every token can be copied from the first. This file
holds the passages as text, so that any tokenizer can cut them to its tokens.

A passage starts at the first line of a speech (the line after the speaker's
name) and runs over whole lines of that speech until it holds at least
``MIN_CHARS`` characters (speeches shorter than that are skipped). Speeches are
drawn at random (seed 0) without replacement, in the order of the text:

* ``passage``: 0, 1, ... (file order);
* ``line``: the 1-based line of ``tinyshakespeare.txt`` where the passage starts;
* ``speaker``: the name on the line before;
* ``text``: the passage, its lines joined by newlines (no trailing newline).

Usage (from the repository root)::

    python datasets/build_passages.py                     # reads ../shared/data/tinyshakespeare.txt
    python datasets/build_passages.py PATH --out datasets
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from build_bigram import DEFAULT_TEXT, read_text

N_PASSAGES = 256
MIN_CHARS = 200
SEED = 0


def speeches(text: str) -> list[tuple[int, str, list[str]]]:
    """(line of the first spoken line, speaker, spoken lines) of every speech; speeches are separated by blank lines."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        if lines[i].endswith(":") and i + 1 < len(lines) and lines[i + 1]:
            j = i + 1
            while j < len(lines) and lines[j]:
                j += 1
            out.append((i + 2, lines[i][:-1], lines[i + 1:j]))  # 1-based line of lines[i + 1]
            i = j
        else:
            i += 1
    return out


def passage(spoken: list[str]) -> str | None:
    """The first whole lines of a speech that hold at least MIN_CHARS characters, or None if it is shorter."""
    for k in range(1, len(spoken) + 1):
        text = "\n".join(spoken[:k])
        if len(text) >= MIN_CHARS:
            return text
    return None


def build(text: str, out_dir: Path) -> pd.DataFrame:
    candidates = [(line, speaker, p) for line, speaker, spoken in speeches(text) if (p := passage(spoken))]
    rows = np.sort(np.random.default_rng(SEED).choice(len(candidates), size=N_PASSAGES, replace=False))
    frame = pd.DataFrame([candidates[i] for i in rows], columns=["line", "speaker", "text"])
    frame.insert(0, "passage", np.arange(N_PASSAGES))
    frame.to_csv(out_dir / "shakespeare_passages.csv", index=False)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", type=Path, nargs="?", default=DEFAULT_TEXT, help="path to tinyshakespeare.txt")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    args = parser.parse_args()
    frame = build(read_text(args.text), args.out)
    print(f"{len(frame)} passages, {frame['text'].str.len().min()}-{frame['text'].str.len().max()} characters")


if __name__ == "__main__":
    main()
