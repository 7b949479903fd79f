"""Memory probes on hand-built matrices, the hand-set induction-head model, metrics and plots."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import entropy

from causalattn.lab import (
    PROBE_KEYS,
    BigramTask,
    ModelConfig,
    TaskConfig,
    build_model,
    evaluate,
    hooks,
    induction_head_model,
    memory_probes,
    plot_attention,
    plot_probes,
    plot_training_curves,
    recall,
    token_metrics,
)
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask


def orthonormal(n, d, seed):
    q, _ = torch.linalg.qr(torch.randn(d, n, generator=torch.Generator().manual_seed(seed)))
    return q.T  # (n, d), orthonormal rows


def test_recall_of_exact_memories_is_one():
    u, v = orthonormal(20, 32, 0), orthonormal(20, 32, 1)
    assert recall(u.T @ v, u, v) == 1.0  # W = sum_i u_i v_i^T
    assert recall(torch.eye(5), torch.eye(5), torch.eye(5)) == 1.0


def test_recall_of_a_random_matrix_is_near_chance():
    g = torch.Generator().manual_seed(0)
    u, v = torch.randn(200, 64, generator=g), torch.randn(200, 64, generator=g)
    assert recall(torch.randn(64, 64, generator=g), u, v) < 0.03  # chance is 1/200


def test_recall_by_hand():
    # scores = left @ W @ right.T = [[2, 1, 0], [0, 1, 3], [0, 0, 1]]: rows 0 and 2 recalled, row 1 not
    left = torch.eye(3)
    matrix = torch.tensor([[2.0, 1, 0], [0, 1, 3], [0, 0, 1]])
    assert recall(matrix, left, torch.eye(3)) == pytest.approx(2 / 3)


def test_recall_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes do not fit"):
        recall(torch.eye(3), torch.eye(4), torch.eye(4))
    with pytest.raises(ValueError, match="must be 2-d tensors"):
        recall(torch.eye(3), torch.ones(3), torch.eye(3))


@pytest.fixture(scope="module")
def task():
    return BigramTask(TaskConfig(seq_len=64))


@pytest.fixture(scope="module")
def handset(task):
    return induction_head_model(task, d_model=256)


def test_probes_of_the_handset_model_are_perfect(task, handset):
    probes = memory_probes(handset, task)
    assert set(probes) == set(PROBE_KEYS)
    for key in ("w1k_recall", "w1k_recall_t64", "w2k_recall", "w2o_recall"):
        assert probes[key] == 1.0, key
    assert math.isnan(probes["wf_kl"])


def test_probes_of_a_random_model_are_near_chance(task):
    model = build_model(ModelConfig(d_model=64, max_seq_len=64))
    probes = memory_probes(model, task)
    assert probes["w1k_recall"] < 0.1 and probes["w2o_recall"] < 0.15  # chance 1/63 and 1/65


def test_w2k_probe_uses_all_tokens_for_random_triggers():
    random_task = BigramTask(TaskConfig(seq_len=64, random_triggers=True))
    model = induction_head_model(random_task, d_model=256)
    assert memory_probes(model, random_task)["w2k_recall"] == 1.0  # over all 65 tokens
    # a memory of the 5 fixed triggers only cannot recall all 65 tokens
    fixed = induction_head_model(BigramTask(TaskConfig(seq_len=64)), d_model=256)
    assert memory_probes(fixed, random_task)["w2k_recall"] < 0.2


def test_kl_probe_matches_scipy(task):
    model = build_model(ModelConfig(d_model=32, max_seq_len=64, feed_forward=True))
    w_f = model.parameter_by_name("W_F").detach()
    logits = (model.W_E @ w_f.T @ model.W_U.T).double().numpy()
    q = np.exp(logits - logits.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    non_triggers = np.setdiff1d(np.arange(65), task.fixed_triggers.numpy())
    expected = np.mean([entropy(task.pi_b[k].double().numpy(), q[k]) for k in non_triggers])
    assert memory_probes(model, task)["wf_kl"] == pytest.approx(expected, rel=1e-4)


def test_probes_not_defined_are_nan(task):
    vanilla = build_model(ModelConfig(kind="vanilla", d_model=16, max_seq_len=64))
    assert all(math.isnan(v) for v in memory_probes(vanilla, task).values())
    one_layer = memory_probes(build_model(ModelConfig(n_layers=1, d_model=16, max_seq_len=64, feed_forward=True)), task)
    assert math.isnan(one_layer["w2k_recall"]) and not math.isnan(one_layer["wf_kl"])


def test_probes_of_models_and_tasks_they_cannot_read(task):
    with pytest.raises(TypeError, match="`model` must implement causalattn.lab.models.contract.HookedModel"):
        memory_probes(torch.nn.Linear(2, 2), task)
    with pytest.raises(ValueError, match="`model` has 70 tokens but `task` has 65"):
        memory_probes(build_model(ModelConfig(vocab_size=70, d_model=16, max_seq_len=64)), task)
    with pytest.raises(TypeError, match="`task` must be a BigramTask .*got RepeatedTokensTask"):
        memory_probes(build_model(ModelConfig(d_model=16, max_seq_len=64)), RepeatedTokensTask(RepeatedTokensConfig(
            length=8, vocab_size=65)))
    transformers = pytest.importorskip("transformers")
    from causalattn.lab import HFModel

    config = transformers.LlamaConfig(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                      hidden_size=16, intermediate_size=32, vocab_size=65)
    hf_model = HFModel(transformers.LlamaForCausalLM(config))  # a HookedModel, but without the paper's memories
    with pytest.raises(TypeError, match="`model` must be a lab Transformer: the memory probes read the simplified "
                                        "model's matrices .* which a HFModel does not have"):
        memory_probes(hf_model, task)


def test_handset_model_solves_the_task_and_needs_both_layers():
    task = BigramTask(TaskConfig(seq_len=128))
    model = induction_head_model(task, d_model=512)
    assert evaluate(model, task, 64, seed=1, batch_size=64)["in_context_accuracy"] > 0.98
    batch = task.sample(32, torch.Generator().manual_seed(2))

    def in_context_accuracy(logits):
        return token_metrics(logits, batch).correct[batch.in_context].float().mean().item()

    # without the first layer (no previous-token head), the induction head has nothing to match
    assert in_context_accuracy(model.run_from(1, model.embed(batch.inputs))) < 0.3
    for layer in (0, 1):  # zero-ablating either head destroys in-context prediction
        with hooks(model, {f"blocks.{layer}.attn.hook_z": lambda z, hook: torch.zeros_like(z)}):
            assert in_context_accuracy(model(batch.inputs)) < 0.3


def test_token_metrics_by_hand(task):
    batch = task.sample(2, torch.Generator().manual_seed(0))
    logits = torch.zeros(2, 64, 65)
    logits[0, :, 7] = math.log(3.0)  # p(7) = 3/67 everywhere in sequence 0
    metrics = token_metrics(logits, batch)
    expected = np.where(batch.targets[0].numpy() == 7, -np.log(3 / 67), -np.log(1 / 67))
    np.testing.assert_allclose(metrics.loss[0].numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(metrics.loss[1].numpy(), np.log(65), rtol=1e-5)
    assert torch.equal(metrics.correct[0], batch.targets[0] == 7)
    with pytest.raises(ValueError, match="`logits` must have shape"):
        token_metrics(logits[:, :10], batch)


def test_evaluate_pools_tokens_and_is_seeded(task, handset):
    result = evaluate(handset, task, 20, seed=3, batch_size=8)
    assert set(result) == {"in_context_accuracy", "in_context_loss", "global_accuracy", "global_loss", "n_in_context"}
    assert result == evaluate(handset, task, 20, seed=3, batch_size=8)
    # by hand on the same three batches
    gen = torch.Generator().manual_seed(3)
    correct = total = 0
    for size in (8, 8, 4):
        batch = task.sample(size, gen)
        hits = handset(batch.inputs).argmax(-1) == batch.targets
        correct += hits[batch.in_context].sum().item()
        total += batch.in_context.sum().item()
    assert result["n_in_context"] == total
    assert result["in_context_accuracy"] == pytest.approx(correct / total)
    with pytest.raises(ValueError, match="`n_sequences` must be a positive integer"):
        evaluate(handset, task, 0)


def test_plots_return_figures(task, handset):
    batch = task.sample(2, torch.Generator().manual_seed(0))
    fig = plot_attention(handset, batch, index=1, chars=task.chars, window=(0, 32))
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 4  # 2 maps + 2 colorbars
    uniform = {"blocks.1.attn.hook_pattern":
               lambda p, hook: torch.ones_like(p).tril() / torch.ones_like(p).tril().sum(-1, keepdim=True)}
    hooked = plot_attention(handset, batch, fwd_hooks=uniform)
    assert hooked.axes[1].images[0].get_array()[5, 0] == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="`window` must satisfy"):
        plot_attention(handset, batch, window=(10, 5))
    with pytest.raises(ValueError, match="`index` must be in"):
        plot_attention(handset, batch, index=2)

    with pytest.raises(ValueError, match="`chars` must name every token"):
        plot_attention(handset, batch, chars=["a", "b"])

    history = pd.DataFrame({"iteration": [0, 10, 20], "in_context_loss": [4.0, 2.0, 0.5],
                            "global_loss": [4.0, 3.0, 2.9], "in_context_accuracy": [0.0, 0.5, 0.9],
                            "w1k_recall": [0.0, 0.5, 1.0], "wf_kl": np.nan})
    assert len(plot_training_curves(history).axes) == 2
    assert len(plot_probes(history).axes) == 1  # the all-NaN KL probe is skipped
    # the t < 64 recall (equal to the full one on short sequences) is dashed, the legend below the curves
    probes = plot_probes(history.assign(w1k_recall_t64=history["w1k_recall"])).axes[0]
    assert [line.get_linestyle() for line in probes.lines] == ["-", "--"]
    assert probes.get_legend().get_bbox_to_anchor().y0 < probes.get_window_extent().y0
    with pytest.raises(ValueError, match="column 'global_loss' is not in `data`"):
        plot_training_curves(history.drop(columns="global_loss"))
    with pytest.raises(ValueError, match="`history` has no probe column with values"):
        plot_probes(history[["iteration"]])


def test_attention_map_reads_as_characters_with_marked_triggers_and_outputs():
    # before: token ids (52, 42, ...) that overprinted each other, nothing marking triggers' outputs
    task = BigramTask(TaskConfig(seq_len=256))
    batch = task.sample(1, torch.Generator().manual_seed(0))
    model = induction_head_model(task, d_model=64)
    fig = plot_attention(model, batch, chars=task.chars, window=(0, 256))
    fig.canvas.draw()
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_xticklabels()]
    tokens = batch.inputs[0].tolist()
    shown = [i for i, t in enumerate(texts) if t]
    assert len(shown) == 64 and shown == list(range(0, 256, 4))  # thinned: every 4th of 256 positions
    expected = {" ": "\u2423", "\n": "\\n"}
    assert all(texts[i] == expected.get(task.chars[tokens[i]], task.chars[tokens[i]]) for i in shown)
    trigger = (batch.trigger_count[0] > 0).tolist()
    colours = [tick.tick1line.get_markeredgecolor() for tick in ax.xaxis.get_major_ticks()]
    for i in range(256):
        colour = "tab:red" if trigger[i] else "tab:green" if i and trigger[i - 1] else None
        assert (colours[i] == colour) if colour else colours[i] not in ("tab:red", "tab:green")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["trigger token", "output token (follows a trigger)"]
    short = plot_attention(model, batch, chars=task.chars)  # the default window: every position labelled
    assert all(t.get_text() for t in short.axes[0].get_xticklabels())
