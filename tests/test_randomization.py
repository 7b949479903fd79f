import math

import numpy as np
import pytest
from scipy import stats

import causalattn
from causalattn import frt, frt_confidence_interval, hodges_lehmann

DARWIN = np.array([6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6])


def darwin_units():
    """Each pair as two units: the treated (crossed) one carries the difference, the control 0."""
    y = np.column_stack([DARWIN, np.zeros(15)]).ravel()
    return y, np.tile([1, 0], 15), np.repeat(np.arange(15), 2)


@pytest.fixture(scope="module")
def nsw():
    data = causalattn.datasets.load("lalonde_nsw")
    return data["re78"].to_numpy(float), data["treat"].to_numpy(int)


def test_darwin_exact_one_sided_pvalue():
    y, z, pairs = darwin_units()
    res = frt(y, z, design="mpe", pairs=pairs, alternative="greater", n_resamples=2**15)
    assert res.method == "frt-exact" and res.details["exact"] is True
    assert res.pvalue == pytest.approx(0.02633667, abs=1e-8)
    # hand count over all 2**15 sign patterns
    signs = 1 - 2 * ((np.arange(2**15)[:, None] >> np.arange(15)) & 1)
    means = (signs * DARWIN).mean(axis=1)
    assert res.pvalue == pytest.approx(np.mean(means >= DARWIN.mean() - 1e-12))
    assert np.sort(res.details["null_distribution"]) == pytest.approx(np.sort(means))
    assert res.estimate == pytest.approx(DARWIN.mean()) and res.details["mc_standard_error"] == 0.0


def test_nsw_observed_statistics(nsw):
    y, z = nsw
    observed = {s: frt(y, z, statistic=s, n_resamples=10, rng=0).details["statistic"]
                for s in ("diff_in_means", "studentized", "rank_sum", "ks")}
    assert observed["diff_in_means"] == pytest.approx(1794.343, abs=1e-3)
    assert observed["studentized"] == pytest.approx(2.674146, abs=1e-6)
    assert observed["studentized"] == pytest.approx(stats.ttest_ind(y[z == 1], y[z == 0], equal_var=False).statistic)
    # Wilcoxon's W = sum of treated ranks; the 27402.5 is R's wilcox.test W = W - n1(n1 + 1)/2
    assert observed["rank_sum"] == pytest.approx(stats.rankdata(y)[z == 1].sum())
    assert observed["rank_sum"] - 185 * 186 / 2 == pytest.approx(27402.5)
    assert observed["ks"] == pytest.approx(0.1321206, abs=1e-7)
    assert observed["ks"] == pytest.approx(stats.ks_2samp(y[z == 1], y[z == 0]).statistic)


SCIPY_STATISTICS = {
    "diff_in_means": lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
    "studentized": lambda a, b, axis: stats.ttest_ind(a, b, axis=axis, equal_var=False).statistic,
    "rank_sum": lambda a, b, axis: stats.mannwhitneyu(a, b, axis=axis).statistic,  # W - n1(n1+1)/2
    "ks": lambda a, b, axis: stats.ks_2samp(a, b, axis=axis).statistic,
}


@pytest.mark.parametrize("statistic, alternative", [("diff_in_means", "two-sided"), ("studentized", "less"),
                                                    ("rank_sum", "two-sided"), ("ks", "greater")])
def test_nsw_monte_carlo_pvalues_agree_with_scipy_simulation(nsw, statistic, alternative):
    y, z = nsw
    res = frt(y, z, statistic=statistic, alternative=alternative, n_resamples=3000, rng=1)
    assert res.method == "frt-monte-carlo" and len(res.details["null_distribution"]) == 3000
    ref = stats.permutation_test((y[z == 1], y[z == 0]), SCIPY_STATISTICS[statistic], vectorized=True,
                                 permutation_type="independent", alternative=alternative, n_resamples=3000,
                                 rng=np.random.default_rng(12345))
    factor = 1 if alternative != "two-sided" else 2
    one_sided = ref.pvalue / factor
    ref_se = factor * math.sqrt(one_sided * (1 - one_sided) / 3000)
    assert abs(res.pvalue - ref.pvalue) < 4 * math.hypot(res.details["mc_standard_error"], ref_se)
    assert res.details["mc_standard_error"] == pytest.approx(ref_se, rel=0.5)
    assert res.pvalue == (1 + np.sum(res.details["null_distribution"] >= res.details["statistic"])) / 3001 \
        if alternative == "greater" else True


def test_batch_size_does_not_change_the_result(nsw):
    y, z = nsw
    results = [frt(y, z, statistic="studentized", n_resamples=3000, batch=b, rng=7) for b in (1, 97, 3000)]
    for res in results[1:]:
        assert res.pvalue == results[0].pvalue
        # same assignments; BLAS may round the products differently by batch shape
        np.testing.assert_allclose(res.details["null_distribution"], results[0].details["null_distribution"],
                                   rtol=1e-12, atol=1e-12)


def test_matches_scipy_permutation_test_exactly_for_small_cre():
    y = np.array([3.1, 4.5, 2.2, 8.0, 5.5, 1.2, 0.3, 2.9, 4.4])
    z = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    res = frt(y, z, n_resamples=1000)
    assert res.method == "frt-exact" and res.details["n_resamples"] == math.comb(9, 4)
    ref = stats.permutation_test((y[z == 1], y[z == 0]), lambda a, b, axis: a.mean(axis) - b.mean(axis),
                                 permutation_type="independent", vectorized=True, n_resamples=np.inf)
    assert res.pvalue == pytest.approx(ref.pvalue)
    for alternative in ("greater", "less"):
        ref = stats.permutation_test((y[z == 1], y[z == 0]), lambda a, b, axis: a.mean(axis) - b.mean(axis),
                                     permutation_type="independent", vectorized=True, n_resamples=np.inf,
                                     alternative=alternative)
        assert frt(y, z, alternative=alternative).pvalue == pytest.approx(ref.pvalue)


def test_null_effect_shifts_outcomes_and_ci_inverts_the_test(nsw):
    y, z = nsw
    shifted = frt(y, z, null_effect=1000.0, n_resamples=2000, rng=3)
    assert shifted.null_value == 1000.0
    assert shifted.details["statistic"] == pytest.approx(1794.343085 - 1000.0)
    res = frt(y, z, n_resamples=2000, rng=3, confidence=True)
    low, high = res.confidence_interval
    assert low < res.estimate < high
    # p just inside the interval exceeds 0.05, just outside it does not (same assignments)
    scale = 1e-3 * np.std(y) * math.sqrt(1 / 185 + 1 / 260)
    for end, inside, outside in ((low, low + 1e-9, low - 2 * scale), (high, high - 1e-9, high + 2 * scale)):
        assert frt(y, z, n_resamples=2000, rng=3, null_effect=inside).pvalue > 0.05
        assert frt(y, z, n_resamples=2000, rng=3, null_effect=outside).pvalue <= 0.05
    # close to the Neyman interval 1794 -+ 1.96 * 671
    assert low == pytest.approx(1794.34 - 1.96 * 671.0, abs=150) and high == pytest.approx(1794.34 + 1.96 * 671, abs=150)
    assert frt_confidence_interval(y, z, n_resamples=2000, rng=3) == res.confidence_interval
    one_sided = frt_confidence_interval(y, z, n_resamples=2000, rng=3, alternative="greater")
    assert one_sided.high == math.inf and low < one_sided.low < res.estimate
    assert math.isnan(frt(y, z, n_resamples=10, rng=0).confidence_interval.low)


def test_hodges_lehmann_is_median_of_pairwise_differences(nsw):
    y, z = nsw
    assert hodges_lehmann(y, z) == pytest.approx(np.median(np.subtract.outer(y[z == 1], y[z == 0])), abs=1e-6)
    small_y, small_z = np.array([5.0, 7.0, 9.0, 1.0, 2.0]), np.array([1, 1, 1, 0, 0])
    assert hodges_lehmann(small_y, small_z) == pytest.approx(5.5)
    # in pairs with equal within-pair probabilities, the estimate solves the same rank equation
    yd, zd, pairs = darwin_units()
    est = hodges_lehmann(yd, zd, design="mpe", pairs=pairs)
    assert DARWIN.min() < est < DARWIN.max()
