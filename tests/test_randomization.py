import itertools
import math

import numpy as np
import pytest
from scipy import stats

import causalattn
from causalattn import frt, frt_confidence_interval, hodges_lehmann
from causalattn.experiments.designs import BRE, MPE, SRE, ClusterRandomized, ReM
from causalattn.experiments.randomization import MAX_RESAMPLES, enumerates

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
    res = frt(y, z, design=MPE(pairs), alternative="greater", n_resamples=2**15)
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
    ours = res.pvalue / factor  # the one-sided p-value the result rests on
    assert res.details["mc_standard_error"] == pytest.approx(factor * math.sqrt(ours * (1 - ours) / 3000))


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
    for inside, outside in ((low + 1e-9, low - 2 * scale), (high - 1e-9, high + 2 * scale)):
        assert frt(y, z, n_resamples=2000, rng=3, null_effect=inside).pvalue > 0.05
        assert frt(y, z, n_resamples=2000, rng=3, null_effect=outside).pvalue <= 0.05
    # close to the Neyman interval 1794 -+ 1.96 * 671
    assert low == pytest.approx(1794.34 - 1.96 * 671.0, abs=150)
    assert high == pytest.approx(1794.34 + 1.96 * 671.0, abs=150)
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
    est = hodges_lehmann(yd, zd, design=MPE(pairs))
    assert DARWIN.min() < est < DARWIN.max()


def test_monte_carlo_pvalue_counts_the_observed_assignment(nsw):
    y, z = nsw
    for alternative in ("greater", "less", "two-sided"):
        res = frt(y, z, alternative=alternative, n_resamples=500, rng=2)
        null, t = res.details["null_distribution"], res.details["statistic"]
        greater, less = (1 + np.sum(null >= t)) / 501, (1 + np.sum(null <= t)) / 501
        expected = {"greater": greater, "less": less, "two-sided": min(1.0, 2 * min(greater, less))}[alternative]
        assert res.pvalue == pytest.approx(expected)


SRE_Y = np.array([1.0, 3.0, 2.0, 6.0, 10.0, 14.0, 11.0, 9.0, 13.0])
SRE_Z = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0])
SRE_STRATA = np.array(["a", "a", "a", "a", "b", "b", "b", "b", "b"])


def over_stratified_assignments(statistic):
    """``statistic(assignment)`` over all 6 * 10 assignments of 2 of the 4 units of 'a' and 2 of the 5 of 'b'."""
    values = []
    for ta in itertools.combinations(range(4), 2):
        for tb in itertools.combinations(range(4, 9), 2):
            assign = np.zeros(9, int)
            assign[list(ta) + list(tb)] = 1
            values.append(statistic(assign))
    return np.array(values)


def test_stratified_exact_test_matches_hand_enumeration():
    y, z, strata = SRE_Y, SRE_Z, SRE_STRATA
    res = frt(y, z, design=SRE(strata), n_resamples=1000, alternative="greater")
    assert res.method == "frt-exact" and res.details["n_resamples"] == 6 * 10
    # hand computation: within-stratum differences weighted by pi_k = n_k / n, over all 6 * 10 assignments
    def stratified(assign):
        tau = 0.0
        for label in ("a", "b"):
            yk, zk = y[strata == label], assign[strata == label]
            tau += len(yk) / len(y) * (yk[zk == 1].mean() - yk[zk == 0].mean())
        return tau

    values = over_stratified_assignments(stratified)
    observed = stratified(z)
    assert res.estimate == pytest.approx(observed) and res.estimand == "stratified difference in means"
    assert res.pvalue == pytest.approx(np.mean(np.array(values) >= observed - 1e-12))
    assert res.estimate == pytest.approx(causalattn.experiments.neyman(np.r_[y, y], np.r_[z, z],
                                                           strata=np.r_[strata, strata]).estimate)


def test_bernoulli_exact_test_weights_assignments():
    y = np.array([4.0, 1.0, 3.0, 0.5, 2.5])
    z = np.array([1, 0, 1, 0, 0])
    p = 0.3
    res = frt(y, z, design=BRE(p), n_resamples=100, alternative="greater")
    assert res.method == "frt-exact" and res.details["n_resamples"] == 2**5 - 2
    num = den = 0.0
    for code in range(1, 2**5 - 1):
        a = (code >> np.arange(5)) & 1
        w = p ** a.sum() * (1 - p) ** (5 - a.sum())
        den += w
        num += w * (y[a == 1].mean() - y[a == 0].mean() >= y[z == 1].mean() - y[z == 0].mean() - 1e-12)
    assert res.pvalue == pytest.approx(num / den)
    mc = frt(y, z, design=BRE(p), n_resamples=20, rng=0, method="monte-carlo")
    assert mc.method == "frt-monte-carlo"


def test_rerandomization_uses_only_acceptable_assignments():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 2))
    design = ReM(x, 2.0, n_treated=20)
    z = design.draw(rng, 1)[0].astype(int)
    y = x @ [1.0, -1.0] + 0.5 * z + rng.normal(size=40)
    seen = []

    def recording(outcome, assignments):
        seen.append(assignments)
        return assignments @ outcome / 20 - (1 - assignments) @ outcome / 20

    res = frt(y, z, design=ReM(x, 2.0), statistic=recording, n_resamples=300, rng=5)
    drawn = np.concatenate(seen[1:])
    assert len(drawn) == 300 and (design.mahalanobis(drawn) <= 2.0).all()
    assert res.details["statistic_name"] == "recording"
    plain = frt(y, z, design=ReM(x, 2.0), n_resamples=300, rng=5)
    np.testing.assert_allclose(res.details["null_distribution"], plain.details["null_distribution"])
    with pytest.raises(ValueError, match="`treatment` is not acceptable under rerandomization"):
        frt(y, z, design=ReM(x, 1e-9))


def test_studentized_in_pairs_uses_the_paired_standard_error():
    y, z, pairs = darwin_units()
    res = frt(y, z, design=MPE(pairs), statistic="studentized", n_resamples=2**15)
    assert res.details["statistic"] == pytest.approx(stats.ttest_1samp(DARWIN, 0.0).statistic)


def test_bad_input(nsw):
    y, z = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1, 1, 0, 0])
    with pytest.raises(ValueError, match="`outcome` must be finite"):
        frt([1.0, np.nan, 3.0, 4.0], z)
    with pytest.raises(ValueError, match="`treatment` must be binary"):
        frt(y, [0, 1, 2, 1])
    with pytest.raises(ValueError, match="same length"):
        frt(y, [1, 0, 1])
    with pytest.raises(ValueError, match="same length"):
        frt(y, z, design=SRE([0, 0, 1]))
    with pytest.raises(ValueError, match="`treatment`: need at least 1 control"):
        frt(y, [1, 1, 1, 1])
    with pytest.raises(ValueError, match="`strata`: need at least 1 treated unit.* in stratum 1"):
        frt(y, [1, 0, 0, 0], design=SRE([0, 0, 1, 1]))
    with pytest.raises(ValueError, match="`pairs`: need at least 1 treated unit.* in pair 'q'"):
        frt(y, [1, 0, 0, 0], design=MPE(["p", "p", "q", "q"]))
    with pytest.raises(ValueError, match="`pairs`: every pair must hold exactly 2 units"):
        frt(y, z, design=MPE([0, 0, 0, 1]))
    with pytest.raises(ValueError, match="`treatment`: need at least 2 treated"):
        frt(y, [1, 0, 0, 0], statistic="studentized")
    with pytest.raises(ValueError, match="`n_resamples` must be a positive integer"):
        frt(y, z, n_resamples=0)
    with pytest.raises(TypeError, match="`n_resamples` must be a positive integer"):
        frt(y, z, n_resamples=1e4)
    with pytest.raises(ValueError, match="`batch` must be a positive integer"):
        frt(y, z, batch=-1)
    with pytest.raises(ValueError, match="`statistic` must be one of"):
        frt(y, z, statistic="median")
    with pytest.raises(ValueError, match="`alternative` must be one of"):
        frt(y, z, alternative="two_sided")
    with pytest.raises(ValueError, match="`design` must be one of"):
        frt(y, z, design="crd")
    with pytest.raises(ValueError, match=r"`design`='bre' needs arguments: pass the value BRE\(probability, n=None\)"):
        frt(y, z, design="bre")  # the name of a design with arguments
    with pytest.raises(TypeError, match=r"`design` must be a Design value, got the class MPE: call it with its "
                                        r"arguments, e.g. MPE\(...\)"):
        frt(y, z, design=MPE)  # the class, not a value
    with pytest.raises(TypeError, match="unexpected keyword argument 'strata'"):  # the design holds its strata
        frt(y, z, strata=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="`probability` must be in"):
        frt(y, z, design=BRE(1.5))
    with pytest.raises(ValueError, match="`null_effect` must be a finite number"):
        frt(y, z, null_effect=np.inf)
    with pytest.raises(ValueError, match="`statistic` must return one value per assignment"):
        frt(y, z, statistic=lambda outcome, a: a @ np.ones((4, 2)))
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        frt(y, z, confidence_level=95)
    with pytest.raises(TypeError, match="`rng` must be None"):
        frt(y, z, rng="seed")
    with pytest.raises(ValueError, match="`design`: hodges_lehmann supports"):
        hodges_lehmann(y, z, design=ReM([[1.0], [2.0], [3.0], [5.0]], 100.0))
    with pytest.raises(TypeError, match="`probability` must be a real number, got 'half'"):
        frt(y, z, design=BRE("half"))
    with pytest.raises(TypeError, match="`threshold` must be a real number"):
        frt(y, z, design=ReM([[1.0], [2.0], [3.0], [4.0]], "1"))
    with pytest.raises(TypeError, match="`covariates` must be numeric"):
        frt(y, z, design=ReM([["a"], ["b"], ["c"], ["d"]], 1.0))
    with pytest.raises(TypeError, match="`confidence` must be True or False, got 'yes'"):
        frt(y, z, confidence="yes")
    with pytest.raises(ValueError, match="`statistic` .* is NaN for the observed assignment"):
        frt(y, z, statistic=lambda outcome, a: np.full(len(a), np.nan))
    with pytest.raises(TypeError, match="`strata` labels must be mutually comparable"):
        hodges_lehmann(y, z, design=SRE([0, None, 0, 1]))


def test_exact_confidence_interval_ends_are_test_boundaries():
    y = np.array([3.1, 4.5, 2.2, 8.0, 5.5, 1.2, 0.3, 2.9, 4.4, 2.0])
    z = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    res = frt(y, z, confidence=True, confidence_level=0.9)
    assert res.method == "frt-exact"
    low, high = res.confidence_interval
    tol = 2e-3 * np.std(y) * math.sqrt(2 / 5)
    for inside, outside in ((low + 1e-9, low - tol), (high - 1e-9, high + tol)):
        assert frt(y, z, null_effect=inside).pvalue > 0.1 >= frt(y, z, null_effect=outside).pvalue


def test_hodges_lehmann_solves_the_stratified_rank_equation():
    rng = np.random.default_rng(8)
    strata = np.repeat([0, 1, 2], [8, 10, 12])
    z = np.concatenate([rng.permutation(np.r_[np.ones(k // 2), np.zeros(k - k // 2)]) for k in (8, 10, 12)])
    y = strata * 3.0 + 1.5 * z + rng.normal(size=30)
    est = hodges_lehmann(y, z, design=SRE(strata))
    share = np.array([z[strata == k].mean() for k in range(3)])[strata]

    def equation(tau):
        return (z - share) @ (stats.rankdata(y - tau * z) - 15.5)

    assert equation(est - 1e-6) >= 0 >= equation(est + 1e-6)


def test_darwin_exact_pvalue_with_the_defaults():
    y, z, pairs = darwin_units()
    res = frt(y, z, design=MPE(pairs), alternative="greater")
    assert res.pvalue == pytest.approx(0.02633667, abs=1e-8)
    assert res.method == "frt-exact" and res.details["exact"] is True and res.details["n_resamples"] == 2**15
    assert causalattn.experiments.randomization.MAX_EXACT >= 2**20
    forced = frt(y, z, design=MPE(pairs), alternative="greater", method="monte-carlo", n_resamples=2000,
                 rng=0)
    assert forced.method == "frt-monte-carlo" and forced.details["exact"] is False
    assert abs(forced.pvalue - 0.02633667) < 4 * forced.details["mc_standard_error"]


@pytest.mark.parametrize("alternative", ["greater", "less", "two-sided"])
def test_signed_rank_matches_scipy_wilcoxon_exact(alternative):
    y, z, pairs = darwin_units()
    res = frt(y, z, design=MPE(pairs), statistic="signed_rank", alternative=alternative)
    ref = stats.wilcoxon(DARWIN, alternative=alternative, method="exact")
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.details["statistic"] == 96.0  # W+ = sum of the ranks of the positive differences
    if alternative == "greater":
        assert res.pvalue == pytest.approx(0.0206, abs=5e-5)  # R: wilcox.test(d, alternative = "greater")


def test_signed_rank_drops_zero_differences_and_swapped_units_give_the_same_test():
    d = np.array([1.5, -0.5, 0.0, 2.0, 3.0, -1.0, 2.5, 0.0])
    rng = np.random.default_rng(3)
    control = rng.normal(size=8)
    first_treated = rng.random(8) < 0.5  # the treated unit is first in some pairs, second in others
    first = np.where(first_treated, control + d, control)
    second = np.where(first_treated, control, control + d)
    y = np.column_stack([first, second]).ravel()
    z = np.column_stack([first_treated, ~first_treated]).astype(int).ravel()
    res = frt(y, z, design=MPE(np.repeat(np.arange(8), 2)), statistic="signed_rank", alternative="greater")
    ref = stats.wilcoxon(d, alternative="greater", zero_method="wilcox", method="exact")
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)


def test_rank_statistics_that_ignore_the_design_are_refused():
    y, z, pairs = darwin_units()
    with pytest.raises(ValueError, match="`statistic`='rank_sum' ranks the whole sample .*='signed_rank'"):
        frt(y, z, design=MPE(pairs), statistic="rank_sum")
    with pytest.raises(ValueError, match="`statistic`='ks' compares the arms of one sample"):
        frt(y, z, design=MPE(pairs), statistic="ks")
    with pytest.raises(ValueError, match="`statistic`='ks' compares the arms of one sample; under SRE"):
        frt(y, z, design=SRE(pairs % 3), statistic="ks")
    with pytest.raises(ValueError, match="`statistic`='signed_rank' needs a matched-pairs design"):
        frt(y, z, statistic="signed_rank")


def test_stratified_rank_sum_is_van_elteren_and_exact_by_hand():
    y, z, strata = SRE_Y, SRE_Z, SRE_STRATA

    def van_elteren(assign):
        total = 0.0
        for label in ("a", "b"):
            yk, zk = y[strata == label], assign[strata == label]
            total += stats.rankdata(yk)[zk == 1].sum() / (len(yk) + 1)
        return total

    values = over_stratified_assignments(van_elteren)
    res = frt(y, z, design=SRE(strata), statistic="rank_sum", alternative="greater")
    assert res.details["statistic"] == pytest.approx(van_elteren(z))
    assert res.pvalue == pytest.approx(np.mean(np.array(values) >= van_elteren(z) - 1e-12))


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_asymptotic_rank_sum_matches_mannwhitneyu(nsw, alternative):
    y, z = nsw
    res = frt(y, z, statistic="rank_sum", method="asymptotic", alternative=alternative)
    ref = stats.mannwhitneyu(y[z == 1], y[z == 0], method="asymptotic", alternative=alternative)
    assert res.method == "frt-asymptotic" and res.details["n_resamples"] == 0
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


def test_asymptotic_ks_and_signed_rank_match_scipy(nsw):
    y, z = nsw
    res = frt(y, z, statistic="ks", method="asymptotic", alternative="greater")
    assert res.pvalue == pytest.approx(stats.ks_2samp(y[z == 1], y[z == 0], method="asymp").pvalue, rel=1e-10)
    yd, zd, pairs = darwin_units()
    for alternative in ("two-sided", "greater"):
        signed = frt(yd, zd, design=MPE(pairs), statistic="signed_rank", method="asymptotic",
                     alternative=alternative)
        ref = stats.wilcoxon(DARWIN, method="asymptotic", correction=True, alternative=alternative)
        assert signed.pvalue == pytest.approx(ref.pvalue, rel=1e-10)


def test_asymptotic_and_exact_options_are_checked(nsw):
    y, z = nsw
    with pytest.raises(ValueError, match="`method`='asymptotic' is available for statistic 'rank_sum'"):
        frt(y, z, method="asymptotic")
    with pytest.raises(ValueError, match="`alternative`: the KS distance is non-negative"):
        frt(y, z, statistic="ks", method="asymptotic")
    with pytest.raises(ValueError, match="`method`='asymptotic' with statistic='ks' needs a completely randomized"):
        frt(y, z, statistic="ks", method="asymptotic", alternative="greater", design=BRE(0.4))
    with pytest.raises(ValueError, match="`method`='asymptotic' needs the moments"):
        frt(y, z, statistic="rank_sum", method="asymptotic", design=BRE(0.4))
    with pytest.raises(ValueError, match="`method`='exact': the design has .* assignments, more than 2\\*\\*26"):
        frt(y, z, method="exact")
    with pytest.raises(ValueError, match="`method` must be one of"):
        frt(y, z, method="permutation")


def test_cluster_randomized_frt_matches_hand_enumeration():
    # 5 clusters of sizes 2, 1, 3, 2, 1; clusters "b" and "d" treated
    clusters = np.array(["a", "a", "b", "c", "c", "c", "d", "d", "e"])
    y = np.array([1.0, 2.0, 6.0, 0.5, 1.5, 2.5, 5.0, 4.0, 3.0])
    z = np.isin(clusters, ["b", "d"]).astype(int)
    labels = ["a", "b", "c", "d", "e"]

    def difference(assign):
        return y[assign == 1].mean() - y[assign == 0].mean()

    values = [difference(np.isin(clusters, treated).astype(int)) for treated in itertools.combinations(labels, 2)]
    res = frt(y, z, design=ClusterRandomized(clusters), alternative="greater")
    assert res.method == "frt-exact" and res.details["n_resamples"] == 10 and res.details["design"] == "cluster"
    assert res.estimate == pytest.approx(difference(z))
    assert res.pvalue == pytest.approx(np.mean(np.array(values) >= difference(z) - 1e-12))
    assert res.pvalue == pytest.approx(0.1)  # the observed split is the most extreme of the 10
    instance = frt(y, z, design=causalattn.experiments.designs.ClusterRandomized(clusters, 2), alternative="greater")
    assert instance.pvalue == res.pvalue
    rank = frt(y, z, design=ClusterRandomized(clusters), statistic="rank_sum", alternative="greater")
    ranks = stats.rankdata(y)
    rank_values = [ranks[np.isin(clusters, t)].sum() for t in itertools.combinations(labels, 2)]
    assert rank.pvalue == pytest.approx(np.mean(np.array(rank_values) >= ranks[z == 1].sum() - 1e-12))
    with pytest.raises(ValueError, match="`clusters`: cluster 'c' has both treated and control units"):
        frt(y, np.r_[z[:3], 1, 0, 0, z[6:]], design=ClusterRandomized(clusters))


def test_cluster_statistics_match_hand_enumeration():
    # 6 clusters of sizes 2, 1, 3, 2, 1, 2; clusters "b", "d" and "f" treated: 20 assignments
    clusters = np.array(["a", "a", "b", "c", "c", "c", "d", "d", "e", "f", "f"])
    y = np.array([1.0, 2.0, 6.0, 0.5, 1.5, 2.5, 5.0, 4.0, 3.0, 3.5, 7.0])
    labels = ["a", "b", "c", "d", "e", "f"]
    z = np.isin(clusters, ["b", "d", "f"]).astype(int)
    means = {g: y[clusters == g].mean() for g in labels}

    def cluster_means(treated):
        return (np.mean([means[g] for g in labels if g in treated])
                - np.mean([means[g] for g in labels if g not in treated]))

    def studentized(treated):  # written out cluster by cluster
        arm = np.isin(clusters, treated)
        variance = 0.0
        for in_arm in (arm, ~arm):
            arm_mean = y[in_arm].mean()
            sums = [np.sum(y[clusters == g] - arm_mean) for g in labels if in_arm[clusters == g][0]]
            variance += len(sums) / (len(sums) - 1) * np.sum(np.square(sums)) / in_arm.sum() ** 2
        return (y[arm].mean() - y[~arm].mean()) / np.sqrt(variance)

    splits = list(itertools.combinations(labels, 3))
    for name, hand in (("cluster_means", cluster_means), ("studentized", studentized)):
        values = np.array([hand(t) for t in splits])
        observed = hand(("b", "d", "f"))
        res = frt(y, z, design=ClusterRandomized(clusters), statistic=name)
        greater, less = np.mean(values >= observed - 1e-12), np.mean(values <= observed + 1e-12)
        assert res.method == "frt-exact" and res.details["n_resamples"] == 20
        assert res.details["statistic"] == pytest.approx(observed)
        assert res.pvalue == pytest.approx(min(1.0, 2 * min(greater, less)))
    assert frt(y, z, design=ClusterRandomized(clusters), statistic="cluster_means").estimate == pytest.approx(
        cluster_means(("b", "d", "f")))


def test_cluster_studentized_is_welch_on_cluster_means_for_equal_sizes():
    rng = np.random.default_rng(8)
    clusters = np.repeat(np.arange(6), 3)
    z = np.repeat([1, 0, 0, 1, 1, 0], 3)
    y = rng.normal(size=18) + z
    means = y.reshape(6, 3).mean(axis=1)
    welch = stats.ttest_ind(means[[0, 3, 4]], means[[1, 2, 5]], equal_var=False).statistic
    res = frt(y, z, design=ClusterRandomized(clusters), statistic="studentized")
    assert res.details["statistic"] == pytest.approx(welch, rel=1e-12)
    # the unit-level SE (the old statistic) treats the 18 units as independent: a larger |t|
    unit_level = stats.ttest_ind(y[z == 1], y[z == 0], equal_var=False).statistic
    assert abs(unit_level) > abs(welch)


def test_cluster_statistics_refuse_other_designs_and_too_few_clusters():
    with pytest.raises(ValueError, match="`statistic`='cluster_means' needs a cluster-randomized design"):
        frt([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 0], statistic="cluster_means")
    with pytest.raises(ValueError, match="`clusters`: the studentized statistic needs at least 2 treated and 2 "
                                         "control clusters, got 1 of 4 treated"):
        frt(np.arange(8.0), np.repeat([1, 0, 0, 0], 2), design=ClusterRandomized(np.repeat(np.arange(4), 2)),
            statistic="studentized")


def test_design_instances_are_accepted_and_checked():
    y = np.array([3.1, 4.5, 2.2, 8.0, 5.5, 1.2, 0.3, 2.9, 4.4])
    z = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
    designs = causalattn.experiments.designs
    assert frt(y, z, design=designs.CRE(9, 4)).pvalue == frt(y, z).pvalue
    strata = np.tile([0, 1, 2], 3)
    sre = designs.SRE(strata, [2, 1, 1])
    assert frt(y, z, design=sre).pvalue == frt(y, z, design=SRE(strata)).pvalue  # counts read off z
    with pytest.raises(ValueError, match="`treatment` treats 4 units, the design 3"):
        frt(y, z, design=designs.CRE(9, 3))
    with pytest.raises(ValueError, match="`treatment` has 9 units but the CRE design has 8"):
        frt(y, z, design=designs.CRE(8, 4))
    with pytest.raises(TypeError, match=r"`design` must be a Design value \(e.g. causalattn.designs.SRE\(strata\)\)"):
        frt(y, z, design=3)
    assert hodges_lehmann(y, z, design=designs.CRE(9, 4)) == pytest.approx(hodges_lehmann(y, z))
    rem = designs.ReM(np.arange(9.0), 100.0)
    with pytest.raises(ValueError, match="`design`: hodges_lehmann supports designs with a known treatment "
                                         "probability per unit, got ReM"):
        hodges_lehmann(y, z, design=rem)


def test_hodges_lehmann_scales_with_the_data():
    rng = np.random.default_rng(11)
    y = rng.normal(size=30) + 0.7 * np.r_[np.ones(15), np.zeros(15)]
    z = np.r_[np.ones(15, int), np.zeros(15, int)]
    reference = np.median(np.subtract.outer(y[z == 1], y[z == 0]))
    assert hodges_lehmann(y, z) == pytest.approx(reference, rel=1e-10)
    for scale in (1e-12, 1e-14, 1e-300, 1e300):
        assert hodges_lehmann(y * scale, z) == pytest.approx(reference * scale, rel=1e-10)
    big = y / np.max(np.abs(y)) * 0.8e308  # differences up to 1.6e308 stay finite
    assert hodges_lehmann(big, z) == pytest.approx(reference / np.max(np.abs(y)) * 0.8e308, rel=1e-10)
    with pytest.raises(ValueError, match="`outcome`: the Hodges-Lehmann estimate .* is too large for float64"):
        hodges_lehmann([1.5e308, 1.6e308, -1.5e308, -1.6e308], [1, 1, 0, 0])
    shifted = hodges_lehmann(y + 1e8, z)  # the effect is invariant to a shift of the outcomes
    assert shifted == pytest.approx(reference, rel=1e-6)


def test_hodges_lehmann_in_pairs_is_the_median_of_walsh_averages():
    walsh = [(DARWIN[i] + DARWIN[j]) / 2 for i in range(15) for j in range(i, 15)]
    y, z, pairs = darwin_units()
    assert hodges_lehmann(y, z, design=MPE(pairs)) == pytest.approx(np.median(walsh), abs=1e-10)
    for scale in (1e-12, 1e-14, 1e300):
        assert hodges_lehmann(y * scale, z, design=MPE(pairs)) == pytest.approx(np.median(walsh) * scale,
                                                                                        rel=1e-10)


def test_inversion_with_projections_matches_inversion_with_full_assignments():
    y = np.array([3.1, 4.5, 2.2, 8.0, 5.5, 1.2, 0.3, 2.9, 4.4, 2.0])
    z = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])

    def difference(outcome, assignments):  # a callable: the inversion keeps the assignments themselves
        return assignments @ outcome / 5 - (1 - assignments) @ outcome / 5

    for kwargs in ({}, {"method": "monte-carlo", "n_resamples": 500, "rng": 4}):
        projected = frt(y, z, confidence=True, **kwargs).confidence_interval
        full = frt(y, z, confidence=True, statistic=difference, **kwargs).confidence_interval
        assert projected == pytest.approx(full, abs=2e-3 * np.std(y))
    clusters = np.repeat(np.arange(6), 2)  # 20 assignments of 3 of 6 clusters: the 80% interval is finite
    y12, z12 = np.r_[y, 6.5, 7.1], np.repeat([1, 0, 1, 0, 1, 0], 2)
    res = frt(y12, z12, design=ClusterRandomized(clusters), confidence=True, confidence_level=0.8)
    low, high = res.confidence_interval
    assert math.isfinite(low) and math.isfinite(high) and res.details["n_resamples"] == 20
    test = dict(design=ClusterRandomized(clusters))  # the ends are accepted, effects beyond them rejected
    for inside, outside in ((low, low - 1.0), (high, high + 1.0)):
        assert frt(y12, z12, null_effect=inside, **test).pvalue > 0.2 >= frt(y12, z12, null_effect=outside,
                                                                             **test).pvalue


def test_a_new_design_needs_no_edit_to_frt():
    class Halves(causalattn.experiments.designs.Design):
        """Treat either the first or the second half of the units, with probability 1/2 each."""

        def __init__(self, n):
            self.n = n

        def _candidates(self, rng, size):
            first = rng.random(size) < 0.5
            return np.where(first[:, None], np.arange(self.n) < self.n // 2, np.arange(self.n) >= self.n // 2) * 1.0

        def _check(self, treatment):
            if treatment[: self.n // 2].tolist() not in ([1] * (self.n // 2), [0] * (self.n // 2)):
                raise ValueError("`treatment` must treat one half")

        def _count(self):
            return 2

        def _enumerate(self, batch):
            yield np.array([np.arange(self.n) < self.n // 2, np.arange(self.n) >= self.n // 2], float), None

    y = np.array([5.0, 6.0, 7.0, 1.0, 2.0, 3.0])
    z = np.array([1, 1, 1, 0, 0, 0])
    res = frt(y, z, design=Halves(6), alternative="greater")
    # by hand: the observed difference 4 and the other half's -4; P(T >= 4) = 1/2
    assert res.method == "frt-exact" and res.pvalue == pytest.approx(0.5) and res.details["design"] == "Halves"
    mc = frt(y, z, design=Halves(6), alternative="greater", method="monte-carlo", n_resamples=400, rng=0)
    assert abs(mc.pvalue - 0.5) < 4 * mc.details["mc_standard_error"]
    with pytest.raises(ValueError, match="`treatment` must treat one half"):
        frt(y, np.array([1, 0, 1, 0, 1, 0]), design=Halves(6))


def test_hodges_lehmann_under_cluster_randomization_solves_the_rank_equation():
    clusters = np.repeat(np.arange(6), [2, 3, 2, 4, 1, 3])
    z = np.isin(clusters, [0, 3, 4]).astype(int)
    y = np.random.default_rng(9).normal(size=15) + 2.0 * z
    est = hodges_lehmann(y, z, design=ClusterRandomized(clusters))
    weights = z - 0.5  # three of six clusters treated: pi_i = 1/2 for every unit

    def equation(tau):
        return weights @ (stats.rankdata(y - tau * z) - 8.0)

    assert equation(est - 1e-6) >= 0 >= equation(est + 1e-6)


def test_hodges_lehmann_is_the_median_of_the_pairwise_differences():
    # issue 18, item 1: the rank equation evaluated to 1.1e-16 on its plateau of roots, so the bisection ended at
    # one end of it: 0.7102 instead of the median 0.6547 here, and in 99 of 200 random designs a wrong answer
    rng = np.random.default_rng(0)
    y, z = rng.normal(0, 1, 15), (np.arange(15) < 6).astype(int)
    assert hodges_lehmann(y, z) == pytest.approx(np.median(np.subtract.outer(y[z == 1], y[z == 0])), abs=1e-12)
    assert hodges_lehmann(y, z) == pytest.approx(0.6547, abs=1e-4)
    for seed in range(20):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(5, 40))
        z = np.zeros(n, int)
        z[rng.choice(n, int(rng.integers(2, n - 1)), replace=False)] = 1
        y = rng.normal(0, 1, n) * 10.0 ** rng.integers(-3, 4)
        median = np.median(np.subtract.outer(y[z == 1], y[z == 0]))
        assert hodges_lehmann(y, z) == pytest.approx(median, abs=1e-11 * np.ptp(y)), seed
        assert hodges_lehmann(y, z, design=BRE(0.3)) == pytest.approx(median, abs=1e-11 * np.ptp(y)), seed


def test_hodges_lehmann_in_random_pairs_is_the_median_of_the_walsh_averages():
    for seed in range(15):
        rng = np.random.default_rng(seed)
        m = int(rng.integers(2, 25))
        d = rng.normal(0.5, 1, m)
        walsh = [(d[i] + d[j]) / 2 for i in range(m) for j in range(i, m)]
        y = np.column_stack([d, np.zeros(m)]).ravel()
        est = hodges_lehmann(y, np.tile([1, 0], m), design=MPE(np.repeat(np.arange(m), 2)))
        assert est == pytest.approx(np.median(walsh), abs=1e-11 * np.ptp(y)), seed


def test_hodges_lehmann_stratified_by_hand():
    # strata a (treated 5; controls 1, 2: pi = 1/3) and b (treated 10, 11; control 3: pi = 2/3). The root of
    # sum_i (Z_i - pi_i)(R_i(tau) - 7/2) is found by hand: the left side only changes where two imputed outcomes
    # Y_i - tau Z_i cross, at tau = (treated - control) or (treated - treated) differences, so it is enough to
    # evaluate it exactly (fractions) between consecutive crossings
    from fractions import Fraction
    y = [5, 1, 2, 10, 11, 3]
    z = [1, 0, 0, 1, 1, 0]
    pi = [Fraction(1, 3)] * 3 + [Fraction(2, 3)] * 3
    crossings = sorted({Fraction(y[i] - y[j], z[i] - z[j]) for i in range(6) for j in range(6) if z[i] != z[j]})

    def equation(tau):
        imputed = [Fraction(v) - tau * t for v, t in zip(y, z, strict=True)]
        ranks = [sum(1 for w in imputed if w < v) + Fraction(sum(1 for w in imputed if w == v) + 1, 2)
                 for v in imputed]
        return sum((t - p) * (r - Fraction(7, 2)) for t, p, r in zip(z, pi, ranks, strict=True))

    points = [crossings[0] - 1] + [(a + b) / 2 for a, b in itertools.pairwise(crossings)] + [crossings[-1] + 1]
    values = [equation(t) for t in points]
    zero = [t for t, v in zip(points, values, strict=True) if v == 0]
    if zero:  # a plateau of roots between two crossings: its middle
        index = points.index(zero[0])
        hand = (crossings[index - 1] + crossings[index]) / 2
    else:  # the sign changes at one crossing
        hand = next(c for c, before, after in zip(crossings, values, values[1:], strict=False) if before > 0 > after)
    est = hodges_lehmann(np.array(y, float), z, design=SRE(["a"] * 3 + ["b"] * 3))
    assert est == pytest.approx(float(hand), abs=1e-11)


def test_auto_never_enumerates_more_than_exact_would():
    # issue 18, item 13: n_resamples=10**18 with n = 60 made "auto" start enumerating 1.2e17 assignments
    y, z = np.arange(60.0), np.tile([1, 0], 30)
    with pytest.raises(ValueError, match=r"`n_resamples` must be at most 2\*\*26 = 67,108,864 .*, got "
                                         r"1,000,000,000,000,000,000"):
        frt(y, z, n_resamples=10**18)
    assert not enumerates(math.comb(60, 30), MAX_RESAMPLES)  # drawn, whatever n_resamples is
    assert enumerates(2**20, 10) and enumerates(2**21, 2**21) and not enumerates(2**21, 2**21 - 1)
    assert enumerates(MAX_RESAMPLES, 10**18) and not enumerates(MAX_RESAMPLES + 1, 10**18)
    assert frt(y, z, n_resamples=1000, rng=0).method == "frt-monte-carlo"
    with pytest.raises(ValueError, match="`n_resamples` must be at most 2\\*\\*26"):
        causalattn.paired_effect(np.arange(5.0), np.zeros(5), method="bootstrap", n_resamples=2**27)
