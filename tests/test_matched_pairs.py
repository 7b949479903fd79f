import numpy as np
import pytest
import statsmodels.api as sm

from causalattn import frt, matched_pairs_adjusted
from causalattn.experiments.designs import MPE

# six pairs, units listed pair by pair; the treated unit is first in pairs 0, 2, 3
Y = np.array([7.0, 5.0, 6.0, 6.5, 9.0, 6.0, 4.0, 3.5, 8.0, 6.0, 5.5, 2.0])
Z = np.array([1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 0, 1])
X = np.array([2.0, 1.0, 3.0, 3.5, 4.0, 2.0, 1.0, 1.5, 5.0, 4.0, 2.5, 0.5])
PAIRS = np.repeat(np.arange(6), 2)


def hand_differences(y, z, x):
    """Treated minus control outcome and covariate differences, pair by pair."""
    d, dx = [], []
    for i in range(6):
        t, c = (2 * i, 2 * i + 1) if z[2 * i] == 1 else (2 * i + 1, 2 * i)
        d.append(y[t] - y[c])
        dx.append(x[t] - x[c])
    return np.array(d), np.array(dx)


def test_estimate_and_hc2_standard_error_by_hand():
    d, dx = hand_differences(Y, Z, X)
    design = np.column_stack([np.ones(6), dx])
    coef = np.linalg.solve(design.T @ design, design.T @ d)
    residuals = d - design @ coef
    bread = np.linalg.inv(design.T @ design)
    leverage = np.einsum("ij,jk,ik->i", design, bread, design)
    meat = design.T @ (design * (residuals**2 / (1 - leverage))[:, None])
    se_hc2 = np.sqrt((bread @ meat @ bread)[0, 0])
    est = matched_pairs_adjusted(Y, Z, pairs=PAIRS, covariates=X)
    assert est.estimate == pytest.approx(coef[0], rel=1e-12)
    # tau_adj = mean(d) - gamma * mean(dx) (Ding ch. 7)
    assert est.estimate == pytest.approx(d.mean() - coef[1] * dx.mean(), rel=1e-12)
    assert est.standard_error == pytest.approx(se_hc2, rel=1e-10)
    assert est.details["unadjusted"] == pytest.approx(d.mean())
    assert est.method == "pair-regression-HC2" and est.details["n_pairs"] == 6
    hc0 = matched_pairs_adjusted(Y, Z, pairs=PAIRS, covariates=X, cov_type="HC0")
    assert hc0.standard_error == pytest.approx(sm.OLS(d, design).fit(cov_type="HC0").bse[0], rel=1e-10)


def test_frt_of_the_adjusted_estimator_matches_hand_enumeration():
    d, dx = hand_differences(Y, Z, X)
    observed = np.linalg.lstsq(np.column_stack([np.ones(6), dx]), d, rcond=None)[0][0]
    values = []
    for code in range(2**6):
        signs = 1 - 2 * ((code >> np.arange(6)) & 1)  # flipping a pair flips both differences
        values.append(np.linalg.lstsq(np.column_stack([np.ones(6), signs * dx]), signs * d, rcond=None)[0][0])
    values = np.array(values)
    res = frt(Y, Z, design=MPE(PAIRS), statistic="adjusted", covariates=X, alternative="greater")
    assert res.method == "frt-exact" and res.details["n_resamples"] == 64
    assert res.estimate == pytest.approx(observed) and res.details["statistic"] == pytest.approx(observed)
    assert res.estimand == "covariate-adjusted paired difference in means"
    np.testing.assert_allclose(np.sort(res.details["null_distribution"]), np.sort(values), atol=1e-12)
    assert res.pvalue == pytest.approx(np.mean(values >= observed - 1e-12))
    shifted = frt(Y, Z, design=MPE(PAIRS), statistic="adjusted", covariates=X, null_effect=0.5)
    assert shifted.details["statistic"] == pytest.approx(observed - 0.5)


def test_bad_input():
    with pytest.raises(ValueError, match="`covariates`: the 1 covariate difference"):
        matched_pairs_adjusted(Y[:4], Z[:4], pairs=PAIRS[:4], covariates=X[:4])
    with pytest.raises(ValueError, match="`covariates` must have one row per unit"):
        matched_pairs_adjusted(Y, Z, pairs=PAIRS, covariates=X[:5])
    with pytest.raises(TypeError, match="`covariates` must be numeric"):
        matched_pairs_adjusted(Y, Z, pairs=PAIRS, covariates=["a"] * 12)
    with pytest.raises(ValueError, match="`cov_type` must be one of"):
        matched_pairs_adjusted(Y, Z, pairs=PAIRS, covariates=X, cov_type="cluster")
    with pytest.raises(ValueError, match="`pairs`: need at least 1 control"):
        matched_pairs_adjusted(Y, np.r_[1, 1, Z[2:]], pairs=PAIRS, covariates=X)
    with pytest.raises(ValueError, match="`statistic`='adjusted' needs a matched-pairs design"):
        frt(Y, Z, statistic="adjusted", covariates=X)
    with pytest.raises(ValueError, match="`covariates` is required with statistic='adjusted'"):
        frt(Y, Z, design=MPE(PAIRS), statistic="adjusted")
    with pytest.raises(ValueError, match=r"`covariates` \(adjustment covariates\) are only used with "
                                         r"statistic='adjusted'; the covariates balanced by a rerandomization "
                                         r"belong to its design, ReM\(covariates, threshold\)"):
        frt(Y, Z, design=MPE(PAIRS), covariates=X)
