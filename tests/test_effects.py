"""The effect layer against independent numbers: scipy's t tests and bootstrap, exact enumeration by hand."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from causalattn import clustered_effect, neyman, paired_effect, rejects, two_arm_effect
from causalattn.effects import METHODS

RNG = np.random.default_rng(20261130)
Y1, Y0 = RNG.normal(1.0, 2.0, 9), RNG.normal(0.0, 1.0, 9)  # 9 pairs
ARMS = RNG.exponential(2.0, 7), RNG.exponential(1.0, 5)  # 7 treated, 5 control


def _coherent(est, alpha):
    """The interval excludes the null iff the test rejects it, p <= alpha (the t and normal ends, where p = alpha,
    are single points: a tie there within rounding counts as coherent)."""
    low, high = est.confidence_interval
    excludes = not low <= est.null_value <= high
    tie = "randomization" not in est.method and math.isclose(est.pvalue, alpha, rel_tol=1e-9)
    return excludes == rejects(est.pvalue, 1 - alpha) or tie


def test_paired_t_is_scipy_ttest_rel():
    for level in (0.95, 0.8):
        est = paired_effect(Y1, Y0, confidence_level=level, null_value=0.3)
        ref = stats.ttest_rel(Y1 - 0.3, Y0)
        ci = stats.ttest_rel(Y1, Y0).confidence_interval(level)
        assert est.method == "paired-t" and est.n == 9 and est.details["df"] == 8
        assert est.confidence_interval == pytest.approx((ci.low, ci.high), rel=1e-12)
        assert est.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
        assert est.estimate == pytest.approx(np.mean(Y1 - Y0))


def test_paired_normal_is_neyman():
    est = paired_effect(Y1, Y0, method="normal")
    ref = neyman(np.r_[Y1, Y0], np.repeat([1, 0], 9), pairs=np.tile(np.arange(9), 2))
    assert est.method == "paired-normal"
    assert (est.estimate, est.standard_error, est.pvalue) == pytest.approx((ref.estimate, ref.standard_error,
                                                                           ref.pvalue))
    assert est.confidence_interval == pytest.approx(ref.confidence_interval)


def test_two_arm_t_is_scipy_welch():
    y, z = np.r_[ARMS], np.repeat([1, 0], [7, 5])
    est = two_arm_effect(y, z)
    ref = stats.ttest_ind(*ARMS, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert est.method == "two-arm-t" and est.n == 12
    assert est.confidence_interval == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert est.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert est.details["df"] == pytest.approx(ref.df)
    normal = two_arm_effect(y, z, method="normal")
    ney = neyman(y, z)
    assert normal.confidence_interval == pytest.approx(ney.confidence_interval) and normal.pvalue == pytest.approx(
        ney.pvalue)


def _sign_flip_p(d, tau):
    """Two-sided exact sign-flip p-value of the mean of d - tau, over all 2^m sign vectors (by hand)."""
    x = np.asarray(d) - tau
    observed = x.mean()
    null = np.array([np.mean(np.array(s) * x) for s in itertools.product((1, -1), repeat=len(x))])
    tol = 1e-12 * max(1.0, abs(observed))
    return min(1.0, 2 * min(np.mean(null >= observed - tol), np.mean(null <= observed + tol)))


def test_paired_randomization_is_exact_sign_flip_enumeration():
    d = Y1[:7] - Y0[:7]
    est = paired_effect(Y1[:7], Y0[:7], method="randomization", null_value=0.5)
    assert est.method == "paired-randomization-exact" and est.details["exact"]
    assert est.pvalue == pytest.approx(_sign_flip_p(d, 0.5))
    low, high = est.confidence_interval
    step = 0.01 * d.std()
    # the interval is {tau : p(tau) > 0.05}: just inside its ends p > 0.05, just outside p <= 0.05
    assert _sign_flip_p(d, low + step) > 0.05 >= _sign_flip_p(d, low - step)
    assert _sign_flip_p(d, high - step) > 0.05 >= _sign_flip_p(d, high + step)


def test_few_pairs_give_an_infinite_randomization_interval():
    est = paired_effect([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], method="randomization")
    assert est.pvalue == pytest.approx(0.25)  # 2 of the 8 sign vectors are as extreme
    assert est.confidence_interval == (-math.inf, math.inf)


def test_two_arm_randomization_is_exact_permutation_enumeration():
    y = np.array([4.1, 5.3, 6.0, 7.2, 1.0, 2.2, 3.1, 1.7])
    z = np.repeat([1, 0], 4)
    est = two_arm_effect(y, z, method="randomization", null_value=0.5)
    y0 = y - 0.5 * z
    observed = y0[:4].mean() - y0[4:].mean()
    null = np.array([y0[list(c)].mean() - np.delete(y0, list(c)).mean()
                     for c in itertools.combinations(range(8), 4)])  # the 70 assignments
    p = min(1.0, 2 * min(np.mean(null >= observed - 1e-12), np.mean(null <= observed + 1e-12)))
    assert est.method == "two-arm-randomization-exact" and est.pvalue == pytest.approx(p)


def test_bootstrap_is_scipy_bca_and_its_pvalue_inverts_it():
    d = Y1 - Y0
    est = paired_effect(Y1, Y0, method="bootstrap", rng=7, n_resamples=4000)
    ref = stats.bootstrap((d,), np.mean, n_resamples=4000, rng=np.random.default_rng(7), method="BCa")
    assert est.method == "paired-bootstrap"
    assert est.confidence_interval == pytest.approx(tuple(ref.confidence_interval), rel=1e-12)
    p = est.pvalue

    def excludes(alpha):
        ci = stats.bootstrap((d,), np.mean, n_resamples=4000, rng=np.random.default_rng(7), method="BCa",
                             confidence_level=1 - alpha).confidence_interval
        return not ci.low <= 0 <= ci.high

    assert 0 < p < 1 and excludes(p * 1.001) and not excludes(p * 0.999)
    arms = two_arm_effect(np.r_[ARMS], np.repeat([1, 0], [7, 5]), method="bootstrap", rng=3, n_resamples=3000)
    ref = stats.bootstrap(ARMS, lambda a, b, axis: a.mean(axis) - b.mean(axis), n_resamples=3000,
                          rng=np.random.default_rng(3), method="BCa")
    assert arms.confidence_interval == pytest.approx(tuple(ref.confidence_interval), rel=1e-12)


def test_clustered_nested_is_a_t_interval_on_the_cluster_means():
    rng = np.random.default_rng(1)
    sizes = [5, 8, 3, 6]  # sequences per model
    clusters = np.repeat(["a", "b", "c", "d"], sizes)
    d = rng.normal(-0.5, 0.3, len(clusters)) + np.repeat(rng.normal(0, 0.2, 4), sizes)
    est = clustered_effect(d, clusters)
    means = np.array([d[clusters == g].mean() for g in "abcd"])  # by hand
    se = means.std(ddof=1) / 2
    half = stats.t.ppf(0.975, 3) * se
    assert est.method == "clustered-paired-t" and est.n == 22 and est.details["n_clusters"] == 4
    assert est.estimate == pytest.approx(means.mean()) and est.standard_error == pytest.approx(se)
    assert est.confidence_interval == pytest.approx((means.mean() - half, means.mean() + half))
    assert est.pvalue == pytest.approx(2 * stats.t.sf(abs(means.mean()) / se, 3))
    flips = clustered_effect(d, clusters, method="randomization")
    assert flips.pvalue == pytest.approx(_sign_flip_p(means, 0.0)) and flips.pvalue >= 2 / 16


def test_cluster_randomized_is_welch_and_a_permutation_of_whole_clusters():
    rng = np.random.default_rng(2)
    clusters = np.repeat(np.arange(6), 4)
    z = np.repeat([1, 0, 1, 0, 1, 0], 4)
    y = rng.normal(0, 1, 24) + z
    means = np.array([y[clusters == g].mean() for g in range(6)])
    est = clustered_effect(y, clusters, treatment=z)
    ref = stats.ttest_ind(means[::2], means[1::2], equal_var=False)
    assert est.method == "cluster-randomized-t"
    assert est.pvalue == pytest.approx(ref.pvalue) and est.confidence_interval == pytest.approx(
        tuple(ref.confidence_interval()))
    perm = clustered_effect(y, clusters, treatment=z, method="randomization")
    observed = means[::2].mean() - means[1::2].mean()
    null = [means[list(c)].mean() - np.delete(means, list(c)).mean() for c in itertools.combinations(range(6), 3)]
    p = min(1.0, 2 * min(np.mean(np.array(null) >= observed - 1e-12), np.mean(np.array(null) <= observed + 1e-12)))
    assert perm.pvalue == pytest.approx(p) and perm.confidence_interval == (-math.inf, math.inf)  # p >= 0.1


def test_cluster_randomized_randomization_goes_through_the_design_with_unequal_sizes():
    # 7 clusters of unequal sizes, 3 treated: 35 assignments, enumerated by hand on the cluster means
    sizes = [1, 3, 2, 4, 2, 1, 3]
    clusters = np.repeat(np.arange(7), sizes)
    treated = np.array([1, 0, 1, 0, 0, 1, 0])
    rng = np.random.default_rng(11)
    y = rng.normal(size=len(clusters)) + 1.5 * treated[clusters]
    means = np.array([y[clusters == g].mean() for g in range(7)])
    est = clustered_effect(y, clusters, treatment=treated[clusters], method="randomization", confidence_level=0.8)
    observed = means[treated == 1].mean() - means[treated == 0].mean()
    null = np.array([means[list(c)].mean() - np.delete(means, list(c)).mean()
                     for c in itertools.combinations(range(7), 3)])
    p = min(1.0, 2 * min(np.mean(null >= observed - 1e-12), np.mean(null <= observed + 1e-12)))
    assert est.method == "cluster-randomized-randomization-exact" and est.details["n_resamples"] == 35
    assert est.estimate == pytest.approx(observed) and est.pvalue == pytest.approx(p)
    # the interval inverts the same test: its ends are accepted at 80%, effects beyond them rejected
    low, high = est.confidence_interval
    assert low < observed < high and math.isfinite(low) and math.isfinite(high)
    for inside, outside in ((low, low - 0.05), (high, high + 0.05)):
        shifted = [clustered_effect(y, clusters, treatment=treated[clusters], method="randomization",
                                    null_value=tau).pvalue for tau in (inside, outside)]
        assert shifted[0] > 0.2 >= shifted[1]


@pytest.mark.parametrize("method", METHODS)
def test_interval_and_pvalue_agree_on_every_data_set(method):
    rng = np.random.default_rng(5)
    for trial in range(6):
        m = 10 + trial
        y1, y0 = rng.exponential(1.0, m) + rng.normal(0, 0.3) * trial / 6, rng.exponential(1.0, m)
        level = (0.95, 0.9, 0.8)[trial % 3]
        kw = dict(method=method, confidence_level=level, rng=trial, n_resamples=999)
        for est in (paired_effect(y1, y0, **kw), two_arm_effect(np.r_[y1, y0], np.repeat([1, 0], m), **kw),
                    clustered_effect(y1 - y0, np.arange(m) // 2, **kw)):
            assert _coherent(est, 1 - level), (trial, est)


def test_extra_pvalues_travel_in_details_and_match_their_method():
    t = paired_effect(Y1, Y0, rng=4, extra_pvalues=("randomization", "normal", "t"), n_resamples=300)
    flips = paired_effect(Y1, Y0, method="randomization", rng=4, n_resamples=300)
    assert t.details["pvalue_randomization"] == flips.pvalue  # the same sign flips
    assert t.details["pvalue_t"] == t.pvalue
    assert t.details["pvalue_normal"] == pytest.approx(paired_effect(Y1, Y0, method="normal").pvalue)
    assert t.pvalue == paired_effect(Y1, Y0).pvalue  # the extras do not touch the row's own p-value


def test_no_variation_gives_a_degenerate_interval_and_no_pvalue():
    # every sequence loses exactly 0.1 (up to rounding): no t test, never a "significant" rounding error
    est = paired_effect([0.3, 0.6, 0.9], [0.2, 0.5, 0.8])
    assert est.standard_error == 0 and est.pvalue is None and "degenerate" in est.details
    assert est.confidence_interval.low == est.confidence_interval.high == est.estimate
    zero = paired_effect([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], method="randomization")
    assert zero.pvalue == 1.0
    assert two_arm_effect([1] * 5 + [0] * 5, [1] * 5 + [0] * 5, method="bootstrap").pvalue is None


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: paired_effect([1.0], [0.0]), ValueError, "`treated`: need at least 2 pairs"),
        (lambda: paired_effect([1.0, 2.0], [0.0]), ValueError, "same length"),
        (lambda: paired_effect([1.0, np.nan], [0.0, 1.0]), ValueError, "`treated` must be finite"),
        (lambda: paired_effect([1.0, 2.0], ["a", "b"]), TypeError, "`control` must be numeric"),
        # before: a nullable column's missing value read "`treated` must be numeric, could not convert it"
        (lambda: paired_effect(pd.Series([1.0, None, 2.0], dtype="Float64"), [0.0, 1.0, 2.0]), ValueError,
         r"^`treated` must be finite, found 1 missing \(NaN\) or infinite value\(s\); drop or impute those rows"),
        (lambda: paired_effect(pd.Series(["a", "b"]), [0.0, 1.0]), TypeError,
         r"^`treated` must be numeric, got dtype \w+; encode it first"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], method="wald"), ValueError, "`method` must be one of"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], confidence_level=95), ValueError, "`confidence_level`"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], null_value=math.inf), ValueError, "`null_value` must be a"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], null_value="0"), TypeError, "`null_value` must be a"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], null_value=10**400), ValueError,
         "`null_value` is too large for floating point"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], n_resamples=0), ValueError, "`n_resamples` must be"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], rng="x"), TypeError, "`rng` must be"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], extra_pvalues="t"), TypeError, "`extra_pvalues` must be a"),
        (lambda: paired_effect([1.0, 2.0], [0.0, 1.0], extra_pvalues=["z"]), ValueError, "`extra_pvalues` must be"),
        (lambda: two_arm_effect([1.0, 2.0, 3.0], [1, 0, 0]), ValueError, "need at least 2 treated and 2 control"),
        (lambda: two_arm_effect([1.0, 2.0, 3.0], [1, 0, 2]), ValueError, "`treatment` must be binary"),
        (lambda: clustered_effect([1.0, 2.0], [0, 0]), ValueError, "`clusters`: need at least 2 clusters"),
        (lambda: clustered_effect([1.0, 2.0], [0, 1, 2]), ValueError, "`clusters` has 3"),
        (lambda: clustered_effect([1.0, 2.0], [[0, 1]]), ValueError, "`clusters` must be one-dimensional"),
        (lambda: clustered_effect([1.0, 2.0], [0, None]), TypeError, "`clusters` labels must be mutually"),
        (lambda: clustered_effect([1.0, 2.0], [0.0, np.nan]), ValueError, "`clusters` must not contain NaN"),
        (lambda: clustered_effect([1.0] * 4, [0, 0, 1, 1], treatment=[1, 0, 1, 0]), ValueError,
         "`treatment` must be constant within each cluster"),
        (lambda: clustered_effect([1.0] * 4, [0, 1, 2, 3], treatment=[1, 0, 0, 0]), ValueError,
         "need at least 2 treated and 2 control clusters"),
    ],
)
def test_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_the_test_and_the_interval_follow_one_rule_at_the_boundary():
    # issue 18, item 12: p = 1 - level exactly. The 5 sign flips' smallest p-value is 2/32 = 0.0625: at the 93.75%
    # level the test rejects and the interval [1, 5] excludes 0
    est = paired_effect([1.0, 2, 3, 4, 5], [0] * 5, method="randomization", confidence_level=0.9375)
    assert est.pvalue == 0.0625 and rejects(est.pvalue, 0.9375)
    assert tuple(est.confidence_interval) == pytest.approx((1.0, 5.0), abs=1e-2)
    # 3 + 3 units, 20 assignments; treated {3, 5, 6} is the second most extreme: p = 2 * 2/20 = 0.2 = 1 - 0.8
    # (1 - 0.8 is 0.19999999999999996). Before, the test "rejected" inside the inversion but the interval was
    # then widened to hold the null, as if it had not
    y, z = np.array([3.0, 5, 6, 1, 2, 4]), np.array([1, 1, 1, 0, 0, 0])
    est = two_arm_effect(y, z, method="randomization", confidence_level=0.8)
    assert est.pvalue == pytest.approx(0.2) and rejects(est.pvalue, 0.8)
    assert not est.confidence_interval.low <= 0 <= est.confidence_interval.high


@pytest.mark.parametrize("scale", [1e-300, 1e-170, 1e78, 1e200, 1e300])
@pytest.mark.parametrize("method", METHODS)
def test_every_method_works_over_the_whole_float_range(scale, method):
    # issue 18, item 9: Welch's t failed from 1e78 ("`pvalue` ... got nan"), paired_effect gave SE inf and p = 1 at
    # 1e300, and the standard error silently became 0 below 1e-162
    rng = np.random.default_rng(1)
    y1, y0 = rng.normal(1.0, 1.0, 8), rng.normal(0.0, 1.0, 8)
    kw = dict(method=method, rng=3, n_resamples=400)
    for call in (lambda a, b: paired_effect(a, b, **kw),
                 lambda a, b: two_arm_effect(np.r_[a, b], np.repeat([1, 0], 8), **kw),
                 lambda a, b: clustered_effect(np.r_[a, b], np.tile(np.arange(8), 2), **kw)):
        unit, scaled = call(y1, y0), call(y1 * scale, y0 * scale)
        assert scaled.estimate == pytest.approx(unit.estimate * scale, rel=1e-9)
        assert scaled.pvalue == pytest.approx(unit.pvalue, rel=1e-9)
        assert tuple(scaled.confidence_interval) == pytest.approx(tuple(x * scale for x in unit.confidence_interval),
                                                                  rel=1e-9)
        if unit.standard_error is not None:
            assert scaled.standard_error > 0
            assert scaled.standard_error == pytest.approx(unit.standard_error * scale, rel=1e-9)


def test_results_beyond_the_float_range_are_refused():
    with pytest.raises(ValueError, match="`outcome`: the estimate, its standard error or its interval .* overflows"):
        two_arm_effect([1.7e308, 1.6e308, -1.7e308, -1.6e308], [1, 1, 0, 0])
    with pytest.raises(ValueError, match="`null_value` 1e\\+300 is too large for data of magnitude"):
        paired_effect([1e-300, 2e-300, 3e-300], [0.0, 0.0, 0.0], null_value=1e300)


def test_bootstrap_needs_five_units_per_sample_and_says_what_it_relies_on():
    # issue 18, item 6: with 2-4 units the bootstrap p-value sat at the floor 1/(B + 1) for most null data sets
    with pytest.raises(ValueError, match="`method`='bootstrap' needs at least 5 units in every resampled sample, "
                                         "got 4 pairs"):
        paired_effect([1.0, 2.0, 3.0, 4.5], [0.0] * 4, method="bootstrap")
    with pytest.raises(ValueError, match="got 4 control units"):
        two_arm_effect(np.arange(9.0), [1] * 5 + [0] * 4, method="bootstrap")
    with pytest.raises(ValueError, match="got 3 clusters"):
        clustered_effect(np.arange(6.0), [0, 0, 1, 1, 2, 2], method="t", extra_pvalues=["bootstrap"])
    est = paired_effect(Y1, Y0, method="bootstrap", rng=0, n_resamples=500)
    assert "large sample" in est.details["relies_on"]
    assert "normally distributed" in paired_effect(Y1, Y0).details["relies_on"]


@pytest.mark.parametrize("call", [
    lambda **k: paired_effect(np.arange(20.0), np.zeros(20), method="bootstrap", **k),
    lambda **k: two_arm_effect(np.arange(20.0), np.tile([0, 1], 10), method="bootstrap", **k),
    lambda **k: clustered_effect(np.arange(24.0), np.repeat(np.arange(12), 2), treatment=np.repeat([0, 1], 12),
                                 method="bootstrap", **k),
    lambda **k: paired_effect(np.arange(20.0), np.zeros(20), extra_pvalues=["bootstrap"], **k),
])
def test_too_few_bootstrap_resamples_are_refused(call):
    # before: n_resamples=1 gave a RuntimeWarning and a NaN standard error; 39 gave extreme-resample endpoints
    # and a p-value floor 1/40 above alpha/2. At least ceil(2 / (1 - level)): 40 at 95%, 20 at 90%.
    for count, level, least in ((1, 0.95, 40), (39, 0.95, 40), (19, 0.9, 20)):
        with pytest.raises(ValueError, match=rf"`n_resamples` must be at least {least} for {level:.0%} intervals"):
            call(n_resamples=count, confidence_level=level, rng=0)
    assert math.isfinite(call(n_resamples=40, rng=0).confidence_interval.low)
    assert math.isfinite(call(n_resamples=20, confidence_level=0.9, rng=0).confidence_interval.low)
