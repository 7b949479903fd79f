"""Build ``shakespeare_unigram.csv`` and ``shakespeare_bigram.csv`` from tiny Shakespeare.

The vocabulary is the sorted set of distinct characters of the text (65
characters, as in nanoGPT's ``shakespeare_char``); token ``i`` is the ``i``-th
character in that order. The files hold counts only, never the text:

* ``shakespeare_unigram.csv``: ``token, codepoint, count``, one row per token
  (``codepoint`` is ``ord(char)``, so newline and comma need no quoting);
  counts sum to ``len(text)``.
* ``shakespeare_bigram.csv``: ``prev, next, count``, all 65 * 65 pairs of
  consecutive characters ``(text[t], text[t + 1])``; counts sum to
  ``len(text) - 1``.

Usage (from the repository root)::

    python datasets/build_bigram.py                       # reads ../shared/data/tinyshakespeare.txt
    python datasets/build_bigram.py PATH --out datasets
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd

SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
N_BYTES = 1_115_394
REPO = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = REPO / ".." / "shared" / "data" / "tinyshakespeare.txt"


def read_text(path: Path) -> str:
    """The text of ``path`` after checking its size and sha256 against the published file."""
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if len(raw) != N_BYTES or digest != SHA256:
        raise ValueError(f"{path} is not tiny Shakespeare: {len(raw)} bytes, sha256 {digest}")
    return raw.decode("utf-8")


def build(text: str, out_dir: Path) -> None:
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    tokens = np.array([index[c] for c in text])
    v = len(chars)
    unigram = np.bincount(tokens, minlength=v)
    bigram = np.bincount(tokens[:-1] * v + tokens[1:], minlength=v * v)
    pd.DataFrame({"token": np.arange(v), "codepoint": [ord(c) for c in chars], "count": unigram}).to_csv(
        out_dir / "shakespeare_unigram.csv", index=False
    )
    prev, nxt = np.divmod(np.arange(v * v), v)
    pd.DataFrame({"prev": prev, "next": nxt, "count": bigram}).to_csv(out_dir / "shakespeare_bigram.csv", index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("text", type=Path, nargs="?", default=DEFAULT_TEXT, help="path to tinyshakespeare.txt")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    args = parser.parse_args()
    build(read_text(args.text), args.out)


if __name__ == "__main__":
    main()
