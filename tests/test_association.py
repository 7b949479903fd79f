import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats.contingency import odds_ratio as scipy_odds_ratio
from statsmodels.stats import contingency_tables as smct
from statsmodels.stats.proportion import confint_proportions_2indep

from causalattn import Estimate, HypothesisTest, Table2x2

# Kidney stones, small stones (Charig et al. 1986): open surgery 81/87 successes, PCNL 234/270.
SMALL = [[81, 6], [234, 36]]
Z975 = stats.norm.ppf(0.975)


@pytest.fixture
def small():
    return Table2x2(SMALL)


def test_properties(small):
    assert small.counts.tolist() == SMALL
    assert (small.n, small.n1, small.n0) == (357, 87, 270)
    assert small.p1 == pytest.approx(81 / 87)
    assert small.p0 == pytest.approx(234 / 270)
    assert not small.counts.flags.writeable
    assert repr(small) == "Table2x2([[81, 6], [234, 36]])"
    assert small.to_frame().loc["total", "total"] == 357


def test_small_stones_by_hand(small):
    # Hand computation for the small-stone table.
    p1, p0 = 81 / 87, 234 / 270
    se_rd = math.sqrt(p1 * (1 - p1) / 87 + p0 * (1 - p0) / 270)
    rd = small.risk_difference()
    assert rd.estimate == pytest.approx(0.0643678, abs=1e-7)
    assert rd.standard_error == pytest.approx(se_rd)
    assert rd.confidence_interval == pytest.approx((p1 - p0 - Z975 * se_rd, p1 - p0 + Z975 * se_rd))
    assert rd.pvalue == pytest.approx(2 * stats.norm.sf((p1 - p0) / se_rd))

    rr = small.risk_ratio()
    se_log_rr = math.sqrt(1 / 81 - 1 / 87 + 1 / 234 - 1 / 270)
    assert rr.estimate == pytest.approx(p1 / p0) and rr.estimate == pytest.approx(1.0742, abs=1e-4)
    assert rr.standard_error == pytest.approx(se_log_rr)
    assert rr.confidence_interval.low == pytest.approx(p1 / p0 * math.exp(-Z975 * se_log_rr))

    odds = small.odds_ratio()
    se_log_or = math.sqrt(1 / 81 + 1 / 6 + 1 / 234 + 1 / 36)
    assert odds.estimate == pytest.approx(81 * 36 / (6 * 234)) and odds.estimate == pytest.approx(2.0769, abs=1e-4)
    assert odds.standard_error == pytest.approx(se_log_or)
    assert odds.confidence_interval.high == pytest.approx(81 * 36 / (6 * 234) * math.exp(Z975 * se_log_or))
    for est in (rd, rr, odds):
        assert isinstance(est, Estimate)
        assert est.details["correction"] is None
        assert est.n == 357


@pytest.mark.parametrize(
    "counts",
    [SMALL, [[192, 71], [55, 25]], [[3, 9], [1, 15]], [[512, 313], [89, 19]], [[0, 5], [3, 4]], [[5, 0], [4, 0]]],
)
@pytest.mark.parametrize("level", [0.95, 0.9])
def test_rd_intervals_match_statsmodels(counts, level):
    (a, b), (c, d) = counts
    t = Table2x2(counts)
    for ours, theirs in (("wald", "wald"), ("newcombe", "newcomb")):
        expected = confint_proportions_2indep(a, a + b, c, c + d, method=theirs, compare="diff", alpha=1 - level)
        est = t.risk_difference(method=ours, confidence_level=level)
        assert est.confidence_interval == pytest.approx(expected, rel=1e-9)
        assert est.method == ours and est.confidence_level == level
    assert t.risk_difference(method="newcombe").standard_error is None


@pytest.mark.parametrize("counts", [SMALL, [[192, 71], [55, 25]], [[3, 9], [1, 15]]])
def test_katz_and_woolf_match_statsmodels(counts):
    ref = smct.Table2x2(np.asarray(counts), shift_zeros=False)
    t = Table2x2(counts)
    rr, odds = t.risk_ratio(confidence_level=0.9), t.odds_ratio(confidence_level=0.9)
    assert rr.estimate == pytest.approx(ref.riskratio)
    assert rr.standard_error == pytest.approx(ref.log_riskratio_se)
    assert rr.confidence_interval == pytest.approx(ref.riskratio_confint(alpha=0.1))
    assert rr.pvalue == pytest.approx(ref.riskratio_pvalue())
    assert odds.estimate == pytest.approx(ref.oddsratio)
    assert odds.standard_error == pytest.approx(ref.log_oddsratio_se)
    assert odds.confidence_interval == pytest.approx(ref.oddsratio_confint(alpha=0.1))
    assert odds.pvalue == pytest.approx(ref.oddsratio_pvalue())
    assert (rr.method, odds.method, rr.null_value, odds.null_value) == ("katz", "woolf", 1.0, 1.0)


@pytest.mark.parametrize("counts", [SMALL, [[3, 9], [1, 15]], [[0, 5], [3, 4]], [[5, 0], [3, 4]]])
@pytest.mark.parametrize("level", [0.95, 0.99])
def test_exact_odds_ratio_matches_scipy(counts, level):
    ref = scipy_odds_ratio(counts, kind="conditional")
    est = Table2x2(counts).odds_ratio(method="exact", confidence_level=level)
    assert est.estimate == pytest.approx(ref.statistic)
    assert est.confidence_interval == pytest.approx(tuple(ref.confidence_interval(confidence_level=level)))
    assert est.pvalue == pytest.approx(stats.fisher_exact(counts).pvalue)
    assert est.standard_error is None and est.method == "exact-conditional"


@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_fisher_exact_matches_scipy(small, alternative):
    est = small.fisher_exact(alternative=alternative)
    ref = scipy_odds_ratio(SMALL, kind="conditional").confidence_interval(alternative=alternative)
    fisher = stats.fisher_exact(SMALL, alternative=alternative)
    assert est.pvalue == pytest.approx(fisher.pvalue)
    assert est.details["sample_odds_ratio"] == pytest.approx(fisher.statistic)
    assert est.confidence_interval == pytest.approx(tuple(ref))
    assert est.estimand == "odds ratio" and est.method == "fisher-exact"


@pytest.mark.parametrize("yates", [False, True])
def test_chi2_matches_scipy(small, yates):
    ref = stats.chi2_contingency(SMALL, correction=yates)
    test = small.chi2_test(continuity=yates)
    assert isinstance(test, HypothesisTest)
    assert test.pvalue == pytest.approx(ref.pvalue)
    assert test.statistic == pytest.approx(ref.statistic)
    assert test.dof == 1 and test.n == 357
    assert test.method == ("chi2-yates" if yates else "chi2")
    assert "note" not in test.details  # every expected count is above 5
    if not yates:  # Pearson's X^2 is the square of the pooled-variance z statistic for p1 = p0
        p = 315 / 357
        z = (81 / 87 - 234 / 270) / math.sqrt(p * (1 - p) * (1 / 87 + 1 / 270))
        assert test.statistic == pytest.approx(z**2)


def test_chi2_default_is_yates_as_r():
    # R 4.2 chisq.test on the small-stone table (tests/reference/epir_reference.R); R's and scipy's
    # default is Yates' correction.
    test = Table2x2(SMALL).chi2_test()
    assert test.method == "chi2-yates"
    assert test.statistic == pytest.approx(2.042732014, rel=1e-8)
    assert test.pvalue == pytest.approx(0.1529347583, rel=1e-8)
    pearson = Table2x2(SMALL).chi2_test(continuity=False)
    assert (pearson.statistic, pearson.pvalue) == pytest.approx((2.626206897, 0.1051125543), rel=1e-8)


@pytest.mark.parametrize("counts", [[[0, 5], [3, 4]], [[5, 0], [3, 4]], [[2, 7], [0, 9]]])
def test_haldane_correction_matches_statsmodels_on_shifted_table(counts):
    ref = smct.Table2x2(np.asarray(counts) + 0.5, shift_zeros=False)
    t = Table2x2(counts)
    rr, odds = t.risk_ratio(correction=0.5), t.odds_ratio(correction=0.5)
    assert rr.estimate == pytest.approx(ref.riskratio)
    assert rr.confidence_interval == pytest.approx(ref.riskratio_confint())
    assert odds.estimate == pytest.approx(ref.oddsratio)
    assert odds.confidence_interval == pytest.approx(ref.oddsratio_confint())
    assert odds.pvalue == pytest.approx(ref.oddsratio_pvalue())
    assert rr.details["correction"] == odds.details["correction"] == 0.5


def test_correction_is_explicit_and_recorded():
    t = Table2x2([[0, 5], [3, 4]])
    plain, corrected = t.odds_ratio(), t.odds_ratio(correction=0.5)
    assert plain.estimate == 0 and plain.confidence_interval == (0, math.inf) and plain.pvalue is None
    assert "zero cell" in plain.details["note"] and plain.details["correction"] is None
    assert corrected.estimate == pytest.approx(0.5 * 4.5 / (5.5 * 3.5))
    assert corrected.standard_error == pytest.approx(math.sqrt(1 / 0.5 + 1 / 5.5 + 1 / 3.5 + 1 / 4.5))
    assert corrected.details["correction"] == 0.5
    rd = t.risk_difference(correction=0.5)
    assert rd.estimate == pytest.approx(0.5 / 6 - 3.5 / 8)
    assert rd.details["correction"] == 0.5


def test_zero_cells_documented_limits():
    rr0 = Table2x2([[0, 5], [3, 4]]).risk_ratio()
    assert rr0.estimate == 0 and rr0.confidence_interval == (0, math.inf)
    assert "zero events" in rr0.details["note"]
    rr_inf = Table2x2([[3, 4], [0, 5]]).risk_ratio()
    assert rr_inf.estimate == math.inf and rr_inf.confidence_interval == (0, math.inf)
    or_inf = Table2x2([[5, 0], [3, 4]]).odds_ratio()
    assert or_inf.estimate == math.inf and "inf" in or_inf.details["note"]
    exact = Table2x2([[0, 5], [3, 4]]).odds_ratio(method="exact")
    assert exact.estimate == 0 and exact.confidence_interval.low == 0 and "boundary" in exact.details["note"]
    all_risk_one = Table2x2([[5, 0], [4, 0]])
    rr1 = all_risk_one.risk_ratio()
    assert rr1.estimate == 1 and rr1.confidence_interval == (1, 1) and "point" in rr1.details["note"]
    rd0 = all_risk_one.risk_difference()
    assert rd0.standard_error == 0 and "newcombe" in rd0.details["note"]
    newcombe = all_risk_one.risk_difference(method="newcombe").confidence_interval
    assert newcombe.low < 0 == all_risk_one.risk_difference(method="newcombe").estimate
    for est in (rr0, rr_inf, or_inf, exact, rr1, rd0):
        assert not any(math.isnan(x) for x in (est.estimate, *est.confidence_interval))


def test_undefined_ratios_raise():
    no_events = Table2x2([[0, 5], [0, 4]])
    with pytest.raises(ValueError, match=r"risk ratio is 0/0 .*`correction=0.5`"):
        no_events.risk_ratio()
    with pytest.raises(ValueError, match=r"odds ratio is 0/0"):
        Table2x2([[5, 0], [4, 0]]).odds_ratio()
    with pytest.raises(ValueError, match=r"conditional odds ratio is undefined: every unit has the same outcome"):
        no_events.odds_ratio(method="exact")
    with pytest.raises(ValueError, match=r"chi-square test is undefined"):
        no_events.chi2_test()
    sparse = Table2x2([[0, 5], [3, 4]]).chi2_test(continuity=False)
    assert sparse.pvalue == pytest.approx(stats.chi2_contingency([[0, 5], [3, 4]], correction=False).pvalue)
    assert "fisher_exact" in sparse.details["note"]
    assert no_events.risk_ratio(correction=0.5).estimate == pytest.approx((0.5 / 6) / (0.5 / 5))


def test_from_data_counts_units():
    df = pd.DataFrame({"z": [1, 1, 1, 0, 0, 0, 0], "y": [True, False, True, True, False, False, False]})
    t = Table2x2.from_data(df, treatment="z", outcome="y")
    assert t.counts.tolist() == [[2, 1], [1, 3]]
    assert t == Table2x2([[2, 1], [1, 3]])


@pytest.mark.parametrize(
    ("counts", "error", "match"),
    [
        ([[1, 2], [3, -1]], ValueError, r"`counts` must be non-negative"),
        ([[1, 2.5], [3, 1]], ValueError, r"`counts` must hold integer counts"),
        ([[1, np.nan], [3, 1]], ValueError, r"`counts` must be finite"),
        ([[1, np.inf], [3, 1]], ValueError, r"`counts` must be finite"),
        ([1, 2, 3, 4], ValueError, r"`counts` must have shape \(2, 2\)"),
        ([[1, 2, 3], [4, 5, 6]], ValueError, r"`counts` must have shape \(2, 2\)"),
        ([["a", 2], [3, 4]], TypeError, r"`counts` must be a 2x2 array of counts"),
        ([[0, 0], [3, 4]], ValueError, r"`counts`: the table has no treated \(Z=1\) units"),
        ([[1, 2], [0, 0]], ValueError, r"`counts`: the table has no control \(Z=0\) units"),
    ],
)
def test_bad_counts(counts, error, match):
    with pytest.raises(error, match=match):
        Table2x2(counts)


def test_bad_options(small):
    with pytest.raises(ValueError, match=r"`method` must be one of \['wald', 'newcombe'\]"):
        small.risk_difference(method="score")
    with pytest.raises(ValueError, match=r"`method` must be one of \['katz'\]"):
        small.risk_ratio(method="wald")
    with pytest.raises(ValueError, match=r"`method` must be one of \['woolf', 'exact'\]"):
        small.odds_ratio(method="mle")
    with pytest.raises(ValueError, match=r"`alternative` must be one of"):
        small.fisher_exact(alternative="two.sided")
    with pytest.raises(ValueError, match=r"`confidence_level` must be in \(0, 1\)"):
        small.risk_difference(confidence_level=95)
    with pytest.raises(TypeError, match=r"`confidence_level` must be a number"):
        small.odds_ratio(confidence_level="0.95")
    with pytest.raises(ValueError, match=r"`correction` must be None or a positive finite number"):
        small.odds_ratio(correction=0)
    with pytest.raises(ValueError, match=r"`correction` must be None or a positive finite number"):
        small.risk_ratio(correction=math.inf)
    with pytest.raises(TypeError, match=r"`correction` must be None or a positive number"):
        small.risk_difference(correction=True)
    with pytest.raises(ValueError, match=r"`correction` cannot be used with method='exact'"):
        small.odds_ratio(method="exact", correction=0.5)
    with pytest.raises(TypeError, match=r"`continuity` must be True or False"):
        small.chi2_test(continuity=0.5)
    with pytest.raises(TypeError, match=r"takes 1 positional argument"):
        small.risk_difference("wald")  # options are keyword-only


BAD_FRAME = pd.DataFrame({"z": [1, 0, 1, 0], "y": [1, 0, 0, 1], "g": ["a", "b", "a", "b"], "y2": [0, 1, 2, 1],
                          "t1": [1, 1, 1, 1], "yn": [1, np.nan, 0, 1]})


@pytest.mark.parametrize(
    ("treatment", "outcome", "error", "match"),
    [
        ("zz", "y", ValueError, r"`treatment`: column 'zz' is not in `data`"),
        ("z", "missing", ValueError, r"`outcome`: column 'missing' is not in `data`"),
        ("z", "y2", ValueError, r"`outcome` must be binary \(0/1\), found values \[2.0\]"),
        ("g", "y", TypeError, r"`treatment` must be numeric"),
        ("z", "yn", ValueError, r"`outcome` must be finite"),
        ("t1", "y", ValueError, r"`treatment`: column 't1' has no control \(Z=0\) units"),
    ],
)
def test_from_data_bad_input(treatment, outcome, error, match):
    with pytest.raises(error, match=match):
        Table2x2.from_data(BAD_FRAME, treatment=treatment, outcome=outcome)


def test_from_data_needs_a_dataframe():
    with pytest.raises(TypeError, match=r"`data` must be a pandas DataFrame"):
        Table2x2.from_data(BAD_FRAME.to_numpy(), treatment="z", outcome="y")


@pytest.mark.parametrize("n", [10_000, 1_000_000])
def test_fisher_exact_on_large_tables_is_instant_and_skips_the_interval(n):
    # before: 4 s at n = 1e4 and over 10 minutes at 1e6 (the exact interval, not the p-value); now milliseconds
    est = Table2x2([[n, 5], [5, n]]).fisher_exact()
    assert est.pvalue == stats.fisher_exact([[n, 5], [5, n]]).pvalue
    assert math.isnan(est.confidence_level) and math.isnan(est.confidence_interval.low)
    assert "no exact interval" in est.details["note"] and "no CI" in repr(est)
    with pytest.raises(ValueError, match=r"the exact conditional interval would run over \d+ tables .* method='woolf'"):
        Table2x2([[n, 5], [5, n]]).odds_ratio(method="exact")


def test_exact_interval_kept_below_the_support_limit():
    counts = [[300, 5], [5, 300]]
    est = Table2x2(counts).fisher_exact()
    assert est.confidence_interval.low > 1 and est.confidence_level == 0.95


def test_cells_beyond_scipy_limit_and_inexact_counts_are_refused():
    big = 2**31
    with pytest.raises(ValueError, match=r"needs cells below 2\*\*31 \(scipy's limit\)"):
        Table2x2([[big, 5], [5, big]]).fisher_exact()
    assert Table2x2([[big, 5], [5, big]]).odds_ratio().estimate == pytest.approx(big**2 / 25)
    with pytest.raises(ValueError, match=r"`counts` must hold counts up to 2\*\*53"):
        Table2x2([[1e300, 5], [5, 1e300]])  # before: int64 overflow reported as "no treated units"
