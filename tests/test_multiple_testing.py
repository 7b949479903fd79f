"""Holm and Benjamini-Hochberg adjustments (hand-computed), the effects frame, the forest plot."""

import math

import pytest
from matplotlib.figure import Figure

from causalattn import EstimateTable, adjust_pvalues, effects_frame, plot_forest
from causalattn.estimate import Estimate, normal_estimate

RAW = [0.01, 0.04, 0.03, 0.20]


def _table(pvalues):
    return EstimateTable([
        Estimate(f"t{i}", 0.1 * i, 0.05, (0.1 * i - 0.1, 0.1 * i + 0.1), 0.95, p, "frt", 20,
                 details={"treatment": f"ablate:L0H{i}:zero", "outcome": "in_context_accuracy"})
        for i, p in enumerate(pvalues)
    ], title="effects")


def test_holm_by_hand():
    # sorted 0.01, 0.03, 0.04, 0.20 -> 4*0.01, max(., 3*0.03), max(., 2*0.04), max(., 0.20)
    out = adjust_pvalues(_table(RAW), "holm")
    assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx([0.04, 0.09, 0.09, 0.20])
    assert [e.pvalue for e in out] == RAW and all(e.details["adjustment"] == "holm" for e in out)
    assert out.title == "effects"


def test_bh_by_hand():
    # sorted p_(j) * m / j = 0.04, 0.06, 0.0533, 0.20 -> running min from the top: 0.04, 0.0533, 0.0533, 0.20
    out = adjust_pvalues(_table(RAW), "bh")
    assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])


def test_untested_estimates_are_kept_out_of_the_family():
    out = adjust_pvalues(_table([0.01, None, 0.04]), "holm")
    assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx([0.02, None, 0.04])


def test_effects_frame_columns():
    frame = effects_frame(adjust_pvalues(_table(RAW)))
    assert list(frame.columns) == ["treatment", "outcome", "estimate", "standard_error", "ci_low", "ci_high",
                                   "pvalue", "pvalue_adjusted", "method", "n", "unit", "n_censored",
                                   "pvalue_randomization"]
    assert frame["treatment"].tolist()[1] == "ablate:L0H1:zero"
    assert frame["unit"].isna().all() and frame["n_censored"].isna().all()  # empty where they do not apply
    assert frame["pvalue_adjusted"].tolist() == pytest.approx([0.04, 0.09, 0.09, 0.20])


def test_forest_plot():
    fig = plot_forest(adjust_pvalues(_table(RAW)))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()][0].startswith("ablate:L0H0:zero")
    ratios = EstimateTable([normal_estimate("rr", 2.0, 0.3, confidence_level=0.95, method="wald", n=9, scale="log"),
                            normal_estimate("rr0", 0.0, math.inf, confidence_level=0.95, method="wald", n=9,
                                            scale="log")])
    assert plot_forest(ratios).axes[0].get_xscale() == "log"


def test_forest_plot_labels_name_only_what_tells_the_outcomes_apart():
    # before: "freeze:W2_O:until200 in_context_accuracy_at_200" on every row of a mixed table
    rows = [Estimate(f"t{i}", 0.1, 0.05, (0.0, 0.2), 0.95, 0.05, "paired-t", 8,
                     details={"treatment": treatment, "outcome": outcome})
            for i, (treatment, outcome) in enumerate([("ablate_role:induction@L1:zero", "in_context_accuracy"),
                                                       ("freeze:W2_O:until200", "in_context_accuracy_at_200"),
                                                       ("freeze:W2_O:until200", "in_context_accuracy_at_400")])]
    labels = [t.get_text() for t in plot_forest(EstimateTable(rows)).axes[0].get_yticklabels()]
    assert labels == ["ablate_role:induction@L1:zero", "freeze:W2_O:until200 at 200", "freeze:W2_O:until200 at 400"]
    labels = [t.get_text() for t in plot_forest(EstimateTable(rows[1:])).axes[0].get_yticklabels()]
    assert labels == ["freeze:W2_O:until200 at 200", "freeze:W2_O:until200 at 400"]
    one = [t.get_text() for t in plot_forest(_table(RAW[:2])).axes[0].get_yticklabels()]
    assert one == ["ablate:L0H0:zero", "ablate:L0H1:zero"]  # one outcome: the treatment alone


def test_bad_input():
    with pytest.raises(TypeError, match="`table` must be an EstimateTable"):
        adjust_pvalues([0.1, 0.2])
    with pytest.raises(ValueError, match="`method` must be one of"):
        adjust_pvalues(_table(RAW), "bonferroni")
    with pytest.raises(ValueError, match=r"`pvalue` must be in \[0, 1\] \(None if there is no test\), got nan"):
        _table([0.01, math.nan, 0.03])  # refused when the estimate is made, before any adjustment
    with pytest.raises(TypeError, match="`table` must be an EstimateTable"):
        effects_frame(None)
    with pytest.raises(TypeError, match="`table` must be an EstimateTable"):
        plot_forest([])
    with pytest.raises(ValueError, match="`table` is empty"):
        plot_forest(EstimateTable([]))


def test_forest_plot_log_ticks_are_plain_numbers():
    # before: 6x10^-1, 2x10^0 on ratio forests
    ratios = EstimateTable([normal_estimate("or", 1.5, 0.5, confidence_level=0.95, method="woolf", n=9, scale="log")])
    fig = plot_forest(ratios)
    fig.canvas.draw()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels() + ax.get_xticklabels(minor=True) if t.get_text()]
    assert labels and all(float(x) > 0 for x in labels)  # "0.6", "1", "2": no mathtext powers of ten


def test_forest_plot_says_an_underflowed_p_value_is_below_1e_300():
    """stats.t.sf underflows to 0 for huge t: the plot must not claim p = 0."""
    rows = [Estimate("huge", -0.96, 0.0015, (-0.963, -0.957), 0.95, 0.0, "t", 8),
            Estimate("small", 0.1, 0.05, (0.0, 0.2), 0.95, 0.013, "t", 8)]
    texts = [t.get_text() for t in plot_forest(EstimateTable(rows)).axes[0].texts]
    assert "p<1e-300" in texts and "p=0.013" in texts and "p=0" not in texts
