"""Paired 2x2 tables: checked against Agresti (2013, sec. 11.1), scipy and hand computations."""

import math

import numpy as np
import pytest
from scipy import stats

from causalattn import HypothesisTest, PairedTable

# Agresti (2013), Table 11.1: prime minister approval, first vs second survey, n = 1600.
# Rows: second survey ("treatment") approve / disapprove; columns: first survey ("control").
AGRESTI = [[794, 86], [150, 570]]


def test_agresti_risk_difference_and_mcnemar():
    t = PairedTable(AGRESTI)
    assert t.n == 1600 and t.p1 == pytest.approx(880 / 1600) and t.p0 == pytest.approx(944 / 1600)
    rd = t.risk_difference()
    # Agresti: -0.04 with SE 0.0095, CI (-0.06, -0.02)
    assert rd.estimate == pytest.approx(-0.04)
    assert rd.standard_error == pytest.approx(0.0095, abs=5e-5)
    assert rd.confidence_interval.low == pytest.approx(-0.0587, abs=1e-4)
    assert rd.confidence_interval.high == pytest.approx(-0.0213, abs=1e-4)
    # Agresti: z = (86 - 150) / sqrt(86 + 150) = -4.17
    chi2 = t.mcnemar(exact=False, continuity=False)
    assert chi2.statistic == pytest.approx((86 - 150) ** 2 / 236) and chi2.dof == 1
    assert chi2.pvalue == pytest.approx(2 * stats.norm.sf(64 / math.sqrt(236)))
    assert chi2.method == "mcnemar-chi2"
    # R's mcnemar.test default (correct = TRUE): (|86 - 150| - 1)^2 / 236; R 4.2 gives X2 = 16.81779661,
    # p = 4.114562281e-05 (tests/reference/epir_reference.R).
    corrected = t.mcnemar(exact=False)
    assert corrected.statistic == pytest.approx((64 - 1) ** 2 / 236) == pytest.approx(16.81779661, rel=1e-8)
    assert corrected.pvalue == pytest.approx(4.114562281e-05, rel=1e-8)
    assert corrected.pvalue == pytest.approx(stats.chi2.sf((64 - 1) ** 2 / 236, 1))
    assert corrected.method == "mcnemar-chi2-continuity" == t.mcnemar(exact=False, continuity=True).method
    exact = t.mcnemar()
    assert exact.pvalue == pytest.approx(stats.binomtest(86, 236, 0.5).pvalue)
    assert exact.statistic == 86 and exact.dof is None and exact.method == "mcnemar-exact"
    assert isinstance(exact, HypothesisTest) and exact.n == 1600 and exact.details["discordant"] == 236


def test_agresti_odds_ratio_and_risk_ratio():
    t = PairedTable(AGRESTI)
    # Agresti: conditional OR 150/86 = 1.74 with CI (1.34, 2.27); ours is oriented the other way.
    orat = t.odds_ratio()
    assert orat.estimate == pytest.approx(86 / 150)
    assert 1 / orat.confidence_interval.high == pytest.approx(1.34, abs=0.005)
    assert 1 / orat.confidence_interval.low == pytest.approx(2.27, abs=0.005)
    # exact: Clopper-Pearson of 86/236 mapped to the odds scale
    cp = stats.binomtest(86, 236).proportion_ci(0.95, method="exact")
    ex = t.odds_ratio(method="exact")
    assert ex.confidence_interval.low == pytest.approx(cp.low / (1 - cp.low))
    assert ex.confidence_interval.high == pytest.approx(cp.high / (1 - cp.high))
    # risk ratio by hand: (794+86)/(794+150), var log = (86+150)/((794+86)(794+150))
    rr = t.risk_ratio()
    se = math.sqrt(236 / (880 * 944))
    assert rr.estimate == pytest.approx(880 / 944)
    assert rr.confidence_interval.low == pytest.approx(880 / 944 * math.exp(-1.959964 * se), rel=1e-5)
    table = t.estimates()
    assert [e.estimand for e in table] == ["paired risk difference", "paired risk ratio", "paired odds ratio"]


def test_from_data_counts_pairs():
    treated = np.array([1, 1, 0, 0, 1, 0, 1])
    control = np.array([1, 0, 1, 0, 1, 1, 1])
    t = PairedTable.from_data(treated, control)
    np.testing.assert_array_equal(t.counts, [[3, 1], [2, 1]])
    assert t.to_frame().loc["total", "total"] == 7


def test_zero_cells_documented_and_correction_recorded():
    t = PairedTable([[10, 0], [4, 6]])
    orat = t.odds_ratio()
    assert orat.estimate == 0 and orat.confidence_interval == (0.0, math.inf) and "note" in orat.details
    fixed = t.odds_ratio(correction=0.5)
    assert fixed.estimate == pytest.approx(0.5 / 4.5) and fixed.details["correction"] == 0.5
    none = PairedTable([[5, 0], [0, 5]])
    assert none.risk_difference().standard_error == 0
    assert none.mcnemar().pvalue == 1.0


def test_bad_input():
    with pytest.raises(ValueError, match="`counts` must have shape"):
        PairedTable([[1, 2, 3], [1, 2, 3]])
    with pytest.raises(ValueError, match="`counts` must be non-negative"):
        PairedTable([[1, -2], [1, 2]])
    with pytest.raises(ValueError, match="`counts` must hold at least one pair"):
        PairedTable([[0, 0], [0, 0]])
    with pytest.raises(TypeError, match="`counts` must be a 2x2 array"):
        PairedTable([["a", 1], [1, 2]])
    with pytest.raises(ValueError, match="`treated` must be binary"):
        PairedTable.from_data([0, 2], [0, 1])
    with pytest.raises(ValueError, match="same length"):
        PairedTable.from_data([0, 1, 1], [0, 1])
    t = PairedTable(AGRESTI)
    with pytest.raises(ValueError, match="`method` must be one of"):
        t.odds_ratio(method="woolf")
    with pytest.raises(ValueError, match="`correction` cannot be used with method='exact'"):
        t.odds_ratio(method="exact", correction=0.5)
    with pytest.raises(ValueError, match="`continuity` applies to the chi-square version only"):
        t.mcnemar(exact=True, continuity=True)
    with pytest.raises(TypeError, match="`continuity` must be True or False"):
        t.mcnemar(exact=False, continuity="yes")
    with pytest.raises(ValueError, match="no discordant pairs"):
        PairedTable([[5, 0], [0, 5]]).odds_ratio(method="exact")
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        t.risk_difference(confidence_level=1.5)
    with pytest.raises(TypeError, match="takes 1 positional argument"):
        t.risk_difference(0.9)  # options are keyword-only


def test_from_data_refuses_series_with_different_indexes():
    import pandas as pd
    treated = pd.Series([1, 0, 1], index=["c", "b", "a"])
    with pytest.raises(ValueError, match="`treated` and `control` are pandas objects with different indexes"):
        PairedTable.from_data(treated, pd.Series([0, 0, 1], index=["a", "b", "c"]))
    assert PairedTable.from_data(treated, pd.Series([0, 0, 1], index=treated.index)).counts.tolist() == [[1, 1], [0, 1]]
