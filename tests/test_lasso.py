"""Lasso adjustment: the lasso-adjusted ATE (Bloniarz et al. 2016) and post-double-selection (Belloni et al. 2014)
against R's glmnet, lm and sandwich (tests/reference/lasso.R), Lin's OLS estimator, statsmodels OLS on the
selected set, and simulations with known truth and many irrelevant covariates."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from causalattn import double_selection, lasso_ate, lin, neyman


def _reference_data():
    """The deterministic data of tests/reference/lasso.R (i = 1..40)."""
    i = np.arange(1, 41)
    x = np.column_stack([np.sin(1.3 * i * j) + np.cos(0.7 * i) * (j % 2) for j in range(1, 7)])
    z = (i - 1) % 2
    y = 1 + 0.8 * z + 2 * x[:, 0] - x[:, 1] + 0.5 * np.sin(3.1 * i)
    d = 0.6 * x[:, 0] + 0.3 * x[:, 2] + np.cos(2.3 * i)
    return x, z, y, d


def test_lasso_ate_matches_glmnet():
    x, z, y, _ = _reference_data()
    est = lasso_ate(outcome=y, treatment=z, covariates=x, alpha=0.1)
    assert est.estimate == pytest.approx(0.149286303529, rel=1e-6)
    assert est.standard_error == pytest.approx(0.070239042138, rel=1e-6)
    coefficients = est.details["coefficients"]
    assert coefficients["treated"].tolist() == pytest.approx([1.8972158305, -0.6176461783, 0.0069772955, 0, 0, 0],
                                                             abs=1e-7)
    assert coefficients["control"].tolist() == pytest.approx([1.9137804849, -0.6231050871, 0, 0, 0, 0], abs=1e-7)
    assert est.details["selected_treated"] == ["covariate0", "covariate1", "covariate2"]
    assert (est.details["df_treated"], est.details["df_control"]) == (3, 2)
    assert est.method == "lasso-adjusted" and est.details["penalty"] == "fixed"
    assert est.confidence_interval.low == pytest.approx(est.estimate - 1.959964 * est.standard_error, rel=1e-6)


def test_double_selection_matches_glmnet_lm_and_sandwich():
    x, _, y, d = _reference_data()
    est = double_selection(outcome=y, treatment=d, covariates=x, alpha=0.2)
    assert est.details["selected_outcome"] == ["covariate0", "covariate1"]
    assert est.details["selected_treatment"] == ["covariate0"]
    assert est.estimate == pytest.approx(-0.003856346005, rel=1e-8)
    assert est.standard_error == pytest.approx(0.045897974447, rel=1e-8)


def test_lasso_ate_without_penalty_is_lins_estimator():
    # a negligible penalty keeps every covariate with its OLS coefficient in each arm: Lin (2013), statsmodels OLS
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 3))
    z = rng.permutation(np.repeat([1, 0], 30))
    y = 0.7 * z + x @ [1.0, -0.5, 0.2] + 0.5 * x[:, 0] * z + rng.normal(size=60)
    est = lasso_ate(outcome=y, treatment=z, covariates=x, alpha=1e-9)
    assert est.estimate == pytest.approx(lin(outcome=y, treatment=z, covariates=x).estimate, rel=1e-7)
    # the variance by hand: each arm's OLS residuals, divisor n_a - 3 (the 3 covariates kept)
    variance = 0.0
    for arm in (1, 0):
        rows = z == arm
        fit = sm.OLS(y[rows], sm.add_constant(x[rows])).fit()
        variance += float(fit.resid @ fit.resid) / (rows.sum() - 3) / rows.sum()
    assert est.standard_error == pytest.approx(np.sqrt(variance), rel=1e-7)


def test_lasso_ate_with_many_irrelevant_covariates():
    # n = 100 units, 150 covariates (more than units), 2 of which matter; tau = 1; 40 experiments
    rng = np.random.default_rng(2016)
    rows = []
    for _ in range(40):
        x = rng.normal(size=(100, 150))
        z = rng.permutation(np.repeat([1, 0], 50))
        y = 1.0 * z + 2 * x[:, 0] - x[:, 1] + rng.normal(size=100)
        est = lasso_ate(outcome=y, treatment=z, covariates=x)
        low, high = est.confidence_interval
        rows.append((est.estimate - 1, low <= 1 <= high, est.standard_error, neyman(y, z).standard_error))
    bias, covers, se, unadjusted = np.array(rows, dtype=float).mean(axis=0)
    assert abs(bias) < 0.08 and covers >= 0.85
    assert se < 0.5 * unadjusted  # the adjustment removes most of the covariates' variance


def test_double_selection_recovers_a_confounded_effect():
    # x0 confounds (strong on d, weak on y); x1 predicts y; 48 irrelevant candidates; theta = 0.5; 20 data sets
    rng = np.random.default_rng(2014)
    rows = []
    for _ in range(20):
        x = rng.normal(size=(200, 50))
        d = 0.8 * x[:, 0] + 0.5 * x[:, 3] + rng.normal(size=200)
        y = 0.5 * d + 0.5 * x[:, 0] + x[:, 1] + rng.normal(size=200)
        est = double_selection(outcome=y, treatment=d, covariates=x)
        low, high = est.confidence_interval
        naive = sm.OLS(y, sm.add_constant(d)).fit().params[1]  # unadjusted: confounded by x0
        rows.append((est.estimate - 0.5, low <= 0.5 <= high, "covariate0" in est.details["selected"], naive - 0.5))
        # the final fit is statsmodels OLS on the selected set with HC2
        columns = [int(name[9:]) for name in est.details["selected"]]
        fit = sm.OLS(y, sm.add_constant(np.column_stack([d, x[:, columns]]))).fit(cov_type="HC2")
        assert (est.estimate, est.standard_error) == pytest.approx((fit.params[1], fit.bse[1]), rel=1e-9)
    bias, covers, confounder_kept, naive_bias = np.array(rows, dtype=float).mean(axis=0)
    assert abs(bias) < 0.05 and covers >= 0.85 and confounder_kept == 1
    assert naive_bias > 0.15  # 0.8 * 0.5 / (0.64 + 0.25 + 1) = 0.21 in the population


def test_the_outcome_units_do_not_matter():
    x, z, y, d = _reference_data()
    base = lasso_ate(outcome=y, treatment=z, covariates=x)
    for factor in (1e-40, 1e40):
        scaled = lasso_ate(outcome=y * factor, treatment=z, covariates=x)
        assert scaled.estimate == pytest.approx(base.estimate * factor, rel=1e-6)
        assert scaled.details["selected_treated"] == base.details["selected_treated"]
        fixed = lasso_ate(outcome=y * factor, treatment=z, covariates=x, alpha=0.1 * factor)
        assert fixed.estimate == pytest.approx(0.149286303529 * factor, rel=1e-6)
        assert double_selection(outcome=y * factor, treatment=d, covariates=x).estimate == pytest.approx(
            double_selection(outcome=y, treatment=d, covariates=x).estimate * factor, rel=1e-6)


def test_data_frame_form():
    x, z, y, d = _reference_data()
    frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(6)]).assign(y=y, z=z, d=d)
    covariates = [f"x{j}" for j in range(6)]
    a = lasso_ate(frame, "y", "z", covariates, alpha=0.1)
    assert a.estimate == pytest.approx(lasso_ate(outcome=y, treatment=z, covariates=x, alpha=0.1).estimate)
    assert a.details["selected_control"] == ["x0", "x1"]
    b = double_selection(frame, "y", "d", covariates, alpha=0.2)
    assert b.estimand == "effect of d (post-double-selection)" and b.details["selected"] == ["x0", "x1"]


@pytest.mark.parametrize("kwargs, error, message", [
    ({"alpha": 0}, ValueError, r"`alpha` must be 'plugin', 'cv' or a finite number > 0, got 0"),
    ({"alpha": -1.0}, ValueError, r"`alpha` must be 'plugin', 'cv' or a finite number > 0, got -1.0"),
    ({"cv": 1}, ValueError, r"`cv` must be an integer >= 2"),
    ({"covariates": np.ones((40, 2))}, ValueError, r"`covariates`: column\(s\) \['covariate0', 'covariate1'\] are "
                                                   r"constant"),
    ({"covariates": np.arange(40.0)}, ValueError, r"`covariates` must be a 2-d array"),
    ({"treatment": np.r_[1, 1, np.zeros(38)]}, ValueError, r"at least 3 units in each arm, got 2 with treatment 1"),
    ({"outcome": np.r_[np.nan, np.ones(39)]}, ValueError, r"`outcome` must be finite"),
    ({"outcome": np.ones(39)}, ValueError, r"same length"),
    ({"confidence_level": 95}, ValueError, r"`confidence_level` must be in \(0, 1\)"),
])
def test_lasso_ate_bad_input(kwargs, error, message):
    x, z, y, _ = _reference_data()
    args = {"outcome": y, "treatment": z, "covariates": x, **kwargs}
    with pytest.raises(error, match=message):
        lasso_ate(**args)


def test_double_selection_bad_input():
    x, _, y, d = _reference_data()
    with pytest.raises(ValueError, match=r"`cov_type` must be one of \['HC0', 'HC1', 'HC2', 'HC3'\]"):
        double_selection(outcome=y, treatment=d, covariates=x, cov_type="classical")
    with pytest.raises(ValueError, match=r"`covariates` must not include the outcome or the treatment"):
        frame = pd.DataFrame(x, columns=[f"x{j}" for j in range(6)]).assign(y=y, d=d)
        double_selection(frame, "y", "d", ["x0", "d"])
    with pytest.raises(TypeError, match=r"`covariates` must be a non-empty list of column names"):
        double_selection(pd.DataFrame({"y": y, "d": d}), "y", "d", "x0")
    with pytest.raises(ValueError, match=r"`cv`: 5-fold cross-validation needs at least 5 units"):
        lasso_ate(outcome=y[:8], treatment=np.tile([1, 0], 4), covariates=x[:8])
