"""The one study-table builder: rows per (treatment, outcome), adjustment within families, one signature everywhere."""

import inspect
import re

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from causalattn import paired_effect, pvalue_equation
from causalattn._streams import question_rng
from causalattn.lab import BigramTask, ModelConfig, TaskConfig, TrainingStudy, build_model, induction_head_model
from causalattn.lab.studies.evaluation import EvaluationStudy, evaluation_study
from causalattn.lab.studies.head_table import HeadMap
from causalattn.lab.studies.models_study import ModelsStudy, models_study
from causalattn.lab.studies.table import DETAIL_KEYS, EffectOptions, StudyEffects, study_effect, study_table
from causalattn.multiple_testing import ADJUSTMENTS

RNG = np.random.default_rng(20261201)
CONTROL = RNG.normal(0.8, 0.1, 12)
TREATED = {"h0": CONTROL - 0.3 + RNG.normal(0, 0.05, 12), "h1": CONTROL + RNG.normal(0, 0.05, 12),
           "h2": CONTROL - 0.05 + RNG.normal(0, 0.05, 12)}


def _effect(treatment, outcome):
    shift = {"accuracy": 0.0, "loss": 0.02}[outcome]
    y1 = TREATED[treatment] + shift
    return study_effect(paired_effect, y1, CONTROL, treatment=treatment, outcome=outcome, unit="sequence",
                        means=(y1.mean(), CONTROL.mean()), options=EffectOptions(n_resamples=999))


@pytest.mark.parametrize("adjust, statsmodels_name", [("holm", "holm"), ("bh", "fdr_bh")])
def test_pvalues_are_adjusted_across_treatments_within_each_outcome(adjust, statsmodels_name):
    table = study_table(_effect, list(TREATED), ["accuracy", "loss"], adjust=adjust, title="t")
    assert [(e.details["outcome"], e.estimand) for e in table] == [
        (o, t) for o in ("accuracy", "loss") for t in TREATED]  # outcome by outcome, treatments in order
    for outcome in ("accuracy", "loss"):
        rows = [e for e in table if e.details["outcome"] == outcome]
        expected = multipletests([e.pvalue for e in rows], method=statsmodels_name)[1]  # three hypotheses, not six
        np.testing.assert_allclose([e.details["pvalue_adjusted"] for e in rows], expected, rtol=1e-12)
        assert {e.details["adjustment"] for e in rows} == {adjust}


def test_a_family_can_span_outcomes_or_split_them_finer():
    pooled = study_table(_effect, list(TREATED), ["accuracy", "loss"], adjust="holm", title="t", family_by=())
    expected = multipletests([e.pvalue for e in pooled], method="holm")[1]  # one family of six
    np.testing.assert_allclose([e.details["pvalue_adjusted"] for e in pooled], expected, rtol=1e-12)
    alone = study_table(_effect, list(TREATED), ["accuracy"], adjust="holm", title="t", family_by=("treatment",))
    assert all(e.details["pvalue_adjusted"] == e.pvalue for e in alone)  # a family of one is not adjusted


def _degenerate(treatment, outcome):
    """Rows of ``_effect``, but h1 changes every unit by 0.1 exactly: a point interval, no p-value."""
    if treatment != "h1":
        return _effect(treatment, outcome)
    return study_effect(paired_effect, CONTROL + 0.1, CONTROL, treatment=treatment, outcome=outcome,
                        unit="sequence", means=(CONTROL.mean() + 0.1, CONTROL.mean()),
                        options=EffectOptions(n_resamples=999))


def test_family_all_counts_a_row_without_a_test_and_more_adjustments_travel_beside():
    tested = study_table(_degenerate, list(TREATED), ["accuracy"], adjust="holm", title="t")
    full = study_table(_degenerate, list(TREATED), ["accuracy"], adjust="bh", title="t", family="all",
                       adjustments=ADJUSTMENTS)
    assert tested[1].pvalue is None and tested[1].details["pvalue_adjusted"] is None
    p = [tested[0].pvalue, tested[2].pvalue]
    np.testing.assert_allclose([tested[0].details["pvalue_adjusted"], tested[2].details["pvalue_adjusted"]],
                               multipletests(p, method="holm")[1], rtol=1e-12)  # a family of two
    for name, statsmodels_name in (("holm", "holm"), ("bh", "fdr_bh"), ("by", "fdr_by")):
        expected = multipletests([*p, 1.0], method=statsmodels_name)[1]  # a family of three: the untested as p = 1
        np.testing.assert_allclose([full[0].details[f"pvalue_{name}"], full[2].details[f"pvalue_{name}"]],
                                   expected[:2], rtol=1e-12)
        assert full[1].details[f"pvalue_{name}"] is None
    assert [e.details["pvalue_adjusted"] for e in full] == [e.details["pvalue_bh"] for e in full]
    assert {e.details["adjustment"] for e in full} == {"bh"}
    unadjusted = study_table(_degenerate, list(TREATED), ["accuracy"], adjust=None, title="t", adjustments=["by"])
    assert unadjusted[0].details["pvalue_adjusted"] is None and unadjusted[0].details["pvalue_by"] is not None
    with pytest.raises(ValueError, match=r"`family` must be one of \['tested', 'all'\], got 'every'"):
        study_table(_effect, list(TREATED), ["accuracy"], adjust="holm", title="t", family="every")
    with pytest.raises(ValueError, match=r"`adjustments` must be one of \['holm', 'bh', 'by'\], got 'sidak'"):
        study_table(_effect, list(TREATED), ["accuracy"], adjust="holm", title="t", adjustments=["sidak"])


def test_every_row_has_the_shared_details_and_its_own_stream():
    plain = study_table(_effect, list(TREATED), ["accuracy"], adjust=None, title="t")
    for e in plain:
        assert set(DETAIL_KEYS) <= set(e.details)
        assert e.details["pvalue_adjusted"] is None and e.details["adjustment"] is None
        assert e.details["mean_treated"] - e.details["mean_control"] == pytest.approx(e.estimate)
    alone = _effect("h2", "accuracy")
    assert plain[2].details["pvalue_randomization"] == alone.details["pvalue_randomization"]


def test_the_row_equals_the_effect_layer_with_the_same_stream():
    row = study_effect(paired_effect, TREATED["h2"], CONTROL, treatment="h2", outcome="accuracy", unit="sequence",
                       means=(0.0, 0.0), options=EffectOptions(method="randomization", n_resamples=999, seed=5),
                       keys=("a", "b"))
    direct = paired_effect(TREATED["h2"], CONTROL, method="randomization", n_resamples=999,
                           rng=question_rng(5, "a", "b"), extra_pvalues=("randomization",))
    assert (row.estimate, row.confidence_interval, row.pvalue) == (direct.estimate, direct.confidence_interval,
                                                                   direct.pvalue)


def test_options_are_checked_and_none_takes_the_study_defaults():
    defaults = EffectOptions(confidence_level=0.9, n_resamples=99, seed=7)
    assert EffectOptions.check(defaults=defaults) == EffectOptions("t", "holm", 0.9, 99, 7)
    assert EffectOptions.check(rng=3, n_resamples=5, confidence_level=0.5, defaults=defaults).seed == 3
    assert type(EffectOptions.check(adjust=np.str_("bh")).adjust) is str  # a plain name in details and cache keys
    names = re.escape(str(list(ADJUSTMENTS)))  # every adjustment adjust_pvalues knows
    with pytest.raises(ValueError, match=rf"`adjust` must be one of {names} or None, got 'bonferroni'"):
        EffectOptions.check(adjust="bonferroni")
    with pytest.raises(TypeError, match="`adjust` must be one of"):
        EffectOptions.check(adjust=1)
    with pytest.raises(ValueError, match="`method` must be one of"):
        EffectOptions.check(method="wald")
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        EffectOptions.check(confidence_level=95)
    with pytest.raises(ValueError, match="`n_resamples` must be a positive integer"):
        EffectOptions.check(n_resamples=0)
    with pytest.raises(ValueError, match="`rng` must be a non-negative integer seed"):
        EffectOptions.check(rng=-1)
    with pytest.raises(TypeError, match="`rng` must be None, an integer seed or a numpy Generator"):
        EffectOptions.check(rng="zero")


def test_every_study_has_one_effects_signature_and_a_forest_plot_with_method():
    reference = inspect.signature(StudyEffects.effects)
    assert list(reference.parameters) == ["self", "outcome", "method", "adjust", "confidence_level", "n_resamples",
                                          "rng"]
    for study in (EvaluationStudy, ModelsStudy, TrainingStudy, HeadMap):
        assert inspect.signature(study.effects) == reference
        assert "method" in inspect.signature(study.plot_forest).parameters


@pytest.fixture(scope="module")
def evaluation():
    task = BigramTask(TaskConfig(seq_len=32))
    return evaluation_study(induction_head_model(task, d_model=128), task, ["ablate:L1H0:zero", "ablate:L0H0:zero"],
                            n_sequences=12, seed=2, n_resamples=999, progress=False)


def test_the_forest_plot_shows_the_method_asked_for(evaluation):
    shown = {}
    for method in ("t", "randomization"):
        table = evaluation.effects(method=method)
        fig = evaluation.plot_forest(method=method)
        shown[method] = [t.get_text() for t in fig.axes[0].texts]
        assert shown[method] == [
            pvalue_equation(e.pvalue, digits=2, spaced=False) + "  "
            + pvalue_equation(e.details["pvalue_adjusted"], name="adj", digits=2, spaced=False) for e in table]
        assert fig.axes[0].get_xlabel() == "change in in context accuracy (95% CI)"
    assert shown["t"] != shown["randomization"]  # the plot used to show the t test whatever was asked


def test_rng_confidence_level_and_resamples_default_to_the_study(evaluation):
    default = evaluation.effects(method="bootstrap", adjust=None)
    pairs = evaluation.pairs("ablate:L1H0:zero")
    direct = paired_effect(pairs["treated"], pairs["control"], method="bootstrap", n_resamples=999,
                           rng=question_rng(2, "ablate:L1H0:zero", "in_context_accuracy"))  # the study's seed 2
    assert (default[0].confidence_interval, default[0].pvalue) == (direct.confidence_interval, direct.pvalue)
    other = evaluation.effects(method="bootstrap", adjust=None, rng=3)
    assert other[0].confidence_interval != default[0].confidence_interval  # another seed, not the cached table
    narrower = evaluation.effects(confidence_level=0.5)
    assert narrower[0].confidence_level == 0.5
    assert narrower[0].confidence_interval.high - narrower[0].confidence_interval.low < (
        default[0].confidence_interval.high - default[0].confidence_interval.low)
    assert evaluation.effects(["in_context_accuracy", "in_context_loss"]).title.startswith(
        "effects on in_context_accuracy, in_context_loss")
    with pytest.raises(TypeError, match="`outcome` must be a name or a non-empty sequence of names"):
        evaluation.effects([])
    with pytest.raises(ValueError, match="`treatment` 'ablate:L1H1:zero' is not in this study"):
        evaluation.effect("ablate:L1H1:zero")
    with pytest.raises(TypeError, match="`treatment` must be a treatment's label or an intervention, got list"):
        evaluation.effect(["ablate:L1H0:zero"])
    with pytest.raises(TypeError, match="`rng` must be None, an integer seed or a numpy Generator, got bool"):
        evaluation.effects(rng=True)


def test_models_study_rows_have_the_shared_details_and_arm_means():
    task = BigramTask(TaskConfig(seq_len=16))
    models = [build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=16, init_seed=s))
              for s in range(3)]
    study = models_study(models, task, ["ablate:L1H0:zero"], n_sequences=6, n_resamples=99, progress=False)
    (row,) = study.effects("in_context_loss")
    assert set(DETAIL_KEYS) <= set(row.details) and row.details["unit"] == "sequence"
    by_model = [s.pairs("ablate:L1H0:zero", "in_context_loss").mean() for s in study.studies.values()]
    assert row.details["mean_treated"] == pytest.approx(np.mean([m["treated"] for m in by_model]))
    assert row.details["mean_control"] == pytest.approx(np.mean([m["control"] for m in by_model]))
    assert row.estimate == pytest.approx(row.details["mean_treated"] - row.details["mean_control"])
    figure = study.plot_forest("in_context_loss", method="normal")
    assert figure.axes[0].get_xlabel() == "change in in context loss (95% CI)"
