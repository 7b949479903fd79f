"""Iterations to a threshold: Kaplan-Meier curves, restricted means and log-rank tests against R's survival package
(tests/reference/logrank_threshold.R), and the restricted-mean rows of a training study."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from causalattn import effects_frame
from causalattn.lab.training.study import TrainingStudy
from causalattn.lab.training.threshold import kaplan_meier, restricted_mean, time_to_threshold

OUTCOME = "restricted_iterations_to_0.9"
CONTROL = [120, 160, 160, 200, 240, 400, 280, 320]  # the sixth run never reaches 0.9 within 400 iterations
FROZEN = [240, 400, 400, 360, 400, 320, 400, 400]
REACHED = {"control": [1, 1, 1, 1, 1, 0, 1, 1], "frozen": [1, 0, 0, 1, 0, 1, 0, 0]}


def _units():
    return pd.DataFrame({"seed": list(range(8)) * 2, "arm": ["control"] * 8 + ["frozen"] * 8,
                         OUTCOME: CONTROL + FROZEN,
                         f"{OUTCOME}_censored": [not r for r in REACHED["control"] + REACHED["frozen"]]})


def test_curves_restricted_means_and_logrank_match_r_survival():
    view = time_to_threshold(_units(), OUTCOME, "control", ["frozen"], 0.9, 400)
    # R: survfit(Surv(time, event) ~ arm), summary(fit, times = ...)
    control = view.curves[view.curves["arm"] == "control"]
    assert control["iteration"].tolist() == [0, 120, 160, 200, 240, 280, 320]
    np.testing.assert_allclose(control["not_reached"], [1, 0.875, 0.625, 0.5, 0.375, 0.25, 0.125], rtol=1e-12)
    frozen = view.curves[view.curves["arm"] == "frozen"]
    assert frozen["iteration"].tolist() == [0, 240, 320, 360]
    np.testing.assert_allclose(frozen["not_reached"], [1, 0.875, 0.75, 0.625], rtol=1e-12)
    # R: survmean(fit, rmean = 400): 235 and 365; by hand (120 + 160 + ... + 320) / 8 = 1880 / 8 = 235
    arms = view.arms.set_index("arm")
    assert arms.loc["control", "restricted_mean"] == pytest.approx(235, rel=1e-12)
    assert arms.loc["frozen", "restricted_mean"] == pytest.approx(365, rel=1e-12)
    assert arms["n_reached"].tolist() == [7, 3] and arms["n_censored"].tolist() == [1, 5]
    # the median: the first iteration at which half have reached it (R's survfit takes the midpoint, 220, of the
    # flat stretch at exactly 1/2); the frozen curve never gets down to 1/2
    assert arms.loc["control", "median"] == 200 and math.isnan(arms.loc["frozen", "median"])
    # R: survdiff(Surv(time, event) ~ arm): chisq 6.621663110937, p 0.010074571426 (observed 7, expected 3.3719)
    (test,) = view.logrank
    assert test.statistic == pytest.approx(6.621663110937, rel=1e-10) and test.dof == 1
    assert test.pvalue == pytest.approx(0.010074571426, rel=1e-9)
    assert test.method == "logrank" and test.n == 16 and test.details["events"] == 10 and test.details["z"] < 0
    assert view.untested == ()
    assert repr(view) == ("TimeToThreshold(0.9 within 400 iterations: control 7/8 reached, restricted mean 235; "
                          "frozen 3/8 reached, restricted mean 365; 1 log-rank test(s))")
    assert isinstance(view.plot(), Figure)


def test_restricted_mean_is_the_mean_of_the_restricted_times():
    rng = np.random.default_rng(0)
    for _ in range(20):
        times = rng.integers(0, 60, 12) * 10  # logged every 10 iterations, some from the start
        censored = times >= 400
        times = np.minimum(times, 400)
        assert restricted_mean(kaplan_meier(times, censored), 400) == pytest.approx(times.mean(), rel=1e-12)


def test_no_run_reaching_the_threshold_has_no_logrank_test():
    units = _units().assign(**{OUTCOME: 400, f"{OUTCOME}_censored": True})
    view = time_to_threshold(units, OUTCOME, "control", ["frozen"], 0.9, 400)
    assert len(view.logrank) == 0 and view.untested == ("frozen",)
    assert view.arms["restricted_mean"].tolist() == [400, 400]
    assert view.curves["not_reached"].tolist() == [1.0, 1.0]


def _study(units):
    return TrainingStudy(units=units, histories=pd.DataFrame(), arms={"control": (), "frozen": ()}, control="control",
                         design="paired", outcomes=(OUTCOME,), threshold=0.9, n_iters=400)


def test_the_effect_row_is_the_difference_in_restricted_means():
    # before (issue 18, item 20): "iterations_to_0.9", read as a (lower bound on the) delay in mean iterations
    (row,) = _study(_units()).effects(OUTCOME)
    assert row.estimate == pytest.approx(365 - 235)  # the difference in restricted means, R's rmean
    assert row.details["estimand"] == ("difference in restricted mean iterations to 0.9, restricted at 400 (a run "
                                       "that never reaches 0.9 counts 400)")
    assert row.details["restricted_at"] == 400 and row.details["n_censored"] == 6 and row.method == "paired-t"
    d = np.array(FROZEN) - np.array(CONTROL)  # the paired t interval by hand
    half = 2.364624251592784 * d.std(ddof=1) / math.sqrt(8)  # scipy.stats.t.ppf(0.975, 7)
    assert row.confidence_interval == pytest.approx((d.mean() - half, d.mean() + half), rel=1e-12)
    assert _study(_units()).time_to_threshold().arms["restricted_mean"].diff().iloc[1] == pytest.approx(row.estimate)


def test_every_run_censored_gives_equal_restricted_means():
    # before: "not estimable"; the restricted means are both 400, and the row says so without a test
    units = _units().assign(**{OUTCOME: 400, f"{OUTCOME}_censored": True})
    (row,) = _study(units).effects(OUTCOME)
    assert row.estimate == 0 and tuple(row.confidence_interval) == (0, 0) and row.pvalue is None
    assert row.details["n_censored"] == 16 and "degenerate" in row.details
    frame = effects_frame(replace(_study(units)).effects()).set_index("outcome").loc[OUTCOME]
    assert frame["n_censored"] == 16 and frame["unit"] == "seed"
