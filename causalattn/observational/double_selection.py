r"""Post-double-selection: the effect of a treatment adjusted for the covariates a lasso picks (Belloni et al. 2014).

With many candidate confounders :math:`X` and the partially linear model
:math:`Y = \tau D + g(X) + \varepsilon`, selecting covariates by one lasso of :math:`Y` on
:math:`X` drops confounders that predict :math:`Y` only weakly but :math:`D` strongly, and the
OLS after it has a biased, non-normal :math:`\hat\tau`. Double selection takes the union of two
selections,

1. :math:`\hat S_Y`: the covariates a lasso of :math:`Y` on :math:`X` keeps,
2. :math:`\hat S_D`: the covariates a lasso of :math:`D` on :math:`X` keeps,

and reports the OLS coefficient of :math:`D` in the regression of :math:`Y` on :math:`D` and
:math:`X_{\hat S_Y \cup \hat S_D}` with a heteroskedasticity-robust (Eicker-Huber-White)
standard error, statsmodels' via :func:`~causalattn.ols`; the interval is large-sample normal.
Belloni, Chernozhukov and Hansen show it is uniformly valid over the selection mistakes a lasso
makes, under approximate sparsity, with their plug-in ("rigorous") penalty: the default here,
``alpha="plugin"``, computed as R's ``hdm::rlasso`` does with its defaults (heteroskedastic
penalty loadings, :math:`\lambda = 2c\sqrt n\,\Phi^{-1}(1 - \gamma/2p)`, c = 1.1,
:math:`\gamma = 0.1/\log n`; see :mod:`causalattn._lasso`), which is also the selection of
``hdm::rlassoEffect(method = "double selection")``. ``alpha="cv"`` chooses each penalty by
cross-validation instead, and a number fixes it. By simulation (``benchmarks/coverage.py --only
lasso``; 5 covariates that matter among 50 or 100, n = 200 or 500, 400 data sets per cell) the
plug-in penalty keeps about 5 covariates (5.05-5.10 on average), its bias is below 0.01 and its
95% interval covers 0.938-0.963; cross-validation keeps 14-17, the spurious ones bias the estimate
by up to half a standard error, and it covers only 0.90-0.93.

References
----------
Belloni, A., Chernozhukov, V. and Hansen, C. (2014). Inference on treatment effects after
selection among high-dimensional controls. *Review of Economic Studies* 81, 608-650.

Chernozhukov, V., Hansen, C. and Spindler, M. (2016). hdm: high-dimensional metrics.
*The R Journal* 8(2), 185-199.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from causalattn._lasso import covariate_matrix, lasso_fit, lasso_options_iv, penalty_rule, standardize
from causalattn._scaled_fit import aliased
from causalattn._validation import (
    as_float_array,
    check_columns,
    check_confidence_level,
    check_not_constant,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import Estimate
from causalattn.observational._data import MIN_EFFECTIVE_UNITS, SmallSampleWarning
from causalattn.regression import ols

__all__ = ["double_selection"]


def double_selection(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    alpha: str | float = "plugin",
    cv: int = 5,
    cov_type: str = "HC2",
    confidence_level: float = 0.95,
) -> Estimate:
    r"""The post-double-selection estimate of the treatment's coefficient, with an HC standard error.

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    outcome : str or array_like
        Outcome :math:`Y`.
    treatment : str or array_like
        Treatment :math:`D` (binary or continuous).
    covariates : list of str or array_like
        Candidate controls :math:`X`, any number (more than units is allowed).
    alpha : "plugin", "cv" or float
        How each lasso's penalty is set: ``"plugin"`` (default), Belloni et al.'s plug-in penalty
        with data-driven loadings (hdm's ``rlasso``); ``"cv"``, ``cv``-fold cross-validation
        (``LassoCV``; the previous default, then spelled ``alpha=None``, which is now refused);
        a number, scikit-learn's ``alpha`` on the standardized covariates for both.
    cv : int
        Folds of the cross-validation (``alpha="cv"`` only).
    cov_type : {"HC0", "HC1", "HC2", "HC3"}
        The robust covariance of the final OLS (:func:`~causalattn.ols`).
    confidence_level : float

    Returns
    -------
    Estimate
        The :func:`~causalattn.ols` estimate of the final regression (``method``
        ``"ols-<cov_type>"``, normal interval) with ``estimand`` ``"effect of <treatment>
        (post-double-selection)"``; ``details`` adds ``selected_outcome``,
        ``selected_treatment``, ``selected`` (their union, the final covariates, without those
        that others in it determine exactly, listed in ``dropped_collinear``: R's ``lm`` would
        alias them, and the treatment's coefficient does not change), ``penalty``
        (``"plugin"``, ``"5-fold cross-validation"`` or ``"fixed"``), ``alpha_outcome``,
        ``alpha_treatment`` (scikit-learn's alpha of each final lasso) and, for the plug-in
        penalty, ``lambda_outcome``, ``lambda_treatment`` (hdm's :math:`\lambda`),
        ``loadings_outcome``, ``loadings_treatment`` (Series of the penalty loadings on the
        standardized covariates), ``iterations_outcome``, ``iterations_treatment`` (lassos
        fitted) and ``converged_outcome``, ``converged_treatment``.

    Warns
    -----
    SmallSampleWarning
        When the final OLS has fewer than 20 residual degrees of freedom (units minus selected
        covariates minus 2): its normal interval may undercover. With very few units the plug-in
        penalty's starting residuals fit nearly exactly, its loadings shrink, and it keeps many
        covariates (as hdm's does).

    Raises
    ------
    ValueError
        Missing values, a constant outcome or covariate, an ``alpha`` that is not ``"plugin"``, ``"cv"`` or a
        number > 0 (``None`` included), a ``cov_type`` that is not a robust one, a union of
        selected covariates too large for OLS, or a treatment that the selected covariates
        predict exactly (its coefficient is not identified).

    References
    ----------
    Belloni, A., Chernozhukov, V. and Hansen, C. (2014). *Review of Economic Studies* 81, 608-650.

    Chernozhukov, V., Hansen, C. and Spindler, M. (2016). *The R Journal* 8(2), 185-199.

    Examples
    --------
    >>> import numpy as np
    >>> from causalattn.observational import double_selection
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=(300, 100))            # 100 candidates; x0 confounds, x1 predicts the outcome
    >>> d = 0.8 * x[:, 0] + rng.normal(size=300)
    >>> y = 0.5 * d + 1.0 * x[:, 0] + 1.0 * x[:, 1] + rng.normal(size=300)
    >>> est = double_selection(outcome=y, treatment=d, covariates=x)
    >>> round(est.estimate, 2), est.method, est.details["selected"][:2]
    (0.58, 'ols-HC2', ['covariate0', 'covariate1'])
    """
    level = check_confidence_level(confidence_level)
    alpha, cv = lasso_options_iv(alpha, cv)
    if cov_type not in ("HC0", "HC1", "HC2", "HC3"):
        raise ValueError(f"`cov_type` must be one of ['HC0', 'HC1', 'HC2', 'HC3'] (a heteroskedasticity-robust "
                         f"covariance), got {cov_type!r}")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame or None, got {type(data).__name__}")
    if outcome is None or treatment is None or covariates is None:
        raise ValueError("`outcome`, `treatment` and `covariates` are required")
    if data is None:
        check_same_index(outcome=outcome, treatment=treatment, covariates=covariates)
        y_name, d_name = "outcome", "treatment"
        y, d = as_float_array("outcome", outcome), as_float_array("treatment", treatment)
    else:
        check_columns(data, outcome=outcome, treatment=treatment)
        y_name, d_name = outcome, treatment
        y, d = (as_float_array(arg, data[col], column=col) for arg, col in (("outcome", outcome),
                                                                            ("treatment", treatment)))
    x, names = covariate_matrix(data, covariates)
    check_same_length(outcome=y, treatment=d, covariates=x)
    check_not_constant("`outcome`", y)
    if len(y) < 3:
        raise ValueError(f"`outcome`: post-double-selection needs at least 3 units (the final OLS fits an intercept "
                         f"and the treatment, with a residual degree of freedom), got {len(y)}")
    if len(set(names) & {y_name, d_name}):
        raise ValueError(f"`covariates` must not include the outcome or the treatment ({y_name!r}, {d_name!r})")
    standardized = standardize(x, names)
    selections, penalties = [], {}
    for target, role in ((y, "outcome"), (d, "treatment")):
        _, beta, penalty = lasso_fit(standardized, target, alpha, cv)
        selections.append([j for j in range(len(names)) if beta[j] != 0])
        penalties.update(penalty.details(role, names))
    union = sorted(set(selections[0]) | set(selections[1]))
    if len(union) + 2 >= len(y):
        raise ValueError(f"the lassos selected {len(union)} covariates for {len(y)} units: too many for the final "
                         f"OLS (at most {len(y) - 3}); fix a larger penalty (`alpha`, a number)")
    kept, dropped = _final_covariates(standardized, union, d, d_name)
    frame = pd.DataFrame({y_name: y, d_name: d, **{names[j]: x[:, j] for j in kept}})
    est = ols(frame, y_name, d_name, [names[j] for j in kept] or None, cov_type=cov_type, confidence_level=level)
    if len(y) - len(kept) - 2 < MIN_EFFECTIVE_UNITS:
        warnings.warn(f"double_selection: the final OLS has {len(y) - len(kept) - 2} residual degrees of freedom "
                      f"({len(y)} units, {len(kept)} covariates selected), fewer than {MIN_EFFECTIVE_UNITS}: its "
                      "large-sample normal interval may undercover", SmallSampleWarning, stacklevel=2)
    details = {**est.details, "selected_outcome": [names[j] for j in selections[0]],
               "selected_treatment": [names[j] for j in selections[1]], "selected": [names[j] for j in kept],
               "dropped_collinear": [names[j] for j in dropped],
               "penalty": penalty_rule(alpha, cv), **penalties, "n_candidates": len(names),
               "distribution": "normal"}
    return Estimate(f"effect of {d_name} (post-double-selection)", est.estimate, est.standard_error,
                    est.confidence_interval, est.confidence_level, est.pvalue, est.method, est.n,
                    details=details)



def _final_covariates(x: np.ndarray, union: list[int], d: np.ndarray, d_name: str) -> tuple[list[int], list[int]]:
    """The selected covariates (columns ``union`` of ``x``) without those the ones before them determine, as R's
    ``lm`` would alias them (the treatment's coefficient is the same without them), and the ones dropped.

    A treatment that the intercept and the kept covariates determine has no identified coefficient: an error.
    """
    ones = np.ones((len(d), 1))
    kept, dropped = list(union), []
    while (j := aliased(np.column_stack([ones, x[:, kept]]))) is not None:
        dropped.append(kept.pop(j - 1))
    if aliased(np.column_stack([ones, x[:, kept], d])) is not None:
        raise ValueError(f"`treatment` ({d_name!r}) is constant or a linear function of the selected covariates "
                         "(the treatment's lasso keeps what predicts it exactly): its effect is not identified")
    return kept, dropped
