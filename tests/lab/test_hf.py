"""The HuggingFace adapter on tiny random Llama-family and GPT-2 models: hooks reproduce the model, interventions do
what they say (checked by hand from the weights), the fast path equals the full re-run, studies run, bad input."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")  # the "hf" extra; without it these tests cannot run

import causalattn.lab.models.hf_attention as hf_attention  # noqa: E402
from causalattn.lab import BigramTask, HFModel, TaskConfig, evaluation_study, load_pretrained  # noqa: E402
from causalattn.lab.interventions import (  # noqa: E402
    Combined,
    HeadAblation,
    HeadPatch,
    HeadPath,
    PatternFreeze,
    Reference,
    parse_treatment,
)
from causalattn.lab.models.hf import HOOKED_ATTENTION  # noqa: E402
from causalattn.lab.models.hooks import hook_points, hooks, run_with_cache  # noqa: E402
from causalattn.lab.studies.runner import run_arms  # noqa: E402
from causalattn.lab.tasks.metrics import token_metrics  # noqa: E402

T, V, HEADS, KV, D = 12, 65, 4, 2, 32
D_HEAD = D // HEADS


def _llama_like(name, **extra):
    config_class = getattr(transformers, f"{name}Config")
    model_class = getattr(transformers, f"{name}ForCausalLM")
    config = config_class(num_hidden_layers=3, num_attention_heads=HEADS, num_key_value_heads=KV, hidden_size=D,
                          intermediate_size=64, vocab_size=V, max_position_embeddings=32, **extra)
    return model_class(config)


def _gpt2():
    config = transformers.GPT2Config(n_layer=3, n_head=HEADS, n_embd=D, vocab_size=V, n_positions=32,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


BUILDERS = {
    "llama": lambda: _llama_like("Llama"),
    "gpt2": _gpt2,
    "mistral": lambda: _llama_like("Mistral", sliding_window=8),  # a window shorter than the sequences
    "qwen2": lambda: _llama_like("Qwen2"),
}


def _build(family):
    torch.manual_seed(0)
    hf = BUILDERS[family]().eval()
    with torch.no_grad():  # biases and norm gains away from their initial 0 / 1, so that they are tested too
        for name, p in hf.named_parameters():
            if "norm" in name or "ln_" in name or name.endswith("bias"):
                p.add_(0.1 * torch.randn_like(p))
    return HFModel(hf)


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def model(request):
    return _build(request.param)


@pytest.fixture(scope="module")
def tokens():
    return torch.randint(V, (3, T), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference_tokens():
    return torch.randint(V, (4, T), generator=torch.Generator().manual_seed(1))


def _layer(model, layer):
    return model.hf_model.transformer.h[layer] if model.family == "gpt2" else model.hf_model.model.layers[layer]


def _values(model, layer, resid_pre):
    """(batch, head, position, d_head) values of every query head, by hand from the weights."""
    block = _layer(model, layer)
    if model.family == "gpt2":
        v = block.attn.c_attn(block.ln_1(resid_pre))[..., 2 * D:]
        return v.view(*v.shape[:2], HEADS, D_HEAD).transpose(1, 2)
    attn = block.self_attn
    v = attn.v_proj(block.input_layernorm(resid_pre)).view(*resid_pre.shape[:2], KV, D_HEAD).transpose(1, 2)
    return v.repeat_interleave(HEADS // KV, dim=1)  # query head h reads kv head h // (HEADS // KV)


def _out_weight(model, layer):
    """(d_model, heads * d_head) matrix of the output projection: attn_out = z.flatten @ W.T + bias."""
    block = _layer(model, layer)
    return block.attn.c_proj.weight.T if model.family == "gpt2" else block.self_attn.o_proj.weight


def test_sizes_and_hook_names(model):
    assert (model.n_layers, model.n_heads, model.d_head, model.d_model, model.vocab_size, model.max_len) == (
        3, HEADS, D_HEAD, D, V, 32)
    assert model.n_kv_heads == (HEADS if model.family == "gpt2" else KV)
    expected = {f"blocks.{layer}.{p}" for layer in range(3)
                for p in ("hook_resid_pre", "hook_q_input", "hook_k_input", "hook_v_input", "attn.hook_pattern",
                          "attn.hook_z", "hook_attn_out", "hook_resid_post")}
    assert set(hook_points(model)) == expected
    assert model.hook_name("z", 2) == "blocks.2.attn.hook_z"
    assert "LlamaForCausalLM" in repr(_build("llama"))


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_logits_equal_the_hf_models_own(family, tokens):
    model = _build(family)
    with torch.no_grad():
        own = model.hf_model(tokens).logits
        torch.testing.assert_close(model(tokens), own, rtol=0, atol=0)
        logits, cache = run_with_cache(model, tokens)  # every point hooked: the explicit-softmax attention runs
    torch.testing.assert_close(logits, own, rtol=1e-5, atol=1e-5)
    assert cache["blocks.2.attn.hook_pattern"].shape == (3, HEADS, T, T)
    assert cache["blocks.2.attn.hook_z"].shape == (3, T, HEADS, D_HEAD)
    # the residual stream: resid_post of layer l is resid_pre of layer l + 1
    torch.testing.assert_close(cache["blocks.0.hook_resid_post"], cache["blocks.1.hook_resid_pre"])
    # the layer adds the attention output, then its MLP
    assert model.hf_model.config._attn_implementation == "sdpa"  # restored after the call


def test_pattern_and_z_reproduce_the_forward_pass(model, tokens):
    with torch.no_grad():
        _, cache = run_with_cache(model, tokens)
        model.hf_model.config._attn_implementation = "eager"
        try:
            attentions = model.hf_model(tokens, output_attentions=True).attentions
        finally:
            model.hf_model.config._attn_implementation = "sdpa"
        for layer in range(3):
            pattern = cache[f"blocks.{layer}.attn.hook_pattern"]
            torch.testing.assert_close(pattern, attentions[layer])
            assert (pattern.triu(1) == 0).all()
            torch.testing.assert_close(pattern.sum(-1), torch.ones(3, HEADS, T))
            # z = pattern @ v for every query head, by hand from the value weights
            v = _values(model, layer, cache[f"blocks.{layer}.hook_resid_pre"])
            torch.testing.assert_close(cache[f"blocks.{layer}.attn.hook_z"], (pattern @ v).transpose(1, 2))
            # attn_out is the output projection of the flattened heads
            out = _layer(model, layer).attn.c_proj if model.family == "gpt2" else _layer(model, layer).self_attn.o_proj
            torch.testing.assert_close(cache[f"blocks.{layer}.hook_attn_out"],
                                       out(cache[f"blocks.{layer}.attn.hook_z"].flatten(2)))


def test_head_ablation_changes_only_that_heads_slice(model, tokens):
    with torch.no_grad():
        _, clean = run_with_cache(model, tokens)
        with hooks(model, HeadAblation(1, 2, "zero").hooks(model)):
            _, ablated = run_with_cache(model, tokens)
    z, z_clean = ablated["blocks.1.attn.hook_z"], clean["blocks.1.attn.hook_z"]
    assert (z[:, :, 2] == 0).all()
    torch.testing.assert_close(z[:, :, [0, 1, 3]], z_clean[:, :, [0, 1, 3]], rtol=0, atol=0)  # head 3 shares kv
    torch.testing.assert_close(ablated["blocks.1.hook_resid_pre"], clean["blocks.1.hook_resid_pre"])
    # by hand: the attention output loses head 2's term z_2 W_O[:, slice of head 2]^T, nothing else
    w_head = _out_weight(model, 1)[:, 2 * D_HEAD: 3 * D_HEAD]  # (d_model, d_head)
    expected = clean["blocks.1.hook_attn_out"] - z_clean[:, :, 2] @ w_head.T
    torch.testing.assert_close(ablated["blocks.1.hook_attn_out"], expected, rtol=1e-5, atol=1e-5)


def test_pattern_interventions_match_hand_written_attention(model, tokens, reference_tokens):
    with torch.no_grad():
        _, clean = run_with_cache(model, tokens)
        _, ref = run_with_cache(model, reference_tokens)
        v = _values(model, 2, clean["blocks.2.hook_resid_pre"])[:, 1]  # (batch, position, d_head) of head 1
        uniform = v.cumsum(1) / torch.arange(1, T + 1).view(1, T, 1)  # query t averages the values 0..t
        previous = torch.cat([v[:, :1], v[:, :-1]], 1)  # query t copies the value at t - 1 (0 at 0)
        ref_pattern = ref["blocks.2.attn.hook_pattern"][:, 1]
        from_reference = ref_pattern[[1, 2, 3]] @ v  # offset 1: rows 1, 2, 3 of the reference
        for kind, expected in (("uniform", uniform), ("previous_token", previous), ("clean", from_reference)):
            freeze = PatternFreeze(2, 1, kind)
            with hooks(model, freeze.hooks(model, reference_tokens, offset=1)):
                _, cache = run_with_cache(model, tokens)
            z = cache["blocks.2.attn.hook_z"]
            torch.testing.assert_close(z[:, :, 1], expected, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(z[:, :, [0, 2, 3]], clean["blocks.2.attn.hook_z"][:, :, [0, 2, 3]])


@pytest.mark.parametrize("family", sorted(BUILDERS))
def test_fast_path_equals_the_full_rerun(family, tokens, reference_tokens):
    model = _build(family)
    labels = ["ablate:L0H1:zero", "ablate:L1H3:mean", "ablate:L2H0:mean:overall", "ablate:L1H2:resample",
              "patch:L0H3:counterfactual", "pattern:L1H0:uniform", "pattern:L0H2:previous_token",
              "pattern:L2H1:clean", "pattern:L1H1:corrupted", "ablate:L0H0:zero+pattern:L2H3:uniform",
              "ablate:L1H0:zero+ablate:L1H1:mean", "path:L0H1->logits:mean", "path:L0H2->L2H1.k:resample",
              "path:L1H3->L2H0.q:zero", "path:L0H0->L1H2.v:mean+ablate:L2H3:zero"]
    arms = [parse_treatment(label) for label in labels]
    counterfactual = torch.randint(V, (3, T), generator=torch.Generator().manual_seed(2))
    reference = Reference.compute(model, reference_tokens, arms, sources={"counterfactual": counterfactual})
    batch = BigramTask(TaskConfig(seq_len=T)).sample(3, torch.Generator().manual_seed(0))
    out = run_arms(model, batch, [None, *arms], reference, offset=1)
    for arm in arms:
        with torch.no_grad(), hooks(model, arm.hooks(model, reference, offset=1)):
            full = token_metrics(model(batch.inputs), batch)
        torch.testing.assert_close(out[arm.label].loss, full.loss, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        plain = token_metrics(model(batch.inputs), batch)
        assert not torch.allclose(out["ablate:L0H1:zero"].loss, plain.loss)
    torch.testing.assert_close(out["control"].loss, plain.loss)


def _projection_slices(model, i, heads):
    """Columns of the q (i = 0), k (1) or v (2) projection's output that ``heads`` read (kv heads for k, v)."""
    if model.family == "gpt2":
        return [slice(i * D + h * D_HEAD, i * D + (h + 1) * D_HEAD) for h in heads]
    group = 1 if i == 0 else HEADS // KV  # query heads per projected head
    return [slice(h // group * D_HEAD, (h // group + 1) * D_HEAD) for h in heads]


def _with_projection_from(model, layer, i, heads, new_resid, tokens):
    """Logits when ``heads`` of ``layer`` project their queries (keys, values) from ``new_resid``, written as a torch
    hook on the HuggingFace projection (GPT-2's c_attn; q_proj, k_proj, v_proj), independently of the adapter."""
    block = _layer(model, layer)
    if model.family == "gpt2":
        projection, norm = block.attn.c_attn, block.ln_1
    else:
        projection, norm = (block.self_attn.q_proj, block.self_attn.k_proj, block.self_attn.v_proj)[i], \
            block.input_layernorm
    weight = projection.weight.T if model.family == "gpt2" else projection.weight  # Conv1D stores (in, out)
    new = torch.nn.functional.linear(norm(new_resid), weight, projection.bias)

    def replace(module, args, output):
        output = output.clone()
        for columns in _projection_slices(model, i, heads):
            output[..., columns] = new[..., columns]
        return output
    z = []
    handles = [projection.register_forward_hook(replace), _out_projection(model, layer).register_forward_pre_hook(
        lambda module, args: z.append(args[0].view(*args[0].shape[:2], HEADS, D_HEAD)))]
    try:
        return model.hf_model(input_ids=tokens).logits, z[0]
    finally:
        for handle in handles:
            handle.remove()


def _out_projection(model, layer):
    block = _layer(model, layer)
    return block.attn.c_proj if model.family == "gpt2" else block.self_attn.o_proj


@pytest.fixture(scope="module", params=["llama", "gpt2"])
def sharp_model(request):
    """A model with sharper attention than the random initialization's, so that a new key or query matters."""
    model = _build(request.param)
    with torch.no_grad():
        for layer in range(3):
            attention = _layer(model, layer).attn if model.family == "gpt2" else _layer(model, layer).self_attn
            for name, p in attention.named_parameters():
                if "weight" in name and "o_proj" not in name and "c_proj" not in name:
                    p.mul_(8.0)
    return model


def test_split_inputs_match_hand_written_projection_hooks(sharp_model, tokens):
    model = sharp_model
    new_resid = torch.randn(3, T, D, generator=torch.Generator().manual_seed(5))

    def give(heads):
        def replace(x, hook):
            x = x.clone()  # (batch, position, head, d_model)
            x[:, :, heads] = new_resid[:, :, None]
            return x
        return replace
    with torch.no_grad():
        clean, cache = run_with_cache(model, tokens, names=[*hook_points(model)])
        for i, point in enumerate(("q_input", "k_input", "v_input")):  # the residual stream once per query head
            assert cache[f"blocks.1.hook_{point}"].shape == (3, T, HEADS, D)
            assert torch.equal(cache[f"blocks.1.hook_{point}"][:, :, 3], cache["blocks.1.hook_resid_pre"])
            heads = [3] if i == 0 else [0, 1]  # keys and values: both query heads of kv head 0 (a whole group)
            with hooks(model, {f"blocks.1.hook_{point}": give(heads)}):
                got, changed = run_with_cache(model, tokens, names=["blocks.1.attn.hook_z"])
            logits, z = _with_projection_from(model, 1, i, heads, new_resid, tokens)
            torch.testing.assert_close(got, logits)
            torch.testing.assert_close(changed["blocks.1.attn.hook_z"], z, rtol=1e-5, atol=1e-6)
            assert (z - cache["blocks.1.attn.hook_z"]).abs().max() > 1e-3
        # grouped-query attention: one query head's key changes, its kv-group sibling keeps the clean key
        with hooks(model, {"blocks.1.hook_k_input": give([1])}):
            _, one = run_with_cache(model, tokens, names=["blocks.1.attn.hook_z"])
    z, z_clean = one["blocks.1.attn.hook_z"], cache["blocks.1.attn.hook_z"]
    torch.testing.assert_close(z[:, :, [0, 2, 3]], z_clean[:, :, [0, 2, 3]])
    assert (z[:, :, 1] - z_clean[:, :, 1]).abs().max() > 1e-5
    torch.testing.assert_close(model.attn_out(1, z_clean), cache["blocks.1.hook_attn_out"])


def _final_norm(model, x):
    if model.family == "gpt2":
        ln = model.hf_model.transformer.ln_f
        return torch.nn.functional.layer_norm(x, (D,), ln.weight, ln.bias, ln.eps)
    norm = model.hf_model.model.norm  # RMSNorm, written out
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon) * norm.weight


def _sender_change(model, layer, head, z, ablated):
    columns = slice(head * D_HEAD, (head + 1) * D_HEAD)
    return (ablated - z)[:, :, head] @ _out_weight(model, layer)[:, columns].T


def test_direct_and_receiver_paths_by_hand(sharp_model, tokens, reference_tokens):
    model = sharp_model
    direct, into_keys = HeadPath(0, 1, "mean"), Combined((HeadPath(0, 1, "mean", (2, 0, "k")),
                                                          HeadPath(0, 1, "mean", (2, 1, "k"))))
    reference = Reference.compute(model, reference_tokens, [direct])
    with torch.no_grad():
        _, clean = run_with_cache(model, tokens)
        z = clean["blocks.0.attn.hook_z"]
        ablated = z.clone()
        ablated[:, :, 1] = reference.activations["clean"]["blocks.0.attn.hook_z"][:, :, 1].mean(0)
        delta = _sender_change(model, 0, 1, z, ablated)
        final = _final_norm(model, clean["blocks.2.hook_resid_post"] + delta)
        expected = torch.nn.functional.linear(final, model.hf_model.lm_head.weight)
        fast = direct.from_cache(model, clean, reference, 0)
        with hooks(model, direct.hooks(model, reference)):
            full = model(tokens)
        torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(full, expected, rtol=1e-5, atol=1e-5)
        # both query heads of kv group 0 of layer 2 compute their keys from x_2 + delta
        expected, z = _with_projection_from(model, 2, 1, [0, 1], clean["blocks.2.hook_resid_pre"] + delta, tokens)
        with hooks(model, into_keys.hooks(model, reference)):
            full, cache = run_with_cache(model, tokens, names=["blocks.2.attn.hook_z"])
        torch.testing.assert_close(full, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(cache["blocks.2.attn.hook_z"], z, rtol=1e-5, atol=1e-6)
        assert (z - clean["blocks.2.attn.hook_z"]).abs()[:, :, :2].max() > 1e-4
        fast = into_keys.parts[0].from_cache(model, clean, reference, 0)  # one query head alone: from its layer
        with hooks(model, into_keys.parts[0].hooks(model, reference)):
            torch.testing.assert_close(fast, model(tokens), rtol=1e-5, atol=1e-5)


def test_patching_gives_the_head_its_output_on_the_counterfactual(model, tokens):
    counterfactual = torch.randint(V, (3, T), generator=torch.Generator().manual_seed(3))
    patch = HeadPatch(1, 3, "counterfactual")
    reference = Reference.compute(model, tokens[:1], [patch], sources={"counterfactual": counterfactual})
    with torch.no_grad():
        _, target = run_with_cache(model, counterfactual)
        with hooks(model, patch.hooks(model, reference)):  # offset 0, three rows: sequence i gets row i
            _, cache = run_with_cache(model, tokens)
    torch.testing.assert_close(cache["blocks.1.attn.hook_z"][:, :, 3], target["blocks.1.attn.hook_z"][:, :, 3])


def _torch_hooks(model):
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}


def test_plain_runs_keep_the_fast_attention_and_leave_no_hooks(model, tokens, monkeypatch):
    before = _torch_hooks(model)  # transformers may keep output recorders of its own
    seen = []

    def record(x, hook):
        seen.append(model.hf_model.config._attn_implementation)

    with hooks(model, {"blocks.0.hook_resid_pre": record}):
        model(tokens)
    with hooks(model, {"blocks.0.hook_resid_pre": record, "blocks.1.attn.hook_pattern": record}):
        model(tokens)
    assert seen == ["sdpa", HOOKED_ATTENTION, HOOKED_ATTENTION]
    # only the hooked layer computes its softmax explicitly; the two others keep the fused sdpa kernel
    fused = []
    real_sdpa = hf_attention.sdpa_attention_forward
    monkeypatch.setattr(hf_attention, "sdpa_attention_forward", lambda module, *a, **k: fused.append(module)
                        or real_sdpa(module, *a, **k))
    with hooks(model, {"blocks.1.attn.hook_pattern": record}):
        hooked = model(tokens)
    assert len(fused) == 2 and model.hf_model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(hooked, model(tokens), rtol=1e-5, atol=1e-5)

    def boom(x, hook):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"), hooks(model, {"blocks.1.attn.hook_z": boom}):
        model(tokens)
    assert model.hf_model.config._attn_implementation == "sdpa"
    assert _torch_hooks(model) == before


def test_evaluation_study_runs_on_an_hf_model():
    model = _build("llama")
    with torch.no_grad():  # head 1 of layer 0 is never read: its output-projection columns are zero
        model.hf_model.model.layers[0].self_attn.o_proj.weight[:, D_HEAD: 2 * D_HEAD] = 0.0
    task = BigramTask(TaskConfig(seq_len=16))
    study = evaluation_study(model, task, ["ablate:L0H1:zero", "ablate:L0H1:resample", "pattern:L1H0:uniform"],
                             n_sequences=20, batch_size=8, reference_size=4, n_resamples=99, progress=False)
    effects = {e.estimand: e for e in study.effects("in_context_loss")}
    for label in ("ablate:L0H1:zero", "ablate:L0H1:resample"):
        # every paired difference is 0: a degenerate row, SE 0, point interval, no p-value
        assert effects[label].estimate == 0 and effects[label].pvalue is None
        assert effects[label].standard_error == 0 and "degenerate" in effects[label].details
    assert effects["pattern:L1H0:uniform"].estimate != 0
    with torch.no_grad():
        control = token_metrics(model(study.data.inputs), study.data)
    tokens = study.tokens
    np.testing.assert_array_equal(tokens[tokens["arm"] == "control"]["correct"].to_numpy(),
                                  control.correct[study.data.in_context].numpy())


def test_bad_input(model, tokens, tmp_path):
    with pytest.raises(ValueError, match="`fwd_hooks`: no hook point named 'blocks.7.attn.hook_z'"):
        with hooks(model, {"blocks.7.attn.hook_z": lambda x, hook: x}):
            pass
    with pytest.raises(ValueError, match=r"`layer` must be an integer in \[0, 2\], got 3"):
        model.hook_name("z", 3)
    with pytest.raises(ValueError, match="`point` must be one of"):
        model.hook_name("mlp_out", 0)
    with pytest.raises(ValueError, match="`layer` 3 of 'ablate:L3H0:zero' is out of range"):
        HeadAblation(3, 0).hooks(model)
    with pytest.raises(ValueError, match="`head` 4 of 'pattern:L0H4:uniform' is out of range"):
        PatternFreeze(0, 4).hooks(model)
    with pytest.raises(ValueError, match="`tokens` has 33 positions, more than the model's context max_len=32"):
        model(torch.zeros(1, 33, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`tokens` must be token ids in \[0, 64\]"):
        model(torch.full((1, 4), V))
    with pytest.raises(ValueError, match=r"`tokens` must be token ids in \[0, 64\] .*got values in \[-1, 0\]"):
        model(torch.tensor([[0, -1]]))
    # before (issue 18, item 17): transformers' "cannot reshape tensor of 0 elements" (or an IndexError)
    for empty in (torch.zeros(0, 4, dtype=torch.long), torch.zeros(2, 0, dtype=torch.long)):
        with pytest.raises(ValueError, match=r"`tokens` must hold at least one sequence of at least one token, got "
                                             rf"shape \({empty.shape[0]}, {empty.shape[1]}\)"):
            model(empty)
    with pytest.raises(ValueError, match="`tokens` must be a"):
        model(tokens.float())
    with pytest.raises(ValueError, match=r"`layer` must be an integer in \[0, 3\]"):
        model.run_from(4, torch.zeros(1, 4, D))
    # before (a hostile pass, issue 18): shape errors from inside transformers
    with pytest.raises(ValueError, match=rf"`resid_pre` must be a floating-point tensor of shape \(batch, position, "
                                         rf"{D}\), got a torch.float32 tensor of shape \(1, 4, 7\)"):
        model.run_from(1, torch.zeros(1, 4, 7))
    with pytest.raises(ValueError, match=rf"`z` must be a floating-point tensor of shape \(1, 4, {HEADS}, {D_HEAD}\)"):
        model.run_from_z(1, torch.zeros(1, 4, D), torch.zeros(1, 4, 2, 3))
    with pytest.raises(ValueError, match="`sources` has no sequences named \\['counterfactual'\\]"):
        Reference.compute(model, tokens, [HeadPatch(0, 0, "counterfactual")])
    with pytest.raises(ValueError, match="`sources` must map names other than 'clean'"):
        Reference.compute(model, tokens, [HeadPatch(0, 0, "counterfactual")], sources={"clean": tokens})
    with pytest.raises(ValueError, match="`source` must be a name"):
        HeadPatch(0, 0, "a:b")


def test_unsupported_models_and_paths(tmp_path):
    torch.manual_seed(0)
    neox = transformers.GPTNeoXForCausalLM(transformers.GPTNeoXConfig(
        num_hidden_layers=1, num_attention_heads=2, hidden_size=16, intermediate_size=32, vocab_size=V))
    with pytest.raises(ValueError, match="`hf_model`: model family 'gpt_neox' .* is not supported"):
        HFModel(neox)
    with pytest.raises(TypeError, match="`hf_model` must be a transformers causal LM"):
        HFModel(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="`hf_model` must be a causal LM with a language-model head"):
        HFModel(transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=V)))
    with pytest.raises(ValueError, match="is neither a known model .* nor an existing GGUF file or checkpoint"):
        load_pretrained(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ValueError, match="is a file but not a .gguf model file"):
        load_pretrained(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="is not a model folder: no config.json and 0 .gguf files"):
        load_pretrained(tmp_path)
    (tmp_path / "broken.gguf").write_bytes(b"definitely not gguf")
    with pytest.raises(ValueError, match="transformers cannot load a causal LM from it"):
        load_pretrained(tmp_path / "broken.gguf")
    with pytest.raises(TypeError, match="`name_or_path` must be a model name or a path"):
        load_pretrained(3)
    with pytest.raises(TypeError, match="`dtype` must be a torch.dtype"):
        load_pretrained("smollm2-135m", dtype="float32")


def test_load_pretrained_reads_a_local_checkpoint_folder(tmp_path, tokens):
    from tokenizers import Tokenizer, models, pre_tokenizers

    source = _build("gpt2")
    source.hf_model.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="has no tokenizer"):
        load_pretrained(tmp_path)  # weights but no tokenizer
    words = Tokenizer(models.WordLevel({f"w{i}": i for i in range(V)}, unk_token="w0"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=words).save_pretrained(tmp_path)
    model, tokenizer = load_pretrained(tmp_path)
    assert isinstance(model, HFModel) and not model.training
    assert tokenizer("w3 w7")["input_ids"] == [3, 7]
    with torch.no_grad():
        torch.testing.assert_close(model(tokens), source(tokens))


def test_smollm2_loads_offline(smollm2):
    model, tokenizer = smollm2
    assert (model.n_layers, model.n_heads, model.n_kv_heads, model.d_head, model.d_model) == (30, 9, 3, 64, 576)
    assert model.vocab_size == 49152 and model.max_len == 8192 and model.family == "llama"
    tokens = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        logits, cache = run_with_cache(model, tokens, names=[model.hook_name("pattern", 5), model.hook_name("z", 5)])
    assert logits.shape == (1, tokens.shape[1], 49152) and torch.isfinite(logits).all()
    assert cache["blocks.5.attn.hook_pattern"].shape == (1, 9, tokens.shape[1], tokens.shape[1])
    assert cache["blocks.5.attn.hook_z"].shape == (1, tokens.shape[1], 9, 64)
    assert tokenizer.decode(logits[0, -1].argmax()).strip() == "Paris"


def test_lab_imports_transformers_only_when_asked_and_names_the_extra():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        import causalattn.lab
        assert "transformers" not in sys.modules, "import causalattn.lab imported transformers"

        class BlockTransformers:  # as on a machine without the "hf" extra
            def find_spec(self, name, path=None, target=None):
                if name == "transformers" or name.startswith("transformers."):
                    raise ImportError("transformers is blocked in this test")

        sys.meta_path.insert(0, BlockTransformers())
        try:
            causalattn.lab.load_pretrained
        except ImportError as error:
            print(error)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'pip install "causalattn[hf]"' in result.stdout


def _tiny_gguf(path):
    """A one-layer random Llama as a GGUF file written with the gguf package, with a 6-token BPE vocabulary."""
    gguf = pytest.importorskip("gguf")
    vocab, width, ffn = 8, 8, 16
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_context_length(16)
    writer.add_embedding_length(width)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(2)
    writer.add_head_count_kv(2)
    writer.add_rope_dimension_count(width // 2)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(vocab)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(["a", "b", "c", "d", "ab", "cd", "<s>", "</s>"])
    writer.add_token_types([1] * 6 + [3, 3])
    writer.add_token_merges(["a b", "c d"])
    writer.add_bos_token_id(6)
    writer.add_eos_token_id(7)
    rng = np.random.default_rng(0)
    shapes = {"token_embd.weight": (vocab, width), "output_norm.weight": (width,), "output.weight": (vocab, width),
              "blk.0.attn_norm.weight": (width,), "blk.0.ffn_norm.weight": (width,),
              **{f"blk.0.attn_{x}.weight": (width, width) for x in ("q", "k", "v", "output")},
              "blk.0.ffn_gate.weight": (ffn, width), "blk.0.ffn_up.weight": (ffn, width),
              "blk.0.ffn_down.weight": (width, ffn)}
    weights = {name: rng.standard_normal(shape).astype(np.float32) for name, shape in shapes.items()}
    for name, weight in weights.items():
        writer.add_tensor(name, weight)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return weights


def test_loading_a_gguf_file_without_progress_prints_nothing(tmp_path, capfd):
    # before: `causalattn ablate --no-progress` still drew transformers' GGUF conversion and weight-loading bars
    from transformers import modeling_gguf_pytorch_utils as gguf_loading
    from transformers.utils import logging as hf_logging

    weights = _tiny_gguf(tmp_path / "tiny.gguf")
    bar = gguf_loading.tqdm
    capfd.readouterr()
    model, tokenizer = load_pretrained(tmp_path / "tiny.gguf", progress=False)
    assert capfd.readouterr().err == ""
    # the file was read: the embedding and unembedding are the arrays written, "ab" is one BPE token
    assert model.n_layers == 1 and model.n_heads == 2 and model.vocab_size == 8
    np.testing.assert_array_equal(model.hf_model.model.embed_tokens.weight.detach().numpy(),
                                  weights["token_embd.weight"])
    np.testing.assert_array_equal(model.hf_model.lm_head.weight.detach().numpy(), weights["output.weight"])
    assert tokenizer("ab", add_special_tokens=False)["input_ids"] == [4]
    # the bars' settings are restored: the next load with progress draws both bars again
    assert gguf_loading.tqdm is bar and hf_logging.set_tqdm_hook(None) is None
    load_pretrained(tmp_path / "tiny.gguf")
    err = capfd.readouterr().err
    assert "Converting and de-quantizing GGUF tensors" in err and "Loading weights" in err


def test_a_gguf_file_is_parsed_once_per_load_and_the_gguf_module_is_restored(tmp_path, monkeypatch):
    # before: transformers parsed the file three times (configuration, weights, tokenizer) and built gguf's
    # tensor-name map once per module: 19.8 s of CPU to load SmolLM2, now 8.7 s
    import gguf

    weights = _tiny_gguf(tmp_path / "tiny.gguf")
    opened, maps = [], []
    original_reader, original_map = gguf.GGUFReader, gguf.get_tensor_name_map
    monkeypatch.setattr(gguf, "GGUFReader", lambda *a, **k: (opened.append(a), original_reader(*a, **k))[1])
    monkeypatch.setattr(gguf, "get_tensor_name_map", lambda *a: (maps.append(a), original_map(*a))[1])
    counting_reader, counting_map = gguf.GGUFReader, gguf.get_tensor_name_map
    model, tokenizer = load_pretrained(tmp_path / "tiny.gguf", progress=False)
    assert len(opened) == 1 and len(maps) == 1  # one parse, one map, for the three readings
    np.testing.assert_array_equal(model.hf_model.lm_head.weight.detach().numpy(), weights["output.weight"])
    assert tokenizer("ab", add_special_tokens=False)["input_ids"] == [4]
    assert gguf.GGUFReader is counting_reader and gguf.get_tensor_name_map is counting_map  # restored
    (tmp_path / "broken.gguf").write_bytes(b"definitely not gguf")
    with pytest.raises(ValueError, match="transformers cannot load a causal LM from it"):
        load_pretrained(tmp_path / "broken.gguf", progress=False)
    assert gguf.GGUFReader is counting_reader and gguf.get_tensor_name_map is counting_map  # restored on error
    load_pretrained(tmp_path / "tiny.gguf", progress=False)
    assert len(opened) == 2  # the next load parses the file again: nothing is kept between loads
