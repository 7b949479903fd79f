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
from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_confidence_level,
    check_same_index,
    check_same_length,
)
from causalattn.designs import MPE, Groups
from causalattn.estimate import Estimate, normal_estimate

__all__ = ["neyman"]


def stratified_difference(
    outcome: np.ndarray, assignments: np.ndarray, groups: Groups, *, paired: bool = False, variance: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""The stratified difference in means and its conservative variance, for each row of ``assignments``.

    With strata :math:`k = 1, \dots, K` of sizes :math:`n_k` and :math:`\pi_k = n_k / n`,
    :math:`\hat\tau = \sum_k \pi_k (\bar Y_{1k} - \bar Y_{0k})` and
    :math:`\hat V = \sum_k \pi_k^2 (S_{1k}^2 / n_{1k} + S_{0k}^2 / n_{0k})`.
    One stratum gives the CRE difference in means. For pairs (``paired=True``)
    :math:`\hat\tau` is the mean of the pair differences :math:`\hat\tau_i` and
    :math:`\hat V = \sum_i (\hat\tau_i - \hat\tau)^2 / \{m (m - 1)\}`.

    ``outcome`` is ``(n,)`` and ``assignments`` ``(B, n)`` of 0/1; returns two
    ``(B,)`` arrays (the second ``None`` unless ``variance``). Assignments with
    fewer than 2 units in an arm of a stratum give a NaN variance.
    """
    centred = outcome - (groups.sums(outcome) / groups.sizes)[groups.codes]  # for accuracy of the variances
    n1 = groups.sums(assignments)  # (B, K)
    n0 = groups.sizes - n1
    total = groups.sums(centred)
    sum1 = groups.sums(assignments, centred)
    mean1, mean0 = sum1 / n1, (total - sum1) / n0
    weights = groups.sizes / groups.n
    tau_k = mean1 - mean0
    tau = tau_k @ weights
    if not variance:
        return tau, None
    with np.errstate(divide="ignore", invalid="ignore"):
        if paired:
            m = groups.k
            var = ((tau_k - tau[:, None]) ** 2).sum(axis=1) / (m * (m - 1))
        else:
            squares1 = groups.sums(assignments, centred**2)
            var1 = (squares1 - n1 * mean1**2) / (n1 - 1)
            var0 = (groups.sums(centred**2) - squares1 - n0 * mean0**2) / (n0 - 1)
            var = (var1 / n1 + var0 / n0) @ weights**2
    return tau, np.maximum(var, 0.0)


def _neyman_iv(outcome, treatment, strata, pairs, confidence_level):
    check_same_index(outcome=outcome, treatment=treatment, strata=strata, pairs=pairs)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    level = check_confidence_level(confidence_level)
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
    return y, z, groups, pairs is not None, level


def neyman(outcome, treatment, *, strata=None, pairs=None, confidence_level: float = 0.95) -> Estimate:
    r"""Neyman's unbiased estimator of the average treatment effect with its conservative variance.

    * CRE (no ``strata``, no ``pairs``): :math:`\hat\tau = \bar Y_1 - \bar Y_0`,
      :math:`\hat V = S_1^2 / n_1 + S_0^2 / n_0`.
    * SRE or post-stratification (``strata``): :math:`\hat\tau_S = \sum_k \pi_k \hat\tau_k`,
      :math:`\hat V_S = \sum_k \pi_k^2 (S_{1k}^2 / n_{1k} + S_{0k}^2 / n_{0k})`, :math:`\pi_k = n_k / n`.
    * MPE (``pairs``): :math:`\hat\tau = m^{-1} \sum_i \hat\tau_i` over the pair
      differences (treated minus control), :math:`\hat V = \sum_i (\hat\tau_i - \hat\tau)^2 / \{m(m-1)\}`.

    The interval is :math:`\hat\tau \pm z_{1-\alpha/2} \hat V^{1/2}`; it is
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

    Arguments are matched by position. pandas Series with different indexes
    are refused (align them first) rather than matched silently.

    Returns
    -------
    Estimate
        ``method`` is ``"neyman"``, ``"neyman-stratified"`` or ``"neyman-paired"``;
        ``details`` holds ``n_treated``, ``n_control`` and ``n_groups`` (strata or pairs).

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 4, 5 and 7.

    Examples
    --------
    >>> est = neyman([3.0, 5.0, 4.0, 1.0, 2.0, 2.0], [1, 1, 1, 0, 0, 0])
    >>> round(est.estimate, 4), round(est.standard_error, 4)
    (2.3333, 0.6667)
    """
    y, z, groups, paired, level = _neyman_iv(outcome, treatment, strata, pairs, confidence_level)
    scale = power_of_two_scale(y)  # exact rescaling: outcomes near 1e300 would overflow their squares
    tau, var = stratified_difference(y / scale, z[None, :].astype(float), groups, paired=paired, variance=True)
    spread = float(np.ptp(y / scale))
    # a within-arm variance of rounding size is exactly 0 (its noise is about eps * mean**2, hence the square)
    tau = 0.0 if zero_up_to_rounding(tau[0], spread) else float(tau[0])
    se = 0.0 if zero_up_to_rounding(var[0], spread**2) else math.sqrt(var[0])
    if not math.isfinite(tau * scale) or not math.isfinite(se * scale):
        raise ValueError(f"`outcome`: the difference in means or its standard error ({tau:.3g} and {se:.3g} times "
                         f"{scale:.3g}) overflows floating point; express the outcome in larger units")
    kind, method = ("paired ", "neyman-paired") if paired else (
        ("stratified ", "neyman-stratified") if strata is not None else ("", "neyman"))
    return normal_estimate(
        f"{kind}difference in means",
        tau * scale,
        se * scale,
        confidence_level=level,
        method=method,
        n=len(y),
        details={"n_treated": int(z.sum()), "n_control": int(len(z) - z.sum()), "n_groups": groups.k},
    )
