"""The treatment coefficient of an OLS fit: as association (:func:`ols`) and as adjustment (:func:`ancova`,
:func:`lin`).

Each wraps statsmodels' OLS and its HC0-HC3 and cluster-robust covariances,
checks its input strictly (no silently dropped rows, no silently ignored
options) and returns the shared :class:`~causalattn.estimate.Estimate`. Data
come as a DataFrame with column names or as arrays (:mod:`causalattn.regression._inputs`).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from causalattn.estimate import Estimate
from causalattn.regression._fit import coefficient, treatment_coefficient
from causalattn.regression._inputs import formula_iv, regression_iv

__all__ = ["ancova", "lin", "ols"]

# Estimand of the design-based regression estimators (ANCOVA, Lin).
_ATE = "average treatment effect"


def ols(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    formula: str | None = None,
    cov_type: str = "HC2",
    clusters: Any = None,
    weights: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""The OLS coefficient of ``treatment`` in the regression of ``outcome`` on it (and covariates).

    Fits :math:`Y_i = \alpha + \tau Z_i + \beta^\top X_i + \varepsilon_i` with
    :class:`statsmodels.regression.linear_model.OLS` and reports
    :math:`\hat\tau` with the chosen covariance estimate of
    :math:`(\mathbf{X}^\top\mathbf{X})^{-1}\mathbf{X}^\top\Omega\mathbf{X}(\mathbf{X}^\top\mathbf{X})^{-1}`:
    ``"classical"`` (homoskedastic, :math:`\hat\sigma^2(\mathbf{X}^\top\mathbf{X})^{-1}`),
    Eicker-Huber-White ``"HC0"`` (:math:`\Omega = \mathrm{diag}(e_i^2)`),
    ``"HC1"`` (HC0 times :math:`n/(n-p)`), ``"HC2"`` (:math:`e_i^2/(1-h_{ii})`),
    ``"HC3"`` (:math:`e_i^2/(1-h_{ii})^2`), or ``"cluster"`` (Liang-Zeger
    with statsmodels' small-sample factor :math:`\frac{G}{G-1}\frac{n-1}{n-p}`).

    Intervals and p-values are statsmodels': Student-t with :math:`n-p`
    degrees of freedom for ``"classical"`` (as R's ``lm``), normal for the
    robust covariances. Without a design-based argument (randomization), the
    coefficient is a measure of association, not a causal effect (Ding 1.2.1).

    **Default covariance.** ``"HC2"``, the same default as :func:`ancova` and
    :func:`lin`: Ding (2024, ch. 4 and 6, and the appendix on linear
    regression) recommends the EHW covariance because it stays valid when the
    linear model is wrong or the errors are heteroskedastic, and HC2 because
    it reproduces Neyman's variance for the difference in means. R's ``lm``
    and statsmodels' ``OLS`` default to the homoskedastic ``"classical"``
    standard error, which Ding's chapter 1 prints for cps1re74: pass
    ``cov_type="classical"`` to reproduce ``summary(lm(...))``.

    Parameters
    ----------
    data : DataFrame or None
        The units. ``None`` to pass arrays (see the module docstring).
    outcome, treatment : str or array_like
        Outcome and treatment columns. ``treatment`` need not be binary. With
        ``formula``, ``treatment`` names the coefficient to report (a term of
        the formula, e.g. ``"treat"`` or ``"C(group)[T.b]"``).
    covariates : list of str or array_like, optional
        Further regressors; ``None`` for the simple regression.
    formula : str, optional
        A statsmodels (patsy) formula such as ``"re78 ~ treat + age + I(age**2)"``,
        instead of ``outcome`` and ``covariates``; requires a DataFrame.
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3", "cluster"}
        Covariance of the coefficients.
    clusters : str or array_like, optional
        Cluster labels (a column of ``data`` or an array), required for and only
        allowed with ``cov_type="cluster"``.
    weights : str or array_like, optional
        Non-negative weights (a column of ``data`` or an array), not all zero:
        weighted least squares, :math:`\hat\beta = (\mathbf{X}^\top W\mathbf{X})^{-1}
        \mathbf{X}^\top W Y` with :math:`W = \mathrm{diag}(w_i)` (statsmodels' WLS), and
        the same covariances on the whitened regression :math:`(\sqrt{w_i}\,Y_i,
        \sqrt{w_i}\,X_i)`: HC0 is :math:`(\mathbf{X}^\top W\mathbf{X})^{-1}\mathbf{X}^\top
        W\,\mathrm{diag}(e_i^2)\,W\mathbf{X}(\mathbf{X}^\top W\mathbf{X})^{-1}`, HC2/HC3 use the
        leverages of the whitened design, as R's ``lm(weights=)`` with ``sandwich``.
        Units of weight 0 are left out (also from ``n`` and the degrees of
        freedom, as in R). ``method`` becomes ``"wls-<cov_type>"``.
    confidence_level : float
        Coverage of the interval.

    Returns
    -------
    Estimate
        ``method`` is ``"ols-<cov_type>"``. ``details["coefficients"]`` is
        the table of all coefficients (a DataFrame indexed by term, with
        columns ``estimate``, ``standard_error``, ``statistic``, ``pvalue``,
        ``ci_low``, ``ci_high``; ``statistic`` is the t statistic for
        ``"classical"`` and the z statistic for the robust covariances, see
        ``details["distribution"]``); ``details["fit"]`` holds the fitted
        statsmodels results (residuals, ``summary()``).

    Raises
    ------
    ValueError
        A missing column, NaN or infinite values in a used column (rows are
        never dropped), too few rows, a rank-deficient design (a treatment
        absorbed by the covariates), a column beyond 1e50 in magnitude, an
        unknown ``cov_type``, HC2/HC3 with a unit of leverage 1, or pandas
        arrays with different indexes.
    TypeError
        A non-numeric column, or column names where arrays are expected.

    Notes
    -----
    When the residuals are zero up to rounding (at most 1e-12 times the
    outcome's magnitude: a constant outcome, or an outcome the regressors fit
    exactly), the standard errors statsmodels computes are rounding noise;
    the coefficient is then reported with standard error 0, a point interval
    and no p-value (and as exactly 0 for a constant outcome).

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 1.2.1 and the
    appendix on linear regression (OLS and the EHW covariances). CRC Press.

    White, H. (1980). A heteroskedasticity-consistent covariance matrix
    estimator and a direct test for heteroskedasticity. *Econometrica* 48, 817-838.

    Examples
    --------
    >>> import numpy as np, causalattn
    >>> rng = np.random.default_rng(0)
    >>> z = rng.integers(0, 2, 200); y = 1.0 + 2.0 * z + rng.normal(size=200)
    >>> est = causalattn.ols(outcome=y, treatment=z)
    >>> round(est.estimate, 2), est.method
    (2.01, 'ols-HC2')
    >>> est.details["coefficients"].round(2)[["estimate", "standard_error", "statistic"]]
               estimate  standard_error  statistic
    Intercept      0.89            0.12       7.51
    treatment      2.01            0.15      13.29
    """
    if formula is None:
        inputs = regression_iv(data, outcome, treatment, covariates, cov_type, clusters, confidence_level,
                               binary_treatment=False, weights=weights)
        return treatment_coefficient(inputs, estimand=f"OLS coefficient of {inputs.treatment}", method="ols")
    model, inputs = formula_iv(data, outcome, treatment, covariates, formula, cov_type, clusters, confidence_level,
                               weights)
    weighted = inputs.weights is not None
    return coefficient(model, treatment, inputs, estimand=f"OLS coefficient of {treatment}",
                       method="wls" if weighted else "ols",
                       details={"formula": formula, **({"weights": "weighted least squares"} if weighted else {})})


def ancova(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC2",
    clusters: Any = None,
    weights: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Fisher's ANCOVA estimator of the average treatment effect in a randomized experiment.

    The coefficient :math:`\hat\tau_F` of the binary treatment in the OLS fit
    of :math:`Y_i` on :math:`(1, Z_i, X_i)`. Under complete randomization it is
    consistent for the average treatment effect, and its EHW standard error
    (``"HC2"`` by default) is consistent or asymptotically conservative (Lin
    2013), although the estimator itself may be less precise than the
    difference in means (Freedman 2008). Without covariates it is the
    difference in means, and its HC2 standard error is Neyman's.

    Parameters are those of :func:`ols` (without ``formula``); ``treatment``
    must be 0/1 with both arms present. With ``weights`` the fit is weighted
    least squares (``method`` ``"ancova-wls-<cov_type>"``).

    Returns
    -------
    Estimate
        ``method`` is ``"ancova-<cov_type>"``; ``details["fit"]`` is the
        statsmodels results object.

    References
    ----------
    Freedman, D. A. (2008). On regression adjustments to experimental data.
    *Advances in Applied Mathematics* 40, 180-193.

    Lin, W. (2013). Agnostic notes on regression adjustments to experimental
    data: reexamining Freedman's critique. *Annals of Applied Statistics* 7, 295-318.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 6 (regression
    adjustment). CRC Press.
    """
    inputs = regression_iv(data, outcome, treatment, covariates, cov_type, clusters, confidence_level,
                           binary_treatment=True, weights=weights)
    return treatment_coefficient(inputs, estimand=_ATE, method="ancova")


def lin(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC2",
    clusters: Any = None,
    weights: Any = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Lin's (2013) fully interacted regression estimator of the average treatment effect.

    With covariates centred at their sample means, :math:`\tilde X_i = X_i - \bar X`,
    the coefficient :math:`\hat\tau_L` of :math:`Z_i` in the OLS fit of
    :math:`Y_i` on :math:`(1, Z_i, \tilde X_i, Z_i\tilde X_i)`. Equivalently,
    :math:`\hat\tau_L = n^{-1}\sum_i \{\hat\mu_1(X_i) - \hat\mu_0(X_i)\}`, the
    mean of the imputed differences from separate OLS fits in each arm. Under
    complete randomization it is never asymptotically less efficient than
    the difference in means or Fisher's ANCOVA, and its EHW (``"HC2"``)
    standard error is a conservative Neyman-type standard error. Without
    covariates it is the difference in means.

    Parameters are those of :func:`ancova`. With ``weights`` the fit is
    weighted least squares and the covariates are centred at their weighted
    means :math:`\sum_i w_i X_i / \sum_i w_i` (``method`` ``"lin-wls-<cov_type>"``).

    Returns
    -------
    Estimate
        ``method`` is ``"lin-<cov_type>"``; ``details["fit"]`` is the
        statsmodels results object (interaction terms are named
        ``"<treatment>:<covariate>"``).

    References
    ----------
    Lin, W. (2013). Agnostic notes on regression adjustments to experimental
    data: reexamining Freedman's critique. *Annals of Applied Statistics* 7, 295-318.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 6 (regression
    adjustment). CRC Press.
    """
    inputs = regression_iv(data, outcome, treatment, covariates, cov_type, clusters, confidence_level,
                           binary_treatment=True, weights=weights)
    return treatment_coefficient(inputs, estimand=_ATE, method="lin", interacted=True)
