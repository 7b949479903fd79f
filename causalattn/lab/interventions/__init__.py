"""Interventions on attention heads as values, and the labels that name them.

========================  ===================================================================
module                    contents
========================  ===================================================================
``base``                  :class:`HeadAblation`, :class:`HeadPatch`, :class:`PatternFreeze`,
                          :class:`Combined`, :func:`parse_treatment`
``roles``                 :class:`RoleAblation`, :class:`RolePattern`: heads named by their role
========================  ===================================================================

Importing this package registers every kind of label, so :func:`parse_treatment` reads them all.
"""

from causalattn.lab.interventions.base import (
    Combined,
    HeadAblation,
    HeadPatch,
    Intervention,
    PatternFreeze,
    Reference,
    as_interventions,
    parse_treatment,
)
from causalattn.lab.interventions.roles import RoleAblation, RolePattern

__all__ = ["Combined", "HeadAblation", "HeadPatch", "Intervention", "PatternFreeze", "Reference", "RoleAblation",
           "RolePattern", "as_interventions", "parse_treatment"]
