"""Observational studies (Ding 2024, parts III-V): estimators of the ATE and the ATT under ignorability, and IV.

One module per family:

========================  ===================================================================
module                    contents
========================  ===================================================================
``propensity``            :func:`propensity_score`: the score, its ranges, overlap plot, trimming
``balance``               :func:`balance`: standardized mean differences, variance ratios, love plot
``weighting``             :func:`ipw`: Horvitz-Thompson and Hajek, sandwich or bootstrap SE
``outcome``               :func:`outcome_regression`: imputation from separate fits by arm
``doubly_robust``         :func:`aipw`: augmented IPW, influence-function SE, cross-fitting
``subclassification``     :func:`subclassification`: strata of the score, Neyman's stratified estimator
``matching``              :func:`match`: Abadie-Imbens nearest-neighbour matching, bias correction
``sensitivity``           :func:`e_value`: VanderWeele and Ding's E-value
``instruments``           :func:`cace` (Wald) and :func:`tsls` (two-stage least squares)
========================  ===================================================================

Every estimator returns a :class:`~causalattn.Estimate` with ``estimand``
``"ATE"`` or ``"ATT"`` (``"CACE"`` and a 2SLS coefficient for the IV
estimators), a ``method`` naming the estimator and its standard error, ``n``,
and ``details`` holding the score, the weights or the matches.
"""

from causalattn.observational.balance import Balance, balance
from causalattn.observational.doubly_robust import aipw
from causalattn.observational.instruments import WeakInstrumentWarning, cace, tsls
from causalattn.observational.matching import match
from causalattn.observational.outcome import outcome_regression
from causalattn.observational.propensity import PropensityScore, Trimming, crump_threshold, propensity_score
from causalattn.observational.sensitivity import EValue, e_value
from causalattn.observational.subclassification import subclassification
from causalattn.observational.weighting import ipw

__all__ = ["Balance", "EValue", "PropensityScore", "Trimming", "WeakInstrumentWarning", "aipw", "balance", "cace",
           "crump_threshold", "e_value", "ipw", "match", "outcome_regression", "propensity_score",
           "subclassification", "tsls"]
