"""Path interventions (path patching): labels, the direct path and receiver paths computed by hand from the weights,
the cached fast path against the full rerun under hooks, and the mechanism of the hand-set induction-head model."""

import pytest
import torch
import torch.nn.functional as F

from causalattn.lab import BigramTask, TaskConfig, evaluation_study, induction_head_model
from causalattn.lab.interventions import (
    Combined,
    HeadAblation,
    HeadPath,
    Reference,
    RolePath,
    parse_treatment,
)
from causalattn.lab.interventions.roles import resolve_roles
from causalattn.lab.models.hooks import hooks, run_with_cache
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.studies.runner import run_arms

T, D, HEADS = 10, 16, 2
D_HEAD = D // HEADS


@pytest.fixture(scope="module")
def model():
    """Three layers, two heads, LayerNorm and MLPs: every nonlinearity a path must respect."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vanilla", n_layers=3, n_heads=HEADS, d_model=D, max_seq_len=T,
                                    layer_norm=True, mlp=True, init_seed=3)).eval()
    with torch.no_grad():  # LayerNorm gains and biases away from 1 and 0, so that they are tested too
        for name, p in model.named_parameters():
            if "ln" in name:
                p.add_(0.3 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def inputs():
    return torch.randint(65, (3, T), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference(model):
    tokens = torch.randint(65, (4, T), generator=torch.Generator().manual_seed(1))
    labels = ["path:L0H1->logits:mean", "path:L0H1->logits:resample"]
    return Reference.compute(model, tokens, [parse_treatment(label) for label in labels])


@pytest.mark.parametrize("label", [
    "path:L0H0->logits:zero", "path:L0H1->L2H0.k:mean", "path:L1H0->L2H1.q:resample", "path:L0H0->L1H1.v:zero",
    "path:L0H0->logits:mean:overall", "path:L0H0->L1H0.k:zero+path:L0H0->L1H0.q:zero+ablate:L1H1:mean",
    "path_role:previous_token@L0->induction@L1.k:mean", "path_role:induction->logits:zero",
    "path_role:previous_token->induction.v:resample", "path_role:previous_token@L0->logits:zero+ablate:L1H0:zero",
])
def test_labels_round_trip(label):
    assert parse_treatment(label).label == label


def test_values():
    path = HeadPath(0, 1, "mean", receiver=(2, 0, "k"))
    assert path.label == "path:L0H1->L2H0.k:mean" and path.target == "L2H0.k"
    assert path == parse_treatment("path:L0H1->L2H0.k:mean") and len({path, HeadPath(0, 1, "mean", (2, 0, "k"))}) == 1
    assert path.ablation == HeadAblation(0, 1, "mean") and path.layers == (0,) and not path.acts_on_z_only
    assert HeadPath(1, 0).label == "path:L1H0->logits:zero"
    assert HeadPath(0, 0, "mean", per_position=False).label == "path:L0H0->logits:mean:overall"


@pytest.mark.parametrize("label, match", [
    ("path:L1H0->L0H0.k:zero", "not after the sender's layer 1"),  # a receiver in an earlier layer
    ("path:L1H0->L1H1.k:zero", "layer 1, not after the sender's layer 1"),  # in the same layer
    ("path:L1H0->L1H0.k:zero", "the sender itself"),  # the sender itself
    ("path:L0H0->L1H0.key:zero", r"must be one of \['q', 'k', 'v'\].*'key'"),  # q/k/v misspelled
    ("path:L0H0->L1H0.K:zero", r"must be one of \['q', 'k', 'v'\]"),
    ("path:L0H0->L1H0:zero", "must end at 'logits' or at a receiver's input such as 'L1H0.k'"),
    ("path:L0H0->logit:zero", "must end at 'logits'"),
    ("path:L0H0->logits:half", r"`kind` must be one of \['zero', 'mean', 'resample'\]"),
    ("path:L0H0->logits:zero:overall", "':overall' applies to mean ablation only"),
    ("path:L0H0->logits", "cannot read it"),
    ("path:L0H0-", "must be quoted: the shell reads '>' as a redirection"),  # `->logits:zero` taken by the shell
    ("path:L0H0->logits:zero+ablate:L0H0:mean",
     "'path:L0H0->logits:zero' reads the clean z of L0H0, which 'ablate:L0H0:mean' replaces"),
    ("patch:L0H0:corrupted+path:L0H0->L1H0.k:zero", "reads the clean z of L0H0, which 'patch:L0H0:corrupted' replaces"),
    ("path:L0H0->logits:zero+path:L0H0->logits:mean", "both replace the path to logits of L0H0"),
    ("path:L0H0->L1H0.k:zero+path:L0H0->L1H0.k:zero", "both replace the path to L1H0.k of L0H0"),
    ("path_role:previous_token@L0->logits:zero+ablate_role:previous_token@L0:mean",
     "reads the clean z of the previous_token head of layer 0, which 'ablate_role:previous_token@L0:mean'"),
    ("path_role:previous_token@L0->induction@L0.k:zero", "`receiver_layer` must be None or a layer after"),
    ("path_role:previous_token->induction.key:zero", r"must be one of \['q', 'k', 'v'\]"),
    ("path_role:previous_token->induction:zero", "must end at 'logits' or at a receiver's input"),
    ("path_role:copying->logits:zero", "`role` must be one of"),
])
def test_bad_labels(label, match):
    with pytest.raises(ValueError, match=match):
        parse_treatment(label)


def test_bad_values(model):
    with pytest.raises(TypeError, match="`receiver` must be None .* or a tuple"):
        HeadPath(0, 0, receiver=[1, 0, "k"])
    with pytest.raises(TypeError, match="`receiver layer` must be an integer"):
        HeadPath(0, 0, receiver=(1.0, 0, "k"))
    with pytest.raises(ValueError, match="`receiver` L3H0 of 'path:L0H0->L3H0.k:zero' is out of range"):
        HeadPath(0, 0, receiver=(3, 0, "k")).hooks(model)
    with pytest.raises(ValueError, match="`receiver` L2H2 .* is out of range: the model has 3 layer"):
        HeadPath(0, 0, receiver=(2, 2, "k")).hooks(model)
    with pytest.raises(ValueError, match="`head` 5 of 'path:L0H5->logits:zero' is out of range"):
        parse_treatment("path:L0H5->logits:zero").hooks(model)
    with pytest.raises(ValueError, match="`reference` is needed by 'path:L0H0->logits:mean'"):
        HeadPath(0, 0, "mean").hooks(model)
    with pytest.raises(ValueError, match="`receiver_layer` and `receiver_input` need a `receiver_role`"):
        RolePath("induction", receiver_input="k")
    with pytest.raises(ValueError, match="names a role, not a head"):
        parse_treatment("path_role:induction->logits:zero").hooks(model)
    # a path and an ablation of other heads combine; two paths from one sender to different places too, paths from
    # two senders into one input, and a path from a head whose pattern is fixed (every reader sees that output)
    assert Combined((HeadPath(0, 0), HeadAblation(0, 1), HeadPath(0, 0, receiver=(1, 0, "q")))).layers == (0,)
    assert len(parse_treatment("path:L0H0->L1H0.k:zero+path:L0H1->L1H0.k:mean").parts) == 2
    assert len(parse_treatment("pattern:L0H0:uniform+path:L0H0->L1H0.k:zero").parts) == 2


def _ablated_z(z, head, kind, reference_z, offset=0):
    """z with ``head`` ablated by hand: zero, the per-position mean, or the paired reference row."""
    z = z.clone()
    if kind == "zero":
        z[:, :, head] = 0
    elif kind == "mean":
        z[:, :, head] = reference_z[:, :, head].mean(0)
    else:
        rows = (torch.arange(z.shape[0]) + offset) % reference_z.shape[0]
        z[:, :, head] = reference_z[rows][:, :, head]
    return z


def _layer_norm(x, ln):
    return F.layer_norm(x, (x.shape[-1],), ln.weight, ln.bias, ln.eps)


def _change(model, layer, head, z, ablated):
    """What ablating ``head`` changes in layer ``layer``'s attention output, by hand: its slice of W_O."""
    w_o = model.blocks[layer].attn.W_O[:, head * D_HEAD: (head + 1) * D_HEAD]
    return (ablated - z)[:, :, head] @ w_o.T


@pytest.mark.parametrize("kind", ["zero", "mean", "resample"])
def test_direct_path_by_hand(model, inputs, reference, kind):
    _, clean = run_with_cache(model, inputs)
    ref_z = reference.activations["clean"]["blocks.0.attn.hook_z"]
    delta = _change(model, 0, 1, clean["blocks.0.attn.hook_z"], _ablated_z(clean["blocks.0.attn.hook_z"], 1, kind,
                                                                            ref_z, offset=2))
    final = clean["blocks.2.hook_resid_post"] + delta  # the final LayerNorm is recomputed, not linearized
    expected = _layer_norm(final, model.ln_final) @ model.W_U.T
    path = HeadPath(0, 1, kind)
    with torch.no_grad():
        fast = path.from_cache(model, run_with_cache(model, inputs, names=path.cache_names(model))[1], reference, 2)
        with hooks(model, path.hooks(model, reference, offset=2)):
            full, cache = run_with_cache(model, inputs)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(full, expected, rtol=1e-5, atol=1e-5)
    for name, value in clean.items():  # every layer saw the clean output: every activation but the last is clean
        if name != "blocks.2.hook_resid_post":
            torch.testing.assert_close(cache[name], value, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(cache["blocks.2.hook_resid_post"], final, rtol=1e-6, atol=1e-6)


def _attention_by_hand(model, layer, resid, own):
    """Layer ``layer``'s head outputs z from its clean input ``resid``, with ``own[(i, head)]``: that head's own
    input for its queries (i = 0), keys (1) or values (2)."""
    block = model.blocks[layer]
    normed = _layer_norm(resid, block.ln1)
    weights = [w.view(HEADS, D_HEAD, D) for w in (block.attn.W_Q, block.attn.W_K, block.attn.W_V)]
    q, k, v = [torch.einsum("btd,hed->bhte", normed, w) for w in weights]
    for (i, head), x in own.items():
        [q, k, v][i][:, head] = _layer_norm(x, block.ln1) @ weights[i][head].T
    scores = q @ k.transpose(-1, -2) / D_HEAD ** 0.5 + torch.full((T, T), float("-inf")).triu(1)
    return (torch.softmax(scores, -1) @ v).transpose(1, 2)  # (batch, position, head, d_head)


@pytest.mark.parametrize("receiver_input", ["q", "k", "v"])
def test_receiver_path_by_hand(model, inputs, reference, receiver_input):
    # sender L0H1, receiver L2H0: layer 1 in between reads the clean stream
    _, clean = run_with_cache(model, inputs)
    ref_z = reference.activations["clean"]["blocks.0.attn.hook_z"]
    z = clean["blocks.0.attn.hook_z"]
    delta = _change(model, 0, 1, z, _ablated_z(z, 1, "mean", ref_z))
    resid = clean["blocks.2.hook_resid_pre"]
    i = "qkv".index(receiver_input)
    z2 = _attention_by_hand(model, 2, resid, {(i, 0): resid + delta})
    expected = model.run_from_z(2, resid, z2)
    path = HeadPath(0, 1, "mean", receiver=(2, 0, receiver_input))
    with torch.no_grad():
        fast = path.from_cache(model, run_with_cache(model, inputs, names=path.cache_names(model))[1], reference, 0)
        with hooks(model, path.hooks(model, reference)):
            full, cache = run_with_cache(model, inputs)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(full, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cache["blocks.2.hook_resid_pre"], resid, rtol=0, atol=0)  # layers 0, 1 clean
    assert torch.equal(cache["blocks.2.attn.hook_z"][:, :, 1], clean["blocks.2.attn.hook_z"][:, :, 1])  # only H0
    assert not torch.allclose(cache["blocks.2.attn.hook_z"][:, :, 0], clean["blocks.2.attn.hook_z"][:, :, 0])


def test_paths_into_every_input_of_the_last_layer_add_up_to_the_ablation(model, inputs):
    # sender in layer 1, no MLP: the ablated output reaches the logits directly and through layer 2's heads only;
    # the direct path alone, and the paths into every input of layer 2 alone, are what ablation does jointly
    attention_only = build_model(ModelConfig(kind="vanilla", n_layers=3, n_heads=HEADS, d_model=D, max_seq_len=T,
                                             init_seed=3)).eval()
    ablate = HeadAblation(1, 0)
    paths = Combined(tuple(HeadPath(1, 0, receiver=(2, g, c)) for g in range(HEADS) for c in "qkv"))
    direct = HeadPath(1, 0)
    with torch.no_grad():
        _, clean = run_with_cache(attention_only, inputs)
        with hooks(attention_only, ablate.hooks(attention_only)):
            ablated = attention_only(inputs)
        with hooks(attention_only, Combined((*paths.parts, direct)).hooks(attention_only)):
            both = attention_only(inputs)
    torch.testing.assert_close(both, ablated, rtol=1e-5, atol=1e-5)
    # the last layer's heads read nothing after them: a path from layer 2 to the logits is its ablation
    with torch.no_grad(), hooks(attention_only, HeadPath(2, 1).hooks(attention_only)):
        direct_last = attention_only(inputs)
    with torch.no_grad(), hooks(attention_only, HeadAblation(2, 1).hooks(attention_only)):
        torch.testing.assert_close(direct_last, attention_only(inputs), rtol=1e-5, atol=1e-5)


def test_simplified_model_direct_path_by_hand():
    # the simplified model has no LayerNorm; W_F (the last block's feed-forward) reads the clean stream on the
    # direct path, so the direct effect of the last head differs from its total effect
    model = build_model(ModelConfig(d_model=32, max_seq_len=T, feed_forward=True, init_seed=1)).eval()
    inputs = torch.randint(65, (3, T), generator=torch.Generator().manual_seed(0))
    _, clean = run_with_cache(model, inputs)
    z = clean["blocks.1.attn.hook_z"]
    expected = (clean["blocks.1.hook_resid_post"] - z.flatten(2) @ model.blocks[1].attn.W_O.T) @ model.W_U.T
    path = HeadPath(1, 0)
    with torch.no_grad():
        fast = path.from_cache(model, run_with_cache(model, inputs, names=path.cache_names(model))[1], None, 0)
        with hooks(model, HeadAblation(1, 0).hooks(model)):
            total = model(inputs)
    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(fast, total, atol=1e-3)


def test_run_arms_takes_the_cached_path_and_equals_the_full_rerun(model, inputs):
    batch = BigramTask(TaskConfig(seq_len=T)).sample(3, torch.Generator().manual_seed(2))
    arms = [parse_treatment(label) for label in (
        "path:L0H1->logits:mean", "path:L0H1->L2H0.k:resample", "path:L1H0->L2H1.v:zero+ablate:L0H0:zero",
        "ablate:L0H1:mean")]
    reference = Reference.compute(model, torch.randint(65, (4, T), generator=torch.Generator().manual_seed(1)), arms)
    fast = run_arms(model, batch, [None, *arms], reference, offset=1, measure=lambda logits, batch: logits)
    for arm in arms:
        with torch.no_grad(), hooks(model, arm.hooks(model, reference, offset=1)):
            torch.testing.assert_close(fast[arm.label], model(batch.inputs), rtol=1e-5, atol=1e-5)


def test_role_paths_resolve_sender_and_receiver():
    import pandas as pd

    from causalattn.lab.analysis.head_scan import HeadScan

    scan = HeadScan(pd.DataFrame({"layer": [0, 0, 1, 1, 2, 2], "head": [0, 1, 0, 1, 0, 1],
                                  "induction_score": [0.9, 0.1, 0.2, 0.8, 0.3, 0.1],
                                  "previous_token_score": [0.1, 0.8, 0.0, 0.1, 0.9, 0.0]}), n_sequences=4, length=8)
    # the best induction head after the sender's layer (L0H0 scores higher but is not after L0)
    assert resolve_roles(parse_treatment("path_role:previous_token@L0->induction.k:mean"), scan).label == \
        "path:L0H1->L1H1.k:mean"
    assert resolve_roles(parse_treatment("path_role:previous_token@L0->induction@L2.q:zero"), scan).label == \
        "path:L0H1->L2H0.q:zero"
    assert resolve_roles(parse_treatment("path_role:induction@L1->logits:zero+ablate_role:previous_token@L0:zero"),
                         scan).label == "path:L1H1->logits:zero+ablate:L0H1:zero"
    with pytest.raises(ValueError, match="no receiver in a layer after the sender's, L2"):
        parse_treatment("path_role:previous_token->induction.k:zero").resolve(scan)
    with pytest.raises(ValueError, match="no receiver in layer 5: the scan has layers 0..2"):
        parse_treatment("path_role:previous_token@L0->induction@L5.k:zero").resolve(scan)
    with pytest.raises(ValueError, match="reads the clean z of L0H1, which 'ablate:L0H1:zero' replaces"):
        resolve_roles(Combined((RolePath("previous_token", 0), HeadAblation(0, 1))), scan)


def test_handset_induction_mechanism():
    """Bietti et al.'s mechanism: the previous-token head acts only through the induction head's keys, the
    induction head only directly."""
    task = BigramTask(TaskConfig(seq_len=64))
    model = induction_head_model(task, d_model=256)
    labels = ["ablate:L0H0:mean", "path:L0H0->logits:mean", "path:L0H0->L1H0.k:mean", "ablate:L1H0:mean",
              "path:L1H0->logits:mean"]
    study = evaluation_study(model, task, labels, n_sequences=100, n_resamples=999, progress=False)
    effects = {e.estimand: e for e in study.effects(adjust=None)}
    total, direct = effects["ablate:L0H0:mean"], effects["path:L0H0->logits:mean"]
    assert total.estimate < -0.5
    assert abs(direct.estimate) < 0.02 and -0.02 < direct.confidence_interval.low <= direct.confidence_interval.high \
        < 0.02
    assert abs(effects["path:L0H0->L1H0.k:mean"].estimate - total.estimate) < 0.02
    assert effects["ablate:L1H0:mean"].estimate < -0.5
    assert abs(effects["path:L1H0->logits:mean"].estimate - effects["ablate:L1H0:mean"].estimate) < 0.02


@pytest.mark.slow
def test_trained_induction_mechanism(one_thread):
    """The same on a two-layer model trained by the lab's recipe (d = 256, T = 128, 200 Muon updates, about 13 s
    of CPU): the previous-token head's effect on in-context accuracy travels through the induction head's keys.

    Not smaller: at d = 128 (or T = 64) the model learns the task too, but 0.04-0.10 of L0H0's effect goes
    another way than L1H0's keys; after 150 updates its accuracy is only 0.96."""
    from causalattn.lab import ModelConfig, TrainConfig, train

    task = BigramTask(TaskConfig(seq_len=128))
    trained = train(ModelConfig(d_model=256, max_seq_len=128), task.config,
                    TrainConfig(n_iters=200, batch_size=16, log_every=200, eval_sequences=64), progress=False)
    assert trained.history["in_context_accuracy"].iloc[-1] > 0.95
    labels = ["ablate:L0H0:zero", "path:L0H0->logits:zero", "path:L0H0->L1H0.k:zero", "ablate:L1H0:zero",
              "path:L1H0->logits:zero"]
    study = evaluation_study(trained.model, task, labels, n_sequences=100, n_resamples=999, progress=False)
    effects = {e.estimand: e for e in study.effects(adjust=None)}
    total, direct = effects["ablate:L0H0:zero"], effects["path:L0H0->logits:zero"]
    assert total.estimate < -0.5
    low, high = direct.confidence_interval
    assert abs(direct.estimate) < 0.02 and -0.02 < low <= high < 0.02
    assert abs(effects["path:L0H0->L1H0.k:zero"].estimate - total.estimate) < 0.02
    assert abs(effects["path:L1H0->logits:zero"].estimate - effects["ablate:L1H0:zero"].estimate) < 0.02


def test_a_hook_may_write_the_per_head_inputs_in_place(model, inputs):
    # each head gets its own copy of the residual stream: writing one head's input in place touches nothing else
    new = torch.randn(3, T, D, generator=torch.Generator().manual_seed(4))

    def in_place(x, hook):
        x[:, :, 1] = new
        return x

    def cloned(x, hook):
        x = x.clone()
        x[:, :, 1] = new
        return x
    with torch.no_grad():
        _, clean = run_with_cache(model, inputs, names=["blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"])
        results = []
        for fn in (in_place, cloned):
            with hooks(model, {"blocks.1.hook_k_input": fn}):
                results.append(run_with_cache(model, inputs, names=["blocks.1.hook_resid_pre", "blocks.1.attn.hook_z"]))
    (a, cache_a), (b, cache_b) = results
    assert torch.equal(a, b) and torch.equal(cache_a["blocks.1.attn.hook_z"], cache_b["blocks.1.attn.hook_z"])
    assert torch.equal(cache_a["blocks.1.hook_resid_pre"], clean["blocks.1.hook_resid_pre"])
