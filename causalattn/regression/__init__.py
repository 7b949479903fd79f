"""Regression as association and as adjustment (statsmodels underneath).

=================  ===================================================================
module             contents
=================  ===================================================================
``coefficients``   :func:`ols` (with robust and cluster SEs), :func:`ancova`, :func:`lin`
``frisch_waugh``   :func:`fwl` and :class:`FWLResult`: the Frisch-Waugh-Lovell theorem
``pearson``        :func:`correlation`: Pearson's r with a Fisher-z interval
``_inputs``        the input plumbing: column names or arrays, one validated frame
``_fit``           statsmodels' fit and one coefficient as an :class:`~causalattn.Estimate`
=================  ===================================================================
"""

from causalattn.regression._inputs import COV_TYPES
from causalattn.regression.coefficients import ancova, lin, ols
from causalattn.regression.frisch_waugh import FWLResult, fwl
from causalattn.regression.pearson import correlation

__all__ = ["COV_TYPES", "FWLResult", "ancova", "correlation", "fwl", "lin", "ols"]
