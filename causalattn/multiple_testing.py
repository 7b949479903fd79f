r"""Adjusting p-values across many treatments (many heads), and the effects table built on it.

An ablation study tests one null hypothesis per treatment. Reporting the
smallest of many raw p-values overstates the evidence, so the effects table
shows an adjusted p-value beside each raw one:

* Holm (1979): sort :math:`p_{(1)} \le \dots \le p_{(m)}`; the adjusted value is
  :math:`\max_{j \le i} \min\{1, (m - j + 1) p_{(j)}\}`. Rejecting where it is
  below :math:`\alpha` controls the family-wise error rate under any dependence.
* Benjamini-Hochberg (1995): :math:`\min_{j \ge i} \min\{1, m\,p_{(j)}/j\}`;
  controls the false discovery rate for independent or positively dependent tests.
* Benjamini-Yekutieli (2001): Benjamini-Hochberg with :math:`m` replaced by
  :math:`m \sum_{k=1}^m 1/k`; controls the false discovery rate under any
  dependence (the effects of many heads measured on the same units are dependent
  in ways no one can sign), at the price of about :math:`\log m` in power.

The arithmetic is :func:`statsmodels.stats.multitest.multipletests`'.

References
----------
.. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
   *Scandinavian Journal of Statistics* 6, 65-70.
.. [2] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate.
   *Journal of the Royal Statistical Society B* 57, 289-300.
.. [3] Benjamini, Y. and Yekutieli, D. (2001). The control of the false discovery rate in multiple testing
   under dependency. *Annals of Statistics* 29, 1165-1188.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from causalattn._validation import check_choice, check_estimate_rows
from causalattn.estimate import EstimateTable

__all__ = ["ADJUSTMENTS", "EFFECT_COLUMNS", "adjust_pvalues", "effects_frame"]

_METHODS = {"holm": "holm", "bh": "fdr_bh", "by": "fdr_by"}

#: The names of the adjustments :func:`adjust_pvalues` knows (its ``method``).
ADJUSTMENTS = tuple(_METHODS)

#: Columns of an exported effects table, in order.
EFFECT_COLUMNS = ("treatment", "outcome", "estimate", "standard_error", "ci_low", "ci_high", "pvalue",
                  "pvalue_adjusted", "method", "n", "unit", "n_censored", "pvalue_randomization")


def adjust_pvalues(table: EstimateTable, method: str = "holm", *, family: str = "tested") -> EstimateTable:
    """Adjust the p-values of a table of estimates for multiple testing.

    Parameters
    ----------
    table : EstimateTable
        One estimate or :class:`~causalattn.HypothesisTest` per hypothesis
        (e.g. per treatment). Estimates without a p-value (a degenerate row:
        no variation, no test) are kept and get ``pvalue_adjusted = None``.
    method : {"holm", "bh", "by"}
        Holm's step-down (family-wise error rate), Benjamini-Hochberg (false
        discovery rate, for independent or positively dependent tests) or
        Benjamini-Yekutieli (false discovery rate under any dependence).
    family : {"tested", "all"}
        The hypotheses adjusted for: the rows with a p-value (``"tested"``), or
        every row (``"all"``: a row without a p-value counts as a test with
        p = 1, never rejected, so that the family has one member per row, as
        when the family was fixed before the data were seen: every head of a
        head map).

    Returns
    -------
    EstimateTable
        The same rows, in the same order, each with
        ``details["pvalue_adjusted"]`` and ``details["adjustment"]``; the raw
        ``pvalue`` is unchanged.

    Examples
    --------
    >>> from causalattn import EstimateTable, adjust_pvalues
    >>> from causalattn.estimate import normal_estimate
    >>> table = EstimateTable([normal_estimate(f"t{i}", x, 1.0, confidence_level=0.95, method="wald", n=10)
    ...                        for i, x in enumerate([3.0, 2.0, 0.5])])
    >>> [round(e.details["pvalue_adjusted"], 4) for e in adjust_pvalues(table)]
    [0.0081, 0.091, 0.6171]
    """
    if not isinstance(table, EstimateTable):
        raise TypeError(f"`table` must be an EstimateTable, got {type(table).__name__}")
    method = check_choice("method", method, ADJUSTMENTS)
    family = check_choice("family", family, ("tested", "all"))
    tested = [i for i, e in enumerate(table) if e.pvalue is not None]
    adjusted: list[float | None] = [None] * len(table)
    if tested:
        untested = len(table) - len(tested) if family == "all" else 0
        pvalues = np.array([table[i].pvalue for i in tested] + [1.0] * untested)
        values = multipletests(pvalues, method=_METHODS[method])[1][: len(tested)]
        for i, p in zip(tested, values, strict=True):
            adjusted[i] = float(p)
    return EstimateTable(
        [dataclasses.replace(e, details={**e.details, "pvalue_adjusted": p, "adjustment": method})
         for e, p in zip(table, adjusted, strict=True)],
        title=table.title,
    )


def effects_frame(table: EstimateTable) -> pd.DataFrame:
    """The effects table as a DataFrame with exactly the columns :data:`EFFECT_COLUMNS`.

    ``treatment`` and ``outcome`` come from each estimate's details (the
    estimand name stands in for a missing ``treatment``); ``pvalue_adjusted``
    is empty unless :func:`adjust_pvalues` was applied. ``pvalue`` and the
    interval come from the row's ``method``; ``pvalue_randomization`` (a
    randomization test's p-value, when the study computed one) travels beside
    them and is never adjusted. ``unit`` says what ``n`` counts (``"sequence"``,
    ``"seed"``...), ``n_censored`` how many runs were censored (time-to-threshold
    outcomes); both are empty where they do not apply. The counts ``n`` and
    ``n_censored`` are integers (pandas' nullable ``Int64``), so a CSV file
    writes ``8``, never ``8.0``.
    """
    if not isinstance(table, EstimateTable):
        raise TypeError(f"`table` must be an EstimateTable, got {type(table).__name__}")
    check_estimate_rows("table", table, "the effects table")
    rows = []
    for e in table:
        row = e.to_dict()
        row["treatment"] = e.details.get("treatment", e.estimand)
        row["outcome"] = e.details.get("outcome")
        for key in ("pvalue_adjusted", "unit", "n_censored", "pvalue_randomization"):
            row[key] = e.details.get(key)
        rows.append(row)
    frame = pd.DataFrame(rows, columns=list(EFFECT_COLUMNS))
    return frame.astype({"n": "Int64", "n_censored": "Int64"})  # counts stay integers (8, not 8.0) beside blanks
