import math

import pandas as pd
import pytest
from scipy import stats

from causalattn import ConfidenceInterval, Estimate, EstimateTable
from causalattn.estimate import normal_estimate


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
