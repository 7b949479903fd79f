import pandas as pd
import pytest
from scipy import stats

from causalattn import HypothesisTest, PairedTable, Table2x2


def test_repr_is_one_line_and_to_dict_flattens_details():
    test = HypothesisTest("independence (p1 = p0)", 2.5, 1, 0.1138, "chi2", 357,
                          details={"min_expected": 6.5, "array": [1, 2]})
    assert repr(test) == "HypothesisTest(independence (p1 = p0): statistic = 2.5, dof = 1, p = 0.114; method=chi2, n=357)"
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
