"""Repeated passages of text: the bundled Shakespeare passages cut to L tokens, twice; bad input."""

import pytest
import torch

from causalattn import datasets
from causalattn.lab.tasks.repeated_text import RepeatedTextConfig, RepeatedTextTask


class CharTokenizer:
    """One token per character (ids 1..255; 0 is the bos token)."""

    bos_token_id = 0

    def __len__(self):
        return 256

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [min(ord(c), 255) for c in text]}


def test_bundled_passages_repeated():
    task = RepeatedTextTask.from_tokenizer(CharTokenizer(), 40)
    texts = datasets.load("shakespeare_passages")["text"]
    assert len(task.config.passages) == 256 and task.seq_len == 1 + 2 * 40 - 1
    batch = task.sample(5, torch.Generator().manual_seed(0))
    tokens = torch.cat([batch.inputs, batch.targets[:, -1:]], dim=1)  # [bos] w_1..w_40 w_1..w_40
    assert (tokens[:, 0] == 0).all() and torch.equal(tokens[:, 1:41], tokens[:, 41:])
    starts = {"".join(map(chr, row[1:41].tolist())) for row in tokens}
    assert len(starts) == 5 and all(any(t.startswith(s) for t in texts) for s in starts)  # distinct passages
    assert batch.in_context[0].nonzero().squeeze(1).tolist() == list(range(41, 80))  # the second copy
    again = task.sample(5, torch.Generator().manual_seed(0))
    assert torch.equal(again.inputs, batch.inputs)


def test_bad_passages():
    with pytest.raises(ValueError, match=r"`length` 300 is more than the \d+ tokens of passage 0"):
        RepeatedTextTask.from_tokenizer(CharTokenizer(), 300)
    with pytest.raises(TypeError, match="`passages` must be a sequence of strings"):
        RepeatedTextTask.from_tokenizer(CharTokenizer(), 4, passages="one text")
    task = RepeatedTextTask.from_tokenizer(CharTokenizer(), 4, passages=["abcdef", "ghijkl", "mnopqr"])
    with pytest.raises(ValueError, match="`batch_size` 4: cannot draw that many distinct passages from 3"):
        task.sample(4, torch.Generator())
    with pytest.raises(ValueError, match="tuples of one length"):
        RepeatedTextConfig(passages=((1, 2), (1, 2, 3)), vocab_size=5)
    with pytest.raises(ValueError, match=r"token ids in \[0, 5\)"):
        RepeatedTextConfig(passages=((1, 2), (1, 7)), vocab_size=5)
    with pytest.raises(ValueError, match="`bos_token` must be None or a token id"):
        RepeatedTextConfig(passages=((1, 2), (1, 3)), vocab_size=5, bos_token=True)
    # before: accepted, every passage the same token 0 and every prediction certain
    with pytest.raises(ValueError, match=r"^`vocab_size` must be an integer >= 2, got 1"):
        RepeatedTextConfig(passages=((0, 0), (0, 0)), vocab_size=1)
