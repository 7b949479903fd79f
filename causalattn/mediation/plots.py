"""Figures of mediation analyses (matplotlib only): the effect-decomposition bar chart and the sensitivity curve."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from causalattn._pvalues import pvalue_equation
from causalattn._validation import check_estimate_rows
from causalattn.estimate import EstimateTable

if TYPE_CHECKING:
    from causalattn.mediation.sensitivity import MediationSensitivity

__all__ = ["plot_decomposition", "plot_sensitivity"]

_COLOURS = {"total": "0.35", "direct": "C0", "indirect": "C1", "controlled direct": "C2", "self-repair": "C3",
            "path": "C4", "proportion mediated": "C5"}


def plot_decomposition(table: EstimateTable, *, components: Sequence[str] | None = None, title: str | None = None,
                       xlabel: str = "effect") -> Figure:
    """A bar chart of an effect decomposition: one bar per row, its confidence interval as an error bar.

    Rows are grouped by ``details["treatment"]`` (a head, or the one treatment
    of a classic analysis), in table order, and coloured by
    ``details["component"]`` (total, direct, indirect, controlled direct,
    self-repair, path). The right margin gives each row's p-value. The
    proportion mediated, a ratio on another scale, is left out unless
    ``components`` asks for it.

    Parameters
    ----------
    table : EstimateTable
        E.g. :func:`~causalattn.mediate`'s :class:`~causalattn.mediation.Decomposition`.
    components : sequence of str, optional
        Draw only the rows of these components.
    title : str, optional
        Default: the table's title.
    xlabel : str
        Label of the effect axis.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from causalattn import datasets, mediate
    >>> framing = datasets.load("framing")
    >>> fig = mediate(framing, "immigr", "treat", "emo", method="delta").plot()
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][:3]
    ['total effect', 'NDE(0)', 'NIE(1)']
    """
    if not isinstance(table, EstimateTable):
        raise TypeError(f"`table` must be an EstimateTable, got {type(table).__name__}")
    check_estimate_rows("table", table, "a decomposition plot")
    if components is not None and (isinstance(components, str) or not isinstance(components, Sequence)):
        raise TypeError(f"`components` must be a list of component names, got {components!r}")
    rows = [row for row in table if (row.details.get("component") in components if components is not None
                                     else row.details.get("component") != "proportion mediated")]
    if not rows:
        which = f" of the components {list(components)}" if components else ""
        raise ValueError(f"`table` has no row to draw{which}")
    groups = list(dict.fromkeys(str(row.details.get("treatment", "")) for row in rows))
    fig = Figure(figsize=(7.5, 1.3 + 0.38 * (len(rows) + len(groups) - 1)), layout="constrained")
    ax = fig.add_subplot()
    y, ticks, labels = 0.0, [], []
    for g, group in enumerate(groups):
        if len(groups) > 1:
            ax.annotate(group, xy=(0, y + 0.1), xycoords=("axes fraction", "data"), fontweight="bold", fontsize=9,
                        va="bottom")
            y += 0.8
        for row in (r for r in rows if str(r.details.get("treatment", "")) == group):
            low, high = row.confidence_interval
            part = row.details.get("component", "")
            ax.barh(y, row.estimate, height=0.7, color=_COLOURS.get(part, "0.6"))
            if math.isfinite(low) and math.isfinite(high):
                ax.errorbar(row.estimate, y, xerr=[[row.estimate - low], [high - row.estimate]], color="black",
                            capsize=3, lw=1)
            text = "" if row.pvalue is None else pvalue_equation(row.pvalue, digits=2, spaced=False)
            ax.annotate(text, xy=(1.01, y), xycoords=("axes fraction", "data"), va="center", fontsize=8)
            ticks.append(y)
            labels.append(row.estimand)
            y += 1
        y += 0.3 if g < len(groups) - 1 else 0
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(ticks, labels)
    ax.set_ylim(y - 0.4, -0.6)
    present = list(dict.fromkeys(row.details.get("component", "") for row in rows))
    ax.legend(handles=[Patch(color=_COLOURS.get(p, "0.6"), label=p) for p in present if p], fontsize=8,
              loc="best")
    levels = sorted({row.confidence_level for row in rows if not math.isnan(row.confidence_level)})
    ax.set_xlabel(f"{xlabel} ({', '.join(f'{lv:.0%}' for lv in levels)} CI)")
    ax.set_title(title if title is not None else table.title, fontsize=10)
    return fig


def plot_sensitivity(result: MediationSensitivity, *, title: str | None = None) -> Figure:
    """The ACME as a function of the error correlation :math:`\\rho`, with its pointwise confidence band.

    The curve crosses 0 at :math:`\\rho = \\tilde\\rho` (marked); the point at
    :math:`\\rho = 0` is the estimate under sequential ignorability.
    """
    table = result.estimates
    rho = np.asarray(result.rho)
    acme = np.array([row.estimate for row in table])
    low = np.array([row.confidence_interval.low for row in table])
    high = np.array([row.confidence_interval.high for row in table])
    fig = Figure(figsize=(6.5, 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.fill_between(rho, low, high, color="C1", alpha=0.25, lw=0,
                    label=f"{table[0].confidence_level:.0%} CI ({table[0].method})")
    ax.plot(rho, acme, color="C1", lw=2, label="ACME(ρ)")
    ax.axhline(0, color="grey", lw=1)
    ax.axvline(result.rho_at_zero, color="C3", ls="--", lw=1, label=f"ACME = 0 at ρ = {result.rho_at_zero:.3f}")
    ax.plot([0], [result.acme_at_zero_rho], "o", color="black", ms=5, label="ρ = 0: sequential ignorability")
    ax.set_xlabel("ρ, correlation of the mediator's and the outcome's errors")
    ax.set_ylabel(f"ACME ({result.outcome})")
    ax.set_xlim(-1, 1)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title if title is not None else f"Sensitivity of the ACME of {result.treatment} through "
                 f"{result.mediator}", fontsize=10)
    return fig
