"""Treatments over time: stabilized weights, the MSM and the g-formula against R (glm, geepack's geeglm, lm),
a hand derivation, and simulations where the truth is known; bad input.

Reference numbers from tests/reference/longitudinal.R (R 4.2, geepack 1.3) on datasets/time_varying.csv.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from causalattn import datasets, ols
from causalattn.longitudinal import TreatmentWeights, g_formula, msm, treatment_weights

ARGS = (["a0", "a1"], ["l0", "l1"])


@pytest.fixture(scope="module")
def data():
    return datasets.load("time_varying")


def _build_script():
    path = Path(__file__).resolve().parent.parent / "datasets" / "build_time_varying.py"
    spec = importlib.util.spec_from_file_location("build_time_varying", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- against R


def test_weights_match_r(data):
    w = treatment_weights(data, *ARGS)
    d = w.diagnostics()
    assert d["mean"] == pytest.approx(1.0174976312, rel=1e-8)
    assert (d["min"], d["max"]) == pytest.approx((0.2606032977, 21.9680847100), rel=1e-8)
    assert d["effective_sample_size"] == pytest.approx(1032.962562, rel=1e-8)
    assert w.limits is None and w.stabilized and d["n"] == 2000
    truncated = treatment_weights(data, *ARGS, truncate=(1, 99))
    assert truncated.limits == pytest.approx((0.3285799211, 4.6162824258), rel=1e-8)
    assert truncated.weights.max() == pytest.approx(4.6162824258)
    assert truncated.effective_sample_size > 1300 > w.effective_sample_size
    unstabilized = treatment_weights(data, *ARGS, stabilized=False)
    assert unstabilized.weights.mean() == pytest.approx(4.0606404785, rel=1e-8)
    assert (unstabilized.numerator == 1).all()


def test_unstabilized_weights_average_the_number_of_regimes():
    # E[1 / P(A0 | L0) P(A1 | A0, L0, L1)] = sum over the 4 regimes of 1: the true treatment laws, a large sample
    sample = _build_script().simulate(100_000, np.random.default_rng(1))
    weights = treatment_weights(sample, *ARGS, stabilized=False).weights
    assert weights.mean() == pytest.approx(4.0, abs=0.1)
    assert treatment_weights(sample, *ARGS).weights.mean() == pytest.approx(1.0, abs=0.03)


def test_msm_matches_geepack(data):
    est = msm(data, "y", *ARGS)
    coefficients = est.details["coefficients"]
    assert coefficients["estimate"].tolist() == pytest.approx([2.0660990330, 1.1803045552, 1.2400469563], rel=1e-8)
    # geeglm's robust SE is the HC0 sandwich; statsmodels' cluster covariance multiplies it by
    # G/(G-1) (n-1)/(n-p), G = n = 2000 subjects, p = 3
    factor = np.sqrt(2000 / 1999 * 1999 / 1997)
    assert coefficients["standard_error"].tolist() == pytest.approx(
        [0.1585191919 * factor, 0.1969319750 * factor, 0.1989514499 * factor], rel=1e-7)
    assert est.estimate == pytest.approx(2.4203515115, rel=1e-8)
    assert est.standard_error == pytest.approx(0.2193349579 * factor, rel=1e-7)
    low, high = est.confidence_interval
    assert (low, high) == pytest.approx((est.estimate - 1.959964 * est.standard_error,
                                         est.estimate + 1.959964 * est.standard_error), rel=1e-6)
    assert est.method == "msm-iptw-cluster" and est.estimand == "always vs never treated" and est.n == 2000
    truncated = msm(data, "y", *ARGS, truncate=(1, 99))
    assert truncated.details["coefficients"]["estimate"].tolist() == pytest.approx(
        [1.9150884308, 1.1610183856, 1.4566236625], rel=1e-8)


def test_g_formula_matches_r(data):
    est = g_formula(data, "y", *ARGS, n_resamples=50, rng=0)
    assert est.details["mean_treated"] == pytest.approx(4.5044917189, rel=1e-9)
    assert est.details["mean_control"] == pytest.approx(1.9368891742, rel=1e-9)
    assert est.estimate == pytest.approx(4.5044917189 - 1.9368891742, rel=1e-9)
    one = g_formula(data, "y", *ARGS, treated=(1, 0), control=(0, 0), n_resamples=40, rng=0)
    assert one.details["mean_treated"] == pytest.approx(3.0804729645, rel=1e-9)
    assert one.estimand == "(1, 0) vs (0, 0)" and one.method == "g-formula-ice-bootstrap"


def test_g_formula_bootstrap_is_reproducible(data):
    a = g_formula(data, "y", *ARGS, n_resamples=40, rng=5)
    b = g_formula(data, "y", *ARGS, n_resamples=40, rng=5)
    assert a.standard_error == b.standard_error > 0
    low, high = a.details["percentile_interval"]
    assert low < a.estimate < high


# --------------------------------------------------------------------------- known truth


def test_naive_regression_is_biased_and_the_g_methods_are_not(data):
    # truth: a0 1.0, a1 1.5, always vs never 2.5
    adjusted = ols(data, "y", "a0", covariates=["a1", "l0", "l1"])
    assert adjusted.estimate < 0.5 and adjusted.confidence_interval.high < 1.0  # collider L1: biased for a0
    unadjusted = ols(data, "y", "a1", covariates=["a0", "l0"])
    assert unadjusted.confidence_interval.low > 2.0  # L1 left out: a1 confounded through U
    for est in (msm(data, "y", *ARGS), g_formula(data, "y", *ARGS, n_resamples=50, rng=0)):
        low, high = est.confidence_interval
        assert low < 2.5 < high


def test_large_sample_recovers_the_truth():
    sample = _build_script().simulate(50_000, np.random.default_rng(2))
    coefficients = msm(sample, "y", *ARGS).details["coefficients"]["estimate"]
    assert coefficients.tolist() == pytest.approx([2.0, 1.0, 1.5], abs=0.06)
    assert msm(sample, "y", *ARGS, model="cumulative", treated=(1, 0), control=(0, 0)).details[
        "model"] == "cumulative"
    few = dict(n_resamples=4, confidence_level=0.5, rng=0)  # the fewest resamples a 50% interval allows
    assert g_formula(sample, "y", *ARGS, **few).estimate == pytest.approx(2.5, abs=0.05)
    assert g_formula(sample, "y", *ARGS, treated=(1, 0), control=(0, 0), **few).estimate == pytest.approx(1.0, abs=0.05)
    naive = ols(sample, "y", "a0", covariates=["a1", "l0", "l1"])
    assert naive.estimate < 0.5


def test_cumulative_model_contrast(data):
    est = msm(data, "y", *ARGS, model="cumulative")
    beta = est.details["coefficients"].loc["treated times", "estimate"]
    assert est.estimate == pytest.approx(2 * beta) and est.standard_error == pytest.approx(
        2 * est.details["coefficients"].loc["treated times", "standard_error"])
    one = msm(data, "y", *ARGS, treated=(0, 1), control=(1, 0))
    c = one.details["coefficients"]["estimate"]
    assert one.estimate == pytest.approx(c["a1"] - c["a0"]) and one.estimand == "(0, 1) vs (1, 0)"


# --------------------------------------------------------------------------- diagnostics and plots


def test_rescaled_confounders_give_the_same_answers(data):
    base = msm(data, "y", *ARGS)
    for factor in (1e-30, 1e30):
        scaled = data.assign(l0=data["l0"] * factor, l1=data["l1"] * factor)
        assert msm(scaled, "y", *ARGS).estimate == pytest.approx(base.estimate, rel=1e-9)
        assert g_formula(scaled, "y", *ARGS, n_resamples=4, confidence_level=0.5, rng=0).estimate == pytest.approx(
            2.5676025447, rel=1e-8)


def test_strong_confounding_gives_extreme_weights_that_truncation_tames():
    rng = np.random.default_rng(0)
    n = 2000
    l0 = rng.normal(size=n)
    a0 = (rng.uniform(size=n) < 1 / (1 + np.exp(-4 * l0))).astype(int)
    l1 = l0 + a0 + rng.normal(size=n)
    a1 = (rng.uniform(size=n) < 1 / (1 + np.exp(-4 * l1))).astype(int)
    frame = pd.DataFrame({"l0": l0, "a0": a0, "l1": l1, "a1": a1, "y": a0 + a1 + l0 + l1 + rng.normal(size=n)})
    weights = treatment_weights(frame, *ARGS)
    truncated = treatment_weights(frame, *ARGS, truncate=(1, 99))
    assert weights.diagnostics()["max"] > 100 and truncated.diagnostics()["max"] < 0.1 * weights.diagnostics()["max"]
    assert truncated.effective_sample_size > 2 * weights.effective_sample_size


def test_weights_object(data):
    w = treatment_weights(data, *ARGS, truncate=(1, 99))
    assert isinstance(w, TreatmentWeights)
    assert repr(w).startswith("TreatmentWeights(stabilized, 2 times, truncated at percentiles (1.0, 99.0): mean ")
    frame = w.to_frame()
    assert list(frame.columns) == ["weight", "numerator_a0", "denominator_a0", "numerator_a1", "denominator_a1"]
    assert np.allclose(frame["weight"].clip(*w.limits), frame["weight"])
    fig = w.plot()
    assert isinstance(fig, Figure) and "effective sample size" in fig.axes[0].get_title()
    assert any("truncated" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


# --------------------------------------------------------------------------- bad input


def _frame(**changes):
    rng = np.random.default_rng(0)
    n = 200
    l0 = rng.normal(size=n)
    a0 = (rng.uniform(size=n) < 0.5).astype(int)
    l1 = l0 + a0 + rng.normal(size=n)
    a1 = (rng.uniform(size=n) < 1 / (1 + np.exp(-l1))).astype(int)
    frame = pd.DataFrame({"l0": l0, "a0": a0, "l1": l1, "a1": a1, "y": l0 + a0 + a1 + rng.normal(size=n)})
    return frame.assign(**changes)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"truncate": (99, 1)}, ValueError, r"`truncate` must be percentiles with 0 <= low < high <= 100, got \(99, 1\)"),
    ({"truncate": (-1, 50)}, ValueError, r"`truncate` must be percentiles"),
    ({"truncate": 5}, TypeError, r"`truncate` must be None or two percentiles"),
    ({"stabilized": "yes"}, TypeError, r"`stabilized` must be True or False"),
])
def test_bad_weight_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        treatment_weights(_frame(), *ARGS, **kwargs)


def test_perfectly_predicted_treatment_is_refused():
    frame = _frame()
    frame["a1"] = (frame["l1"] > 0.3).astype(int)
    with pytest.raises(ValueError, match=r"positivity fails at time 1: the denominator model predicts `treatments` "
                                         r"column 'a1'"):
        treatment_weights(frame, *ARGS)
    with pytest.raises(ValueError, match=r"positivity fails at time 1"):
        msm(frame, "y", *ARGS)


def test_treatment_determined_by_the_past_is_refused():
    frame = _frame()
    frame["a1"] = frame["a0"]
    with pytest.raises(ValueError, match=r"positivity fails at time 1: the denominator model"):
        treatment_weights(frame, *ARGS)
    frame["l1"] = frame["l0"]
    with pytest.raises(ValueError, match=r"model of `treatments` column 'a1' \(time 1\) has collinear regressors "
                                         r"\('l1' is a linear function of 'const', 'l0' \(perfectly collinear\)"):
        treatment_weights(frame, *ARGS)
    with pytest.raises(ValueError, match=r"outcome regression on the history .* is rank deficient: 'l1' is a linear "
                                         r"function of 'const', 'l0'"):
        g_formula(frame, "y", *ARGS)
    offset = _frame()
    offset["l1"] = offset["l1"] + 1e9  # collinear with the intercept in floating point (R's lm aliases it)
    with pytest.raises(ValueError, match=r"has collinear regressors \('l1' is a linear function of 'const', 'l0' "
                                         r"\(perfectly collinear\).* such as 1e9 \+ noise"):
        treatment_weights(offset, *ARGS)
    with pytest.raises(ValueError, match=r"is rank deficient: 'l1' is a linear function of 'const', 'l0'"):
        g_formula(offset, "y", *ARGS)


@pytest.mark.parametrize("frame, treatments, confounders, error, message", [
    (_frame(a1=1), ["a0", "a1"], ["l0", "l1"], ValueError, r"`treatments`: column 'a1' \(time 1\) is constant"),
    (_frame(a1=2), ["a0", "a1"], ["l0", "l1"], ValueError, r"`treatments` must be binary .* \(column 'a1'\)"),
    (_frame(), ["a0"], ["l0"], ValueError, r"`treatments` must name at least 2 times"),
    (_frame(), "a0", ["l0"], TypeError, r"`treatments` must be a list of column names"),
    (_frame(), ["a0", "a1"], ["l0"], ValueError, r"`confounders` must be a list with one entry per treatment time"),
    (_frame(), ["a0", "a1"], ["l0", "a0"], ValueError, r"use column\(s\) \['a0'\] more than once"),
    (_frame(), ["a0", "a1"], ["l0", "cd4"], ValueError, r"`confounders`: column 'cd4' is not in `data`"),
    (_frame(l1=np.nan), ["a0", "a1"], ["l0", "l1"], ValueError, r"`confounders`: column 'l1' must be finite"),
])
def test_bad_history(frame, treatments, confounders, error, message):
    with pytest.raises(error, match=message):
        treatment_weights(frame, treatments, confounders)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"outcome": "l1"}, ValueError, r"`outcome` column 'l1' is also a treatment or a confounder"),
    ({"outcome": "z"}, ValueError, r"`outcome`: column 'z' is not in `data`"),
    ({"outcome": 3}, TypeError, r"`outcome` must be a column name"),
    ({"treated": (1, 1, 1)}, ValueError, r"`treated` must be 2 treatments of 0 or 1"),
    ({"treated": "11"}, TypeError, r"`treated` must be a sequence of 0/1 treatments"),
    ({"treated": (0, 0)}, ValueError, r"`treated` and `control` are the same regime \[0, 0\]"),
])
def test_bad_contrast(kwargs, error, message):
    options = dict(kwargs)
    outcome = options.pop("outcome", "y")
    for estimator in (msm, g_formula):
        with pytest.raises(error, match=message):
            estimator(_frame(), outcome, *ARGS, **options)


def test_bad_estimator_options():
    with pytest.raises(ValueError, match=r"`model` must be one of \['separate', 'cumulative'\]"):
        msm(_frame(), "y", *ARGS, model="saturated")
    # before: n_resamples=2 was accepted, and its percentile interval was the two resamples themselves
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at least 40 for 95% intervals \(the resampled"):
        g_formula(_frame(), "y", *ARGS, n_resamples=39)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at least 20 for 90% intervals"):
        g_formula(_frame(), "y", *ARGS, n_resamples=19, confidence_level=0.9)
    with pytest.raises(TypeError, match=r"^`n_resamples` must be a positive integer, got 40.0"):
        g_formula(_frame(), "y", *ARGS, n_resamples=40.0)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at most 2\*\*26"):  # before: ran for days
        g_formula(_frame(), "y", *ARGS, n_resamples=2**26 + 1)
    with pytest.raises(ValueError, match=r"`outcome`: column 'y' must be finite"):
        g_formula(_frame(y=np.inf), "y", *ARGS)
    with pytest.raises(TypeError, match=r"`data` must be a pandas DataFrame"):
        msm(_frame().to_numpy(), "y", *ARGS)


def test_a_constant_outcome_is_refused(data):
    # it gave an "effect" of 2e-16 with p = 0.011 (MSM) and p = 0.06 (g-formula): rounding noise over rounding noise
    for estimator in (msm, g_formula):
        with pytest.raises(ValueError, match=r"`outcome` column 'y' is constant \(1 for every unit\): there is no "
                                             "effect to estimate"):
            estimator(data.assign(y=1.0), "y", *ARGS)


def test_g_formula_refuses_resamples_whose_history_is_rank_deficient():
    # a1 given to 2 of 14 subjects: about one resample in ten holds none of them, and the pseudo-inverse fit of that
    # resample predicted a1 = 1 from an arbitrary coefficient (silently, beside statsmodels' SingularMatrixWarning)
    rng = np.random.default_rng(0)
    rare = pd.DataFrame({"l0": rng.normal(size=14), "a0": np.tile([0, 1], 7), "l1": rng.normal(size=14),
                         "a1": np.r_[1, 1, np.zeros(12)], "y": rng.normal(size=14)})
    from causalattn.observational import SmallSampleWarning

    with pytest.warns(SmallSampleWarning, match="a1 = 1: 2 effective units"), pytest.raises(
            ValueError, match=r"22 of 200 bootstrap replicate\(s\) could not be computed \(a regression of "
                              r"the history that is rank deficient in the resample"):
        g_formula(rare, "y", *ARGS, rng=0)


def test_few_subjects_per_arm_warn_and_say_so(data):
    # 40 subjects gave a normal interval without a word (its coverage is measured with 500 and 2,000); the rule of
    # the observational estimators: fewer than 20 (effective) subjects in an arm at some time, or one subject above
    # 10% of its arm's weight
    from causalattn.observational import SmallSampleWarning

    small = data.iloc[:40]
    with pytest.warns(SmallSampleWarning, match=r"^msm: a0 = 1: 15.8 effective units; .*one a0 = 1 unit carries 13% "
                                                r"of its arm's weight"):
        est = msm(small, "y", *ARGS)
    w, a1 = est.details["weights"].weights, small["a1"].to_numpy()
    kish = w[a1 == 0].sum() ** 2 / (w[a1 == 0] ** 2).sum()  # Kish's effective size of the untreated at time 1
    assert est.details["asymptotics"].startswith(f"large-sample normal: relies on at least 20 effective units per "
                                                 f"group (smallest here: a1 = 0, {kish:.3g})")
    with pytest.warns(SmallSampleWarning, match=r"^g_formula: a1 = 0: 16 effective units"):
        g = g_formula(small, "y", *ARGS, n_resamples=40, rng=0)
    assert g.details["asymptotics"].endswith("(smallest here: a1 = 0, 16)")
    assert msm(data, "y", *ARGS).details["asymptotics"].startswith(  # no warning with the 2,000 subjects
        "large-sample normal: relies on at least 20 effective units per group (smallest here: a1 = 0, 444)")
