"""Repeated random tokens (the induction test) and the head scan, checked by hand on patterns we set."""

import numpy as np
import pytest
import torch

from causalattn.lab import ModelConfig, build_model, hooks
from causalattn.lab.analysis.head_scan import head_scan
from causalattn.lab.studies.evaluation import evaluation_study
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sequences_are_two_copies_of_distinct_allowed_tokens():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=6, vocab_size=20, excluded=(0, 1, 2), bos_token=1))
    batch = task.sample(50, torch.Generator().manual_seed(0))
    tokens = torch.cat([batch.inputs, batch.targets[:, -1:]], dim=1)  # the full b + 2L tokens
    assert tokens.shape == (50, 13) and task.seq_len == 12 and task.start == 1
    assert (tokens[:, 0] == 1).all()
    first, second = tokens[:, 1:7], tokens[:, 7:]
    assert torch.equal(first, second)
    assert all(len(set(row)) == 6 for row in first.tolist())  # distinct within a copy
    assert not torch.isin(first, torch.tensor([0, 1, 2])).any()  # special tokens never drawn
    assert torch.equal(batch.targets, tokens[:, 1:])
    # in-context positions: the second copy, 5 per sequence, each predicting r_{j+1} from r_j
    expected = torch.zeros(12, dtype=torch.bool)
    expected[7:] = True
    assert torch.equal(batch.in_context, expected.expand(50, -1))
    assert torch.equal(batch.non_trigger[0], torch.arange(12).ge(1) & torch.arange(12).lt(7))
    assert torch.equal(batch.outputs[:, :-1], first[:, 1:]) and torch.equal(batch.outputs[:, -1], first[:, 0])


def test_draws_are_uniform_over_the_allowed_tokens():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=3, vocab_size=10, excluded=(4,)))
    first = task.sample(9000, torch.Generator().manual_seed(1)).inputs[:, :3]
    counts = np.bincount(first.flatten().numpy(), minlength=10)
    assert counts[4] == 0
    # each allowed token appears in a sequence with probability 3/9: 27000 draws / 9 tokens = 3000 each
    np.testing.assert_allclose(np.delete(counts, 4), 3000, rtol=0.06)


def test_same_seed_same_batch_and_no_bos():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=65))
    a, b = (task.sample(3, torch.Generator().manual_seed(5)) for _ in range(2))
    assert torch.equal(a.inputs, b.inputs) and task.start == 0 and a.inputs.shape == (3, 7)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(length=1), ValueError, "`length` must be an integer >= 2"),
    (dict(length=5, vocab_size=6, excluded=(0, 1)), ValueError, "`length` 5 is more than the 4 tokens"),
    (dict(excluded=[0]), TypeError, "`excluded` must be a tuple"),
    (dict(vocab_size=10, excluded=(10,)), TypeError, "`excluded` must be a tuple of token ids in"),
    (dict(vocab_size=10, bos_token=-1), ValueError, "`bos_token` must be None or a token id"),
    (dict(vocab_size=0), ValueError, "`vocab_size` must be an integer >= 2, got 0"),
    (dict(length=2, vocab_size=1), ValueError, "`vocab_size` must be an integer >= 2, got 1"),  # before: named length
])
def test_config_rejects_impossible_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        RepeatedTokensConfig(**kwargs)


def test_sample_and_constructor_reject_bad_arguments():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=65))
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        task.sample(2, 0)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        task.sample(0, torch.Generator())
    with pytest.raises(TypeError, match="`config` must be a RepeatedTokensConfig"):
        RepeatedTokensTask({"length": 4})


class _Tokenizer:
    """The part of a HuggingFace tokenizer that from_tokenizer reads."""

    all_special_ids = [0, 1, 2]
    bos_token_id = 1

    def __len__(self):
        return 30


def test_from_tokenizer_excludes_special_and_unknown_ids():
    task = RepeatedTokensTask.from_tokenizer(_Tokenizer(), 5, vocab_size=32)
    assert task.config.excluded == (0, 1, 2, 30, 31) and task.config.bos_token == 1 and task.vocab_size == 32
    with pytest.raises(ValueError, match="`vocab_size` 20 is smaller than the tokenizer's 30 tokens"):
        RepeatedTokensTask.from_tokenizer(_Tokenizer(), 5, vocab_size=20)


def _random_patterns(n_layers, n_heads, t, seed):
    """Causal row-stochastic (layer, head, query, key) patterns, the same for every sequence."""
    gen = torch.Generator().manual_seed(seed)
    scores = torch.rand(n_layers, n_heads, t, t, generator=gen) * 4
    scores = scores.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1)


def test_head_scan_matches_a_hand_computation_on_patterns_we_set():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=5, vocab_size=65, bos_token=0, excluded=(0,)))
    t = task.seq_len  # 1 + 2 * 5 - 1 = 10
    model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=3, d_model=12, max_seq_len=t))
    patterns = _random_patterns(2, 3, t, seed=0)
    patterns[1, 2] = 0.0  # head L1H2: an exact induction head ...
    for i in range(t):
        patterns[1, 2, i, i - 5 + 1 if i >= 6 else 0] = 1.0  # ... attending to bos outside the 2nd copy
    fwd = [(model.hook_name("pattern", layer), lambda p, hook=None, layer=layer: patterns[layer].expand_as(p))
           for layer in range(2)]
    with hooks(model, fwd):
        scan = head_scan(model, task, n_sequences=5, batch_size=2)
    for layer in range(2):
        for head in range(3):
            a = patterns[layer, head]
            # by hand: queries of the 2nd copy are positions 6..9, whose induction keys are 2..5;
            # the previous-token score averages A[i, i - 1] over i = 1..9
            induction = sum(float(a[i, i - 4]) for i in range(6, 10)) / 4
            previous = sum(float(a[i, i - 1]) for i in range(1, 10)) / 9
            row = scan.scores[(scan.scores["layer"] == layer) & (scan.scores["head"] == head)].iloc[0]
            assert row["induction_score"] == pytest.approx(induction, abs=1e-6)
            assert row["previous_token_score"] == pytest.approx(previous, abs=1e-6)
    assert scan.top(1).iloc[0][["layer", "head", "induction_score"]].tolist() == [1, 2, pytest.approx(1.0)]


def test_the_selection_rule():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=65))
    model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=4, d_model=16, max_seq_len=8))
    scan = head_scan(model, task, n_sequences=2)
    s = scan.scores
    s["induction_score"] = [0.9, 0.1, 0.2, 0.3, 0.8, 0.05, 0.15, 0.25]
    s["previous_token_score"] = [0.1, 0.9, 0.1, 0.2, 0.1, 0.1, 0.2, 0.3]
    induction, control = scan.select(2, rng=0)
    assert induction == [(0, 0), (1, 0)]
    # medians: induction (0.2 + 0.25) / 2 = 0.225, previous token (0.1 + 0.2) / 2 = 0.15; at most both:
    # L0H2 (0.2, 0.1) and L1H1 (0.05, 0.1); L0H1 is a previous-token head, L1H2 has 0.2 > 0.15
    assert control == [(0, 2), (1, 1)]
    with pytest.raises(ValueError, match="`k` 3 is too large: only 2 heads score at most the median"):
        scan.select(3)
    draws = {tuple(scan.select(1, rng=seed)[1]) for seed in range(20)}
    assert draws == {((0, 2),), ((1, 1),)}  # a random draw among the quiet heads ...
    assert scan.select(1, rng=3) == scan.select(1, rng=3)  # ... fixed by the seed
    with pytest.raises(ValueError, match="`k` 5 is too large: 2k heads"):
        scan.select(5)
    with pytest.raises(ValueError, match="`score` must be one of"):
        scan.top(1, "loss")
    fig = scan.plot(mark=[(0, 0)])
    assert len(fig.axes) == 4  # two maps and their colour bars


def test_head_scan_rejects_bad_input():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=65))
    model = build_model(ModelConfig(kind="vanilla", n_layers=1, n_heads=2, d_model=16, max_seq_len=6))
    with pytest.raises(ValueError, match="`task` does not fit `model`"):
        head_scan(model, task)
    with pytest.raises(TypeError, match="`task` must be a RepeatedTokensTask"):
        head_scan(model, "tokens")
    with pytest.raises(TypeError, match="`model` must implement"):
        head_scan(torch.nn.Linear(2, 2), task)
    big = build_model(ModelConfig(kind="vanilla", n_layers=1, n_heads=2, d_model=16, max_seq_len=8))
    with pytest.raises(ValueError, match="`n_sequences` must be a positive integer"):
        head_scan(big, task, n_sequences=0)
    with pytest.raises(ValueError, match=r"`seed` must be an integer in \[0, 9223372036854775807\], got -1"):
        head_scan(big, task, seed=-1)


def test_evaluation_study_runs_on_repeated_tokens():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=6, vocab_size=65))
    model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, max_seq_len=11))
    study = evaluation_study(model, task, ["ablate:L1H0:mean"], n_sequences=6, batch_size=4, n_resamples=99,
                             progress=False)
    units = study.units
    assert (units["n_in_context"] == 5).all()  # L - 1 in-context tokens per sequence
    tokens = study.tokens
    assert set(tokens["position"]) == set(range(6, 11)) and (tokens["trigger_count"] == 2).all()
    assert study.effects()[0].n == 6
