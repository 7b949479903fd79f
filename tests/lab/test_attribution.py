"""Attribution patching equals the derivative of the outcome along the ablation (central finite differences, in
float64), and the screen splits the units as it says: the confirmed heads are measured on the other half only."""

import numpy as np
import pytest
import torch

from causalattn.lab import ModelConfig, build_model
from causalattn.lab.analysis.attribution import attribution_patching
from causalattn.lab.interventions import HeadAblation, Reference
from causalattn.lab.models.hooks import hook_points, hooks
from causalattn.lab.studies.head_map import head_map
from causalattn.lab.studies.head_screen import screen_heads
from causalattn.lab.studies.runner import replace_z
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
from causalattn.lab.tasks.units import draw_units

transformers = pytest.importorskip("transformers")

from causalattn.lab.models.hf import HFModel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

V = 40
TASK = RepeatedTokensTask(RepeatedTokensConfig(length=6, vocab_size=V, bos_token=0, excluded=(0,)))


def _models():
    torch.manual_seed(0)
    llama = transformers.LlamaForCausalLM(transformers.LlamaConfig(
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, hidden_size=32, intermediate_size=64,
        vocab_size=V, max_position_embeddings=32))
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_head=4, n_embd=32, vocab_size=V,
                                                                n_positions=32))
    lab = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, vocab_size=V, max_seq_len=16))
    return {"lab": lab.double().eval(), "gpt2": HFModel(gpt2.double().eval()),
            "llama_gqa": HFModel(llama.double().eval())}


# Llama's RMSNorm and rotary embeddings compute in float32 even in a float64 model: a larger step, a looser match
STEPS = {"lab": (1e-5, 1e-8), "gpt2": (1e-5, 1e-8), "llama_gqa": (1e-3, 2e-5)}


@pytest.mark.parametrize("name", sorted(STEPS))
@pytest.mark.parametrize("outcome", ["in_context_loss", "in_context_accuracy"])
def test_attribution_is_the_directional_derivative_along_the_ablation(name, outcome):
    model = _models()[name]
    units, reference_tokens = draw_units(TASK, 4, 0, 3)
    arms = [HeadAblation(layer, head, "mean") for layer in range(model.n_layers) for head in range(model.n_heads)]
    reference = Reference.compute(model, reference_tokens, arms)
    atp = attribution_patching(model, units, arms, reference, outcome=outcome, batch_size=3)
    assert atp.outcome == "in_context_loss"  # an accuracy is attributed through its loss
    outcomes, (eps, atol) = units.outcomes(), STEPS[name]
    for index, arm in enumerate(arms):
        layer, name_z = arm.layers[0], model.hook_name("z", arm.layers[0])

        def shifted(step, arm=arm, layer=layer, name_z=name_z):
            def fn(z, hook=None):  # z + step * (z' - z) on the arm's head only
                ablated = replace_z(model, layer, z, arm.hooks(model, reference))
                return z + step * (ablated - z)
            with torch.no_grad(), hooks(model, [(name_z, fn)]):
                return outcomes(model(units.batch.inputs)[outcomes.where], ("in_context_loss",))["in_context_loss"]
        derivative = (shifted(eps) - shifted(-eps)) / (2 * eps)
        np.testing.assert_allclose(atp.scores[index], derivative.numpy(), rtol=1e-5, atol=atol)
    assert hook_points(model)  # still usable, no hook left behind
    assert all(p.requires_grad for p in model.parameters())  # restored
    frame = atp.to_frame()
    assert sorted(frame["rank"]) == list(range(1, len(arms) + 1))
    assert atp.top(1)[0] == tuple(frame.loc[frame["rank"] == 1, ["layer", "head"]].iloc[0])


def test_the_screen_confirms_on_the_other_half_only():
    model = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=3, d_model=18, vocab_size=V, max_seq_len=16))
    options = dict(kind="mean", n_sequences=10, reference_size=4, seed=3, n_resamples=99, progress=False)
    screen = screen_heads(model, TASK, top=2, **options)
    assert len(screen.screen_units) == 5 and len(screen.confirm_units) == 5
    assert sorted([*screen.screen_units, *screen.confirm_units]) == list(range(10))
    again = screen_heads(model, TASK, top=2, **options)
    np.testing.assert_array_equal(again.screen_units, screen.screen_units)  # the split is seeded
    full = head_map(model, TASK, **options)
    rows = [full.heads.index(h) for h in sorted(screen.selected)]
    for name in full.outcomes:  # the confirmed outcomes are the full map's, on the confirming units only
        np.testing.assert_allclose(screen.confirmed.control[name], full.control[name][screen.confirm_units])
        np.testing.assert_allclose(screen.confirmed.treated[name], full.treated[name][rows][:, screen.confirm_units],
                                   rtol=1e-6)
    assert screen.confirmed.n == 5 and len(screen.confirmed.effects()) == 2
    assert "on 5 of the 10 sequences; the top 2 of 6 measured exactly on the other 5" in screen.summary()
    frame = screen.to_frame()
    assert frame["selected"].sum() == 2 and set(frame.loc[frame["selected"], "rank"]) == {1, 2}
    assert -1 <= screen.spearman(full) <= 1
    with pytest.raises(ValueError, match="`top` 7 is more than the 6 heads screened"):
        screen_heads(model, TASK, top=7, **options)
    with pytest.raises(ValueError, match="two halves of at least 2 units"):
        screen_heads(model, TASK, top=1, **{**options, "n_sequences": 3})
