r"""The plots of Mendelian randomization: the scatter plot of the associations with the fitted lines, the funnel plot.

Both take a :class:`~causalattn.observational.MendelianRandomization` (call them as its
methods ``plot_scatter()`` and ``plot_funnel()``) and return a matplotlib Figure.

References
----------
Bowden, J., Davey Smith, G. and Burgess, S. (2015). Mendelian randomization with invalid
instruments: effect estimation and bias detection through Egger regression. *International
Journal of Epidemiology* 44, 512-525 (the scatter and funnel plots, Figures 2-4).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["funnel_plot", "scatter_plot"]

_Z = 1.959963984540054  # the normal 97.5% quantile: error bars of +-1.96 SE


def scatter_plot(mr: Any, *, n_resamples: int = 1000, rng: Any = None) -> Figure:
    r""":math:`\hat\beta_Y` against :math:`\hat\beta_X`, oriented so that :math:`\hat\beta_X > 0`, with the lines.

    Each variant is a point with horizontal and vertical bars of :math:`\pm 1.96` standard
    errors. The IVW (random effects) and weighted-median estimates are lines through the
    origin, MR-Egger a line with its intercept; the legend gives each slope with its
    interval (the weighted median and MR-Egger need 3 variants, IVW 2).
    """
    sign = np.sign(mr.beta_exposure)
    bx, by = np.abs(mr.beta_exposure), sign * mr.beta_outcome
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(bx, by, xerr=_Z * mr.se_exposure, yerr=_Z * mr.se_outcome, fmt="o", color="0.3", ms=4, lw=0.8,
                capsize=0, label=f"{mr.n_variants} variants (±1.96 SE)")
    grid = np.linspace(0, float(np.max(bx + _Z * mr.se_exposure)) * 1.05, 50)
    lines = []
    if mr.n_variants >= 2:
        lines.append((mr.ivw(), 0.0, "C0", "-"))
    if mr.n_variants >= 3:
        egger = mr.egger()
        lines += [(egger, egger.details["intercept"].estimate, "C3", "--"),
                  (mr.weighted_median(n_resamples=n_resamples, rng=rng), 0.0, "C2", ":")]
    for est, intercept, colour, style in lines:
        low, high = est.confidence_interval
        ax.plot(grid, intercept + est.estimate * grid, color=colour, ls=style, lw=1.8,
                label=f"{est.estimand}: {est.estimate:.3g} [{low:.3g}, {high:.3g}]")
    ax.axhline(0, color="grey", lw=0.6)
    ax.axvline(0, color="grey", lw=0.6)
    ax.set_xlabel(f"variant's association with {mr.exposure} (oriented so that it is positive)")
    ax.set_ylabel(f"variant's association with {mr.outcome}")
    ax.set_title(f"Mendelian randomization: {mr.exposure} -> {mr.outcome}")
    ax.legend(fontsize=8, loc="best")
    return fig


def funnel_plot(mr: Any) -> Figure:
    r"""Each variant's Wald ratio against its precision :math:`|\hat\beta_X|/\sigma_Y`, with the IVW estimate.

    Without pleiotropy the points form a symmetric funnel around the IVW line; directional
    pleiotropy makes the imprecise (weak) variants lean to one side. The ratio of a very weak
    variant can be far off (a near-zero :math:`\hat\beta_X`): the axis spans the 5-95%
    range of the ratios with a margin, and a ratio beyond it is drawn at the edge as a triangle.
    """
    ratio = mr.beta_outcome / mr.beta_exposure
    precision = np.abs(mr.beta_exposure) / mr.se_outcome
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ivw = mr.ivw("fixed")
    low, high = np.percentile(np.append(ratio, [ivw.estimate, 0.0]), [5, 95])
    low, high = low - 0.3 * (high - low), high + 0.3 * (high - low)
    inside = (ratio >= low) & (ratio <= high)
    ax.plot(ratio[inside], precision[inside], "o", color="0.3", ms=5, label="Wald ratio of a variant")
    for side, edge, marker in ((ratio < low, low, "<"), (ratio > high, high, ">")):
        if side.any():
            ax.plot(np.full(side.sum(), edge), precision[side], marker, color="C1", ms=7,
                    label=f"{int(side.sum())} beyond the axis ({', '.join(f'{r:.3g}' for r in ratio[side][:3])})")
    ax.set_xlim(low - 0.02 * (high - low), high + 0.02 * (high - low))
    ax.axvline(ivw.estimate, color="C0", lw=1.8, label=f"IVW: {ivw.estimate:.3g}")
    ax.axvline(0, color="grey", lw=0.6, ls="--")
    ax.set_xlabel(f"Wald ratio (effect of {mr.exposure} on {mr.outcome})")
    ax.set_ylabel(r"precision $|\hat\beta_X| / \sigma_Y$")
    ax.set_title("Funnel plot")
    ax.legend(fontsize=8)
    return fig
