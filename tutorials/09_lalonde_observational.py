"""Tutorial 9: can observational data recover the experimental answer? LaLonde with Ding's parts III-V.

The NSW experiment (445 men) says job training raised 1978 earnings by about
$1,800. LaLonde (1986) asked whether non-experimental methods, comparing the
185 trainees with 15,992 men of the Current Population Survey (Ding's
``cps1re74``), would find the same. We estimate the propensity score and look
at overlap, check covariate balance before and after weighting and matching,
and run every observational estimator of the library for the ATE and for the
ATT: inverse probability weighting (Horvitz-Thompson, Hajek), outcome
regression, doubly robust AIPW, subclassification and Abadie-Imbens matching (on the
covariates, and on the estimated propensity score with the Abadie-Imbens 2016 standard error).
The ATT estimators land near the benchmark; the ATE estimators fail, and we
see why. We end with an E-value, and with instrumental variables on Card's
(1995) college-proximity data.

Run:  python tutorials/09_lalonde_observational.py [--quick] [--out tutorials/output]
(under a minute on 2 cores; --quick uses fewer bootstrap replicates, for tests).
"""

from __future__ import annotations

import dataclasses
import warnings

from _common import parse_args, save, section  # first: it selects the Agg backend

import causalattn
from causalattn import Estimate, EstimateTable, datasets, plot_forest
from causalattn.estimate import normal_estimate
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

COVARIATES = ["age", "educ", "black", "hispan", "married", "nodegree", "re74", "re75", "u74", "u75"]


# How long the full run takes (shown by --help).
RUNTIME = "under a minute on 2 cores; --quick takes seconds"

def labelled(estimate: Estimate, label: str) -> Estimate:
    """The same estimate under a more telling name, for tables and plots."""
    return dataclasses.replace(estimate, estimand=label)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], runtime=RUNTIME, extra=lambda p: p.add_argument(
        "--quick", action="store_true", help="fewer bootstrap replicates (for tests)"))
    out, resamples = args.out, 40 if args.quick else 300

    section("The experimental benchmark (NSW)")
    nsw = datasets.load("lalonde_nsw")
    benchmark = causalattn.experiments.neyman(nsw["re78"], nsw["treat"])
    print(benchmark)
    print("Randomization makes the difference in means unbiased: +$1,794 (SE 671). Every estimate below is\n"
          "judged against it. The NSW men were recruited for being disadvantaged, so this is the effect on the\n"
          "kind of men who enrol: in the observational data below it is the effect on the treated (ATT).")

    section("The propensity score on cps1re74: overlap")
    cps = datasets.load("lalonde_cps1")
    ps = propensity_score(cps, "treat", COVARIATES)
    print(ps)
    print(ps.ranges().to_string(float_format=lambda v: f"{v:.3g}"))
    low = ps.ranges().loc["control", "min"]
    print(f"\nA logistic model on the 10 covariates gives CPS men scores down to {low:.1e}: half of them have a\n"
          f"score below {ps.ranges().loc['control', 'median']:.1e}, i.e. the model is all but sure they would never "
          "enrol. The trainees'\nscores spread up to 0.63. The two groups barely overlap.")
    for rule in (0.1, "crump"):
        print(ps.trim(rule))
    crump = ps.trim("crump")
    print(f"Crump et al.'s (2009) rule keeps {crump.low:.3f} <= e(X) <= {crump.high:.3f}: only "
          f"{crump.n_control - crump.dropped_control} CPS men and {crump.n_treated - crump.dropped_treated} trainees "
          "remain.")
    save(ps.plot_overlap(scale="log"), out / "09_overlap.png")

    section("Balance before and after (standardized mean differences)")
    att_weights = ipw(cps, "re78", "treat", COVARIATES, estimand="ATT")
    att_matching = match(cps, "re78", "treat", COVARIATES, estimand="ATT", n_matches=4)
    weighted = balance(cps, "treat", COVARIATES, weights=att_weights)
    matched = balance(cps, "treat", COVARIATES, weights=att_matching)
    table = weighted.table[["smd_before", "smd_after"]].rename(columns={"smd_after": "smd_ipw_att"})
    table["smd_matching_att"] = matched.table["smd_after"]
    print(table.round(3).to_string())
    print(f"\nBefore adjustment the groups differ by up to {weighted.table['smd_before'].abs().max():.1f} standard "
          "deviations (1974 earnings, marriage, race). Odds weights for\nthe controls (IPW for the ATT) and "
          "nearest-neighbour matching (4 matches, inverse-variance metric)\nbring every |SMD| near or below 0.1.")
    save(weighted.plot(), out / "09_love_plot_ipw.png")

    section("ATE versus ATT: every estimator")
    rows = []
    with warnings.catch_warnings(record=True) as flagged:  # kept to be explained below the table
        warnings.simplefilter("always", SmallSampleWarning)
        for estimand in ("ATT", "ATE"):
            rows += [
                labelled(ipw(cps, "re78", "treat", COVARIATES, estimand=estimand, normalize=False),
                         f"{estimand} IPW Horvitz-Thompson"),
                labelled(ipw(cps, "re78", "treat", COVARIATES, estimand=estimand), f"{estimand} IPW Hajek"),
                labelled(outcome_regression(cps, "re78", "treat", COVARIATES, estimand=estimand),
                         f"{estimand} outcome regression"),
                labelled(aipw(cps, "re78", "treat", COVARIATES, estimand=estimand), f"{estimand} AIPW"),
                labelled(match(cps, "re78", "treat", COVARIATES, estimand=estimand, n_matches=4),
                         f"{estimand} matching M=4, bias-corrected"),
            ]
    rows.insert(5, labelled(subclassification(cps, "re78", "treat", COVARIATES, estimand="ATT"),
                            "ATT subclassification, 5 strata"))
    estimates = EstimateTable([labelled(benchmark, "NSW experiment"), *rows],
                              title="Effect of training on 1978 earnings (US$), cps1re74 vs the NSW benchmark")
    print(estimates.summary())
    att_rows, hajek_ate, strata = [r for r in rows if r.estimand.startswith("ATT")], rows[7], rows[5]
    near = [r.estimate for r in att_rows if r is not strata]
    print(
        f"\nThe weighting, regression, AIPW and matching ATT estimates ({min(near):+,.0f} to {max(near):+,.0f}) agree "
        "with the benchmark\nwithin their standard errors. The ATE estimators are far below it, and disagree with "
        "each other. The\nATT needs the controls' outcome, Y(0), only for men who look like trainees: odds weights "
        "e/(1-e)\nsimply ignore the CPS men with scores near 0. The ATE also needs Y(1) for 15,992 CPS men, i.e. "
        "what\ntraining would do for stably employed, married men earning about $14,000 a year; the data hold "
        "almost no\ntrainee like them. IPW makes up for it with weights 1/e on the few trainees with small scores: "
        f"the Hajek ATE's\ntreated arm has an effective sample size of "
        f"{hajek_ate.details['effective_n_treated']:.1f} of 185, and its largest weight carries "
        f"{hajek_ate.details['max_weight_share_treated']:.0%} of the arm.\n"
        "Outcome regression instead extrapolates a linear model far outside the trainees' covariates, and\n"
        "matching reuses the same few trainees for thousands of CPS men. Without overlap the ATE is not\n"
        "identified by the data; only a model speaks for it."
    )
    print(f"\nThe library says so itself: {len(flagged)} of these fits, all for the ATE, issued a SmallSampleWarning "
          "(an arm\nwith fewer than 20 effective units, or one unit above 10% of its arm's weight), e.g.\n  "
          f"{flagged[0].message}")
    edges, effects = strata.details["edges"], strata.details["stratum_effects"]
    lowest = strata.details["strata"] == 0
    n_low, t_low = int((lowest & (cps["treat"] == 0)).sum()), int((lowest & (cps["treat"] == 1)).sum())
    print(
        f"\nSubclassification is the exception among the ATT estimators ({strata.estimate:+,.0f}): its lowest "
        f"stratum (scores {edges[0]:.4f}\nto {edges[1]:.3f}, cut at the trainees' quintiles) pools {t_low} trainees "
        f"with {n_low:,} CPS men whose scores are mostly\nnear 0.0002. Within it the difference in means is "
        f"{effects[0]:+,.0f}: five strata are far too coarse when the scores span\nfour orders of magnitude "
        "(Cochran's 90% bias reduction assumes modest imbalance)."
    )

    section("The ATE on the overlap population (Crump trimming)")
    trimmed = cps[crump.keep]
    kept = [c for c in COVARIATES if c != "hispan"]
    print("After trimming every man left is black or hispanic, so `hispan` is collinear with `black` and is dropped.")
    overlap = EstimateTable([
        labelled(ipw(trimmed, "re78", "treat", kept), "trimmed ATE IPW Hajek"),
        labelled(aipw(trimmed, "re78", "treat", kept), "trimmed ATE AIPW"),
        labelled(subclassification(trimmed, "re78", "treat", kept), "trimmed ATE subclassification"),
    ], title=f"ATE among the {int(crump.keep.sum())} men with {crump.low:.3f} <= e(X) <= {crump.high:.3f}")
    print(overlap.summary())
    print("On the population where both groups exist, the ATE is estimable again and moves towards the\n"
          "benchmark, with wider intervals: it is a different estimand (the effect in the overlap region).")

    section("Standard errors that account for the estimated score")
    bootstrap = ipw(cps, "re78", "treat", COVARIATES, estimand="ATT", standard_error="bootstrap",
                    n_resamples=resamples, rng=0)
    known = ipw(cps, "re78", "treat", propensity=att_weights.details["score"], estimand="ATT")
    print(EstimateTable([labelled(att_weights, "Hajek ATT, sandwich (score estimated)"),
                         labelled(known, "Hajek ATT, sandwich (score treated as known)"),
                         labelled(bootstrap, f"Hajek ATT, bootstrap ({resamples} refits)")]).summary())
    print("The sandwich stacks the logistic score equations with the weighting equations (M-estimation); the\n"
          "bootstrap refits the score in every replicate. Both account for the estimated score.")

    matched = []
    for estimand in ("ATT", "ATE"):
        with warnings.catch_warnings():  # the ATE's: as in the table above, a few trainees match every CPS man
            warnings.simplefilter("ignore", SmallSampleWarning)
            psm = match(cps, "re78", "treat", COVARIATES, estimand=estimand, n_matches=4, on="propensity")
        known = normal_estimate(estimand, psm.estimate, psm.details["standard_error_known_score"],
                                confidence_level=psm.confidence_level, method=psm.method.removesuffix("-ai2016"),
                                n=psm.n)
        matched += [labelled(psm, f"{estimand} PS matching M=4, AI 2016 (score estimated)"),
                    labelled(known, f"{estimand} PS matching M=4, AI 2006 (score treated as known)")]
    print(EstimateTable(matched, title="Matching on the estimated propensity score: two standard errors").summary())
    att_change = matched[0].standard_error / matched[1].standard_error - 1
    ate_change = matched[2].standard_error / matched[3].standard_error - 1
    print(f"Abadie and Imbens (2016) correct the matching variance for the logistic fit of the score: "
          f"{att_change:+.1%} for\nthe ATT, {ate_change:+.1%} for the ATE. For the ATE estimating the score never "
          "hurts (the correction is never\npositive); for the ATT it can go either way, so the AI (2006) standard "
          "error, which R's Matching reports\nwhen given a fitted score, can be too small or too large.")

    section("Sensitivity: the E-value of the matching ATT")
    sd = cps.loc[cps["treat"] == 1, "re78"].std()
    ev = e_value(att_matching, measure="difference", outcome_sd=sd)
    print(att_matching)
    print(f"standardized effect d = {att_matching.estimate / sd:.3f} (outcome SD {sd:,.0f}), "
          f"approximate risk ratio exp(0.91 d) = {ev.risk_ratio:.3f}")
    print(f"E-value {ev.point:.2f} (confidence limit: {ev.limit:.2f}). An unmeasured confounder associated with\n"
          f"both training and earnings by a risk ratio of {ev.point:.2f} each, beyond the covariates, could "
          "explain the\nwhole estimate away; one of "
          f"{ev.limit:.2f} could move the interval to include no effect.")

    section("Instrumental variables: Card (1995), college proximity and the return to schooling")
    card = datasets.load("card")
    print(datasets.describe("card"))
    controls = ["exper", "black", "south", "smsa"]  # `married` has 7 missing values: not used
    naive = causalattn.ols(card, "lwage", "educ", controls, cov_type="HC2")
    iv = tsls(card, "lwage", "educ", "nearc4", controls)
    print(naive)
    print(iv)
    print(f"First-stage F = {iv.details['first_stage_f']:.1f} (robust): above 10, not a weak instrument. Growing "
          f"up near a four-year college\nraises schooling; if it affects wages only through schooling, 2SLS gives "
          f"a return of {iv.estimate:.1%} per year,\nabove OLS's {naive.estimate:.1%}, with an interval "
          f"{iv.standard_error / naive.standard_error:.0f} times as wide.")
    card["college"] = (card["educ"] >= 16).astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wald = cace(card, "lwage", "college", "nearc4")
    print(wald)
    print(f"first stage (compliers' share): {wald.details['first_stage'].estimate:.3f}, "
          f"ITT on log wage: {wald.details['itt'].estimate:.3f}, first-stage F {wald.details['first_stage_f']:.1f}")
    for w in caught:
        print(f"warning: {w.message}")
    print(f"With a binary treatment (a college degree) the first stage is small: nearc4 makes only "
          f"{wald.details['first_stage'].estimate:.0%} of men\ncomplete college. Dividing the ITT by it gives an "
          f"implausible return of {wald.estimate:.1f} log points to a degree: the\n"
          "exclusion restriction fails for this treatment, since proximity also raises schooling short of a degree,\n"
          "which raises wages too. The IV estimand is only as good as its assumptions; a weak first stage (F < 10)\n"
          "would also warn here.")

    save(plot_forest(EstimateTable(estimates[:6], title="ATT estimators vs the NSW experiment")),
         out / "09_att_estimates.png")


if __name__ == "__main__":
    main()
