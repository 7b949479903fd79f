"""Mediation analysis against hand computations written out here, R, statsmodels' Mediation, and bad input.

Reference numbers: tests/reference/mediation.R (R's lm/glm, the mediation formula by adaptive quadrature,
delta-method SEs by numDeriv; R's `mediation` package is not in Debian) and
tests/reference/mediation_statsmodels.py (statsmodels 0.15.0's Monte Carlo `Mediation`).
"""

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import integrate, special, stats

from causalattn import Decomposition, baron_kenny, datasets, mediate, plot_decomposition
from causalattn.estimate import normal_estimate
from causalattn.mediation import natural
from causalattn.mediation.intervals import percentile_pvalue
from causalattn.mediation.natural import logistic_normal_mean
from causalattn.observational import SmallSampleWarning

ROWS = ["total effect", "NDE(0)", "NIE(1)", "NDE(1)", "NIE(0)", "NDE (average)", "NIE (average)",
        "proportion mediated"]


@pytest.fixture(scope="module")
def framing():
    """The framing data with R's covariates: age, income and dummies of educ and gender (R's reference levels)."""
    data = datasets.load("framing")
    dummies = pd.get_dummies(data[["educ", "gender"]], drop_first=True, dtype=float)
    return pd.concat([data, dummies], axis=1), ["age", "income", *dummies.columns]


def simulate(n, *, seed, interaction=0.0, binary=False, covariate=True):
    """Z randomized, M = 0.5 + Z + 0.4 X + N(0, 1), Y linear (or probit 0/1) in Z, M, ZM and X."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    z = rng.integers(0, 2, size=n)
    m = 0.5 + z + 0.4 * x * covariate + rng.normal(size=n)
    eta = -0.3 + 0.5 * z + 0.6 * m + interaction * z * m + 0.3 * x * covariate
    y = (eta + rng.normal(size=n) > 0).astype(int) if binary else eta + rng.normal(size=n)
    return pd.DataFrame({"y": y, "z": z, "m": m, "x": x})


def ols(y, *columns):
    """Least squares by hand (numpy): coefficients, classical covariance, residual variance."""
    design = np.column_stack([np.ones(len(y)), *columns])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    s2 = resid @ resid / (len(y) - design.shape[1])
    return coef, s2 * np.linalg.inv(design.T @ design), s2


# --------------------------------------------------------------------------- linear models by hand


def test_linear_model_is_baron_kenny_with_sobel_by_hand():
    d = simulate(200, seed=1)
    (a0, a, ax), cov_a, _ = ols(d.m.to_numpy(), d.z, d.x)
    (_, c_prime, b, _), cov_y, _ = ols(d.y.to_numpy(), d.z, d.m, d.x)
    (_, c, _), _, _ = ols(d.y.to_numpy(), d.z, d.x)
    sobel = math.sqrt(a**2 * cov_y[2, 2] + b**2 * cov_a[1, 1])
    assert a * b == pytest.approx(c - c_prime, rel=1e-12)  # the OLS identity c = c' + ab
    table = mediate(d, "y", "z", "m", "x", method="delta", cde_at=[0.0, 2.0])
    for name in ("NIE(1)", "NIE(0)", "NIE (average)"):
        row = table[name]
        assert row.estimate == pytest.approx(a * b, rel=1e-10)
        assert row.standard_error == pytest.approx(sobel, rel=1e-7)
        assert row.details["product_ab"] == pytest.approx(row.details["difference_c_c_prime"], rel=1e-10)
        z = stats.norm.ppf(0.975)
        assert row.confidence_interval == pytest.approx((a * b - z * sobel, a * b + z * sobel), rel=1e-7)
        assert row.pvalue == pytest.approx(2 * stats.norm.sf(a * b / sobel), rel=1e-6)
    for name in ("NDE(0)", "NDE(1)", "CDE(m=0)", "CDE(m=2)"):
        assert table[name].estimate == pytest.approx(c_prime, rel=1e-10)
        assert table[name].standard_error == pytest.approx(math.sqrt(cov_y[1, 1]), rel=1e-7)
    assert table["total effect"].estimate == pytest.approx(c, rel=1e-10)
    assert table["proportion mediated"].estimate == pytest.approx(a * b / c, rel=1e-10)
    bk = baron_kenny(d, "y", "z", "m", "x")
    assert [r.estimate for r in bk] == pytest.approx([a, b, c, c_prime, a * b, c - c_prime], rel=1e-10)
    assert bk[4].standard_error == pytest.approx(sobel, rel=1e-12)
    assert bk[0].details["df"] == 197 and bk[1].details["df"] == 196
    assert bk[0].confidence_interval.high == pytest.approx(a + stats.t.ppf(0.975, 197) * math.sqrt(cov_a[1, 1]))


def test_linear_model_with_interaction_vanderweele_vansteelandt_by_hand():
    d = simulate(300, seed=2, interaction=0.4)
    (a0, a1, a2), _, _ = ols(d.m.to_numpy(), d.z, d.x)
    (b0, b1, b2, b3, b4), _, _ = ols(d.y.to_numpy(), d.z, d.m, d.z * d.m, d.x)
    xbar = d.x.mean()
    # VanderWeele & Vansteelandt (2009): NDE(z*) = b1 + b3 (a0 + a1 z* + a2 E X), NIE(z) = a1 (b2 + b3 z)
    nde = {s: b1 + b3 * (a0 + a1 * s + a2 * xbar) for s in (0, 1)}
    nie = {z: a1 * (b2 + b3 * z) for z in (0, 1)}
    table = mediate(d, "y", "z", "m", "x", interaction=True, method="delta", cde_at=[1.5])
    for s in (0, 1):
        assert table[f"NDE({s})"].estimate == pytest.approx(nde[s], rel=1e-10)
        assert table[f"NIE({s})"].estimate == pytest.approx(nie[s], rel=1e-10)
    assert table["total effect"].estimate == pytest.approx(nde[0] + nie[1], rel=1e-10)
    assert table["total effect"].estimate == pytest.approx(nde[1] + nie[0], rel=1e-10)
    assert table["CDE(m=1.5)"].estimate == pytest.approx(b1 + b3 * 1.5, rel=1e-10)
    assert "product_ab" not in table["NIE(1)"].details


def test_decompositions_add_up_for_every_link():
    d = simulate(400, seed=3, interaction=0.3, binary=True)
    for link in ("identity", "probit", "logit"):
        t = mediate(d, "y", "z", "m", "x", link=link, interaction=True, method="delta")
        total = t["total effect"].estimate
        assert t["NDE(0)"].estimate + t["NIE(1)"].estimate == pytest.approx(total, abs=1e-14)
        assert t["NDE(1)"].estimate + t["NIE(0)"].estimate == pytest.approx(total, abs=1e-14)
        assert t["NIE (average)"].estimate / total == pytest.approx(t["proportion mediated"].estimate, rel=1e-12)
        assert t["NDE(0)"].details["imai"] == "ADE (control)" and t["NIE(1)"].details["imai"] == "ACME (treated)"
        assert t["NIE(1)"].details["scale"] == ("difference in means" if link == "identity" else "risk difference")


# --------------------------------------------------------------------------- the exact integrals


@pytest.mark.parametrize("scale", [0.0, 0.05, 0.7, 1.5, 1.6, 4.0, 12.0, 60.0, 800.0])
@pytest.mark.parametrize("loc", [-30.0, -4.0, 0.3, 2.5, 9.0])
def test_logit_quadrature_against_adaptive_quadrature(loc, scale):
    def integrand(w):
        return special.expit(loc + scale * w) * stats.norm.pdf(w)

    if scale == 0:
        expected = special.expit(loc)
    else:  # split where the normal peaks and where the logistic steps, so quad sees both
        cuts = [-np.inf, *sorted({0.0, -loc / scale}), np.inf]
        expected = sum(integrate.quad(integrand, low, high, epsabs=1e-15, epsrel=1e-13, limit=500)[0]
                       for low, high in zip(cuts[:-1], cuts[1:], strict=True))
    assert float(logistic_normal_mean(np.array(loc), np.array(scale))) == pytest.approx(expected, rel=1e-10,
                                                                                         abs=1e-13)


def test_more_quadrature_nodes_change_no_reported_digit(monkeypatch, framing):
    data, covariates = framing
    tables = {}
    rules = natural._RULES
    for nodes in (1, 2):  # the rules' node counts, then twice as many
        monkeypatch.setattr(natural, "_RULES", tuple((high, kind, nodes * count) for high, kind, count in rules))
        for scale in (1.0, 30.0):  # mediator scaled down 30-fold: |b| sigma 30 times larger, the Laguerre branch
            scaled = data.assign(emo=data["emo"] / scale)
            tables[nodes, scale] = mediate(scaled, "cong_mesg", "treat", "emo", covariates, link="logit",
                                           interaction=True, method="delta")
    for scale in (1.0, 30.0):
        for a, b in zip(tables[1, scale], tables[2, scale], strict=True):
            assert a.estimate == pytest.approx(b.estimate, rel=1e-12, abs=1e-15)


def test_probit_closed_form_against_quadrature():
    a, b, mu, sigma = -0.4, 0.8, 1.3, 1.7
    exact = stats.norm.cdf((a + b * mu) / math.sqrt(1 + b**2 * sigma**2))
    numeric = integrate.quad(lambda m: stats.norm.cdf(a + b * m) * stats.norm.pdf(m, mu, sigma), -np.inf, np.inf,
                             epsabs=1e-14)[0]
    assert exact == pytest.approx(numeric, rel=1e-12)
    d = pd.DataFrame({"y": [0, 1, 0, 1, 1, 0, 1, 1], "z": [0, 0, 0, 0, 1, 1, 1, 1],
                      "m": [0.1, 0.9, -0.5, 1.2, 1.1, 1.3, 2.0, 0.6]})  # not separated
    with pytest.warns(SmallSampleWarning, match="treated: 4 effective units"):
        t = mediate(d, "y", "z", "m", link="probit", method="delta")
    fit, med = t.fits["outcome"], t.fits["mediator"]
    s2 = med.ssr / (8 - 2)  # R's sigma(lm)^2
    b0, b1, b2 = fit.params
    psi = {(z, s): stats.norm.cdf((b0 + b1 * z + b2 * (med.params[0] + med.params[1] * s)) / math.sqrt(1 + b2**2 * s2))
           for z in (0, 1) for s in (0, 1)}
    assert t["NIE(1)"].estimate == pytest.approx(psi[1, 1] - psi[1, 0], rel=1e-12)
    assert t["NDE(0)"].estimate == pytest.approx(psi[1, 0] - psi[0, 0], rel=1e-12)


# --------------------------------------------------------------------------- R


R_FRAMING = {  # tests/reference/mediation.R: (estimate, delta-method SE) of total, NDE(0), NIE(1), NDE(1), NIE(0), PM
    ("probit", False): [(0.0967109342, 0.0659186198), (0.0115622243, 0.0594472763), (0.0851487100, 0.0263068280),
                        (0.0125929754, 0.0646080291), (0.0841179589, 0.0263634872), (0.8751165014, 0.5642524537)],
    ("logit", False): [(0.0978774924, 0.0661903898), (0.0129990910, 0.0593599712), (0.0848784013, 0.0262943679),
                       (0.0142759132, 0.0650241497), (0.0836015792, 0.0262935697), (0.8606676389, 0.5500729677)],
    ("logit", True): [(0.0938437480, 0.0662710873), (-0.0062668926, 0.0602460989), (0.1001106406, 0.0334334622),
                      (0.0165181970, 0.0641077623), (0.0773255510, 0.0259895812), (0.9453809941, 0.6153862632)],
}


@pytest.mark.parametrize("link, interaction", list(R_FRAMING))
def test_binary_outcome_against_r_quadrature_and_numderiv(framing, link, interaction):
    data, covariates = framing
    t = mediate(data, "cong_mesg", "treat", "emo", covariates, link=link, interaction=interaction, method="delta")
    for name, (estimate, se) in zip(["total effect", "NDE(0)", "NIE(1)", "NDE(1)", "NIE(0)", "proportion mediated"],
                                    R_FRAMING[link, interaction], strict=True):
        assert t[name].estimate == pytest.approx(estimate, rel=1e-7, abs=1e-10)
        assert t[name].standard_error == pytest.approx(se, rel=2e-6)
        assert t[name].method == "delta" and t[name].n == 265
    assert t.fits["mediator"].params[1] == pytest.approx(1.3386111795, rel=1e-9)
    assert t.fits["mediator"].scale == pytest.approx(6.4099725649, rel=1e-9)  # R's sigma(lm)^2 = SSR / 257


def test_linear_outcome_against_r(framing):
    data, covariates = framing
    bk = baron_kenny(data, "immigr", "treat", "emo", covariates)
    assert [r.estimate for r in bk] == pytest.approx([1.3386111795, 0.1741188300, 0.4175193627, 0.1844419503,
                                                      0.2330774124, 0.2330774124], rel=1e-9)
    assert bk[4].standard_error == pytest.approx(0.0677657607, rel=1e-9)
    t = mediate(data, "immigr", "treat", "emo", covariates, interaction=True, method="delta")
    r = [(0.4201539576, 0.1239580953), (0.2360207605, 0.1224623551), (0.1841331971, 0.0692748842),
         (0.1700157860, 0.1158767812), (0.2501381716, 0.0734239963), (0.5168002833, 0.1704026547)]
    for name, (estimate, se) in zip(ROWS[:5] + ["proportion mediated"], r, strict=True):
        assert t[name].estimate == pytest.approx(estimate, rel=1e-9)
        assert t[name].standard_error == pytest.approx(se, rel=2e-6)


# --------------------------------------------------------------------------- statsmodels' Mediation

# tests/reference/mediation_statsmodels.py: mean over replications and its Monte Carlo SE, with the coefficients
# fixed at their estimates (only the mediators simulated): statsmodels' estimate of the exact natural effects.
SM_FIXED = {
    ("probit", False): {"NIE(0)": (0.084329, 0.000225), "NIE(1)": (0.085358, 0.000227), "NDE(0)": (0.011563, 3e-6),
                        "NDE(1)": (0.012592, 3e-6), "total effect": (0.096921, 0.000226)},
    ("logit", False): {"NIE(0)": (0.083829, 0.000225), "NIE(1)": (0.085104, 0.000228), "NDE(0)": (0.013000, 4e-6),
                       "NDE(1)": (0.014275, 4e-6), "total effect": (0.098104, 0.000226)},
    ("logit", True): {"NIE(0)": (0.077631, 0.000409), "NIE(1)": (0.100508, 0.000533), "NDE(0)": (-0.006322, 8.7e-5),
                      "NDE(1)": (0.016555, 9.8e-5), "total effect": (0.094186, 0.000481)},
}
# statsmodels' default (coefficients drawn too), standard deviation of the replications, against the fixed run's:
# its draws add the mediator-simulation noise of the fixed run to the spread of the exact effects.
SM_SD = {
    "probit": {"NIE(1)": (0.029039, 0.014375), "NDE(0)": (0.058231, 0.000197), "total effect": (0.065633, 0.014288)},
    "logit": {"NIE(1)": (0.028960, 0.014408), "NDE(0)": (0.058088, 0.000245), "total effect": (0.065770, 0.014301)},
}


@pytest.mark.parametrize("link, interaction", list(SM_FIXED))
def test_exact_effects_agree_with_statsmodels_within_its_simulation_error(framing, link, interaction):
    data, covariates = framing
    t = mediate(data, "cong_mesg", "treat", "emo", covariates, link=link, interaction=interaction, method="delta")
    for name, (mean, mcse) in SM_FIXED[link, interaction].items():
        assert abs(t[name].estimate - mean) < 3.5 * mcse + 5e-7, name  # + rounding of the printed mean


@pytest.mark.parametrize("link", ["probit", "logit"])
def test_quasi_bayesian_spread_agrees_with_statsmodels(framing, link):
    data, covariates = framing
    draws = {"probit": 4000, "logit": 1500}[link]  # the logit integrals cost 40 times more
    t = mediate(data, "cong_mesg", "treat", "emo", covariates, link=link, n_draws=draws, rng=7)
    for name, (sd_default, sd_noise) in SM_SD[link].items():
        expected = sd_default**2 - sd_noise**2  # statsmodels: 4000 replications each
        tolerance = 4 * math.hypot(sd_default**2 * math.sqrt(2 / 3999), sd_noise**2 * math.sqrt(2 / 3999),
                                   t[name].standard_error**2 * math.sqrt(2 / (draws - 1)))
        assert abs(t[name].standard_error**2 - expected) < tolerance, name


# --------------------------------------------------------------------------- intervals


def test_percentile_pvalue_inverts_the_interval_exactly():
    rng = np.random.default_rng(0)
    for _ in range(60):
        draws = rng.normal(rng.normal(), 1, size=int(rng.integers(40, 300)))
        null = float(rng.normal(scale=2))
        p = percentile_pvalue(draws, null)
        for alpha in np.linspace(0.01, 0.99, 99):
            low, high = np.percentile(draws, [50 * alpha, 100 - 50 * alpha])
            if p > 1 / (len(draws) + 1):
                assert (not low <= null <= high) == (p < alpha), (p, alpha)
        share = np.mean(draws < null)
        assert p == pytest.approx(max(min(1, 2 * min(share, 1 - share)), 1 / (len(draws) + 1)), abs=2.5 / len(draws))
    assert percentile_pvalue(np.arange(1.0, 101.0), 0.0) == 1 / 101  # null beyond every draw: the floor


def test_bootstrap_is_scipys_percentile_bootstrap():
    d = simulate(60, seed=5, covariate=False)
    t = mediate(d, "y", "z", "m", method="bootstrap", n_resamples=99, rng=11)

    def ab_by_hand(rows):
        (_, a), _, _ = ols(d.m.to_numpy()[rows], d.z.to_numpy()[rows])
        (_, _, b), _, _ = ols(d.y.to_numpy()[rows], d.z.to_numpy()[rows], d.m.to_numpy()[rows])
        return a * b

    reference = stats.bootstrap((np.arange(60),), ab_by_hand, n_resamples=99, vectorized=False,
                                method="percentile", rng=np.random.default_rng(11))
    row = t["NIE(1)"]
    assert row.confidence_interval == pytest.approx(tuple(reference.confidence_interval), rel=1e-9)
    assert row.standard_error == pytest.approx(reference.standard_error, rel=1e-9)
    assert row.method == "bootstrap-percentile" and row.details["n_resamples"] == 99


def test_quasi_bayesian_is_reproducible_and_near_the_delta_method_with_many_units():
    d = simulate(3000, seed=6)
    qb = mediate(d, "y", "z", "m", "x", rng=1)
    assert [r.confidence_interval for r in qb] == [r.confidence_interval for r in mediate(d, "y", "z", "m", "x", rng=1)]
    delta = mediate(d, "y", "z", "m", "x", method="delta")
    for name in ("NIE(1)", "NDE(0)", "total effect"):
        assert qb[name].estimate == delta[name].estimate
        assert qb[name].standard_error == pytest.approx(delta[name].standard_error, rel=0.08)
        assert qb[name].method == "quasi-bayesian" and qb[name].details["n_draws"] == 1000
        low, high = qb[name].confidence_interval
        assert (low > 0 or high < 0) == (qb[name].pvalue < 0.05)


def test_rows_stay_coherent_at_other_levels(framing):
    data, covariates = framing
    for method in ("delta", "quasi-bayesian"):
        t = mediate(data, "immigr", "treat", "emo", covariates, method=method, confidence_level=0.8, rng=2)
        for row in t:
            low, high = row.confidence_interval
            assert row.confidence_level == 0.8
            assert (not low <= 0 <= high) == (row.pvalue < 0.2)


# --------------------------------------------------------------------------- hostile input


def test_results_do_not_depend_on_the_scale_of_the_mediator_or_on_the_index(framing):
    data, covariates = framing
    base = mediate(data, "cong_mesg", "treat", "emo", covariates, link="logit", method="delta")
    shuffled = data.sample(frac=1.0, random_state=3)
    shuffled.index = np.repeat(7, len(data))  # every label the same
    for scaled in (data.assign(emo=data["emo"] * 1e9), data.assign(emo=data["emo"] * 1e-9), shuffled):
        other = mediate(scaled, "cong_mesg", "treat", "emo", covariates, link="logit", method="delta")
        for a, b in zip(base, other, strict=True):
            assert b.estimate == pytest.approx(a.estimate, rel=1e-6)
            assert b.standard_error == pytest.approx(a.standard_error, rel=1e-5)
    huge = mediate(data.assign(immigr=data["immigr"] * 1e12), "immigr", "treat", "emo", covariates, method="delta")
    small = mediate(data, "immigr", "treat", "emo", covariates, method="delta")
    assert huge["NIE(1)"].estimate == pytest.approx(1e12 * small["NIE(1)"].estimate, rel=1e-9)
    assert huge["NIE(1)"].pvalue == pytest.approx(small["NIE(1)"].pvalue, rel=1e-6)


def test_quasi_bayesian_draws_do_not_depend_on_the_units_of_the_outcome(framing):
    # drawn on the correlation scale: at 1e12 numpy's draw from the raw covariance warned that it was not PSD
    data, covariates = framing
    small = mediate(data, "immigr", "treat", "emo", covariates, rng=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = mediate(data.assign(immigr=data["immigr"] * 1e12, emo=data["emo"] * 1e12), "immigr", "treat", "emo",
                       covariates, rng=5)
    for a, b in zip(small, huge, strict=True):
        unit = 1.0 if a.estimand == "proportion mediated" else 1e12
        assert b.estimate == pytest.approx(unit * a.estimate, rel=1e-9)
        assert np.divide(b.confidence_interval, unit) == pytest.approx(a.confidence_interval, rel=1e-7)
        assert b.pvalue == pytest.approx(a.pvalue, rel=1e-9)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"data": {"y": [1]}}, TypeError, "`data` must be a pandas DataFrame"),
    ({"outcome": "nope"}, ValueError, r"`outcome`: column 'nope' is not in `data`"),
    ({"mediator": None}, ValueError, "`mediator` is required"),
    ({"mediator": ["m", "x"]}, TypeError, "`mediator` must be one column name"),
    ({"covariates": ["x", "x"]}, ValueError, "`covariates` lists a column twice"),
    ({"covariates": ["m"]}, ValueError, "`mediator` and `covariates` name the same column 'm'"),
    ({"covariates": np.zeros((4, 1))}, TypeError, "`covariates` must be a column name or a list"),
    ({"link": "log"}, ValueError, r"`link` must be one of \['identity', 'probit', 'logit'\]"),
    ({"method": "sobel"}, ValueError, r"`method` must be one of \['quasi-bayesian', 'bootstrap', 'delta'\]"),
    ({"interaction": "yes"}, TypeError, "`interaction` must be True or False"),
    ({"n_resamples": 500}, ValueError, "`n_resamples` is not used by method='quasi-bayesian'"),
    ({"n_draws": 20}, ValueError, r"`n_draws` must be at least 40 for 95% intervals \(the resampled percentiles"),
    ({"n_draws": 2**26 + 1}, ValueError, r"`n_draws` must be at most 2\*\*26"),  # before: ran for days
    ({"n_draws": 2.5}, TypeError, "`n_draws` must be a positive integer"),
    ({"cde_at": "high"}, TypeError, "`cde_at` must be a mediator value or a list"),
    ({"cde_at": [1.0, np.nan]}, ValueError, "`cde_at` must hold finite mediator values"),
    ({"cde_at": 1e200}, ValueError, r"`cde_at` value 1e\+200 is beyond 1e\+150 in magnitude"),  # was "SE nan"
    ({"confidence_level": 95}, ValueError, r"`confidence_level` must be in \(0, 1\)"),
    ({"rng": "seed"}, TypeError, "`rng` must be None, an integer seed or a numpy Generator"),
])
def test_bad_arguments_are_named(kwargs, error, match):
    d = simulate(50, seed=9)
    args = {"data": d, "outcome": "y", "treatment": "z", "mediator": "m", "covariates": "x", **kwargs}
    with pytest.raises(error, match=match):
        mediate(**args)


def test_bad_data_is_refused_with_the_column_named():
    d = simulate(50, seed=9)
    cases = [
        (d.assign(z=d.z * 2), ValueError, r"`treatment` must be binary \(0/1\), found values \[2.0\]"),
        (d.assign(z=np.r_[1, np.zeros(49)]), ValueError, "`treatment` needs at least 2 units in each arm, got 1 "
                                                          "treated"),
        (d.assign(m=3.0), ValueError, r"`mediator` is constant \(3 for every unit\)"),
        (d.assign(m=1 + 2.0 * d.z), ValueError, r"`mediator` 'm' is a linear function of the intercept, `treatment` "
                                                 r"'z'"),
        (d.assign(m=d.z + d.x), ValueError, r"`mediator` 'm' is a linear function of .* \(perfectly collinear\)"),
        (d.assign(x=d.z * 1.0), ValueError, r"mediator model's design is rank-deficient: covariate 'x'"),
        (d.assign(y=np.r_[np.nan, d.y[1:]]), ValueError, r"`outcome` must be finite, found 1 missing \(NaN\)"),
        (d.assign(x=pd.Categorical(np.where(d.x > 0, "a", "b"))), TypeError,
         "`covariates`: column 'x' must be numeric"),
        (d.assign(y=d.y.astype(str)), TypeError, "`outcome` must be numeric"),
        (d.iloc[:5], ValueError, "the outcome model has 4 coefficients but only 5 units|at least 2 units in each arm"),
    ]
    for data, error, match in cases:
        with pytest.raises(error, match=match):
            mediate(data, "y", "z", "m", "x")
    twice = pd.concat([d, d[["x"]]], axis=1)
    with pytest.raises(ValueError, match="`covariates`: `data` has several columns named 'x'"):
        mediate(twice, "y", "z", "m", "x")


def test_binary_outcome_problems_are_refused():
    d = simulate(60, seed=4, binary=True)
    with pytest.raises(ValueError, match=r"`outcome` must be binary \(0/1\)"):
        mediate(d.assign(y=d.y * 3), "y", "z", "m", link="probit")
    with pytest.raises(ValueError, match="`outcome` is 0 for every unit"):
        mediate(d.assign(y=0), "y", "z", "m", link="logit")
    separated = d.assign(y=(d.m > d.m.median()).astype(int))
    with pytest.raises(ValueError, match="`outcome` is perfectly predicted .* \\(separation\\)"):
        mediate(separated, "y", "z", "m", link="logit")
    quasi = d.assign(g=np.r_[np.ones(10), np.zeros(50)], y=np.r_[np.ones(10, dtype=int), d.y[10:]])
    with pytest.warns(UserWarning, match=r"gives 10 unit\(s\) a probability of 0 or 1 \(quasi-separation\)"):
        limit = mediate(quasi, "y", "z", "m", "g", link="logit", method="delta")
    fit = limit.fits["outcome"]
    assert fit.params[3] > 20 and fit.bse[3] > 1e4  # g's coefficient on its way to infinity
    assert fit.fittedvalues[:10].min() > 1 - 1e-12 and math.isfinite(limit["NIE(1)"].standard_error)
    with pytest.warns(UserWarning, match=r"the probit outcome model gives 10 unit\(s\) a probability of 0 or 1"):
        mediate(quasi, "y", "z", "m", "g", link="probit", method="delta")
    # here logit's IRLS creeps towards infinity too slowly: refused (whether IRLS stops within 200 iterations at a
    # quasi-separation depends on rounding: with seed 0, probit's did before the design was scaled by powers of 2)
    rng = np.random.default_rng(1)
    z, x = rng.integers(0, 2, 200), rng.normal(size=200)
    m = z + rng.normal(size=200)
    creeping = pd.DataFrame({"y": (0.5 * z + 0.8 * m + rng.normal(size=200) > 0).astype(int), "z": z, "m": m, "x": x,
                             "g": np.r_[np.ones(20), np.zeros(180)]})
    creeping.loc[:19, "y"] = 1
    with pytest.raises(ValueError, match="the logit outcome model did not converge in 200 IRLS iterations; check "
                                         "`outcome` for quasi-separation"):
        mediate(creeping, "y", "z", "m", ["x", "g"], link="logit", method="delta")


def test_bootstrap_with_too_few_treated_units_says_so():
    d = simulate(100, seed=8)
    d["z"] = np.r_[1, 1, np.zeros(98, dtype=int)]
    with pytest.warns(SmallSampleWarning, match="treated: 2 effective units"), pytest.raises(
            ValueError, match=r"of 200 bootstrap resamples could not be analysed \(first: a resample "
                              r"holds units of one treatment arm only\)"):
        mediate(d, "y", "z", "m", method="bootstrap", n_resamples=200, rng=0)
    with pytest.warns(SmallSampleWarning, match="treated: 2 effective units"):
        assert mediate(d, "y", "z", "m", method="delta")["NIE(1)"].standard_error > 0  # the others still run


# --------------------------------------------------------------------------- the result type and its plot


def _lab_rows():
    """A table as the laboratory builds it: several heads, total / direct / indirect / self-repair rows."""
    rows = []
    for head, (total, direct) in {"ablate:L0H0:zero": (-0.7, -0.01), "ablate:L1H0:zero": (-0.95, -0.9)}.items():
        for name, value, part in (("total", total, "total"), ("direct", direct, "direct"),
                                  ("indirect", total - direct, "indirect"), ("self-repair", direct - total,
                                                                               "self-repair")):
            rows.append(normal_estimate(f"{head} {name}", value, 0.02, confidence_level=0.95, method="paired-t",
                                        n=200, details={"component": part, "treatment": head}))
    return rows


def test_decomposition_finds_rows_by_estimand_and_checks_them():
    table = Decomposition(_lab_rows(), "two heads")
    assert table["ablate:L1H0:zero direct"].estimate == -0.9
    assert table.components() == ["total", "direct", "indirect", "self-repair"]
    assert isinstance(table[1:3], type(table).__mro__[1]) and len(table[1:3]) == 2
    assert repr(table) == "Decomposition(8 estimates: two heads)"
    with pytest.raises(KeyError, match="no row with estimand 'NIE'"):
        table["NIE"]
    with pytest.raises(ValueError, match="has component 'mediated'; use one of"):
        Decomposition([normal_estimate("x", 1.0, 0.1, confidence_level=0.95, method="wald", n=3,
                                       details={"component": "mediated"})])
    with pytest.raises(TypeError, match="`fits` must be a mapping"):
        Decomposition(_lab_rows(), fits=[1])
    with pytest.raises(TypeError):
        table.fits["x"] = 1  # read-only


def test_decomposition_plot_serves_both_halves(framing):
    data, covariates = framing
    classic = mediate(data, "cong_mesg", "treat", "emo", covariates, link="probit", method="delta", cde_at=7)
    fig = classic.plot()
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [*ROWS[:7], "CDE(m=7)"]  # the proportion mediated (another scale) left out
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["total", "direct", "indirect", "controlled direct"]
    assert "95% CI" in ax.get_xlabel()
    heads = plot_decomposition(Decomposition(_lab_rows()), components=["total", "direct", "self-repair"])
    assert isinstance(heads, Figure)
    texts = [t.get_text() for t in heads.axes[0].texts]
    assert "ablate:L0H0:zero" in texts and "ablate:L1H0:zero" in texts  # one labelled group per head
    assert len(heads.axes[0].get_yticklabels()) == 6
    with pytest.raises(ValueError, match="`table` has no row to draw of the components"):
        plot_decomposition(classic, components=["path"])
    with pytest.raises(TypeError, match="`table` must be an EstimateTable"):
        plot_decomposition(list(classic))


def _linear_data(n=200):
    rng = np.random.default_rng(1)
    z = rng.integers(0, 2, n)
    m = 0.5 + 0.8 * z + rng.normal(size=n)
    return pd.DataFrame({"y": m + z + rng.normal(size=n), "z": z, "m": m, "x": rng.normal(size=n)})


@pytest.mark.parametrize("function", ["mediate", "baron_kenny", "mediation_sensitivity"])
def test_a_constant_or_exactly_fitted_outcome_is_refused(function):
    # a constant outcome gave baron_kenny's c p = 0.0005 and ab p = 5e-7 (rounding noise over rounding noise) and
    # mediate's proportion mediated 0.333 (= -1.1e-16 / -3.3e-16); an outcome the treatment, mediator and
    # covariates fit exactly gave standard errors of 1e-16 with p < 1e-300, and a flat sensitivity curve
    import causalattn

    run = getattr(causalattn, function)
    data = _linear_data()
    with pytest.raises(ValueError, match=r"`outcome` is constant \(1 for every unit\): there is no effect"):
        run(data.assign(y=1.0), "y", "z", "m", ["x"])
    with pytest.raises(ValueError, match=r"`outcome` 'y' is fitted exactly by the treatment, mediator and "
                                         r"covariates \(its residuals are rounding noise\)"):
        run(data.assign(y=2 * data["m"] + data["z"] - data["x"]), "y", "z", "m", ["x"])


def test_a_binary_mediator_needs_the_linear_outcome_model():
    # the probit formula integrates over a normal mediator: with a binary one mediate reported NIE(1) 0.333
    # [0.323, 0.342] for a true 0.398 (n = 20,000), silently. The truth, with the mediator's own probit model:
    # psi(z, z*) = mean_i {P(M = 1 | z*, x_i) Phi(b(z, 1, x_i)) + P(M = 0 | z*, x_i) Phi(b(z, 0, x_i))}
    rng = np.random.default_rng(0)
    n = 20_000
    x, z = rng.normal(size=n), rng.integers(0, 2, n)
    m = (rng.uniform(size=n) < stats.norm.cdf(-1 + 2 * z + 0.5 * x)).astype(float)
    y = (rng.uniform(size=n) < stats.norm.cdf(-1 + 0.3 * z + 2 * m + 0.4 * x)).astype(int)
    data = pd.DataFrame({"y": y, "z": z, "m": m, "x": x})
    for link in ("probit", "logit"):
        with pytest.raises(ValueError, match=rf"`mediator` 'm' takes two values, but with link='{link}'"):
            mediate(data, "y", "z", "m", ["x"], link=link)

    def psi(zz, zs):
        p1 = stats.norm.cdf(-1 + 2 * zs + 0.5 * x)
        return np.mean(p1 * stats.norm.cdf(-1 + 0.3 * zz + 2 + 0.4 * x) + (1 - p1) * stats.norm.cdf(-1 + 0.3 * zz
                                                                                                     + 0.4 * x))

    linear = mediate(data, "y", "z", "m", ["x"], method="delta")  # the linear probability model: only E[M] enters
    low, high = linear["NIE(1)"].confidence_interval
    assert low < psi(1, 1) - psi(1, 0) < high


def test_few_units_per_arm_warn_and_say_so():
    # 10 units per arm got large-sample intervals without a word (the delta NIE interval covers 0.885 at 15 per arm)
    import causalattn

    rng = np.random.default_rng(0)
    data = pd.DataFrame({"z": np.tile([0, 1], 10), "m": rng.normal(size=20), "y": rng.normal(size=20)})
    for name in ("mediate", "baron_kenny", "mediation_sensitivity"):
        with pytest.warns(SmallSampleWarning, match=r"treated: 10 effective units; control: 10 effective units"):
            result = getattr(causalattn, name)(data, "y", "z", "m")
        rows = result.estimates if name == "mediation_sensitivity" else result
        assert rows[-1].details["asymptotics"].endswith("(smallest here: treated, 10)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallSampleWarning)
        mediate(pd.concat([data] * 2, ignore_index=True), "y", "z", "m", method="delta")  # 20 per arm: no warning
