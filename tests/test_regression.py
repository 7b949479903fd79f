import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

import causalattn
from causalattn import datasets

COVARIATES = ["age", "educ", "black", "hispan", "married", "nodegree", "re74", "re75", "u74", "u75"]


@pytest.fixture(scope="module")
def cps1():
    return datasets.load("lalonde_cps1")


@pytest.fixture(scope="module")
def nsw():
    return datasets.load("lalonde_nsw")


@pytest.fixture
def small():
    rng = np.random.default_rng(3)
    n = 40
    x = rng.normal(size=n)
    z = rng.integers(0, 2, n)
    return pd.DataFrame({
        "y": 1 + 2 * z + x + rng.normal(size=n),
        "z": z,
        "x": x,
        "w": rng.normal(size=n),
        "g": np.repeat(np.arange(8), 5),
        "label": ["a", "b"] * (n // 2),
    })


# --------------------------------------------------------------------------- Ding ch. 1 on cps1re74


def test_ding_chapter1_sign_flip_classical_se(cps1):
    # Ding (2024), ch. 1: lm(re78 ~ .) and lm(re78 ~ treat) on cps1re74
    multiple = causalattn.ols(cps1, outcome="re78", treatment="treat", covariates=COVARIATES, cov_type="classical")
    simple = causalattn.ols(cps1, outcome="re78", treatment="treat", cov_type="classical")
    assert multiple.estimate == pytest.approx(1067.5461, abs=1e-4)
    assert multiple.standard_error == pytest.approx(554.0595, abs=1e-4)
    assert simple.estimate == pytest.approx(-8506.4954, abs=1e-4)
    assert simple.standard_error == pytest.approx(712.7664, abs=1e-4)
    assert multiple.method == "ols-classical" and multiple.n == 16177
    assert simple.details["covariates"] == "none"


@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC1", "HC2", "HC3", "cluster"])
def test_covariances_match_statsmodels(cps1, cov_type):
    est = causalattn.ols(cps1, "re78", "treat", COVARIATES, cov_type=cov_type,
                         clusters="age" if cov_type == "cluster" else None, confidence_level=0.9)
    formula = "re78 ~ treat + " + " + ".join(COVARIATES)
    if cov_type == "classical":
        ref = smf.ols(formula, cps1).fit()
    elif cov_type == "cluster":
        ref = smf.ols(formula, cps1).fit(cov_type="cluster", cov_kwds={"groups": cps1["age"].to_numpy()})
    else:
        ref = smf.ols(formula, cps1).fit(cov_type=cov_type)
    assert est.estimate == pytest.approx(ref.params["treat"], rel=1e-10)
    assert est.standard_error == pytest.approx(ref.bse["treat"], rel=1e-10)
    assert est.pvalue == pytest.approx(ref.pvalues["treat"], rel=1e-8)
    # statsmodels solves the raw design (condition number 2.4e5): its coefficients are good to about 1e-11 relative
    # (ours, solved on the column-scaled design, to 7e-14 against an extended-precision solution), so an interval
    # end near 0 (the cluster one: -11 = 1067 - 1078) is compared on the scale of the estimate.
    assert tuple(est.confidence_interval) == pytest.approx(tuple(ref.conf_int(alpha=0.1).loc["treat"]), rel=1e-10,
                                                           abs=1e-10 * abs(ref.params["treat"]))
    assert est.details["distribution"] == ("t" if cov_type == "classical" else "normal")


def test_hc0_simple_regression_by_hand():
    rng = np.random.default_rng(11)
    x = rng.normal(size=50)
    y = 0.5 - 1.5 * x + rng.normal(size=50) * (1 + np.abs(x))
    xc = x - x.mean()
    slope = np.sum(xc * (y - y.mean())) / np.sum(xc**2)
    resid = y - (y.mean() - slope * x.mean()) - slope * x
    se_hc0 = np.sqrt(np.sum(xc**2 * resid**2)) / np.sum(xc**2)
    est = causalattn.ols(outcome=y, treatment=x, cov_type="HC0")
    assert est.estimate == pytest.approx(slope, rel=1e-12)
    assert est.standard_error == pytest.approx(se_hc0, rel=1e-12)
    z = stats.norm.ppf(0.975)
    assert tuple(est.confidence_interval) == pytest.approx((slope - z * se_hc0, slope + z * se_hc0), rel=1e-12)


def test_classical_interval_uses_t_with_residual_df(small):
    est = causalattn.ols(small, "y", "z", ["x"], cov_type="classical")
    q = stats.t.ppf(0.975, len(small) - 3)
    low, high = est.confidence_interval
    assert (high - low) / 2 == pytest.approx(q * est.standard_error, rel=1e-12)
    assert est.details["df_resid"] == len(small) - 3


def test_formula_matches_column_lists(cps1):
    by_columns = causalattn.ols(cps1, "re78", "treat", COVARIATES, cov_type="HC1")
    by_formula = causalattn.ols(cps1, treatment="treat", formula="re78 ~ treat + " + " + ".join(COVARIATES),
                                cov_type="HC1")
    assert by_formula.estimate == pytest.approx(by_columns.estimate, rel=1e-10)
    assert by_formula.standard_error == pytest.approx(by_columns.standard_error, rel=1e-10)
    assert by_formula.details["formula"].startswith("re78 ~ treat")


def test_formula_with_transformations_and_cluster_column(small):
    est = causalattn.ols(small, treatment="z", formula="y ~ z + x + I(x**2) + C(label)", cov_type="cluster",
                         clusters="g")
    ref = smf.ols("y ~ z + x + I(x**2) + C(label)", small).fit(cov_type="cluster",
                                                               cov_kwds={"groups": small["g"].to_numpy()})
    assert est.estimate == pytest.approx(ref.params["z"])
    assert est.standard_error == pytest.approx(ref.bse["z"])


def test_arrays_give_the_same_answer_as_columns(small):
    by_columns = causalattn.ols(small, "y", "z", ["x", "w"], cov_type="cluster", clusters="g")
    by_2d = causalattn.ols(outcome=small["y"].to_numpy(), treatment=small["z"].to_numpy(),
                           covariates=small[["x", "w"]].to_numpy(), cov_type="cluster", clusters=small["g"].to_numpy())
    by_frame = causalattn.ols(outcome=small["y"], treatment=small["z"], covariates=small[["x", "w"]],
                              cov_type="cluster", clusters=list(small["g"]))
    for other in (by_2d, by_frame):
        assert other.estimate == pytest.approx(by_columns.estimate, rel=1e-12)
        assert other.standard_error == pytest.approx(by_columns.standard_error, rel=1e-12)
    assert by_2d.estimand == "OLS coefficient of treatment"
    assert by_2d.details["covariates"] == "covariate0, covariate1"
    assert by_frame.details["covariates"] == "x, w"


def test_fit_is_reachable_and_not_exported(small):
    est = causalattn.ols(small, "y", "z", ["x"])
    assert set(est.details["fit"].params.index) == {"Intercept", "z", "x"}
    assert "fit" not in est.to_dict()


def test_boolean_columns_are_numeric(small):
    as_bool = small.assign(z=small["z"].astype(bool))
    assert causalattn.ols(as_bool, "y", "z").estimate == pytest.approx(causalattn.ols(small, "y", "z").estimate)


# --------------------------------------------------------------------------- regression adjustment (Ding ch. 6)


@pytest.mark.parametrize("estimator", [causalattn.ancova, causalattn.lin])
def test_without_covariates_both_are_the_difference_in_means(nsw, estimator):
    est = estimator(nsw, "re78", "treat")
    y, z = nsw["re78"].to_numpy(), nsw["treat"].to_numpy()
    y1, y0 = y[z == 1], y[z == 0]
    neyman_se = np.sqrt(y1.var(ddof=1) / len(y1) + y0.var(ddof=1) / len(y0))
    assert est.estimate == pytest.approx(y1.mean() - y0.mean(), rel=1e-12)
    assert est.estimate == pytest.approx(1794.343, abs=1e-3)
    assert est.standard_error == pytest.approx(670.9967, abs=1e-4)
    assert est.standard_error == pytest.approx(neyman_se, rel=1e-10)  # HC2 = Neyman's variance estimator
    assert est.estimand == "average treatment effect"


def test_lin_is_the_mean_of_imputed_differences(nsw):
    X = np.column_stack([np.ones(len(nsw)), nsw[COVARIATES].to_numpy(dtype=float)])
    y, z = nsw["re78"].to_numpy(), nsw["treat"].to_numpy()
    beta1 = np.linalg.lstsq(X[z == 1], y[z == 1], rcond=None)[0]
    beta0 = np.linalg.lstsq(X[z == 0], y[z == 0], rcond=None)[0]
    imputed = np.mean(X @ beta1 - X @ beta0)
    est = causalattn.lin(nsw, "re78", "treat", COVARIATES)
    assert est.estimate == pytest.approx(imputed, rel=1e-9)
    assert est.method == "lin-HC2"
    ref = smf.ols("re78 ~ treat * (" + " + ".join(f"I({c} - {nsw[c].mean()!r})" for c in COVARIATES) + ")",
                  nsw).fit(cov_type="HC2")
    assert est.standard_error == pytest.approx(ref.bse["treat"], rel=1e-8)


def test_ancova_matches_statsmodels(nsw):
    est = causalattn.ancova(nsw, "re78", "treat", COVARIATES, cov_type="HC3")
    ref = smf.ols("re78 ~ treat + " + " + ".join(COVARIATES), nsw).fit(cov_type="HC3")
    assert est.estimate == pytest.approx(ref.params["treat"], rel=1e-10)
    assert est.standard_error == pytest.approx(ref.bse["treat"], rel=1e-10)
    assert est.method == "ancova-HC3"


# --------------------------------------------------------------------------- Frisch-Waugh-Lovell


def test_fwl_coefficients_and_hc0_standard_errors_agree():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 3))
    z = x @ [1.0, -0.5, 0.2] + rng.normal(size=200)
    y = 2 * z + x @ [0.3, 0.3, -1.0] + rng.normal(size=200) * (1 + z**2)
    res = causalattn.fwl(outcome=y, treatment=z, covariates=x)
    assert abs(res.difference) < 1e-10
    assert res.partial.estimate == pytest.approx(res.full.estimate, abs=1e-10)
    assert res.partial.standard_error == pytest.approx(res.full.standard_error, rel=1e-10)
    assert repr(res).startswith("FWLResult(full = ") and "\n" not in repr(res)


def test_fwl_on_cps1_and_classical_se_differ_by_degrees_of_freedom(cps1):
    res = causalattn.fwl(cps1, "re78", "treat", COVARIATES, cov_type="classical")
    assert res.full.estimate == pytest.approx(1067.5461, abs=1e-4)
    assert res.partial.estimate == pytest.approx(res.full.estimate, rel=1e-10)
    n, p = len(cps1), len(COVARIATES) + 2
    assert res.partial.standard_error == pytest.approx(res.full.standard_error * np.sqrt((n - p) / (n - 1)), rel=1e-8)


# --------------------------------------------------------------------------- correlation (Ding 1.2.1)


def test_correlation_fisher_z_interval_by_hand(cps1):
    est = causalattn.correlation(cps1, x="treat", y="re78", confidence_level=0.9)
    x, y = cps1["treat"].to_numpy(float), cps1["re78"].to_numpy()
    r = np.corrcoef(x, y)[0, 1]
    n = len(x)
    half = stats.norm.ppf(0.95) / np.sqrt(n - 3)
    t = r * np.sqrt((n - 2) / (1 - r**2))
    assert est.estimate == pytest.approx(r, rel=1e-12)
    assert tuple(est.confidence_interval) == pytest.approx((np.tanh(np.arctanh(r) - half),
                                                            np.tanh(np.arctanh(r) + half)), rel=1e-10)
    assert est.pvalue == pytest.approx(2 * stats.t.sf(abs(t), n - 2), rel=1e-6)
    assert est.standard_error is None
    assert est.details["fisher_z_standard_error"] == pytest.approx(1 / np.sqrt(n - 3))


def test_correlation_sign_matches_simple_regression(cps1):
    # association measures agree in sign; the multiple regression coefficient flips it
    assert causalattn.correlation(cps1, "treat", "re78").estimate < 0
    simple = causalattn.ols(cps1, "re78", "treat").estimate
    assert simple < 0 < causalattn.ols(cps1, "re78", "treat", COVARIATES).estimate


# --------------------------------------------------------------------------- bad input


def test_missing_column(small):
    with pytest.raises(ValueError, match=r"`covariates`: column 'nope' is not in `data`"):
        causalattn.ols(small, "y", "z", ["x", "nope"])


@pytest.mark.parametrize("column,arg", [("y", "outcome"), ("z", "treatment"), ("x", "covariates")])
def test_nan_is_an_error_naming_the_column(small, column, arg):
    bad = small.copy()
    bad.loc[3, column] = np.nan
    with pytest.raises(ValueError, match=rf"`{arg}`: column '{column}' must be finite, found 1 missing"):
        causalattn.ols(bad, "y", "z", ["x"])


def test_infinite_value_is_an_error(small):
    bad = small.assign(x=small["x"].where(small.index != 0, np.inf))
    with pytest.raises(ValueError, match="column 'x' must be finite, found 1 missing"):
        causalattn.lin(bad, "y", "z", ["x"])


def test_non_numeric_column(small):
    with pytest.raises(TypeError, match=r"`covariates`: column 'label' must be numeric, got dtype"):
        causalattn.ols(small, "y", "z", ["label"])


def test_too_few_rows(small):
    with pytest.raises(ValueError, match=r"`data` has 3 rows, need more than 3"):
        causalattn.ols(small.iloc[:3], "y", "z", ["x"])


def test_rank_deficient_design(small):
    with pytest.raises(ValueError, match="design matrix is rank deficient"):
        causalattn.ols(small.assign(x2=2 * small["x"]), "y", "z", ["x", "x2"])


def test_unknown_cov_type(small):
    with pytest.raises(ValueError, match=r"`cov_type` must be one of .* got 'HC4'"):
        causalattn.ols(small, "y", "z", cov_type="HC4")
    with pytest.raises(ValueError, match=r"`cov_type` must be one of .* got 'nonrobust'"):
        causalattn.lin(small, "y", "z", cov_type="nonrobust")
    with pytest.raises(TypeError, match="`cov_type` must be a string"):
        causalattn.ancova(small, "y", "z", cov_type=None)


def test_fwl_rejects_cluster(small):
    with pytest.raises(ValueError, match=r"`cov_type` must be one of .* got 'cluster'"):
        causalattn.fwl(small, "y", "z", ["x"], cov_type="cluster")


def test_bad_confidence_level(small):
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        causalattn.ols(small, "y", "z", confidence_level=95)


@pytest.mark.parametrize("kwargs,match", [
    ({"cov_type": "cluster"}, r"`clusters` is required when `cov_type`='cluster'"),
    ({"cov_type": "HC1", "clusters": "g"}, r"`clusters` is only used with `cov_type`='cluster'"),
    ({"cov_type": "cluster", "clusters": np.zeros(40)}, "at least 2 distinct clusters, got 1"),
    ({"cov_type": "cluster", "clusters": np.arange(39)}, r"one label per unit, shape \(40,\), got shape \(39,\)"),
    ({"cov_type": "cluster", "clusters": [None] + list(range(39))}, r"`clusters` has 1 missing label"),
    ({"cov_type": "cluster", "clusters": "nope"}, r"`clusters`: column 'nope' is not in `data`"),
])
def test_bad_clusters(small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        causalattn.ols(small, "y", "z", **kwargs)


def test_cluster_column_name_without_data(small):
    with pytest.raises(TypeError, match=r"`clusters` is a column name \('g'\) but `data` is None"):
        causalattn.ols(outcome=small["y"], treatment=small["z"], cov_type="cluster", clusters="g")


@pytest.mark.parametrize("estimator", [causalattn.ancova, causalattn.lin])
def test_experiment_treatment_must_be_binary_with_both_arms(small, estimator):
    with pytest.raises(ValueError, match=r"`treatment` must be binary \(0/1\), found values \[2.0\]"):
        estimator(small.assign(z=small["z"] * 2), "y", "z")
    with pytest.raises(ValueError, match="`treatment` must have both treated"):
        estimator(small.assign(z=1), "y", "z")


def test_hc2_with_a_single_treated_unit_is_an_error(small):
    one_treated = small.assign(z=(small.index == 0).astype(int))
    with pytest.raises(ValueError, match=r"the HC2 standard error is undefined: 1 unit\(s\) have leverage 1"):
        causalattn.ancova(one_treated, "y", "z")


def test_required_arguments(small):
    with pytest.raises(ValueError, match="`outcome` is required"):
        causalattn.ols(small, treatment="z")
    with pytest.raises(ValueError, match="`treatment` is required"):
        causalattn.lin(small, outcome="y")
    with pytest.raises(ValueError, match="`x` and `y` are both required"):
        causalattn.correlation(small, x="x")


def test_names_and_arrays_are_not_mixed(small):
    with pytest.raises(TypeError, match=r"`outcome` is a column name \('y'\) but `data` is None"):
        causalattn.ols(outcome="y", treatment=small["z"])
    with pytest.raises(TypeError, match="`treatment` must be a column name when `data` is given, got ndarray"):
        causalattn.ols(small, "y", small["z"].to_numpy())
    with pytest.raises(TypeError, match="`covariates` must be a column name or a list of names when `data` is given"):
        causalattn.ols(small, "y", "z", covariates=small[["x"]])
    with pytest.raises(TypeError, match="`outcome` must be a column name when `data` is given, got list"):
        causalattn.ols(small, ["y", "w"], "z")


def test_data_must_be_a_dataframe(small):
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame, got ndarray"):
        causalattn.ols(small.to_numpy(), "y", "z")


def test_a_column_plays_one_role(small):
    with pytest.raises(ValueError, match=r"`covariates`: column 'z' is used twice"):
        causalattn.ols(small, "y", "z", ["x", "z"])
    with pytest.raises(ValueError, match=r"`covariates`: column name 'outcome' is used twice"):
        causalattn.ols(outcome=small["y"].to_numpy(), treatment=small["z"].to_numpy(),
                       covariates=pd.DataFrame({"outcome": small["x"]}))


def test_bad_arrays(small):
    y, z = small["y"].to_numpy(), small["z"].to_numpy()
    with pytest.raises(ValueError, match="arguments must have the same length"):
        causalattn.ols(outcome=y, treatment=z[:-1])
    with pytest.raises(ValueError, match=r"`treatment` must be a one-dimensional array, got shape \(40, 1\)"):
        causalattn.ols(outcome=y, treatment=z[:, None])
    with pytest.raises(ValueError, match=r"`outcome` must be finite, found 1 missing \(NaN\) or infinite"):
        causalattn.ols(outcome=np.where(np.arange(40) == 5, np.nan, y), treatment=z)
    with pytest.raises(TypeError, match="`covariates` must be numeric, could not convert it"):
        causalattn.ols(outcome=y, treatment=z, covariates=["a"] * 40)
    with pytest.raises(ValueError, match="^`outcome` must not be empty$"):  # before: an error from inside statsmodels
        causalattn.ols(outcome=[], treatment=[])


def test_formula_errors(small):
    with pytest.raises(ValueError, match="give either `formula` or `outcome`/`covariates`, not both"):
        causalattn.ols(small, "y", "z", formula="y ~ z")
    with pytest.raises(TypeError, match="`formula` must be a string"):
        causalattn.ols(small, treatment="z", formula=3)
    with pytest.raises(TypeError, match="`treatment` must name a coefficient of the formula"):
        causalattn.ols(small, treatment=None, formula="y ~ z")
    with pytest.raises(ValueError, match=r"`treatment` 'w' is not a coefficient of the formula"):
        causalattn.ols(small, treatment="w", formula="y ~ z + x")
    with pytest.raises(ValueError, match="`formula` could not be evaluated"):
        causalattn.ols(small, treatment="z", formula="y ~ z + nope")


def test_formula_nan_is_an_error_naming_the_column(small):
    bad = small.copy()
    bad.loc[2, "x"] = np.nan
    with pytest.raises(ValueError, match=r"`formula`: column 'x' must be finite, found 1 missing"):
        causalattn.ols(bad, treatment="z", formula="y ~ z + np.log(x**2)")
    bad = small.astype({"label": object})
    bad.loc[2, "label"] = None
    with pytest.raises(ValueError, match=r"`formula`: column 'label' has 1 missing value"):
        causalattn.ols(bad, treatment="z", formula="y ~ z + C(label)")


def test_correlation_errors(small):
    with pytest.raises(ValueError, match="`data` has 3 rows; the Fisher-z interval needs at least 4"):
        causalattn.correlation(small.iloc[:3], "x", "y")
    with pytest.raises(ValueError, match="`y` is constant"):
        causalattn.correlation(x=[1, 2, 3, 4], y=[5, 5, 5, 5])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("estimator, cov_type", [("ols", "classical"), ("ancova", "HC2"), ("lin", "HC0")])
def test_constant_outcome_is_an_exact_zero_without_a_test(seed, estimator, cov_type):
    # before: coefficients near 1e-15 with SEs near 1e-15 and p < 0.05 in 12 of 20 data sets
    rng = np.random.default_rng(seed)
    z = rng.permutation(np.repeat([0, 1], 15))
    x = rng.normal(size=30)
    est = getattr(causalattn, estimator)(outcome=np.full(30, 0.1), treatment=z,
                                         covariates=None if estimator == "ols" else x, cov_type=cov_type)
    assert est.estimate == 0.0 and est.standard_error == 0.0 and est.pvalue is None
    assert tuple(est.confidence_interval) == (0.0, 0.0) and "fitted exactly" in est.details["note"]


def test_exactly_fitted_outcome_has_standard_error_zero():
    z = np.tile([0.0, 1.0], 10)
    x = np.arange(20.0)
    est = causalattn.ols(outcome=3 + 2 * z + 0.5 * x, treatment=z, covariates=x)
    assert est.estimate == pytest.approx(2.0, abs=1e-12) and est.standard_error == 0 and est.pvalue is None


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC2"])
def test_fwl_constant_outcome_is_an_exact_zero_in_both_regressions(seed, cov_type):
    # before: the full row was exact, the partial row (outcome residuals of rounding size, judged
    # against their own scale) reported a 1e-32 slope with a 1e-16 "standard error" and a p-value
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 2))
    z = x @ [1.0, -1.0] + rng.normal(size=30)
    res = causalattn.fwl(outcome=np.full(30, 0.1), treatment=z, covariates=x, cov_type=cov_type)
    for est in (res.full, res.partial):
        assert est.estimate == 0.0 and est.standard_error == 0.0 and est.pvalue is None
        assert tuple(est.confidence_interval) == (0.0, 0.0) and "fitted exactly" in est.details["note"]
    assert res.difference == 0.0


@pytest.mark.parametrize("slope", [2.0, 0.0])
def test_fwl_exactly_fitted_outcome_has_standard_error_zero_in_both_regressions(slope):
    # y = 3 + slope z + 0.5 x exactly, so both coefficients are `slope` by construction
    z = np.tile([0.0, 1.0], 10) + np.arange(20.0) ** 2 / 100
    x = np.arange(20.0)
    res = causalattn.fwl(outcome=3 + slope * z + 0.5 * x, treatment=z, covariates=x)
    for est in (res.full, res.partial):
        assert est.estimate == pytest.approx(slope, abs=1e-12) and est.standard_error == 0 and est.pvalue is None


def test_treatment_absorbed_by_covariates_is_an_error():
    z = np.tile([0.0, 1.0], 10)
    y = np.random.default_rng(0).normal(size=20)
    with pytest.raises(ValueError, match="rank deficient"):
        causalattn.ancova(outcome=y, treatment=z, covariates=np.c_[np.arange(20.0), 1 - z])


@pytest.mark.parametrize("scale", [1e200, 1e300, 1e-60])
def test_extreme_magnitudes_are_refused_by_name(scale):
    # before: NaN or inf standard errors with only a RuntimeWarning
    y = np.random.default_rng(0).normal(size=20) * scale
    with pytest.raises(ValueError, match=r"column .outcome. reaches .*\(rescale the column\)"):
        causalattn.ols(outcome=y, treatment=np.tile([0, 1], 10))


def test_series_with_different_indexes_are_refused():
    y = pd.Series(np.arange(6.0), index=[5, 4, 3, 2, 1, 0])
    z = pd.Series([0, 1, 0, 1, 0, 1])
    with pytest.raises(ValueError, match="`outcome` and `treatment` are pandas objects with different indexes"):
        causalattn.ols(outcome=y, treatment=z)
    with pytest.raises(ValueError, match="`outcome` and `clusters` are pandas objects"):
        causalattn.ols(outcome=y, treatment=z.to_numpy(), cov_type="cluster", clusters=pd.Series([0, 0, 1, 1, 2, 2]))
    same = causalattn.ols(outcome=y, treatment=z.set_axis(y.index))
    assert same.estimate == pytest.approx(1.0)  # equal indexes: by position, (1 + 3 + 5)/3 - (0 + 2 + 4)/3


def test_regressions_default_to_hc2(small):
    # One default covariance for ols, ancova and lin (Ding ch. 4 and 6: EHW, HC2).
    for fit in (causalattn.ols, causalattn.ancova, causalattn.lin):
        est = fit(small, "y", "z", ["x"])
        assert est.details["cov_type"] == "HC2" and est.method.endswith("-HC2")
    ref = smf.ols("y ~ z + x", small).fit(cov_type="HC2")
    assert causalattn.ols(small, "y", "z", ["x"]).standard_error == pytest.approx(ref.bse["z"], rel=1e-12)


@pytest.mark.parametrize("cov_type", ["classical", "HC2"])
def test_ols_coefficient_table_matches_statsmodels(cps1, cov_type):
    est = causalattn.ols(cps1, "re78", "treat", COVARIATES, cov_type=cov_type, confidence_level=0.9)
    ref = smf.ols("re78 ~ treat + " + " + ".join(COVARIATES), cps1).fit(
        **({} if cov_type == "classical" else {"cov_type": cov_type}))
    table = est.details["coefficients"]
    assert list(table.index) == ["Intercept", "treat", *COVARIATES]
    assert list(table.columns) == ["estimate", "standard_error", "statistic", "pvalue", "ci_low", "ci_high"]
    np.testing.assert_allclose(table["estimate"], ref.params, rtol=1e-10)
    np.testing.assert_allclose(table["standard_error"], ref.bse, rtol=1e-10)
    np.testing.assert_allclose(table["statistic"], ref.tvalues, rtol=1e-10)
    np.testing.assert_allclose(table["pvalue"], ref.pvalues, rtol=1e-8, atol=1e-300)
    np.testing.assert_allclose(table[["ci_low", "ci_high"]], ref.conf_int(alpha=0.1), rtol=1e-10)
    # the t statistic is the estimate over its standard error, and the reported row is the table's
    np.testing.assert_allclose(table["statistic"], table["estimate"] / table["standard_error"], rtol=1e-12)
    assert table.loc["treat", "estimate"] == est.estimate and table.loc["treat", "pvalue"] == est.pvalue
    assert "coefficients" not in est.to_dict()
