r"""Mendelian randomization from summary statistics: Wald ratios, IVW, MR-Egger, the weighted median, Cochran's Q.

Genetic variants (SNPs) :math:`G_j`, :math:`j = 1, \dots, K`, serve as
instruments for an exposure :math:`X` and its effect :math:`\theta` on an
outcome :math:`Y`. Each variant contributes its estimated association with the
exposure, :math:`\hat\beta_{Xj}` (standard error :math:`\sigma_{Xj}`), and with
the outcome, :math:`\hat\beta_{Yj}` (:math:`\sigma_{Yj}`), usually from two
genome-wide association studies of different people (two-sample MR). A valid
instrument has :math:`\beta_{Yj} = \theta\beta_{Xj}`; a pleiotropic one
:math:`\beta_{Yj} = \alpha_j + \theta\beta_{Xj}` with a direct effect
:math:`\alpha_j \ne 0`.

* **Wald ratio** of a variant, :math:`\hat\theta_j = \hat\beta_{Yj}/\hat\beta_{Xj}`, with the
  first-order delta standard error :math:`\sigma_{Yj}/|\hat\beta_{Xj}|` or the second-order
  :math:`\sqrt{\sigma_{Yj}^2/\hat\beta_{Xj}^2 + \hat\beta_{Yj}^2\sigma_{Xj}^2/\hat\beta_{Xj}^4}`.
* **IVW** (inverse-variance weighted): the weighted regression of :math:`\hat\beta_{Yj}` on
  :math:`\hat\beta_{Xj}` through the origin with weights :math:`\sigma_{Yj}^{-2}`,
  :math:`\hat\theta = \sum_j \hat\beta_{Xj}\hat\beta_{Yj}\sigma_{Yj}^{-2} / \sum_j \hat\beta_{Xj}^2\sigma_{Yj}^{-2}`
  (the inverse-variance meta-analysis of the first-order Wald ratios). Fixed effect:
  :math:`se = (\sum_j \hat\beta_{Xj}^2\sigma_{Yj}^{-2})^{-1/2}`; multiplicative random effects:
  that times :math:`\max(1, \hat\phi)`, :math:`\hat\phi^2 = Q/(K-1)` the residual scale.
  Valid when every variant is, or when pleiotropy is balanced (mean zero).
* **MR-Egger**: the same regression with an intercept, after orienting every variant so that
  :math:`\hat\beta_{Xj} > 0`; the intercept estimates the mean pleiotropic effect (its test is
  the test of directional pleiotropy) and the slope :math:`\theta` under InSIDE (pleiotropy
  independent of instrument strength). Random effects as for IVW, with :math:`K - 2` residual
  degrees of freedom. :math:`I^2_{GX}` (Bowden et al. 2016b) measures how far the NOME
  assumption (no measurement error in :math:`\hat\beta_X`) holds: below 0.9, Egger's slope
  is diluted towards zero.
* **Weighted median** (Bowden et al. 2016a): the median of the Wald ratios with weights
  :math:`w_j = \hat\beta_{Xj}^2/\sigma_{Yj}^2`, interpolated between the ordered ratios at
  the cumulative weights :math:`p_j = (\sum_{k\le j} w_k - w_j/2)/\sum_k w_k`; consistent if
  variants with at least half the weight are valid. Its standard error is the standard
  deviation of the estimate over a parametric bootstrap, :math:`\hat\beta_{Xj}^* \sim N(\hat\beta_{Xj},
  \sigma_{Xj}^2)`, :math:`\hat\beta_{Yj}^* \sim N(\hat\beta_{Yj}, \sigma_{Yj}^2)` (weights held fixed).
* **Cochran's Q**, :math:`Q = \sum_j (\hat\beta_{Yj} - \hat\theta_{IVW}\hat\beta_{Xj})^2/\sigma_{Yj}^2`
  on :math:`K - 1` degrees of freedom: heterogeneity of the Wald ratios, a sign of pleiotropy.

**Intervals.** IVW with random effects and MR-Egger estimate the residual scale from the
:math:`K` variants, so by default their intervals and p-values are Student-t on :math:`K-1`
and :math:`K-2` degrees of freedom (the weighted-regression theory; ``distribution="t"``,
``details["df"]``); ``distribution="normal"`` gives the normal ones, which the R package
MendelianRandomization prints by default. The fixed-effect IVW takes the scale as known
(normal). The Wald ratios and the weighted median are normal (delta method, bootstrap SE);
``details["distribution"]`` says which.

From individual-level data (genotypes, exposure and outcome of the same people),
:meth:`MendelianRandomization.from_genotypes` computes the summary statistics by OLS, and
two-stage least squares with the variants as instruments is :func:`~causalattn.observational.tsls`
(``tsls(data, "outcome", "exposure", ["g1", "g2", ...])``); with uncorrelated variants the two
agree (Burgess et al. 2013).

References
----------
Burgess, S., Butterworth, A. and Thompson, S. G. (2013). Mendelian randomization analysis with
multiple genetic variants using summarized data. *Genetic Epidemiology* 37, 658-665.

Bowden, J., Davey Smith, G. and Burgess, S. (2015). Mendelian randomization with invalid
instruments: effect estimation and bias detection through Egger regression. *International
Journal of Epidemiology* 44, 512-525.

Bowden, J., Davey Smith, G., Haycock, P. C. and Burgess, S. (2016a). Consistent estimation in
Mendelian randomization with some invalid instruments using a weighted median estimator.
*Genetic Epidemiology* 40, 304-314.

Bowden, J., Del Greco M, F., Minelli, C., Davey Smith, G., Sheehan, N. A. and Thompson, J. R.
(2016b). Assessing the suitability of summary data for two-sample Mendelian randomization
analyses using MR-Egger regression: the role of the I^2 statistic. *International Journal of
Epidemiology* 45, 1961-1974.

Yavorska, O. O. and Burgess, S. (2017). MendelianRandomization: an R package for performing
Mendelian randomization analyses using summarized data. *International Journal of
Epidemiology* 46, 1734-1739.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS, WLS
from statsmodels.tools.tools import add_constant

from causalattn import _scaled_fit
from causalattn._student import t_estimate
from causalattn._validation import (
    as_float_array,
    check_choice,
    check_columns,
    check_confidence_level,
    check_resamples,
    check_rng,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import Estimate, EstimateTable, normal_estimate
from causalattn.hypothesis import HypothesisTest

__all__ = ["MendelianRandomization"]

MODELS = ("random", "fixed")
DISTRIBUTIONS = ("t", "normal")
ORDERS = ("first", "second")
_ARGS = ("beta_exposure", "se_exposure", "beta_outcome", "se_outcome")
# Magnitudes beyond this (or non-zero below its inverse) overflow the weights 1/se^2 and their products.
_MAX_MAGNITUDE = 1e50


def _summary_iv(values: dict[str, Any], variants: Any) -> tuple[dict[str, np.ndarray], list[str]]:
    """The four summary-statistic vectors (finite, equal length, positive SEs, non-zero exposure betas) and names."""
    check_same_index(**values, **({"variants": variants} if isinstance(variants, pd.Series) else {}))
    arrays = {name: as_float_array(name, value) for name, value in values.items()}
    k = check_same_length(**arrays)
    for name in ("se_exposure", "se_outcome"):
        bad = np.flatnonzero(arrays[name] <= 0)
        if bad.size:
            raise ValueError(f"`{name}` must be positive, found {bad.size} value(s) <= 0 (variant positions "
                             f"{bad[:5].tolist()})")
    for name, values in arrays.items():
        top = float(np.abs(values).max())
        low = float(np.abs(values[values != 0]).min()) if (values != 0).any() else 0.0
        if top > _MAX_MAGNITUDE or 0 < low < 1 / _MAX_MAGNITUDE:
            raise ValueError(f"`{name}` reaches {top if top > _MAX_MAGNITUDE else low:.3g} in magnitude; the "
                             f"estimators square these values and their inverses, which leave floating point beyond "
                             f"{_MAX_MAGNITUDE:.0e}: express the associations in other units")
    zero = np.flatnonzero(arrays["beta_exposure"] == 0)
    if zero.size:
        raise ValueError(f"`beta_exposure` is 0 for {zero.size} of {k} variant(s) (positions {zero[:5].tolist()}): "
                         "a variant not associated with the exposure is no instrument; leave it out")
    if variants is None:
        names = [f"variant{j + 1}" for j in range(k)]
    else:
        names = [str(v) for v in (variants.tolist() if isinstance(variants, (pd.Series, np.ndarray)) else variants)]
        if len(names) != k:
            raise ValueError(f"`variants` must name each of the {k} variants, got {len(names)} names")
        if len(set(names)) != k:
            raise ValueError("`variants` must be distinct names")
    return arrays, names


def _distribution_iv(distribution: Any) -> str:
    return check_choice("distribution", distribution, DISTRIBUTIONS)


def _scaled_estimate(estimand: str, value: float, fixed_se: float, scale: float, df: int, *, distribution: str,
                     level: float, method: str, n: int, details: dict[str, Any]) -> Estimate:
    """The random-effects row: standard error ``fixed_se * max(1, scale)``, t on ``df`` or normal."""
    se = fixed_se * max(1.0, scale)
    details = {**details, "residual_scale": scale, "distribution": distribution}
    if distribution == "t":
        return t_estimate(estimand, value, se, df, confidence_level=level, method=f"{method}-t", n=n,
                          details=details)
    return normal_estimate(estimand, value, se, confidence_level=level, method=f"{method}-normal", n=n,
                           details=details)


class MendelianRandomization:
    r"""Summary statistics of :math:`K` uncorrelated genetic variants, and the MR estimators on them.

    Parameters
    ----------
    beta_exposure, se_exposure : array_like
        Each variant's association with the exposure, :math:`\hat\beta_{Xj}` (non-zero), and
        its standard error (positive).
    beta_outcome, se_outcome : array_like
        Each variant's association with the outcome, :math:`\hat\beta_{Yj}` (e.g. a log odds
        ratio), and its standard error (positive). Both associations must be per the same
        effect allele (harmonized).
    variants : sequence of str, optional
        Names of the variants (default ``variant1``, ``variant2``, ...).
    exposure, outcome : str
        Names used in labels and plots.

    Notes
    -----
    The estimators and their assumptions are in the module docstring
    (:mod:`causalattn.observational.mendelian`). The variants must be
    independent (not in linkage disequilibrium).

    Examples
    --------
    Waterworth et al. (2010): 28 variants, LDL cholesterol and coronary heart disease, as in
    Yavorska and Burgess (2017):

    >>> from causalattn import datasets
    >>> from causalattn.observational import MendelianRandomization
    >>> mr = MendelianRandomization.from_data(datasets.load("lipids_chd"), "ldlc", "ldlc_se", "chd_log_odds",
    ...                                       "chd_log_odds_se", variants="variant", exposure="LDL-c",
    ...                                       outcome="CHD")
    >>> ivw = mr.ivw(distribution="normal")  # their IVW: 2.834 (SE 0.530), 95% CI 1.796, 3.873
    >>> ivw  # doctest: +ELLIPSIS
    Estimate(IVW (random effects) = 2.834, SE 0.5298, 95% CI [1.796, 3.873], p = 8.82e-08; method=ivw-random-...)
    >>> mr.ivw()  # by default t on K - 1 = 27 degrees of freedom
    Estimate(IVW (random effects) = 2.834, SE 0.5298, 95% CI [1.747, 3.921], p = 1.19e-05; method=ivw-random-t, n=28)
    >>> round(mr.egger().estimate, 3), round(mr.egger().details["intercept"].estimate, 4)
    (3.253, -0.0115)
    >>> mr.heterogeneity()
    HypothesisTest(equal Wald ratios (no pleiotropy): statistic = 99.53, dof = 27, p = 3.07e-10; method=cochran-q, n=28)
    """

    def __init__(self, beta_exposure: Any, se_exposure: Any, beta_outcome: Any, se_outcome: Any, *,
                 variants: Any = None, exposure: str = "exposure", outcome: str = "outcome") -> None:
        for name, value in (("exposure", exposure), ("outcome", outcome)):
            if not isinstance(value, str):
                raise TypeError(f"`{name}` must be a string (a name for labels), got {type(value).__name__}")
        given = dict(zip(_ARGS, (beta_exposure, se_exposure, beta_outcome, se_outcome), strict=True))
        arrays, names = _summary_iv(given, variants)
        self.beta_exposure, self.se_exposure = arrays["beta_exposure"], arrays["se_exposure"]
        self.beta_outcome, self.se_outcome = arrays["beta_outcome"], arrays["se_outcome"]
        self.variants, self.exposure, self.outcome = names, exposure, outcome

    @classmethod
    def from_data(cls, data: pd.DataFrame, beta_exposure: str, se_exposure: str, beta_outcome: str, se_outcome: str,
                  *, variants: str | None = None, exposure: str | None = None,
                  outcome: str | None = None) -> MendelianRandomization:
        """From a DataFrame with one row per variant; the arguments name its columns (``variants`` optional).

        ``exposure`` and ``outcome`` default to the names of the ``beta_*`` columns.
        """
        check_columns(data, beta_exposure=beta_exposure, se_exposure=se_exposure, beta_outcome=beta_outcome,
                      se_outcome=se_outcome, variants=variants)
        columns = [data[c] for c in (beta_exposure, se_exposure, beta_outcome, se_outcome)]
        return cls(*columns, variants=None if variants is None else data[variants],
                   exposure=beta_exposure if exposure is None else exposure,
                   outcome=beta_outcome if outcome is None else outcome)

    @classmethod
    def from_genotypes(cls, data: pd.DataFrame, exposure: str, outcome: str, variants: list[str],
                       covariates: list[str] | None = None) -> MendelianRandomization:
        r"""Summary statistics from individual-level data: per variant, the OLS of ``exposure`` and of ``outcome``
        on the variant (and an intercept and ``covariates``), with classical standard errors.

        One sample gives both associations, so their errors are correlated (through the
        confounders); the IVW estimate then approximates two-stage least squares
        (:func:`~causalattn.observational.tsls` with ``variants`` as instruments).
        """
        if isinstance(variants, str) or not isinstance(variants, (list, tuple)) or not variants:
            raise TypeError("`variants` must be a non-empty list of column names (one per genetic variant)")
        covariates = [] if covariates is None else [covariates] if isinstance(covariates, str) else list(covariates)
        check_columns(data, exposure=exposure, outcome=outcome, variants=list(variants), covariates=covariates)
        roles: dict[Any, str] = {}
        for arg, columns in (("exposure", [exposure]), ("outcome", [outcome]), ("variants", variants),
                             ("covariates", covariates)):
            for column in columns:
                if roles.setdefault(column, arg) != arg:  # the exposure as its own instrument is OLS, confounded
                    raise ValueError(f"`{roles[column]}` and `{arg}` name the same column {column!r}; each column "
                                     "plays one role")
        if len(data) <= 2 + len(covariates):
            raise ValueError(f"`data` has {len(data)} rows: the regressions on each variant have {2 + len(covariates)} "
                             "coefficients and need more rows than that")
        extra = [as_float_array("covariates", data[c], column=c) for c in covariates]
        rows = []
        for variant in variants:
            design = np.column_stack([np.ones(len(data)), as_float_array("variants", data[variant], column=variant),
                                      *extra])
            names = ["the intercept", f"variant {variant!r}", *(f"covariate {c!r}" for c in covariates)]
            j = _scaled_fit.aliased(design)
            if j is not None:
                raise ValueError(f"`variants`: column {variant!r} is constant or collinear with `covariates`: "
                                 f"{_scaled_fit.collinearity(names, j)}")
            fits = [_scaled_fit.least_squares(OLS(as_float_array(arg, data[col], column=col), design),
                                              outcome=f"`{arg}` {col!r}", names=names)
                    for arg, col in (("exposure", exposure), ("outcome", outcome))]
            rows.append([fits[0].params[1], fits[0].bse[1], fits[1].params[1], fits[1].bse[1]])
        beta_x, se_x, beta_y, se_y = np.array(rows).T
        return cls(beta_x, se_x, beta_y, se_y, variants=list(variants), exposure=exposure, outcome=outcome)

    def __repr__(self) -> str:
        return f"MendelianRandomization({self.n_variants} variants: {self.exposure} -> {self.outcome})"

    @property
    def n_variants(self) -> int:
        """The number of variants :math:`K`."""
        return len(self.variants)

    def to_frame(self) -> pd.DataFrame:
        """The summary statistics, one row per variant, with each variant's Wald ratio."""
        return pd.DataFrame({"beta_exposure": self.beta_exposure, "se_exposure": self.se_exposure,
                             "beta_outcome": self.beta_outcome, "se_outcome": self.se_outcome,
                             "wald_ratio": self.beta_outcome / self.beta_exposure},
                            index=pd.Index(self.variants, name="variant"))

    def _need(self, k: int, what: str) -> None:
        if self.n_variants < k:
            raise ValueError(f"{what} needs at least {k} variants, got {self.n_variants}")

    # ------------------------------------------------------------------ estimators

    def wald_ratios(self, order: str = "first", *, confidence_level: float = 0.95) -> EstimateTable:
        """Each variant's Wald ratio with its first- or second-order delta standard error and normal interval."""
        order = check_choice("order", order, ORDERS)
        level = check_confidence_level(confidence_level)
        bx, by = self.beta_exposure, self.beta_outcome
        se = self.se_outcome / np.abs(bx)
        if order == "second":
            se = np.sqrt(se**2 + by**2 * self.se_exposure**2 / bx**4)
        return EstimateTable([
            normal_estimate(f"Wald ratio {name}", float(b / a), float(s), confidence_level=level,
                            method=f"wald-ratio-{order}-order", n=1, details={"variant": name,
                                                                              "distribution": "normal"})
            for name, a, b, s in zip(self.variants, bx, by, se, strict=True)], title="Wald ratios")

    def _ivw_fit(self):
        return _scaled_fit.least_squares(WLS(self.beta_outcome, self.beta_exposure[:, None],
                                                weights=self.se_outcome**-2.0))

    def ivw(self, model: str = "random", distribution: str | None = None, *,
            confidence_level: float = 0.95) -> Estimate:
        r"""The inverse-variance weighted estimate: statsmodels WLS through the origin, weights :math:`\sigma_Y^{-2}`.

        ``model="random"`` (multiplicative random effects; at least 2 variants) scales the
        fixed-effect standard error by :math:`\max(1, \hat\phi)`; its interval is t on
        :math:`K-1` degrees of freedom (default ``distribution="t"``) or normal.
        ``model="fixed"`` takes the scale as 1 and is normal (``distribution`` must then be
        ``None`` or ``"normal"``). ``details`` has ``residual_scale`` :math:`\hat\phi` and
        Cochran's ``q``.
        """
        model = check_choice("model", model, MODELS)
        level = check_confidence_level(confidence_level)
        if model == "fixed":
            if distribution not in (None, "normal"):
                _distribution_iv(distribution)
                raise ValueError("`distribution`='t' does not apply to `model`='fixed' (the residual scale is taken "
                                 "as known, so the interval is normal); use `model`='random' for a t interval")
        else:
            distribution = _distribution_iv("t" if distribution is None else distribution)
            self._need(2, "IVW with `model`='random' (a residual scale)")
        fit = self._ivw_fit()
        k = self.n_variants
        q = float(fit.ssr)
        scale = math.sqrt(q / (k - 1)) if k > 1 else math.nan
        fixed_se = math.sqrt(fit.normalized_cov_params[0, 0])  # (sum_j beta_Xj^2 / se_Yj^2)^(-1/2)
        details = {"q": q, "exposure": self.exposure, "outcome": self.outcome}
        if model == "fixed":
            return normal_estimate("IVW (fixed effect)", float(fit.params[0]), fixed_se, confidence_level=level,
                                   method="ivw-fixed", n=k, details={**details, "distribution": "normal"})
        return _scaled_estimate("IVW (random effects)", float(fit.params[0]), fixed_se, scale, k - 1,
                                distribution=distribution, level=level, method="ivw-random", n=k, details=details)

    def egger(self, distribution: str = "t", *, confidence_level: float = 0.95) -> Estimate:
        r"""MR-Egger: the slope of the WLS of the oriented :math:`\hat\beta_Y` on :math:`|\hat\beta_X|` and a constant.

        Needs at least 3 variants. The slope is returned; ``details["intercept"]`` is the
        intercept's :class:`~causalattn.Estimate` (the test of directional pleiotropy), from
        the same fit and procedure: standard errors scaled by :math:`\max(1, \hat\phi)`,
        t on :math:`K-2` degrees of freedom or normal. ``details`` also has ``i2_gx``
        (:math:`I^2_{GX}`) and ``heterogeneity``, Rücker's :math:`Q'` test of the residual
        heterogeneity on :math:`K-2` degrees of freedom.
        """
        distribution = _distribution_iv(distribution)
        level = check_confidence_level(confidence_level)
        self._need(3, "MR-Egger (a slope, an intercept and a residual scale)")
        sign = np.sign(self.beta_exposure)
        bx, by = np.abs(self.beta_exposure), sign * self.beta_outcome
        if np.ptp(bx) <= 1e-12 * bx.max():
            raise ValueError("MR-Egger is not identified: every variant has the same |beta_exposure|, so the slope "
                             "cannot be told from the intercept")
        # solved on the column-scaled design: a column of 1e-30s beside the constant looks collinear
        fit = _scaled_fit.least_squares(WLS(by, add_constant(bx, has_constant="add"),
                                               weights=self.se_outcome**-2.0))
        k = self.n_variants
        scale = math.sqrt(fit.scale)
        fixed_se = np.sqrt(np.diag(fit.normalized_cov_params))
        params = np.asarray(fit.params)
        q = float(fit.ssr)
        heterogeneity = HypothesisTest("no heterogeneity around the MR-Egger line", q, k - 2,
                                       float(stats.chi2.sf(q, k - 2)), "rucker-q", k)
        ratio = bx / self.se_outcome
        weights = (self.se_exposure / self.se_outcome) ** -2.0
        q_gx = float(np.sum(weights * (ratio - np.average(ratio, weights=weights)) ** 2))
        i2_gx = max(0.0, (q_gx - (k - 1)) / q_gx) if q_gx > 0 else 0.0
        common = {"exposure": self.exposure, "outcome": self.outcome}
        intercept = _scaled_estimate("MR-Egger intercept", float(params[0]), float(fixed_se[0]), scale, k - 2,
                                     distribution=distribution, level=level, method="egger", n=k, details=common)
        return _scaled_estimate("MR-Egger slope", float(params[1]), float(fixed_se[1]), scale, k - 2,
                                distribution=distribution, level=level, method="egger", n=k,
                                details={**common, "intercept": intercept, "i2_gx": i2_gx,
                                         "heterogeneity": heterogeneity, "n_flipped": int((sign < 0).sum())})

    def weighted_median(self, *, n_resamples: int = 1000, rng: Any = None, confidence_level: float = 0.95) -> Estimate:
        r"""Bowden et al.'s (2016a) weighted median of the Wald ratios, with a parametric-bootstrap standard error.

        Needs at least 3 variants. The interval is normal,
        :math:`\hat\theta_{WM} \pm z\,\widehat{se}_{boot}`, with ``n_resamples`` bootstrap draws
        (``details["distribution"]`` ``"normal"``); ``rng`` fixes them. ``n_resamples`` must be at least
        ``minimum_resamples(confidence_level, "normal")`` (30 at 95%: fewer make the standard error so noisy
        that the interval undercovers; :func:`causalattn._validation.minimum_resamples`).
        """
        level = check_confidence_level(confidence_level)
        n_resamples = check_resamples("n_resamples", n_resamples, level, "normal")
        generator = check_rng(rng)
        self._need(3, "the weighted median")
        weights = (self.beta_exposure / self.se_outcome) ** 2
        estimate = float(_weighted_median(self.beta_outcome / self.beta_exposure, weights)[0])
        k = self.n_variants
        bx = generator.normal(self.beta_exposure, self.se_exposure, size=(n_resamples, k))
        by = generator.normal(self.beta_outcome, self.se_outcome, size=(n_resamples, k))
        draws = _weighted_median(by / bx, weights)
        se = float(np.std(draws, ddof=1))
        return normal_estimate("weighted median", estimate, se, confidence_level=level, method="weighted-median-boot",
                               n=k, details={"n_resamples": n_resamples, "distribution": "normal",
                                             "exposure": self.exposure, "outcome": self.outcome})

    def heterogeneity(self) -> HypothesisTest:
        r"""Cochran's Q test of equal Wald ratios around the IVW estimate (:math:`K-1` df); ``details["i2"]`` is
        Higgins' :math:`I^2 = \max(0, (Q - K + 1)/Q)`."""
        self._need(2, "Cochran's Q")
        k = self.n_variants
        q = float(self._ivw_fit().ssr)
        return HypothesisTest("equal Wald ratios (no pleiotropy)", q, k - 1, float(stats.chi2.sf(q, k - 1)),
                              "cochran-q", k, details={"i2": max(0.0, (q - (k - 1)) / q) if q > 0 else 0.0})

    def estimates(self, *, n_resamples: int = 1000, rng: Any = None, confidence_level: float = 0.95) -> EstimateTable:
        """Every estimator that the number of variants allows: IVW (fixed and random), MR-Egger slope and
        intercept, the weighted median, and Cochran's Q, in one table (default options)."""
        k = self.n_variants
        rows: list[Estimate | HypothesisTest] = [self.ivw("fixed", confidence_level=confidence_level)]
        if k >= 2:
            rows.append(self.ivw("random", confidence_level=confidence_level))
        if k >= 3:
            egger = self.egger(confidence_level=confidence_level)
            rows += [egger, egger.details["intercept"],
                     self.weighted_median(n_resamples=n_resamples, rng=rng, confidence_level=confidence_level)]
        if k >= 2:
            rows.append(self.heterogeneity())
        return EstimateTable(rows, title=f"Mendelian randomization: {self.exposure} -> {self.outcome}, {k} variants")

    # ------------------------------------------------------------------ plots

    def plot_scatter(self, *, n_resamples: int = 1000, rng: Any = None):
        """βY against βX (oriented so that βX > 0), ±1.96 SE bars, and the IVW, MR-Egger and weighted-median lines."""
        from causalattn.observational.mendelian_plots import scatter_plot

        return scatter_plot(self, n_resamples=n_resamples, rng=rng)

    def plot_funnel(self):
        """The funnel plot: each Wald ratio against its precision :math:`|\\hat\\beta_X|/\\sigma_Y`, the IVW line."""
        from causalattn.observational.mendelian_plots import funnel_plot

        return funnel_plot(self)


def _weighted_median(ratios: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The interpolated weighted median of each row of ``ratios`` (1-d: one row) with fixed ``weights``."""
    ratios = np.atleast_2d(ratios)
    order = np.argsort(ratios, axis=1)
    sorted_ratios = np.take_along_axis(ratios, order, axis=1)
    w = weights[order]
    cumulative = (np.cumsum(w, axis=1) - w / 2) / w.sum(axis=1, keepdims=True)
    below = (cumulative < 0.5).sum(axis=1) - 1  # the last position whose cumulative weight is below one half
    rows = np.arange(len(ratios))
    low, high = sorted_ratios[rows, below], sorted_ratios[rows, below + 1]
    p_low, p_high = cumulative[rows, below], cumulative[rows, below + 1]
    return low + (high - low) * (0.5 - p_low) / (p_high - p_low)
