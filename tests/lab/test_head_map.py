"""The head map: the stacked fast path equals re-running the model per head (lab model, tiny GPT-2, tiny Llama with
grouped-query attention), the prompt outcomes equal prompt_study's, the adjustments equal statsmodels', coherence,
resuming, bad input."""

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats
from statsmodels.stats.multitest import multipletests

from causalattn import paired_effect
from causalattn._streams import question_rng
from causalattn.lab import BigramTask, ModelConfig, TaskConfig, build_model, induction_head_model
from causalattn.lab.interventions import HeadAblation, HeadPatch, Reference
from causalattn.lab.models.hooks import hooks
from causalattn.lab.studies.checksummed import DamagedFileWarning
from causalattn.lab.studies.head_map import head_map, select_heads
from causalattn.lab.studies.head_runner import run_heads
from causalattn.lab.studies.head_table import HEAD_COLUMNS
from causalattn.lab.studies.prompts import prompt_study
from causalattn.lab.studies.table import DETAIL_KEYS
from causalattn.lab.tasks.outcomes import UnitOutcomes
from causalattn.lab.tasks.prompts import PromptSet
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask

transformers = pytest.importorskip("transformers")

from causalattn.lab.models.hf import HFModel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

V = 40
TASK = RepeatedTokensTask(RepeatedTokensConfig(length=6, vocab_size=V, bos_token=0, excluded=(0,)))


def _hf(family):
    torch.manual_seed(0)
    if family == "gpt2":
        config = transformers.GPT2Config(n_layer=3, n_head=4, n_embd=32, vocab_size=V, n_positions=32)
        hf = transformers.GPT2LMHeadModel(config)
    else:  # grouped-query attention: 4 query heads share 2 key/value heads
        config = transformers.LlamaConfig(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                          hidden_size=32, intermediate_size=64, vocab_size=V,
                                          max_position_embeddings=32)
        hf = transformers.LlamaForCausalLM(config)
    return HFModel(hf.eval())


MODELS = {
    "lab": lambda: build_model(ModelConfig(kind="vanilla", n_layers=3, n_heads=4, d_model=32, vocab_size=V,
                                           max_seq_len=16, mlp=True, layer_norm=True)).eval(),
    "gpt2": lambda: _hf("gpt2"),
    "llama_gqa": lambda: _hf("llama"),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    return MODELS[request.param]()


def test_where_gives_the_logits_at_those_positions_only(model):
    from causalattn.lab.models.hooks import run_with_cache

    batch = TASK.sample(3, torch.Generator().manual_seed(0))
    names = [model.hook_name("resid_pre", 1), model.hook_name("z", 1)]
    with torch.no_grad():
        logits, cache = run_with_cache(model, batch.inputs, names=names)
        where = batch.in_context
        np.testing.assert_allclose(model.run_from(1, cache[names[0]], where=where), logits[where], atol=1e-5)
        np.testing.assert_allclose(model.run_from_z(1, cache[names[0]], cache[names[1]], where=where), logits[where],
                                   atol=1e-5)
        with pytest.raises(ValueError, match=r"`where` must be None or a bool tensor of shape \(3, 12\)"):
            model.run_from(1, cache[names[0]], where=where[:2])


@pytest.mark.parametrize("kind", ["zero", "mean", "resample"])
def test_stacked_fast_path_equals_rerunning_the_model_per_head(model, kind):
    batch = TASK.sample(5, torch.Generator().manual_seed(0))
    reference_tokens = TASK.sample(3, torch.Generator().manual_seed(1)).inputs
    arms = [HeadAblation(layer, head, kind) for layer in range(3) for head in range(4)]
    reference = Reference.compute(model, reference_tokens, arms)
    outcomes = UnitOutcomes.of(batch)
    control, treated = run_heads(model, batch, arms, reference, 2, outcomes, per_forward=3)
    with torch.no_grad():
        naive_control = outcomes(model(batch.inputs)[batch.in_context])
        for arm in arms:
            with hooks(model, arm.hooks(model, reference, offset=2)):
                naive = outcomes(model(batch.inputs)[batch.in_context])
            for name, value in naive.items():
                np.testing.assert_allclose(treated[arm.label][name], value.numpy(), rtol=1e-5, atol=1e-5)
    for name, value in naive_control.items():
        np.testing.assert_allclose(control[name], value.numpy(), rtol=1e-6, atol=1e-6)
    losses = np.array([treated[arm.label]["in_context_loss"] for arm in arms])
    assert np.ptp(losses, axis=0).min() > 0  # the heads differ: a wrong head would be seen


@pytest.mark.parametrize("treatments, last", [
    (["ablate:L0H1:mean"], 0),  # the head map's reference of layer 0: part of one layer of the model
    (["ablate:L0H0:mean", "ablate:L1H3:resample", "pattern:L1H2:corrupted"], 1),
    (["patch:L0H2:counterfactual", "path:L1H0->L2H1.k:mean", "pattern:L2H0:clean"], 2),
])
def test_the_reference_stops_after_the_last_point_it_needs(model, treatments, last):
    """Reference.compute's forward passes stop once the activations needed are cached (before: every layer and the
    unembedding ran); the activations equal a full run_with_cache pass, bit for bit, and no hook is left behind."""
    from causalattn.lab.interventions import parse_treatment
    from causalattn.lab.models.hooks import has_hooks, run_with_cache

    tokens = TASK.sample(4, torch.Generator().manual_seed(1)).inputs
    counterfactual = TASK.sample(4, torch.Generator().manual_seed(2)).inputs
    arms = [parse_treatment(label) for label in treatments]
    reached = []
    probes = [(model.hook_name("resid_post", layer), lambda x, hook, layer=layer: reached.append(layer))
              for layer in range(model.n_layers)]
    with hooks(model, probes):
        reference = Reference.compute(model, tokens, arms, sources={"counterfactual": counterfactual},
                                      generator=torch.Generator().manual_seed(3))
    assert max(reached, default=-1) < last  # every pass stopped inside layer `last` at the latest (and before: all)
    assert not has_hooks(model)
    inputs = {"clean": tokens, "counterfactual": counterfactual,
              "corrupted": tokens.gather(1, torch.argsort(torch.rand(tokens.shape,
                                                                     generator=torch.Generator().manual_seed(3)),
                                                          dim=1))}
    needed = {}
    for arm in arms:
        for source, name in arm.needs(model):
            needed.setdefault(source, set()).add(name)
    assert {source: set(acts) for source, acts in reference.activations.items()} == needed
    with torch.no_grad():
        for source, names in needed.items():
            _, full = run_with_cache(model, inputs[source], names=sorted(names))
            for name in names:
                assert torch.equal(reference.activations[source][name], full[name]), (source, name)
        clean = model(tokens)
    with torch.no_grad():  # the model is left as it was: a full pass after the stopped ones gives the same logits
        assert torch.equal(model(tokens), clean)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
def test_the_loss_matches_float64_cross_entropy_on_a_large_vocabulary(dtype):
    """The in-context loss (log-sum-exp in the logits' precision, float64 subtraction) against torch's
    float64 cross-entropy of the same logits: within one float32 rounding at 49,152 tokens; gradients too."""
    batch = RepeatedTokensTask(RepeatedTokensConfig(length=8, vocab_size=49_152)).sample(
        3, torch.Generator().manual_seed(0))
    outcomes = UnitOutcomes.of(batch)
    logits = (torch.randn(len(outcomes.targets), 49_152, generator=torch.Generator().manual_seed(1)) * 4).to(dtype)
    logits.requires_grad_(True)
    loss = outcomes(logits)["in_context_loss"]
    exact = torch.nn.functional.cross_entropy(logits.detach().double(), outcomes.targets, reduction="none")
    expected = torch.zeros(3, dtype=torch.float64).index_add(0, outcomes.unit, exact) / 7  # 7 read positions
    assert loss.dtype == torch.float64
    np.testing.assert_allclose(loss.detach().numpy(), expected.numpy(), rtol=0, atol=4e-6)
    loss.sum().backward()
    reference = logits.detach().double().requires_grad_(True)
    (torch.nn.functional.cross_entropy(reference, outcomes.targets, reduction="sum") / 7).backward()
    np.testing.assert_allclose(logits.grad.double().numpy(), reference.grad.numpy(),
                               atol=1e-7 if dtype != torch.bfloat16 else 1e-3)


def test_stacking_and_batching_do_not_change_the_map(model):
    maps = [head_map(model, TASK, kind="mean", n_sequences=7, batch_size=b, per_forward=k, reference_size=4,
                     n_resamples=99, progress=False) for b, k in ((7, 12), (3, 1), (2, 5))]
    for other in maps[1:]:
        for name in maps[0].outcomes:
            np.testing.assert_allclose(other.treated[name], maps[0].treated[name], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(other.control[name], maps[0].control[name], rtol=1e-5, atol=1e-6)


class WordTokenizer:
    """Whitespace words -> ids, the interface PromptSet.from_frame uses (``tokenizer(text, add_special_tokens)``)."""

    pad_token_id = 0
    unk_token_id = None

    def __init__(self, words):
        self.ids = {word: i + 1 for i, word in enumerate(words)}

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self.ids[w] for w in text.split()]}


def _prompts():
    words = [f"w{i}" for i in range(V - 1)]
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(9):
        prompt = " ".join(rng.choice(words, size=rng.integers(3, 7)))
        answer, distractor = rng.choice(words, size=2, replace=False)
        counterfactual = " ".join(rng.choice(words, size=len(prompt.split())))
        rows.append((prompt, f"{answer} {rng.choice(words)}", distractor, counterfactual))
    frame = pd.DataFrame(rows, columns=["prompt", "answer", "distractor", "counterfactual"])
    return PromptSet.from_frame(WordTokenizer(words), frame, distractor="distractor", counterfactual="counterfactual",
                                max_len=16, vocab_size=V)


@pytest.mark.parametrize("kind", ["mean", "patch"])
def test_prompt_outcomes_equal_prompt_study(model, kind):
    prompts = _prompts()
    result = head_map(model, prompts, layers=[1, 2], kind=kind, batch_size=4, n_resamples=99, progress=False)
    arms = [HeadPatch(layer, head, "counterfactual") if kind == "patch" else HeadAblation(layer, head, kind)
            for layer, head in result.heads]
    study = prompt_study(model, prompts, arms, batch_size=4, n_resamples=99)
    units = study.units.set_index(["arm", "sequence"])
    for name in ("accuracy", "log_prob", "logit_diff", "in_context_accuracy", "in_context_loss"):
        np.testing.assert_allclose(result.control[name], units.loc["control"][name], rtol=1e-5, atol=1e-5)
        for i, arm in enumerate(arms):
            np.testing.assert_allclose(result.treated[name][i], units.loc[arm.label][name], rtol=1e-5, atol=1e-5)
    assert result.outcome == "logit_diff" and result.unit == "prompt"


@pytest.fixture(scope="module")
def induction():
    task = BigramTask(TaskConfig(seq_len=64))
    return head_map(induction_head_model(task, d_model=128), task, kind="zero", n_sequences=24, n_resamples=999,
                    progress=False)


def test_adjusted_columns_equal_statsmodels_multipletests(model, assert_coherent):
    result = head_map(model, TASK, kind="resample", n_sequences=12, reference_size=5, n_resamples=99, progress=False)
    for method in ("t", "normal"):
        table = result.effects("in_context_loss", method=method)
        assert_coherent(table)
        frame = result.to_frame("in_context_loss", method=method)
        assert list(frame.columns) == list(HEAD_COLUMNS) and len(frame) == 12
        for name, other in (("holm", "holm"), ("bh", "fdr_bh"), ("by", "fdr_by")):
            np.testing.assert_allclose(frame[f"pvalue_{name}"], multipletests(frame["pvalue"], method=other)[1])
    # each row is the paired t test of its head's differences, computed here by hand
    diffs = result.treated["in_context_loss"][3] - result.control["in_context_loss"]
    t = diffs.mean() / (diffs.std(ddof=1) / np.sqrt(len(diffs)))
    row = result.to_frame("in_context_loss").iloc[3]
    assert row["pvalue"] == pytest.approx(2 * stats.t.sf(abs(t), len(diffs) - 1), rel=1e-10)
    assert row["standard_error"] == pytest.approx(diffs.std(ddof=1) / np.sqrt(len(diffs)), rel=1e-12)
    # the study tables' vocabulary (issue 17): the arm means under the same names as every study's details
    assert {"mean_treated", "mean_control"} <= set(HEAD_COLUMNS) & set(DETAIL_KEYS)
    assert row["mean_treated"] == pytest.approx(result.treated["in_context_loss"][3].mean(), rel=1e-12)
    assert row["mean_control"] == pytest.approx(result.control["in_context_loss"].mean(), rel=1e-12)


def test_the_map_is_a_study_table_with_every_studys_options(monkeypatch):
    result = head_map(MODELS["lab"](), TASK, layers=[1], kind="zero", n_sequences=10, seed=4, n_resamples=99,
                      progress=False)
    label, outcome = "ablate:L1H2:zero", "in_context_loss"
    y1, y0 = result.treated[outcome][2], result.control[outcome]
    diffs = y1 - y0
    # confidence_level: the paired t interval at 90%, by hand
    row = result.effects(outcome, confidence_level=0.9)[2]
    half = stats.t.ppf(0.95, 9) * diffs.std(ddof=1) / np.sqrt(10)
    np.testing.assert_allclose(row.confidence_interval, (diffs.mean() - half, diffs.mean() + half), rtol=1e-12)
    assert row.estimand == label and set(DETAIL_KEYS) <= set(row.details)
    assert (row.details["layer"], row.details["head"], row.details["adjustment"]) == (1, 2, "holm")
    assert row.details["pvalue_adjusted"] == row.details["pvalue_holm"]
    # adjust: pvalue_adjusted is that adjustment's, the three columns are there whatever it is
    by = result.effects(outcome, adjust="by")
    assert [e.details["pvalue_adjusted"] for e in by] == [e.details["pvalue_by"] for e in by]
    unadjusted = result.effects(outcome, adjust=None)
    assert unadjusted[2].details["pvalue_adjusted"] is None and unadjusted[2].details["pvalue_bh"] is not None
    # rng and n_resamples: the map's seed by default, each (head, outcome) question its own stream
    for rng, seed in ((None, 4), (9, 9)):
        boot = result.effects(outcome, method="bootstrap", n_resamples=99, rng=rng)[2]
        direct = paired_effect(y1, y0, method="bootstrap", n_resamples=99, rng=question_rng(seed, label, outcome))
        assert (boot.confidence_interval, boot.pvalue) == (direct.confidence_interval, direct.pvalue)
    default = result.effects(outcome, method="bootstrap", n_resamples=99)[2]
    assert default.confidence_interval != boot.confidence_interval  # rng=9 is another stream than the map's seed 4
    # another adjustment reuses the rows: the effect layer runs once per (head, outcome) and procedure
    import causalattn.lab.studies.head_table as head_table

    calls, real = [], head_table.study_effect
    monkeypatch.setattr(head_table, "study_effect", lambda *a, **k: calls.append(k["treatment"]) or real(*a, **k))
    for adjust in ("holm", "by", None, "bh"):
        result.effects(outcome, method="normal", adjust=adjust)
    assert len(calls) == 4 and result.to_frame(outcome, method="normal", adjust="by")["pvalue"].notna().all()
    assert len(calls) == 4
    # the frame, the discoveries, the summary and the plot take the same options
    frame = result.to_frame(outcome, alpha=0.5, adjust="bh", confidence_level=0.9)
    np.testing.assert_allclose(frame.loc[2, ["ci_low", "ci_high"]].astype(float), row.confidence_interval)
    assert frame["discovery"].tolist() == (frame["pvalue_bh"] < 0.5).tolist()
    assert "t 90% interval per head" in result.summary(outcome, confidence_level=0.9)
    with pytest.raises(ValueError, match=r"`adjust` must be one of \['holm', 'bh', 'by'\], got 'bonferroni'"):
        result.discoveries(outcome, adjust="bonferroni")
    with pytest.raises(TypeError, match="`adjust` must be a string"):
        result.plot(outcome, adjust=None)
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        result.to_frame(confidence_level=95)
    with pytest.raises(TypeError, match="`outcome` must be a string"):  # the level is `alpha=`, by name
        result.discoveries(0.05)


def test_discoveries_and_heatmap_of_the_induction_model(induction):
    assert induction.discoveries(alpha=0.05, adjust="holm")[["layer", "head"]].values.tolist() == [[1, 0], [0, 0]]
    frame = induction.to_frame(alpha=0.05, adjust="by")
    assert frame["discovery"].tolist() == [True, True]
    assert frame["estimate"].iloc[1] < -0.4  # the induction head
    text = induction.summary()
    assert "discoveries (holm, alpha = 0.05): L1H0, L0H0" in text and "unadjusted 2, holm 2, bh 2, by 2" in text
    fig = induction.plot()
    assert len(fig.axes[0].patches) == 2  # both discoveries outlined


def test_a_head_without_any_change_counts_as_p_one():
    # a model whose layer-0 heads are never read: zeroing them changes no logit, so their rows have no t test
    model = MODELS["lab"]()
    with torch.no_grad():
        model.blocks[0].attn.W_O.zero_()
    result = head_map(model, TASK, layers=[0, 2], kind="zero", n_sequences=10, n_resamples=99, progress=False)
    frame = result.to_frame("in_context_loss")
    assert frame["pvalue"].iloc[:4].isna().all() and frame["pvalue"].iloc[4:].notna().all()
    tested = frame["pvalue"].iloc[4:].to_numpy()
    np.testing.assert_allclose(frame["pvalue_holm"].iloc[4:],
                               multipletests(np.r_[tested, np.ones(4)], method="holm")[1][:4])
    assert "4 heads changed every sequence by the same amount" in result.summary(outcome="in_context_loss")
    one = head_map(model, TASK, heads=[(0, 1), (2, 0)], kind="zero", n_sequences=10, n_resamples=99, progress=False)
    assert "\n1 head changed every sequence by the same amount" in one.summary(outcome="in_context_loss")


def test_resume_reuses_every_saved_head(tmp_path, monkeypatch):
    model = MODELS["lab"]()
    options = dict(kind="mean", n_sequences=6, batch_size=4, reference_size=3, n_resamples=99, progress=False)
    first = head_map(model, TASK, layers=[1], out_dir=tmp_path, **options)
    files = sorted(p.name for p in (tmp_path / "heads").iterdir())
    assert files[:5] == ["batch00000__L1H0.npz", "batch00000__L1H1.npz", "batch00000__L1H2.npz",
                         "batch00000__L1H3.npz", "batch00000__control.npz"] and len(files) == 10
    (tmp_path / "heads" / "batch00001__L1H2.npz").write_bytes(b"damaged")
    ran = []
    import causalattn.lab.studies.head_map as module

    real = module.run_heads
    monkeypatch.setattr(module, "run_heads", lambda *a, **k: ran.append([arm.label for arm in a[2]]) or real(*a, **k))
    with pytest.warns(DamagedFileWarning, match="batch00001__L1H2.npz"):
        again = head_map(model, TASK, layers=[1], out_dir=tmp_path, **options)
    assert ran == [["ablate:L1H2:mean"]]  # only the damaged head of the second batch is recomputed
    np.testing.assert_array_equal(again.treated["in_context_loss"], first.treated["in_context_loss"])
    ran.clear()
    wider = head_map(model, TASK, heads=[(1, 0), (2, 3)], out_dir=tmp_path, **options)  # layer 1's head reused
    assert ran == [["ablate:L2H3:mean"], ["ablate:L2H3:mean"]]
    np.testing.assert_array_equal(wider.treated["in_context_loss"][0], first.treated["in_context_loss"][0])
    with pytest.raises(ValueError, match="other units"):
        head_map(model, TASK, layers=[1], out_dir=tmp_path, **{**options, "n_sequences": 7})


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(layers=[3]), ValueError, r"`layers`: layer 3 is out of range: the model has 3 \(layers 0..2\)"),
    (dict(layers=[]), ValueError, "`layers` selects no head"),
    (dict(heads=[]), ValueError, "`heads` selects no head"),
    (dict(layers=[1, 1]), ValueError, r"`layers` names a layer twice: \[1\]"),
    (dict(heads=[(0, 1), (0, 1)]), ValueError, r"`heads` names a head twice: \[\(0, 1\)\]"),
    (dict(heads=[(0, 4)]), ValueError, "`heads`: head 4 is out of range"),
    (dict(heads=[(0,)]), TypeError, r"`heads` must hold \(layer, head\) pairs"),
    (dict(layers=[0], heads=[(0, 0)]), ValueError, "give one of them"),
    (dict(layers="0"), TypeError, "`layers` must be a sequence"),
    (dict(kind="mean_overall"), ValueError, "`kind` must be one of"),
    (dict(kind="patch"), ValueError, "counterfactual column"),
    (dict(outcome="accuracy"), ValueError, "`outcome` must be one of"),
    (dict(n_sequences=1), ValueError, "`n_sequences` must be an integer >= 2"),
    (dict(batch_size=0), ValueError, "`batch_size` must be a positive integer"),
    (dict(per_forward=0), ValueError, "`per_forward` must be a positive integer"),
    (dict(confidence_level=95), ValueError, "confidence_level"),
    (dict(seed=1.5), TypeError, r"`seed` must be an integer in \[0, 9223372036854775807\], got 1.5"),
    (dict(seed=-1), ValueError, r"`seed` must be an integer in \[0, 9223372036854775807\], got -1"),
    (dict(seed=2**70), ValueError, r"`seed` must be an integer in \[0, 9223372036854775807\]"),  # was an overflow
])
def test_bad_options_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        head_map(MODELS["lab"](), TASK, **{"n_sequences": 4, "progress": False, **kwargs})


def test_bad_data_and_alpha():
    model = MODELS["lab"]()
    with pytest.raises(TypeError, match="`data` must be a task"):
        head_map(model, "sequences", progress=False)
    long = RepeatedTokensTask(RepeatedTokensConfig(length=9, vocab_size=V))  # 17 positions > max_len 16
    with pytest.raises(ValueError, match="`data` does not fit `model`: sequences of 17 tokens"):
        head_map(model, long, progress=False)
    with pytest.raises(ValueError, match="`n_sequences` must be None with prompts"):
        head_map(model, _prompts(), n_sequences=5, progress=False)
    # before: the map was computed, and every head's effect refused for want of pairs
    with pytest.raises(ValueError, match=r"^`n_sequences`: only [01] of the 4 sequences drawn have an in-context "
                                         r"position"):
        head_map(build_model(ModelConfig(d_model=16, max_seq_len=2)), BigramTask(TaskConfig(seq_len=2)),
                 n_sequences=4, progress=False)
    result = head_map(model, TASK, layers=[2], n_sequences=4, n_resamples=99, progress=False)
    for alpha in (0, 1, -0.1, 1.5, True, "0.05"):
        with pytest.raises(ValueError, match=r"`alpha` must be a number in \(0, 1\)"):
            result.discoveries(alpha=alpha)
    with pytest.raises(ValueError, match="`adjust` must be one of"):
        result.to_frame(adjust="bonferroni")
    assert select_heads(model, layers=range(1, 3))[0] == (1, 0)
