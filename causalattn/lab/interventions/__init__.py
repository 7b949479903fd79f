"""Interventions on attention heads as values, and the labels that name them.

========================  ===================================================================
module                    contents
========================  ===================================================================
``base``                  :class:`Intervention`, :class:`Reference`, the label registry and
                          :func:`parse_treatment`
``ablation``              :class:`HeadAblation`, :class:`HeadPatch`: a head's output replaced
``pattern``               :class:`PatternFreeze`: a head's attention pattern fixed
``combined``              :class:`Combined`: several interventions as one treatment
``path``                  :class:`HeadPath`, :class:`RolePath`: a head's ablated output along one path
                          only (to the logits: the direct effect; into a receiver's q, k or v)
``roles``                 :class:`RoleAblation`, :class:`RolePattern`: heads named by their role
========================  ===================================================================

Importing this package (or any of its modules) registers every kind of label, so :func:`parse_treatment`
reads them all.
"""

from causalattn.lab.interventions.ablation import HeadAblation, HeadPatch
from causalattn.lab.interventions.base import Intervention, Reference, as_interventions, parse_treatment
from causalattn.lab.interventions.combined import Combined
from causalattn.lab.interventions.path import HeadPath, RolePath
from causalattn.lab.interventions.pattern import PatternFreeze
from causalattn.lab.interventions.roles import RoleAblation, RolePattern

__all__ = ["Combined", "HeadAblation", "HeadPatch", "HeadPath", "Intervention", "PatternFreeze", "Reference",
           "RoleAblation", "RolePath", "RolePattern", "as_interventions", "parse_treatment"]
