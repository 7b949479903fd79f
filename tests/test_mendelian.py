"""Mendelian randomization against statsmodels WLS, the published numbers of the R package MendelianRandomization
(Yavorska and Burgess 2017, on Waterworth et al.'s lipid data), hand calculations, 2SLS and simulations."""

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from matplotlib.figure import Figure

from causalattn import HypothesisTest, datasets
from causalattn.observational import MendelianRandomization, tsls


@pytest.fixture(scope="module")
def lipids():
    data = datasets.load("lipids_chd")
    return MendelianRandomization.from_data(data, "ldlc", "ldlc_se", "chd_log_odds", "chd_log_odds_se",
                                            variants="variant")


def _underdispersed(k=12, seed=5):
    """Summary statistics whose outcome associations scatter less than their standard errors say (scale < 1)."""
    rng = np.random.default_rng(seed)
    bx = rng.uniform(0.05, 0.3, k) * rng.choice([-1, 1], k)
    by = 0.4 * bx + 0.01 + rng.normal(0, 0.005, k)
    return MendelianRandomization(bx, np.full(k, 0.01), by, np.full(k, 0.02))


# --------------------------------------------------------------------------- statsmodels WLS


def test_ivw_is_the_wls_slope_through_the_origin(lipids):
    fit = sm.WLS(lipids.beta_outcome, lipids.beta_exposure, weights=lipids.se_outcome**-2).fit()
    random = lipids.ivw()
    assert random.estimate == pytest.approx(fit.params[0], rel=1e-12)
    assert math.sqrt(fit.scale) > 1  # over-dispersed: the random-effects SE is WLS's own, t on K - 1 df
    assert random.standard_error == pytest.approx(fit.bse[0], rel=1e-10)
    assert random.confidence_interval == pytest.approx(tuple(fit.conf_int()[0]), rel=1e-10)
    assert random.pvalue == pytest.approx(fit.pvalues[0], rel=1e-8)
    assert random.details["df"] == fit.df_resid == 27 and random.method == "ivw-random-t"
    fixed = lipids.ivw("fixed")
    known = sm.WLS(lipids.beta_outcome, lipids.beta_exposure, weights=lipids.se_outcome**-2).fit(
        cov_type="fixed scale")
    assert fixed.standard_error == pytest.approx(known.bse[0], rel=1e-10)
    assert fixed.confidence_interval == pytest.approx(tuple(known.conf_int()[0]), rel=1e-10)
    assert fixed.pvalue == pytest.approx(known.pvalues[0], rel=1e-8)


def test_egger_is_wls_with_an_intercept_on_the_oriented_variants(lipids):
    sign = np.sign(lipids.beta_exposure)
    x, y = sm.add_constant(np.abs(lipids.beta_exposure)), sign * lipids.beta_outcome
    fit = sm.WLS(y, x, weights=lipids.se_outcome**-2).fit()
    slope = lipids.egger()
    intercept = slope.details["intercept"]
    for est, j in ((intercept, 0), (slope, 1)):
        assert est.estimate == pytest.approx(fit.params[j], rel=1e-10)
        assert est.standard_error == pytest.approx(fit.bse[j], rel=1e-10)
        assert est.confidence_interval == pytest.approx(tuple(fit.conf_int()[j]), rel=1e-10)
        assert est.pvalue == pytest.approx(fit.pvalues[j], rel=1e-8)
        assert est.details["df"] == 26 and est.method == "egger-t"
    assert slope.details["n_flipped"] == int((lipids.beta_exposure < 0).sum()) == 16


def test_under_dispersion_keeps_the_fixed_effect_standard_errors():
    mr = _underdispersed()
    fit = sm.WLS(mr.beta_outcome, mr.beta_exposure, weights=mr.se_outcome**-2).fit()
    assert math.sqrt(fit.scale) < 1
    known = sm.WLS(mr.beta_outcome, mr.beta_exposure, weights=mr.se_outcome**-2).fit(cov_type="fixed scale")
    assert mr.ivw().standard_error == pytest.approx(known.bse[0], rel=1e-10) == mr.ivw("fixed").standard_error
    assert mr.ivw().standard_error > fit.bse[0]  # never narrower than the fixed-effect analysis
    oriented = sm.WLS(np.sign(mr.beta_exposure) * mr.beta_outcome, sm.add_constant(np.abs(mr.beta_exposure)),
                      weights=mr.se_outcome**-2).fit(cov_type="fixed scale")
    egger = mr.egger()
    assert egger.standard_error == pytest.approx(oriented.bse[1], rel=1e-10)
    assert egger.details["intercept"].standard_error == pytest.approx(oriented.bse[0], rel=1e-10)


# --------------------------------------------------------------------------- published numbers


def test_lipid_data_reproduce_the_published_numbers(lipids):
    # Yavorska and Burgess (2017), MendelianRandomization 0.9.0's vignette on ldlc/chdlodds (normal intervals):
    # IVW 2.834 (0.530) [1.796, 3.873], RSE 1.920, Q = 99.5304 on 27 df, I^2 = 72.9%;
    # MR-Egger 3.253 (0.770) [1.743, 4.762], intercept -0.011 (0.015) [-0.041, 0.018] p = 0.451, RSE 1.935,
    # heterogeneity 97.3975 on 26 df, I^2_GX 91.9%; weighted median 2.683 (0.419) [1.862, 3.504] (10,000 draws).
    ivw = lipids.ivw(distribution="normal")
    assert (round(ivw.estimate, 3), round(ivw.standard_error, 3)) == (2.834, 0.530)
    assert [round(v, 3) for v in ivw.confidence_interval] == [1.796, 3.873]
    assert round(ivw.details["residual_scale"], 3) == 1.920
    q = lipids.heterogeneity()
    assert isinstance(q, HypothesisTest) and (round(q.statistic, 4), q.dof) == (99.5304, 27)
    assert round(q.details["i2"], 3) == 0.729
    egger = lipids.egger(distribution="normal")
    intercept = egger.details["intercept"]
    assert (round(egger.estimate, 3), round(egger.standard_error, 3)) == (3.253, 0.770)
    assert [round(v, 3) for v in egger.confidence_interval] == [1.743, 4.762]
    assert (round(intercept.estimate, 3), round(intercept.standard_error, 3)) == (-0.011, 0.015)
    assert [round(v, 3) for v in intercept.confidence_interval] == [-0.041, 0.018]
    assert round(intercept.pvalue, 3) == 0.451 and round(egger.details["residual_scale"], 3) == 1.935
    assert round(egger.details["heterogeneity"].statistic, 4) == 97.3975 and egger.details["heterogeneity"].dof == 26
    assert round(egger.details["i2_gx"], 3) == 0.919
    median = lipids.weighted_median(n_resamples=10_000, rng=0)
    assert round(median.estimate, 3) == 2.683
    assert median.standard_error == pytest.approx(0.419, abs=0.02)  # a bootstrap: other random numbers


def test_wald_ratios_by_hand(lipids):
    # variant1: beta_X 0.026 (0.004), beta_Y 0.0677 (0.0286)
    first, second = lipids.wald_ratios()[0], lipids.wald_ratios("second")[0]
    assert first.estimate == pytest.approx(0.0677 / 0.026)
    assert first.standard_error == pytest.approx(0.0286 / 0.026)
    assert second.standard_error == pytest.approx(math.sqrt(1.1**2 + 0.0677**2 * 0.004**2 / 0.026**4))
    assert first.confidence_interval.low == pytest.approx(0.0677 / 0.026 - 1.959964 * 1.1, rel=1e-6)
    assert first.method == "wald-ratio-first-order" and second.method == "wald-ratio-second-order"
    assert len(lipids.wald_ratios()) == 28 and first.estimand == "Wald ratio variant1"


def test_weighted_median_by_hand():
    # ratios 1, 2, 3 with weights 1, 1, 2 (beta_X = 1, 1, sqrt 2, se_Y = 1): cumulative weights
    # (0.5, 1.5, 3) / 4 = 0.125, 0.375, 0.75, so the median is 2 + (3 - 2)(0.5 - 0.375)/(0.75 - 0.375) = 7/3
    bx = np.array([1.0, 1.0, math.sqrt(2)])
    mr = MendelianRandomization(bx, [0.01] * 3, bx * [1, 2, 3], [1.0] * 3)
    assert mr.weighted_median(rng=0).estimate == pytest.approx(7 / 3)
    # equal weights: cumulative 1/6, 1/2, 5/6, the middle ratio exactly; order of the variants does not matter
    mr = MendelianRandomization([1.0, 1.0, 1.0], [0.01] * 3, [3.0, 1.0, 2.0], [1.0] * 3)
    assert mr.weighted_median(rng=0).estimate == pytest.approx(2.0)


def test_weighted_median_bootstrap_is_reproducible(lipids):
    a, b = lipids.weighted_median(rng=3), lipids.weighted_median(rng=3)
    assert a.standard_error == b.standard_error and a.method == "weighted-median-boot"
    assert lipids.weighted_median(rng=4).standard_error != a.standard_error


# --------------------------------------------------------------------------- simulations with known truth


def _simulate(pleiotropic_share, rng, k=40, theta=0.5):
    gx = rng.uniform(0.05, 0.25, k)
    alpha = np.where(rng.uniform(size=k) < pleiotropic_share, rng.uniform(0.05, 0.15, k), 0.0)
    bx, by = gx + rng.normal(0, 0.005, k), theta * gx + alpha + rng.normal(0, 0.01, k)
    return MendelianRandomization(bx, np.full(k, 0.005), by, np.full(k, 0.01))


@pytest.mark.parametrize("share", [0.0, 0.2])
def test_egger_and_weighted_median_hold_up_under_directional_pleiotropy_and_ivw_does_not(share):
    # 40 variants, theta = 0.5; with pleiotropy a fifth of the variants have a direct effect alpha ~ U(0.05, 0.15)
    # independent of their strength (InSIDE holds, less than half the weight invalid). 100 data sets.
    rng, theta = np.random.default_rng(2024), 0.5
    rows = []
    for r in range(100):
        mr = _simulate(share, rng)
        for name, est in (("ivw", mr.ivw()), ("egger", mr.egger()),
                          ("median", mr.weighted_median(n_resamples=200, rng=r))):
            low, high = est.confidence_interval
            rows.append((name, est.estimate - theta, low <= theta <= high))
    frame = pd.DataFrame(rows, columns=["method", "bias", "covers"]).groupby("method").mean()
    if share == 0:
        assert (frame["bias"].abs() < 0.01).all() and (frame["covers"] >= 0.9).all()
    else:
        assert frame.loc["ivw", "bias"] > 0.08 and frame.loc["ivw", "covers"] < 0.5
        assert abs(frame.loc["egger", "bias"]) < 0.02 and frame.loc["egger", "covers"] >= 0.9
        assert abs(frame.loc["median", "bias"]) < 0.3 * frame.loc["ivw", "bias"]


@pytest.mark.parametrize("theta", [0.0, 0.3])
def test_two_stage_least_squares_on_the_genotypes_agrees_with_ivw(theta):
    # one sample of 20,000 people, 8 independent variants (allele counts), a confounder U
    rng = np.random.default_rng(7)
    n, k = 20_000, 8
    genotypes = rng.binomial(2, rng.uniform(0.1, 0.5, k), size=(n, k)).astype(float)
    u = rng.normal(size=n)
    x = genotypes @ rng.uniform(0.05, 0.15, k) + u + rng.normal(size=n)
    y = theta * x - u + rng.normal(size=n)
    data = pd.DataFrame(genotypes, columns=[f"g{j}" for j in range(k)]).assign(x=x, y=y)
    variants = [f"g{j}" for j in range(k)]
    two_stage = tsls(data, "y", "x", variants, cov_type="classical")
    mr = MendelianRandomization.from_genotypes(data, "x", "y", variants)
    ivw = mr.ivw("fixed")
    assert ivw.estimate == pytest.approx(two_stage.estimate, abs=0.1 * two_stage.standard_error)
    # the first-order IVW standard error uses var(Y | G), 2SLS the structural residual's variance: the same
    # when theta = 0 (Burgess et al. 2013), smaller here when theta != 0 (var(Y | G) is then smaller)
    if theta == 0:
        assert ivw.standard_error == pytest.approx(two_stage.standard_error, rel=0.05)
    else:
        assert ivw.standard_error < two_stage.standard_error
    # the summary statistics are the per-variant OLS slopes
    fit = sm.OLS(y, sm.add_constant(genotypes[:, 3])).fit()
    assert (mr.beta_outcome[3], mr.se_outcome[3]) == pytest.approx((fit.params[1], fit.bse[1]), rel=1e-10)
    assert mr.variants == variants and mr.exposure == "x"


# --------------------------------------------------------------------------- tables and plots


def test_estimates_table_lists_what_the_variants_allow(lipids):
    table = lipids.estimates(rng=0, n_resamples=100)
    assert [row.method for row in table] == ["ivw-fixed", "ivw-random-t", "egger-t", "egger-t",
                                            "weighted-median-boot", "cochran-q"]
    assert "MR-Egger intercept" in table.summary()
    two = MendelianRandomization([0.1, 0.2], [0.01, 0.01], [0.05, 0.1], [0.02, 0.02])
    assert [row.method for row in two.estimates()] == ["ivw-fixed", "ivw-random-t", "cochran-q"]
    one = MendelianRandomization([0.1], [0.01], [0.05], [0.02])
    (row,) = one.estimates()
    assert row.estimate == pytest.approx(0.5) and row.standard_error == pytest.approx(0.2)  # the Wald ratio
    assert repr(lipids) == "MendelianRandomization(28 variants: ldlc -> chd_log_odds)"
    assert list(lipids.to_frame().columns) == ["beta_exposure", "se_exposure", "beta_outcome", "se_outcome",
                                               "wald_ratio"]


def test_plots(lipids):
    scatter = lipids.plot_scatter(rng=0, n_resamples=50)
    assert isinstance(scatter, Figure)
    labels = [t.get_text() for t in scatter.axes[0].get_legend().get_texts()]
    assert any(t.startswith("IVW (random effects): 2.83") for t in labels)
    assert any(t.startswith("MR-Egger slope: 3.25") for t in labels) and any("weighted median" in t for t in labels)
    funnel = lipids.plot_funnel()
    labels = [t.get_text() for t in funnel.axes[0].get_legend().get_texts()]
    assert any("beyond the axis (226)" in t for t in labels)  # variant24: beta_X = 0.0003
    two = MendelianRandomization([0.1, 0.2], [0.01, 0.01], [0.05, 0.1], [0.02, 0.02])
    assert len(two.plot_scatter().axes[0].get_legend().get_texts()) == 2  # the points and IVW only


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("change, message", [
    ({"se_outcome": [0.02, 0.0, 0.02]}, r"`se_outcome` must be positive"),
    ({"se_exposure": [0.01, -0.01, 0.01]}, r"`se_exposure` must be positive"),
    ({"beta_exposure": [0.0, 0.0, 0.0]}, r"`beta_exposure` is 0 for 3 of 3"),
    ({"beta_outcome": [0.1, np.nan, 0.1]}, r"`beta_outcome` must be finite"),
    ({"beta_outcome": [0.1, 0.2]}, r"same length: .*`beta_outcome` has 2"),
    ({"variants": ["a", "a", "b"]}, r"`variants` must be distinct"),
    ({"variants": ["a", "b"]}, r"`variants` must name each of the 3"),
    ({"se_outcome": [1e-60, 0.02, 0.02]}, r"`se_outcome` reaches 1e-60 in magnitude"),
    ({"beta_outcome": [1e200, 0.2, 0.2]}, r"`beta_outcome` reaches 1e\+200 in magnitude"),
])
def test_bad_summary_statistics(change, message):
    args = {"beta_exposure": [0.1, 0.2, 0.3], "se_exposure": [0.01] * 3, "beta_outcome": [0.1, 0.2, 0.2],
            "se_outcome": [0.02] * 3, **change}
    with pytest.raises(ValueError, match=message):
        MendelianRandomization(**args)


def test_scale_does_not_matter_within_the_limits(lipids):
    # the estimators are equivariant: exposure associations times 1e-30, outcome ones times 1e30 (SEs alike)
    # multiply every slope by 1e60 and the Egger intercept by 1e30
    scaled = MendelianRandomization(lipids.beta_exposure * 1e-30, lipids.se_exposure * 1e-30,
                                    lipids.beta_outcome * 1e30, lipids.se_outcome * 1e30)
    assert scaled.ivw().estimate == pytest.approx(lipids.ivw().estimate * 1e60, rel=1e-9)
    assert scaled.ivw().standard_error == pytest.approx(lipids.ivw().standard_error * 1e60, rel=1e-9)
    egger, scaled_egger = lipids.egger(), scaled.egger()
    assert scaled_egger.estimate == pytest.approx(egger.estimate * 1e60, rel=1e-9)
    assert scaled_egger.details["intercept"].estimate == pytest.approx(egger.details["intercept"].estimate * 1e30,
                                                                       rel=1e-9)
    assert scaled.weighted_median(rng=1).estimate == pytest.approx(lipids.weighted_median(rng=1).estimate * 1e60)


def test_bad_options(lipids):
    one = MendelianRandomization([0.1], [0.01], [0.05], [0.02])
    two = MendelianRandomization([0.1, 0.2], [0.01, 0.01], [0.05, 0.1], [0.02, 0.02])
    with pytest.raises(ValueError, match=r"`model`='random' \(a residual scale\) needs at least 2 variants, got 1"):
        one.ivw()
    with pytest.raises(ValueError, match=r"MR-Egger .* needs at least 3 variants, got 2"):
        two.egger()
    with pytest.raises(ValueError, match=r"weighted median needs at least 3 variants, got 2"):
        two.weighted_median()
    with pytest.raises(ValueError, match=r"`distribution`='t' does not apply to `model`='fixed'"):
        lipids.ivw("fixed", "t")
    with pytest.raises(ValueError, match=r"`model` must be one of \['random', 'fixed'\]"):
        lipids.ivw("mixed")
    with pytest.raises(ValueError, match=r"`distribution` must be one of"):
        lipids.egger("student")
    with pytest.raises(ValueError, match=r"`order` must be one of \['first', 'second'\]"):
        lipids.wald_ratios("third")
    # before: n_resamples=2 was accepted: a standard error from two draws (the interval is normal: the minimum is
    # minimum_resamples(level, "normal"), 30 at 95%, 75 at 99%)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at least 30 for a normal interval at 95% from a "
                                         r"bootstrap standard error"):
        lipids.weighted_median(n_resamples=29)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at least 75 for a normal interval at 99%"):
        lipids.estimates(n_resamples=74, confidence_level=0.99)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at most 2\*\*26"):  # before: ran for days
        lipids.weighted_median(n_resamples=2**26 + 1)
    assert lipids.weighted_median(n_resamples=30, rng=0).details["n_resamples"] == 30
    with pytest.raises(TypeError, match=r"`rng` must be None"):
        lipids.weighted_median(rng="seed")
    same = MendelianRandomization([0.1, -0.1, 0.1], [0.01] * 3, [0.05, -0.04, 0.06], [0.02] * 3)
    with pytest.raises(ValueError, match=r"MR-Egger is not identified: every variant has the same \|beta_exposure\|"):
        same.egger()
    with pytest.raises(TypeError, match=r"`exposure` must be a string"):
        MendelianRandomization([0.1], [0.01], [0.05], [0.02], exposure=3)


def test_bad_frames():
    data = datasets.load("lipids_chd")
    with pytest.raises(ValueError, match=r"`se_outcome`: column 'chd_se' is not in `data`"):
        MendelianRandomization.from_data(data, "ldlc", "ldlc_se", "chd_log_odds", "chd_se")
    shifted = pd.Series(data["chd_log_odds"].to_numpy(), index=data.index + 1)
    with pytest.raises(ValueError, match=r"`beta_exposure` and `beta_outcome` are pandas objects with different"):
        MendelianRandomization(data["ldlc"], data["ldlc_se"], shifted, data["chd_log_odds_se"])
    people = pd.DataFrame({"g": [0.0, 1.0, 2.0, 1.0], "c": [1.0] * 4, "x": [1.0, 2.0, 3.0, 2.5],
                           "y": [0.0, 1.0, 1.0, 2.0]})
    with pytest.raises(ValueError, match=r"`variants`: column 'c' is constant"):
        MendelianRandomization.from_genotypes(people, "x", "y", ["g", "c"])
    with pytest.raises(TypeError, match=r"`variants` must be a non-empty list"):
        MendelianRandomization.from_genotypes(people, "x", "y", "g")


def test_lipids_data_set():
    data = datasets.load("lipids_chd")
    assert data.shape == (28, 12) and data["variant"].iloc[23] == "variant24"
    assert data["ldlc"].iloc[23] == 0.0003 and data["chd_log_odds_se"].iloc[-1] == 0.0647
    assert "Waterworth" in datasets.describe("lipids_chd")


def test_variant_names_follow_the_index_of_the_statistics(lipids):
    # a `variants` Series whose index differs from the statistics' was paired by position: variant 27's name on
    # variant 0's row, silently
    stats_ = [pd.Series(getattr(lipids, name)) for name in ("beta_exposure", "se_exposure", "beta_outcome",
                                                             "se_outcome")]
    names = pd.Series(lipids.variants)
    with pytest.raises(ValueError, match=r"`beta_exposure` and `variants` are pandas objects with different indexes"):
        MendelianRandomization(*stats_, variants=names[::-1])
    assert MendelianRandomization(*stats_, variants=names).variants == lipids.variants


def test_from_genotypes_gives_each_column_one_role():
    # the exposure among the variants was its own "instrument" (beta_exposure 1, the IVW estimate the confounded
    # OLS slope), silently
    rng = np.random.default_rng(0)
    genotypes = rng.binomial(2, 0.3, size=(500, 3)).astype(float)
    x = genotypes.sum(axis=1) + rng.normal(size=500)
    data = pd.DataFrame(genotypes, columns=["g1", "g2", "g3"]).assign(x=x, y=0.5 * x + rng.normal(size=500),
                                                                      c=rng.normal(size=500))
    for args, kwargs, message in (
            (("x", "y", ["g1", "x"]), {}, r"`exposure` and `variants` name the same column 'x'"),
            (("x", "y", ["g1", "y"]), {}, r"`outcome` and `variants` name the same column 'y'"),
            (("x", "x", ["g1", "g2"]), {}, r"`exposure` and `outcome` name the same column 'x'"),
            (("x", "y", ["g1", "g2"]), {"covariates": ["g2"]},
             r"`variants` and `covariates` name the same column 'g2'"),
            (("x", "y", ["g1", "g2"]), {"covariates": ["x"]}, r"`exposure` and `covariates` name the same column 'x'")):
        with pytest.raises(ValueError, match=message):
            MendelianRandomization.from_genotypes(data, *args, **kwargs)
    with pytest.raises(ValueError, match=r"`data` has 3 rows: the regressions on each variant have 3 coefficients"):
        MendelianRandomization.from_genotypes(data.iloc[:3], "x", "y", ["g1", "g2"], covariates=["c"])
    one = MendelianRandomization.from_genotypes(data, "x", "y", ["g1", "g2"], covariates="c")  # a name, not letters
    fit = sm.OLS(data["x"], sm.add_constant(data[["g1", "c"]])).fit()
    assert one.beta_exposure[0] == pytest.approx(fit.params["g1"], rel=1e-10)
