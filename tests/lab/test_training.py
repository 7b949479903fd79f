"""Tests of causalattn.lab.training.loop: the recipe, freezing, seeds, checkpoints and bad input (tiny configs)."""

from __future__ import annotations

import dataclasses
import importlib
import io
import pickle

import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from causalattn.lab.models.transformer import ModelConfig, build_model  # noqa: E402
from causalattn.lab.tasks.bigram import BigramTask, TaskConfig  # noqa: E402
from causalattn.lab.training.checkpoints import CheckpointError, load_checkpoint, save_checkpoint  # noqa: E402
from causalattn.lab.training.config import Freeze, TrainConfig  # noqa: E402
from causalattn.lab.training.loop import train  # noqa: E402
from causalattn.lab.training.muon import Float32Muon  # noqa: E402

MODEL = ModelConfig(d_model=32, max_seq_len=32, init_seed=0)
TASK = TaskConfig(n_triggers=3, seq_len=32)
# A tiny recipe: 24 SGD updates of 16 sequences, logged every 6 on 64 held-out sequences.
RECIPE = TrainConfig(optimizer="sgd", lr=1.0, loss_on="all", batch_size=16, n_iters=24, log_every=6,
                     eval_sequences=64, checkpoint_every=6)
train_module = importlib.import_module("causalattn.lab.training.loop")
PROBES = ["w1k_recall", "w1k_recall_t64", "w2k_recall", "w2o_recall", "wf_kl"]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # tiny models train fastest on one thread (and much faster on a loaded machine)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(train_config=RECIPE, model_config=MODEL, **kwargs):
    return train(model_config, TASK, train_config, progress=False, **kwargs)


@pytest.fixture(scope="module")
def baseline():
    return run()


def param(model, name):
    return model.parameter_by_name(name).detach().clone()


# --------------------------------------------------------------------------- learning and history


def test_short_training_learns_beyond_chance():
    # 150 updates of a d=64 model on length-64 sequences. Outputs are uniform over the 65
    # tokens, so neither chance (1/65) nor the bigram statistics predict them; accuracy above
    # 0.5 needs the two-layer induction mechanism to have formed (the memories' probes too).
    task = TaskConfig(seq_len=64)
    recipe = TrainConfig(optimizer="sgd", lr=5.0, batch_size=32, loss_on="in_context", n_iters=150,
                         log_every=50, eval_sequences=128)
    result = train(ModelConfig(d_model=64, max_seq_len=64), task, recipe, progress=False)
    first, last = result.history.iloc[0], result.history.iloc[-1]
    assert first["in_context_accuracy"] < 0.1
    assert last["in_context_accuracy"] > 0.5
    assert last["in_context_loss"] < first["in_context_loss"]
    assert last["w2o_recall"] > first["w2o_recall"]


def test_history_rows_and_columns(baseline):
    history = baseline.history
    assert history["iteration"].tolist() == [0, 6, 12, 18, 24]
    expected = ["iteration", "loss", "in_context_accuracy", "in_context_loss", "global_loss", "global_accuracy"]
    assert list(history.columns) == expected + PROBES
    assert pd.isna(history["loss"].iloc[0]) and history["loss"].iloc[1:].notna().all()
    assert len(baseline.seconds) == len(history) and baseline.seconds[0] == 0.0
    assert list(baseline.seconds) == sorted(baseline.seconds)
    assert baseline.model.config == MODEL


def test_last_row_matches_a_fresh_evaluation(baseline):
    from causalattn.lab.tasks.metrics import evaluate

    metrics = evaluate(baseline.model, BigramTask(TASK), RECIPE.eval_sequences, seed=RECIPE.eval_seed)
    last = baseline.history.iloc[-1]
    assert last["in_context_accuracy"] == pytest.approx(metrics["in_context_accuracy"])
    assert last["global_loss"] == pytest.approx(metrics["global_loss"])


def test_log_row_at_n_iters_even_off_the_grid():
    result = run(dataclasses.replace(RECIPE, n_iters=8, log_every=5))
    assert result.history["iteration"].tolist() == [0, 5, 8]


def test_thresholds_helpers(baseline):
    acc = baseline.history["in_context_accuracy"]
    target = float(acc.iloc[2])
    first = int((acc >= target).to_numpy().argmax())
    assert baseline.iterations_to(target) == baseline.history["iteration"].iloc[first]
    assert baseline.seconds_to(target) == baseline.seconds[first]
    assert pd.isna(baseline.iterations_to(1.5)) and pd.isna(baseline.seconds_to(1.5))


@pytest.mark.parametrize(
    "change", [{"optimizer": "adam", "lr": 0.01}, {"loss_on": "in_context"}], ids=["adam", "in_context"]
)
def test_other_recipes_reduce_in_context_loss(change):
    history = run(dataclasses.replace(RECIPE, **change)).history
    assert history["in_context_loss"].iloc[-1] < history["in_context_loss"].iloc[0]


# --------------------------------------------------------------------------- seeds


def test_same_seeds_give_identical_histories(baseline):
    again = run()
    pd.testing.assert_frame_equal(again.history, baseline.history)
    for (name, a), b in zip(baseline.model.state_dict().items(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_init_and_data_seeds_are_separate(baseline):
    other_data = run(dataclasses.replace(RECIPE, data_seed=1))
    other_init = run(model_config=dataclasses.replace(MODEL, init_seed=1))
    # same init and held-out set: the same row at iteration 0, then the data stream differs
    pd.testing.assert_series_equal(other_data.history.iloc[0], baseline.history.iloc[0])
    assert not other_data.history.iloc[-1].equals(baseline.history.iloc[-1])
    assert not other_init.history.iloc[0].equals(baseline.history.iloc[0])


# --------------------------------------------------------------------------- freezing


def test_freeze_until_keeps_weights_bit_identical_then_trains():
    init = build_model(MODEL)
    recipe = dataclasses.replace(RECIPE, weight_decay=0.01, freeze=(Freeze("W2_O", until=12), Freeze("W1_K")))
    at_12 = run(dataclasses.replace(recipe, n_iters=12)).model
    at_24 = run(recipe).model
    # frozen: bit-identical to the init despite momentum and weight decay
    assert torch.equal(param(at_12, "W2_O"), param(init, "W2_O"))
    assert torch.equal(param(at_24, "W1_K"), param(init, "W1_K"))
    # the other trainable matrices did move, and W2_O trains after its release
    assert not torch.equal(param(at_12, "W2_K"), param(init, "W2_K"))
    assert not torch.equal(param(at_24, "W2_O"), param(init, "W2_O"))
    # frozen parameters end with requires_grad restored
    assert all(p.requires_grad for p in at_24.parameters())


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "muon"])
def test_frozen_parameter_has_no_momentum(tmp_path, optimizer):
    recipe = dataclasses.replace(RECIPE, optimizer=optimizer, n_iters=6, freeze=(Freeze("W2_O", until=6),))
    run(recipe, checkpoint_dir=tmp_path)
    stored = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["payload"]  # the checksummed content
    state = torch.load(io.BytesIO(stored.numpy().tobytes()), weights_only=True)["optimizer_state"]
    n_trainable = sum(p.requires_grad for p in build_model(MODEL).parameters())
    # the optimizer keeps momentum (SGD) or moment estimates (Adam) for every parameter it
    # updated: all but the frozen W2_O
    assert len(state["state"]) == n_trainable - 1


def test_freeze_label_and_schedule():
    assert Freeze("W2_O", until=300).label == "freeze:W2_O:until300"
    assert Freeze("W1_K").label == "freeze:W1_K:always"
    f = Freeze("W2_O", until=3)
    assert [f.frozen_at(i) for i in range(5)] == [True, True, True, False, False]
    assert Freeze("W1_K").frozen_at(10**9)


def test_freeze_list_becomes_a_tuple():
    config = TrainConfig(freeze=[Freeze("W1_K")])
    assert config.freeze == (Freeze("W1_K"),)
    assert TrainConfig.from_dict(config.to_dict()) == config


# --------------------------------------------------------------------------- checkpoints


# AdamW and the in-context loss (the fused path of Transformer.logits_at); the default recipe's kind: Muon
IN_CONTEXT = dataclasses.replace(RECIPE, optimizer="adam", lr=0.02, loss_on="in_context")
MUON = dataclasses.replace(IN_CONTEXT, optimizer="muon")
# a vanilla model has tables and vectors, which AdamW trains beside Muon: two optimizers in one checkpoint
VANILLA = ModelConfig(kind="vanilla", n_heads=2, d_model=32, max_seq_len=32, mlp=True, layer_norm=True,
                      pos_emb="learned")


@pytest.mark.parametrize(("recipe", "model_config"), [(RECIPE, MODEL), (IN_CONTEXT, MODEL), (MUON, MODEL),
                                                      (MUON, VANILLA)],
                         ids=["sgd-all", "adam-in_context", "muon-in_context", "muon-vanilla"])
def test_resumed_run_gives_the_same_history(tmp_path, recipe, model_config, monkeypatch):
    uninterrupted = run(recipe, model_config)
    real_log_row = train_module._log_row

    def crash_at_18(model, task, config, iteration, loss):
        if iteration == 18:  # after the checkpoint at 12, before the one at 18
            raise KeyboardInterrupt
        return real_log_row(model, task, config, iteration, loss)

    monkeypatch.setattr(train_module, "_log_row", crash_at_18)
    with pytest.raises(KeyboardInterrupt):
        run(recipe, model_config, checkpoint_dir=tmp_path)
    monkeypatch.setattr(train_module, "_log_row", real_log_row)
    _, info = load_checkpoint(tmp_path / "checkpoint.pt")
    assert info.iteration == 12

    resumed = run(recipe, model_config, checkpoint_dir=tmp_path)
    pd.testing.assert_frame_equal(resumed.history, uninterrupted.history)
    for a, b in zip(uninterrupted.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_muon_trains_hidden_matrices_and_adamw_the_rest():
    # one update of train(), against Muon (tests/test_muon.py checks it by hand) and torch's AdamW stepped by
    # hand on the same batch
    recipe = dataclasses.replace(MUON, n_iters=1, log_every=1, checkpoint_every=1, weight_decay=0.01)
    trained = run(recipe, model_config=VANILLA).model
    model = build_model(VANILLA)
    named = dict(model.named_parameters())
    tables = ["W_E", "W_pos", "W_U"]
    vectors = [n for n, p in named.items() if p.ndim == 1]
    hidden = [n for n in named if n not in tables and n not in vectors]
    assert len(hidden) == 12 and "blocks.1.ff.W_in" in hidden  # 2 layers x (Q, K, V, O, W_in, W_out)
    muon = Float32Muon([named[n] for n in hidden], lr=0.02, weight_decay=0.01, momentum=0.95)
    adam = torch.optim.AdamW([named[n] for n in tables + vectors], lr=0.02, betas=(0.9, 0.95), weight_decay=0.01)
    batch = BigramTask(TASK).sample(recipe.batch_size, torch.Generator().manual_seed(recipe.data_seed))
    logits = model(batch.inputs)[batch.in_context]
    torch.nn.functional.cross_entropy(logits, batch.targets[batch.in_context]).backward()
    muon.step()
    adam.step()
    for name, value in trained.named_parameters():
        torch.testing.assert_close(value, named[name], rtol=0, atol=1e-7, msg=name)
        assert not torch.equal(value, build_model(VANILLA).get_parameter(name)), name  # every one moved


def test_finished_run_is_loaded_not_retrained(tmp_path, monkeypatch):
    first = run(checkpoint_dir=tmp_path)
    monkeypatch.setattr(train_module, "_step", lambda *args: pytest.fail("retrained a finished run"))
    again = run(checkpoint_dir=tmp_path)
    pd.testing.assert_frame_equal(again.history, first.history)


def test_save_and_load_round_trip(tmp_path, baseline):
    path = tmp_path / "model.pt"
    save_checkpoint(path, baseline.model, TASK, RECIPE, history=baseline.history)
    model, info = load_checkpoint(path, model_config=MODEL, task_config=TASK, train_config=RECIPE)
    assert (info.model_config, info.task_config, info.train_config, info.iteration) == (MODEL, TASK, RECIPE, 24)
    pd.testing.assert_frame_equal(info.history, baseline.history)
    inputs = BigramTask(TASK).sample(4, torch.Generator().manual_seed(0)).inputs
    with torch.no_grad():
        assert torch.equal(model(inputs), baseline.model(inputs))


def test_hand_set_model_saves_without_train_config(tmp_path):
    path = tmp_path / "model.pt"
    save_checkpoint(path, build_model(MODEL), TASK)
    _, info = load_checkpoint(path)
    assert info.train_config is None and info.iteration == 0 and info.history.empty


def _flip_weight_bytes(path, model, name="W2_O"):
    """Flip 64 bytes inside the stored tensor of parameter ``name`` (as a disk error would)."""
    data = bytearray(path.read_bytes())
    weights = model.parameter_by_name(name).detach().numpy().tobytes()
    at = data.find(weights[256:320])
    assert at > 0
    data[at:at + 64] = bytes(b ^ 0xFF for b in data[at:at + 64])
    path.write_bytes(bytes(data))


def test_bit_flipped_checkpoint_is_refused_by_load_and_retrained_by_train(tmp_path, baseline):
    # before: 64 flipped bytes inside a tensor loaded with altered weights and no error
    path = tmp_path / "checkpoint.pt"
    first = run(checkpoint_dir=tmp_path)
    _flip_weight_bytes(path, first.model)
    with pytest.raises(CheckpointError, match=rf"`path`: {path} is damaged: .*SHA-256 checksum"):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match=rf"{path} is damaged.*recomputing it: training from iteration 0"):
        again = run(checkpoint_dir=tmp_path)
    pd.testing.assert_frame_equal(again.history, baseline.history)
    load_checkpoint(path)  # rewritten intact


@pytest.mark.parametrize("content", [
    bytes(range(256)) * 8,  # random-looking bytes
    pickle.dumps({"model_state": [1, 2, 3]}),  # a plain pickle
    b"not a checkpoint\n",  # a text file
    None,  # a truncated checkpoint
], ids=["random-bytes", "pickle", "text", "truncated"])
def test_load_checkpoint_on_foreign_files_gives_one_clear_error(tmp_path, content):
    # before: UnpicklingError advising weights_only=False, KeyError: 101 or OSError
    path = tmp_path / "model.pt"
    if content is None:
        save_checkpoint(path, build_model(MODEL), TASK)
        content = path.read_bytes()[: len(path.read_bytes()) // 2]
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=rf"`path`: {path} is not a causalattn checkpoint") as info:
        load_checkpoint(path)
    assert "weights_only=False" not in str(info.value)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("optimizer", "rmsprop", "`optimizer` must be one of"),
        ("loss_on", "global", "`loss_on` must be one of"),
        ("lr", 0.0, "`lr` must be positive"),
        ("lr", -0.1, "`lr` must be positive"),
        ("lr", float("nan"), "`lr` must be a finite number"),
        ("momentum", 1.0, "`momentum` must be in"),
        ("weight_decay", -1e-4, "`weight_decay` must be non-negative"),
        ("batch_size", 0, "`batch_size` must be a positive integer"),
        ("n_iters", 0, "`n_iters` must be a positive integer"),
        ("n_iters", -5, "`n_iters` must be a positive integer"),
        ("log_every", 0, "`log_every` must be a positive integer"),
        ("eval_sequences", 0, "`eval_sequences` must be a positive integer"),
        ("checkpoint_every", 0, "`checkpoint_every` must be a positive integer"),
        ("data_seed", -1, r"`data_seed` must be an integer in \[0, 9223372036854775807\]"),
        ("freeze", ("W1_K",), "`freeze` must be a tuple of Freeze values"),
    ],
)
def test_bad_train_config(field, value, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field, value, match", [
    ("batch_size", 2.5, "`batch_size` must be a positive integer, got 2.5"),  # the shared integer check
    ("data_seed", "0", r"`data_seed` must be an integer in \[0, 9223372036854775807\], got '0'"),
    ("lr", "0.1", "`lr` must be a finite real number, got '0.1'"),
    ("momentum", True, "`momentum` must be a finite real number, got True"),
])
def test_train_config_of_the_wrong_type(field, value, match):
    with pytest.raises(TypeError, match=match):
        TrainConfig(**{field: value})


def test_iteration_options_beyond_the_run_are_refused():
    # before: accepted; the history held iterations 0 and n_iters only, and W2_O stayed frozen throughout
    with pytest.raises(ValueError, match=r"^`log_every` \(20\) is beyond `n_iters` \(10\): the run would be logged "
                                         r"at its start and end only"):
        TrainConfig(n_iters=10, log_every=20)
    with pytest.raises(ValueError, match=r"^`log_every` \(20\) is beyond `n_iters` \(10\)"):
        dataclasses.replace(TrainConfig(), n_iters=10)  # the default's resolved 20 is a field like any other
    with pytest.raises(ValueError, match=r"^`freeze` \(freeze:W2_O:until11\) is beyond `n_iters` \(10\): it ends at "
                                         r"iteration 11, so the parameter would stay frozen for the whole run"):
        TrainConfig(n_iters=10, freeze=(Freeze("W2_O", until=11),))
    # before: accepted, and the run was checkpointed at its end only
    with pytest.raises(ValueError, match=r"^`checkpoint_every` \(11\) is beyond `n_iters` \(10\): the run would be "
                                         r"checkpointed at its end only; lower it \(left out it is "
                                         r"min\(100, n_iters\)\)"):
        TrainConfig(n_iters=10, checkpoint_every=11)
    with pytest.raises(ValueError, match=r"^`checkpoint_every` \(100\) is beyond `n_iters` \(50\)"):
        dataclasses.replace(TrainConfig(), n_iters=50, log_every=10)
    # left out, log_every is min(20, n_iters), checkpoint_every min(100, n_iters); a freeze up to the last update,
    # logs and checkpoints every n_iters updates are allowed
    assert TrainConfig().log_every == 20 and TrainConfig(n_iters=7).log_every == 7
    assert TrainConfig().checkpoint_every == 100 and TrainConfig(n_iters=7).checkpoint_every == 7
    assert TrainConfig(n_iters=10, log_every=10, checkpoint_every=10).checkpoint_every == 10
    # a configuration saved before the check (a checkpoint's) reads: at the end only, as before
    saved = {**TrainConfig(n_iters=50).to_dict(), "checkpoint_every": 100}
    assert TrainConfig.from_dict(saved) == TrainConfig(n_iters=50, checkpoint_every=50)
    assert TrainConfig(n_iters=10, freeze=(Freeze("W2_O", until=10),)).freeze[0].until == 10
    assert TrainConfig.from_dict(TrainConfig(n_iters=7).to_dict()) == TrainConfig(n_iters=7)


def test_degenerate_tasks_and_vocabularies_are_refused_before_training(monkeypatch):
    monkeypatch.setattr(train_module, "_step", lambda *a, **k: pytest.fail("trained before checking"))
    tiny = TrainConfig(n_iters=2, batch_size=2, eval_sequences=8)
    # before: in-context accuracy NaN at every logged iteration (no trigger repeats in 2 tokens)
    with pytest.raises(ValueError, match=r"^`task_config.seq_len` \(2\) or `train_config.eval_sequences` \(8\): "
                                         r"the held-out set \(8 sequences of 2 tokens, 5 triggers\) has no "
                                         r"in-context position"):
        train(MODEL, TaskConfig(seq_len=2), tiny, progress=False)
    # before: every token a trigger, and every global metric NaN
    with pytest.raises(ValueError, match=r"^`n_triggers` must be less than the vocabulary size 65"):
        TaskConfig(n_triggers=65)
    with pytest.raises(ValueError, match=r"no global position \(a token that is not a trigger\)"):
        train(MODEL, TaskConfig(n_triggers=64, seq_len=4), tiny, progress=False)
    # before: a ValueError naming `inputs` (vocabulary 10) or `model` (100), after the model was built
    for vocab in (10, 100):
        with pytest.raises(ValueError, match=rf"^`model_config.vocab_size` \({vocab}\) must be the task's vocabulary "
                                             r"size 65"):
            train(dataclasses.replace(MODEL, vocab_size=vocab), TASK, tiny, progress=False)
    with pytest.raises(ValueError, match=r"^`vocab_size` must be an integer >= 2, got 1"):
        ModelConfig(vocab_size=1)


def test_bad_freeze_values():
    with pytest.raises(ValueError, match="`parameter` must be a non-empty parameter name"):
        Freeze("")
    with pytest.raises(ValueError, match="`until` must be a positive integer"):
        Freeze("W2_O", until=0)


def test_freeze_of_unknown_parameter():
    with pytest.raises(ValueError, match="`freeze`:.*W9_K"):
        run(dataclasses.replace(RECIPE, freeze=(Freeze("W9_K"),)))


def test_freeze_of_the_same_parameter_twice():
    with pytest.raises(ValueError, match="`freeze`: freeze:W2_O:until5 and freeze:W2_O:always act on the same"):
        run(dataclasses.replace(RECIPE, freeze=(Freeze("W2_O"), Freeze("W2_O", until=5))))


def test_sequences_longer_than_the_model():
    with pytest.raises(ValueError, match="`model_config.max_seq_len`"):
        run(model_config=dataclasses.replace(MODEL, max_seq_len=16))


def test_bad_argument_types():
    with pytest.raises(TypeError, match="`train_config` must be a TrainConfig"):
        train(MODEL, TASK, {"lr": 1.0}, progress=False)
    with pytest.raises(TypeError, match="`checkpoint_dir` must be a path"):
        run(checkpoint_dir=3)


def test_checkpoint_with_other_config(tmp_path):
    run(dataclasses.replace(RECIPE, n_iters=6), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"`train_config` does not match the checkpoint in `checkpoint_dir`.*lr=2\.0"):
        run(dataclasses.replace(RECIPE, n_iters=6, lr=2.0), checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="`model_config` does not match .*init_seed=1"):
        run(dataclasses.replace(RECIPE, n_iters=6), model_config=dataclasses.replace(MODEL, init_seed=1),
            checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="`task_config` does not match the checkpoint"):
        load_checkpoint(tmp_path / "checkpoint.pt", task_config=TaskConfig(n_triggers=2, seq_len=32))
    with pytest.raises(ValueError, match="`path`: no checkpoint file"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_failed_checkpoint_write_leaves_no_temporary_file(tmp_path):
    model = build_model(MODEL)
    (tmp_path / "checkpoint.pt").mkdir()  # a folder where the checkpoint goes: the rename fails
    with pytest.raises(OSError):
        save_checkpoint(tmp_path / "checkpoint.pt", model, TASK)
    assert not list(tmp_path.glob("*.tmp*"))  # before: `checkpoint.pt.tmp` stayed behind
    save_checkpoint(tmp_path / "model.pt", model, TASK)  # the one atomic writer of the study folders
    assert load_checkpoint(tmp_path / "model.pt")[1].iteration == 0 and not list(tmp_path.glob("*.tmp*"))


def test_checkpoint_dir_that_is_a_file(tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(ValueError, match="`checkpoint_dir` must be a folder"):
        run(checkpoint_dir=file)
