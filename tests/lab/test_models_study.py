"""Models as units: the nested design against a hand computation, role resolution, heterogeneity, resume."""

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from statsmodels.stats.meta_analysis import combine_effects  # noqa: E402

import causalattn.lab.studies.models_study as models_module  # noqa: E402
from causalattn.lab import (  # noqa: E402
    BigramTask,
    ModelConfig,
    TaskConfig,
    build_model,
    evaluation_study,
    head_scan,
    hooks,
)
from causalattn.lab.interventions import HeadAblation  # noqa: E402
from causalattn.lab.interventions.roles import RoleAblation  # noqa: E402
from causalattn.lab.studies.models_study import models_study  # noqa: E402
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TASK = BigramTask(TaskConfig(seq_len=32))
SCAN = RepeatedTokensTask(RepeatedTokensConfig(length=12, vocab_size=65))
ROLES = ["ablate_role:induction@L1:zero", "ablate_role:previous_token@L0:zero"]


def _model(seed):
    return build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=32, init_seed=seed))


def _permuted(model, order):
    """A copy of ``model`` whose heads are renumbered in every layer: new head h is old head ``order[h]``."""
    out = copy.deepcopy(model)
    n, dh = model.n_heads, model.d_head
    index = torch.tensor([order[h] * dh + i for h in range(n) for i in range(dh)])
    with torch.no_grad():
        for block in out.blocks:
            attn = block.attn
            for name in ("W_Q", "W_K", "W_V"):
                getattr(attn, name).copy_(getattr(attn, name)[index])  # rows: (heads * d_head, d)
            attn.W_O.copy_(attn.W_O[:, index])  # columns: (d, heads * d_head)
    return out


def _study(models, treatments=ROLES, **kwargs):
    return models_study(models, TASK, treatments, n_sequences=8, n_resamples=199, scan_task=SCAN,
                        scan_sequences=4, progress=False, **kwargs)


@pytest.fixture(scope="module")
def three():
    return _study({f"seed{s}": _model(s) for s in range(3)}, ["ablate:L1H0:zero", *ROLES])


def test_pooled_effect_is_the_t_interval_on_model_means_by_hand(three):
    level = 0.95
    for treatment in three.treatments:
        means = []
        heads = three.heads[three.heads["treatment"] == treatment].set_index("model")["label"]
        for name, study in three.studies.items():
            wide = study.units.pivot(index="sequence", columns="arm", values="in_context_loss")
            label = heads[name]
            means.append((wide[label] - wide["control"]).mean())
        means = np.array(means)
        g = len(means)
        se = means.std(ddof=1) / np.sqrt(g)
        half = stats.t.ppf(0.5 + level / 2, g - 1) * se
        est = three.effect(treatment, "in_context_loss")
        assert est.estimate == pytest.approx(means.mean(), abs=1e-12)
        assert est.standard_error == pytest.approx(se, rel=1e-9)
        assert est.confidence_interval == pytest.approx((means.mean() - half, means.mean() + half), rel=1e-9)
        assert est.pvalue == pytest.approx(2 * stats.t.sf(abs(means.mean() / se), g - 1), rel=1e-9)
        assert est.method == "clustered-paired-t" and est.details["df"] == 2 and est.n == 3 * 8
        assert est.details["unit"] == "sequence" and est.details["cluster"] == "model"
        assert est.details["n_clusters"] == 3
        # the per-model rows are each model's own evaluation study
        per_model = three.per_model(treatment, "in_context_loss")
        assert [e.estimate for e in per_model] == pytest.approx(means, abs=1e-12)
        assert [e.details["df"] for e in per_model] == [7.0] * 3
        # asked again (by heterogeneity, plot_models, the CLI), the per-model table is not recomputed
        assert three.per_model(treatment, "in_context_loss") is per_model


def test_a_role_and_an_index_naming_the_same_head_share_its_arm(three):
    for name, study in three.studies.items():
        same = three.heads.query("model == @name and treatment == @ROLES[0]")["label"].iloc[0]
        assert study.treatments.count(same) == 1
        assert three.per_model(ROLES[0])[three.models.index(name)].estimate == study.effect(same).estimate


def test_every_model_sees_the_same_held_out_sequences(three):
    inputs = [study.data.inputs for study in three.studies.values()]
    assert all(torch.equal(inputs[0], x) for x in inputs[1:])


def test_the_bootstrap_is_refused_with_three_models(three):
    with pytest.raises(ValueError, match="`method`='bootstrap' needs at least 5 units in every resampled sample, "
                                         "got 3 clusters"):
        three.effects("in_context_loss", method="bootstrap")


@pytest.mark.parametrize("method", ["t", "normal", "randomization"])
def test_every_row_is_coherent(three, method, assert_coherent):
    for outcome in ("in_context_loss", "in_context_accuracy", "global_loss"):
        assert assert_coherent(three.effects(outcome, method=method)) == 3
        assert assert_coherent(three.effects(outcome, adjust=None, method=method)) == 3
        for treatment in three.treatments:
            assert assert_coherent(three.per_model(treatment, outcome, method=method)) == 3


def test_randomization_flips_whole_models(three):
    est = three.effect(ROLES[0], "in_context_loss", method="randomization")
    assert est.method == "clustered-paired-randomization-exact"
    assert est.pvalue >= 2 / 2**3  # 3 models: 8 sign patterns, the two extreme ones


def test_roles_are_recorded_per_model(three):
    for treatment in ROLES:
        row = three.effect(treatment)
        heads = three.heads.query("treatment == @treatment")
        assert list(heads["model"]) == three.models
        pairs = zip(heads["model"], heads["label"], strict=True)
        assert row.details["heads"] == "; ".join(f"{m}={lab}" for m, lab in pairs)
        scores = {"ablate_role:induction@L1:zero": ("induction_score", 1),
                  "ablate_role:previous_token@L0:zero": ("previous_token_score", 0)}[treatment]
        for name, head, score in zip(heads["model"], heads["head"], heads["role_score"], strict=True):
            s = three.scans[name].scores.query("layer == @scores[1]")
            assert head == int(s.loc[s[scores[0]].idxmax(), "head"])
            assert score == s[scores[0]].max()
    assert three.heads.query("treatment == 'ablate:L1H0:zero'")["role_score"].isna().all()


@pytest.fixture(scope="module")
def permuted():
    """A model and its copy with the two heads of every layer swapped: the same function, other head indices."""
    model = _model(4)
    swapped = _permuted(model, [1, 0])
    tokens = TASK.sample(4, torch.Generator().manual_seed(1)).inputs
    torch.testing.assert_close(swapped(tokens), model(tokens), atol=1e-5, rtol=1e-5)  # the same function
    return model, swapped


def test_permuted_heads_resolve_to_the_permuted_index_with_identical_effects(permuted):
    model, swapped = permuted
    scan, scan_swapped = head_scan(model, SCAN, 4), head_scan(swapped, SCAN, 4)
    for role, layer in (("induction", 1), ("previous_token", 0), ("induction", None)):
        r = RoleAblation(role, layer)
        score = {"induction": "induction_score", "previous_token": "previous_token_score"}[role]
        top2 = scan.scores if layer is None else scan.scores.query("layer == @layer")
        assert np.ptp(top2[score].nlargest(2)) > 1e-4  # the role is unambiguous on this model
        a, b = r.resolve(scan), r.resolve(scan_swapped)
        assert (b.layer, b.head) == (a.layer, 1 - a.head)
    study = _study({"original": model, "swapped": swapped})
    heads = study.heads.set_index(["treatment", "model"])["head"]
    for treatment in ROLES:
        assert heads[treatment, "swapped"] == 1 - heads[treatment, "original"]
        for outcome in ("in_context_loss", "global_loss"):
            a, b = study.per_model(treatment, outcome)
            assert b.estimate == pytest.approx(a.estimate, abs=1e-5)
            assert b.standard_error == pytest.approx(a.standard_error, abs=1e-5)
    # the index treatment is a different head on the swapped model: its effects differ
    fixed = _study({"original": model, "swapped": swapped}, ["ablate:L1H0:zero"])
    a, b = fixed.per_model("ablate:L1H0:zero", "in_context_loss")
    assert abs(a.estimate - b.estimate) > 1e-4


def _fixed_pattern_by_hand(model, data, layer, head, kind):
    """Per-sequence in-context and global loss with head ``head`` of ``layer`` given a pattern written out here."""
    t = data.inputs.shape[1]
    if kind == "uniform":  # query i weighs keys 0..i equally
        fixed = torch.tensor([[1 / (i + 1) if j <= i else 0.0 for j in range(t)] for i in range(t)])
    else:  # previous token: i attends to i - 1, position 0 to itself
        fixed = torch.tensor([[1.0 if j == max(i - 1, 0) else 0.0 for j in range(t)] for i in range(t)])

    def replace(pattern, hook=None):  # (batch, heads, query, key)
        pattern = pattern.clone()
        pattern[:, head] = fixed
        return pattern

    with torch.no_grad(), hooks(model, [(f"blocks.{layer}.attn.hook_pattern", replace)]):
        logits = model(data.inputs)
    loss = torch.nn.functional.cross_entropy(logits.transpose(1, 2), data.targets, reduction="none").double()
    ic, glob = data.in_context.double(), data.non_trigger.double()
    return ((loss * ic).sum(1) / ic.sum(1)).numpy(), ((loss * glob).sum(1) / glob.sum(1)).numpy()


PATTERNS = {"pattern_role:previous_token@L0:uniform": ("previous_token_score", "uniform"),
            "pattern_role:induction@L1:previous_token": ("induction_score", "previous_token")}


def test_role_patterns_fix_the_permuted_head_as_its_index_pattern_and_a_pattern_written_by_hand(permuted):
    model, swapped = permuted
    study = _study({"original": model, "swapped": swapped}, list(PATTERNS))
    heads = study.heads.set_index(["treatment", "model"])
    for treatment, (score, kind) in PATTERNS.items():
        original, moved = heads.loc[(treatment, "original")], heads.loc[(treatment, "swapped")]
        assert (moved["layer"], moved["head"]) == (original["layer"], 1 - original["head"])
        for name, net, row in (("original", model, original), ("swapped", swapped, moved)):
            layer, head = int(row["layer"]), int(row["head"])
            assert row["label"] == f"pattern:L{layer}H{head}:{kind}"
            s = study.scans[name].scores.query("layer == @layer")
            assert row["role_score"] == s[score].max() == s.loc[s["head"] == head, score].iloc[0]
            units = study.studies[name].units
            units = units[units["arm"] == row["label"]].sort_values("sequence").reset_index(drop=True)
            # the index label on the resolved head, in a study of its own
            alone = evaluation_study(net, TASK, [row["label"]], n_sequences=8, n_resamples=199, progress=False)
            pd.testing.assert_frame_equal(alone.units[alone.units["arm"] == row["label"]].reset_index(drop=True),
                                          units)
            in_context, global_loss = _fixed_pattern_by_hand(net, alone.data, layer, head, kind)
            np.testing.assert_allclose(units["in_context_loss"], in_context, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(units["global_loss"], global_loss, rtol=1e-5, atol=1e-6)
        for outcome in ("in_context_loss", "global_loss"):  # the same head of the same function: the same effect
            a, b = study.per_model(treatment, outcome)
            assert b.estimate == pytest.approx(a.estimate, abs=1e-5)
    # the index pattern of the original's head is the other head of the swapped model: its effects differ
    label = heads.loc[(next(iter(PATTERNS)), "original"), "label"]
    a, b = _study({"original": model, "swapped": swapped}, [label]).per_model(label, "in_context_loss")
    assert abs(a.estimate - b.estimate) > 1e-4


def test_heterogeneity_is_cochrans_q_as_statsmodels(three):
    for treatment in three.treatments:
        test = three.heterogeneity(treatment, "in_context_loss")
        rows = three.per_model(treatment, "in_context_loss")
        with np.errstate(invalid="ignore"):  # statsmodels takes sqrt of its untruncated DL tau^2
            ref = combine_effects(np.array([e.estimate for e in rows]),
                                  np.array([e.standard_error for e in rows]) ** 2, method_re="dl")
        assert test.statistic == pytest.approx(ref.q, rel=1e-9)
        assert test.dof == 2
        assert test.pvalue == pytest.approx(stats.chi2.sf(ref.q, 2), rel=1e-9)
        assert test.details["i_squared"] == pytest.approx(max(ref.i2, 0.0), abs=1e-9)
        assert test.details["tau_squared"] == pytest.approx(max(ref.tau2, 0.0), rel=1e-9, abs=1e-15)
        assert test.method == "cochran-q"


def test_the_same_model_twice_is_homogeneous():
    model = _model(0)
    test = _study([model, copy.deepcopy(model)], ROLES[:1]).heterogeneity(ROLES[0], "in_context_loss")
    assert test.statistic == pytest.approx(0.0, abs=1e-9) and test.pvalue == pytest.approx(1.0)


def test_plot_models_has_one_row_per_model_and_the_pooled_one(three):
    fig = three.plot_models(ROLES[0], "in_context_loss")
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0].startswith("seed0: ablate:L1H") and labels[-1] == "pooled over models"
    assert len(labels) == 4


def test_resume_reuses_each_models_folder(tmp_path):
    models = {"a": _model(0), "b": _model(1)}
    first = _study(models, ROLES[:1], out_dir=tmp_path)
    saved = sorted(tmp_path.glob("*/arms/*.npz"))
    assert {p.parent.parent.name for p in saved} == {"a", "b"}
    stamps = {p: p.stat().st_mtime_ns for p in saved}
    again = _study(models, ROLES, out_dir=tmp_path)  # one more treatment: only its arms are computed
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    fresh = _study(models, ROLES)
    for treatment in ROLES:
        assert again.effect(treatment, "in_context_loss") == fresh.effect(treatment, "in_context_loss")
    assert again.effect(ROLES[0]) == first.effect(ROLES[0])


def test_models_study_rejects_bad_input():
    with pytest.raises(ValueError, match="`models` must hold at least 2 models"):
        _study([_model(0)])
    with pytest.raises(TypeError, match="`models` must be a sequence or a mapping"):
        _study(_model(0))
    with pytest.raises(TypeError, match=r"`models\['b'\]` must implement"):
        _study({"a": _model(0), "b": torch.nn.Linear(2, 2)})
    with pytest.raises(ValueError, match="`models`: names must be distinct"):
        _study({"a b": _model(0), "a_b": _model(1)})
    with pytest.raises(TypeError, match="`scan_task` must be None or a RepeatedTokensTask"):
        models_study([_model(0), _model(1)], TASK, ROLES, scan_task=TASK)
    with pytest.raises(ValueError, match="`scan_sequences`"):
        models_study([_model(0), _model(1)], TASK, ROLES, scan_sequences=0)
    with pytest.raises(TypeError, match="`options`: got an unexpected keyword argument 'n_seq'"):
        models_study([_model(0), _model(1)], TASK, ROLES, n_seq=3)
    with pytest.raises(ValueError, match="`n_jobs` must be a non-zero integer"):
        _study([_model(0), _model(1)], n_jobs=0)


def test_questions_reject_bad_arguments(three):
    with pytest.raises(ValueError, match="`treatment` 'ablate:L0H0:zero' is not in this study"):
        three.effect("ablate:L0H0:zero")
    with pytest.raises(ValueError, match="`outcome`"):
        three.per_model(ROLES[0], "accuracy")
    with pytest.raises(ValueError, match="`method`"):
        three.effects(method="exact")
    with pytest.raises(ValueError, match="`adjust`"):
        three.effects(adjust="bonferroni")


def test_models_study_checks_every_model_before_running(monkeypatch):
    with pytest.raises(TypeError, match="`task` must be a task"):
        models_study([_model(0), _model(1)], "bigram", ROLES)
    small = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=16))
    with pytest.raises(ValueError, match="`task` does not fit model 'model1'"):
        _study([_model(0), small])
    one_layer = build_model(ModelConfig(kind="vanilla", n_layers=1, n_heads=2, d_model=16, max_seq_len=32))
    with pytest.raises(ValueError, match="`layer` 1 of 'ablate_role:induction@L1:zero' is out of range: model 'mod"):
        _study([_model(0), one_layer])
    with pytest.raises(ValueError, match="`layer` 1 of 'ablate:L1H0:zero' is out of range"):
        _study([_model(0), one_layer], ["ablate:L1H0:zero"])

    class Configless:  # a task whose config is no dataclass: it cannot be recorded in a study folder
        config, seq_len, vocab_size = {"seq_len": 32}, TASK.seq_len, TASK.vocab_size

        def sample(self, n, generator):
            return TASK.sample(n, generator)

    scans = []
    monkeypatch.setattr(models_module, "head_scan", lambda *a, **k: scans.append(a))
    with pytest.raises(TypeError, match=r"`task` must be a task \(sample\(n, generator\) -> Batch"):
        models_study([_model(0), _model(1)], Configless(), ROLES)
    assert not scans  # refused before the first model's head scan (it used to be refused after it)
    for label, match in (("path_role:induction@L0->induction@L5.k:zero", "no receiver in layer 5"),
                         ("path_role:previous_token@L1->induction.k:zero", "no receiver in a layer after the "
                                                                          "sender's, L1")):
        with pytest.raises(ValueError, match=match):  # a role path's receiver: before any scan too
            _study([_model(0), _model(1)], [label])
    assert not scans

    @dataclasses.dataclass(frozen=True)
    class Named(HeadAblation):
        @property
        def label(self):
            return "control"

    with pytest.raises(ValueError, match="`treatments`: 'control' is the name of the control arm"):
        _study([_model(0), _model(1)], [Named(1, 0)])


def test_summary_says_what_each_interval_covers(three):
    text = three.summary("in_context_loss")
    assert "population of training runs" in text and text.count("cochran-q") == 3


def test_a_head_without_effect_gives_degenerate_rows_and_no_heterogeneity_test(assert_coherent):
    models = [_model(0), _model(1)]
    for model in models:
        with torch.no_grad():
            model.blocks[1].attn.W_O.zero_()  # layer 1 writes nothing: ablating its heads changes nothing
    study = _study(models, ROLES[:1])
    for e in study.per_model(ROLES[0], "in_context_loss"):
        assert e.estimate == 0 and e.pvalue is None and "degenerate" in e.details
    assert assert_coherent(study.effects("in_context_loss")) == 1
    with pytest.raises(ValueError, match="standard error 0"):
        study.heterogeneity(ROLES[0], "in_context_loss")
    assert "heterogeneity: `treatment`" in study.summary("in_context_loss")


def test_a_repeated_tokens_task_is_its_own_scan_task():
    task = RepeatedTokensTask(RepeatedTokensConfig(length=8, vocab_size=65))
    study = models_study([_model(0), _model(1)], task, ROLES[:1], n_sequences=4, n_resamples=99, scan_sequences=4,
                         progress=False)
    assert all(scan.length == 8 for scan in study.scans.values())


def test_a_task_with_fixed_triggers_is_scanned_on_its_repeated_triggers():
    """Models of a fixed-trigger task copy after the triggers only: the default scan repeats them."""
    models = [_model(0), _model(1)]
    study = models_study(models, TASK, ROLES[:1], n_sequences=4, n_resamples=99, scan_sequences=4, progress=False)
    triggers = set(TASK.fixed_triggers.tolist())
    batch = study.scan_task.sample(6, torch.Generator().manual_seed(0))
    assert study.scan_task.config.length == len(triggers) == 5
    assert set(batch.inputs.unique().tolist()) == triggers  # every copy is an order of the 5 triggers
    assert all(scan.length == 5 for scan in study.scans.values())
    random_task = BigramTask(TaskConfig(seq_len=32, random_triggers=True))  # no fixed triggers: random tokens
    study = models_study(models, random_task, ROLES[:1], n_sequences=4, n_resamples=99, scan_sequences=4,
                         progress=False)
    assert study.scan_task.config.length == 16 and study.scan_task.config.excluded == ()
    assert models_study(models, TASK, ["ablate:L1H0:zero"], n_sequences=4, n_resamples=99,
                        progress=False).scan_task is None
