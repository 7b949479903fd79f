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


def test_by_by_hand():
    # BH's adjusted values (0.04, 0.16/3, 0.16/3, 0.20 in the order of RAW) times c(4) = 1 + 1/2 + 1/3 + 1/4 = 25/12
    out = adjust_pvalues(_table(RAW), "by")
    c = 25 / 12
    assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx([0.04 * c, 0.16 / 3 * c, 0.16 / 3 * c, 0.2 * c])
    assert all(e.details["adjustment"] == "by" for e in out)


def test_by_bh_holm_match_r_p_adjust():
    # tests/reference/p_adjust_by.R: R's p.adjust(q, "BY"), "BH" and "holm", printed with 15 digits
    q = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216, 0.222, 0.251, 0.269, 0.275, 0.34]
    expected = {
        "by": [0.0497734348984349, 0.1990937395937396, 0.4180968531468531, 0.4180968531468531, 0.4180968531468531,
               0.4977343489843490, 0.5261763117834546, *[0.9776924712192571] * 7, 1.0],
        "bh": [0.015, 0.06, 0.126, 0.126, 0.126, 0.15, 0.158571428571429, *[0.294642857142857] * 7, 0.34],
        "holm": [0.015, 0.112, 0.507, 0.507, 0.507, 0.6, 0.666, *[1.0] * 8],
    }
    for method, values in expected.items():
        out = adjust_pvalues(_table(q), method)
        assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx(values, rel=1e-12), method


def test_unknown_adjustment_names_the_argument():
    with pytest.raises(ValueError, match="`method` must be one of"):
        adjust_pvalues(_table(RAW), "bonferroni")


def test_family_all_counts_untested_rows_as_p_one():
    # family="all": [0.01, None, 0.04] is adjusted as [0.01, 1, 0.04] (m = 3): Holm 3*0.01, 2*0.04
    out = adjust_pvalues(_table([0.01, None, 0.04]), "holm", family="all")
    assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx([0.03, None, 0.08])
    # BH with m = 3: sorted 0.01, 0.04, 1 -> 3*0.01/1, 3*0.04/2, 1 -> running min 0.03, 0.06
    out = adjust_pvalues(_table([0.01, None, 0.04]), "bh", family="all")
    assert [e.details["pvalue_adjusted"] for e in out] == pytest.approx([0.03, None, 0.06])
    with pytest.raises(ValueError, match="`family` must be one of"):
        adjust_pvalues(_table(RAW), family="every")
