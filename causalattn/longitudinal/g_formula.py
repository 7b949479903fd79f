r"""The parametric g-formula for treatments at several times, by iterated conditional expectations.

Robins' g-formula writes the mean potential outcome under a static regime :math:`\bar a` as
nested expectations over the confounder history,

.. math::

    E[Y^{\bar a}] = E\Bigl[\, E\bigl[\cdots E[\,Y \mid \bar L_{T-1}, \bar A_{T-1} = \bar a\,]
                    \cdots \bigm| \bar L_0, A_0 = a_0\bigr] \Bigr],

which the iterated-conditional-expectation algorithm estimates backwards in time (Bang and
Robins 2005): regress :math:`Y` on the history at the last time (every confounder and every
treatment), predict it with the treatments set to the regime, call that :math:`\hat Q_{T-1}`;
for :math:`t = T-2, \dots, 0` regress :math:`\hat Q_{t+1}` on the history at time :math:`t` and
predict with the treatments set to the regime; average :math:`\hat Q_0` over the subjects.
Every regression is a linear model (statsmodels OLS) of its history, main terms only. Unlike an
outcome regression on the whole history, it never conditions on a confounder that a treatment
being contrasted has affected, so it is unbiased when those linear models are right.

The standard error is the standard deviation of the contrast over a nonparametric bootstrap of the
subjects (scipy), every model refitted in every resample; the interval is normal,
:math:`\hat\tau \pm z\,\widehat{se}_{boot}`, its test the same (the percentile interval is in
``details``).

References
----------
Robins, J. M. (1986). A new approach to causal inference in mortality studies with a sustained
exposure period. *Mathematical Modelling* 7, 1393-1512.

Bang, H. and Robins, J. M. (2005). Doubly robust estimation in missing data and causal inference
models. *Biometrics* 61, 962-973.

Hernán, M. A. and Robins, J. M. (2020). *Causal Inference: What If*, ch. 21. Chapman & Hall/CRC.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from statsmodels.regression.linear_model import OLS

from causalattn import _scaled_fit
from causalattn._validation import check_confidence_level, check_resamples, check_rng
from causalattn.estimate import normal_estimate
from causalattn.longitudinal._history import History, contrast_label, study_iv, time_asymptotics
from causalattn.observational._data import bootstrap

__all__ = ["g_formula"]


def _regime_mean(history: History, y: np.ndarray, regime: np.ndarray, rows: np.ndarray) -> float:
    """The ICE estimate of E[Y^regime] on the subjects ``rows`` (indices, with repeats).

    A regression whose history is rank deficient on ``rows`` (a treatment or confounder constant among them) is
    a ValueError: its pseudo-inverse solution would predict the regime from an arbitrary split of the aliased
    coefficients."""
    target = y[rows]
    for t in range(history.times - 1, -1, -1):
        design = history.design(t, through=t + 1)[rows]
        fit = _scaled_fit.least_squares(OLS(target, design), outcome="the outcome",
                                        names=[repr(c) for c in history.names(t, through=t + 1)])
        design[:, design.shape[1] - (t + 1):] = regime[: t + 1]  # the treatments 0..t set to the regime
        target = design @ fit.params
    return float(target.mean())


def _contrast(history: History, y: np.ndarray, treated: np.ndarray, control: np.ndarray, rows: np.ndarray) -> float:
    """The contrast on the resampled ``rows``; NaN (a failed replicate, reported) if a regression cannot be fitted."""
    try:
        return _regime_mean(history, y, treated, rows) - _regime_mean(history, y, control, rows)
    except ValueError:
        return float("nan")


def g_formula(
    data: pd.DataFrame,
    outcome: str,
    treatments: list[str],
    confounders: list[Any],
    *,
    treated: Any = None,
    control: Any = None,
    n_resamples: int = 200,
    rng: Any = None,
    confidence_level: float = 0.95,
):
    r"""The contrast of two treatment regimes by the parametric g-formula (iterated conditional expectations).

    Parameters
    ----------
    data : DataFrame
        One row per subject (wide format).
    outcome : str
        The outcome column, measured after the last treatment.
    treatments : list of str
        The 0/1 treatment column of each time, in time order (at least 2).
    confounders : list
        Per time, the column(s) measured before that time's treatment.
    treated, control : sequence of 0/1, optional
        The regimes contrasted (default: treated at every time, and never).
    n_resamples : int
        Bootstrap resamples of the subjects for the standard error and the percentile interval: at
        least :func:`~causalattn._validation.minimum_resamples` (40 at 95%).
    rng : None, int or numpy Generator
        Fixes the bootstrap.
    confidence_level : float

    Returns
    -------
    Estimate
        ``method`` ``"g-formula-ice-bootstrap"``, a normal interval with the bootstrap SE;
        ``details`` has ``mean_treated`` and ``mean_control`` (the two regimes' estimated mean
        outcomes), ``percentile_interval``, ``n_resamples``.

    Raises
    ------
    ValueError
        As :func:`~causalattn.longitudinal.msm`; a history whose regression is rank deficient
        (e.g. one treatment determined by another), or a bootstrap resample that cannot be fitted.

    References
    ----------
    Bang, H. and Robins, J. M. (2005). *Biometrics* 61, 962-973.

    Hernán, M. A. and Robins, J. M. (2020). *Causal Inference: What If*, ch. 21.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.longitudinal import g_formula
    >>> data = datasets.load("time_varying")   # truth: 2.5
    >>> g_formula(data, "y", ["a0", "a1"], ["l0", "l1"], rng=0)  # doctest: +ELLIPSIS
    Estimate(always vs never treated = 2.568, SE 0.1155, 95% CI [2.341, 2.794], p = 1.90e-109; method=g-formula-ice-...)
    """
    level = check_confidence_level(confidence_level)
    n_resamples = check_resamples("n_resamples", n_resamples, level)
    generator = check_rng(rng)
    history, y, treated_regime, control_regime = study_iv(data, outcome, treatments, confounders, treated, control)
    full = history.design(history.times - 1, through=history.times)
    j = _scaled_fit.aliased(full)
    if j is not None:
        names = history.names(history.times - 1, through=history.times)
        raise ValueError(f"the outcome regression on the history {names} is rank deficient: "
                         f"{_scaled_fit.collinearity([repr(c) for c in names], j)}; a confounder is constant or "
                         "collinear, or a treatment is determined by the others")
    note = time_asymptotics("g_formula", history)
    everyone = np.arange(history.n)
    means = [_regime_mean(history, y, regime, everyone) for regime in (treated_regime, control_regime)]
    value = means[0] - means[1]
    se, percentile = bootstrap(history.n, lambda rows: _contrast(history, y, treated_regime, control_regime, rows),
                               n_resamples, level, generator,
                               why="a regression of the history that is rank deficient in the resample: a treatment "
                                   "or confounder constant among the resampled subjects, e.g. a rarely given "
                                   "treatment; use more subjects, or coarser histories")
    return normal_estimate(
        contrast_label(treated_regime, control_regime), value, se, confidence_level=level,
        method="g-formula-ice-bootstrap", n=history.n,
        details={"mean_treated": means[0], "mean_control": means[1], "percentile_interval": percentile,
                 "n_resamples": n_resamples, "distribution": "normal", "treated": tuple(treated_regime.tolist()),
                 "control": tuple(control_regime.tolist()), "outcome": outcome, "asymptotics": note},
    )
