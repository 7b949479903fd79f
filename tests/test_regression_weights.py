"""Weighted least squares in ols, ancova and lin: against R's lm(weights=) with sandwich (tests/reference/wls.R),
statsmodels WLS, and identities (unit weights, zero weights, frequency weights); bad weights."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from causalattn import ancova, datasets, lin, ols


@pytest.fixture(scope="module")
def nsw():
    data = datasets.load("lalonde_nsw")
    return data.assign(w=1.0 + data["age"] % 5)


def test_ols_weights_match_r(nsw):
    # tests/reference/wls.R: lm(re78 ~ treat + age + educ, weights = 1 + age %% 5), sandwich::vcovHC / vcovCL
    reference = {"classical": 617.2108346047, "HC0": 688.2836224723, "HC1": 691.3980439096, "HC2": 691.7839542428,
                 "HC3": 695.3163682139}
    for cov_type, se in reference.items():
        est = ols(nsw, "re78", "treat", ["age", "educ"], weights="w", cov_type=cov_type)
        assert est.estimate == pytest.approx(1509.0336406143, rel=1e-10)
        assert est.standard_error == pytest.approx(se, rel=1e-9)
        assert est.method == f"wls-{cov_type}" and est.n == 445
    clustered = ols(nsw, "re78", "treat", ["age", "educ"], weights="w", cov_type="cluster", clusters="educ")
    assert clustered.standard_error == pytest.approx(549.0352490348, rel=1e-9)
    classical = ols(nsw, "re78", "treat", ["age", "educ"], weights="w", cov_type="classical")
    fit = sm.WLS(nsw["re78"], sm.add_constant(nsw[["treat", "age", "educ"]]), weights=nsw["w"]).fit()
    assert classical.confidence_interval == pytest.approx(tuple(fit.conf_int().loc["treat"]), rel=1e-10)
    assert classical.pvalue == pytest.approx(fit.pvalues["treat"], rel=1e-8)


def test_ancova_and_lin_weights_match_r(nsw):
    simple = ancova(nsw, "re78", "treat", weights="w")
    assert (simple.estimate, simple.standard_error) == pytest.approx((1591.1479368060, 705.2693164344), rel=1e-9)
    adjusted = ancova(nsw, "re78", "treat", ["age", "educ"], weights="w")
    assert adjusted.estimate == pytest.approx(1509.0336406143, rel=1e-10)
    assert adjusted.method == "ancova-wls-HC2"
    interacted = lin(nsw, "re78", "treat", ["age", "educ"], weights="w")
    assert (interacted.estimate, interacted.standard_error) == pytest.approx((1492.4387585393, 686.7509965799),
                                                                             rel=1e-9)
    assert interacted.method == "lin-wls-HC2"


def test_formula_and_array_forms(nsw):
    by_name = ols(nsw, "re78", "treat", ["age", "educ"], weights="w")
    by_formula = ols(nsw, treatment="treat", formula="re78 ~ treat + age + educ", weights="w")
    by_array = ols(outcome=nsw["re78"], treatment=nsw["treat"], covariates=nsw[["age", "educ"]],
                   weights=nsw["w"])
    for est in (by_formula, by_array):
        assert (est.estimate, est.standard_error) == pytest.approx((by_name.estimate, by_name.standard_error),
                                                                   rel=1e-12)
    assert by_formula.method == "wls-HC2" and by_formula.details["weights"] == "weighted least squares"
    formula_array = ols(nsw, treatment="treat", formula="re78 ~ treat + age + educ", weights=nsw["w"].to_numpy())
    assert formula_array.estimate == pytest.approx(by_name.estimate, rel=1e-12)


def test_weight_identities(nsw):
    plain = lin(nsw, "re78", "treat", ["age", "educ"])
    ones = lin(nsw, "re78", "treat", ["age", "educ"], weights=np.ones(len(nsw)))
    assert (ones.estimate, ones.standard_error) == pytest.approx((plain.estimate, plain.standard_error), rel=1e-12)
    # a unit of weight 0 is left out, as R's lm does (n and degrees of freedom included)
    w = np.where(np.arange(len(nsw)) % 10 == 0, 0.0, 1.0)
    dropped = ols(nsw[w > 0], "re78", "treat", ["age", "educ"], cov_type="classical")
    zero = ols(nsw, "re78", "treat", ["age", "educ"], weights=w, cov_type="classical")
    assert (zero.estimate, zero.standard_error, zero.n) == pytest.approx((dropped.estimate, dropped.standard_error,
                                                                          dropped.n), rel=1e-10)
    assert zero.details["df_resid"] == dropped.details["df_resid"]
    # integer weights give the coefficients of the data with each unit repeated that many times
    counts = (1 + nsw["age"] % 3).to_numpy()
    repeated = nsw.loc[nsw.index.repeat(counts)]
    assert ancova(nsw, "re78", "treat", ["educ"], weights=counts).estimate == pytest.approx(
        ancova(repeated, "re78", "treat", ["educ"]).estimate, rel=1e-10)
    # scaling every weight changes nothing
    assert lin(nsw, "re78", "treat", ["age"], weights=nsw["w"] * 1e6).standard_error == pytest.approx(
        lin(nsw, "re78", "treat", ["age"], weights="w").standard_error, rel=1e-9)


def test_clusters_with_zero_weights(nsw):
    w = np.where(nsw["educ"] == 10, 0.0, 1.0)
    kept = nsw[w > 0]
    a = ols(nsw, "re78", "treat", ["age"], weights=w, cov_type="cluster", clusters="educ")
    b = ols(kept, "re78", "treat", ["age"], cov_type="cluster", clusters="educ")
    assert a.standard_error == pytest.approx(b.standard_error, rel=1e-10)


@pytest.mark.parametrize("weights, error, message", [
    (-np.ones(445), ValueError, r"`weights` must be non-negative, found 445 negative value\(s\)"),
    (np.zeros(445), ValueError, r"`weights` are all zero"),
    (np.r_[np.nan, np.ones(444)], ValueError, r"`weights` must be finite"),
    (np.ones(444), ValueError, r"same length: `data` has 445, `weights` has 444"),
    ("nope", ValueError, r"`weights`: column 'nope' is not in `data`"),
])
def test_bad_weights(nsw, weights, error, message):
    with pytest.raises(error, match=message):
        ols(nsw, "re78", "treat", ["age", "educ"], weights=weights)


def test_bad_weights_with_a_formula(nsw):
    with pytest.raises(ValueError, match=r"`weights` must be non-negative"):
        ols(nsw, treatment="treat", formula="re78 ~ treat", weights=-nsw["w"])
    with pytest.raises(ValueError, match=r"`weights`: column 'nope' is not in `data`"):
        ols(nsw, treatment="treat", formula="re78 ~ treat", weights="nope")
    shifted = pd.Series(nsw["w"].to_numpy(), index=nsw.index + 1)
    with pytest.raises(ValueError, match=r"different indexes"):
        ols(nsw, treatment="treat", formula="re78 ~ treat", weights=shifted)
    with pytest.raises(ValueError, match=r"`treatment` must have both treated"):
        ancova(nsw, "re78", "treat", weights=nsw["treat"].astype(float))  # the controls all weigh 0


@pytest.mark.parametrize("cov_type", ["classical", "HC0", "HC3", "cluster"])
@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300])
def test_the_scale_of_the_weights_changes_nothing(nsw, cov_type, scale):
    # WLS is invariant to w -> c w; statsmodels' products w x e underflowed near 1e-200 (a cluster SE of 0,
    # p < 1e-300) and overflowed near 1e300 (every SE inf); the weights are divided by a power of two near their max
    clusters = {"clusters": "educ"} if cov_type == "cluster" else {}
    base = ols(nsw, "re78", "treat", ["age"], cov_type=cov_type, weights="w", **clusters)
    scaled = ols(nsw, "re78", "treat", ["age"], cov_type=cov_type, weights=nsw["w"] * scale, **clusters)
    fit = sm.WLS(nsw["re78"], sm.add_constant(nsw[["treat", "age"]].astype(float)), weights=nsw["w"]).fit(
        **({"cov_type": "cluster", "cov_kwds": {"groups": nsw["educ"]}} if cov_type == "cluster" else
           {"cov_type": "nonrobust" if cov_type == "classical" else cov_type}))
    assert (base.estimate, base.standard_error) == pytest.approx((fit.params["treat"], fit.bse["treat"]), rel=1e-9)
    assert (scaled.estimate, scaled.standard_error, scaled.pvalue) == pytest.approx(
        (base.estimate, base.standard_error, base.pvalue), rel=1e-9)
    formula = ols(nsw.assign(v=nsw["w"] * scale), treatment="treat", formula="re78 ~ treat + age", weights="v",
                  cov_type=cov_type, **clusters)
    assert formula.standard_error == pytest.approx(base.standard_error, rel=1e-9)


@pytest.mark.parametrize("column, role", [("re78", "outcome"), ("treat", "treatment"), ("age", "covariates")])
def test_weights_cannot_be_a_column_of_another_role(nsw, column, role):
    with pytest.raises(ValueError, match=rf"`weights` and `{role}` name the same column '{column}'"):
        ols(nsw, "re78", "treat", ["age"], weights=column)
