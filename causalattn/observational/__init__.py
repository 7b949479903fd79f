r"""Observational studies (Ding 2024, parts III-V): estimators of the ATE and the ATT under ignorability, and IV.

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
``mendelian``             :class:`MendelianRandomization`: IVW, MR-Egger, weighted median from summary data
``double_selection``      :func:`double_selection`: lasso selection of controls for Y and for D, then OLS
========================  ===================================================================

Every estimator returns a :class:`~causalattn.Estimate` with ``estimand``
``"ATE"`` or ``"ATT"`` (``"CACE"`` and a 2SLS coefficient for the IV
estimators), a ``method`` naming the estimator and its standard error, ``n``,
and ``details`` holding the score, the weights or the matches.

The intervals and p-values are **large-sample normal** (Wald) ones,
:math:`\hat\tau \pm z_{1-\alpha/2}\,\widehat{se}`, justified by the
asymptotic normality of the estimators; ``details["distribution"]`` says
``"normal"``. With few units (or few units per arm and stratum, or a few
large weights) they can undercover: every estimator refuses fewer than 2
units in an arm, and a :class:`SmallSampleWarning` is issued when an arm
(a value of the instrument, for :func:`cace`) has fewer than
:data:`MIN_EFFECTIVE_UNITS` (20) effective units (Kish's effective sample
size for weighted estimators, Satterthwaite's degrees of freedom for
:func:`subclassification`, the residual degrees of freedom for :func:`tsls`)
or one unit carries more than :data:`MAX_WEIGHT_SHARE` (10%) of its arm's
weight; ``details["asymptotics"]`` states this and what the data gave.
Covariates that are constant, collinear, or separate the arms (no
overlap: a combination of them splits the treated from the controls) are
refused by name. Two small-sample options exist where
one is principled: :func:`subclassification` with ``method="t"`` (Student's
t with Satterthwaite's degrees of freedom over the strata and arms) and
:func:`tsls` with ``cov_type="classical"`` (t on :math:`n - p` degrees of
freedom, as R's ``AER::ivreg``). The other estimators have no exact
small-sample theory to borrow degrees of freedom from (sandwich, influence
function and matching variances), so none is invented; the bootstrap
standard error of :func:`ipw` and :func:`outcome_regression` keeps the normal
interval and reports the percentile interval in ``details``.
"""

from causalattn.observational._data import MAX_WEIGHT_SHARE, MIN_EFFECTIVE_UNITS, SmallSampleWarning
from causalattn.observational.balance import Balance, balance
from causalattn.observational.double_selection import double_selection
from causalattn.observational.doubly_robust import aipw
from causalattn.observational.instruments import WeakInstrumentWarning, cace, tsls
from causalattn.observational.matching import match
from causalattn.observational.mendelian import MendelianRandomization
from causalattn.observational.outcome import outcome_regression
from causalattn.observational.propensity import PropensityScore, Trimming, crump_threshold, propensity_score
from causalattn.observational.sensitivity import EValue, e_value
from causalattn.observational.subclassification import subclassification
from causalattn.observational.weighting import ipw

__all__ = [
    "MAX_WEIGHT_SHARE", "MIN_EFFECTIVE_UNITS", "Balance", "EValue", "MendelianRandomization", "PropensityScore",
    "SmallSampleWarning", "Trimming", "WeakInstrumentWarning", "aipw", "balance", "cace", "crump_threshold",
    "double_selection", "e_value", "ipw", "match", "outcome_regression", "propensity_score", "subclassification",
    "tsls",
]
