"""The simplified model's fused path (no hook attached) against the explicit computation with every hook point."""

import pytest
import torch

import causalattn.lab.models.transformer as model_module
from causalattn.lab import ModelConfig, build_model, hooks, run_with_cache
from causalattn.lab.models.hooks import has_hooks

# 150 positions: a sequence with every position selected fills three blocks of PACK = 64 queries
CONFIGS = [
    {"d_model": 16, "max_seq_len": 150},
    {"d_model": 16, "max_seq_len": 150, "n_layers": 1},
    {"d_model": 16, "max_seq_len": 150, "n_layers": 3, "feed_forward": True},
]


def tokens_and_where(batch=4, seq_len=150, seed=0):
    gen = torch.Generator().manual_seed(seed)
    tokens = torch.randint(65, (batch, seq_len), generator=gen)
    where = torch.rand(batch, seq_len, generator=gen) < 0.3
    where[0] = True  # 150 positions: blocks of 64, 64 and 22
    where[1] = False  # no position: no block
    return tokens, where


def explicit(model, tokens):
    """Logits with every hook point computed: keys x W_K^T, the pattern, z = pattern v, W_O z at every position."""
    return model.run_from(0, model.embed(tokens))


def gradients(model, logits_fn, weights):
    model.zero_grad()
    (logits_fn() * weights).sum().backward()
    return {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_fused_forward_equals_the_explicit_path(kwargs):
    model = build_model(ModelConfig(**kwargs))
    tokens, _ = tokens_and_where()
    torch.testing.assert_close(model(tokens), explicit(model, tokens), rtol=1e-5, atol=1e-5)
    shorter, where = tokens[:, :90], tokens[:, :90] < 30  # fewer positions than max_seq_len
    torch.testing.assert_close(model.logits_at(shorter, where), explicit(model, shorter)[where], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs", CONFIGS)
def test_logits_at_and_its_gradients_equal_the_explicit_path(kwargs):
    model = build_model(ModelConfig(**kwargs, init_seed=3))
    tokens, where = tokens_and_where()
    weights = torch.randn(int(where.sum()), 65, generator=torch.Generator().manual_seed(1))
    fused = model.logits_at(tokens, where)
    assert fused.shape == (int(where.sum()), 65)
    torch.testing.assert_close(fused, explicit(model, tokens)[where], rtol=1e-5, atol=1e-5)
    fast = gradients(model, lambda: model.logits_at(tokens, where), weights)
    slow = gradients(model, lambda: explicit(model, tokens)[where], weights)
    assert set(fast) == set(model.aliases().values())
    for name, grad in slow.items():
        torch.testing.assert_close(fast[name], grad, rtol=1e-5, atol=1e-5 * grad.abs().max().item(), msg=name)


def test_the_fused_path_runs_only_without_hooks(monkeypatch):
    model = build_model(ModelConfig(**CONFIGS[0]))
    tokens, where = tokens_and_where()
    calls = []
    fused = model_module.fused_logits
    monkeypatch.setattr(model_module, "fused_logits", lambda *args: calls.append(1) or fused(*args))
    model(tokens), model.logits_at(tokens, where)
    assert len(calls) == 2 and not has_hooks(model)
    # a hook anywhere sees every activation: here the full (batch, 1, T, T) pattern of the last layer
    logits, cache = run_with_cache(model, tokens, names=["blocks.1.attn.hook_pattern"])
    assert cache["blocks.1.attn.hook_pattern"].shape == (4, 1, 150, 150) and len(calls) == 2

    def uniform(pattern, hook):
        causal = torch.ones_like(pattern).tril()
        return causal / causal.sum(-1, keepdim=True)

    with hooks(model, {"blocks.1.attn.hook_pattern": uniform}):
        hooked = model(tokens)
        torch.testing.assert_close(model.logits_at(tokens, where), hooked[where], rtol=0, atol=0)
    assert len(calls) == 2 and not torch.allclose(hooked, logits)
    handle = model.blocks[0].register_forward_hook(lambda module, args, output: None)  # any module's hook counts
    model.logits_at(tokens, where)
    handle.remove()
    assert len(calls) == 2
    model.logits_at(tokens, where)
    assert len(calls) == 3


def test_vanilla_model_takes_the_explicit_path():
    model = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=150))
    tokens, where = tokens_and_where()
    torch.testing.assert_close(model.logits_at(tokens, where), model(tokens)[where], rtol=0, atol=0)


def test_no_position_selected():
    model = build_model(ModelConfig(**CONFIGS[0]))
    tokens, _ = tokens_and_where()
    assert model.logits_at(tokens, torch.zeros_like(tokens, dtype=torch.bool)).shape == (0, 65)


def test_where_is_checked():
    model = build_model(ModelConfig(**CONFIGS[0]))
    tokens, where = tokens_and_where()
    for bad in (where.long(), where[:, :10], where.tolist()):
        with pytest.raises(ValueError, match="`where` must be a bool tensor of the shape of `inputs`"):
            model.logits_at(tokens, bad)
    with pytest.raises(ValueError, match="`inputs` must be a"):
        model.logits_at(tokens.float(), where)
