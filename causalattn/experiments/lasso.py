r"""The lasso-adjusted average treatment effect of a completely randomized experiment (Bloniarz et al. 2016).

With many covariates :math:`X` (possibly more than units), regression adjustment by OLS
(:func:`~causalattn.lin`) is impossible or noisy. Bloniarz et al. fit the lasso separately in
each arm :math:`a \in \{0, 1\}`, giving coefficients :math:`\hat\beta^{(a)}`, and adjust each
arm's mean to the covariate mean of all units:

.. math::

    \hat\tau = \bigl[\bar Y_1 - (\bar X_1 - \bar X)^\top\hat\beta^{(1)}\bigr]
             - \bigl[\bar Y_0 - (\bar X_0 - \bar X)^\top\hat\beta^{(0)}\bigr].

With :math:`\hat\beta^{(a)}` from OLS this is Lin's estimator. The conservative (Neyman-type)
variance estimate is

.. math::

    \hat V = \frac{\hat\sigma^2_{e,1}}{n_1} + \frac{\hat\sigma^2_{e,0}}{n_0}, \qquad
    \hat\sigma^2_{e,a} = \frac{1}{n_a - \mathrm{df}_a} \sum_{i: Z_i = a}
    \bigl\{Y_i - \bar Y_a - (X_i - \bar X_a)^\top\hat\beta^{(a)}\bigr\}^2,

with :math:`\mathrm{df}_a` the number of covariates the lasso kept in arm :math:`a`; the interval
:math:`\hat\tau \pm z_{1-\alpha/2}\sqrt{\hat V}` and its test are large-sample normal, justified
by randomization alone under Bloniarz et al.'s conditions (sparse enough adjustment, bounded
fourth moments); the variance ignores the covariance between the potential outcomes, so the
interval is conservative.

The penalty is chosen per arm by :class:`sklearn.linear_model.LassoCV` on standardized
covariates (``alpha="cv"``, the default) unless ``alpha`` asks for the plug-in penalty
(``"plugin"``) or fixes it (see :mod:`causalattn._lasso`). Why cross-validation stays the
default here while :func:`~causalattn.observational.double_selection` defaults to the plug-in
penalty: Bloniarz et al.'s result does not rest on one penalty rule (it asks for a penalty of the
order :math:`\sqrt{\log p / n}` and a sparse enough fit), their simulations tune it by
cross-validation, and by simulation (``benchmarks/coverage.py --only lasso``) the cross-validated
interval covers the sample average effect 0.935-0.955 (with ``alpha="plugin"``, 0.950-0.955, but
5-13% wider: cross-validation keeps more covariates, which here buy precision); Belloni
et al.'s validity result, by contrast, is proved for the plug-in penalty and cross-validation was
measured to undercover there.

References
----------
Bloniarz, A., Liu, H., Zhang, C.-H., Sekhon, J. S. and Yu, B. (2016). Lasso adjustments of
treatment effect estimates in randomized experiments. *PNAS* 113, 7383-7390.

Lin, W. (2013). Agnostic notes on regression adjustments to experimental data: reexamining
Freedman's critique. *Annals of Applied Statistics* 7, 295-318.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 6 (regression adjustment in
randomized experiments). CRC Press.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from causalattn._lasso import covariate_matrix, lasso_fit, lasso_options_iv, penalty_rule, standardize
from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_columns,
    check_confidence_level,
    check_not_constant,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import Estimate, normal_estimate

__all__ = ["lasso_ate"]


def _lasso_ate_iv(data, outcome, treatment, covariates, alpha, cv, confidence_level):
    level = check_confidence_level(confidence_level)
    alpha, cv = lasso_options_iv(alpha, cv)
    if data is not None and not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame or None, got {type(data).__name__}")
    if outcome is None or treatment is None or covariates is None:
        raise ValueError("`outcome`, `treatment` and `covariates` are required")
    if data is None:
        check_same_index(outcome=outcome, treatment=treatment, covariates=covariates)
    else:
        check_columns(data, outcome=outcome, treatment=treatment)
        outcome, treatment = data[outcome], data[treatment]
    y, z = as_float_array("outcome", outcome), as_binary_array("treatment", treatment)
    x, names = covariate_matrix(data, covariates)
    check_same_length(outcome=y, treatment=z, covariates=x)
    check_not_constant("`outcome`", y)
    for arm in (1, 0):
        if (z == arm).sum() < 3:
            raise ValueError(f"`treatment` must have at least 3 units in each arm, got {int((z == arm).sum())} with "
                             f"treatment {arm}")
    return y, z, standardize(x, names), names, alpha, cv, level


def lasso_ate(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    alpha: str | float = "cv",
    cv: int = 5,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""The lasso-adjusted ATE of a completely randomized experiment, with its conservative variance.

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    outcome, treatment : str or array_like
        Outcome and the 0/1 treatment (at least 3 units per arm).
    covariates : list of str or array_like
        Pre-treatment covariates, any number (more than units is allowed); standardized before
        the fits.
    alpha : "cv", "plugin" or float
        How each arm's penalty is set: ``"cv"`` (default), ``cv``-fold cross-validation
        (``LassoCV``; spelled ``alpha=None`` before, which is now refused); ``"plugin"``,
        Belloni et al.'s plug-in penalty with data-driven loadings (hdm's ``rlasso``; the
        coefficients are the lasso's at that penalty, not the post-lasso OLS); a number,
        scikit-learn's ``alpha`` on the standardized covariates.
    cv : int
        Folds of the cross-validation (``alpha="cv"`` only).
    confidence_level : float

    Returns
    -------
    Estimate
        ``estimand`` ``"average treatment effect"``, ``method`` ``"lasso-adjusted"``, a normal
        interval (``details["distribution"]``). ``details`` has ``selected_treated`` and
        ``selected_control`` (the covariates each arm's lasso kept), ``penalty`` (the rule),
        ``alpha_treated``, ``alpha_control`` (and with ``"plugin"`` ``lambda_``, ``loadings_``,
        ``iterations_``, ``converged_`` of each arm, as in
        :func:`~causalattn.observational.double_selection`), ``coefficients`` (a DataFrame of
        both arms' coefficients on the standardized covariates) and ``df_treated``, ``df_control``.

    Raises
    ------
    ValueError
        Fewer than 3 units in an arm, a constant outcome or covariate, missing values, an ``alpha`` that
        is not ``"cv"``, ``"plugin"`` or a number > 0 (``None`` included), fewer units in an
        arm than ``cv``.

    References
    ----------
    Bloniarz, A., Liu, H., Zhang, C.-H., Sekhon, J. S. and Yu, B. (2016). *PNAS* 113, 7383-7390.

    Examples
    --------
    >>> import numpy as np
    >>> from causalattn.experiments.lasso import lasso_ate
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 50))                      # 50 covariates, 2 of which matter
    >>> z = rng.permutation(np.repeat([1, 0], 100))
    >>> y = 1.0 * z + 2 * x[:, 0] - x[:, 1] + rng.normal(size=200)
    >>> est = lasso_ate(outcome=y, treatment=z, covariates=x)
    >>> round(est.estimate, 2), round(est.standard_error, 3), est.details["selected_treated"][:2]
    (1.12, 0.139, ['covariate0', 'covariate1'])
    """
    y, z, x, names, alpha, cv, level = _lasso_ate_iv(data, outcome, treatment, covariates, alpha, cv,
                                                     confidence_level)
    centre = x.mean(axis=0)
    arms, details = [], {}
    for arm, label in ((1, "treated"), (0, "control")):
        rows = z == arm
        _, beta, penalty = lasso_fit(x[rows], y[rows], alpha, cv)
        details.update(penalty.details(label, names))
        kept = np.flatnonzero(beta != 0)
        n_arm, df = int(rows.sum()), len(kept)
        if n_arm - df < 1:
            raise ValueError(f"the lasso kept {df} covariates in the {label} arm of {n_arm} units: no residual "
                             "degrees of freedom for the variance; use `alpha='plugin'` or a larger number")
        residual = y[rows] - y[rows].mean() - (x[rows] - x[rows].mean(axis=0)) @ beta
        adjusted_mean = y[rows].mean() - (x[rows].mean(axis=0) - centre) @ beta
        arms.append((adjusted_mean, float(residual @ residual) / (n_arm - df) / n_arm))
        details.update({f"selected_{label}": [names[j] for j in kept], f"df_{label}": df, f"beta_{label}": beta})
    (mean1, v1), (mean0, v0) = arms
    coefficients = pd.DataFrame({"treated": details.pop("beta_treated"), "control": details.pop("beta_control")},
                                index=names)
    return normal_estimate("average treatment effect", float(mean1 - mean0), math.sqrt(v1 + v0),
                           confidence_level=level, method="lasso-adjusted", n=len(y),
                           details={**details, "coefficients": coefficients, "distribution": "normal",
                                    "penalty": penalty_rule(alpha, cv)})
