r"""Treatments over time (Robins' g-methods): stabilized weights, marginal structural models, the g-formula.

When a confounder :math:`L_1` of a later treatment :math:`A_1` is itself affected by an earlier
treatment :math:`A_0`, no regression of the outcome on the whole history estimates the effect of
the regime: adjusting for :math:`L_1` blocks part of :math:`A_0`'s effect or opens a collider path,
and not adjusting leaves :math:`A_1` confounded. The g-methods handle it:

======================  =====================================================================
module                  contents
======================  =====================================================================
``weights``             :func:`treatment_weights`: stabilized IPT weights, truncation, diagnostics
``msm``                 :func:`msm`: the marginal structural model by weighted regression
``g_formula``           :func:`g_formula`: the parametric g-formula (iterated expectations)
======================  =====================================================================

Data are wide (one row per subject); see :mod:`causalattn.longitudinal._history`. The bundled
``datasets.load("time_varying")`` is a simulated study where the truth is known.
"""

from causalattn.longitudinal.g_formula import g_formula
from causalattn.longitudinal.msm import msm
from causalattn.longitudinal.weights import TreatmentWeights, treatment_weights

__all__ = ["TreatmentWeights", "g_formula", "msm", "treatment_weights"]
