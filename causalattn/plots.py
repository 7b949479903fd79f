"""Plots of estimates (statistics half, matplotlib only): the forest plot of an effects table."""

from __future__ import annotations

import math

from matplotlib import ticker
from matplotlib.figure import Figure

from causalattn._pvalues import pvalue_equation, rejects
from causalattn._validation import check_estimate_rows
from causalattn.estimate import EstimateTable

__all__ = ["plot_forest"]


class _PlainLogFormatter(ticker.LogFormatterSciNotation):
    """Log-axis tick labels as plain numbers (``0.6``, ``2``) where matplotlib writes 6x10^-1 and 2x10^0."""

    def __call__(self, x, pos=None):
        return f"{x:g}" if super().__call__(x, pos) else ""


def _distinct_parts(outcomes: list[str]) -> list[str]:
    """Each outcome name without the words (``_``-separated) that every name starts with; all empty if one outcome.

    A name left starting with a number keeps the word before it: ``at 200``, not ``200``.
    """
    words = [name.split("_") for name in outcomes]
    common = 0
    while all(len(w) > common and w[common] == words[0][common] for w in words):
        common += 1
    while common and any(len(w) > common and w[common][:1].isdigit() for w in words):
        common -= 1  # "at 200", not a bare "200"
    return [" ".join(w[common:]) for w in words]


def plot_forest(table: EstimateTable, *, title: str | None = None, xlabel: str = "effect") -> Figure:
    """A forest plot: one row per estimate, its point estimate and confidence interval.

    A vertical line marks each estimate's null value (0 for differences, 1 for
    ratios, drawn on a log axis). Rows are labelled with ``details["treatment"]``
    (or the estimand), followed by the part of ``details["outcome"]`` that tells the outcomes apart when the
    table mixes them (``at 200`` for ``in_context_accuracy_at_200`` beside ``in_context_accuracy``); the right margin
    shows the raw and, if present, the adjusted p-value. A point is red when its test rejects at the row's own
    level (p at most 1 - ``confidence_level``, the rule of :mod:`causalattn._pvalues`), so a red
    point's interval excludes the null line.

    Parameters
    ----------
    table : EstimateTable
        The estimates, e.g. ``study.effects()`` (no HypothesisTest rows: they
        have no interval to draw).
    title : str, optional
        Figure title (default: the table's title).
    xlabel : str
        Label of the horizontal axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(table, EstimateTable):
        raise TypeError(f"`table` must be an EstimateTable, got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError("`table` is empty: nothing to plot")
    check_estimate_rows("table", table, "a forest plot")
    nulls = {e.null_value for e in table}
    log_scale = nulls == {1.0}
    fig = Figure(figsize=(7.5, 1.2 + 0.42 * len(table)), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(table)))[::-1]
    for y, e in zip(ys, table, strict=True):
        low, high = e.confidence_interval
        finite = [v for v in (low, high) if math.isfinite(v) and (v > 0 or not log_scale)]
        ax.plot([low if low in finite else e.estimate, high if high in finite else e.estimate], [y, y],
                color="C0", lw=2)
        ax.plot([e.estimate], [y], "o", color="C3" if rejects(e.pvalue, e.confidence_level) else "C0", ms=6)
        text = "" if e.pvalue is None else pvalue_equation(e.pvalue, digits=2, spaced=False)
        if e.details.get("pvalue_adjusted") is not None:
            text += "  " + pvalue_equation(e.details["pvalue_adjusted"], name="adj", digits=2, spaced=False)
        ax.annotate(text, xy=(1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
    for null in nulls:
        ax.axvline(null, color="grey", ls="--", lw=1)
    if log_scale:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_PlainLogFormatter())
        ax.xaxis.set_minor_formatter(_PlainLogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
        ax.tick_params(axis="x", which="both", length=3.5)  # labels of major and minor ticks on one line
    outcomes = _distinct_parts([str(e.details.get("outcome", "")) for e in table])
    labels = [" ".join(x for x in (str(e.details.get("treatment", e.estimand)), outcome) if x)
              for e, outcome in zip(table, outcomes, strict=True)]
    ax.set_yticks(ys, labels)
    ax.set_ylim(-0.7, len(table) - 0.3)
    levels = sorted({e.confidence_level for e in table})
    ax.set_xlabel(f"{xlabel} ({', '.join(f'{lv:.0%}' for lv in levels)} CI)")
    ax.set_title(title if title is not None else table.title)
    return fig

