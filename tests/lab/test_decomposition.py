"""The decomposition of a head's effect: total, direct, indirect, self-repair and paths, each a paired contrast of two
arms whose interval is checked against scipy's paired t test on the per-sequence outcomes."""

import numpy as np
import pytest
from scipy import stats

from causalattn.lab import BigramTask, TaskConfig, evaluation_study, induction_head_model
from causalattn.lab.studies.decomposition import decompose, decomposition_treatments
from causalattn.mediation import Decomposition

TASK = BigramTask(TaskConfig(seq_len=64))


@pytest.fixture(scope="module")
def study():
    treatments = [*decomposition_treatments([(0, 0), (1, 0)], "mean"), "path:L0H0->L1H0.k:mean",
                  "path:L0H0->L1H0.q:mean", "ablate:L0H0:zero", "ablate:L0H0:zero+ablate:L1H0:zero"]
    return evaluation_study(induction_head_model(TASK, d_model=256), TASK, treatments, n_sequences=60,
                            n_resamples=999, progress=False)


def _paired_t(y1, y0, level=0.95):
    """Mean difference, t interval and p-value of the paired t test, from scipy."""
    d = y1 - y0
    test = stats.ttest_rel(y1, y0)
    half = stats.t.ppf((1 + level) / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), (d.mean() - half, d.mean() + half), test.pvalue


def test_rows_components_and_groups(study, assert_coherent):
    table = decompose(study)
    assert isinstance(table, Decomposition)
    assert [row.estimand for row in table] == [
        "L0H0 total", "L0H0 direct", "L0H0 indirect", "L0H0 self-repair", "L0H0 -> L1H0.k", "L0H0 -> L1H0.q",
        "L1H0 total", "L1H0 direct", "L1H0 indirect", "L1H0 self-repair"]
    assert table.components() == ["total", "direct", "indirect", "self-repair", "path"]
    assert {row.details["treatment"] for row in table} == {"ablate:L0H0:mean", "ablate:L1H0:mean"}
    assert table["L0H0 indirect"].details["contrast"] == "ablate:L0H0:mean - path:L0H0->logits:mean"
    assert table["L0H0 -> L1H0.k"].details["contrast"] == "path:L0H0->L1H0.k:mean - control"
    assert assert_coherent(table) == 10
    assert "60 sequences" in table.title
    fig = table.plot(xlabel="change in in-context accuracy")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][:2] == ["L0H0 total", "L0H0 direct"]


@pytest.mark.parametrize("outcome", ["in_context_accuracy", "in_context_loss", "global_loss"])
def test_each_row_is_scipys_paired_t_on_its_two_arms(study, outcome):
    table = decompose(study, outcome)
    wide = study.units.pivot(index="sequence", columns="arm", values=outcome).dropna()
    arms = {"total": ("ablate:L0H0:mean", "control"), "direct": ("path:L0H0->logits:mean", "control"),
            "indirect": ("ablate:L0H0:mean", "path:L0H0->logits:mean"),
            "self-repair": ("path:L0H0->logits:mean", "ablate:L0H0:mean"), "-> L1H0.k": ("path:L0H0->L1H0.k:mean",
                                                                                        "control")}
    for part, (a, b) in arms.items():
        row = table[f"L0H0 {part}"]
        estimate, (low, high), pvalue = _paired_t(wide[a].to_numpy(), wide[b].to_numpy())
        assert row.estimate == pytest.approx(estimate, abs=1e-12)
        assert row.confidence_interval == pytest.approx((low, high), abs=1e-12)
        if row.pvalue is not None:
            assert row.pvalue == pytest.approx(pvalue, rel=1e-9)
        assert row.method == "paired-t" and row.n == len(wide)
    # the identities of the decomposition hold exactly for the estimates
    total, direct, indirect = (table[f"L0H0 {p}"].estimate for p in ("total", "direct", "indirect"))
    assert indirect == pytest.approx(total - direct, abs=1e-12)
    assert table["L0H0 self-repair"].estimate == pytest.approx(-indirect, abs=1e-12)
    low, high = table["L0H0 indirect"].confidence_interval
    assert table["L0H0 self-repair"].confidence_interval == pytest.approx((-high, -low), abs=1e-12)


def test_the_mechanism_of_the_handset_model(study):
    table = decompose(study)
    # previous-token head: nothing direct, all indirect, through the induction head's keys
    assert abs(table["L0H0 direct"].estimate) < 0.02 and table["L0H0 total"].estimate < -0.5
    assert table["L0H0 indirect"].estimate == pytest.approx(table["L0H0 total"].estimate, abs=0.02)
    assert table["L0H0 -> L1H0.k"].estimate == pytest.approx(table["L0H0 total"].estimate, abs=0.02)
    assert abs(table["L0H0 -> L1H0.q"].estimate) < 0.02
    # induction head: all direct (nothing reads it after the last layer), no self-repair
    assert table["L1H0 direct"].estimate == pytest.approx(table["L1H0 total"].estimate, abs=1e-12)
    assert table["L1H0 self-repair"].estimate == pytest.approx(0.0, abs=1e-12)


def test_other_methods_and_bad_input(study):
    row = decompose(study, method="randomization")["L0H0 indirect"]
    assert "randomization" in row.method
    with pytest.raises(ValueError, match="`outcome` must be one of"):
        decompose(study, "accuracy")
    with pytest.raises(ValueError, match="`method` must be one of"):
        decompose(study, method="wald")
    with pytest.raises(TypeError, match="`study` must be an EvaluationStudy"):
        decompose(study.units)
    lone = evaluation_study(induction_head_model(TASK, d_model=64), TASK, ["ablate:L0H0:zero"], n_sequences=4,
                            n_resamples=99, progress=False)
    with pytest.raises(ValueError, match="no head to decompose: it needs a head's ablation and its direct path"):
        decompose(lone)
    # before: a path without its sender's same-kind ablation (or direct path) was left out without a word
    mixed = evaluation_study(induction_head_model(TASK, d_model=64), TASK,
                             ["ablate:L0H0:zero", "path:L0H0->logits:zero", "path:L0H0->logits:mean",
                              "path:L0H0->L1H0.k:mean"], n_sequences=4, n_resamples=99, progress=False)
    with pytest.warns(UserWarning, match=r"\['path:L0H0->logits:mean', 'path:L0H0->L1H0.k:mean'\] are not in"):
        table = decompose(mixed)
    assert [row.estimand for row in table] == ["L0H0 total", "L0H0 direct", "L0H0 indirect", "L0H0 self-repair"]
    with pytest.raises(ValueError, match="`baseline` 'ablate:L9H0:zero' is not in this study"):
        study.effect("ablate:L0H0:mean", baseline="ablate:L9H0:zero")
    with pytest.raises(ValueError, match="`baseline` 'ablate:L0H0:mean' is the treatment itself"):
        study.effect("ablate:L0H0:mean", baseline="ablate:L0H0:mean")
    with pytest.raises(TypeError, match="`heads` must be a list of \\(layer, head\\) pairs"):
        decomposition_treatments("L0H0")
    with pytest.raises(TypeError, match="got item 'L0H0'"):
        decomposition_treatments(["L0H0"])
    with pytest.raises(ValueError, match="`heads` must name at least one head"):
        decomposition_treatments([])
    with pytest.raises(ValueError, match="`head` must be"):
        decomposition_treatments([(0, -1)])
    with pytest.raises(ValueError, match="`kind` must be one of"):
        decomposition_treatments([(0, 0)], "half")
