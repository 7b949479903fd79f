"""The observational estimators refuse or warn where their answer would be wrong (issue 18).

Mismatched pandas indexes, separation and collinearity of the covariates, tiny samples and extreme weights, a
column used as its own instrument, and E-values of estimates that are not risk ratios. Reference numbers: the
E-value examples of VanderWeele and Ding (2017), written out with their formulas; effective sample sizes
computed by hand from the weights; the AIPW influence values recomputed here with statsmodels' Logit and OLS.
"""

import math
import statistics
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

import causalattn
from causalattn import Estimate, datasets
from causalattn.observational import (
    SmallSampleWarning,
    aipw,
    balance,
    cace,
    e_value,
    ipw,
    match,
    outcome_regression,
    propensity_score,
    subclassification,
    tsls,
)

NSW_X = ["age", "educ", "black", "married", "re74", "re75"]
CPS_X = ["age", "educ", "black", "hispan", "married", "nodegree", "re74", "re75", "u74", "u75"]


@pytest.fixture(scope="module")
def nsw():
    return datasets.load("lalonde_nsw")


@pytest.fixture(scope="module")
def separated(nsw):
    """NSW with a covariate equal to 1 for 49 treated units only: they have no comparable control."""
    frame = nsw.copy()
    frame["sep"] = 0
    frame.loc[frame.index[np.flatnonzero(frame["treat"] == 1)[:49]], "sep"] = 1
    return frame


def _quiet(function, *args, **kwargs):
    """Call an estimator on a small sample, whose SmallSampleWarning is not what the test is about."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return function(*args, **kwargs)


# --------------------------------------------------------------------------- pandas indexes (finding 2)


ESTIMATORS = [ipw, aipw, outcome_regression, match, subclassification]


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_series_with_another_index_are_refused_not_paired_by_position(nsw, estimator):
    y, z, x = nsw["re78"], nsw["treat"], nsw[NSW_X]
    reversed_z = pd.Series(z.to_numpy()[::-1], index=z.index[::-1])  # the same units, listed backwards
    with pytest.raises(ValueError, match="^`outcome` and `treatment` are pandas objects with different indexes"):
        estimator(None, y, reversed_z, x)
    shuffled_x = x.sample(frac=1.0, random_state=0)
    with pytest.raises(ValueError, match="^`outcome` and `covariates` are pandas objects with different indexes"):
        estimator(None, y, z, shuffled_x)
    # one shared index, whatever it is, is the DataFrame path's answer
    relabelled = nsw.set_index(nsw.index + 1000)
    same = estimator(None, relabelled["re78"], relabelled["treat"], relabelled[NSW_X])
    assert same.estimate == pytest.approx(estimator(nsw, "re78", "treat", NSW_X).estimate, rel=1e-12)


def test_the_other_per_unit_arguments_are_checked_too(nsw):
    z, x = nsw["treat"], nsw[NSW_X]
    with pytest.raises(ValueError, match="^`treatment` and `covariates` are pandas objects with different indexes"):
        propensity_score(None, z, x.iloc[::-1])
    scores = pd.Series(np.full(len(nsw), 0.4), index=nsw.index[::-1])
    with pytest.raises(ValueError, match="^`data` and `propensity` are pandas objects with different indexes"):
        ipw(nsw, "re78", "treat", propensity=scores)
    weights = pd.Series(np.ones(len(nsw)), index=nsw.index + 1)
    with pytest.raises(ValueError, match="^`data` and `weights` are pandas objects with different indexes"):
        balance(nsw, "treat", NSW_X, weights=weights)
    card = datasets.load("card")
    card["college"] = (card["educ"] >= 16).astype(int)
    near = card["nearc4"].iloc[::-1]
    with pytest.raises(ValueError, match="^`outcome` and `instrument` are pandas objects with different indexes"):
        cace(None, card["lwage"], card["college"], near)
    with pytest.raises(ValueError, match="^`outcome` and `instruments` are pandas objects with different indexes"):
        tsls(None, card["lwage"], card["educ"], near)


# --------------------------------------------------------------------------- E-values (finding 4)


def _e(rr):
    """VanderWeele and Ding's E-value of a risk ratio, written out."""
    rr = max(rr, 1 / rr)
    return rr + math.sqrt(rr * (rr - 1))


def test_e_values_of_vanderweele_and_ding():
    # their leukemia example (also R EValue's evalues.RR(0.80, 0.71, 0.91)): 1.81 and 1.43
    ev = e_value(0.80, (0.71, 0.91))
    assert (round(ev.point, 2), round(ev.limit, 2)) == (1.81, 1.43)
    assert ev.point == pytest.approx(_e(1 / 0.80)) and ev.limit == pytest.approx(_e(1 / 0.91))
    # a common outcome's odds ratio (R EValue's example evalues.OR(0.86, 0.75, 0.99, rare = FALSE)): sqrt(OR)
    ev = e_value(0.86, (0.75, 0.99), measure="odds_ratio", rare=False)
    assert ev.risk_ratio == pytest.approx(math.sqrt(0.86))
    assert ev.point == pytest.approx(_e(math.sqrt(0.86))) and ev.limit == pytest.approx(_e(math.sqrt(0.99)))
    assert e_value(3.9, (1.8, 8.7), measure="odds_ratio", rare=True).point == pytest.approx(_e(3.9))
    # a common outcome's hazard ratio (evalues.HR(0.56, 0.46, 0.69, rare = FALSE)): their Table 2 conversion
    ev = e_value(0.56, (0.46, 0.69), measure="hazard_ratio", rare=False)

    def rr(hr):
        return (1 - 0.5 ** math.sqrt(hr)) / (1 - 0.5 ** math.sqrt(1 / hr))

    assert ev.risk_ratio == pytest.approx(rr(0.56)) and ev.limit == pytest.approx(_e(rr(0.69)))
    # a standardized mean difference d = 0.5 with SE 0.1: RR = exp(0.91 d), limit exp(0.91 d - 1.78 se)
    smd = Estimate("ATE", 0.5, 0.1, causalattn.ConfidenceInterval(0.304, 0.696), 0.95, 1e-6, "neyman", 100)
    ev = e_value(smd, measure="difference", outcome_sd=1.0)
    assert ev.risk_ratio == pytest.approx(math.exp(0.455)) and ev.limit == pytest.approx(_e(math.exp(0.455 - 0.178)))


def test_e_value_reads_the_scale_of_an_estimate():
    table = causalattn.Table2x2([[30, 70], [15, 85]])
    rr = table.risk_ratio()
    assert e_value(rr).point == pytest.approx(_e(rr.estimate))
    assert e_value(rr).limit == pytest.approx(_e(rr.confidence_interval.low))
    with pytest.raises(ValueError, match=r"^`measure` is missing, but the Estimate \(estimand 'odds ratio', method "
                                         r"'woolf'\) is an odds ratio; pass `measure`='odds_ratio' and `rare`"):
        e_value(table.odds_ratio())
    odds = table.odds_ratio()
    assert e_value(odds, measure="odds_ratio", rare=False).risk_ratio == pytest.approx(math.sqrt(odds.estimate))
    with pytest.raises(ValueError, match=r"^`estimate`: the Estimate \(estimand 'risk difference', method 'wald'\) is "
                                         "a difference, not a ratio"):
        e_value(table.risk_difference())
    with pytest.raises(ValueError, match=r"`measure` is 'odds_ratio', but the Estimate .* is a risk ratio; leave "
                                         "`measure` out"):
        e_value(rr, measure="odds_ratio", rare=True)
    unnamed = Estimate("Mantel-Haenszel", 2.0, None, causalattn.ConfidenceInterval(1.2, 3.3), 0.95, 0.01, "mh", 50,
                       null_value=1.0)
    with pytest.raises(ValueError, match=r"is a ratio of unstated kind \(null value 1\); pass `measure`, one of"):
        e_value(unnamed)
    assert e_value(unnamed, measure="risk_ratio").point == pytest.approx(_e(2.0))
    exact = Estimate("risk ratio", 2.0, None, causalattn.ConfidenceInterval(0.0, math.inf), 0.95, 0.4, "exact", 9,
                     null_value=1.0)
    assert e_value(exact).limit == 1.0  # an interval from 0 to infinity contains the null


def test_e_value_refuses_a_difference_in_dollars(nsw):
    ate = ipw(nsw, "re78", "treat", NSW_X)  # $1,622: its E-value was 3,243
    with pytest.raises(ValueError, match=r"^`estimate`: the Estimate \(estimand 'ATE', method 'ipw-hajek-sandwich'\) "
                                         "is a difference, not a ratio, .* pass `measure`='difference' with "
                                         "`outcome_sd`"):
        e_value(ate)
    with pytest.raises(ValueError, match="is a difference, not a ratio"):
        e_value(ate, measure="risk_ratio")
    sd = float(nsw["re78"].std())
    converted = e_value(ate, measure="difference", outcome_sd=sd)
    assert converted.risk_ratio == pytest.approx(math.exp(0.91 * ate.estimate / sd))


@pytest.mark.parametrize("call, match", [
    (lambda: e_value(3.9, (5.0, 8.7)), r"^`confidence_interval` \(5, 8.7\) does not contain the estimate 3.9"),
    (lambda: e_value(3.9, (1.8, 3.0)), r"does not contain the estimate 3.9"),
    (lambda: e_value(4.0, measure="odds_ratio"), r"^`rare` is required for an odds ratio: True if the outcome is rare"),
    (lambda: e_value(4.0, measure="hazard_ratio"), r"^`rare` is required for a hazard ratio"),
    (lambda: e_value(4.0, rare=True), r"^`rare` applies to odds and hazard ratios only, not to a risk ratio"),
    (lambda: e_value(4.0, outcome_sd=2.0), r"^`outcome_sd` applies to `measure`='difference' only"),
    (lambda: e_value(2.0, (-0.5, 3.0)), r"^`confidence_interval`: a ratio's limits are non-negative"),
    (lambda: e_value(0.0), r"^`estimate`: a risk ratio must be positive, got 0.0"),
    (lambda: e_value(2.0, measure="ratio"), r"^`measure` must be one of"),
])
def test_e_value_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------- separation, collinearity (5, 16)


@pytest.mark.parametrize("estimator, kwargs", [
    (ipw, {}), (ipw, {"estimand": "ATT"}), (aipw, {}), (subclassification, {}), (match, {"on": "propensity"}),
])
def test_separation_is_found_and_named_by_every_logistic_score(separated, estimator, kwargs):
    # statsmodels stops after 200 iterations with a ConvergenceWarning; it used to be swallowed (ATE 1413, p 0.04)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning escapes either
        with pytest.raises(ValueError, match=r"^`covariates` \['sep'\] separate 49 treated unit\(s\) from every "
                                             r"control .*the logistic score has no maximum-likelihood estimate"):
            estimator(separated, "re78", "treat", [*NSW_X, "sep"], **kwargs)


def test_separation_in_the_score_and_in_matching(separated):
    with pytest.raises(ValueError, match=r"^`covariates` \['sep'\] separate 49 treated unit\(s\) from every control"):
        propensity_score(separated, "treat", [*NSW_X, "sep"])
    # matching on the covariates: the separated treated units have no comparable control (it was ATT 2109, p 0.017
    # after following the old advice, bias_correction=False)
    for bias_correction in (True, False):
        with pytest.raises(ValueError, match=r"^`covariates` \['sep'\] separate 49 treated unit\(s\) .* their "
                                             "matches would be extrapolations, and the ATT is not identified there"):
            match(separated, "re78", "treat", [*NSW_X, "sep"], bias_correction=bias_correction)
    # controls that no treated unit resembles do not matter for the ATT, but do for the ATE
    controls_only = separated.assign(sep=(separated["treat"] == 0) & (separated.index % 3 == 0))
    att = match(controls_only, "re78", "treat", [*NSW_X, "sep"])
    assert att.details["n_matched_pairs"] >= 185
    with pytest.raises(ValueError, match=r"separate \d+ control unit\(s\) from every treated unit .* the ATE"):
        match(controls_only, "re78", "treat", [*NSW_X, "sep"], estimand="ATE")


@pytest.mark.parametrize("estimator", [ipw, aipw, subclassification, propensity_score])
def test_a_nearly_collinear_covariate_is_named_not_blamed_on_overlap(nsw, estimator):
    rng = np.random.default_rng(0)
    args = ("treat",) if estimator is propensity_score else ("re78", "treat")
    near = nsw.assign(age2=nsw["age"] + 1e-9 * rng.normal(size=len(nsw)))
    with pytest.raises(ValueError, match=r"^`covariates` \['age', 'age2'\] are collinear: one is \(almost\) a linear "
                                         r"combination of the others \(condition number 1\.\d+e\+10"):
        estimator(near, *args, [*NSW_X, "age2"])
    # less collinear: age2's part that the other columns do not explain is below 1e-7 of its norm (R's lm would
    # alias it), refused before the fit
    closer = nsw.assign(age2=nsw["age"] + 1e-6 * rng.normal(size=len(nsw)))
    with pytest.raises(ValueError, match=r"^the design is rank deficient: `covariates` 'age2' is a linear function of "
                                         r"the intercept, `covariates` 'age', .* as R's lm would alias it"):
        estimator(closer, *args, [*NSW_X, "age2"])
    # less still, the logistic fit fails: its non-convergence names the same cause
    closer = nsw.assign(age2=nsw["age"] + 1e-5 * rng.normal(size=len(nsw)))
    with pytest.raises(ValueError, match=r"^the logistic score did not converge in 200 Newton iterations .*: "
                                         r"`covariates` \['age', 'age2'\] are nearly collinear"):
        estimator(closer, *args, [*NSW_X, "age2"])


def test_collinear_covariates_in_matching_and_outcome_regression_are_named(nsw):
    doubled = nsw.assign(age2=2 * nsw["age"])
    with pytest.raises(ValueError, match=r"^`covariates` \['age', 'age2'\] are collinear"):
        match(doubled, "re78", "treat", [*NSW_X, "age2"])  # was: "more distinct matched control units"
    with pytest.raises(ValueError, match=r"^`covariates` \['age', 'age2'\] are collinear"):
        match(doubled, "re78", "treat", [*NSW_X, "age2"], bias_correction=False, metric="mahalanobis")
    plain = match(doubled, "re78", "treat", [*NSW_X, "age2"], bias_correction=False)  # a distance needs no inverse
    assert np.isfinite(plain.estimate)
    with pytest.raises(ValueError, match=r"^`covariates` \['age', 'age2'\] are collinear within the treated arm"):
        outcome_regression(doubled, "re78", "treat", [*NSW_X, "age2"])
    card = datasets.load("card")
    card["exper2"] = card["exper"] * 3 + 1
    with pytest.raises(ValueError, match=r"^`instruments` and `covariates` \['exper', 'exper2'\] are collinear"):
        tsls(card, "lwage", "educ", "nearc4", ["exper", "exper2"])


def test_the_bias_correction_names_a_covariate_it_cannot_use(nsw):
    # a binary covariate that no matched control has, though a few (unmatched) controls do
    rare = nsw.assign(flag=0)
    treated, control = np.flatnonzero(nsw["treat"] == 1), np.flatnonzero(nsw["treat"] == 0)
    rare.loc[rare.index[treated[:3]], "flag"] = 1
    rare.loc[rare.index[control[:1]], "flag"] = 1
    rare.loc[rare.index[control[:1]], "re74"] = 1e7  # far from every treated unit: never matched
    with pytest.raises(ValueError, match=r"^`covariates` \['flag'\] are constant among the \d+ matched control units, "
                                         "yet some units differ on them from their matches"):
        match(rare, "re78", "treat", [*NSW_X, "flag"])
    # when every unit agrees with its matches on it, its slope does not matter: the estimate is unchanged
    agree = nsw.assign(flag=np.where(nsw.index == control[0], 1, 0)).assign(
        re74=np.where(nsw.index == control[0], 1e7, nsw["re74"]))
    with_flag = match(agree, "re78", "treat", [*NSW_X, "flag"])
    without = match(agree, "re78", "treat", NSW_X)
    assert with_flag.estimate == pytest.approx(without.estimate, rel=1e-12)


def test_balance_names_what_it_cannot_measure(nsw):
    with pytest.raises(ValueError, match=r"^`weights` are all zero among the treated units"):
        balance(nsw, "treat", NSW_X, weights=np.where(nsw["treat"] == 1, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"^`covariates` \['one'\] are constant: they are balanced by construction"):
        balance(nsw.assign(one=1.0), "treat", [*NSW_X, "one"])  # it was a variance ratio of inf
    arm = 5 - 2 * nsw["treat"]  # 3 for the treated, 5 for the controls
    with pytest.raises(ValueError, match=r"^`covariates`: column 'arm' is constant within each arm \(3 for the "
                                         r"treated, 5 for the controls\): it separates the arms"):
        balance(nsw.assign(arm=arm), "treat", ["age", "arm"])  # it was an SMD of 0
    with pytest.raises(ValueError, match=r"^`covariates` column 'treat2' has the same values as `treatment` column "
                                         "'treat': the treatment cannot adjust for itself"):
        balance(nsw.assign(treat2=nsw["treat"]), "treat", ["age", "treat2"])
    one_each = np.zeros(len(nsw))
    one_each[[np.flatnonzero(nsw["treat"] == 1)[0], np.flatnonzero(nsw["treat"] == 0)[0]]] = 1.0
    with pytest.raises(ValueError, match=r"^`weights`: covariate 'age' has no variance in either weighted arm"):
        balance(nsw, "treat", ["age"], weights=one_each)
    lopsided = np.where(nsw.index == np.flatnonzero(nsw["treat"] == 0)[0], 1.0, np.where(nsw["treat"] == 1, 1.0, 0.0))
    table = balance(nsw, "treat", ["age"], weights=lopsided).table
    assert table.loc["age", "variance_ratio_after"] == math.inf  # only the control arm has no variance: v1 / 0


# --------------------------------------------------------------------------- tiny samples, extreme weights (6, 7)


TINY = {"outcome": [1.0, 2.0, 3.0, 4.5, 2.5, 3.5], "treatment": [0, 1, 0, 1, 0, 1],
        "covariates": [0.1, 0.5, 0.3, 0.2, 0.6, 0.4]}


@pytest.mark.parametrize("estimator", [ipw, aipw, outcome_regression, match, subclassification])
def test_tiny_samples_warn_and_say_what_the_interval_relies_on(estimator):
    data = TINY
    if estimator is subclassification:  # two strata of 2 treated and 2 control units
        data = {"outcome": np.arange(8.0) % 3, "treatment": [0, 1, 0, 1, 0, 1, 0, 1], "covariates": np.arange(8.0)}
    kwargs = {"n_strata": 2} if estimator is subclassification else {}
    with pytest.warns(SmallSampleWarning, match=r"effective units.*\(thresholds: 20 units, 10% of the weight\): its "
                                                "normal interval and p-value may be far too narrow"):
        est = estimator(**data, **kwargs)
    assert est.details["asymptotics"].startswith("large-sample normal: relies on at least 20 effective units")
    assert est.details["distribution"] == "normal"


def test_tiny_instrumental_variable_samples_warn():
    with pytest.warns(SmallSampleWarning, match=r"^cace: instrument = 1: 3 effective units; instrument = 0: 3"):
        _ignore_weak(cace, outcome=[1.0, 2.0, 3.0, 4.5, 2.5, 3.5], treatment=[0, 1, 0, 1, 0, 0],
                     instrument=[0, 1, 0, 1, 0, 1])
    with pytest.warns(SmallSampleWarning, match=r"^tsls: the residual degrees of freedom \(n - p\): 4 effective units"):
        _ignore_weak(tsls, outcome=[1.0, 2.0, 3.0, 4.5, 2.5, 3.5], treatment=[0.0, 1, 0, 1, 0, 0],
                     instruments=[0.0, 1, 0, 1, 0, 1])


def _ignore_weak(function, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", causalattn.observational.WeakInstrumentWarning)
        return function(**kwargs)


@pytest.mark.parametrize("estimator", [ipw, aipw, outcome_regression, match])
def test_one_unit_in_an_arm_is_refused_with_its_cause(estimator):
    # match used to blame `variance_matches`
    with pytest.raises(ValueError, match=r"^`treatment` has 1 treated \(1\) unit\(s\): \w+ needs at least 2 in each "
                                         "arm"):
        estimator(outcome=np.arange(6.0), treatment=[1, 0, 0, 0, 0, 0], covariates=[0.3, 0.1, 0.5, 0.2, 0.6, 0.4])


def test_extreme_weights_warn_with_the_effective_sample_size(nsw):
    cps = datasets.load("lalonde_cps1")
    with pytest.warns(SmallSampleWarning, match=r"^ipw: treated: 10.3 effective units; one treated unit carries 22% "
                                                "of its arm's weight"):
        est = ipw(cps, "re78", "treat", CPS_X)
    w, z = est.details["weights"], cps["treat"].to_numpy() == 1
    assert est.details["effective_n_treated"] == pytest.approx(w[z].sum() ** 2 / (w[z] ** 2).sum())
    assert est.details["max_weight_share_treated"] == pytest.approx(w[z].max() / w[z].sum())
    assert "largest here: treated, 22.5%" in est.details["asymptotics"]
    with pytest.warns(SmallSampleWarning, match=r"^aipw: treated: 10.3 effective units"):
        doubly = aipw(cps, "re78", "treat", CPS_X)
    for key in ("effective_n_treated", "effective_n_control", "max_weight_share_treated"):
        assert doubly.details[key] == pytest.approx(est.details[key], rel=1e-9)  # the same weights, unnormalized
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the ATT's weights on CPS are not extreme: no warning
        att = ipw(cps, "re78", "treat", CPS_X, estimand="ATT")
        matched = match(cps, "re78", "treat", CPS_X)
        plain = ipw(nsw, "re78", "treat", NSW_X)
    assert att.details["effective_n_control"] == pytest.approx(258.2, abs=0.1)
    k = matched.details["times_matched"][cps["treat"].to_numpy() == 0]
    assert matched.details["effective_n_control"] == pytest.approx(k.sum() ** 2 / (k**2).sum())
    assert plain.details["effective_n_treated"] > 180


# --------------------------------------------------------------------------- instruments in two roles (finding 11)


def test_a_column_cannot_instrument_itself():
    card = datasets.load("card")
    covariates = ["exper", "black", "south", "smsa"]
    with pytest.raises(ValueError, match=r"^`instruments` column 'educ' has the same values as `treatment` column "
                                         r"'educ': the treatment cannot instrument itself \(2SLS would be OLS\)"):
        tsls(card, "lwage", "educ", "educ", covariates)  # was OLS with p = 7e-91
    with pytest.raises(ValueError, match=r"^`instruments` column 'lwage' has the same values as `outcome`"):
        tsls(card, "lwage", "educ", ["nearc4", "lwage"], covariates)
    with pytest.raises(ValueError, match=r"^`instruments` column 'nearc4' has the same values as `covariates` column "
                                         "'nearc4': an excluded instrument cannot also be a covariate"):
        tsls(card, "lwage", "educ", "nearc4", [*covariates, "nearc4"])
    with pytest.raises(ValueError, match=r"^`covariates` column 'educ' has the same values as `treatment`"):
        tsls(card, "lwage", "educ", "nearc4", [*covariates, "educ"])
    with pytest.raises(ValueError, match=r"^`instruments` has the same values as `treatment`"):
        tsls(outcome=card["lwage"], treatment=card["educ"], instruments=card["educ"].to_numpy())
    with pytest.raises(ValueError, match=r"^`treatment` is an exact linear function of `instruments` and `covariates`"):
        tsls(outcome=card["lwage"], treatment=card["educ"], instruments=2 * card["educ"].to_numpy() + 1)
    # two columns of one name (before: pandas' "cannot insert const, already exists" for a covariate 'const')
    with pytest.raises(ValueError, match=r"^`covariates` has a column named 'const', the name of the intercept that "
                                         r"tsls adds: the coefficients are named by column; rename it"):
        tsls(card.assign(const=card["exper"]), "lwage", "educ", "nearc4", ["const", "black"])
    with pytest.raises(ValueError, match=r"^`covariates` has a column named 'z', the name of a column of "
                                         r"`instruments`"):
        tsls(outcome=card["lwage"], treatment=card["educ"], instruments=pd.DataFrame({"z": card["nearc4"]}),
             covariates=pd.DataFrame({"z": card["exper"]}))
    card["college"] = (card["educ"] >= 16).astype(int)
    with pytest.raises(ValueError, match=r"^`instrument` column 'college' has the same values as `treatment` column "
                                         "'college': every unit takes the treatment it is assigned"):
        cace(card, "lwage", "college", "college")
    binary = card.assign(high=(card["lwage"] > card["lwage"].median()).astype(int))
    with pytest.raises(ValueError, match=r"^`instrument` column 'high' has the same values as `outcome` column 'high'"):
        cace(binary, "high", "college", "high")


# --------------------------------------------------------------------------- the AIPW divisor (finding 21)


@pytest.mark.parametrize("estimand", ["ATE", "ATT"])
def test_aipw_standard_error_divisor(nsw, estimand):
    y, z = nsw["re78"].to_numpy(), nsw["treat"].to_numpy()
    design = sm.add_constant(nsw[NSW_X].to_numpy(float))
    e = sm.Logit(z, design).fit(disp=0).predict()
    mu0 = design @ sm.OLS(y[z == 0], design[z == 0]).fit().params
    mu1 = design @ sm.OLS(y[z == 1], design[z == 1]).fit().params
    if estimand == "ATE":
        phi = mu1 - mu0 + z * (y - mu1) / e - (1 - z) * (y - mu0) / (1 - e)
    else:  # the ATT's influence values: terms over the share treated, centred
        terms = z * (y - mu0) - (1 - z) * e / (1 - e) * (y - mu0)
        phi = (terms - z * terms.sum() / z.sum()) / z.mean()
    n = len(y)
    default = aipw(nsw, "re78", "treat", NSW_X, estimand=estimand)
    sample = aipw(nsw, "re78", "treat", NSW_X, estimand=estimand, ddof=1)
    assert default.standard_error == pytest.approx(statistics.pstdev(phi) / math.sqrt(n), rel=1e-9)
    assert sample.standard_error == pytest.approx(statistics.stdev(phi) / math.sqrt(n), rel=1e-9)
    assert sample.estimate == default.estimate and sample.details["ddof"] == 1
    with pytest.raises(ValueError, match=r"^`ddof` must be 0 \(divisor n\) or 1 \(divisor n - 1\), got 2"):
        aipw(nsw, "re78", "treat", NSW_X, ddof=2)


def test_homoskedastic_matching_options(nsw):
    with pytest.raises(ValueError, match=r"^`standard_error` must be one of \['robust', 'homoskedastic'\]"):
        match(nsw, "re78", "treat", NSW_X, standard_error="sandwich")
    with pytest.raises(ValueError, match=r"^`variance_matches` is used by `standard_error`='robust'"):
        match(nsw, "re78", "treat", NSW_X, standard_error="homoskedastic", variance_matches=2)


# --------------------------------------------------------------------------- the hostile pass


def _call(estimator, y, z, x):
    """An estimator on arrays: the IV estimators take the covariate as their instrument."""
    if estimator is cace:
        return cace(outcome=y, treatment=z, instrument=(x[:, 0] > 0).astype(int))
    if estimator is tsls:
        return tsls(outcome=y, treatment=z, instruments=x[:, 0])
    return estimator(outcome=y, treatment=z, covariates=x)


EVERY_ESTIMATOR = [ipw, aipw, outcome_regression, match, subclassification, cace, tsls]


@pytest.fixture(scope="module")
def units():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 2))
    z = (rng.random(200) < 1 / (1 + np.exp(-x[:, 0]))).astype(int)
    return x[:, 0] + z + rng.normal(size=200), z, x


@pytest.mark.parametrize("estimator", EVERY_ESTIMATOR)
def test_outcomes_whose_squares_leave_double_precision_are_refused(units, estimator):
    y, z, x = units
    # 1e200: the variances overflowed (`standard_error` ... got nan, or SE inf); 1e-300: they underflowed to SE 0
    with pytest.raises(ValueError, match=r"^`outcome` reaches [\d.]+e\+200: its squares overflow double precision"):
        _quiet(_call, estimator, y * 1e200, z, x)
    with pytest.raises(ValueError, match=r"^`outcome` spreads over only [\d.]+e-300: its squares underflow"):
        _quiet(_call, estimator, y * 1e-300, z, x)
    with pytest.raises(ValueError, match=r"^`outcome` is constant \(3 for every unit\): there is no effect to "
                                         "estimate"):
        _quiet(_call, estimator, np.full(len(y), 3.0), z, x)  # outcome_regression gave p = 5e-14 on rounding noise
    scaled = _quiet(_call, estimator, y * 1e6, z, x)  # within the range the answer scales with the outcome
    assert scaled.estimate == pytest.approx(1e6 * _quiet(_call, estimator, y, z, x).estimate, rel=1e-9)


def test_covariates_whose_squares_leave_double_precision_are_refused(units):
    y, z, x = units
    with pytest.raises(ValueError, match=r"^`covariates` reaches [\d.]+e\+300: its squares overflow"):
        balance(treatment=z, covariates=x * 1e300)  # its SMDs were 0
    with pytest.raises(ValueError, match=r"^`covariates` spreads over only [\d.]+e-200"):
        ipw(outcome=y, treatment=z, covariates=np.column_stack([x[:, 0], x[:, 1] * 1e-200]))


@pytest.mark.parametrize("estimator", [ipw, aipw, outcome_regression, match, subclassification])
def test_the_outcome_or_the_treatment_as_a_covariate_is_refused(nsw, estimator):
    with pytest.raises(ValueError, match=r"^`covariates` column 're78' has the same values as `outcome` column 're78': "
                                         "the outcome cannot adjust for itself"):
        estimator(nsw, "re78", "treat", [*NSW_X, "re78"])
    with pytest.raises(ValueError, match=r"^`covariates` column 'covariate6' has the same values as `treatment`"):
        estimator(None, nsw["re78"].to_numpy(), nsw["treat"].to_numpy(),
                  np.column_stack([nsw[NSW_X], nsw["treat"]]))


def test_options_found_by_the_hostile_pass(nsw):
    # an E-value of a huge standardized difference is infinite, not an OverflowError
    assert e_value(1.0, (0.5, 1.5), measure="difference", outcome_sd=1e-300).point == math.inf
    assert e_value(1e300).point == pytest.approx(2e300)  # RR + sqrt(RR (RR - 1)) without overflowing
    with pytest.raises(TypeError, match=r"^`bins` must be a positive integer, got 2.5"):
        propensity_score(nsw, "treat", NSW_X).plot_overlap(bins=2.5)
    with pytest.raises(ValueError, match=r"^`tie_tolerance` must be a finite non-negative number, got inf"):
        match(nsw, "re78", "treat", NSW_X, tie_tolerance=math.inf)  # every control was a tie
    with pytest.raises(ValueError, match=r"^`ddof` must be 0 \(divisor n\) or 1 \(divisor n - 1\), got 1.0"):
        aipw(nsw, "re78", "treat", NSW_X, ddof=1.0)


@pytest.mark.parametrize("estimator", [ipw, outcome_regression])
def test_too_few_bootstrap_resamples_are_refused(nsw, estimator):
    # before: n_resamples=2 was accepted, and the reported percentile interval was the two resamples themselves
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at least 40 for 95% intervals \(the resampled"):
        estimator(nsw, "re78", "treat", NSW_X, standard_error="bootstrap", n_resamples=2)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at least 200 for 99% intervals"):
        estimator(nsw, "re78", "treat", NSW_X, standard_error="bootstrap", n_resamples=199, confidence_level=0.99)
    with pytest.raises(TypeError, match=r"^`n_resamples` must be a positive integer, got True"):
        estimator(nsw, "re78", "treat", NSW_X, n_resamples=True)
    # unused by the sandwich standard error: any positive count is accepted there
    assert estimator(nsw, "re78", "treat", NSW_X, n_resamples=2).method.endswith("sandwich")
    boot = estimator(nsw, "re78", "treat", NSW_X, standard_error="bootstrap", n_resamples=40, rng=0)
    assert boot.details["n_resamples"] == 40


@pytest.mark.parametrize("estimator", [ipw, outcome_regression])
def test_too_many_bootstrap_resamples_are_refused_before_resampling(nsw, estimator):
    # before: n_resamples=10**9 was accepted and ran for days; the bound is the effect layer's (MAX_RESAMPLES)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at most 2\*\*26 = 67,108,864 .*got 1,000,000,000"):
        estimator(nsw, "re78", "treat", NSW_X, standard_error="bootstrap", n_resamples=10**9)
