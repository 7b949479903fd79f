"""The plug-in ("rigorous") lasso penalty of Belloni et al. (hdm's rlasso), the default of double_selection.

Reference numbers: hdmpy, a Python port of R's hdm (tests/reference/rlasso_hdmpy.py; float32 inside, so agreement
to about 1e-5); by hand: the penalty level from its formula, the loadings from the post-lasso OLS residuals, the
KKT conditions of the weighted lasso at the solution, and the final OLS from statsmodels."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy.stats import norm

from causalattn import double_selection, lasso_ate


def plugin_data(n, p):
    """The deterministic data of tests/reference/rlasso_hdmpy.py: heteroskedastic treatment and outcome."""
    i = np.arange(1, n + 1)[:, None]
    j = np.arange(1, p + 1)[None, :]
    x = np.sin(1.3 * i * j) + np.cos(0.7 * i) * (j % 2) + 0.5 * np.cos(0.37 * i * j)
    i = i[:, 0]
    d = 0.9 * x[:, 0] + 0.5 * x[:, 2] + np.cos(2.3 * i) * (1 + 0.3 * np.abs(x[:, 1]))
    y = 0.5 * d + 1.0 * x[:, 0] + 0.8 * x[:, 1] + 0.6 * x[:, 4] + np.sin(3.1 * i) * (1 + 0.5 * np.abs(x[:, 3]))
    return x, d, y


def _lambda(n, p):
    """hdm's penalty level by hand: 2 c sqrt(n) Phi^-1(1 - gamma / 2p), c = 1.1, gamma = 0.1 / log n."""
    return 2 * 1.1 * np.sqrt(n) * norm.ppf(1 - 0.1 / np.log(n) / (2 * p))


# printed by tests/reference/rlasso_hdmpy.py (hdmpy): per data set, per lasso (y, d): lambda, lassos fitted,
# selected columns (0-based), the loadings of the last lasso on the raw centred covariates; double selection.
HDMPY = {
    (80, 20): {
        "y": (64.0150357982, 3, [0, 1, 2, 4],
              [1.0752935247, 0.821999632, 1.0826585619, 0.9003377336,
               1.1049309638, 0.827608557, 1.2099334362, 0.9175484764,
               1.1334285126, 0.8703116809, 1.1114674365, 0.8224371123,
               1.102205017, 0.8009252155, 0.7645732546, 0.8146175552,
               0.9779228149, 0.7911001784, 1.1159177845, 0.8265499239]),
        "d": (64.0150357982, 2, [0, 2],
              [0.8602573208, 0.7562673167, 0.889028121, 0.6778406483,
               0.9310429739, 0.6828861589, 0.8990135107, 0.6741454281,
               0.9390260472, 0.6745865865, 0.9132738922, 0.7057116159,
               0.9168216565, 0.6669743526, 0.7401979114, 0.6664114107,
               0.8593638136, 0.668495918, 0.9175913866, 0.694600631]),
        "effect": 0.4990149610,
    },
    (40, 60): {
        "y": (48.8077709032, 3, [0, 4, 30, 48],
              [1.0581097058, 0.8814277311, 1.1401696781, 0.9842482204,
               1.0463576342, 0.8350581798, 1.4125038919, 1.0140099548,
               1.3653186315, 0.913110693, 1.068329412, 0.8604999134,
               1.2560195642, 0.8078591109, 0.5574538031, 0.9983855955,
               0.992874954, 0.757196831, 1.2768342113, 0.7318729898,
               1.1815080797, 0.9342661481, 1.1237832366, 0.8971217507,
               1.4411334778, 0.8757511119, 0.9290933235, 0.7307238074,
               0.8903606707, 0.9598916563, 1.2145091282, 0.854589146,
               1.1261972042, 0.7851305608, 1.1843506395, 0.8649188284,
               1.0932052032, 0.8344743271, 1.2564559383, 0.7950519635,
               1.1469246784, 0.9694012345, 1.608946064, 0.8370003245,
               1.0266080629, 0.7733015802, 1.1508711967, 0.9593788297,
               1.1255453043, 0.9610373755, 0.9230347548, 0.8499644399,
               1.3152088544, 0.5354868764, 1.0796480484, 0.9161093489,
               1.1545920685, 0.3729663274, 1.2212803693, 0.896822766]),
        "d": (48.8077709032, 5, [0, 13, 32],
              [0.7331042318, 0.6691126127, 0.6740139825, 0.6354350761,
               0.7586824277, 0.509200534, 0.9381561951, 0.6066410492,
               0.6534072957, 0.6247435597, 0.8390081168, 0.516012719,
               0.7805483406, 0.4496130812, 0.4806368984, 0.5542449889,
               0.7647690699, 0.556081782, 0.9407357161, 0.3838028676,
               0.7221577842, 0.5564839849, 0.8127862986, 0.5781603567,
               0.9247306096, 0.4876964391, 0.6565132494, 0.5630485091,
               0.5420843283, 0.5578880463, 0.7877926504, 0.573691134,
               0.5016939179, 0.4698697847, 0.7640301874, 0.6097247139,
               0.8527356496, 0.4911922599, 0.6465269678, 0.5546079128,
               0.7481131457, 0.5949052412, 0.9662642705, 0.496231264,
               0.6804673586, 0.5695543546, 0.6708242499, 0.6228708009,
               0.8872503785, 0.6651107234, 0.6284738798, 0.5300202278,
               0.8009086798, 0.4098372255, 0.7303351625, 0.6439248971,
               0.8592432927, 0.2317116581, 0.7571938454, 0.5908035099]),
        "effect": 0.4153499048,
    },
}


@pytest.mark.parametrize("n, p", [(80, 20), (40, 60)])
def test_double_selection_matches_hdm(n, p):
    x, d, y = plugin_data(n, p)
    est = double_selection(outcome=y, treatment=d, covariates=x)
    reference = HDMPY[n, p]
    sd = x.std(axis=0)  # our loadings are on the standardized covariates, hdm's on the raw (centred) ones
    for role, key in (("outcome", "y"), ("treatment", "d")):
        lam, lassos, selected, loadings = reference[key]
        assert est.details[f"lambda_{role}"] == pytest.approx(lam, rel=1e-9)
        assert est.details[f"lambda_{role}"] == pytest.approx(_lambda(n, p), rel=1e-12)
        assert est.details[f"alpha_{role}"] == pytest.approx(_lambda(n, p) / (2 * n), rel=1e-12)
        assert est.details[f"selected_{role}"] == [f"covariate{j}" for j in selected]
        assert est.details[f"iterations_{role}"] == lassos and est.details[f"converged_{role}"]
        if loadings is not None:
            assert (est.details[f"loadings_{role}"] * sd).tolist() == pytest.approx(loadings, rel=1e-4)
    assert est.estimate == pytest.approx(reference["effect"], rel=1e-5)
    assert est.details["penalty"] == "plugin" and est.method == "ols-HC2"
    # the final fit is statsmodels OLS on the union, HC2
    columns = [int(name[9:]) for name in est.details["selected"]]
    fit = sm.OLS(y, sm.add_constant(np.column_stack([d, x[:, columns]]))).fit(cov_type="HC2")
    assert (est.estimate, est.standard_error) == pytest.approx((fit.params[1], fit.bse[1]), rel=1e-9)


def test_plugin_lasso_by_hand():
    # lasso_ate reports each arm's coefficients: check the weighted lasso's KKT conditions, the penalty level and the
    # loadings (from the post-lasso OLS residuals of the selection, which is stable at convergence) by hand
    x, _, y = plugin_data(80, 20)
    z = np.arange(80) % 2
    est = lasso_ate(outcome=y + 0.7 * z, treatment=z, covariates=x, alpha="plugin")
    standardized = (x - x.mean(axis=0)) / x.std(axis=0)
    for arm, label in ((1, "treated"), (0, "control")):
        rows = z == arm
        n_arm = int(rows.sum())
        xc = standardized[rows] - standardized[rows].mean(axis=0)
        yc = y[rows] + 0.7 * arm - (y[rows] + 0.7 * arm).mean()
        beta = est.details["coefficients"][label].to_numpy()
        loadings = est.details[f"loadings_{label}"].to_numpy()
        alpha = est.details[f"alpha_{label}"]
        assert est.details[f"lambda_{label}"] == pytest.approx(_lambda(n_arm, 20), rel=1e-12)
        assert alpha == pytest.approx(_lambda(n_arm, 20) / (2 * n_arm), rel=1e-12)
        gradient = xc.T @ (yc - xc @ beta) / n_arm
        kept = beta != 0
        assert kept.any() and est.details[f"converged_{label}"]
        assert gradient[kept] == pytest.approx(alpha * loadings[kept] * np.sign(beta[kept]), rel=1e-5)
        assert np.all(np.abs(gradient[~kept]) <= alpha * loadings[~kept] * (1 + 1e-6))
        residuals = sm.OLS(yc, xc[:, kept]).fit().resid
        assert loadings == pytest.approx(np.sqrt((residuals**2) @ (xc**2) / n_arm), rel=1e-6)


def test_plugin_units_and_scales_do_not_matter():
    x, d, y = plugin_data(80, 20)
    base = double_selection(outcome=y, treatment=d, covariates=x)
    for factor in (1e-40, 1e40):
        scaled = double_selection(outcome=y * factor, treatment=d, covariates=x)
        assert scaled.estimate == pytest.approx(base.estimate * factor, rel=1e-8)
        assert scaled.details["selected"] == base.details["selected"]
        assert scaled.details["iterations_outcome"] == base.details["iterations_outcome"]
        assert scaled.details["loadings_outcome"].tolist() == pytest.approx(
            (base.details["loadings_outcome"] * factor).tolist(), rel=1e-8)
    huge = x.copy()
    huge[:, 3] *= 1e12  # one covariate in other units: standardizing removes it
    other = double_selection(outcome=y, treatment=d, covariates=huge)
    assert other.estimate == pytest.approx(base.estimate, rel=1e-8)
    assert other.details["selected"] == base.details["selected"]


def test_plugin_covers_in_a_small_simulation():
    # sparse confounding (the law of benchmarks/coverage_lasso.py at n = 200, p = 50, fewer data sets): the plug-in
    # keeps about the 5 covariates that matter, and the 95% interval covers
    rng = np.random.default_rng(2014)
    rows = []
    g, b = np.r_[1.0, 0.5, 0, 0, 0.5, np.zeros(45)], np.r_[0.2, 0.5, 1.0, 0.5, np.zeros(46)]
    for _ in range(40):
        x = rng.standard_normal((200, 50))
        d = x @ g + rng.standard_normal(200)
        y = d + x @ b + rng.standard_normal(200)
        est = double_selection(outcome=y, treatment=d, covariates=x)
        low, high = est.confidence_interval
        rows.append((est.estimate - 1, low <= 1 <= high, len(est.details["selected"]),
                     {"covariate0", "covariate1", "covariate2"} <= set(est.details["selected"])))
    bias, covers, selected, kept = np.array(rows, dtype=float).mean(axis=0)
    assert abs(bias) < 0.02 and covers >= 0.9 and 4 <= selected <= 7 and kept == 1


@pytest.mark.parametrize("alpha, message", [
    (None, r"`alpha=None` no longer means cross-validation: pass `alpha='cv'`"),
    ("lasso", r"`alpha` must be 'plugin', 'cv' or a number > 0, got 'lasso'"),
    (0, r"`alpha` must be 'plugin', 'cv' or a finite number > 0, got 0"),
    (float("inf"), r"`alpha` must be 'plugin', 'cv' or a finite number > 0, got inf"),
    (True, r"`alpha` must be 'plugin', 'cv' or a finite number > 0, got True"),
])
@pytest.mark.parametrize("function", [double_selection, lasso_ate])
def test_alpha_is_checked_alike(function, alpha, message):
    x, d, y = plugin_data(40, 6)
    treatment = np.arange(40) % 2 if function is lasso_ate else d
    with pytest.raises(ValueError, match=message):
        function(outcome=y, treatment=treatment, covariates=x, alpha=alpha)


def test_hostile_inputs():
    x, d, y = plugin_data(80, 20)
    # a treatment that a covariate predicts exactly: its coefficient is not identified
    with pytest.raises(ValueError, match=r"`treatment` \('treatment'\) is constant or a linear function of the "
                                         r"selected covariates"):
        double_selection(outcome=y, treatment=2 * x[:, 5] + 1, covariates=x)
    with pytest.raises(ValueError, match=r"is constant or a linear function"):
        double_selection(outcome=y, treatment=np.ones(80), covariates=x)
    for function, treatment in ((double_selection, d), (lasso_ate, np.arange(80) % 2)):
        with pytest.raises(ValueError, match=r"`outcome` is constant \(3 for every unit\): there is no effect"):
            function(outcome=np.full(80, 3.0), treatment=treatment, covariates=x)
    with pytest.raises(ValueError, match=r"`covariates`: column\(s\) \['covariate2'\] are constant"):
        double_selection(outcome=y, treatment=d, covariates=np.column_stack([x[:, :2], np.ones(80), x[:, 3:]]))
    with pytest.raises(ValueError, match=r"`outcome` and `treatment` are pandas objects with different indexes"):
        double_selection(outcome=pd.Series(y), treatment=pd.Series(d, index=np.arange(1, 81)), covariates=x)
    with pytest.raises(ValueError, match=r"`outcome` and `covariates` are pandas objects with different indexes"):
        double_selection(outcome=pd.Series(y), treatment=d, covariates=pd.DataFrame(x, index=np.arange(80)[::-1]))


def test_collinear_covariates_give_the_same_answer():
    # a duplicated covariate, and one that is the sum of two others: the treatment's coefficient is the same as
    # without them (R's lm would alias the redundant column; double_selection drops it and says so)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 30))
    d = x[:, 0] + 0.5 * x[:, 1] + rng.standard_normal(200)
    y = d + 0.5 * x[:, 0] + x[:, 2] + rng.standard_normal(200)
    base = double_selection(outcome=y, treatment=d, covariates=x)
    assert base.details["selected"] == ["covariate0", "covariate1", "covariate2"]
    duplicated = double_selection(outcome=y, treatment=d, covariates=np.column_stack([x, x[:, 0]]))
    assert duplicated.estimate == pytest.approx(base.estimate, rel=1e-12)
    assert duplicated.standard_error == pytest.approx(base.standard_error, rel=1e-10)
    # the treatment's lasso keeps c = x0 + x1, the outcome's x0 and x1 (y = d + 2 x0 - 3 x1 + e): one is redundant
    c = x[:, 0] + x[:, 1]
    d = c + rng.standard_normal(200)
    y = d + 2 * x[:, 0] - 3 * x[:, 1] + rng.standard_normal(200)
    summed = double_selection(outcome=y, treatment=d, covariates=np.column_stack([c, x]))
    assert summed.details["selected_treatment"] == ["covariate0"]
    assert {"covariate1", "covariate2"} <= set(summed.details["selected_outcome"])
    assert summed.details["dropped_collinear"] == ["covariate2"]
    reference = double_selection(outcome=y, treatment=d, covariates=x)  # the same span without c
    assert set(reference.details["selected"]) == {"covariate0", "covariate1"} | {
        f"covariate{int(name[9:]) - 1}" for name in summed.details["selected"][2:]}
    assert summed.estimate == pytest.approx(reference.estimate, rel=1e-10)
    assert summed.standard_error == pytest.approx(reference.standard_error, rel=1e-8)

def test_few_units():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((10, 20))
    d = x[:, 0] + rng.standard_normal(10)
    y = d + x[:, 2] + rng.standard_normal(10)
    with pytest.warns(UserWarning, match=r"double_selection: the final OLS has \d residual degrees of freedom \(10 "
                                         r"units, \d covariates selected\), fewer than 20"):
        est = double_selection(outcome=y, treatment=d, covariates=x)
    assert np.isfinite(est.standard_error)
    with pytest.raises(ValueError, match=r"the lassos selected 20 covariates for 5 units: too many for the final OLS "
                                         r"\(at most 2\); fix a larger penalty \(`alpha`, a number\)"):
        double_selection(outcome=y[:5], treatment=d[:5], covariates=x[:5])


def test_too_few_units_for_the_final_regression_are_refused_by_name():
    # 2 units: the final OLS (intercept and treatment) has no residual degree of freedom; the message said "at most -1"
    with pytest.raises(ValueError, match=r"`outcome`: post-double-selection needs at least 3 units .* got 2"):
        double_selection(outcome=[0.3, 1.2], treatment=[0.0, 1.0], covariates=np.array([[0.1, 2.0], [0.5, 1.0]]))
