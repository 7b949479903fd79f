import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalattn import ConfidenceInterval, Estimate, EstimateTable
from causalattn.estimate import NOT_ESTIMABLE, normal_estimate


def test_normal_estimate_identity_matches_hand_computation():
    est = normal_estimate("rd", 0.1, 0.05, confidence_level=0.95, method="wald", n=100)
    z = 1.959963984540054
    assert est.confidence_interval.low == pytest.approx(0.1 - z * 0.05)
    assert est.confidence_interval.high == pytest.approx(0.1 + z * 0.05)
    assert est.pvalue == pytest.approx(2 * (1 - stats.norm.cdf(2.0)))
    assert est.null_value == 0.0


def test_normal_estimate_log_scale():
    est = normal_estimate("rr", 2.0, 0.1, confidence_level=0.9, method="katz", n=10, scale="log")
    z = stats.norm.ppf(0.95)
    assert est.confidence_interval == pytest.approx((2 * math.exp(-z * 0.1), 2 * math.exp(z * 0.1)))
    assert est.null_value == 1.0
    assert est.pvalue == pytest.approx(2 * stats.norm.sf(math.log(2) / 0.1))


def test_repr_is_one_line_and_to_dict_flattens_details():
    est = Estimate("risk difference", -0.046, 0.030, ConfidenceInterval(-0.105, 0.013), 0.95, 0.125, "wald", 700,
                   details={"correction": None, "statistic": 1.5, "array": [1, 2]})
    text = repr(est)
    assert "\n" not in text
    assert text == "Estimate(risk difference = -0.046, SE 0.03, 95% CI [-0.105, 0.013], p = 0.125; method=wald, n=700)"
    d = est.to_dict()
    assert d["ci_low"] == -0.105 and d["statistic"] == 1.5 and "array" not in d
    with pytest.raises(AttributeError):
        est.estimate = 1.0  # frozen
    with pytest.raises(TypeError):
        est.details["x"] = 1  # read-only


def test_table_summary_and_frame():
    a = normal_estimate("a", 1.0, 0.5, confidence_level=0.95, method="wald", n=10)
    b = normal_estimate("b", 2.0, 0.5, confidence_level=0.95, method="wald", n=10)
    table = EstimateTable([a, b], title="two")
    frame = table.to_frame()
    assert isinstance(frame, pd.DataFrame) and list(frame["estimand"]) == ["a", "b"]
    text = table.summary()
    assert "two" in text and "estimand" in text and len(text.splitlines()) == 6
    with pytest.raises(TypeError, match="`estimates`"):
        EstimateTable([a, 3])


def test_bad_confidence_level():
    with pytest.raises(ValueError, match="`confidence_level`"):
        normal_estimate("a", 1.0, 0.5, confidence_level=95, method="wald", n=10)
    with pytest.raises(ValueError, match="`scale`"):
        normal_estimate("a", 1.0, 0.5, confidence_level=0.95, method="wald", n=10, scale="logit")
    with pytest.raises(ValueError, match="`standard_error` must be non-negative, got -0.5"):
        normal_estimate("a", 1.0, -0.5, confidence_level=0.95, method="wald", n=10)


def _est(**changes):
    fields = dict(estimand="rd", estimate=0.5, standard_error=0.1, confidence_interval=(0.3, 0.7),
                  confidence_level=0.95, pvalue=0.01, method="wald", n=10)
    fields.update(changes)
    return Estimate(**fields)


@pytest.mark.parametrize("changes, error, match", [
    ({"pvalue": 5}, ValueError, r"`pvalue` must be in \[0, 1\]"),
    ({"pvalue": -0.5}, ValueError, r"`pvalue` must be in \[0, 1\]"),
    ({"pvalue": "0.1"}, TypeError, "`pvalue` must be a real number"),
    ({"standard_error": -1.0}, ValueError, "`standard_error` must be non-negative"),
    ({"confidence_level": -1}, ValueError, r"`confidence_level` must be in \(0, 1\)"),
    ({"confidence_level": 95}, ValueError, r"`confidence_level` must be in \(0, 1\)"),
    ({"confidence_interval": (2, 0)}, ValueError, "low <= high"),
    ({"confidence_interval": (0, 1, 2)}, ValueError, r"`confidence_interval` must be a pair"),
    ({"confidence_interval": (0,)}, ValueError, r"`confidence_interval` must be a pair"),
    ({"n": -3}, ValueError, "`n` must be non-negative"),
    ({"n": 2.7}, TypeError, "`n` must be a whole number"),
    ({"n": True}, TypeError, "`n` must be a whole number"),
    ({"estimate": "big"}, TypeError, "`estimate` must be a real number"),
    ({"method": None}, TypeError, "`method` must be a string"),
    ({"pvalue": math.nan}, ValueError, r"`pvalue` must be in \[0, 1\] \(None if there is no test\), got nan"),
    ({"standard_error": math.nan}, ValueError, r"`standard_error` must be non-negative \(None if .*got nan"),
    ({"estimate": math.nan}, ValueError, "`estimate` is NaN: only a row with method='not estimable'"),
])
def test_estimate_refuses_nonsense_at_construction(changes, error, match):
    with pytest.raises(error, match=match):
        _est(**changes)


def test_estimate_accepts_documented_special_values():
    # no interval (NaN level), unbounded ratio interval, unknown SE, whole-number float n
    assert math.isnan(_est(confidence_level=math.nan, confidence_interval=(math.nan, math.nan)).confidence_level)
    unbounded = _est(confidence_interval=(0.0, math.inf), standard_error=None, pvalue=None)
    assert unbounded.confidence_interval.high == math.inf
    assert _est(n=np.int64(7)).n == 7 and _est(n=8.0).n == 8


def test_estimate_is_hashable_and_equal_estimates_hash_equally():
    a, b = _est(details={"x": 1}), _est(details={"x": 1})
    assert a == b and hash(a) == hash(b)
    assert len({a, b, _est(estimate=0.4)}) == 2


def test_adjust_pvalues_cannot_see_a_pvalue_outside_unit_interval():
    # the p-value -0.5 that adjust_pvalues once turned into -1 is refused when the estimate is made
    with pytest.raises(ValueError, match="`pvalue`"):
        EstimateTable([_est(pvalue=-0.5)])


def test_summary_columns_as_string_and_unknown_column():
    table = EstimateTable([_est(details={"pvalue_adjusted": 0.02, "outcome": "acc"})])
    text = table.summary(columns="pvalue_adjusted")
    header = text.splitlines()[1].split()
    assert "pvalue_adjusted" in header and "p" in header and "0.02" in text
    assert table.summary(columns="outcome") == table.summary(columns=["outcome"])
    with pytest.raises(ValueError, match=r"`columns`: no estimate has \['nonsense'\]"):
        table.summary(columns=["nonsense"])
    with pytest.raises(TypeError, match="`title`"):
        EstimateTable([], title=3)


def test_summary_shows_a_column_that_every_row_leaves_empty():
    # before: Holm over rows without p-values (every ablation changed nothing) left pvalue_adjusted None on each
    # row, and summary(columns=["pvalue_adjusted"]) refused it as unknown: `causalattn ablate` stopped there
    table = EstimateTable([_est(pvalue=None, details={"pvalue_adjusted": None})])
    assert table.summary(columns="pvalue_adjusted").splitlines()[1].split()[5] == "pvalue_adjusted"


def test_not_estimable_row_carries_nan_estimate_and_nothing_else():
    # the lab's censored training-study row: NaN estimate, no SE, no interval, no test
    row = _est(estimate=math.nan, standard_error=None, confidence_interval=(math.nan, math.nan), pvalue=None,
               method=NOT_ESTIMABLE)
    assert math.isnan(row.estimate) and row.pvalue is None and row.standard_error is None
    assert NOT_ESTIMABLE == "not estimable"
    with pytest.raises(ValueError, match="`pvalue`"):
        _est(estimate=math.nan, pvalue=math.nan, method=NOT_ESTIMABLE)


def test_exact_fit_row_has_zero_se_and_no_pvalue():
    row = _est(standard_error=0.0, confidence_interval=(0.5, 0.5), pvalue=None, method="ols-exact-fit")
    assert row.standard_error == 0.0 and row.pvalue is None


def test_normal_estimate_refuses_nan_standard_error():
    with pytest.raises(ValueError, match="`standard_error` must be non-negative, got nan"):
        normal_estimate("a", 1.0, math.nan, confidence_level=0.95, method="wald", n=10)


def test_an_underflowed_p_value_reads_below_1e_300_in_the_table_the_repr_and_the_plot():
    # z = 1 / 0.025 = 40: the normal tail 2 * Phi(-40) is about 7e-350, below the smallest double, so p is 0.0
    from causalattn import plot_forest

    huge = normal_estimate("huge", 1.0, 0.025, confidence_level=0.95, method="wald", n=10,
                           details={"pvalue_adjusted": 0.0})
    small = normal_estimate("small", 0.1, 0.05, confidence_level=0.95, method="wald", n=10,
                            details={"pvalue_adjusted": 0.091})
    assert huge.pvalue == 0.0 == stats.norm.sf(40)
    table = EstimateTable([huge, small])
    lines = table.summary(columns="pvalue_adjusted").splitlines()
    assert lines[-2].split()[5:7] == ["<1e-300", "<1e-300"]  # p and p adjusted: never "0" or "0.00e+00"
    assert lines[-1].split()[5:7] == [f"{2 * stats.norm.sf(2):.3g}", "0.091"]  # 0.0455
    assert repr(huge).endswith("p < 1e-300; method=wald, n=10)") and "p = 0.0455;" in repr(small)
    texts = [t.get_text() for t in plot_forest(table).axes[0].texts]
    assert texts == ["p<1e-300  adj<1e-300", "p=0.046  adj=0.091"]  # the plot writes the same bound
    assert table.to_frame()["pvalue"].tolist() == [0.0, small.pvalue]  # stored numbers keep the float
