"""The bigram task with triggers: configuration checks and the statistics of the generated sequences."""

import numpy as np
import pytest
import torch

from causalattn.datasets import shakespeare_bigram_model
from causalattn.lab import Batch, BigramTask, TaskConfig


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_triggers": 66}, "`n_triggers` must be less than the vocabulary size 65"),
        ({"n_triggers": 65}, r"`n_triggers` must be less than the vocabulary size 65 \(with every token a trigger"),
        ({"n_triggers": 0}, "`n_triggers` must be a positive integer"),
        ({"seq_len": 1}, "`seq_len` must be an integer >= 2"),
        ({"output_dist": "zipf"}, "`output_dist` must be one of"),
    ],
)
def test_config_rejects_impossible_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TaskConfig(**kwargs)


def test_config_type_errors():
    with pytest.raises(TypeError, match="`random_triggers` must be a bool"):
        TaskConfig(random_triggers=1)
    with pytest.raises(TypeError, match="`config` must be a TaskConfig"):
        BigramTask({"n_triggers": 5})


def test_sample_rejects_bad_arguments():
    task = BigramTask(TaskConfig(seq_len=8))
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        task.sample(0, gen())
    with pytest.raises(TypeError, match="`generator` must be a torch.Generator"):
        task.sample(4, 0)


def test_distributions_come_from_the_shipped_counts():
    chars, pi_u, pi_b = shakespeare_bigram_model()
    task = BigramTask()
    assert task.vocab_size == 65 and task.chars == chars
    np.testing.assert_allclose(task.pi_u.numpy(), pi_u, rtol=1e-6)
    np.testing.assert_allclose(task.pi_b.numpy(), pi_b, rtol=1e-6, atol=1e-9)
    # the five most frequent characters of tiny Shakespeare: space, e, t, o, a
    assert task.decode(task.fixed_triggers) == " etoa"


@pytest.mark.parametrize("random_triggers", [False, True])
@pytest.mark.parametrize("output_dist", ["uniform", "bigram"])
def test_batch_shapes_and_outputs_always_follow_triggers(random_triggers, output_dist):
    task = BigramTask(TaskConfig(n_triggers=4, seq_len=40, random_triggers=random_triggers, output_dist=output_dist))
    batch = task.sample(64, gen())
    assert isinstance(batch, Batch) and len(batch) == 64
    for name in ("inputs", "targets", "trigger_count"):
        assert getattr(batch, name).shape == (64, 40) and getattr(batch, name).dtype == torch.long
    assert batch.triggers.shape == batch.outputs.shape == (64, 4)
    assert torch.equal(batch.inputs[:, 1:], batch.targets[:, :-1])
    # triggers are distinct within a sequence
    assert all(len(set(row)) == 4 for row in batch.triggers.tolist())
    hits = batch.inputs.unsqueeze(2) == batch.triggers.unsqueeze(1)  # (B, T, K)
    expected = (hits * batch.outputs.unsqueeze(1)).sum(2)
    at_trigger = hits.any(2)
    assert at_trigger.any()
    assert torch.equal(batch.targets[at_trigger], expected[at_trigger])
    if output_dist == "bigram":  # outputs are possible bigram successors of their trigger
        assert (task.pi_b[batch.triggers, batch.outputs] > 0).all()


def test_trigger_counts_match_a_direct_count():
    task = BigramTask(TaskConfig(n_triggers=3, seq_len=30, random_triggers=True))
    batch = task.sample(16, gen(3))
    for b in range(16):
        seen = {}
        triggers = set(batch.triggers[b].tolist())
        for t, token in enumerate(batch.inputs[b].tolist()):
            if token in triggers:
                seen[token] = seen.get(token, 0) + 1
            count = seen.get(token, 0) if token in triggers else 0
            assert batch.trigger_count[b, t] == count
            assert batch.in_context[b, t] == (count >= 2)
            assert batch.non_trigger[b, t] == (count == 0)


def test_same_seed_same_batch():
    task = BigramTask(TaskConfig(seq_len=20, random_triggers=True))
    a, b = task.sample(8, gen(5)), task.sample(8, gen(5))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.outputs, b.outputs)
    assert not torch.equal(a.inputs, task.sample(8, gen(6)).inputs)


def max_standardized_deviation(counts, probs):
    """max_j |n_j - n p_j| / sqrt(n p_j (1 - p_j)) over categories with p_j > 0."""
    counts, probs = np.asarray(counts, float), np.asarray(probs, float)
    n = counts.sum()
    keep = probs > 0
    assert counts[~keep].sum() == 0  # impossible categories never occur
    sd = np.sqrt(n * probs[keep] * (1 - probs[keep]))
    return np.max(np.abs(counts[keep] - n * probs[keep]) / sd)


def test_non_trigger_transitions_follow_the_bigram_model():
    task = BigramTask(TaskConfig(n_triggers=5, seq_len=128))
    batch = task.sample(256, gen(1))
    prev, nxt = batch.inputs[batch.non_trigger], batch.targets[batch.non_trigger]
    pi_b = task.pi_b.double().numpy()
    checked = 0
    for token in torch.unique(prev).tolist():
        successors = nxt[prev == token]
        if len(successors) < 400:
            continue
        counts = np.bincount(successors.numpy(), minlength=65)
        # 65 categories, fixed seed: a 5-sigma excess would have probability < 1e-4
        assert max_standardized_deviation(counts, pi_b[token]) < 5
        checked += 1
    assert checked >= 5


def test_first_token_and_random_triggers_follow_the_unigram_model():
    task = BigramTask(TaskConfig(n_triggers=1, seq_len=2, random_triggers=True))
    batch = task.sample(20000, gen(2))
    pi_u = task.pi_u.double().numpy()
    assert max_standardized_deviation(np.bincount(batch.inputs[:, 0].numpy(), minlength=65), pi_u) < 5
    # one trigger drawn without replacement is simply a draw from pi_u
    assert max_standardized_deviation(np.bincount(batch.triggers[:, 0].numpy(), minlength=65), pi_u) < 5


def test_random_triggers_are_successive_draws_without_replacement():
    # P(q_1 = i, q_2 = j) = pi_u(i) pi_u(j) / (1 - pi_u(i)): check the marginal of the second trigger
    task = BigramTask(TaskConfig(n_triggers=2, seq_len=2, random_triggers=True))
    batch = task.sample(20000, gen(4))
    p = task.pi_u.double().numpy()
    second = p * ((p / (1 - p)).sum() - p / (1 - p))
    observed = np.bincount(batch.triggers.numpy().ravel(), minlength=65)  # top-k order is by score, so pool both
    assert max_standardized_deviation(observed, (p + second) / 2) < 5 * np.sqrt(2)


def test_output_distributions():
    uniform = BigramTask(TaskConfig(n_triggers=5, seq_len=2)).sample(4000, gen(7))
    counts = np.bincount(uniform.outputs.numpy().ravel(), minlength=65)
    assert max_standardized_deviation(counts, np.full(65, 1 / 65)) < 5
    task = BigramTask(TaskConfig(n_triggers=1, seq_len=2, output_dist="bigram"))
    space = task.fixed_triggers.item()
    bigram = task.sample(20000, gen(8))
    counts = np.bincount(bigram.outputs[:, 0].numpy(), minlength=65)
    assert max_standardized_deviation(counts, task.pi_b[space].double().numpy()) < 5
