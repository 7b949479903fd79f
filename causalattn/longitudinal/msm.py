r"""The marginal structural model of treatments at several times, fitted by inverse-probability weighting.

The model is for the mean potential outcome under a static regime :math:`\bar a = (a_0, \dots, a_{T-1})`:

.. math::

    E[Y^{\bar a}] = \beta_0 + \sum_{t=0}^{T-1} \beta_{t+1} a_t \quad \text{(``"separate"``)}, \qquad
    E[Y^{\bar a}] = \beta_0 + \beta_1 \sum_t a_t \quad \text{(``"cumulative"``)},

fitted by the weighted least-squares regression of :math:`Y` on the treatment history with the
stabilized weights :math:`SW_i` of :func:`~causalattn.longitudinal.treatment_weights`
(statsmodels WLS). The reported contrast between two regimes (by default always against never
treated) is :math:`\sum_t \beta_{t+1}(a_t - a'_t)`, or :math:`\beta_1 \sum_t (a_t - a'_t)`.

Its standard error is the robust sandwich clustered by subject (one row per subject here:
statsmodels' cluster covariance, the HC0 sandwich times :math:`\frac{G}{G-1}\frac{n-1}{n-p}`),
with a normal interval and the Wald test from the same covariance (statsmodels' ``t_test`` of
the contrast). It treats the weights as known, which makes it conservative: estimating the
treatment models would only shrink the variance (Robins, Hernán and Brumback 2000). Coverage is
measured in ``benchmarks/coverage.py``.

References
----------
Robins, J. M., Hernán, M. A. and Brumback, B. (2000). Marginal structural models and causal
inference in epidemiology. *Epidemiology* 11, 550-560.

Hernán, M. A. and Robins, J. M. (2020). *Causal Inference: What If*, ch. 12 and 21.
Chapman & Hall/CRC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import WLS

from causalattn._validation import check_choice, check_confidence_level, check_flag
from causalattn.estimate import ConfidenceInterval, Estimate
from causalattn.longitudinal._history import contrast_label, study_iv, time_asymptotics
from causalattn.longitudinal.weights import truncation_iv, weights_from_history

__all__ = ["msm"]

MODELS = ("separate", "cumulative")


def msm(
    data: pd.DataFrame,
    outcome: str,
    treatments: list[str],
    confounders: list[Any],
    *,
    model: str = "separate",
    treated: Any = None,
    control: Any = None,
    stabilized: bool = True,
    truncate: tuple[float, float] | None = None,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""The contrast of two treatment regimes in a marginal structural model, by inverse-probability weighting.

    Parameters
    ----------
    data : DataFrame
        One row per subject (wide format).
    outcome : str
        The outcome column, measured after the last treatment.
    treatments : list of str
        The 0/1 treatment column of each time, in time order (at least 2).
    confounders : list
        Per time, the column(s) measured before that time's treatment (they enter the weights,
        not the outcome model).
    model : {"separate", "cumulative"}
        One coefficient per time, or one for the number of treated times.
    treated, control : sequence of 0/1, optional
        The regimes contrasted (default: treated at every time, and never).
    stabilized, truncate
        As in :func:`~causalattn.longitudinal.treatment_weights`.
    confidence_level : float

    Returns
    -------
    Estimate
        ``estimand`` e.g. ``"always vs never treated"``, ``method`` ``"msm-iptw-cluster"``, a
        normal interval (``details["distribution"]``). ``details`` has ``coefficients`` (a
        DataFrame of the MSM's coefficients with their cluster-robust SEs), ``weights`` (the
        :class:`~causalattn.longitudinal.TreatmentWeights`, with ``diagnostics()``), ``fit``
        (the statsmodels results), ``model``, ``treated``, ``control``.

    Raises
    ------
    ValueError
        As :func:`~causalattn.longitudinal.treatment_weights`; a missing or non-finite outcome,
        an unknown ``model``, or regimes that are not 0/1 per time.

    References
    ----------
    Robins, J. M., Hernán, M. A. and Brumback, B. (2000). *Epidemiology* 11, 550-560.

    Examples
    --------
    The simulated study of ``datasets/build_time_varying.py`` (truth: always against never
    treated = 2.5, a0 1 and a1 1.5):

    >>> from causalattn import datasets
    >>> from causalattn.longitudinal import msm
    >>> data = datasets.load("time_varying")
    >>> est = msm(data, "y", ["a0", "a1"], ["l0", "l1"])
    >>> est  # doctest: +ELLIPSIS
    Estimate(always vs never treated = 2.42, SE 0.2195, 95% CI [1.99, 2.851], p = 2.84e-28; method=msm-iptw-...)
    >>> est.details["coefficients"]["estimate"].round(3).tolist()
    [2.066, 1.18, 1.24]
    """
    model = check_choice("model", model, MODELS)
    level = check_confidence_level(confidence_level)
    stabilized = check_flag("stabilized", stabilized)
    truncation = truncation_iv(truncate)
    history, y, treated_regime, control_regime = study_iv(data, outcome, treatments, confounders, treated, control)
    weights = weights_from_history(history, stabilized=stabilized, truncation=truncation)
    note = time_asymptotics("msm", history, weights.weights)
    if model == "separate":
        names = ["const", *history.treatment_names]
        design = np.column_stack([np.ones(history.n), history.treatments])
        contrast = np.concatenate([[0.0], treated_regime - control_regime])
    else:
        names = ["const", "treated times"]
        design = np.column_stack([np.ones(history.n), history.treatments.sum(axis=1)])
        contrast = np.array([0.0, float(treated_regime.sum() - control_regime.sum())])
    fit = WLS(y, design, weights=weights.weights).fit(cov_type="cluster",
                                                         cov_kwds={"groups": np.arange(history.n)})
    test = fit.t_test(contrast)
    value, se = float(np.squeeze(test.effect)), float(np.squeeze(test.sd))
    low, high = (float(v) for v in np.squeeze(test.conf_int(alpha=1 - level)))
    intervals = fit.conf_int(alpha=1 - level)
    coefficients = pd.DataFrame({"estimate": fit.params, "standard_error": fit.bse, "pvalue": fit.pvalues,
                                 "ci_low": intervals[:, 0], "ci_high": intervals[:, 1]}, index=names)
    return Estimate(
        contrast_label(treated_regime, control_regime), value, se, ConfidenceInterval(low, high), level,
        float(np.squeeze(test.pvalue)), "msm-iptw-cluster", history.n,
        details={"coefficients": coefficients, "weights": weights, "fit": fit, "model": model,
                 "treated": tuple(treated_regime.tolist()), "control": tuple(control_regime.tolist()),
                 "distribution": "normal", "outcome": outcome, "asymptotics": note},
    )
