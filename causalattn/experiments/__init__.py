"""Randomized experiments (Ding 2024, ch. 3-7): designs, Fisher's and Neyman's inference, covariate adjustment.

========================  ===================================================================
module                    contents
========================  ===================================================================
``designs``               the designs as values: CRE, BRE, SRE, MPE, ReM, cluster randomization
``randomization``         :func:`frt`, :func:`frt_confidence_interval`
``rank_estimate``         :func:`hodges_lehmann`
``_statistics``           the test statistics of the FRT, each fitted to its design
``neyman``                :func:`neyman`: repeated-sampling inference for CRE, SRE and MPE
``matched_pairs``         :func:`matched_pairs_adjusted`: pair differences on covariate differences
========================  ===================================================================
"""

from causalattn.experiments import designs
from causalattn.experiments.matched_pairs import matched_pairs_adjusted
from causalattn.experiments.neyman import neyman
from causalattn.experiments.randomization import frt, frt_confidence_interval
from causalattn.experiments.rank_estimate import hodges_lehmann

__all__ = ["designs", "frt", "frt_confidence_interval", "hodges_lehmann", "matched_pairs_adjusted", "neyman"]
