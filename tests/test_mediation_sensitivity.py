"""The Imai-Keele-Yamamoto sensitivity analysis against its formulas written out and a simulation with a known rho."""

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from causalattn import MediationSensitivity, baron_kenny, datasets, mediation_sensitivity


def residuals(target, *columns):
    design = np.column_stack([np.ones(len(target)), *columns])
    return target - design @ np.linalg.lstsq(design, target, rcond=None)[0]


@pytest.fixture(scope="module")
def framing():
    return datasets.load("framing"), ["age", "income"]


def test_curve_is_imai_keele_yamamoto_theorem_2_by_hand(framing):
    data, covariates = framing
    result = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=[-0.6, -0.2, 0.0, 0.3, 0.7])
    y, m, z = (data[c].to_numpy(float) for c in ("immigr", "emo", "treat"))
    x = data[covariates].to_numpy(float)
    e1, e2 = residuals(y, z, x), residuals(m, z, x)  # Y and M on (Z, X)
    rho_tilde = e1 @ e2 / math.sqrt((e1 @ e1) * (e2 @ e2))
    alpha = np.linalg.lstsq(np.column_stack([np.ones(len(z)), z, x]), m, rcond=None)[0][1]
    sigma1, sigma2 = math.sqrt(e1 @ e1), math.sqrt(e2 @ e2)  # a common divisor cancels
    for rho, row in zip(result.rho, result.estimates, strict=True):
        expected = alpha * sigma1 / sigma2 * (rho_tilde - rho * math.sqrt((1 - rho_tilde**2) / (1 - rho**2)))
        assert row.estimate == pytest.approx(expected, rel=1e-10, abs=1e-14)
        assert row.details["rho"] == rho and row.estimand == f"ACME(rho={rho:g})"
    assert result.rho_at_zero == pytest.approx(rho_tilde, rel=1e-12)
    zero = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=result.rho_at_zero)
    assert zero.estimates[0].estimate == pytest.approx(0, abs=1e-12)
    r2_m = 1 - (e2 @ e2) / np.sum((m - m.mean()) ** 2)
    r2_y = 1 - residuals(y, z, m, x) @ residuals(y, z, m, x) / np.sum((y - y.mean()) ** 2)
    assert (result.r2_mediator, result.r2_outcome) == pytest.approx((r2_m, r2_y), rel=1e-10)
    assert result.r2_star_product == pytest.approx(rho_tilde**2, rel=1e-12)
    assert result.r2_tilde_product == pytest.approx(rho_tilde**2 * (1 - r2_m) * (1 - r2_y), rel=1e-10)


def test_at_rho_zero_it_is_baron_kenny_with_sobel(framing):
    data, covariates = framing
    bk = baron_kenny(data, "immigr", "treat", "emo", covariates)
    result = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=0.0)
    row = result.estimates[0]
    assert row.estimate == pytest.approx(bk[4].estimate, rel=1e-12) == result.acme_at_zero_rho
    assert row.standard_error == pytest.approx(bk[4].standard_error, rel=1e-12)
    assert row.confidence_interval == pytest.approx(tuple(bk[4].confidence_interval), rel=1e-12)


def test_delta_variance_by_hand(framing):
    data, covariates = framing
    bk = baron_kenny(data, "immigr", "treat", "emo", covariates)
    a, b = bk[0], bk[1]
    y, m, z = (data[c].to_numpy(float) for c in ("immigr", "emo", "treat"))
    x = data[covariates].to_numpy(float)
    e3, e2 = residuals(y, z, m, x), residuals(m, z, x)
    ratio = math.sqrt((e3 @ e3) / (e2 @ e2))
    rho = 0.45
    shrink = rho / math.sqrt(1 - rho**2) * ratio
    var = ((b.estimate - shrink) ** 2 * a.standard_error**2 + a.estimate**2 * b.standard_error**2
           + (a.estimate * shrink) ** 2 * (1 / (2 * a.details["df"]) + 1 / (2 * b.details["df"])))
    row = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=rho).estimates[0]
    assert row.estimate == pytest.approx(a.estimate * (b.estimate - shrink), rel=1e-10)
    assert row.standard_error == pytest.approx(math.sqrt(var), rel=1e-10)


def test_recovers_the_acme_when_the_true_rho_is_given():
    # an unmeasured U moves both M and Y: errors with sigma_2 = sigma_3 = 1 and corr(e_M, e_Y) = 0.5 * 0.6 = 0.3
    rng = np.random.default_rng(4)
    n = 200_000
    z = rng.integers(0, 2, n)
    u = rng.normal(size=n)
    m = 1.0 * z + 0.5 * u + math.sqrt(0.75) * rng.normal(size=n)
    y = 0.2 * z + 0.4 * m + 0.6 * u + 0.8 * rng.normal(size=n)
    data = pd.DataFrame({"y": y, "z": z, "m": m})
    result = mediation_sensitivity(data, "y", "z", "m", rho=[0.0, 0.3])
    naive, corrected = result.estimates
    assert naive.estimate == pytest.approx(1.0 * (0.4 + 0.3 * 1 / 1), abs=0.01)  # gamma biased by rho sigma_3/sigma_2
    assert corrected.estimate == pytest.approx(0.4, abs=0.01)
    assert corrected.confidence_interval.low < 0.4 < corrected.confidence_interval.high


def test_bootstrap_band_and_validation(framing):
    data, covariates = framing
    boot = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=[0.0, 0.5], method="bootstrap",
                                 n_resamples=200, rng=3)
    again = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=[0.0, 0.5], method="bootstrap",
                                  n_resamples=200, rng=3)
    delta = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, rho=[0.0, 0.5])
    for b, a, d in zip(boot.estimates, again.estimates, delta.estimates, strict=True):
        assert b.confidence_interval == a.confidence_interval and b.method == "bootstrap-percentile"
        assert b.estimate == d.estimate
        assert b.standard_error == pytest.approx(d.standard_error, rel=0.3)
        low, high = b.confidence_interval
        assert (not low <= 0 <= high) == (b.pvalue < 0.05)
    bad = [({"rho": [0.2, 1.0]}, ValueError, r"`rho` must be strictly between -1 and 1, got \[1.\]"),
           ({"rho": "high"}, TypeError, "`rho` must be numeric"),
           ({"method": "quasi-bayesian"}, ValueError, r"`method` must be one of \['delta', 'bootstrap'\]"),
           ({"n_resamples": 100}, ValueError, "`n_resamples` is not used by method='delta'"),
           ({"method": "bootstrap", "n_resamples": 10}, ValueError, "`n_resamples` must be at least 40"),
           ({"method": "bootstrap", "n_resamples": 2**26 + 1}, ValueError, r"`n_resamples` must be at most 2\*\*26"),
           ({"covariates": ["age", "emo"]}, ValueError, "`mediator` and `covariates` name the same column")]
    for kwargs, error, match in bad:
        with pytest.raises(error, match=match):
            mediation_sensitivity(data, "immigr", "treat", "emo", **{"covariates": covariates, **kwargs})


def test_result_prints_exports_and_plots(framing):
    data, covariates = framing
    result = mediation_sensitivity(data, "immigr", "treat", "emo", covariates)
    assert isinstance(result, MediationSensitivity) and len(result.rho) == 37 and result.rho[0] == -0.9
    assert "\n" not in repr(result) and repr(result).startswith("MediationSensitivity(ACME = 0.2")
    frame = result.to_frame()
    assert list(frame.columns[:3]) == ["rho", "estimand", "estimate"] and len(frame) == 37
    fig = result.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlim() == (-1, 1)
    assert any(f"{result.rho_at_zero:.3f}" in t.get_text() for t in ax.get_legend().get_texts())
