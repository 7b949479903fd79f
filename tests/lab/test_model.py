"""The lab transformers: configuration checks, shapes, causality, hook points, run_from, parameter names."""

import pytest
import torch

from causalattn.lab import ModelConfig, build_model, hook_points, hooks, run_with_cache

SMALL = {"d_model": 16, "max_seq_len": 12}
VANILLA = {"kind": "vanilla", "n_heads": 2, "mlp": True, "layer_norm": True, "pos_emb": "learned", **SMALL}


def tokens(batch=3, seq_len=12, seed=0):
    return torch.randint(65, (batch, seq_len), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kind": "gpt"}, "`kind` must be one of"),
        ({"pos_emb": "sinusoidal"}, "`pos_emb` must be one of"),
        ({"kind": "vanilla", "d_model": 10, "n_heads": 3}, r"`d_model` \(10\) must be divisible by `n_heads` \(3\)"),
        ({"n_layers": 0}, "`n_layers` must be a positive integer"),
        ({"n_heads": 2}, "`n_heads`=2 is not available for kind='simplified'"),
        ({"mlp": True}, "`mlp`=True is not available for kind='simplified'"),
        ({"pos_emb": "learned"}, "`pos_emb`='learned' is not available for kind='simplified'"),
        ({"kind": "vanilla", "feed_forward": True}, "`feed_forward` is the simplified model's linear W_F"),
    ],
)
def test_config_rejects_impossible_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModelConfig(**kwargs)


def test_config_type_errors():
    with pytest.raises(TypeError, match="`layer_norm` must be a bool"):
        ModelConfig(layer_norm="yes")
    with pytest.raises(TypeError, match="`init_seed` must be an integer"):
        ModelConfig(init_seed=1.5)
    with pytest.raises(TypeError, match="`config` must be a ModelConfig"):
        build_model({"d_model": 16})


@pytest.mark.parametrize(
    "kwargs",
    [SMALL, {**SMALL, "feed_forward": True}, {**SMALL, "n_layers": 1}, VANILLA, {**VANILLA, "n_layers": 1}],
)
def test_logits_shape_and_causality(kwargs):
    model = build_model(ModelConfig(**kwargs))
    x = tokens()
    logits = model(x)
    assert logits.shape == (3, 12, 65) and logits.dtype == torch.float32
    changed = x.clone()
    changed[:, 7] = (changed[:, 7] + 1) % 65
    other = model(changed)
    torch.testing.assert_close(other[:, :7], logits[:, :7])  # the past does not see the future
    assert not torch.allclose(other[:, 7:], logits[:, 7:])


def test_inputs_are_checked():
    model = build_model(ModelConfig(**SMALL))
    with pytest.raises(ValueError, match="`inputs` has 13 positions, more than the model's context max_len=12"):
        model(tokens(seq_len=13))
    with pytest.raises(ValueError, match="`inputs` must be a"):
        model(tokens().float())


@pytest.mark.parametrize("kind", ["simplified", "vanilla"])  # the fused path and the explicit one
@pytest.mark.parametrize("inputs, match", [
    (torch.full((1, 4), 65), r"`inputs` must be token ids in \[0, 64\] \(the vocabulary\), got values in \[65, 65\]"),
    (torch.tensor([[3, -1, 2]]), r"`inputs` must be token ids in \[0, 64\] .*got values in \[-1, 3\]"),
    (torch.zeros(0, 4, dtype=torch.long), r"`inputs` must hold at least one sequence of at least one token, got "
                                          r"shape \(0, 4\)"),
    (torch.zeros(2, 0, dtype=torch.long), r"`inputs` must hold at least one sequence .*got shape \(2, 0\)"),
])
def test_tokens_outside_the_vocabulary_and_empty_batches_are_refused(kind, inputs, match):
    # before (issue 18, item 17): a bare IndexError for 65; a negative id silently read W_E[-1] on the explicit path
    model = build_model(ModelConfig(**{**SMALL, "kind": kind}))
    for call in (model, lambda x: model.logits_at(x, torch.ones_like(x, dtype=torch.bool)),
                 lambda x: run_with_cache(model, x, names=["blocks.0.attn.hook_z"])):
        with pytest.raises(ValueError, match=match):
            call(inputs)


def test_simplified_parameters_are_the_papers():
    model = build_model(ModelConfig(feed_forward=True, **SMALL))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"blocks.0.attn.W_K", "blocks.1.attn.W_K", "blocks.1.attn.W_O", "blocks.1.ff.W_F"}
    assert model.aliases() == {
        "W1_K": "blocks.0.attn.W_K", "W2_K": "blocks.1.attn.W_K", "W2_O": "blocks.1.attn.W_O", "W_F": "blocks.1.ff.W_F"
    }
    assert model.parameter_by_name("W2_O") is model.blocks[1].attn.W_O
    assert model.parameter_by_name("blocks.0.attn.W_K") is model.blocks[0].attn.W_K
    # frozen parts are saved buffers, with variance 1/d
    buffers = set(model.state_dict()) - trainable
    assert {"W_E", "W_pos", "W_U", "blocks.0.attn.W_OV", "blocks.1.attn.W_V"} <= buffers
    big = build_model(ModelConfig(d_model=256))
    assert big.W_E.var().item() == pytest.approx(1 / 256, rel=0.05)
    with pytest.raises(ValueError, match="`name` 'W1_V' is not a parameter of this model"):
        model.parameter_by_name("W1_V")


def test_one_layer_simplified_trains_its_output_matrix():
    model = build_model(ModelConfig(n_layers=1, **SMALL))
    assert model.aliases() == {"W1_K": "blocks.0.attn.W_K", "W1_O": "blocks.0.attn.W_O"}


def test_vanilla_parameters_and_freezing():
    model = build_model(ModelConfig(**VANILLA))
    aliases = model.aliases()
    assert set(aliases) == {f"W{layer}_{m}" for layer in (1, 2) for m in "QKVO"}
    assert model.parameter_by_name("W2_Q") is model.blocks[1].attn.W_Q
    names = dict(model.named_parameters())
    assert {"W_E", "W_U", "W_pos"} <= set(names)
    frozen = build_model(ModelConfig(**{**VANILLA, "freeze_embeddings": True, "pos_emb": "random"}))
    names = dict(frozen.named_parameters())
    assert not {"W_E", "W_U", "W_pos"} & set(names)


def test_initialization_is_seeded():
    a, b = build_model(ModelConfig(**VANILLA)), build_model(ModelConfig(**VANILLA))
    c = build_model(ModelConfig(**{**VANILLA, "init_seed": 1}))
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name
    assert not torch.equal(a.W_E, c.W_E)


def test_only_trainable_matrices_get_gradients():
    model = build_model(ModelConfig(**SMALL))
    model(tokens()).logsumexp(-1).mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert all(not b.requires_grad for b in model.buffers())


@pytest.mark.parametrize("kwargs", [SMALL, VANILLA])
def test_hook_points_names_and_shapes(kwargs):
    model = build_model(ModelConfig(**kwargs))
    heads = model.config.n_heads
    expected = {"hook_embed", "hook_pos_embed"} | {
        f"blocks.{layer}.{p}" for layer in (0, 1)
        for p in ("hook_resid_pre", "hook_q_input", "hook_k_input", "hook_v_input", "attn.hook_pattern",
                  "attn.hook_z", "hook_attn_out", "hook_resid_post")
    }
    assert {model.hook_name(p, layer) for p in ("resid_pre", "q_input", "k_input", "v_input", "pattern", "z",
                                            "attn_out", "resid_post")
            for layer in (0, 1)} == expected - {"hook_embed", "hook_pos_embed"}
    assert set(hook_points(model)) == expected
    logits, cache = run_with_cache(model, tokens())
    inputs = {f"blocks.{layer}.hook_{p}_input" for layer in (0, 1) for p in "qkv"}
    assert set(cache) == expected - inputs  # the per-head inputs are kept only when named
    logits, cache = run_with_cache(model, tokens(), names=sorted(set(hook_points(model))))
    assert set(cache) == expected
    pattern = cache["blocks.1.attn.hook_pattern"]
    assert pattern.shape == (3, heads, 12, 12)
    torch.testing.assert_close(pattern.sum(-1), torch.ones(3, heads, 12))
    assert (pattern.triu(1) == 0).all()  # causal
    assert cache["blocks.0.attn.hook_z"].shape == (3, 12, heads, 16 // heads)
    assert cache["blocks.1.hook_resid_post"].shape == (3, 12, 16)
    # hook_attn_out is what the attention adds to the residual stream: W_O applied to the heads' outputs
    attn_out = cache["blocks.0.hook_attn_out"]
    torch.testing.assert_close(attn_out, model.blocks[0].attn.out(cache["blocks.0.attn.hook_z"]))
    assert torch.equal(model.attn_out(0, cache["blocks.0.attn.hook_z"]), attn_out)
    for point in ("q_input", "k_input", "v_input"):  # the residual stream, once per head
        assert torch.equal(cache[f"blocks.1.hook_{point}"], cache["blocks.1.hook_resid_pre"][:, :, None].expand(
            3, 12, heads, 16))
    assert torch.equal(logits, model.run_from(0, model.embed(tokens())))  # hooks that change nothing, nothing
    assert (model.n_layers, model.n_heads, model.d_head, model.d_model, model.vocab_size, model.max_len) == (
        2, heads, 16 // heads, 16, 65, 12)


@pytest.mark.parametrize("kwargs", [SMALL, VANILLA, {**SMALL, "feed_forward": True, "n_layers": 3}])
def test_run_from_equals_the_full_forward(kwargs):
    model = build_model(ModelConfig(**kwargs))
    x = tokens()
    logits, cache = run_with_cache(model, x)
    n = model.config.n_layers
    torch.testing.assert_close(model.run_from(0, model.embed(x)), logits)
    for layer in range(n):
        torch.testing.assert_close(model.run_from(layer, cache[f"blocks.{layer}.hook_resid_pre"]), logits)
    torch.testing.assert_close(model.run_from(n, cache[f"blocks.{n - 1}.hook_resid_post"]), logits)
    with pytest.raises(ValueError, match=rf"`layer` must be an integer in \[0, {n}\]"):
        model.run_from(n + 1, cache["hook_embed"])


@pytest.mark.parametrize("kwargs", [SMALL, VANILLA, {**SMALL, "feed_forward": True, "n_layers": 3}])
def test_run_from_z_with_the_clean_z_equals_the_full_forward(kwargs):
    model = build_model(ModelConfig(**kwargs))
    logits, cache = run_with_cache(model, tokens())
    n = model.config.n_layers
    for layer in range(n):
        resid_pre, z = cache[f"blocks.{layer}.hook_resid_pre"], cache[f"blocks.{layer}.attn.hook_z"]
        torch.testing.assert_close(model.run_from_z(layer, resid_pre, z), logits)
    with pytest.raises(ValueError, match=rf"`layer` must be an integer in \[0, {n - 1}\]"):
        model.run_from_z(n, resid_pre, z)


@pytest.mark.parametrize("kwargs", [SMALL, VANILLA])
def test_hooks_change_outputs_and_are_removed(kwargs):
    model = build_model(ModelConfig(**kwargs))
    x = tokens()
    clean = model(x)

    def uniform(pattern, hook):
        causal = torch.ones_like(pattern).tril()
        return causal / causal.sum(-1, keepdim=True)

    def zero_head_0(z, hook):
        z = z.clone()
        z[:, :, 0] = 0
        return z

    for name, fn in (("blocks.1.attn.hook_pattern", uniform), ("blocks.0.attn.hook_z", zero_head_0)):
        with hooks(model, {name: fn}):
            hooked = model(x)
        assert not torch.allclose(hooked, clean)
        torch.testing.assert_close(model(x), clean)  # removed after the block

    # the pattern seen by the head is the hooked one: its z is pattern @ v
    with hooks(model, {"blocks.1.attn.hook_pattern": uniform}):
        _, cache = run_with_cache(model, x)
    torch.testing.assert_close(cache["blocks.1.attn.hook_pattern"][0, 0, 3],
                               torch.full((12,), 0.25).where(torch.arange(12) < 4, 0.0))

    with pytest.raises(RuntimeError, match="boom"):
        with hooks(model, {"blocks.0.attn.hook_z": zero_head_0}):
            raise RuntimeError("boom")
    torch.testing.assert_close(model(x), clean)  # removed even on error
    assert all(not p._forward_hooks for p in hook_points(model).values())
