"""Observational estimators against independent computations written out here, R's Matching and AER, and bad input.

Reference numbers from R come from tests/reference/observational.R (Matching 4.10, AER, sandwich).
"""

import math
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from linearmodels.iv import IV2SLS
from matplotlib.figure import Figure
from scipy import stats
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import causalattn
from causalattn import Estimate, datasets
from causalattn.observational import (
    WeakInstrumentWarning,
    aipw,
    balance,
    cace,
    crump_threshold,
    e_value,
    ipw,
    match,
    outcome_regression,
    propensity_score,
    subclassification,
    tsls,
)

NSW_X = ["age", "educ", "black", "married", "re74", "re75"]
# These tests check numbers, some on small samples; the warnings are tested in test_observational_checks.py.
pytestmark = pytest.mark.filterwarnings("ignore::causalattn.observational.SmallSampleWarning")


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def table():
    """A small table: binary covariate x, so the logistic score is saturated (share treated per stratum)."""
    rng = np.random.default_rng(3)
    x = np.repeat([0, 1], [24, 16])
    z = np.concatenate([np.repeat([1, 0], [8, 16]), np.repeat([1, 0], [11, 5])])
    y = 1.0 + 2.0 * x + 1.5 * z + rng.normal(size=40).round(2)
    return pd.DataFrame({"y": y, "z": z, "x": x})


@pytest.fixture(scope="module")
def simulated():
    rng = np.random.default_rng(11)
    n = 300
    x = rng.normal(size=(n, 2))
    e = 1 / (1 + np.exp(-(0.3 + 0.8 * x[:, 0] - 0.5 * x[:, 1])))
    z = (rng.uniform(size=n) < e).astype(int)
    y = 1.0 + x[:, 0] + 0.5 * x[:, 1] ** 2 + z * (1.0 + x[:, 0]) + rng.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "x1": x[:, 0], "x2": x[:, 1]})


@pytest.fixture(scope="module")
def nsw():
    return datasets.load("lalonde_nsw")


def _strata(frame):
    """Per-stratum counts and means of the small table."""
    g = frame.groupby(["x", "z"])["y"]
    return g.mean().unstack(), g.size().unstack()


# --------------------------------------------------------------------------- weighting: closed forms


def test_hajek_and_ht_with_a_saturated_score_are_the_stratified_estimators(table):
    means, counts = _strata(table)
    nk = counts.sum(axis=1)
    ate = float(((nk / nk.sum()) * (means[1] - means[0])).sum())
    att = float(((counts[1] / counts[1].sum()) * (means[1] - means[0])).sum())
    for normalize in (True, False):
        assert ipw(table, "y", "z", ["x"], normalize=normalize).estimate == pytest.approx(ate, rel=1e-7)
        assert ipw(table, "y", "z", ["x"], estimand="ATT", normalize=normalize).estimate == pytest.approx(att, rel=1e-7)
    assert aipw(table, "y", "z", ["x"]).estimate == pytest.approx(ate, rel=1e-7)
    assert aipw(table, "y", "z", ["x"], estimand="ATT").estimate == pytest.approx(att, rel=1e-7)
    assert outcome_regression(table, "y", "z", ["x"]).estimate == pytest.approx(ate, rel=1e-7)
    assert outcome_regression(table, "y", "z", ["x"], estimand="ATT").estimate == pytest.approx(att, rel=1e-7)


def test_sandwich_with_a_saturated_score_is_the_efficient_influence_function(table):
    means, counts = _strata(table)
    x, z, y = table["x"].to_numpy(), table["z"].to_numpy(), table["y"].to_numpy()
    n = len(y)
    e = (counts[1] / counts.sum(axis=1)).to_numpy()[x]
    mu1, mu0 = means[1].to_numpy()[x], means[0].to_numpy()[x]
    ate = np.mean(mu1 - mu0)
    influence = z * (y - mu1) / e - (1 - z) * (y - mu0) / (1 - e) + mu1 - mu0 - ate
    se = math.sqrt(np.sum(influence**2)) / n
    for normalize in (True, False):
        assert ipw(table, "y", "z", ["x"], normalize=normalize).standard_error == pytest.approx(se, rel=1e-7)
    assert aipw(table, "y", "z", ["x"]).standard_error == pytest.approx(se, rel=1e-7)
    p = z.mean()
    att = np.sum(z * (y - mu0)) / z.sum()
    influence_t = (z * (y - mu0 - att) - (1 - z) * e / (1 - e) * (y - mu0)) / p
    se_t = math.sqrt(np.sum(influence_t**2)) / n
    assert ipw(table, "y", "z", ["x"], estimand="ATT").standard_error == pytest.approx(se_t, rel=1e-7)
    assert aipw(table, "y", "z", ["x"], estimand="ATT").standard_error == pytest.approx(se_t, rel=1e-7)


def test_horvitz_thompson_with_a_known_score(table):
    y, z = table["y"].to_numpy(), table["z"].to_numpy()
    e = np.full(len(y), 0.4)
    est = ipw(table, "y", "z", propensity=e, normalize=False)
    ht = np.mean(z * y / 0.4 - (1 - z) * y / 0.6)
    assert est.estimate == pytest.approx(ht)
    # known score: the sandwich is the standard deviation of the HT terms
    terms = z * y / 0.4 - (1 - z) * y / 0.6
    assert est.standard_error == pytest.approx(np.std(terms) / math.sqrt(len(y)))
    assert est.details["score_estimation"] == "treated as known"
    att = ipw(table, "y", "z", propensity=e, normalize=False, estimand="ATT")
    assert att.estimate == pytest.approx(y[z == 1].mean() - np.sum((1 - z) * (0.4 / 0.6) * y) / z.sum())


def _numerical_sandwich(psi, theta, n):
    """Generic M-estimation: A = -mean Jacobian (central differences), B = mean outer product."""
    values = psi(theta)
    jac = np.empty((len(theta), len(theta)))
    for j in range(len(theta)):
        step = np.zeros(len(theta))
        step[j] = 1e-6 * max(1.0, abs(theta[j]))
        jac[:, j] = (psi(theta + step).mean(axis=0) - psi(theta - step).mean(axis=0)) / (2 * step[j])
    bread = np.linalg.inv(jac)
    return bread @ (values.T @ values / n) @ bread.T / n


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
@pytest.mark.parametrize("normalize", [True, False])
def test_sandwich_against_a_numerical_m_estimation(simulated, estimand, normalize):
    y, z = simulated["y"].to_numpy(), simulated["z"].to_numpy()
    design = sm.add_constant(simulated[["x1", "x2"]].to_numpy())
    beta = sm.Logit(z, design).fit(disp=0).params
    n, p = design.shape

    def psi(theta):
        b, mu1, mu0 = theta[:p], theta[p], theta[p + 1]
        e = 1 / (1 + np.exp(-design @ b))
        if estimand == "ATE":
            a, c = z / e, (1 - z) / (1 - e)
            bb, dd = (a, c) if normalize else (np.ones(n), np.ones(n))
        else:
            a, c = z, (1 - z) * e / (1 - e)
            bb, dd = (a, c) if normalize else (z, z)
        return np.column_stack([design * (z - e)[:, None], a * y - bb * mu1, c * y - dd * mu0])

    est = ipw(simulated, "y", "z", ["x1", "x2"], estimand=estimand, normalize=normalize)
    theta = np.concatenate([beta, [est.details["mean_treated"], est.details["mean_control"]]])
    np.testing.assert_allclose(psi(theta).mean(axis=0), 0, atol=1e-8)  # the estimate solves the equations
    cov = _numerical_sandwich(psi, theta, n)
    assert est.standard_error == pytest.approx(math.sqrt(cov[-2, -2] + cov[-1, -1] - 2 * cov[-2, -1]), rel=1e-5)
    assert est.method == f"ipw-{'hajek' if normalize else 'horvitz-thompson'}-sandwich"
    assert est.estimand == estimand and est.n == n
    weights = est.details["weights"]
    assert np.sum(weights[z == 1] * y[z == 1]) - np.sum(weights[z == 0] * y[z == 0]) == pytest.approx(est.estimate)


def test_bootstrap_refits_the_score_and_is_reproducible(simulated):
    first = ipw(simulated, "y", "z", ["x1", "x2"], standard_error="bootstrap", n_resamples=200, rng=1)
    again = ipw(simulated, "y", "z", ["x1", "x2"], standard_error="bootstrap", n_resamples=200, rng=1)
    sandwich = ipw(simulated, "y", "z", ["x1", "x2"])
    assert first.standard_error == again.standard_error
    assert first.estimate == sandwich.estimate
    assert first.standard_error == pytest.approx(sandwich.standard_error, rel=0.25)
    assert first.method == "ipw-hajek-bootstrap"
    low, high = first.details["percentile_interval"]
    assert low < first.estimate < high


def test_extreme_weights_are_reported_not_clipped(simulated):
    z = simulated["z"].to_numpy()
    first = int(np.argmax(z == 1))
    e = np.where(np.arange(len(simulated)) == first, 1e-4, 0.5)
    est = ipw(simulated, "y", "z", propensity=e)
    assert est.details["max_weight_share_treated"] > 0.9
    assert est.details["effective_n_treated"] < 1.1
    assert est.details["score"][first] == 1e-4 and est.details["max_weight_share_control"] < 0.01


# --------------------------------------------------------------------------- outcome regression and AIPW


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_outcome_regression_sandwich_against_a_numerical_m_estimation(simulated, estimand):
    y, z = simulated["y"].to_numpy(), simulated["z"].to_numpy()
    design = sm.add_constant(simulated[["x1", "x2"]].to_numpy())
    n, p = design.shape
    r = np.ones(n) if estimand == "ATE" else z.astype(float)

    def psi(theta):  # OLS in each arm, then the r-weighted mean of the imputed differences
        b1, b0, tau = theta[:p], theta[p:2 * p], theta[-1]
        return np.column_stack([design * (z * (y - design @ b1))[:, None],
                                design * ((1 - z) * (y - design @ b0))[:, None],
                                r * (design @ (b1 - b0) - tau)])

    b1 = np.linalg.lstsq(design[z == 1], y[z == 1], rcond=None)[0]
    b0 = np.linalg.lstsq(design[z == 0], y[z == 0], rcond=None)[0]
    tau = np.sum(r * (design @ (b1 - b0))) / r.sum()
    est = outcome_regression(simulated, "y", "z", ["x1", "x2"], estimand=estimand)
    assert est.estimate == pytest.approx(tau, rel=1e-10)
    cov = _numerical_sandwich(psi, np.concatenate([b1, b0, [tau]]), n)
    assert est.standard_error == pytest.approx(math.sqrt(cov[-1, -1]), rel=1e-5)


def test_outcome_regression_att_by_hand(nsw):
    att = outcome_regression(nsw, "re78", "treat", NSW_X, estimand="ATT")
    control = nsw[nsw["treat"] == 0]
    fit0 = sm.OLS(control["re78"], sm.add_constant(control[NSW_X])).fit()
    treated = nsw[nsw["treat"] == 1]
    assert att.estimate == pytest.approx((treated["re78"] - fit0.predict(sm.add_constant(treated[NSW_X]))).mean())


def test_outcome_regression_bootstrap_with_a_sklearn_regressor(simulated):
    est = outcome_regression(simulated, "y", "z", ["x1", "x2"], outcome_model=LinearRegression(),
                             standard_error="bootstrap", n_resamples=100, rng=0)
    linear = outcome_regression(simulated, "y", "z", ["x1", "x2"])
    assert est.estimate == pytest.approx(linear.estimate)
    assert est.standard_error == pytest.approx(linear.standard_error, rel=0.3)
    assert est.method == "outcome-regression-LinearRegression-bootstrap"


def test_aipw_cross_fitting_by_hand(simulated):
    est = aipw(simulated, "y", "z", ["x1", "x2"], cross_fit=3, rng=5)
    y, z = simulated["y"].to_numpy(), simulated["z"].to_numpy()
    design = sm.add_constant(simulated[["x1", "x2"]].to_numpy())
    fold = np.random.default_rng(5).permutation(len(y)) % 3
    phi = np.empty(len(y))
    for k in range(3):
        train, test = fold != k, fold == k
        e = sm.Logit(z[train], design[train]).fit(disp=0).predict(design[test])
        m1 = sm.OLS(y[train & (z == 1)], design[train & (z == 1)]).fit().predict(design[test])
        m0 = sm.OLS(y[train & (z == 0)], design[train & (z == 0)]).fit().predict(design[test])
        zt, yt = z[test], y[test]
        phi[test] = m1 - m0 + zt * (yt - m1) / e - (1 - zt) * (yt - m0) / (1 - e)
    assert est.estimate == pytest.approx(phi.mean(), rel=1e-9)
    assert est.standard_error == pytest.approx(phi.std() / math.sqrt(len(y)), rel=1e-9)
    assert est.method == "aipw-crossfit-3"


def test_aipw_is_doubly_robust_with_a_wrong_outcome_model():
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.normal(size=n)
    z = (rng.uniform(size=n) < 1 / (1 + np.exp(-x))).astype(int)
    y = np.exp(x) + 2.0 * z + rng.normal(size=n)  # true ATE 2; the linear outcome model is wrong
    est = aipw(outcome=y, treatment=z, covariates=x)
    assert abs(est.estimate - 2.0) < 3 * est.standard_error


# --------------------------------------------------------------------------- matching


R_MATCHING = {  # tests/reference/observational.R: Match(..., Var.calc = 1) on lalonde_nsw
    ("ATT", False, "inverse_variance", 1): (1881.520726, 876.471766, 269),
    ("ATT", False, "inverse_variance", 4): (2061.825811, 687.366575, 874),
    ("ATT", False, "mahalanobis", 1): (2274.228965, 731.444167, 273),
    ("ATT", False, "mahalanobis", 4): (2144.603818, 654.324123, 863),
    ("ATT", True, "inverse_variance", 1): (1899.405866, 868.894797, 269),
    ("ATT", True, "inverse_variance", 4): (1930.378450, 689.421480, 874),
    ("ATT", True, "mahalanobis", 1): (2003.696692, 727.613972, 273),
    ("ATT", True, "mahalanobis", 4): (2011.621166, 656.347237, 863),
    ("ATE", False, "inverse_variance", 1): (1668.887278, 739.175986, 608),
    ("ATE", False, "inverse_variance", 4): (1477.856247, 636.050913, 1990),
    ("ATE", False, "mahalanobis", 1): (1885.128104, 680.302315, 606),
    ("ATE", False, "mahalanobis", 4): (1473.842911, 629.562486, 1965),
    ("ATE", True, "inverse_variance", 1): (1600.735518, 740.322586, 608),
    ("ATE", True, "inverse_variance", 4): (1400.442722, 637.101175, 1990),
    ("ATE", True, "mahalanobis", 1): (1700.868562, 680.953931, 606),
    ("ATE", True, "mahalanobis", 4): (1439.892493, 630.001740, 1965),
}


@pytest.mark.parametrize("key", list(R_MATCHING))
def test_matching_reproduces_r_matching_on_nsw(nsw, key):
    estimand, bias_correction, metric, m = key
    est = match(nsw, "re78", "treat", NSW_X, estimand=estimand, bias_correction=bias_correction, metric=metric,
                n_matches=m)
    expected, se, pairs = R_MATCHING[key]
    assert est.estimate == pytest.approx(expected, abs=5e-6)
    assert est.standard_error == pytest.approx(se, abs=5e-6)
    assert est.details["n_matched_pairs"] == pairs
    assert est.estimand == estimand and est.n == 445


# R's default variance, Var.calc = 0 (tests/reference/observational.R): (estimate, standard error)
R_MATCHING_HOMOSKEDASTIC = {
    ("ATT", False, "inverse_variance", 1): (1881.520726, 883.656848),
    ("ATT", False, "inverse_variance", 4): (2061.825811, 765.747962),
    ("ATT", False, "mahalanobis", 1): (2274.228965, 804.190892),
    ("ATT", False, "mahalanobis", 4): (2144.603818, 740.777362),
    ("ATT", True, "inverse_variance", 1): (1899.405866, 872.526263),
    ("ATT", True, "inverse_variance", 4): (1930.378450, 768.011911),
    ("ATT", True, "mahalanobis", 1): (2003.696692, 799.010883),
    ("ATT", True, "mahalanobis", 4): (2011.621166, 742.788605),
    ("ATE", False, "inverse_variance", 1): (1668.887278, 757.661371),
    ("ATE", False, "inverse_variance", 4): (1477.856247, 664.461428),
    ("ATE", False, "mahalanobis", 1): (1885.128104, 693.694029),
    ("ATE", False, "mahalanobis", 4): (1473.842911, 644.458201),
    ("ATE", True, "inverse_variance", 1): (1600.735518, 760.898052),
    ("ATE", True, "inverse_variance", 4): (1400.442722, 665.706554),
    ("ATE", True, "mahalanobis", 1): (1700.868562, 695.553306),
    ("ATE", True, "mahalanobis", 4): (1439.892493, 644.167061),
}


@pytest.mark.parametrize("key", list(R_MATCHING_HOMOSKEDASTIC))
def test_homoskedastic_matching_variance_reproduces_r_default(nsw, key):
    estimand, bias_correction, metric, m = key
    est = match(nsw, "re78", "treat", NSW_X, estimand=estimand, bias_correction=bias_correction, metric=metric,
                n_matches=m, standard_error="homoskedastic")
    expected, se = R_MATCHING_HOMOSKEDASTIC[key]
    assert est.estimate == pytest.approx(expected, abs=5e-6)
    assert est.standard_error == pytest.approx(se, abs=5e-6)
    assert est.method.endswith("-homoskedastic") and est.details["standard_error"] == "homoskedastic"
    robust = match(nsw, "re78", "treat", NSW_X, estimand=estimand, bias_correction=bias_correction, metric=metric,
                   n_matches=m)
    assert robust.standard_error == pytest.approx(R_MATCHING[key][1], abs=5e-6)  # the default is Var.calc = 1


def _brute_force_matching(x, y, z, estimand, m, bias_correction, mahalanobis, tol=1e-5):
    """Abadie-Imbens matching written as loops over units (standardized covariates, ties kept, J = 1)."""
    n = len(y)
    s = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    w = np.linalg.inv(s.T @ s / n) if mahalanobis else np.eye(x.shape[1])

    def dist(i, j):
        d = s[i] - s[j]
        return d @ w @ d

    targets = [i for i in range(n) if estimand == "ATE" or z[i] == 1]
    sets = {}
    k = np.zeros(n)
    kk = np.zeros(n)
    for i in targets:
        others = [j for j in range(n) if z[j] != z[i]]
        d = sorted(dist(i, j) for j in others)
        chosen = [j for j in others if dist(i, j) <= d[m - 1] + tol]
        sets[i] = chosen
        for j in chosen:
            k[j] += 1 / len(chosen)
            kk[j] += 1 / len(chosen) ** 2
    slopes = {}
    for arm in (0, 1):
        rows = [j for j in range(n) if z[j] == arm and k[j] > 0]
        if bias_correction and len(rows) > x.shape[1]:
            a = np.column_stack([np.ones(len(rows)), x[rows]]) * np.sqrt(k[rows])[:, None]
            slopes[arm] = np.linalg.lstsq(a, y[rows] * np.sqrt(k[rows]), rcond=None)[0][1:]
    effects = {}
    for i in targets:
        imputed = np.mean([y[j] + ((x[i] - x[j]) @ slopes[z[j]] if bias_correction else 0.0) for j in sets[i]])
        effects[i] = y[i] - imputed if z[i] == 1 else imputed - y[i]
    tau = np.mean(list(effects.values()))
    sigma2 = np.zeros(n)
    for i in range(n):
        if k[i] == 0:
            continue
        same = [j for j in range(n) if z[j] == z[i] and j != i]
        d = sorted(dist(i, j) for j in same)
        near = [j for j in same if dist(i, j) <= d[0] + tol]
        sigma2[i] = np.var([y[i], *y[near]], ddof=1)
    in_target = np.array([i in effects for i in range(n)], dtype=float)
    variance = (sum((effects[i] - tau) ** 2 for i in effects)
                + np.sum(sigma2 * (k**2 - kk + 2 * in_target * k))) / len(targets) ** 2
    return tau, math.sqrt(variance), sum(len(v) for v in sets.values())


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
@pytest.mark.parametrize("bias_correction", [False, True])
@pytest.mark.parametrize("metric", ["inverse_variance", "mahalanobis"])
def test_matching_against_a_brute_force_loop_with_ties(estimand, bias_correction, metric):
    rng = np.random.default_rng(7)
    n = 36
    x = np.column_stack([rng.integers(0, 4, n), rng.integers(0, 3, n) + rng.normal(size=n).round(1)])
    z = (rng.uniform(size=n) < 0.45).astype(int)
    y = x @ [1.0, -0.5] + 2 * z + rng.normal(size=n)
    est = match(outcome=y, treatment=z, covariates=x, estimand=estimand, n_matches=2,
                bias_correction=bias_correction, metric=metric)
    tau, se, pairs = _brute_force_matching(x, y, z, estimand, 2, bias_correction, metric == "mahalanobis")
    assert pairs > (z.sum() if estimand == "ATT" else n) * 2  # the integer covariate makes ties
    assert est.details["n_matched_pairs"] == pairs
    assert est.estimate == pytest.approx(tau, rel=1e-9)
    assert est.standard_error == pytest.approx(se, rel=1e-9)


def test_matching_blocks_do_not_change_the_answer(nsw, monkeypatch):
    whole = match(nsw, "re78", "treat", NSW_X, estimand="ATE", n_matches=3)
    monkeypatch.setattr("causalattn.observational._neighbours.BLOCK_ELEMENTS", 1000)
    blocked = match(nsw, "re78", "treat", NSW_X, estimand="ATE", n_matches=3)
    assert blocked.estimate == whole.estimate and blocked.standard_error == whole.standard_error


def test_matching_on_the_propensity_score(nsw):
    est = match(nsw, "re78", "treat", NSW_X, on="propensity", bias_correction=False)
    score = propensity_score(nsw, "treat", NSW_X).score
    direct = match(outcome=nsw["re78"], treatment=nsw["treat"], covariates=score, bias_correction=False)
    assert est.estimate == direct.estimate
    assert est.details["standard_error_known_score"] == pytest.approx(direct.standard_error, rel=1e-12)
    assert est.method == "matching-propensity-ai2016"
    assert est.details["score_estimation"] == "accounted for (Abadie-Imbens 2016)"
    np.testing.assert_allclose(est.details["score"], score)
    matches = est.details["matches"]
    assert set(matches.columns) == {"unit", "match", "weight", "distance"}
    assert (nsw["treat"].to_numpy()[matches["unit"]] == 1).all()
    mle = LogisticRegression(C=np.inf, solver="newton-cg", tol=1e-12, max_iter=5000)  # a scikit-learn score ...
    known = match(nsw, "re78", "treat", NSW_X, on="propensity", bias_correction=False, model=mle)
    # ... is treated as known
    assert known.method == "matching-propensity" and known.details["score_estimation"] == "treated as known"
    assert known.standard_error == pytest.approx(direct.standard_error, rel=1e-3)


def _ai2016_by_hand(x, y, z, estimand):
    """Matching on the estimated logistic score (M = 1, J = 1, no ties, no bias correction), with the AI (2006)
    standard error and the Abadie-Imbens (2016) one, written out unit by unit from the paper's formulas."""
    n, design = len(y), np.column_stack([np.ones(len(y)), x])
    theta = np.zeros(design.shape[1])
    for _ in range(50):  # Newton-Raphson for the logistic MLE
        e = 1 / (1 + np.exp(-design @ theta))
        theta += np.linalg.solve((design * (e * (1 - e))[:, None]).T @ design, design.T @ (z - e))
    e = 1 / (1 + np.exp(-design @ theta))
    f = e * (1 - e)  # logistic density at X'theta

    def nearest_in(arm, i, k, on):  # the k nearest units of `arm` to unit i (never i itself)
        pool = [j for j in range(n) if z[j] == arm and j != i]
        return sorted(pool, key=lambda j: np.sum((on[j] - on[i]) ** 2))[:k]

    # matching on the score: imputed outcomes, K_M and the AI (2006) variance
    target = range(n) if estimand == "ATE" else [i for i in range(n) if z[i] == 1]
    times_matched, effect = np.zeros(n), {}
    for i in target:
        j = nearest_in(1 - z[i], i, 1, e[:, None])[0]
        times_matched[j] += 1
        effect[i] = y[i] - y[j] if z[i] == 1 else y[j] - y[i]
    tau = np.mean(list(effect.values()))
    n_target = len(effect)
    variance = sum((effect[i] - tau) ** 2 for i in target)
    for i in range(n):
        j = nearest_in(z[i], i, 1, e[:, None])[0]
        sigma2 = (y[i] - y[j]) ** 2 / 2  # sample variance of Y_i and its nearest same-arm outcome
        k = times_matched[i]
        variance += sigma2 * (k**2 + k if estimand == "ATE" else k**2 - k + 2 * k * z[i])
    variance /= n_target**2

    # AI (2016): H_w(i) is i and its nearest unit of arm w if Z_i = w, else the 2 nearest units of arm w
    information = (design * f[:, None]).T @ design / n  # E[f^2/(F(1-F)) X X'] with f = F(1-F)
    c = np.zeros(design.shape[1])
    for i in range(n):
        cov, mu = {}, {}
        for arm in (0, 1):
            group = [i, *nearest_in(arm, i, 1, e[:, None])] if z[i] == arm else nearest_in(arm, i, 2, e[:, None])
            cov[arm] = np.r_[0.0, [np.cov(x[group, col], y[group])[0, 1] for col in range(x.shape[1])]]
            mu[arm] = np.mean([y[j] for j in group if j != i])  # leave-one-out local mean of Y
        if estimand == "ATE":
            c += f[i] * (cov[1] / e[i] + cov[0] / (1 - e[i])) / n
        else:
            c += f[i] * (design[i] * (mu[1] - mu[0] - tau) + cov[1] + e[i] / (1 - e[i]) * cov[0]) / z.sum()
    adjusted = variance - c @ np.linalg.solve(information, c) / n
    if estimand == "ATT":  # the derivative of the ATT in theta: imputations by matching on the covariates
        s = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
        d = np.zeros(design.shape[1])
        for i in range(n):
            j = nearest_in(1 - z[i], i, 1, s)[0]
            d += f[i] * design[i] * ((y[i] - y[j] if z[i] == 1 else y[j] - y[i]) - tau) / z.sum()
        adjusted += d @ np.linalg.solve(information, d) / n
    return tau, math.sqrt(variance), math.sqrt(adjusted)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_matching_on_the_estimated_score_against_the_paper_by_hand(estimand):
    rng = np.random.default_rng(2016)
    n = 80
    x = rng.normal(size=(n, 2))
    z = (rng.uniform(size=n) < 1 / (1 + np.exp(-(0.3 + x @ [0.8, -0.6])))).astype(int)
    y = 1 + x @ [1.0, 0.5] + z * (1 + x[:, 0]) + rng.normal(size=n)
    est = match(outcome=y, treatment=z, covariates=x, estimand=estimand, on="propensity", bias_correction=False,
                tie_tolerance=0.0)
    tau, known, adjusted = _ai2016_by_hand(x, y, z, estimand)
    assert est.estimate == pytest.approx(tau, rel=1e-12)
    assert est.details["standard_error_known_score"] == pytest.approx(known, rel=1e-9)
    assert est.standard_error == pytest.approx(adjusted, rel=1e-6)
    assert abs(adjusted - known) > 0.01 * known  # the adjustment matters on this data set


def test_the_estimated_score_makes_the_ate_more_precise(nsw):
    # Abadie and Imbens (2016, Theorem 1): the adjustment c' I^-1 c of the ATE is never negative
    est = match(nsw, "re78", "treat", NSW_X, on="propensity", estimand="ATE")
    assert est.standard_error < est.details["standard_error_known_score"]


# --------------------------------------------------------------------------- propensity, trimming, balance


def test_propensity_score_is_the_logistic_mle_and_accepts_sklearn(nsw):
    ps = propensity_score(nsw, "treat", NSW_X)
    standardized = (nsw[NSW_X] - nsw[NSW_X].mean()) / nsw[NSW_X].std()
    mle = LogisticRegression(C=np.inf, solver="newton-cg", tol=1e-12, max_iter=5000).fit(standardized, nsw["treat"])
    np.testing.assert_allclose(ps.score, mle.predict_proba(standardized)[:, 1], atol=1e-5)
    ranges = ps.ranges()
    assert ranges.loc["treated", "n"] == 185 and ranges.loc["control", "max"] == ps.score[nsw["treat"] == 0].max()
    forest = propensity_score(nsw, "treat", NSW_X, model=LogisticRegression(C=0.01, max_iter=1000))
    assert forest.model == "LogisticRegression" and not forest.logistic
    assert isinstance(ps.plot_overlap(scale="log"), Figure)


def test_crump_threshold_solves_its_defining_equation():
    rng = np.random.default_rng(0)
    e = 1 / (1 + np.exp(-rng.normal(scale=2.5, size=500)))
    g = 1 / (e * (1 - e))

    def excess(alpha):  # 1/(alpha(1-alpha)) - 2 E[g | g <= 1/(alpha(1-alpha))], decreasing in alpha
        gamma = 1 / (alpha * (1 - alpha))
        return gamma - 2 * g[g <= gamma].mean()

    alpha = crump_threshold(e)
    grid = np.linspace(0.01, 0.3, 30001)
    values = np.array([excess(a) for a in grid])
    root = grid[np.argmax(values < 0)]  # first alpha where gamma falls below twice the truncated mean
    assert alpha == pytest.approx(root, abs=2e-5)
    assert crump_threshold(np.full(10, 0.5)) == 0.0
    ps = propensity_score(treatment=(e > rng.uniform(size=500)).astype(int), covariates=np.log(e / (1 - e)))
    trimmed = ps.trim("crump")
    kept = (ps.score >= trimmed.low) & (ps.score <= 1 - trimmed.low)
    assert (trimmed.keep == kept).all()
    z = ps.treatment == 1
    assert trimmed.dropped_treated == int((z & ~kept).sum()) and trimmed.dropped_control == int((~z & ~kept).sum())
    assert "dropped" in repr(trimmed)


def test_balance_table_by_hand(nsw):
    b = balance(nsw, "treat", NSW_X)
    t, c = nsw[nsw["treat"] == 1], nsw[nsw["treat"] == 0]
    smd = (t["re75"].mean() - c["re75"].mean()) / math.sqrt((t["re75"].var() + c["re75"].var()) / 2)
    assert b.table.loc["re75", "smd_before"] == pytest.approx(smd)
    assert b.table.loc["re75", "variance_ratio_before"] == pytest.approx(t["re75"].var() / c["re75"].var())
    weighted = ipw(nsw, "re78", "treat", NSW_X)
    after = balance(nsw, "treat", NSW_X, weights=weighted)
    w = weighted.details["weights"]
    z = nsw["treat"].to_numpy() == 1
    x = nsw["re75"].to_numpy()
    shift = (np.sum(w[z] * x[z]) / w[z].sum() - np.sum(w[~z] * x[~z]) / w[~z].sum())
    pooled_sd = math.sqrt((t["re75"].var() + c["re75"].var()) / 2)
    assert after.table.loc["re75", "smd_after"] == pytest.approx(shift / pooled_sd)
    assert after.table["smd_after"].abs().max() < 0.05 < b.table["smd_before"].abs().max()
    assert isinstance(after.plot(), Figure)
    matched = balance(nsw, "treat", NSW_X, weights=match(nsw, "re78", "treat", NSW_X))
    assert "smd_after" in matched.table


def test_subclassification_by_hand(nsw):
    est = subclassification(nsw, "re78", "treat", NSW_X)
    score = sm.Logit(nsw["treat"], sm.add_constant(nsw[NSW_X])).fit(disp=0).predict()
    frame = nsw.assign(stratum=pd.qcut(score, 5, labels=False))
    g = frame.groupby(["stratum", "treat"])["re78"]
    means, variances, counts = g.mean().unstack(), g.var().unstack(), g.size().unstack()
    share = counts.sum(axis=1) / len(nsw)
    assert est.estimate == pytest.approx(float((share * (means[1] - means[0])).sum()))
    se = math.sqrt(float((share**2 * (variances[1] / counts[1] + variances[0] / counts[0])).sum()))
    assert est.standard_error == pytest.approx(se)
    att = subclassification(nsw, "re78", "treat", NSW_X, estimand="ATT")
    assert att.estimand == "ATT" and att.method == "ps-subclassification-neyman"
    assert np.bincount(att.details["strata"][nsw["treat"] == 1]).tolist() == [37] * 5



@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_subclassification_t_interval_by_hand(nsw, estimand):
    normal = subclassification(nsw, "re78", "treat", NSW_X, estimand=estimand, confidence_level=0.9)
    est = subclassification(nsw, "re78", "treat", NSW_X, estimand=estimand, confidence_level=0.9, method="t")
    frame = nsw.assign(stratum=est.details["strata"])
    g = frame.groupby(["stratum", "treat"])["re78"]
    variances, counts = g.var().unstack(), g.size().unstack()
    weight = counts.sum(axis=1) / len(nsw) if estimand == "ATE" else counts[1] / counts[1].sum()
    terms = (variances / counts).mul(weight**2, axis=0)  # w_k^2 S_ka^2 / n_ka, strata x arms
    df = terms.to_numpy().sum() ** 2 / (terms**2 / (counts - 1)).to_numpy().sum()  # Satterthwaite
    assert est.details["df"] == pytest.approx(df) and est.details["distribution"] == "t"
    assert est.estimate == normal.estimate and est.standard_error == pytest.approx(normal.standard_error)
    half = stats.t.ppf(0.95, df) * est.standard_error
    assert est.confidence_interval == pytest.approx((est.estimate - half, est.estimate + half))
    assert est.pvalue == pytest.approx(2 * stats.t.sf(abs(est.estimate) / est.standard_error, df))
    assert est.method == "ps-subclassification-neyman-t" and normal.details["distribution"] == "normal"
    assert est.pvalue > normal.pvalue  # heavier tails than the normal
    with pytest.raises(ValueError, match=r"`method` must be one of \['normal', 't'\], got 'exact'"):
        subclassification(nsw, "re78", "treat", NSW_X, method="exact")


# --------------------------------------------------------------------------- E-value


def test_e_values():
    ev = e_value(3.9, (1.8, 8.7))  # VanderWeele and Ding (2017): 7.26 and 3.0
    assert ev.point == pytest.approx(3.9 + math.sqrt(3.9 * 2.9)) and ev.limit == pytest.approx(3.0)
    protective = e_value(0.5, (0.3, 0.8))
    assert protective.point == pytest.approx(2 + math.sqrt(2)) and protective.limit == pytest.approx(
        1.25 + math.sqrt(1.25 * 0.25))
    assert e_value(1.5, (0.9, 2.5)).limit == 1.0
    assert e_value(4.0, measure="odds_ratio", rare=False).risk_ratio == pytest.approx(2.0)
    assert e_value(4.0, measure="odds_ratio", rare=True).risk_ratio == 4.0
    est = Estimate("ATT", 1000.0, 400.0, causalattn.ConfidenceInterval(216, 1784), 0.95, 0.01, "x", 100)
    diff = e_value(est, measure="difference", outcome_sd=5000.0)
    assert diff.risk_ratio == pytest.approx(math.exp(0.91 * 0.2))
    lower = math.exp(0.91 * 0.2 - 1.78 * 0.08)
    assert diff.limit == pytest.approx(lower + math.sqrt(lower * (lower - 1)))


# --------------------------------------------------------------------------- instrumental variables


R_IVREG = {"classical": 0.0495730903, "HC0": 0.0487900793, "HC1": 0.0488387801, "HC2": 0.0488471491,
           "HC3": 0.0489054863}  # AER::ivreg + sandwich::vcovHC, tests/reference/observational.R
CARD_COVARIATES = ["exper", "black", "south", "smsa"]


@pytest.mark.parametrize("cov_type", list(R_IVREG))
def test_tsls_reproduces_aer_ivreg_on_card(cov_type):
    card = datasets.load("card")
    est = tsls(card, "lwage", "educ", "nearc4", CARD_COVARIATES, cov_type=cov_type)
    assert est.estimate == pytest.approx(0.1318497011, abs=1e-9)
    assert est.standard_error == pytest.approx(R_IVREG[cov_type], abs=1e-9)
    assert est.method == f"2sls-{cov_type}" and est.n == 3010
    if cov_type == "classical":
        assert est.details["first_stage_f"] == pytest.approx(16.726799, abs=1e-5)  # R's "Weak instruments" test


def test_tsls_is_the_hand_formula_and_wald_is_2sls_without_covariates():
    card = datasets.load("card")
    y = card["lwage"].to_numpy()
    w = np.column_stack([np.ones(len(y)), card["educ"], card[CARD_COVARIATES]])
    instruments = np.column_stack([np.ones(len(y)), card["nearc4"], card[CARD_COVARIATES]])
    projected = instruments @ np.linalg.solve(instruments.T @ instruments, instruments.T @ w)
    theta = np.linalg.solve(projected.T @ w, projected.T @ y)
    assert tsls(card, "lwage", "educ", "nearc4", CARD_COVARIATES).estimate == pytest.approx(theta[1], rel=1e-10)
    fit = IV2SLS(card["lwage"], np.ones((len(y), 1)), card["educ"], card["nearc4"]).fit()
    card["college"] = (card["educ"] >= 16).astype(int)
    wald = cace(card, "lwage", "college", "nearc4")
    z, d = card["nearc4"] == 1, card["college"]
    itt_y = y[z].mean() - y[~z].mean()
    itt_d = d[z].mean() - d[~z].mean()
    assert wald.estimate == pytest.approx(itt_y / itt_d)
    assert wald.details["distribution"] == "normal"
    r = y - wald.estimate * d
    se = math.sqrt(r[z].var(ddof=1) / z.sum() + r[~z].var(ddof=1) / (~z).sum()) / itt_d
    assert wald.standard_error == pytest.approx(se)
    assert wald.details["first_stage"].estimate == pytest.approx(itt_d)
    assert wald.details["itt"].estimate == pytest.approx(itt_y)
    simple = tsls(card, "lwage", "college", "nearc4", cov_type="HC0")
    assert simple.estimate == pytest.approx(wald.estimate, rel=1e-10)
    assert simple.standard_error == pytest.approx(wald.standard_error, rel=2e-3)  # n vs n - 1 in the variances
    assert fit.params["educ"] == pytest.approx(0.1880626, abs=1e-7)


def test_weak_instrument_warns_and_no_first_stage_is_an_error():
    rng = np.random.default_rng(4)
    n = 400
    z = np.repeat([0, 1], n // 2)
    d = (rng.uniform(size=n) < 0.4 + 0.06 * z).astype(int)
    y = d + rng.normal(size=n)
    with pytest.warns(WeakInstrumentWarning, match="weak instrument: first-stage F"):
        cace(outcome=y, treatment=d, instrument=z)
    with pytest.warns(WeakInstrumentWarning, match="weak instrument"):
        tsls(outcome=y, treatment=d, instruments=z)
    flat = np.tile([0, 1, 1, 0], n // 4)  # the same distribution of d at z = 0 and z = 1
    with pytest.raises(ValueError, match="`instrument` has no first stage"):
        cace(outcome=y, treatment=flat, instrument=z)
    with pytest.raises(ValueError, match="`instrument` has no first stage"):
        tsls(outcome=y, treatment=flat, instruments=z)


def test_tsls_without_linearmodels_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "linearmodels.iv", None)
    with pytest.raises(ImportError, match=r'pip install "causalattn\[iv\]"'):
        tsls(outcome=[1.0, 2, 3, 4], treatment=[0.0, 1, 0, 1], instruments=[0.0, 1, 1, 0])


# --------------------------------------------------------------------------- bad input


def test_bad_input_names_the_argument(table, nsw):
    with pytest.raises(ValueError, match=r"`treatment` must be binary \(0/1\), found values \[2.0\]"):
        ipw(outcome=[1.0, 2, 3], treatment=[0, 1, 2], covariates=[1.0, 2, 3])
    with pytest.raises(ValueError, match="`propensity` must be strictly between 0 and 1, found 1 value"):
        ipw(table, "y", "z", propensity=np.r_[0.0, np.full(39, 0.5)])
    with pytest.raises(ValueError, match="estimated propensity score is exactly 0 or 1"):
        ipw(nsw, "re78", "treat", NSW_X, model=DecisionTreeClassifier(random_state=0))
    x = np.repeat([2.0, -2.0, -2.0, 2.0], [10, 1, 10, 1])  # scores 10/11 and 1/11
    with pytest.raises(ValueError, match="no overlap: trimming at `threshold` 0.1 leaves no treated units"):
        propensity_score(treatment=np.repeat([1, 0], 11), covariates=x).trim(0.1)
    with pytest.raises(ValueError, match=r"`covariates` \['covariate0'\] separate \d treated unit\(s\) from every "
                                         "control"):
        ipw(outcome=np.arange(8.0) % 3, treatment=[0, 0, 0, 0, 1, 1, 1, 1], covariates=np.arange(8.0))
    missing = nsw.assign(age=nsw["age"].where(nsw.index != 3))
    with pytest.raises(ValueError, match="`covariates`: column 'age' must be finite, found 1 missing"):
        ipw(missing, "re78", "treat", NSW_X)
    card = datasets.load("card")
    with pytest.raises(ValueError, match="`covariates`: column 'married' must be finite, found 7 missing"):
        propensity_score(card, "nearc4", ["educ", "married"])
    coded = nsw.assign(group=np.where(nsw["black"] == 1, "black", "other"))
    with pytest.raises(TypeError, match=r"`covariates`: column 'group' must be numeric, got dtype \w+; encode it"):
        match(coded, "re78", "treat", ["age", "group"])
    with pytest.raises(TypeError, match="`model` must be a scikit-learn classifier with `fit` and `predict_proba`"):
        ipw(nsw, "re78", "treat", NSW_X, model=LinearRegression())
    with pytest.raises(ValueError, match=r"`n_matches` \(5\) must not exceed the number of control units \(3\)"):
        match(outcome=np.arange(8.0), treatment=[1, 1, 1, 1, 1, 0, 0, 0], covariates=np.arange(8.0) % 3,
              n_matches=5)
    with pytest.raises(ValueError, match=r"`n_matches` \(4\) must not exceed the number of treated units \(3\)"):
        match(outcome=np.arange(9.0), treatment=[1, 1, 1, 0, 0, 0, 0, 0, 0], covariates=np.arange(9.0) % 4,
              n_matches=4, estimand="ATE")
    with pytest.raises(ValueError, match="`estimand` must be one of"):
        ipw(table, "y", "z", ["x"], estimand="ATC")
    with pytest.raises(ValueError, match="`standard_error`='sandwich' needs the linear outcome model"):
        outcome_regression(table, "y", "z", ["x"], outcome_model=LinearRegression())
    with pytest.raises(TypeError, match="`outcome_model` must be a scikit-learn regressor"):
        aipw(table, "y", "z", ["x"], outcome_model="ols")
    with pytest.raises(TypeError, match="`outcome_model` must be an estimator instance"):
        aipw(table, "y", "z", ["x"], outcome_model=LinearRegression)
    with pytest.raises(ValueError, match="`cross_fit` must be between 2"):
        aipw(table, "y", "z", ["x"], cross_fit=1)
    with pytest.raises(ValueError, match="`n_strata`: stratum 0 .* use fewer strata or trim"):
        subclassification(datasets.load("lalonde_cps1"), "re78", "treat", NSW_X, n_strata=5)
    with pytest.raises(ValueError, match="give either `propensity`"):
        ipw(table, "y", "z", ["x"], propensity=np.full(40, 0.5))
    with pytest.raises(ValueError, match="`model` is the propensity-score model"):
        match(nsw, "re78", "treat", NSW_X, model=LogisticRegression())
    with pytest.raises(ValueError, match=r"`n_matches` \(4\) must not exceed the number of treated units \(3\): the "
                                         r"Abadie-Imbens \(2016\) adjustment of the ATT"):
        match(outcome=np.arange(9.0), treatment=[1, 1, 1, 0, 0, 0, 0, 0, 0], covariates=[0.0, 5, 2, 7, 1, 3, 6, 4, 8],
              n_matches=4, on="propensity")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(14, 2))
    with pytest.raises(ValueError, match=r"the Abadie-Imbens \(2016\) variance adjusted for the estimated score is "
                                         r"not positive .* pass a scikit-learn `model`"):
        match(outcome=5 * x[:, 0] + 0.01 * rng.normal(size=14), treatment=np.repeat([1, 0], 7), covariates=x,
              estimand="ATE", on="propensity", bias_correction=False)
    with pytest.raises(ValueError, match="`instrument` must be binary"):
        cace(outcome=[1.0, 2, 3, 4], treatment=[0, 1, 0, 1], instrument=[0, 1, 2, 1])
    with pytest.raises(ValueError, match="`outcome_sd`.* is required"):
        e_value(1.0, measure="difference")
    with pytest.raises(ValueError, match="`cov_type` must be one of"):
        tsls(card, "lwage", "educ", "nearc4", cov_type="HC4")
    with pytest.raises(ValueError, match="`threshold` must be in"):
        propensity_score(nsw, "treat", NSW_X).trim(0.7)


def test_top_level_names():
    for name in ["aipw", "balance", "cace", "e_value", "ipw", "match", "outcome_regression", "propensity_score",
                 "subclassification", "tsls"]:
        assert getattr(causalattn, name) is getattr(causalattn.observational, name)


def test_everything_but_tsls_runs_without_linearmodels():
    code = textwrap.dedent(
        """
        import sys

        class Block:  # `import linearmodels` raises ImportError, as on a machine without the [iv] extra
            def find_spec(self, name, path=None, target=None):
                if name == "linearmodels" or name.startswith("linearmodels."):
                    raise ImportError("linearmodels is blocked in this test")

        sys.meta_path.insert(0, Block())
        import causalattn
        est = causalattn.ipw(outcome=[1.0, 2, 3, 4, 5, 6], treatment=[0, 1, 0, 1, 1, 0],
                             covariates=[0.1, 0.3, 0.2, 0.5, 0.4, 0.6])
        print(est.method)
        try:
            causalattn.tsls(outcome=[1.0, 2, 3, 4], treatment=[0.0, 1, 0, 1], instruments=[0.0, 1, 1, 0])
        except ImportError as exc:
            print(exc)
        assert "linearmodels" not in sys.modules
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ipw-hajek-sandwich" in result.stdout
    assert 'pip install "causalattn[iv]"' in result.stdout


_FRAME = pd.DataFrame({"y": np.arange(12.0), "z": np.tile([0, 1], 6), "a": np.linspace(0, 1, 12) ** 2,
                       "b": np.cos(np.arange(12.0))})


@pytest.mark.parametrize("bad, error, match", [
    (_FRAME.assign(a=_FRAME["a"].where(_FRAME.index != 4)), ValueError,
     r"^`covariates`: column 'a' must be finite, found 1 missing \(NaN\) or infinite value\(s\); drop or impute "
     r"those rows first"),
    (_FRAME.assign(a=np.where(_FRAME.index == 4, "x", "y")), TypeError,
     "^`covariates`: column 'a' must be numeric, got dtype \\w+; encode it first, e.g. with pandas.get_dummies"),
])
def test_regression_and_observational_share_column_messages(bad, error, match):
    # one helper checks the columns of both halves: the same bad column gives the same message
    with pytest.raises(error, match=match):
        causalattn.ols(bad, "y", "z", ["a", "b"])
    with pytest.raises(error, match=match):
        outcome_regression(bad, "y", "z", ["a", "b"])


def test_array_arguments_name_the_argument_alone():
    with pytest.raises(TypeError, match="^`outcome` must be numeric, got dtype \\w+; encode it first"):
        outcome_regression(outcome=pd.Series(["a"] * 12), treatment=_FRAME["z"], covariates=_FRAME[["a"]])
    with pytest.raises(TypeError, match="^`covariates` must be numeric, could not convert it: .*encode it first"):
        outcome_regression(outcome=_FRAME["y"], treatment=_FRAME["z"], covariates=[["a"]] * 12)
    with pytest.raises(ValueError, match=r"^`outcome` must be finite, found 1 missing \(NaN\) or infinite"):
        causalattn.ols(outcome=np.r_[np.inf, np.arange(11.0)], treatment=_FRAME["z"].to_numpy())


@pytest.mark.parametrize("estimator", [ipw, aipw, outcome_regression, match, subclassification])
def test_normal_intervals_say_so_and_are_wald_intervals(nsw, estimator):
    est = estimator(nsw, "re78", "treat", NSW_X, confidence_level=0.9)
    assert est.details["distribution"] == "normal"
    half = stats.norm.ppf(0.95) * est.standard_error
    assert est.confidence_interval == pytest.approx((est.estimate - half, est.estimate + half))
    assert est.pvalue == pytest.approx(2 * stats.norm.sf(abs(est.estimate) / est.standard_error))
