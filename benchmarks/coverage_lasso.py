"""The lasso laws of ``benchmarks/coverage.py --only lasso``: data, truths, one cell.

*Double selection* (``causalattn.observational.double_selection``, Belloni, Chernozhukov and Hansen 2014): n
units, p candidate covariates X ~ N(0, S) with S_jk = 0.5^|j - k|, a continuous treatment D = X g + v and the
partially linear outcome Y = 1 D + X b + e, v, e ~ N(0, 1), with sparse confounding:
g = (1, 0.5, 0, 0, 0.5, 0, ...) and b = (0.2, 0.5, 1, 0.5, 0, 0, ...). X0 confounds strongly through D and
weakly through Y (the covariate an outcome-only selection tends to drop), X1 through both, X2 and X3 predict Y
only, X4 D only; the other p - 5 are noise. The effect of D is 1. ``double_selection`` is scored with its default
plug-in penalty (:func:`lasso_plugin_cell`), with 5-fold cross-validation (``alpha="cv"``) and with fixed
penalties, and the same data sets score *single selection*: the covariates kept by one cross-validated lasso of Y
on (D, X) with D unpenalized (D partialled out), then the same OLS with HC2: the procedure whose failure double
selection repairs.

*Lasso-adjusted ATE* (``causalattn.lasso_ate``, Bloniarz et al. 2016) in a completely randomized experiment:
the same X, n / 2 units treated at random, Y(0) = X b + e and Y(1) = Y(0) + 1 + X h with h = (0.5, 0, 0, -0.5,
0, ...) (an effect that varies with X0 and X3). Its interval is scored against the sample average effect
1 + mean(X h) of each data set (the estimand its randomization-based justification is about; conservative
there, as the variance leaves out the covariance of the potential outcomes) and against the population's, 1;
with its default cross-validated penalty and with ``alpha="plugin"``.

Each method's row has its coverage, median width, bias, mean number of covariates selected and ``se_over_sd``:
the mean standard error over the standard deviation of the estimates across data sets (below 1: the standard
error is too small).
"""

from __future__ import annotations

import numpy as np
import statsmodels.api as sm
from scipy.stats import norm
from sklearn.linear_model import LassoCV

from causalattn import lasso_ate
from causalattn.observational import double_selection

LASSO_SIZES = (200, 500)
LASSO_DIMENSIONS = (50, 100)
LASSO_FIXED_ALPHAS = (0.1, 0.3)  # double selection with a fixed penalty on the same data sets (0.3: near Belloni's)
_G = (1.0, 0.5, 0.0, 0.0, 0.5)  # D on X: X0 strongly, X1 and X4 moderately
_B = (0.2, 0.5, 1.0, 0.5, 0.0)  # Y on X: X0 weakly
_H = (0.5, 0.0, 0.0, -0.5, 0.0)  # the effect's variation with X in the experiment


def _covariates(n: int, p: int, rng: np.random.Generator) -> np.ndarray:
    """n rows of X ~ N(0, S), S_jk = 0.5^|j - k|, as an AR(1) along the columns (exact: X_j = 0.5 X_{j-1} + ...)."""
    x = rng.standard_normal((n, p))
    for j in range(1, p):
        x[:, j] = 0.5 * x[:, j - 1] + np.sqrt(0.75) * x[:, j]
    return x


def _sparse(values: tuple[float, ...], p: int) -> np.ndarray:
    return np.r_[values, np.zeros(p - len(values))]


def single_selection(y: np.ndarray, d: np.ndarray, x: np.ndarray) -> tuple[float, float, float]:
    """OLS (HC2) of Y on D and the covariates one cross-validated lasso of Y on (D, X) keeps, D left unpenalized.

    With D unpenalized its coefficient is the OLS one given the others, so the lasso is that of Y on the
    standardized X, both with D and the intercept partialled out (Frisch-Waugh-Lovell).
    """
    dc = d - d.mean()

    def partial_out(v: np.ndarray) -> np.ndarray:  # v (n,) or (n, p), centred and without its projection on D
        centred = v - v.mean(0)
        return centred - np.multiply.outer(dc, dc @ centred) / (dc @ dc)

    kept = np.flatnonzero(LassoCV(cv=5).fit(partial_out((x - x.mean(0)) / x.std(0)), partial_out(y)).coef_)
    fit = sm.OLS(y, sm.add_constant(np.column_stack([d, x[:, kept]]))).fit(cov_type="HC2")
    low, high = fit.conf_int(alpha=0.05)[1]
    return float(fit.params[1]), float(low), float(high)


def _draws(n: int, p: int, sims: int, seed: int):
    """The ``sims`` data sets of a cell: X, D, Y of the observational law, and the experiment's Z and Y(0)."""
    rng = np.random.default_rng([seed, 23, n, p])
    g, b = _sparse(_G, p), _sparse(_B, p)
    for _ in range(sims):
        x = _covariates(n, p, rng)
        d = x @ g + rng.standard_normal(n)
        y = d + x @ b + rng.standard_normal(n)
        z = rng.permutation(np.repeat([1, 0], [n // 2, n - n // 2]))
        yield x, d, y, z, x @ b + rng.standard_normal(n)


def _score(found: dict, name: str, estimate: float, low: float, high: float, truth: float, selected: float) -> None:
    f = found.setdefault(name, {"covered": [], "width": [], "estimate": [], "selected": []})
    f["covered"].append(low <= truth <= high)
    f["width"].append(high - low)
    f["estimate"].append(estimate - truth)
    f["selected"].append(selected)


def _summary(found: dict, n: int, p: int, sims: int) -> list[dict]:
    """Per method: coverage, median width, bias, mean number of covariates selected, mean SE over the SD."""
    z = 2 * float(norm.isf(0.025))  # a 95% normal interval is 2 z SE wide
    return [{"design": "lasso", "n": n, "p": p, "method": name, "sims": sims,
             "coverage": float(np.mean(f["covered"])), "median_width": float(np.median(f["width"])),
             "bias": float(np.mean(f["estimate"])), "mean_selected": float(np.mean(f["selected"])),
             "se_over_sd": float(np.mean(f["width"]) / z / np.std(f["estimate"], ddof=1))}
            for name, f in found.items()]


def lasso_fixed_cell(n: int, p: int, sims: int, seed: int) -> list[dict]:
    """Double selection with each penalty of :data:`LASSO_FIXED_ALPHAS`, on the data sets of :func:`lasso_cell`."""
    found: dict = {}
    for x, d, y, _, _ in _draws(n, p, sims, seed):
        for alpha in LASSO_FIXED_ALPHAS:
            est = double_selection(outcome=y, treatment=d, covariates=x, alpha=alpha)
            _score(found, f"double selection, alpha = {alpha:g}", est.estimate, *est.confidence_interval, 1.0,
                   len(est.details["selected"]))
    return _summary(found, n, p, sims)


def _score_lasso_ate(found: dict, name: str, x, z, y0, alpha: str) -> None:
    """``lasso_ate`` with penalty ``alpha`` on the experiment, against the sample and the population ATE."""
    effect = 1.0 + x @ _sparse(_H, x.shape[1])
    ate = lasso_ate(outcome=np.where(z == 1, y0 + effect, y0), treatment=z, covariates=x, alpha=alpha)
    selected = ate.details["df_treated"] + ate.details["df_control"]
    _score(found, f"{name} (sample ATE)", ate.estimate, *ate.confidence_interval, float(effect.mean()), selected)
    _score(found, f"{name} (population ATE)", ate.estimate, *ate.confidence_interval, 1.0, selected)


def lasso_plugin_cell(n: int, p: int, sims: int, seed: int) -> list[dict]:
    """The plug-in penalty: ``double_selection`` (its default) and ``lasso_ate(alpha="plugin")``."""
    found: dict = {}
    for x, d, y, z, y0 in _draws(n, p, sims, seed):
        est = double_selection(outcome=y, treatment=d, covariates=x)
        _score(found, "double selection (plugin)", est.estimate, *est.confidence_interval, 1.0,
               len(est.details["selected"]))
        _score_lasso_ate(found, "lasso_ate plugin", x, z, y0, "plugin")
    return _summary(found, n, p, sims)


def lasso_cell(n: int, p: int, sims: int, seed: int) -> list[dict]:
    """Cross-validated penalties: ``double_selection(alpha="cv")``, single selection, ``lasso_ate`` (its default)."""
    found: dict = {}
    for x, d, y, z, y0 in _draws(n, p, sims, seed):
        est = double_selection(outcome=y, treatment=d, covariates=x, alpha="cv")
        _score(found, "double selection (cv)", est.estimate, *est.confidence_interval, 1.0,
               len(est.details["selected"]))
        _score(found, "single selection", *single_selection(y, d, x), 1.0, np.nan)
        _score_lasso_ate(found, "lasso_ate cv", x, z, y0, "cv")
    return _summary(found, n, p, sims)
