r"""Adjusting p-values across many treatments (many heads), and the effects table built on it.

An ablation study tests one null hypothesis per treatment. Reporting the
smallest of many raw p-values overstates the evidence, so the effects table
shows an adjusted p-value beside each raw one:

* Holm (1979): sort :math:`p_{(1)} \le \dots \le p_{(m)}`; the adjusted value is
  :math:`\max_{j \le i} \min\{1, (m - j + 1) p_{(j)}\}`. Rejecting where it is
  below :math:`\alpha` controls the family-wise error rate under any dependence.
* Benjamini-Hochberg (1995): :math:`\min_{j \ge i} \min\{1, m\,p_{(j)}/j\}`;
  controls the false discovery rate for independent or positively dependent tests.

The arithmetic is :func:`statsmodels.stats.multitest.multipletests`'.

References
----------
.. [1] Holm, S. (1979). A simple sequentially rejective multiple test procedure.
   *Scandinavian Journal of Statistics* 6, 65-70.
.. [2] Benjamini, Y. and Hochberg, Y. (1995). Controlling the false discovery rate.
   *Journal of the Royal Statistical Society B* 57, 289-300.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from causalattn._validation import check_choice, check_estimate_rows
from causalattn.estimate import EstimateTable

__all__ = ["ADJUSTMENTS", "EFFECT_COLUMNS", "adjust_pvalues", "effects_frame"]

_METHODS = {"holm": "holm", "bh": "fdr_bh"}

#: The names of the adjustments :func:`adjust_pvalues` knows (its ``method``).
ADJUSTMENTS = tuple(_METHODS)

#: Columns of an exported effects table, in order.
EFFECT_COLUMNS = ("treatment", "outcome", "estimate", "standard_error", "ci_low", "ci_high", "pvalue",
                  "pvalue_adjusted", "method", "n", "unit", "n_censored", "pvalue_randomization")


def adjust_pvalues(table: EstimateTable, method: str = "holm") -> EstimateTable:
    """Adjust the p-values of a table of estimates for multiple testing.

    Parameters
    ----------
    table : EstimateTable
        One estimate or :class:`~causalattn.HypothesisTest` per hypothesis
        (e.g. per treatment). Estimates without a p-value are kept and get
        ``pvalue_adjusted = None``; the others form the family.
    method : {"holm", "bh"}
        Holm's step-down (family-wise error rate) or Benjamini-Hochberg
        (false discovery rate).

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
    tested = [i for i, e in enumerate(table) if e.pvalue is not None]
    adjusted: list[float | None] = [None] * len(table)
    if tested:
        values = multipletests(np.array([table[i].pvalue for i in tested]), method=_METHODS[method])[1]
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
