import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats

import causalattn
from causalattn import neyman


@pytest.fixture(scope="module")
def nsw():
    return causalattn.datasets.load("lalonde_nsw")


def test_nsw_difference_in_means_matches_issue_and_ols_hc2(nsw):
    est = neyman(nsw["re78"], nsw["treat"])
    assert est.estimate == pytest.approx(1794.3431, abs=1e-4)
    assert est.standard_error == pytest.approx(670.9967, abs=1e-4)
    fit = sm.OLS(nsw["re78"].to_numpy(float), sm.add_constant(nsw["treat"].to_numpy(float))).fit(cov_type="HC2")
    assert est.estimate == pytest.approx(fit.params[1], rel=1e-10)
    assert est.standard_error == pytest.approx(fit.bse[1], rel=1e-10)
    z = 1.959963984540054
    assert est.confidence_interval == pytest.approx((est.estimate - z * 670.9967296585892,
                                                     est.estimate + z * 670.9967296585892))
    assert est.method == "two-arm-normal" and est.n == 445 and est.details["n_treated"] == 185


def test_stratified_estimator_is_hand_computed_weighted_sum(nsw):
    y, z, s = nsw["re78"].to_numpy(float), nsw["treat"].to_numpy(), nsw["black"].to_numpy()
    tau, var = 0.0, 0.0
    for k in (0, 1):
        yk, zk = y[s == k], z[s == k]
        pi = len(yk) / len(y)
        y1, y0 = yk[zk == 1], yk[zk == 0]
        tau += pi * (y1.mean() - y0.mean())
        var += pi**2 * (y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
    est = neyman(y, z, strata=s, confidence_level=0.9)
    assert est.estimate == pytest.approx(tau, rel=1e-12)
    assert est.standard_error == pytest.approx(math.sqrt(var), rel=1e-10)
    assert est.method == "stratified-normal" and est.confidence_level == 0.9 and est.details["n_strata"] == 2


def test_paired_estimator_uses_pair_differences_in_any_unit_order():
    diffs = np.array([6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6])
    control = np.arange(15.0)
    y = np.concatenate([control + diffs, control])
    z = np.r_[np.ones(15), np.zeros(15)]
    pairs = np.r_[np.arange(15), np.arange(15)]
    est = neyman(y, z, pairs=pairs)
    assert est.estimate == pytest.approx(diffs.mean())
    assert est.standard_error == pytest.approx(math.sqrt(diffs.var(ddof=1) / 15))
    assert est.method == "paired-normal" and est.details["n_pairs"] == 15


def test_bad_input():
    y, z = [1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0]
    with pytest.raises(ValueError, match="`outcome` must be finite"):
        neyman([1.0, np.nan, 3.0, 4.0], z)
    with pytest.raises(ValueError, match="`treatment` must be binary"):
        neyman(y, [1, 2, 0, 0])
    with pytest.raises(ValueError, match="same length"):
        neyman(y, [1, 0, 0])
    with pytest.raises(ValueError, match="`treatment`: need at least 2 treated"):
        neyman(y, [1, 0, 0, 0])
    with pytest.raises(ValueError, match="`strata`: need at least 2 control unit.* in stratum 'b'"):
        neyman(y * 2, [1, 1, 0, 0, 1, 1, 0, 1], strata=list("aaaabbbb"))
    with pytest.raises(ValueError, match="`pairs`: every pair must hold exactly 2 units"):
        neyman(y, z, pairs=[0, 0, 0, 1])
    with pytest.raises(ValueError, match="`pairs`: need at least 1 control unit.* in pair 0"):
        neyman(y, [1, 1, 0, 0], pairs=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="`pairs`: need at least 2 pairs"):
        neyman(y[:2], [1, 0], pairs=[0, 0])
    with pytest.raises(TypeError, match="`strata` labels must be mutually comparable"):
        neyman(y, z, strata=[0, 0, None, 1])
    with pytest.raises(ValueError, match="`strata` or `pairs`, not both"):
        neyman(y, z, strata=[0, 0, 1, 1], pairs=[0, 1, 0, 1])
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        neyman(y, z, confidence_level=1.5)


def test_within_arm_constant_outcome_has_exact_zero_standard_error():
    # 0.1 + 0.2 is 0.30000000000000004: the one-pass variance used to leave an SE near 1e-9 and p = 0
    z = np.tile([0, 1], 10)
    for kwargs in ({}, {"strata": np.repeat([0, 1], 10)}, {"pairs": np.repeat(np.arange(10), 2)}):
        est = neyman(0.1 + 0.2 * z, z, **kwargs)
        assert est.estimate == pytest.approx(0.2) and est.standard_error == 0 and est.pvalue is None
    assert neyman(np.full(20, 0.1), z).estimate == 0.0


@pytest.mark.parametrize("scale", [1e200, 1e300, 1e-300])
def test_extreme_scales_give_the_rescaled_answer(scale):
    # before: NaN standard error at 1e300 (the squares overflowed)
    rng = np.random.default_rng(3)
    y, z = rng.normal(size=20), np.tile([0, 1], 10)
    unit, big = neyman(y, z), neyman(y * scale, z)
    assert big.estimate == pytest.approx(unit.estimate * scale, rel=1e-12)
    assert big.standard_error == pytest.approx(unit.standard_error * scale, rel=1e-12)
    assert big.pvalue == pytest.approx(unit.pvalue, rel=1e-9)


def test_overflowing_difference_is_refused():
    with pytest.raises(ValueError, match="`outcome`: the estimate, its standard error or its interval .* overflows"):
        neyman([1.7e308, 1.6e308, -1.7e308, -1.6e308], [1, 1, 0, 0])


def test_series_with_different_indexes_are_refused():
    import pandas as pd
    y = pd.Series([1.0, 2.0, 3.0, 4.0], index=[3, 2, 1, 0])
    with pytest.raises(ValueError, match="`outcome` and `treatment` are pandas objects with different indexes"):
        neyman(y, pd.Series([1, 1, 0, 0]))
    assert neyman(y, pd.Series([1, 1, 0, 0], index=y.index)).estimate == pytest.approx(-2.0)


def test_welch_t_interval_matches_scipy(nsw):
    y, z = nsw["re78"].to_numpy(float), nsw["treat"].to_numpy()
    for level in (0.95, 0.8):
        est = neyman(y, z, method="t", confidence_level=level)
        ref = stats.ttest_ind(y[z == 1], y[z == 0], equal_var=False)
        assert est.details["df"] == pytest.approx(ref.df, rel=1e-12)
        assert est.confidence_interval == pytest.approx(tuple(ref.confidence_interval(level)), rel=1e-12)
        assert est.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
        assert est.method == "two-arm-t" and est.standard_error == neyman(y, z).standard_error
    small = neyman([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0], method="t")
    ref = stats.ttest_ind([3.0, 5.0, 4.0], [1.0, 2.0, 2.0], equal_var=False)
    assert small.confidence_interval == pytest.approx(tuple(ref.confidence_interval()), rel=1e-12)
    assert small.confidence_interval.high - small.confidence_interval.low > (
        neyman([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0]).confidence_interval.high
        - neyman([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0]).confidence_interval.low)


def test_paired_t_interval_matches_ttest_rel():
    treated = np.array([6.1, 2.3, 5.0, 4.4, 3.9])
    control = np.array([5.0, 2.9, 3.1, 4.0, 2.2])
    est = neyman(np.r_[treated, control], np.r_[np.ones(5), np.zeros(5)], pairs=np.r_[np.arange(5), np.arange(5)],
                 method="t")
    ref = stats.ttest_rel(treated, control)
    assert est.details["df"] == 4 and est.method == "paired-t"
    assert est.confidence_interval == pytest.approx(tuple(ref.confidence_interval()), rel=1e-12)
    assert est.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


def test_stratified_t_uses_satterthwaite_degrees_of_freedom(nsw):
    y, z, s = nsw["re78"].to_numpy(float), nsw["treat"].to_numpy(), nsw["black"].to_numpy()
    parts, sizes = [], []
    for k in (0, 1):
        pi = np.mean(s == k)
        for arm in (1, 0):
            values = y[(s == k) & (z == arm)]
            parts.append(pi**2 * values.var(ddof=1) / len(values))
            sizes.append(len(values))
    parts, sizes = np.array(parts), np.array(sizes)
    df = parts.sum() ** 2 / np.sum(parts**2 / (sizes - 1))
    est = neyman(y, z, strata=s, method="t")
    assert est.details["df"] == pytest.approx(df, rel=1e-12)
    half = stats.t.ppf(0.975, df) * math.sqrt(parts.sum())
    assert est.confidence_interval == pytest.approx((est.estimate - half, est.estimate + half), rel=1e-10)
    with pytest.raises(ValueError, match="`method` must be one of \\['normal', 't'\\]"):
        neyman(y, z, method="welch")


def test_t_interval_with_zero_variance_is_a_point_without_pvalue():
    est = neyman([1.0, 1.0, 2.0, 2.0], [1, 1, 0, 0], method="t")
    assert est.estimate == -1.0 and est.standard_error == 0.0
    assert tuple(est.confidence_interval) == (-1.0, -1.0) and est.pvalue is None
