"""Experimental designs as values: CRE, BRE, SRE, MPE, ReM and cluster randomization.

A :class:`Design` describes how the vector of 0/1 treatment indicators
:math:`Z = (Z_1, \\dots, Z_n)` is drawn, and carries its own arguments: the
strata, the pairs, the clusters, the treatment probability, the covariates
and threshold of a rerandomization. The Fisher randomization test
(:func:`causalattn.frt`), :func:`causalattn.hodges_lehmann` and simulations
only use what every design offers, so a new design needs no edit to them:

* ``draw(rng, size)``: a ``(size, n)`` float array of 0.0/1.0 assignments drawn
  from a seeded :class:`numpy.random.Generator`;
* ``enumerate(batch)``: all distinct assignments, ``batch`` rows at a time,
  with their (relative) probabilities, when there are few enough (``count()``);
* ``check_assignment(treatment)``: is the observed assignment one the design can produce?
* ``groups``, ``paired`` and ``fixed_group_counts``: the strata (or pairs) that
  the statistics respect, and whether every assignment treats the same number
  of units in each (then the difference in means is linear in the assignment);
* ``treated_probability()`` and ``linear_moments(scores)``: the probability
  that each unit is treated and the mean and variance of a linear statistic
  :math:`\\sum_i Z_i a_i` (for Hodges-Lehmann and asymptotic p-values);
* ``bind(treatment)``: the design with the numbers it leaves open (the number
  of treated units, per stratum or in all) read off an observed assignment,
  so that ``SRE(strata)`` is the stratified experiment that treated as many
  units per stratum as the data show.

Designs register their names in :data:`DESIGNS` (``class MyDesign(Design,
shorthand="mine")``); a name stands for a design that takes no arguments
(``"cre"``), resolved by :func:`resolve_design`.

Every design draws its candidates in chunks of a fixed number of rows, so a
stream of assignments is the same whether it is drawn at once or in batches of
any size (:meth:`Design.draw_batches`). Assignments are floats so that statistics are
BLAS matrix products such as ``A @ y``.

================  ================================================================
module            contents
================  ================================================================
``base``          :class:`Design`, :data:`DESIGNS`, :func:`resolve_design`
``groups``        :class:`Groups` of units, :func:`stratified_difference`
``complete``      :class:`CRE`, :class:`BRE`, :class:`ReM` (one group of units)
``blocked``       :class:`SRE`, :class:`MPE`, :class:`ClusterRandomized`
================  ================================================================

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, CRC Press: ch. 3 (CRE),
ch. 5 (SRE, post-stratification), ch. 6 (rerandomization, BRE), ch. 7 (MPE),
ch. 9 (cluster-randomized experiments).
Morgan, K. L. and Rubin, D. B. (2012). Rerandomization to improve covariate
balance in experiments. *Annals of Statistics* 40(2), 1263-1282.
Middleton, J. A. and Aronow, P. M. (2015). Unbiased estimation of the average
treatment effect in cluster-randomized experiments. *Statistics, Politics and Policy* 6(1-2), 39-75.
"""

from causalattn.experiments.designs.base import DESIGNS, Design, resolve_design
from causalattn.experiments.designs.blocked import MPE, SRE, ClusterRandomized
from causalattn.experiments.designs.complete import BRE, CRE, ReM
from causalattn.experiments.designs.groups import Groups, stratified_difference

__all__ = ["BRE", "CRE", "DESIGNS", "ClusterRandomized", "Design", "Groups", "MPE", "ReM", "SRE",
           "resolve_design", "stratified_difference"]
