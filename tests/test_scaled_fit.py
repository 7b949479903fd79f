"""Fits whose answer does not depend on the units of the data (causalattn._scaled_fit), and every public function
that fits a regression on data in arbitrary units, rescaled.

The algebra: multiplying a covariate by c leaves every other coefficient, its standard error, interval, p-value
and the residual degrees of freedom unchanged (the covariate's own coefficient is divided by c); multiplying
the outcome by c multiplies estimates, standard errors and interval ends by c and leaves p-values unchanged.
The reference is always the same function on the data in units of 1. Before the shared fit, at 1e12 the
regressions kept about six digits (ols: 2e-6 relative), outcome regression was 2% off, matching's bias correction
2%, the logistic score refused a covariate in units of 1e-12, and covariates at 1e20 were refused as collinear.
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import causalattn
from causalattn import _scaled_fit, datasets
from causalattn.experiments import matched_pairs_adjusted
from causalattn.experiments.designs import MPE, ReM
from causalattn.mediation import baron_kenny, mediate
from causalattn.observational import (
    MendelianRandomization,
    aipw,
    ipw,
    match,
    outcome_regression,
    propensity_score,
    tsls,
)

REL = 1e-9  # the same fit in other units agrees to rounding; before the shared fit they differed by 1e-6 to 1e-2
FACTORS = [1e12, 1e-12]
pytestmark = pytest.mark.filterwarnings("ignore::causalattn.observational.SmallSampleWarning")


def same(a, b, *, scale=1.0, rel=REL):
    """Estimate ``b`` equals ``a`` with its estimate, SE and interval times ``scale``, its p-value unchanged."""
    assert b.estimate == pytest.approx(a.estimate * scale, rel=rel)
    assert b.standard_error == pytest.approx(a.standard_error * scale, rel=rel)
    size = (abs(a.estimate) + a.standard_error) * abs(scale)  # an interval end near 0 is a difference of these
    assert tuple(b.confidence_interval) == pytest.approx(tuple(np.multiply(a.confidence_interval, scale)), rel=rel,
                                                         abs=rel * size)
    if a.pvalue is not None:  # log p moves by about z^2 times the relative change of the SE
        assert b.pvalue == pytest.approx(a.pvalue, rel=max(1e-6, 1e3 * rel), abs=1e-300)
    assert b.n == a.n and b.method == a.method


@pytest.fixture(scope="module")
def trial():
    rng = np.random.default_rng(7)
    n = 80
    z = np.tile([0.0, 1.0], n // 2)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({"y": 1 + 2 * z + x1 - x2 + rng.normal(size=n) * (1 + z), "z": z, "x1": x1, "x2": x2,
                         "g": np.repeat(np.arange(16), 5), "w": rng.uniform(0.5, 2.0, n)})


@pytest.fixture(scope="module")
def nsw():
    return datasets.load("lalonde_nsw")


NSW_X = ["age", "educ", "black", "married", "re74", "re75"]


# --------------------------------------------------------------------------- the shared fit itself


@pytest.mark.parametrize("cov_type,cov_kwds", [("nonrobust", None), ("HC0", None), ("HC1", None), ("HC2", None),
                                               ("HC3", None), ("cluster", "groups")])
@pytest.mark.parametrize("weighted", [False, True])
def test_least_squares_is_statsmodels_and_exact_under_powers_of_two(trial, cov_type, cov_kwds, weighted):
    x = sm.add_constant(trial[["z", "x1", "x2"]])
    kwds = None if cov_kwds is None else {"groups": trial["g"].to_numpy()}

    def model(design):
        return sm.WLS(trial["y"], design, weights=trial["w"]) if weighted else sm.OLS(trial["y"], design)

    reference = model(x).fit(cov_type=cov_type, cov_kwds=kwds)  # a well-scaled design: statsmodels is accurate
    ours = _scaled_fit.least_squares(model(x), cov_type=cov_type, cov_kwds=kwds)
    assert type(ours) is type(reference) and type(ours._results) is type(reference._results)
    for attribute in ("params", "bse", "pvalues", "tvalues", "resid"):
        pd.testing.assert_series_equal(getattr(ours, attribute), getattr(reference, attribute), rtol=1e-12)
    pd.testing.assert_frame_equal(ours.conf_int(), reference.conf_int(), rtol=1e-12)
    assert (ours.df_resid, ours.df_model, ours.k_constant, ours.use_t) == (reference.df_resid, reference.df_model,
                                                                           reference.k_constant, reference.use_t)
    assert ours.scale == pytest.approx(reference.scale, rel=1e-12) and ours.cov_type == reference.cov_type
    # x1 in units of 2**-40: the scaled design is the same bits, so the answer is exactly scaled
    scaled = _scaled_fit.least_squares(model(x.assign(x1=x["x1"] * 2.0**-40)), cov_type=cov_type, cov_kwds=kwds)
    factor = np.array([1, 1, 2.0**-40, 1])
    assert np.array_equal(scaled.params * factor, ours.params) and np.array_equal(scaled.bse * factor, ours.bse)
    assert np.array_equal(scaled.pvalues, ours.pvalues) and np.array_equal(scaled.resid, ours.resid)


def test_least_squares_at_1e20_where_statsmodels_counts_columns_out_of_the_rank():
    rng = np.random.default_rng(0)
    n = 30
    group = np.r_[0, 1, 2, rng.integers(0, 3, n - 3)]
    dummies = np.column_stack([(group == k).astype(float) for k in range(3)])  # an implicit constant
    x, y = rng.normal(size=n), rng.normal(size=n)
    unit = _scaled_fit.least_squares(sm.OLS(y, np.column_stack([dummies, x])))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = sm.OLS(y, np.column_stack([dummies, x * 1e20])).fit()
    assert raw.df_resid == 29 and raw.rsquared < 0  # statsmodels: rank 1, the dummies counted out
    ours = _scaled_fit.least_squares(sm.OLS(y, np.column_stack([dummies, x * 1e20])))
    assert (ours.df_resid, ours.df_model, ours.k_constant) == (26, 3, 1) == (unit.df_resid, unit.df_model, 1)
    assert ours.params == pytest.approx(unit.params / [1, 1, 1, 1e20], rel=1e-12)
    assert ours.bse == pytest.approx(unit.bse / [1, 1, 1, 1e20], rel=1e-12)
    assert ours.rsquared == pytest.approx(unit.rsquared, rel=1e-12)
    # one column, no constant, in units of 1e-20: statsmodels finds an implicit constant on the raw design
    assert sm.OLS(y, x[:, None] * 1e-20).k_constant == 1
    assert _scaled_fit.least_squares(sm.OLS(y, x[:, None] * 1e-20)).k_constant == 0


def test_least_squares_keeps_pandas_labels_integers_and_summary():
    rng = np.random.default_rng(1)
    index = pd.Index([f"u{j}" for j in range(40)][::-1])
    x = pd.DataFrame({"const": 1, "count": rng.integers(0, 10**6, 40), "flag": rng.integers(0, 2, 40)}, index=index)
    y = pd.Series(rng.normal(size=40), index=index, name="outcome")
    ours = _scaled_fit.least_squares(sm.OLS(y, x), cov_type="HC3")
    reference = sm.OLS(y, x.astype(float)).fit(cov_type="HC3")
    pd.testing.assert_series_equal(ours.params, reference.params, rtol=1e-12)
    assert list(ours.resid.index) == list(index) and "count" in str(ours.summary())
    assert ours.t_test([0, 1, 0]).pvalue == pytest.approx(reference.pvalues["count"], rel=1e-10)


def test_maximum_likelihood_logit_and_glm_in_any_units(nsw):
    design = sm.add_constant(nsw[NSW_X].astype(float))
    unit = _scaled_fit.maximum_likelihood(sm.Logit(nsw["treat"], design), disp=0)
    reference = sm.Logit(nsw["treat"], design).fit(disp=0)
    pd.testing.assert_series_equal(unit.params, reference.params, rtol=1e-6)  # Newton's stopping rule: 1e-8
    pd.testing.assert_series_equal(unit.bse, reference.bse, rtol=1e-6)
    factor = pd.Series(1.0, index=design.columns)
    factor["re74"] = 1e-12
    tiny = _scaled_fit.maximum_likelihood(sm.Logit(nsw["treat"], design * factor), disp=0)
    assert tiny.mle_retvals["converged"]
    pd.testing.assert_series_equal(tiny.params * factor, unit.params, rtol=REL)
    pd.testing.assert_series_equal(tiny.bse * factor, unit.bse, rtol=REL)
    assert np.asarray(tiny.predict(design * factor)) == pytest.approx(np.asarray(unit.predict(design)), rel=REL)
    probit = sm.families.Binomial(link=sm.families.links.Probit())
    glm = _scaled_fit.maximum_likelihood(sm.GLM(nsw["treat"], design * factor, family=probit))
    reference = sm.GLM(nsw["treat"], design, family=probit).fit()
    pd.testing.assert_series_equal(glm.params * factor, reference.params, rtol=1e-6)
    assert glm.converged and glm.df_resid == reference.df_resid and "re74" in str(glm.summary())


def test_offset_columns_and_wrong_models_are_refused():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=50), rng.normal(size=50)
    for offset in (1e7, 1e9, 1e16):  # R's lm aliases 1e7 + N(0, 1) (tests/reference/offset.R)
        with pytest.raises(ValueError, match=r"rank deficient: 'x1' is a linear function of 'const' \(perfectly "
                                             r"collinear\), or within 1e-07 of its norm of one, as R's lm would alias "
                                             r"it \(in floating point also a large offset .* such as 1e9 \+ noise: "
                                             r"subtract its mean\)"):
            _scaled_fit.least_squares(sm.OLS(y, sm.add_constant(offset + x)))
    assert _scaled_fit.least_squares(sm.OLS(y, sm.add_constant(1e6 + x))).params[1] == pytest.approx(
        sm.OLS(y, sm.add_constant(x)).fit().params[1], rel=1e-9)  # R's lm fits 1e6 + N(0, 1) too
    for bad in (np.zeros(50), np.full(50, 3.0)):  # a column of zeros; a second constant
        with pytest.raises(ValueError, match=r"rank deficient: 'x2' is a linear function of 'const', 'x1'"):
            _scaled_fit.least_squares(sm.OLS(y, np.column_stack([np.ones(50), x, bad])))
    with pytest.raises(ValueError, match=r"the design has 2 columns \['a', 'b'\] but only 1 rows: it needs at least"):
        _scaled_fit.least_squares(sm.OLS(y[:1], np.column_stack([np.ones(1), x[:1]])), names=["a", "b"])
    assert _scaled_fit.aliased(np.ones((2, 3))) == 1 and _scaled_fit.aliased(np.eye(2)[:, :0]) is None
    with pytest.raises(ValueError, match=r"rank deficient: 'x2' is a linear function of 'const', 'x1'"):
        _scaled_fit.maximum_likelihood(sm.Logit((x > 0).astype(float), np.column_stack([np.ones(50), x, 2 * x])))
    for scale in (1e300, 1e-300):
        with pytest.raises(ValueError, match=r"`covariates` 'x' reaches [0-9.]+e[+-]300 in magnitude: a regression in "
                                             r"these units leaves floating point"):
            _scaled_fit.least_squares(sm.OLS(y, np.column_stack([np.ones(50), x * scale])),
                                      names=["the intercept", "`covariates` 'x'"])
        with pytest.raises(ValueError, match=r"^'y' reaches"):
            _scaled_fit.maximum_likelihood(sm.GLM(y * scale, np.column_stack([np.ones(50), x])))
    with pytest.raises(TypeError, match="`model` must be a statsmodels OLS or WLS model, got GLSAR"):
        _scaled_fit.least_squares(sm.GLSAR(y, np.column_stack([np.ones(50), x])))
    with pytest.raises(TypeError, match="`model` must be a statsmodels Logit or GLM model, got Probit"):
        _scaled_fit.maximum_likelihood(sm.Probit((x > 0).astype(float), np.column_stack([np.ones(50), x])))
    with pytest.raises(TypeError, match="a GLM with an offset, exposure or weights is not supported"):
        _scaled_fit.maximum_likelihood(sm.GLM(y, np.column_stack([np.ones(50), x]), offset=x))


# --------------------------------------------------------------------------- regression


@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC1", "HC2", "HC3", "cluster"])
@pytest.mark.parametrize("function", ["ols", "ancova", "lin"])
@pytest.mark.parametrize("factor", FACTORS)
def test_regression_in_any_units(trial, function, cov_type, factor):
    fit = getattr(causalattn, function)
    clusters = "g" if cov_type == "cluster" else None
    unit = fit(trial, "y", "z", ["x1", "x2"], cov_type=cov_type, clusters=clusters)
    covariate = fit(trial.assign(x1=trial["x1"] * factor), "y", "z", ["x1", "x2"], cov_type=cov_type,
                    clusters=clusters)
    same(unit, covariate)
    assert covariate.details["df_resid"] == unit.details["df_resid"]
    outcome = fit(trial.assign(y=trial["y"] * factor), "y", "z", ["x1", "x2"], cov_type=cov_type, clusters=clusters)
    same(unit, outcome, scale=factor)
    weighted = [fit(d, "y", "z", ["x1", "x2"], cov_type=cov_type, clusters=clusters, weights="w")
                for d in (trial, trial.assign(x1=trial["x1"] * factor))]
    same(*weighted)


def test_regression_accepts_a_covariate_at_1e20_and_refuses_an_offset(trial):
    unit = causalattn.ols(trial, "y", "z", ["x1", "x2"], cov_type="classical")
    huge = causalattn.ols(trial.assign(x1=trial["x1"] * 1e20), "y", "z", ["x1", "x2"], cov_type="classical")
    same(unit, huge)
    assert huge.details["coefficients"].loc["x1", "estimate"] == pytest.approx(
        unit.details["coefficients"].loc["x1", "estimate"] / 1e20, rel=REL)
    formula = causalattn.ols(trial.assign(x1=trial["x1"] * 1e20), formula="y ~ z + x1 + x2", treatment="z",
                             cov_type="classical")
    same(unit, formula)
    for offset in (1e7, 1e9, 1e16):  # before, 1e9 + noise with HC2: "80 unit(s) have leverage 1"; 1e11: SE 0.3% of it
        with pytest.raises(ValueError, match=r"design matrix is rank deficient: 'x1' is a linear function of "
                                             r"'Intercept', 'z' \(perfectly collinear\).* such as 1e9 \+ noise: "
                                             r"subtract its mean\); a covariate is constant or collinear"):
            causalattn.ols(trial.assign(x1=trial["x1"] + offset), "y", "z", ["x1", "x2"])


@pytest.mark.parametrize("factor", FACTORS)
def test_fwl_in_any_units(trial, factor):
    unit = causalattn.fwl(trial, "y", "z", ["x1", "x2"])
    scaled = causalattn.fwl(trial.assign(x1=trial["x1"] * factor), "y", "z", ["x1", "x2"])
    same(unit.full, scaled.full)
    same(unit.partial, scaled.partial)
    assert abs(scaled.difference) < 1e-12


# --------------------------------------------------------------------------- observational


@pytest.mark.parametrize("factor", FACTORS)
def test_observational_estimators_in_any_units(nsw, factor):
    scaled = nsw.assign(re74=nsw["re74"] * factor)
    for estimator in (outcome_regression, aipw, ipw):
        same(estimator(nsw, "re78", "treat", NSW_X), estimator(scaled, "re78", "treat", NSW_X))
    same(outcome_regression(nsw, "re78", "treat", NSW_X, estimand="ATT"),
         outcome_regression(scaled, "re78", "treat", NSW_X, estimand="ATT"))
    for on in ("covariates", "propensity"):
        same(match(nsw, "re78", "treat", NSW_X, on=on), match(scaled, "re78", "treat", NSW_X, on=on))
    assert propensity_score(scaled, "treat", NSW_X).score == pytest.approx(
        propensity_score(nsw, "treat", NSW_X).score, rel=REL)


@pytest.fixture(scope="module")
def iv_data():
    rng = np.random.default_rng(1)
    n = 300
    x, z, u = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    d = 0.8 * z + 0.5 * x + u + rng.normal(size=n)
    return pd.DataFrame({"y": 1 + 2 * d + x - u + rng.normal(size=n), "d": d, "z": z, "x": x})


@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC1", "HC2", "HC3"])
def test_tsls_in_any_units(iv_data, cov_type):
    """Before: linearmodels solved the raw columns (a covariate at 1e12 moved the estimate by 2e-6, the classical
    SE by 1e-6; the first-stage F by 7e-6 with an instrument at 1e12), and refused a covariate at 1e20."""
    unit = tsls(iv_data, "y", "d", "z", ["x"], cov_type=cov_type)
    for column, factor, scale in [("x", 1e12, 1.0), ("x", 1e-12, 1.0), ("x", 1e20, 1.0), ("z", 1e12, 1.0),
                                  ("y", 1e12, 1e12), ("d", 1e-12, 1e12)]:
        other = tsls(iv_data.assign(**{column: iv_data[column] * factor}), "y", "d", "z", ["x"], cov_type=cov_type)
        same(unit, other, scale=scale, rel=1e-10)
        assert other.details["first_stage_f"] == pytest.approx(unit.details["first_stage_f"], rel=1e-10)
        # every coefficient, in the data's units: the rescaled column's own is divided by its factor
        units = pd.Series(factor if column == "y" else 1.0, index=["const", "x", "d"])
        if column in units.index:
            units[column] /= factor
        ours, theirs = other.details["coefficients"], unit.details["coefficients"]
        for name in ("estimate", "standard_error", "ci_low", "ci_high"):
            assert ours[name].to_numpy() == pytest.approx((theirs[name] * units).to_numpy(), rel=1e-10)
        assert ours["pvalue"].to_numpy() == pytest.approx(theirs["pvalue"].to_numpy(), rel=1e-8)


def test_tsls_coefficients_are_linearmodels_and_the_scaled_fit_maps_back(iv_data):
    from linearmodels.iv import IV2SLS

    big = iv_data.assign(y=iv_data["y"] * 3e5, x=iv_data["x"] * 1e-3)
    est = tsls(big, "y", "d", "z", ["x"], cov_type="HC1")
    reference = IV2SLS(big["y"], sm.add_constant(big["x"]), big["d"], big["z"]).fit(cov_type="robust", debiased=True)
    coefficients = est.details["coefficients"]  # raw columns of moderate scale: linearmodels to ~1e-9
    pd.testing.assert_series_equal(coefficients["estimate"], reference.params, check_names=False, rtol=1e-8)
    pd.testing.assert_series_equal(coefficients["standard_error"], reference.std_errors, check_names=False, rtol=1e-8)
    scales = est.details["scales"]
    for role, column in [("outcome", "y"), ("treatment", "d"), ("instruments", "z"), ("covariates", "x")]:
        top, scale = big[column].abs().max(), scales[role][column]
        assert scale <= top < 2 * scale and math.frexp(scale)[0] == 0.5  # a power of two within 2 of max |value|
    assert scales["covariates"]["const"] == 1.0
    scaled = est.details["scaled_fit"].params
    assert scaled["d"] * scales["outcome"]["y"] / scales["treatment"]["d"] == est.estimate  # exactly
    assert scaled["x"] * scales["outcome"]["y"] / scales["covariates"]["x"] == coefficients.loc["x", "estimate"]


def test_mendelian_randomization_from_genotypes_in_any_units():
    rng = np.random.default_rng(3)
    n = 500
    g = rng.binomial(2, 0.3, size=(n, 3)).astype(float)
    age = rng.normal(50, 10, n)
    exposure = g @ [0.3, 0.2, 0.4] + 0.02 * age + rng.normal(size=n)
    data = pd.DataFrame({"x": exposure, "y": 0.5 * exposure + 0.01 * age + rng.normal(size=n), "age": age,
                         **{f"g{j}": g[:, j] for j in range(3)}})
    variants = ["g0", "g1", "g2"]
    unit = MendelianRandomization.from_genotypes(data, "x", "y", variants, ["age"]).ivw(model="fixed")
    for factor in (1e12, 1e-12, 1e20):
        scaled = MendelianRandomization.from_genotypes(data.assign(age=age * factor), "x", "y", variants, ["age"])
        same(unit, scaled.ivw(model="fixed"))


# --------------------------------------------------------------------------- experiments and mediation


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
def test_matched_pairs_adjusted_and_its_frt_in_any_units(cov_type):
    rng = np.random.default_rng(2)
    m = 30
    pairs = np.repeat(np.arange(m), 2)
    z = np.ravel([rng.permutation([0, 1]) for _ in range(m)])
    x = np.column_stack([rng.normal(size=2 * m), rng.normal(size=2 * m)])
    y = 1 + z + x[:, 0] + rng.normal(size=2 * m)
    unit = matched_pairs_adjusted(y, z, pairs=pairs, covariates=x, cov_type=cov_type)
    frt = causalattn.frt(y, z, design=MPE(pairs), statistic="adjusted", covariates=x, n_resamples=200, rng=0)
    for factor in (*FACTORS, 1e20):
        scaled = x * [factor, 1]
        same(unit, matched_pairs_adjusted(y, z, pairs=pairs, covariates=scaled, cov_type=cov_type))
        other = causalattn.frt(y, z, design=MPE(pairs), statistic="adjusted", covariates=scaled, n_resamples=200,
                               rng=0)
        assert (other.estimate, other.pvalue) == pytest.approx((frt.estimate, frt.pvalue), rel=REL)
    with pytest.raises(ValueError, match=r"rank deficient: `covariates` difference 0 is a linear function of the "
                                         r"intercept \(perfectly collinear\)"):
        matched_pairs_adjusted(y, z, pairs=pairs, covariates=z.astype(float), cov_type=cov_type)  # always +1


def test_rerandomization_accepts_covariates_in_different_units():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    unit = ReM(x, threshold=2.0, n_treated=20)
    assignments = np.array([rng.permutation(np.r_[np.ones(20), np.zeros(20)]) for _ in range(5)])
    for factor in (1e8, *FACTORS):
        scaled = ReM(x * [factor, 1], threshold=2.0, n_treated=20)  # before: "collinear" from 1e8
        assert scaled.mahalanobis(assignments) == pytest.approx(unit.mahalanobis(assignments), rel=REL)


def test_mediation_in_any_units():
    framing = datasets.load("framing")
    covariates = ["age", "income"]
    for link, outcome in (("identity", "immigr"), ("logit", "cong_mesg")):
        unit = mediate(framing, outcome, "treat", "emo", covariates, link=link, method="delta")
        for factor in FACTORS:
            for column in ("emo", "age"):  # the natural effects are in the outcome's units
                other = mediate(framing.assign(**{column: framing[column] * factor}), outcome, "treat", "emo",
                                covariates, link=link, method="delta")
                for a, b in zip(unit, other, strict=True):  # delta SEs by numerical derivatives: 1e-9
                    same(a, b, rel=1e-8)  # before the shared fit, logit: 1.4e-4 (estimate), 7e-4 (SE) at 1e12
    table = baron_kenny(framing, "immigr", "treat", "emo", covariates)
    for factor in FACTORS:
        scaled = baron_kenny(framing.assign(age=framing["age"] * factor), "immigr", "treat", "emo", covariates)
        for a, b in zip(table, scaled, strict=True):
            same(a, b)


def test_every_fit_answers_the_same_at_1e20_as_at_1(trial):
    """A covariate at 1e20 (before: refused as rank deficient, or the pseudo-inverse's arbitrary answer)."""
    huge = trial.assign(x1=trial["x1"] * 1e20)
    for function in ("ols", "ancova", "lin"):
        same(getattr(causalattn, function)(trial, "y", "z", ["x1", "x2"]),
             getattr(causalattn, function)(huge, "y", "z", ["x1", "x2"]))
    same(outcome_regression(trial, "y", "z", ["x1", "x2"]), outcome_regression(huge, "y", "z", ["x1", "x2"]))
    assert math.isfinite(causalattn.fwl(huge, "y", "z", ["x1", "x2"]).partial.standard_error)


def test_offsets_and_magnitudes_are_refused_by_name(nsw):
    """A large offset with little variation is collinear with the intercept in floating point (R's lm aliases it):
    each estimator's error names the column."""
    offset = nsw.assign(re74=nsw["re74"] + 1e12)
    with pytest.raises(ValueError, match=r"^the design is rank deficient: `covariates` 're74' is a linear function "
                                         r"of the intercept, `covariates` 'age', .*such as 1e9 \+ noise"):
        outcome_regression(offset, "re78", "treat", NSW_X)
    with pytest.raises(ValueError, match=r"^the design is rank deficient: `covariates` 're74' is a linear function"):
        propensity_score(offset, "treat", NSW_X)
    rng = np.random.default_rng(1)
    z, x = rng.normal(size=200), rng.normal(size=200)
    data = pd.DataFrame({"y": x + z + rng.normal(size=200), "d": z + rng.normal(size=200), "z": z + 1e9, "x": x})
    with pytest.raises(ValueError, match=r"^the design is rank deficient: `instruments` 'z' is a linear function of "
                                         r"the intercept, `covariates` 'x'"):
        tsls(data, "y", "d", "z", ["x"])
    framing = datasets.load("framing")
    with pytest.raises(ValueError, match=r"^`mediator` 'emo' reaches [0-9.]+e\+20[01] in magnitude"):
        mediate(framing.assign(emo=framing["emo"] * 1e200), "immigr", "treat", "emo", ["age"], method="delta")
    with pytest.raises(ValueError, match=r"the outcome model's design is rank-deficient: `mediator` 'emo' is a linear "
                                         r"function of .* such as 1e9 \+ noise"):
        mediate(framing.assign(emo=framing["emo"] + 1e9), "immigr", "treat", "emo", ["age"], method="delta")
    genotypes = pd.DataFrame({"x": rng.normal(size=200), "y": rng.normal(size=200), "g": rng.binomial(2, 0.3, 200),
                              "age": rng.normal(size=200) + 1e9})
    with pytest.raises(ValueError, match=r"`variants`: column 'g' is constant or collinear with `covariates`: "
                                         r"covariate 'age' is a linear function of the intercept, variant 'g'"):
        MendelianRandomization.from_genotypes(genotypes, "x", "y", ["g"], ["age"])
