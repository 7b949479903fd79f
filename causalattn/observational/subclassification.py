r"""Propensity-score subclassification: strata of the estimated score, then a stratified difference in means.

The units are cut into :math:`K` strata at quantiles of :math:`\hat e(X)` (right-closed, as :func:`pandas.qcut`)
(of all units for the ATE, of the treated for the ATT) and treated as a
stratified experiment (Rosenbaum and Rubin 1984):

* ATE: Neyman's stratified estimator :math:`\sum_k (n_k/n)(\bar Y_{1k} - \bar Y_{0k})`
  with variance :math:`\sum_k (n_k/n)^2 (S_{1k}^2/n_{1k} + S_{0k}^2/n_{0k})`
  (:func:`causalattn.experiments.neyman` with ``strata``);
* ATT: the same with weights :math:`n_{1k}/n_1`.

The interval is normal, :math:`\hat\tau \pm z_{1-\alpha/2}\hat V^{1/2}` (a
large-sample interval, ``method="normal"``), or Student's t
(``method="t"``) with Satterthwaite's degrees of freedom
:math:`\nu = \hat V^2 / \sum_{k,a} v_{ka}^2 / (n_{ka} - 1)`, where
:math:`v_{ka} = w_k^2 S_{ka}^2 / n_{ka}` are the terms of :math:`\hat V`
(:math:`w_k` the stratum weight): exact for normal outcomes with equal
variances in one stratum, and the better choice with few units per stratum.

Five strata remove about 90% of the bias of a covariate (Cochran 1968); the
score is treated as known in the variance.

References
----------
Rosenbaum, P. R. and Rubin, D. B. (1984). Reducing bias in observational
studies using subclassification on the propensity score. *JASA* 79, 516-524.

Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance
components. *Biometrics Bulletin* 2, 110-114.

Cochran, W. G. (1968). The effectiveness of adjustment by subclassification
in removing bias in observational studies. *Biometrics* 24, 295-313.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 11. CRC Press.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd

from causalattn._student import satterthwaite_df, t_estimate
from causalattn._validation import check_choice, check_confidence_level, check_positive_int
from causalattn.estimate import Estimate, normal_estimate
from causalattn.experiments.neyman import neyman
from causalattn.observational._data import asymptotics, estimand_iv, units_iv
from causalattn.observational.propensity import score_from_units, score_model_iv

__all__ = ["subclassification"]


def _subclassification_iv(data, outcome, treatment, covariates, estimand, n_strata, model, confidence_level,
                          method):
    """Validate the arguments of :func:`subclassification`."""
    estimand = estimand_iv(estimand)
    n_strata = check_positive_int("n_strata", n_strata, minimum=2)
    level = check_confidence_level(confidence_level)
    method = check_choice("method", method, ("normal", "t"))
    return units_iv(data, outcome, treatment, covariates), estimand, n_strata, score_model_iv(model), level, method


def subclassification(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    estimand: str = "ATE",
    n_strata: int = 5,
    model: Any = None,
    confidence_level: float = 0.95,
    method: str = "normal",
) -> Estimate:
    r"""Propensity-score subclassification estimator of the ATE or the ATT.

    See the module docstring. Each stratum needs at least 2 treated and 2
    control units (for its variances); otherwise a ``ValueError`` suggests
    fewer strata or trimming.

    Parameters
    ----------
    data, outcome, treatment, covariates
        As in :func:`~causalattn.observational.ipw` (``covariates`` required).
    estimand : {"ATE", "ATT"}
    n_strata : int
        :math:`K`, number of strata (default 5).
    model : scikit-learn classifier, optional
        Score model; default logistic regression.
    confidence_level : float
    method : {"normal", "t"}
        The reference distribution of the interval and p-value: normal (large
        samples) or t with Satterthwaite's degrees of freedom (see the module docstring).

    Returns
    -------
    Estimate
        ``method`` ``"ps-subclassification-neyman"`` (normal) or
        ``"ps-subclassification-neyman-t"``; ``details`` has ``distribution``
        (``"normal"`` or ``"t"``), ``df`` (t only),
        ``score``, ``strata`` (stratum of each unit, 0 to K-1), ``edges``
        (the score's cut points), ``stratum_effects`` (per-stratum
        difference in means) and ``asymptotics``. With ``method="normal"`` and
        fewer than 20 Satterthwaite degrees of freedom (the effective number of
        units behind the variance) a
        :class:`~causalattn.observational.SmallSampleWarning` suggests ``"t"``.

    Warns
    -----
    SmallSampleWarning
        With ``method="normal"``, fewer than 20 Satterthwaite degrees of freedom.

    Raises
    ------
    ValueError
        A stratum with fewer than 2 treated or 2 control units, a constant
        outcome, covariates that are constant, collinear or separate the arms.

    References
    ----------
    Rosenbaum, P. R. and Rubin, D. B. (1984). *JASA* 79, 516-524.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 11. CRC Press.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import subclassification
    >>> nsw = datasets.load("lalonde_nsw")
    >>> est = subclassification(nsw, "re78", "treat", ["age", "educ", "black", "married", "re74", "re75"])
    >>> round(est.estimate), est.details["n_strata"]
    (1569, 5)
    """
    units, estimand, n_strata, score_model, level, method = _subclassification_iv(
        data, outcome, treatment, covariates, estimand, n_strata, model, confidence_level, method)
    score = score_from_units(units, score_model).score
    z, y = units.z, units.y
    reference = score if estimand == "ATE" else score[z == 1]
    edges = np.quantile(reference, np.linspace(0, 1, n_strata + 1))
    strata = np.searchsorted(edges[1:-1], score, side="left")  # right-closed strata, as pandas.qcut
    n1 = np.bincount(strata, weights=z, minlength=n_strata)
    n0 = np.bincount(strata, weights=1 - z, minlength=n_strata)
    thin = np.flatnonzero((n1 < 2) | (n0 < 2))
    if thin.size:
        k = int(thin[0])
        raise ValueError(
            f"`n_strata`: stratum {k} (score in [{edges[k]:.3g}, {edges[k + 1]:.3g}]) has {int(n1[k])} treated and "
            f"{int(n0[k])} control units, at least 2 of each are needed; use fewer strata or trim the sample "
            "(PropensityScore.trim)"
        )
    effects, variances, sizes = _stratum_effects(y, z, strata, n_strata)
    weights = (n1 + n0) / units.n if estimand == "ATE" else n1 / n1.sum()
    parts = weights[:, None] ** 2 * variances  # the terms of the variance, per stratum and arm
    df = satterthwaite_df(parts.ravel(), sizes.ravel())
    note = (f"Student t with Satterthwaite's {df:.3g} degrees of freedom" if method == "t" else
            asymptotics("subclassification", {"the variance (Satterthwaite degrees of freedom)": df},
                        advice="; use `method`='t'"))
    details: dict[str, Any] = {"score": score, "strata": strata, "edges": tuple(edges.tolist()),
                               "n_strata": n_strata, "distribution": method, "stratum_effects": effects,
                               "asymptotics": note}
    name = "ps-subclassification-neyman" + ("-t" if method == "t" else "")
    if estimand == "ATE":
        est = neyman(y, z, strata=strata, confidence_level=level, method=method)
        return dataclasses.replace(est, estimand="ATE", method=name, details={**est.details, **details})
    tau, se = float(weights @ effects), math.sqrt(float(parts.sum()))
    details.update(n_treated=int(n1.sum()), n_control=int(n0.sum()))
    if method == "t":
        return t_estimate("ATT", tau, se, df, confidence_level=level, method=name, n=units.n, details=details)
    return normal_estimate("ATT", tau, se, confidence_level=level, method=name, n=units.n, details=details)


def _stratum_effects(y: np.ndarray, z: np.ndarray, strata: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Per-stratum difference in means, and per stratum and arm (treated, control) ``S^2/n`` and ``n``."""
    effects, variances, sizes = np.empty(k), np.empty((k, 2)), np.empty((k, 2))
    for s in range(k):
        y1, y0 = y[(strata == s) & (z == 1)], y[(strata == s) & (z == 0)]
        effects[s] = y1.mean() - y0.mean()
        variances[s] = y1.var(ddof=1) / len(y1), y0.var(ddof=1) / len(y0)
        sizes[s] = len(y1), len(y0)
    return effects, variances, sizes
