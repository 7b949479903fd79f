"""Prompt studies: outcomes checked against logits computed directly on each unpadded prompt."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from causalattn.lab import ModelConfig, build_model, hooks, run_with_cache
from causalattn.lab.interventions import HeadAblation
from causalattn.lab.studies.decomposition import decompose, decomposition_treatments
from causalattn.lab.studies.evaluation import CONTROL
from causalattn.lab.studies.prompts import prompt_study
from causalattn.lab.tasks.prompts import PromptSet

pytestmark = pytest.mark.usefixtures("one_thread")

WORDS = ["<unk>", "<pad>", "the", "cat", "sat", "on", "mat", "dog", "ran", "to", "a", "big", "red", "house", "in",
         "blue", "sky", "new", "york", "city"]


class WordTokenizer:
    """A word-level stand-in for a HuggingFace tokenizer: ``tokenizer(text, add_special_tokens=False)``."""

    unk_token_id = 0
    pad_token_id = 1

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [WORDS.index(w) if w in WORDS else 0 for w in text.split()]}


FRAME = pd.DataFrame({
    "prompt": ["the cat sat on the", "a big red", "the dog ran to the big", "in the blue"],
    "answer": ["mat", "house", "new york city", "sky"],
    "distractor": ["dog", "cat", "house", "mat"],
    "counterfactual": ["the dog sat on the", "a big blue", "the cat ran to the red", "in the red"],
})


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, vocab_size=20, max_seq_len=12,
                                   init_seed=3)).eval()


@pytest.fixture(scope="module")
def prompts(model):
    return PromptSet.from_frame(WordTokenizer(), FRAME, distractor="distractor", counterfactual="counterfactual",
                                max_len=model.max_len, vocab_size=model.vocab_size)


def _direct(model, fwd=(), logits_of=None):
    """Outcomes of each prompt from its own unpadded forward pass, by hand (``logits_of(tokens)``: another pass)."""
    tok = WordTokenizer()
    out = []
    for row in FRAME.itertuples():
        p, a = tok(row.prompt)["input_ids"], tok(row.answer)["input_ids"]
        d = tok(row.distractor)["input_ids"][0]
        tokens = torch.tensor([p + a])
        with torch.no_grad(), hooks(model, list(fwd)):
            logits = (model if logits_of is None else logits_of)(tokens[:, :-1])[0]
        log_probs = torch.log_softmax(logits.double(), -1)
        steps = range(len(p) - 1, len(p) + len(a) - 1)  # positions predicting the answer's tokens
        log_prob = sum(float(log_probs[t, tokens[0, t + 1]]) for t in steps)
        accuracy = float(all(int(logits[t].argmax()) == int(tokens[0, t + 1]) for t in steps))
        last = logits[len(p) - 1].double()
        out.append({"accuracy": accuracy, "log_prob": log_prob, "logit_diff": float(last[a[0]] - last[d]),
                    "in_context_loss": -log_prob / len(a)})
    return pd.DataFrame(out)


def _direct_path_of_l0h0(model):
    """Logits when head 0 of layer 0, zeroed, reaches the logits only directly (by hand: x_L + delta).

    Every block reads the clean stream; the final residual x_L gets delta = attn_out(z with head 0 zeroed) -
    attn_out(z), and goes through the final layer norm and the unembedding.
    """
    def logits_of(inputs):
        _, cache = run_with_cache(model, inputs, names=["blocks.0.attn.hook_z"])
        z = cache["blocks.0.attn.hook_z"]
        ablated = z.clone()
        ablated[:, :, 0] = 0.0
        x = model.embed(inputs)
        for block in model.blocks:
            x = block(x)
        torch.testing.assert_close(model.ln_final(x) @ model.W_U.T, model(inputs))  # the clean pass, so unrolled
        return model.ln_final(x + model.attn_out(0, ablated) - model.attn_out(0, z)) @ model.W_U.T
    return logits_of


def test_padding_tokens_and_answer_positions(prompts):
    batch = prompts.batch
    assert batch.inputs.shape == (4, 8)  # longest: 6 prompt + 3 answer tokens, minus the last
    assert prompts.last.tolist() == [4, 2, 5, 2]
    # in-context: the positions that predict answer tokens; row 2's answer has three tokens
    assert [np.flatnonzero(r).tolist() for r in batch.in_context.numpy()] == [[4], [2], [5, 6, 7], [2]]
    assert batch.inputs[1, 4:].tolist() == [1, 1, 1, 1]  # right padding with the pad token
    assert prompts.distractor.tolist() == [WORDS.index(w) for w in ["dog", "cat", "house", "mat"]]
    assert prompts.counterfactual.shape == batch.inputs.shape


def test_control_and_ablation_match_direct_computation(model, prompts):
    ablation = HeadAblation(1, 0, "zero")
    study = prompt_study(model, prompts, [ablation, "patch:L1H1:counterfactual"], batch_size=3, n_resamples=99)
    assert set(study.outcomes) >= {"accuracy", "log_prob", "logit_diff"}
    units = study.units
    for arm, fwd in ((CONTROL, ()), (ablation.label, ablation.hooks(model))):
        got = units[units["arm"] == arm].reset_index(drop=True)
        expected = _direct(model, fwd)
        for column in expected:
            np.testing.assert_allclose(got[column], expected[column], rtol=1e-5, atol=1e-6, err_msg=f"{arm} {column}")
    effect = study.effect(ablation, "logit_diff")
    d = units[units["arm"] == ablation.label]["logit_diff"].to_numpy() - units[units["arm"] == CONTROL][
        "logit_diff"].to_numpy()
    assert effect.estimate == pytest.approx(d.mean()) and effect.n == 4
    assert len(study.effects("log_prob")) == 2


def test_patching_reads_each_prompts_own_counterfactual(model, prompts):
    study = prompt_study(model, prompts, ["patch:L1H1:counterfactual"], n_resamples=99)
    tok = WordTokenizer()
    row = FRAME.iloc[1]
    p, a, c = (tok(row[k])["input_ids"] for k in ("prompt", "answer", "counterfactual"))
    with torch.no_grad():
        _, cache = run_with_cache(model, torch.tensor([c + a])[:, :-1], names=["blocks.1.attn.hook_z"])
        source = cache["blocks.1.attn.hook_z"]

        def patch(z, hook=None):
            z = z.clone()
            z[:, :, 1] = source[:, :, 1]
            return z

        with hooks(model, [("blocks.1.attn.hook_z", patch)]):
            logits = model(torch.tensor([p + a])[:, :-1])[0]
    expected = float(torch.log_softmax(logits.double(), -1)[len(p) - 1, a[0]])
    got = study.units.query("arm == 'patch:L1H1:counterfactual' and sequence == 1")["log_prob"].item()
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("outcome", ["logit_diff", "log_prob", "in_context_loss"])
def test_decomposition_of_prompt_outcomes_against_a_hand_computation(model, prompts, outcome):
    treatments = [*decomposition_treatments([(0, 0), (1, 1)], "zero"), "path:L0H0->L1H0.k:zero"]
    study = prompt_study(model, prompts, treatments, n_resamples=99)
    table = decompose(study, outcome)
    # before: "4 sequences" and details["unit"] 'sequence' for a study of prompts
    assert table.title == f"decomposition of the effects on {outcome}, 4 prompts (paired t intervals)"
    assert {row.details["unit"] for row in table} == {"prompt"} and {row.n for row in table} == {4}
    control = _direct(model)[outcome].to_numpy()
    total = _direct(model, HeadAblation(0, 0, "zero").hooks(model))[outcome].to_numpy()
    direct = _direct(model, logits_of=_direct_path_of_l0h0(model))[outcome].to_numpy()
    for part, (a, b) in {"total": (total, control), "direct": (direct, control), "indirect": (total, direct),
                         "self-repair": (direct, total)}.items():
        row = table[f"L0H0 {part}"]
        d = a - b
        half = stats.t.ppf(0.975, 3) * d.std(ddof=1) / 2  # the paired t interval of 4 prompts, by hand
        assert row.estimate == pytest.approx(d.mean(), rel=1e-5, abs=1e-6), part
        assert row.confidence_interval == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-4, abs=1e-6)
    # the identities of the decomposition, exactly for the estimates
    est = {p: table[f"L0H0 {p}"].estimate for p in ("total", "direct", "indirect", "self-repair")}
    assert est["indirect"] == pytest.approx(est["total"] - est["direct"], abs=1e-12)
    assert est["self-repair"] == pytest.approx(-est["indirect"], abs=1e-12)
    # a head of the last layer has nothing after it: its direct path is its total effect (up to float rounding)
    assert table["L1H1 direct"].estimate == pytest.approx(table["L1H1 total"].estimate, rel=1e-5, abs=1e-6)
    assert table["L1H1 indirect"].estimate == pytest.approx(0.0, abs=1e-5)
    assert table["L0H0 -> L1H0.k"].details["contrast"] == "path:L0H0->L1H0.k:zero - control"
    assert repr(study).startswith("EvaluationStudy(4 prompts x 6 arms")
    assert study.effects(outcome).title.endswith("4 prompts")


def test_bad_prompts_are_refused_with_the_argument_named(model):
    tok = WordTokenizer()
    kw = dict(max_len=model.max_len, vocab_size=model.vocab_size)
    with pytest.raises(ValueError, match="`prompts`: row 0 is 13 prompt"):
        PromptSet.from_frame(tok, pd.DataFrame({"prompt": ["the " * 13, "a"], "answer": ["cat", "mat"]}), **kw)
    with pytest.raises(ValueError, match="`prompts`: answer 'zebra' \\(row 1\\) is not in the model's vocabulary"):
        PromptSet.from_frame(tok, pd.DataFrame({"prompt": ["the", "a"], "answer": ["cat", "zebra"]}), **kw)
    with pytest.raises(ValueError, match="out-of-range ids"):
        PromptSet.from_frame(tok, pd.DataFrame({"prompt": ["the", "a"], "answer": ["cat", "city"]}), max_len=12,
                             vocab_size=18)
    with pytest.raises(ValueError, match="row 0: the distractor 'mat' starts with the answer's first token"):
        PromptSet.from_frame(tok, pd.DataFrame({"prompt": ["the", "a"], "answer": ["mat", "cat"],
                                                "d": ["mat", "dog"]}), distractor="d", **kw)
    with pytest.raises(ValueError, match="row 0: the counterfactual has 1 tokens and the prompt 2"):
        PromptSet.from_frame(tok, pd.DataFrame({"prompt": ["the cat", "a"], "answer": ["sat", "cat"],
                                                "c": ["a", "the"]}), counterfactual="c", **kw)
    with pytest.raises(ValueError, match="`prompts` must have at least 2 rows"):
        PromptSet.from_frame(tok, FRAME.head(1), **kw)
    with pytest.raises(ValueError, match="column 'answer', row 1 must be a non-empty string"):
        PromptSet.from_frame(tok, pd.DataFrame({"prompt": ["the", "a"], "answer": ["cat", ""]}), **kw)
    with pytest.raises(ValueError, match="`prompts`"):
        PromptSet.from_frame(tok, FRAME, answer="target", **kw)
    with pytest.raises(TypeError, match="`prompts` must be a PromptSet"):
        prompt_study(model, FRAME, ["ablate:L1H0:zero"])
    small = build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, vocab_size=20, max_seq_len=4))
    unchecked = PromptSet.from_frame(tok, FRAME)
    with pytest.raises(ValueError, match="`prompts` does not fit `model`"):
        prompt_study(small, unchecked, ["ablate:L1H0:zero"])
    plain = PromptSet.from_frame(tok, FRAME, **kw)
    with pytest.raises(ValueError, match=r"`seed` must be an integer in \[0, 9223372036854775807\], got -1"):
        prompt_study(model, plain, ["ablate:L1H0:zero"], seed=-1)
    study = prompt_study(model, plain, ["ablate:L1H0:zero"], n_resamples=99)
    with pytest.raises(ValueError, match="`outcome` must be one of"):
        study.effects("logit_diff")  # no distractors given
