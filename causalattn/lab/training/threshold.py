r"""Iterations to an accuracy threshold: restricted means, Kaplan-Meier curves and log-rank tests of the arms.

A run's iterations to the threshold, :math:`T`, are seen only up to the run's
length :math:`\tau` (``n_iters``): a run that never reaches the threshold is
*censored* at :math:`\tau`, and its :math:`T` is only known to exceed it. Two
well-defined summaries follow.

- The **restricted mean** :math:`\mu(\tau) = E\{\min(T, \tau)\} = \int_0^\tau S(t)\,dt`,
  with :math:`S(t) = P(T > t)`. Every run gives :math:`\min(T, \tau)` exactly
  (censoring happens at :math:`\tau` only), so its mean over runs is unbiased
  for :math:`\mu(\tau)` and equals the area under the Kaplan-Meier curve up to
  :math:`\tau`. The effect of a treatment on it, the difference in restricted
  mean iterations to the threshold, is a row of
  :meth:`causalattn.lab.training.study.TrainingStudy.effects` (outcome
  ``restricted_iterations_to_{threshold}``), with the paired t interval over
  seeds (Welch's for the randomized design): a valid interval for that
  quantity. It is not the difference in mean iterations, which the runs
  cannot estimate when some are censored (Royston and Parmar 2013).
- The **whole curve**: the Kaplan-Meier estimate of :math:`S(t)` in each arm
  (:func:`scipy.stats.ecdf` of right-censored data) and the log-rank test
  that the arms share one curve (:func:`scipy.stats.logrank`; reported as
  :math:`\chi^2_1 = z^2`, as R's ``survival::survdiff``). The log-rank test
  treats the arms as independent samples: right for the randomized design; in
  the paired design it ignores that the runs of a seed share their
  initialization and batches, which with positively correlated runs makes it
  conservative. The paired rows of ``effects`` are the primary analysis.

References
----------
Kaplan, E. L. and Meier, P. (1958). Nonparametric estimation from incomplete observations. *JASA* 53, 457-481.
Mantel, N. (1966). Evaluation of survival data and two new rank order statistics arising in its consideration.
*Cancer Chemotherapy Reports* 50, 163-170.
Royston, P. and Parmar, M. K. B. (2013). Restricted mean survival time: an alternative to the hazard ratio for
the design and analysis of randomized trials with a time-to-event outcome. *BMC Medical Research Methodology*
13, 152.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from causalattn.estimate import EstimateTable
from causalattn.hypothesis import HypothesisTest

__all__ = ["TimeToThreshold", "kaplan_meier", "restricted_mean", "time_to_threshold"]


def kaplan_meier(times: np.ndarray, censored: np.ndarray) -> pd.DataFrame:
    """The Kaplan-Meier curve of right-censored ``times``: ``iteration, not_reached`` (the steps, from 0).

    ``not_reached`` is :math:`\\hat S(t)`, the estimated fraction of runs that
    have not reached the threshold by iteration ``t`` (scipy's
    :func:`scipy.stats.ecdf`), constant from each row to the next.

    Examples
    --------
    >>> kaplan_meier(np.array([100, 200, 400, 400]), np.array([False, False, True, True]))
       iteration  not_reached
    0          0         1.00
    1        100         0.75
    2        200         0.50
    """
    curve = stats.ecdf(stats.CensoredData.right_censored(times, censored)).sf
    steps = pd.DataFrame({"iteration": curve.quantiles.astype(int), "not_reached": curve.probabilities})
    steps = steps[steps["not_reached"] != steps["not_reached"].shift(fill_value=1.0)]  # censoring is not a step
    if len(steps) and steps["iteration"].iloc[0] == 0:  # runs at the threshold from the start
        return steps.reset_index(drop=True)
    return pd.concat([pd.DataFrame({"iteration": [0], "not_reached": [1.0]}), steps], ignore_index=True)


def restricted_mean(curve: pd.DataFrame, tau: float) -> float:
    """:math:`\\int_0^\\tau \\hat S(t)\\,dt`, the area under a :func:`kaplan_meier` curve up to ``tau``.

    Examples
    --------
    With censoring at ``tau`` only it is the mean of :math:`\\min(T, \\tau)`:
    (100 + 200 + 400 + 400) / 4 = 275.

    >>> restricted_mean(kaplan_meier(np.array([100, 200, 400, 400]), np.array([False, False, True, True])), 400)
    275.0
    """
    iterations = np.append(np.minimum(curve["iteration"].to_numpy(dtype=float), tau), tau)
    return float(np.sum(curve["not_reached"].to_numpy() * np.diff(iterations)))


@dataclass(frozen=True, repr=False)
class TimeToThreshold:
    """Iterations to the threshold per arm (:func:`time_to_threshold`): curves, restricted means, log-rank tests.

    Attributes
    ----------
    threshold : float
        The in-context accuracy to reach.
    restricted_at : int
        :math:`\\tau`, the run length: where runs are censored and the means restricted.
    curves : pandas.DataFrame
        The Kaplan-Meier curve of each arm: ``arm, iteration, not_reached`` (:func:`kaplan_meier`).
    arms : pandas.DataFrame
        One row per arm: ``arm, n, n_reached, n_censored, restricted_mean`` (the area under its curve up
        to :math:`\\tau`, the mean of :math:`\\min(T, \\tau)`), ``median`` (NaN while the curve stays
        above one half).
    logrank : EstimateTable
        The log-rank test of each treatment against the control (``method="logrank"``, :math:`\\chi^2_1`);
        a treatment whose comparison has no run reaching the threshold has no test and is named in
        ``untested``.
    untested : tuple of str
        Those treatments.
    """

    threshold: float
    restricted_at: int
    curves: pd.DataFrame
    arms: pd.DataFrame
    logrank: EstimateTable
    untested: tuple[str, ...]

    def __repr__(self) -> str:
        parts = [f"{row.arm} {row.n_reached}/{row.n} reached, restricted mean {row.restricted_mean:.4g}"
                 for row in self.arms.itertuples()]
        return (f"TimeToThreshold({self.threshold:g} within {self.restricted_at} iterations: "
                f"{'; '.join(parts)}; {len(self.logrank)} log-rank test(s))")

    def plot(self) -> Figure:
        """The Kaplan-Meier curves: the fraction of runs of each arm not yet at the threshold, by iteration."""
        fig = Figure(figsize=(6.5, 4), layout="constrained")
        ax = fig.subplots()
        for i, (arm, curve) in enumerate(self.curves.groupby("arm", sort=False)):
            row = self.arms.set_index("arm").loc[arm]
            x = np.append(curve["iteration"].to_numpy(), self.restricted_at)
            y = np.append(curve["not_reached"].to_numpy(), curve["not_reached"].iloc[-1])
            ax.step(x, y, where="post", color=f"C{i}",
                    label=f"{arm} ({row.n_reached}/{row.n} reached; restricted mean {row.restricted_mean:.4g})")
        ax.axvline(self.restricted_at, color="grey", linestyle=":", linewidth=1,
                   label=f"end of the runs ({self.restricted_at}): censoring")
        ax.set(xlabel="iteration", ylabel=f"fraction of runs below {self.threshold:g}", ylim=(-0.02, 1.02),
               title=f"Kaplan-Meier: iterations to in-context accuracy {self.threshold:g}")
        ax.legend(fontsize="small")
        return fig


def time_to_threshold(units: pd.DataFrame, outcome: str, control: str, treatments: Sequence[str],
                      threshold: float, restricted_at: int) -> TimeToThreshold:
    """Kaplan-Meier curves, restricted means and log-rank tests of ``units[outcome]`` (censored at ``restricted_at``).

    ``units`` has one row per run: ``arm``, ``outcome`` (:math:`\\min(T, \\tau)`)
    and ``{outcome}_censored``; see the module docstring for what each summary means.
    """
    curves, rows, tests, untested = [], [], [], []
    samples = {}
    for arm in (control, *treatments):
        runs = units[units["arm"] == arm]
        times, censored = runs[outcome].to_numpy(dtype=float), runs[f"{outcome}_censored"].to_numpy(dtype=bool)
        samples[arm] = stats.CensoredData.right_censored(times, censored)
        curve = kaplan_meier(times, censored)
        curves.append(curve.assign(arm=arm)[["arm", "iteration", "not_reached"]])
        below = curve.loc[curve["not_reached"] <= 0.5, "iteration"]
        rows.append({"arm": arm, "n": len(runs), "n_reached": int((~censored).sum()), "n_censored": int(censored.sum()),
                     "restricted_mean": restricted_mean(curve, restricted_at),
                     "median": float(below.iloc[0]) if len(below) else float("nan")})
    for arm in treatments:
        events = int((~units.loc[units["arm"].isin([arm, control]), f"{outcome}_censored"].astype(bool)).sum())
        if events == 0:  # no run of either arm reached the threshold: the statistic is 0/0
            untested.append(arm)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.logrank(samples[arm], samples[control])
        z = float(result.statistic)
        tests.append(HypothesisTest(
            f"equal curves of iterations to {threshold:g}, {arm} vs {control}", z * z, 1, float(result.pvalue),
            "logrank", int((units["arm"].isin([arm, control])).sum()),
            details={"treatment": arm, "z": z, "events": events, "restricted_at": restricted_at}))
    return TimeToThreshold(threshold, restricted_at, pd.concat(curves, ignore_index=True), pd.DataFrame(rows),
                           EstimateTable(tests, title=f"log-rank tests of the iterations to {threshold:g}"),
                           tuple(untested))
