"""Mediation analysis: natural direct and indirect effects, controlled direct effects, sensitivity (Ding ch. 27-28).

* :func:`mediate`: NDE, NIE, total effect, proportion mediated and CDE(m) from a
  normal linear mediator model and a linear, probit or logit outcome model, the
  natural effects computed exactly at the estimates; intervals by the
  quasi-Bayesian simulation, the bootstrap or the delta method;
* :func:`baron_kenny`: the coefficients a, b, c, c' and the product ab = c - c';
* :func:`mediation_sensitivity`: the ACME as a function of the correlation of
  the two models' errors (Imai, Keele and Yamamoto 2010);
* :class:`Decomposition`, :func:`plot_decomposition`: the result type and bar
  chart of every effect decomposition, shared with the attention-head
  decompositions of the laboratory.
"""

from causalattn.mediation.baron_kenny import baron_kenny
from causalattn.mediation.decomposition import COMPONENTS, Decomposition
from causalattn.mediation.mediate import mediate
from causalattn.mediation.plots import plot_decomposition, plot_sensitivity
from causalattn.mediation.sensitivity import MediationSensitivity, mediation_sensitivity

__all__ = ["COMPONENTS", "Decomposition", "MediationSensitivity", "baron_kenny", "mediate", "mediation_sensitivity",
           "plot_decomposition", "plot_sensitivity"]
