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

from dataclasses import dataclass

import numpy as np

from causalattn._validation import (
    as_binary_array,
    as_float_array,
    check_same_index,
    check_same_length,
)
from causalattn.estimate import Estimate
from causalattn.experiments._inference import (
    Options,
    infer,
    one_sample,
    options_iv,
    stratified_sample,
    two_sample,
)
from causalattn.experiments.designs import MPE, Groups

__all__ = ["neyman"]

_METHODS = ("normal", "t")


@dataclass(frozen=True)
class _NeymanInputs:
    """The validated input of :func:`neyman`."""

    outcome: np.ndarray
    treatment: np.ndarray
    groups: Groups  # the strata, or the pairs
    paired: bool
    options: Options


def _neyman_iv(outcome, treatment, strata, pairs, confidence_level, method) -> _NeymanInputs:
    check_same_index(outcome=outcome, treatment=treatment, strata=strata, pairs=pairs)
    y = as_float_array("outcome", outcome)
    z = as_binary_array("treatment", treatment)
    check_same_length(outcome=y, treatment=z)
    options = options_iv(method, confidence_level, 0.0, 1, None, (), methods=_METHODS)
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
    return _NeymanInputs(y, z, groups, pairs is not None, options)


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

    This is the effect layer (:mod:`causalattn.effects`) with Neyman's
    designs: its rules hold here too. When every arm (or every pair
    difference) is constant up to rounding, the standard error is 0, the
    interval a point and there is no p-value; the outcome is rescaled
    internally by a power of two, so the whole float range works;
    ``details["relies_on"]`` says what the interval needs.

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
        The labels of the effect layer: ``method`` is ``"two-arm-normal"``,
        ``"stratified-normal"`` or ``"paired-normal"`` (``-t`` for ``method="t"``),
        the ``estimand`` ``"two-arm difference in means"``, ``"stratified
        difference in means"`` or ``"paired mean difference"``; ``details`` holds
        ``design``, ``n_treated``, ``n_control``, ``n_strata`` or ``n_pairs``,
        ``relies_on`` and, for ``"t"``, ``df``.

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
    inputs = _neyman_iv(outcome, treatment, strata, pairs, confidence_level, method)
    y, z, groups = inputs.outcome, inputs.treatment, inputs.groups
    n1 = int(z.sum())
    details = {"n_treated": n1, "n_control": len(z) - n1}
    if inputs.paired:
        first, second = np.array(groups.members).T
        sign = np.where(z[first] == 1, 1.0, -1.0)  # treated minus control in every pair
        details.update(design="paired", n_pairs=groups.k)

        def engine(scaled: np.ndarray):
            d = sign * (scaled[first] - scaled[second])
            return lambda opts, method, interval: one_sample(d, opts, method, "paired", len(y), details, interval)
    elif groups.k == 1:
        details["design"] = "two-arm"

        def engine(scaled: np.ndarray):
            return lambda opts, method, interval: two_sample(scaled[z == 1], scaled[z == 0], opts, method,
                                                             "two-arm", len(y), details, interval)
    else:
        details.update(design="stratified", n_strata=groups.k)

        def engine(scaled: np.ndarray):
            return lambda opts, method, interval: stratified_sample(scaled, z, groups, opts, method, len(y),
                                                                    details, interval)
    return infer(y, engine, inputs.options, "outcome")
