"""Neyman's repeated-sampling inference for the average treatment effect: CRE, SRE and MPE.

The units are plain array positions: patients, evaluation sequences or
training seeds alike; nothing is assumed about column names.

References
----------
Neyman, J. (1923/1990). On the application of probability theory to
agricultural experiments. *Statistical Science* 5(4), 465-472.
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 4 (CRE),
ch. 5 (SRE and post-stratification), ch. 7 (MPE).
"""

from __future__ import annotations

import math

import numpy as np

from causalattn._rounding import power_of_two_scale, zero_up_to_rounding
from causalattn._student import satterthwaite_df, t_estimate
from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_choice,
    check_confidence_level,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import Estimate, normal_estimate
from causalattn.experiments.designs import MPE, Groups, stratified_difference

__all__ = ["neyman"]

_METHODS = ("normal", "t")


def _neyman_iv(outcome, treatment, strata, pairs, confidence_level, method):
    check_same_index(outcome=outcome, treatment=treatment, strata=strata, pairs=pairs)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    level = check_confidence_level(confidence_level)
    method = check_choice("method", method, _METHODS)
    if strata is not None and pairs is not None:
        raise ValueError("give `strata` or `pairs`, not both")
    if pairs is not None:
        check_same_length(outcome=y, pairs=np.asarray(pairs))
        groups = MPE(pairs).groups
        groups.check_both_arms(z)
        if groups.k < 2:
            raise ValueError(f"`pairs`: need at least 2 pairs for a variance, got {groups.k}")
    else:
        groups = Groups(strata, len(y), "strata")
        groups.check_both_arms(z, minimum=2)
    return y, z, groups, pairs is not None, level, method


def _welch_df(y: np.ndarray, z: np.ndarray, groups: Groups, paired: bool) -> float:
    r"""Satterthwaite's degrees of freedom :math:`\hat V^2 / \sum_{k,a} v_{ka}^2 / (n_{ka} - 1)`; m - 1 in pairs.

    :math:`v_{ka} = \pi_k^2 S_{ka}^2 / n_{ka}` is the share of arm :math:`a` of stratum
    :math:`k` in :math:`\hat V`; one stratum gives Welch's degrees of freedom.
    """
    if paired:
        return float(groups.k - 1)
    parts, sizes = [], []
    for members, size in zip(groups.members, groups.sizes, strict=True):
        weight = size / groups.n
        for arm in (1, 0):
            values = y[members][z[members] == arm]
            parts.append(weight**2 * values.var(ddof=1) / len(values))
            sizes.append(len(values))
    return satterthwaite_df(parts, sizes)


def neyman(outcome, treatment, *, strata=None, pairs=None, confidence_level: float = 0.95,
           method: str = "normal") -> Estimate:
    r"""Neyman's unbiased estimator of the average treatment effect with its conservative variance.

    * CRE (no ``strata``, no ``pairs``): :math:`\hat\tau = \bar Y_1 - \bar Y_0`,
      :math:`\hat V = S_1^2 / n_1 + S_0^2 / n_0`.
    * SRE or post-stratification (``strata``): :math:`\hat\tau_S = \sum_k \pi_k \hat\tau_k`,
      :math:`\hat V_S = \sum_k \pi_k^2 (S_{1k}^2 / n_{1k} + S_{0k}^2 / n_{0k})`, :math:`\pi_k = n_k / n`.
    * MPE (``pairs``): :math:`\hat\tau = m^{-1} \sum_i \hat\tau_i` over the pair
      differences (treated minus control), :math:`\hat V = \sum_i (\hat\tau_i - \hat\tau)^2 / \{m(m-1)\}`.

    The interval is :math:`\hat\tau \pm z_{1-\alpha/2} \hat V^{1/2}` (``method="normal"``,
    Ding's), or :math:`\hat\tau \pm t_{\nu, 1-\alpha/2} \hat V^{1/2}` (``method="t"``) with
    :math:`\nu` Welch-Satterthwaite's degrees of freedom
    :math:`\nu = \hat V^2 / \sum_{k,a} v_{ka}^2 / (n_{ka} - 1)`, where
    :math:`v_{ka} = \pi_k^2 S_{ka}^2 / n_{ka}` are the terms of :math:`\hat V`
    (for a CRE, :math:`\nu = (S_1^2/n_1 + S_0^2/n_0)^2 / \{(S_1^2/n_1)^2/(n_1-1) + (S_0^2/n_0)^2/(n_0-1)\}`,
    the interval of ``scipy.stats.ttest_ind(equal_var=False)``), and :math:`\nu = m - 1`
    in pairs (the paired t interval of ``scipy.stats.ttest_rel``). With few units
    the normal quantile undercovers: prefer ``"t"``. Either interval is
    conservative because the variance of the individual effects cannot be
    estimated. The CRE variance equals the squared HC2 standard error of the
    OLS coefficient of the outcome on the treatment.

    An estimate below :math:`10^{-12}` times the range of the outcome, or a
    variance below :math:`10^{-12}` times its square, is floating-point
    rounding and is reported as exactly 0 (a standard error of 0 has no
    p-value). The outcome is rescaled internally by
    a power of two, so values up to the float limit do not overflow.

    Parameters
    ----------
    outcome : array-like of float, shape (n,)
    treatment : array-like of 0/1, shape (n,)
    strata : array-like, optional
        A stratum label per unit; each stratum needs at least 2 treated and 2 control units.
    pairs : array-like, optional
        A pair label per unit; each pair holds one treated and one control unit.
    confidence_level : float
        Coverage of the interval.
    method : {"normal", "t"}
        The reference distribution of the interval and the two-sided p-value.

    Arguments are matched by position. pandas Series with different indexes
    are refused (align them first) rather than matched silently.

    Returns
    -------
    Estimate
        ``method`` is ``"neyman"``, ``"neyman-stratified"`` or ``"neyman-paired"``, with
        ``"-t"`` appended for ``method="t"``; ``details`` holds ``n_treated``,
        ``n_control``, ``n_groups`` (strata or pairs) and, for ``"t"``, ``df``.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 4, 5 and 7.

    Examples
    --------
    >>> est = neyman([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0])
    >>> round(est.estimate, 4), round(est.standard_error, 4)
    (2.3333, 0.6667)
    >>> welch = neyman([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0], method="t")
    >>> round(welch.details["df"], 3), [round(x, 3) for x in welch.confidence_interval]
    (3.2, [0.285, 4.382])
    """
    y, z, groups, paired, level, method = _neyman_iv(outcome, treatment, strata, pairs, confidence_level, method)
    scale = power_of_two_scale(y)  # exact rescaling: outcomes near 1e300 would overflow their squares
    y_scaled = y / scale
    tau, var = stratified_difference(y_scaled, z[None, :].astype(float), groups, paired=paired, variance=True)
    spread = float(np.ptp(y_scaled))
    # a within-arm variance of rounding size is exactly 0 (its noise is about eps * mean**2, hence the square)
    tau = 0.0 if zero_up_to_rounding(tau[0], spread) else float(tau[0])
    se = 0.0 if zero_up_to_rounding(var[0], spread**2) else math.sqrt(var[0])
    if not math.isfinite(tau * scale) or not math.isfinite(se * scale):
        raise ValueError(f"`outcome`: the difference in means or its standard error ({tau:.3g} and {se:.3g} times "
                         f"{scale:.3g}) overflows floating point; express the outcome in larger units")
    kind, name = ("paired ", "neyman-paired") if paired else (
        ("stratified ", "neyman-stratified") if strata is not None else ("", "neyman"))
    details = {"n_treated": int(z.sum()), "n_control": int(len(z) - z.sum()), "n_groups": groups.k}
    estimand, estimate, se = f"{kind}difference in means", tau * scale, se * scale
    if method == "t":
        return t_estimate(estimand, estimate, se, _welch_df(y_scaled, z, groups, paired), confidence_level=level,
                          method=f"{name}-t", n=len(y), details=details)
    return normal_estimate(estimand, estimate, se, confidence_level=level, method=name, n=len(y), details=details)
