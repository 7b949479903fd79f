import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats import contingency_tables as smct

from causalattn import Estimate, EstimateTable, HypothesisTest, StratifiedTable, Table2x2

# Kidney stones (Charig et al. 1986): success for open surgery (Z=1) vs PCNL (Z=0), by stone size.
KIDNEY = {"small": [[81, 6], [234, 36]], "large": [[192, 71], [55, 25]]}
# UC Berkeley 1973, six largest departments: (admitted men, men, admitted women, women); Z=1 men.
BERKELEY = {"A": (512, 825, 89, 108), "B": (353, 560, 17, 25), "C": (120, 325, 202, 593),
            "D": (138, 417, 131, 375), "E": (53, 191, 94, 393), "F": (22, 373, 24, 341)}
BERKELEY_TABLES = {k: [[a, n1 - a], [c, n0 - c]] for k, (a, n1, c, n0) in BERKELEY.items()}
Z975 = stats.norm.ppf(0.975)


def both():
    return [(KIDNEY, StratifiedTable(list(KIDNEY.values()), labels=list(KIDNEY))),
            (BERKELEY_TABLES, StratifiedTable(list(BERKELEY_TABLES.values()), labels=list(BERKELEY_TABLES)))]


@pytest.fixture
def kidney():
    return StratifiedTable(list(KIDNEY.values()), labels=list(KIDNEY))


def test_properties(kidney):
    assert len(kidney) == 2 and kidney.labels == ("small", "large") and kidney.n == 700
    assert kidney.counts.shape == (2, 2, 2) and not kidney.counts.flags.writeable
    assert kidney.strata == [Table2x2(KIDNEY["small"]), Table2x2(KIDNEY["large"])]
    assert kidney.marginal == Table2x2([[273, 77], [289, 61]])
    assert repr(kidney) == "StratifiedTable(2 strata: ['small', 'large'], n=700)"
    same = StratifiedTable([Table2x2(t) for t in KIDNEY.values()])
    assert same.labels == (0, 1) and (same.counts == kidney.counts).all()
    assert (StratifiedTable(np.array(list(KIDNEY.values()))).counts == kidney.counts).all()


@pytest.mark.parametrize(("tables", "st"), both())
def test_pooled_odds_and_risk_ratios_match_statsmodels(tables, st):
    ref = smct.StratifiedTable([np.array(t) for t in tables.values()])
    odds = st.odds_ratio(confidence_level=0.9)
    assert odds.estimate == pytest.approx(ref.oddsratio_pooled)
    assert odds.standard_error == pytest.approx(ref.logodds_pooled_se)
    assert odds.confidence_interval == pytest.approx(ref.oddsratio_pooled_confint(alpha=0.1))
    assert odds.details["correction"] is None
    assert st.risk_ratio().estimate == pytest.approx(ref.riskratio_pooled)


@pytest.mark.parametrize(("tables", "st"), both())
@pytest.mark.parametrize("continuity", [False, True])
def test_cmh_matches_statsmodels(tables, st, continuity):
    ref = smct.StratifiedTable([np.array(t) for t in tables.values()]).test_null_odds(correction=continuity)
    test = st.cmh_test(continuity=continuity)
    assert test.statistic == pytest.approx(ref.statistic)
    assert test.pvalue == pytest.approx(ref.pvalue)
    assert test.dof == 1 and test.n == st.n
    assert test.method == ("cmh-continuity" if continuity else "cmh")


@pytest.mark.parametrize(("tables", "st"), both())
@pytest.mark.parametrize("tarone", [False, True])
def test_breslow_day_matches_statsmodels(tables, st, tarone):
    ref = smct.StratifiedTable([np.array(t) for t in tables.values()]).test_equal_odds(adjust=tarone)
    test = st.breslow_day(tarone=tarone)
    assert test.statistic == pytest.approx(ref.statistic)
    assert test.pvalue == pytest.approx(ref.pvalue)
    assert test.dof == len(tables) - 1
    assert test.details["odds_ratio_mh"] == pytest.approx(st.odds_ratio().estimate)


def test_berkeley_published_values():
    # Agresti (2013) / R's mantelhaen.test(UCBAdmissions): common OR 0.905, CMH X^2 = 1.4269 with
    # continuity correction, Breslow-Day X^2 = 18.83 on 5 df.
    st = both()[1][1]
    assert st.odds_ratio().estimate == pytest.approx(0.9047, abs=1e-4)
    assert st.cmh_test().statistic == pytest.approx(1.4269, abs=1e-4)  # R's default continuity correction
    assert st.breslow_day().statistic == pytest.approx(18.83, abs=0.01)


@pytest.mark.parametrize(("tables", "st"), both())
def test_mh_risk_difference_and_ratio_by_hand(tables, st):
    # Greenland & Robins (1985) estimators; Sato (1989) variance for the RD; GR variance of log RR.
    num_rd = w_sum = p_sum = q_sum = 0.0
    r_sum = s_sum = v_rr = 0.0
    for (a, b), (c, d) in tables.values():
        n1, n0 = a + b, c + d
        n = n1 + n0
        num_rd += (a * n0 - c * n1) / n
        w_sum += n1 * n0 / n
        p_sum += (n1**2 * c - n0**2 * a + n1 * n0 * (n0 - n1) / 2) / n**2
        q_sum += (a * (n0 - c) + c * (n1 - a)) / (2 * n)
        r_sum += a * n0 / n
        s_sum += c * n1 / n
        v_rr += (n1 * n0 * (a + c) - a * c * n) / n**2
    rd_mh = num_rd / w_sum
    se_rd = math.sqrt((rd_mh * p_sum + q_sum) / w_sum**2)
    rd = st.risk_difference()
    assert rd.estimate == pytest.approx(rd_mh)
    assert rd.standard_error == pytest.approx(se_rd)
    assert rd.confidence_interval == pytest.approx((rd_mh - Z975 * se_rd, rd_mh + Z975 * se_rd))
    assert rd.pvalue == pytest.approx(2 * stats.norm.sf(abs(rd_mh) / se_rd))
    rr = st.risk_ratio()
    se_log_rr = math.sqrt(v_rr / (r_sum * s_sum))
    assert rr.estimate == pytest.approx(r_sum / s_sum)
    assert rr.standard_error == pytest.approx(se_log_rr)
    assert rr.confidence_interval.high == pytest.approx(r_sum / s_sum * math.exp(Z975 * se_log_rr))


@pytest.mark.parametrize(("tables", "st"), both())
def test_greenland_robins_variance_by_hand_and_close_to_sato(tables, st):
    # Greenland & Robins (1985), large strata: sum_k w_k^2 var_k / (sum_k w_k)^2, the weighted Wald variances.
    num = den = 0.0
    for (a, b), (c, d) in tables.values():
        n1, n0 = a + b, c + d
        w = n1 * n0 / (n1 + n0)
        num += w**2 * (a * b / n1**3 + c * d / n0**3)
        den += w
    gr = st.risk_difference(method="greenland_robins")
    assert gr.standard_error == pytest.approx(math.sqrt(num) / den)
    assert gr.method == "mantel-haenszel-greenland-robins" and gr.estimate == st.risk_difference().estimate
    assert st.risk_difference().standard_error == pytest.approx(math.sqrt(num) / den, rel=0.03)


# R 4.2, epiR 2.0.57: epi.2by2(method = "cohort.count", units = 1)$massoc.detail, ARisk.mh.sato and
# ARisk.mh.green (estimate, lower, upper); tests/reference/epir_reference.R prints them.
EPIR_MH_RD = {
    "kidney": {"sato": (0.05383557024, -0.01192944522, 0.1196005857),
               "greenland_robins": (0.05383557024, -0.01151903163, 0.1191901721)},
    "berkeley": {"sato": (-0.01842519619, -0.04748243535, 0.01063204296),
                 "greenland_robins": (-0.01842519619, -0.04707882797, 0.01022843559)},
}


@pytest.mark.parametrize("method", ["sato", "greenland_robins"])
@pytest.mark.parametrize(("name", "index"), [("kidney", 0), ("berkeley", 1)])
def test_mh_risk_difference_matches_epir(name, index, method):
    est = both()[index][1].risk_difference(method=method)
    estimate, low, high = EPIR_MH_RD[name][method]
    assert est.estimate == pytest.approx(estimate, rel=1e-9)
    assert est.confidence_interval == pytest.approx((low, high), rel=1e-8)


def test_cmh_and_chi2_defaults_match_r():
    # R 4.2 mantelhaen.test (correct = TRUE by default), tests/reference/epir_reference.R.
    kidney, berkeley = both()[0][1], both()[1][1]
    assert kidney.cmh_test().statistic == pytest.approx(2.09125685, rel=1e-8)
    assert kidney.cmh_test().pvalue == pytest.approx(0.1481441486, rel=1e-8)
    assert kidney.cmh_test(continuity=False).statistic == pytest.approx(2.433855516, rel=1e-8)
    assert berkeley.cmh_test().statistic == pytest.approx(1.426946229, rel=1e-8)
    assert berkeley.cmh_test().pvalue == pytest.approx(0.2322634628, rel=1e-8)
    assert berkeley.cmh_test(continuity=False).pvalue == pytest.approx(0.2169236971, rel=1e-8)


def test_breslow_day_warns_when_fitted_counts_are_small():
    sparse = StratifiedTable([[[3, 9], [1, 15]], [[4, 6], [2, 9]]])
    with pytest.warns(UserWarning, match=r"fitted count of the Breslow-Day test is .* < 5: the chi-square approx"):
        test = sparse.breslow_day()
    assert test.details["min_expected"] < 5
    ref = smct.StratifiedTable([np.array(t) for t in sparse.counts]).test_equal_odds(adjust=True)
    assert test.statistic == pytest.approx(ref.statistic)


def test_kidney_mh_risk_difference_value(kidney):
    # Written out for the two kidney strata: weights 87*270/357 and 263*80/343.
    w1, w2 = 87 * 270 / 357, 263 * 80 / 343
    rd1, rd2 = 81 / 87 - 234 / 270, 192 / 263 - 55 / 80
    assert kidney.risk_difference().estimate == pytest.approx((w1 * rd1 + w2 * rd2) / (w1 + w2))
    assert kidney.risk_difference().estimate > 0 > kidney.marginal.risk_difference().estimate


@pytest.mark.parametrize("weights", ["stratum_size", "treated", "control"])
def test_standardized_risk_difference_by_hand(kidney, weights):
    (a1, b1), (c1, d1) = KIDNEY["small"]
    (a2, b2), (c2, d2) = KIDNEY["large"]
    sizes = {"stratum_size": (357, 343), "treated": (87, 263), "control": (270, 80)}[weights]
    pi = np.array(sizes) / sum(sizes)
    p1, p0 = np.array([a1 / 87, a2 / 263]), np.array([c1 / 270, c2 / 80])
    var = np.sum(pi**2 * (p1 * (1 - p1) / np.array([87, 263]) + p0 * (1 - p0) / np.array([270, 80])))
    est = kidney.standardized_risk_difference(weights=weights)
    assert est.estimate == pytest.approx(np.sum(pi * (p1 - p0)))
    assert est.standard_error == pytest.approx(math.sqrt(var))
    assert est.details["weights"] == weights and est.details["stratum_weights"] == pytest.approx(tuple(pi))
    if weights == "stratum_size":  # Ding ch. 1: sum_k pi_k (p1k - p0k), pi_k = n_k / n
        assert est.estimate == pytest.approx(357 / 700 * (81 / 87 - 234 / 270) + 343 / 700 * (192 / 263 - 55 / 80))


def test_stratum_estimates(kidney):
    table = kidney.stratum_estimates("risk_ratio")
    assert isinstance(table, EstimateTable) and len(table) == 2
    assert table[0].estimand == "risk ratio [small]" and table[1].details["stratum"] == "large"
    assert table[0].estimate == pytest.approx(Table2x2(KIDNEY["small"]).risk_ratio().estimate)
    newcombe = kidney.stratum_estimates("risk_difference", method="newcombe", confidence_level=0.9)
    assert newcombe[1].method == "newcombe" and newcombe[1].confidence_level == 0.9
    assert "odds ratio [large]" in kidney.stratum_estimates("odds_ratio", correction=0.5).summary()


def test_from_data_matches_counts():
    rows = []
    for size, ((a, b), (c, d)) in KIDNEY.items():
        for z, y, count in ((1, 1, a), (1, 0, b), (0, 1, c), (0, 0, d)):
            rows += [{"size": size, "open": z, "success": bool(y)}] * count
    df = pd.DataFrame(rows)
    st = StratifiedTable.from_data(df, treatment="open", outcome="success", strata="size")
    assert st.labels == ("large", "small")  # sorted
    assert st.counts.tolist() == [KIDNEY["large"], KIDNEY["small"]]
    numeric = StratifiedTable.from_data(df.assign(size=(df["size"] == "large").astype(np.int64)),
                                        treatment="open", outcome="success", strata="size")
    assert numeric.labels == (0, 1) and type(numeric.labels[0]) is int


def test_zero_cells_documented_and_corrected():
    sparse = StratifiedTable([[[0, 4], [2, 3]], [[0, 5], [1, 6]]])
    odds = sparse.odds_ratio()
    assert odds.estimate == 0 and odds.confidence_interval == (0, math.inf) and "zero product" in odds.details["note"]
    rr = sparse.risk_ratio()
    assert rr.estimate == 0 and "zero events" in rr.details["note"]
    corrected = sparse.odds_ratio(correction=0.5)
    assert 0 < corrected.estimate < 1 and corrected.details["correction"] == 0.5
    rd = sparse.risk_difference()
    assert rd.estimate < 0 and math.isfinite(rd.standard_error) and rd.details["correction"] is None
    with pytest.raises(ValueError, match=r"odds ratio \(MH\) is 0/0"):
        StratifiedTable([[[0, 4], [0, 3]], [[0, 5], [0, 6]]]).odds_ratio()
    with pytest.raises(ValueError, match=r"CMH test is undefined"):
        StratifiedTable([[[0, 4], [0, 3]], [[0, 5], [0, 6]]]).cmh_test()


def test_breslow_day_skips_uninformative_strata():
    st = StratifiedTable(list(BERKELEY_TABLES.values()) + [[[0, 4], [0, 3]]], labels=[*BERKELEY_TABLES, "G"])
    full = both()[1][1].breslow_day()
    est = st.breslow_day()
    assert est.statistic == pytest.approx(full.statistic) and est.details["strata_used"] == tuple("ABCDEF")
    with pytest.raises(ValueError, match=r"at least two strata containing both outcomes, found 1"):
        StratifiedTable([KIDNEY["small"], [[0, 4], [0, 3]]]).breslow_day()
    with pytest.raises(ValueError, match=r"Breslow-Day test is undefined when the MH odds ratio is 0"):
        StratifiedTable([[[0, 4], [2, 3]], [[0, 5], [1, 6]]]).breslow_day()


def test_bad_tables():
    with pytest.raises(ValueError, match=r"`tables`: stratum 'b' has no control \(Z=0\) units"):
        StratifiedTable([KIDNEY["small"], [[3, 4], [0, 0]]], labels=["a", "b"])
    with pytest.raises(ValueError, match=r"`tables\[1\]` must have shape \(2, 2\)"):
        StratifiedTable([KIDNEY["small"], [1, 2, 3, 4]])
    with pytest.raises(ValueError, match=r"`tables\[0\]` must be non-negative"):
        StratifiedTable([[[1, -2], [3, 4]]])
    with pytest.raises(ValueError, match=r"`tables\[0\]` must hold integer counts"):
        StratifiedTable([[[1, 2.5], [3, 4]]])
    with pytest.raises(ValueError, match=r"`tables\[0\]` must be finite"):
        StratifiedTable([[[1, np.nan], [3, 4]]])
    with pytest.raises(ValueError, match=r"`tables` must contain at least one stratum"):
        StratifiedTable([])
    with pytest.raises(ValueError, match=r"`tables` as one array must have shape \(K, 2, 2\)"):
        StratifiedTable(np.ones((2, 2)))
    with pytest.raises(TypeError, match=r"`tables` must be a list of 2x2 tables"):
        StratifiedTable(Table2x2(KIDNEY["small"]))
    with pytest.raises(ValueError, match=r"`labels` has 3 names for 2 tables"):
        StratifiedTable(list(KIDNEY.values()), labels=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"`labels` must be distinct"):
        StratifiedTable(list(KIDNEY.values()), labels=["a", "a"])
    with pytest.raises(TypeError, match=r"`labels` must be a sequence of stratum names"):
        StratifiedTable(list(KIDNEY.values()), labels="ab")


def test_bad_options(kidney):
    with pytest.raises(ValueError, match=r"`weights` must be one of \['stratum_size', 'treated', 'control'\]"):
        kidney.standardized_risk_difference(weights="size")
    with pytest.raises(ValueError, match=r"`measure` must be one of"):
        kidney.stratum_estimates("hazard_ratio")
    with pytest.raises(ValueError, match=r"`method` must be one of \['katz'\]"):
        kidney.stratum_estimates("risk_ratio", method="wald")
    with pytest.raises(ValueError, match=r"`confidence_level` must be in \(0, 1\)"):
        kidney.odds_ratio(confidence_level=1.0)
    with pytest.raises(ValueError, match=r"`correction` must be None or a positive finite number"):
        kidney.risk_difference(correction=-0.5)
    with pytest.raises(TypeError, match=r"`continuity` must be True or False"):
        kidney.cmh_test(continuity=0.5)
    with pytest.raises(ValueError, match=r"`method` must be one of \['sato', 'greenland_robins'\]"):
        kidney.risk_difference(method="wald")
    with pytest.raises(TypeError, match=r"takes 1 positional argument"):
        kidney.odds_ratio(0.9)  # options are keyword-only
    with pytest.raises(TypeError, match=r"`tarone` must be True or False"):
        kidney.breslow_day(tarone="yes")


def test_from_data_bad_input():
    df = pd.DataFrame({"z": [1, 0, 1, 0, 1, 1], "y": [1, 0, 0, 1, 1, 0], "s": ["a", "a", "b", "b", "c", "c"],
                       "s_na": ["a", "a", None, "b", "b", "b"], "y3": [0, 1, 3, 1, 0, 1]})
    with pytest.raises(ValueError, match=r"`strata`: stratum 'c' has no control \(Z=0\) units"):
        StratifiedTable.from_data(df, treatment="z", outcome="y", strata="s")
    with pytest.raises(ValueError, match=r"`strata`: column 'size' is not in `data`"):
        StratifiedTable.from_data(df, treatment="z", outcome="y", strata="size")
    with pytest.raises(ValueError, match=r"`strata`: column 's_na' has 1 missing value"):
        StratifiedTable.from_data(df, treatment="z", outcome="y", strata="s_na")
    with pytest.raises(ValueError, match=r"`outcome` must be binary"):
        StratifiedTable.from_data(df, treatment="z", outcome="y3", strata="s")
    with pytest.raises(ValueError, match=r"`treatment`: column 'zz' is not in `data`"):
        StratifiedTable.from_data(df, treatment="zz", outcome="y", strata="s")


def test_results_are_estimates_and_tests(kidney):
    for est in (kidney.risk_difference(), kidney.risk_ratio(), kidney.odds_ratio(),
                kidney.standardized_risk_difference()):
        assert isinstance(est, Estimate) and est.n == 700 and "\n" not in repr(est)
    for test in (kidney.cmh_test(), kidney.breslow_day()):
        assert isinstance(test, HypothesisTest) and test.n == 700 and "\n" not in repr(test)


def test_from_data_keeps_categorical_order():
    df = pd.DataFrame({
        "z": [1, 0, 1, 0, 1, 0],
        "y": [1, 0, 0, 1, 1, 1],
        "s": pd.Categorical(["small", "small", "large", "large", "small", "large"], categories=["small", "large"]),
    })
    st = StratifiedTable.from_data(df, treatment="z", outcome="y", strata="s")
    assert list(st.labels) == ["small", "large"]
    # small: treated y = (1, 1), control y = (0) -> [[2, 0], [0, 1]];
    # large: treated (0), control (1, 1) -> [[0, 1], [2, 0]]
    assert st.strata[0].counts.tolist() == [[2, 0], [0, 1]]
    assert st.strata[1].counts.tolist() == [[0, 1], [2, 0]]
