"""Random streams per question: results must not depend on the order or the set of questions asked.

A study that answers many questions (one per treatment and outcome) with
Monte Carlo methods draws each question's random numbers from its own stream,
seeded by the study's seed and the question's name, never from one stream
shared in the order the questions happen to be asked.
"""

from __future__ import annotations

import numbers
import zlib

import numpy as np

from causalattn._validation import check_rng


def base_seed(rng) -> int:
    """A non-negative integer seed from ``rng``: an int seed as is, else one draw from the generator (or OS entropy)."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"`rng` must be a non-negative integer seed, got {rng}")
        return int(rng)
    return int(check_rng(rng).integers(2**63))


def question_rng(seed: int, *keys: str) -> np.random.Generator:
    """The generator of one question, determined by ``seed`` and the question's ``keys`` only.

    Examples
    --------
    >>> a = question_rng(0, "ablate:L1H0:zero", "in_context_accuracy").random()
    >>> b = question_rng(0, "ablate:L1H0:zero", "in_context_accuracy").random()
    >>> a == b != question_rng(0, "ablate:L1H0:zero", "in_context_loss").random()
    True
    """
    return np.random.default_rng([seed, zlib.crc32("|".join(keys).encode())])
