"""Contingency tables (Ding 2024, ch. 1-2): 2x2, stratified and paired tables, and Yule-Simpson's paradox.

========================  ===================================================================
module                    contents
========================  ===================================================================
``association``           :class:`Table2x2`: risk difference, risk ratio, odds ratio, their tests
``stratified``            :class:`StratifiedTable`: Mantel-Haenszel, CMH, Breslow-Day, standardization
``paired``                :class:`PairedTable`: McNemar's test, paired RD, RR and OR
``simpson``               :func:`simpson`: does the marginal association reverse every stratum's?
========================  ===================================================================
"""

from causalattn.tables.association import Table2x2
from causalattn.tables.paired import PairedTable
from causalattn.tables.simpson import SimpsonResult, simpson
from causalattn.tables.stratified import StratifiedTable

__all__ = ["PairedTable", "SimpsonResult", "StratifiedTable", "Table2x2", "simpson"]
