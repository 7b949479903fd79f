import math

import pandas as pd
import pytest
from scipy import stats

from causalattn import EstimateTable, HypothesisTest, PairedTable, Table2x2, adjust_pvalues, effects_frame, plot_forest


def test_repr_is_one_line_and_to_dict_flattens_details():
    test = HypothesisTest("independence (p1 = p0)", 2.5, 1, 0.1138, "chi2", 357,
                          details={"min_expected": 6.5, "array": [1, 2]})
    assert repr(test) == ("HypothesisTest(independence (p1 = p0): statistic = 2.5, dof = 1, p = 0.114; "
                          "method=chi2, n=357)")
    d = test.to_dict()
    assert d == {"hypothesis": "independence (p1 = p0)", "statistic": 2.5, "dof": 1.0, "pvalue": 0.1138,
                 "method": "chi2", "n": 357, "min_expected": 6.5}
    with pytest.raises(AttributeError):
        test.pvalue = 0.5  # frozen
    with pytest.raises(TypeError):
        test.details["x"] = 1  # read-only


def test_exact_test_has_no_dof():
    test = PairedTable([[794, 86], [150, 570]]).mcnemar()
    assert test.dof is None and "(exact)" in repr(test) and "\n" not in repr(test)
    assert test.pvalue == pytest.approx(stats.binomtest(86, 236, 0.5).pvalue)


def test_several_tests_make_a_frame():
    t = Table2x2([[81, 6], [234, 36]])
    frame = pd.DataFrame([x.to_dict() for x in (t.chi2_test(), t.chi2_test(continuity=False))])
    assert list(frame["method"]) == ["chi2-yates", "chi2"]
    assert frame["statistic"].tolist() == pytest.approx(
        [stats.chi2_contingency(t.counts, correction=c).statistic for c in (True, False)])


def test_tests_sit_in_an_estimate_table_with_empty_estimate_columns():
    t = Table2x2([[81, 6], [234, 36]])
    table = EstimateTable([t.risk_difference(), t.chi2_test(), t.chi2_test(continuity=False)], title="kidney")
    frame = table.to_frame()
    reference = [stats.chi2_contingency(t.counts, correction=c) for c in (True, False)]
    assert frame["statistic"].tolist()[1:] == pytest.approx([r.statistic for r in reference])
    assert frame["pvalue"].tolist()[1:] == pytest.approx([r.pvalue for r in reference])
    assert frame.loc[1:, ["estimate", "standard_error", "ci_low", "ci_high"]].isna().all(axis=None)
    assert frame["hypothesis"].tolist()[1:] == ["independence (p1 = p0)"] * 2 and pd.isna(frame["hypothesis"][0])
    lines = table.summary(columns=["statistic"]).splitlines()
    assert lines[0] == "kidney" and lines[-1].startswith("H0: independence (p1 = p0)")
    assert lines[-1].split()[5:] == ["-", "-", "-", f"{reference[1].pvalue:.3g}", f"{reference[1].statistic:.4g}",
                                     "chi2", "357"]


def test_adjust_pvalues_adjusts_tests_by_hand():
    t = Table2x2([[81, 6], [234, 36]])
    tests = EstimateTable([t.chi2_test(), t.chi2_test(continuity=False)])
    p = [x.pvalue for x in tests]
    holm = sorted([2 * min(p), max(2 * min(p), max(p))])
    adjusted = adjust_pvalues(tests, "holm")
    assert [x.details["pvalue_adjusted"] for x in adjusted] == pytest.approx(
        holm if p[0] < p[1] else holm[::-1])
    assert all(isinstance(x, HypothesisTest) for x in adjusted)


def test_estimate_only_consumers_refuse_test_rows():
    t = Table2x2([[81, 6], [234, 36]])
    table = EstimateTable([t.risk_difference(), t.chi2_test()])
    with pytest.raises(TypeError, match=r"`table`: a forest plot needs estimates, but row\(s\) \[1\] are Hypothesis"):
        plot_forest(table)
    with pytest.raises(TypeError, match=r"`table`: the effects table needs estimates, but row\(s\) \[1\]"):
        effects_frame(table)
    with pytest.raises(TypeError, match="`estimates` must contain Estimate or HypothesisTest objects, item 1 is dict"):
        EstimateTable([t.chi2_test(), {}])


@pytest.mark.parametrize("changes, error, match", [
    ({"pvalue": math.nan}, ValueError, r"`pvalue` must be in \[0, 1\] \(a test always has one\), got nan"),
    ({"pvalue": 1.5}, ValueError, r"`pvalue` must be in \[0, 1\]"),
    ({"pvalue": None}, TypeError, "`pvalue` must be a real number in \\[0, 1\\], got None"),
    ({"statistic": math.nan}, ValueError, "`statistic` is NaN"),
    ({"statistic": "2"}, TypeError, "`statistic` must be a real number"),
    ({"dof": 0}, ValueError, r"`dof` must be positive \(None for an exact test\), got 0"),
    ({"n": 2.5}, TypeError, "`n` must be a whole number"),
    ({"n": -1}, ValueError, "`n` must be non-negative"),
    ({"method": 3}, TypeError, "`method` must be a string"),
    ({"details": [1]}, TypeError, "`details` must be a mapping"),
])
def test_hypothesis_test_refuses_nonsense_at_construction(changes, error, match):
    fields = dict(hypothesis="independence", statistic=2.5, dof=1, pvalue=0.11, method="chi2", n=357)
    with pytest.raises(error, match=match):
        HypothesisTest(**{**fields, **changes})


def test_repr_of_an_underflowed_p_value():
    # chi-square with 1 dof at 2000: the tail exp(-1000)-ish is below the smallest double, so p is 0.0
    pvalue = stats.chi2.sf(2000, 1)
    assert pvalue == 0.0
    test = HypothesisTest("independence", 2000.0, 1, pvalue, "chi2", 5000)
    assert repr(test) == "HypothesisTest(independence: statistic = 2000, dof = 1, p < 1e-300; method=chi2, n=5000)"
    assert "<1e-300" in EstimateTable([test]).summary() and test.to_dict()["pvalue"] == 0.0
