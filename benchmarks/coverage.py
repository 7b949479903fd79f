"""Coverage of the effect layer's intervals, by simulation: paired, two-arm and nested (models as clusters) designs.

For each design (``paired``: n pairs; ``two-arm``: n treated and n control
units), outcome law (normal, skewed, binary) and size n in 3, 5, 10, 30, the
script draws data sets from a known population, computes the 95% interval of
every method of ``causalattn.paired_effect`` / ``causalattn.two_arm_effect``
and counts how often it covers the population's average effect. A
degenerate row (every unit with the same difference: a point interval, no
p-value) counts as a miss unless the point is the truth.

Populations (the true effect in brackets):

* paired, normal: D ~ N(0.5, 1) [0.5]; skewed: D ~ LogNormal(0, 1) [e^0.5];
  binary: Y(1) ~ Bernoulli(0.6) and Y(0) ~ Bernoulli(0.4) independently [0.2];
* two-arm, normal: Y(1) ~ N(0.5, 2^2), Y(0) ~ N(0, 1) [0.5] (unequal variances);
  skewed: Y(1) ~ LogNormal(0, 1), Y(0) ~ Exponential(1) [e^0.5 - 1];
  binary: Bernoulli(0.6) vs Bernoulli(0.4) [0.2].

The t and normal methods use ``--sims`` data sets per cell (default 2,000:
Monte Carlo standard error about 0.005 at 0.95); the randomization and
bootstrap methods, which resample inside every data set, use ``--slow-sims``
(default 500: standard error about 0.010, so read those columns to +-0.02; about
14 CPU-minutes) with ``--n-resamples`` draws each.
Writes ``coverage.csv`` and ``coverage.md`` to ``--out`` and prints the table.

Nested design (``causalattn.clustered_effect``, the models study): G models
(clusters) drawn from a population of training runs, n held-out sequences per
model, every sequence under both arms. Model g has control accuracy
``p0_g ~ U(0.85, 0.92)`` and effect ``tau_g``, drawn with mean -0.4 and
between-model standard deviation ``sd_between`` (uniform; or, for the
``one-in-five`` law, -0.5 with probability 0.8 and 0 otherwise: a seed whose
ablation does nothing, sd 0.2). Sequence i has a difficulty shift
``s_i ~ U(-0.08, 0.08)`` shared by both arms, so its success probabilities are
``p0_g + s_i`` and ``p0_g + tau_g + s_i``. Outcomes: *accuracy* (the share of
``k_i ~ 1 + Binomial(39, 0.5)`` in-context tokens right, about 20) or *binary*
(one token right or wrong). The estimand is the population mean effect, -0.4.
Two 95% intervals are scored on the same ``--sims`` data sets: the t interval
on the G model means (``clustered_effect``, G - 1 df) and the naive paired t
interval over all G * n differences as if they were independent. Writes
``coverage_nested.csv`` and ``coverage_nested.md``.

Propensity-score matching (``causalattn.observational.match`` with
``on="propensity"``, M = 1, bias-corrected, the default logistic score): n
units with covariates X1, X2 ~ N(0, 1) independent, a logistic score and two
outcome laws. *heterogeneous*: logit e(X) = -0.3 + 0.8 X1 - 0.6 X2,
Y(0) = X1 + X2 + eps, Y(1) = Y(0) + 1 + X2 (ATE 1; ATT 1 + E[X2 | Z = 1], by
quadrature). *orthogonal*: logit e(X) = -1 + 0.9 (X1 + X2), U = (X1 - X2)/sqrt(2)
independent of the score, Y(0) = X1 + X2 - U + eps, Y(1) = X1 + X2 + U + 1 + eps
(ATE = ATT = 1): the effect varies along a direction the score ignores, where
Abadie and Imbens (2016) predict a larger ATT variance. eps ~ N(0, 1). On the same
``--sims`` data sets per cell, the 95% interval with the Abadie-Imbens (2016)
standard error (the estimated score accounted for) and with the AI (2006) one
(the score treated as known) are scored against the population ATE or ATT.
Writes ``coverage_psmatch.csv`` and ``coverage_psmatch.md``.

Marginal structural model (``causalattn.longitudinal``): n subjects of the simulated law of
``datasets/build_time_varying.py`` (two treatment times, a confounder affected by the first
treatment and by an unmeasured U that also affects the outcome; always against never treated = 2.5).
On ``--sims`` data sets per size, the 95% interval of ``msm`` (stabilized weights, cluster sandwich),
of ``msm`` with the weights truncated at the 1st and 99th percentiles, and of the naive regression of
the outcome on both treatments and both confounders (statsmodels OLS, HC2: the sum of the two
treatment coefficients) are scored; on ``--slow-sims`` of them, ``g_formula`` with ``--n-resamples``
bootstrap resamples (at most 200), for n in ``--msm-sizes`` (500 and 2,000). Writes
``coverage_msm.csv`` and ``coverage_msm.md``.

Observational estimators with few units (``--only small``): n units, covariates X1, X2 ~ N(0, 1), logit
e(X) = 0.5 X1 - 0.5 X2, Y(0) = X1 + X2 + eps, Y(1) = Y(0) + 1 + 0.5 X1, eps ~ N(0, 1) (ATE 1). For n in 20, 40, 80,
160, on the same ``--sims`` data sets, the 95% intervals of the ATE of ``ipw``, ``aipw``, ``outcome_regression``,
``match`` (M = 1, bias-corrected) and ``subclassification`` (5 strata, normal and t) are scored; a data set an
estimator refuses (too few units in an arm or a stratum, separation) is counted apart, and so is the share of data
sets for which it issued a ``SmallSampleWarning``. Writes ``coverage_small.csv`` and ``coverage_small.md``.
Mediation (``causalattn.mediate``): X ~ N(0, 1), Z ~ Bernoulli(1/2),
M = a Z + 0.3 X + N(0, 1) and, *linear*, Y = 0.3 Z + 0.4 M + 0.2 X + N(0, 1)
(a = 0.5: NIE 0.2, NDE 0.3; *linear, a = 0*: no mediation, NIE 0) or, *probit*,
P(Y = 1 | Z, M, X) = Phi(-0.2 + 0.4 Z + 0.5 M + 0.3 X) (a = 0.5; the natural effects
in closed form). For n = 30, 100 and 500, the 95% intervals of NIE(1), NDE(0) and the total
effect by the quasi-Bayesian method (the default, 1,000 draws) and the delta method on
``--sims`` data sets, and by the percentile bootstrap (``--n-resamples``) on
``--slow-sims``, scored against the population effects and against the effects averaged
over each sample's covariates (the estimand the delta and quasi-Bayesian intervals are
conditional on; the two coincide for the linear laws); a data set ``mediate`` refuses is counted
apart (``refused``), not scored. Writes ``coverage_mediation.csv``
and ``coverage_mediation.md``.

Lasso adjustment (``--only lasso``, the laws in ``benchmarks/coverage_lasso.py``): post-double-selection
(``double_selection``) with sparse confounding among p = 50 or 100 candidate covariates, with its default plug-in
penalty, cross-validated (``alpha="cv"``) and fixed (``alpha`` = 0.1 and 0.3), beside single selection on the
same data sets, and the lasso-adjusted ATE of a completely randomized experiment (``lasso_ate``, cross-validated
and plug-in), for n = 200 and 500 on ``--lasso-sims`` data sets per cell (default 400: Monte Carlo standard error
about 0.011 at 0.95). The plug-in and fixed-penalty cells run first; ``--lasso-skip-cv`` leaves out the
cross-validated ones (most of the time). Writes ``coverage_lasso.csv`` and ``coverage_lasso.md``.

Every finished cell is appended to ``coverage_cells.csv`` in ``--out``; a rerun
with the same options skips the cells already there (interrupt and resume).

Run:  python benchmarks/coverage.py [--sims 2000] [--slow-sims 500] [--n-resamples 999]
      [--only {effects,nested,psmatch,small,msm,mediation,lasso}] [--msm-sizes 500 2000] [--lasso-sims 400]
      [--lasso-skip-cv] [--out benchmarks/output]
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from coverage_lasso import (
    LASSO_DIMENSIONS,
    LASSO_FIXED_ALPHAS,
    LASSO_SIZES,
    lasso_cell,
    lasso_fixed_cell,
    lasso_plugin_cell,
)
from coverage_mediation import MED_LAWS, MED_ROWS, MED_SIZES, mediation_cell

from causalattn import clustered_effect, paired_effect, two_arm_effect
from causalattn.effects import BOOTSTRAP_MIN_UNITS, METHODS
from causalattn.longitudinal import g_formula, msm
from causalattn.observational import SmallSampleWarning, aipw, ipw, match, outcome_regression, subclassification

SIZES = (3, 5, 10, 30)
LAWS = ("normal", "skewed", "binary")
LEVEL = 0.95


def draw(design: str, law: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float]:
    """One data set: treated and control outcomes (``n`` pairs, or ``n`` per arm), and the true average effect."""
    if design == "paired":
        if law == "normal":
            y0 = rng.normal(0, 1, n)
            return y0 + rng.normal(0.5, 1, n), y0, 0.5
        if law == "skewed":
            y0 = rng.exponential(1, n)
            return y0 + rng.lognormal(0, 1, n), y0, float(np.exp(0.5))
        return (rng.random(n) < 0.6).astype(float), (rng.random(n) < 0.4).astype(float), 0.2
    if law == "normal":
        return rng.normal(0.5, 2, n), rng.normal(0, 1, n), 0.5
    if law == "skewed":
        return rng.lognormal(0, 1, n), rng.exponential(1, n), float(np.exp(0.5) - 1)
    return (rng.random(n) < 0.6).astype(float), (rng.random(n) < 0.4).astype(float), 0.2


def estimate(design: str, y1: np.ndarray, y0: np.ndarray, method: str, n_resamples: int, rng):
    if design == "paired":
        return paired_effect(y1, y0, method=method, n_resamples=n_resamples, rng=rng, confidence_level=LEVEL)
    return two_arm_effect(np.r_[y1, y0], np.repeat([1, 0], [len(y1), len(y0)]), method=method,
                          n_resamples=n_resamples, rng=rng, confidence_level=LEVEL)


def cell(design: str, law: str, n: int, method: str, sims: int, n_resamples: int, seed: int) -> dict:
    """Coverage, share of infinite intervals and median width of one (design, law, n, method) cell."""
    rng = np.random.default_rng([seed, SIZES.index(n), LAWS.index(law), design == "paired"])  # same data per method
    if method == "bootstrap" and n < BOOTSTRAP_MIN_UNITS:  # refused by the effect layer
        return {"design": design, "law": law, "n": n, "method": method, "sims": 0, "coverage": math.nan,
                "infinite": math.nan, "median_width": math.nan}
    covered = infinite = 0
    widths = []
    for _ in range(sims):
        y1, y0, truth = draw(design, law, n, rng)
        low, high = estimate(design, y1, y0, method, n_resamples, rng).confidence_interval
        covered += bool(low <= truth <= high)
        infinite += bool(np.isinf(low) or np.isinf(high))
        widths.append(high - low)
    return {"design": design, "law": law, "n": n, "method": method, "sims": sims,
            "coverage": covered / sims, "infinite": infinite / sims, "median_width": float(np.median(widths))}


GROUPS = (3, 4, 6, 10)  # models (clusters)
PER_MODEL = (50, 500)  # held-out sequences per model
SD_BETWEEN = (0.0, 0.02, 0.1)  # between-model standard deviation of the effect (uniform law)
NESTED_LAWS = ("accuracy", "binary")
TAU = -0.4  # the population mean effect: the estimand of the pooled interval


def draw_nested(law: str, groups: int, n: int, sd_between: float | None,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One models study: per-sequence differences (``groups * n``) and their model labels.

    ``sd_between=None`` draws the one-in-five law (effect -0.5, or 0 with probability 0.2).
    """
    p0 = rng.uniform(0.85, 0.92, groups)
    if sd_between is None:
        tau = np.where(rng.random(groups) < 0.8, -0.5, 0.0)
    else:
        tau = TAU + sd_between * np.sqrt(3) * rng.uniform(-1, 1, groups)
    shift = rng.uniform(-0.08, 0.08, (groups, n))
    tokens = 1 + rng.binomial(39, 0.5, (groups, n)) if law == "accuracy" else np.ones((groups, n), int)
    y0 = rng.binomial(tokens, p0[:, None] + shift) / tokens
    y1 = rng.binomial(tokens, (p0 + tau)[:, None] + shift) / tokens
    return (y1 - y0).ravel(), np.repeat(np.arange(groups), n)


def nested_cell(law: str, groups: int, n: int, sd_between: float | None, sims: int, seed: int) -> list[dict]:
    """Coverage and median width of the clustered t and the naive t interval on the same ``sims`` data sets."""
    tag = -1 if sd_between is None else SD_BETWEEN.index(sd_between)
    rng = np.random.default_rng([seed, 7, NESTED_LAWS.index(law), groups, n, tag + 1])
    covered, widths = {"clustered-t": 0, "naive-t": 0}, {"clustered-t": [], "naive-t": []}
    within = []
    for _ in range(sims):
        d, model = draw_nested(law, groups, n, sd_between, rng)
        pooled = clustered_effect(d, model, confidence_level=LEVEL)
        naive = paired_effect(d, np.zeros_like(d), confidence_level=LEVEL)
        for name, est in (("clustered-t", pooled), ("naive-t", naive)):
            low, high = est.confidence_interval
            covered[name] += bool(low <= TAU <= high)
            widths[name].append(high - low)
        within.append(np.mean([d[model == g].std(ddof=1) for g in range(groups)]))
    between = "one-in-five" if sd_between is None else f"{sd_between:g}"
    return [{"design": "nested", "law": law, "models": groups, "n": n, "sd_between": between, "method": name,
             "sims": sims, "coverage": covered[name] / sims, "median_width": float(np.median(widths[name])),
             "sd_within": float(np.mean(within))} for name in covered]


PS_SIZES = (500, 1000, 2000)
PS_LAWS = ("heterogeneous", "orthogonal")


def ps_score(law: str, x: np.ndarray) -> np.ndarray:
    """The true propensity score of the law at covariates ``x`` (rows)."""
    index = -0.3 + 0.8 * x[..., 0] - 0.6 * x[..., 1] if law == "heterogeneous" else -1 + 0.9 * (x[..., 0] + x[..., 1])
    return 1 / (1 + np.exp(-index))


def ps_truth(law: str, estimand: str) -> float:
    """The population ATE or ATT (for the heterogeneous law's ATT, 1 + E[X2 e(X)] / E[e(X)] by Gauss-Hermite)."""
    if law == "orthogonal" or estimand == "ATE":
        return 1.0
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    grid = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1)
    mass = np.outer(weights, weights) * ps_score(law, grid)
    return 1 + float((mass * grid[..., 1]).sum() / mass.sum())


def draw_ps(law: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Covariates, treatment and outcome of one data set of the law."""
    x = rng.normal(size=(n, 2))
    z = (rng.random(n) < ps_score(law, x)).astype(int)
    if law == "heterogeneous":
        effect, base = 1 + x[:, 1], x[:, 0] + x[:, 1]
    else:
        u = (x[:, 0] - x[:, 1]) / np.sqrt(2)
        effect, base = 1 + 2 * u, x[:, 0] + x[:, 1] - u
    return x, z, base + z * effect + rng.normal(size=n)


def ps_cell(law: str, n: int, estimand: str, sims: int, seed: int) -> list[dict]:
    """Coverage and median standard error of the AI (2016) and AI (2006) intervals on the same ``sims`` data sets."""
    rng = np.random.default_rng([seed, 11, PS_LAWS.index(law), n, estimand == "ATT"])
    truth, quantile = ps_truth(law, estimand), 1.959963984540054
    estimates, errors = [], {"ai2016": [], "ai2006": []}
    for _ in range(sims):
        x, z, y = draw_ps(law, n, rng)
        est = match(outcome=y, treatment=z, covariates=x, estimand=estimand, on="propensity",
                    confidence_level=LEVEL)
        estimates.append(est.estimate)
        errors["ai2016"].append(est.standard_error)
        errors["ai2006"].append(est.details["standard_error_known_score"])
    estimates = np.array(estimates)
    return [{"design": "psmatch", "law": law, "n": n, "estimand": estimand, "method": name, "sims": sims,
             "coverage": float(np.mean(np.abs(estimates - truth) <= quantile * np.array(se))),
             "median_se": float(np.median(se)), "sd_estimate": float(estimates.std(ddof=1)),
             "bias": float(estimates.mean() - truth)} for name, se in errors.items()]


def run_psmatch(args, cells: Cells) -> None:
    rows = []
    for law in PS_LAWS:
        for estimand in ("ATE", "ATT"):
            for n in PS_SIZES:
                rows += cells.get(("psmatch", law, estimand, n, args.sims, args.seed),
                                  partial(ps_cell, law, n, estimand, args.sims, args.seed))
                print(f"  psmatch {law:13s} {estimand} n={n:<4d} ai2016 {rows[-2]['coverage']:.3f} "
                      f"ai2006 {rows[-1]['coverage']:.3f}", flush=True)
    frame = pd.DataFrame(rows)[["law", "estimand", "n", "method", "sims", "coverage", "median_se", "sd_estimate",
                                "bias"]].astype({"n": int, "sims": int})
    frame.to_csv(args.out / "coverage_psmatch.csv", index=False)
    wide = frame.pivot_table(index=["law", "estimand", "n"], columns="method",
                             values=["coverage", "median_se"], sort=False)
    wide.columns = [f"{value} {method}" for value, method in wide.columns]
    wide = wide[["coverage ai2016", "coverage ai2006", "median_se ai2016", "median_se ai2006"]]
    wide["sd of the estimates"] = frame.groupby(["law", "estimand", "n"], sort=False)["sd_estimate"].first()
    text = markdown(wide, ["outcome", "estimand", "n"], lambda v: f"{v:.3f}")
    (args.out / "coverage_psmatch.md").write_text(text + "\n")
    print(f"\npropensity-score matching: coverage of nominal {LEVEL:.0%} intervals over {args.sims} data sets per "
          f"cell, Abadie-Imbens 2016 (estimated score) vs 2006 (score known)\n\n{text}")


SMALL_SIZES = (20, 40, 80, 160)
SMALL_ESTIMATORS = {
    "ipw": lambda y, z, x: ipw(outcome=y, treatment=z, covariates=x),
    "aipw": lambda y, z, x: aipw(outcome=y, treatment=z, covariates=x),
    "outcome_regression": lambda y, z, x: outcome_regression(outcome=y, treatment=z, covariates=x),
    "match": lambda y, z, x: match(outcome=y, treatment=z, covariates=x, estimand="ATE"),
    "subclassification": lambda y, z, x: subclassification(outcome=y, treatment=z, covariates=x),
    "subclassification-t": lambda y, z, x: subclassification(outcome=y, treatment=z, covariates=x, method="t"),
}


def small_cell(n: int, sims: int, seed: int) -> list[dict]:
    """Per estimator: coverage of the ATE (1) over the data sets it answers, and the shares refused and warned."""
    rng = np.random.default_rng([seed, 17, n])
    found = {name: {"covered": [], "refused": 0, "warned": 0} for name in SMALL_ESTIMATORS}
    for _ in range(sims):
        x = rng.normal(size=(n, 2))
        z = (rng.random(n) < 1 / (1 + np.exp(-0.5 * (x[:, 0] - x[:, 1])))).astype(int)
        y = x[:, 0] + x[:, 1] + z * (1 + 0.5 * x[:, 0]) + rng.normal(size=n)
        for name, estimator in SMALL_ESTIMATORS.items():
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    est = estimator(y, z, x)
                except ValueError:
                    found[name]["refused"] += 1
                    continue
            found[name]["warned"] += any(issubclass(w.category, SmallSampleWarning) for w in caught)
            low, high = est.confidence_interval
            found[name]["covered"].append(low <= 1.0 <= high)
    return [{"design": "small", "n": n, "method": name, "sims": sims,
             "coverage": float(np.mean(f["covered"])) if f["covered"] else float("nan"),
             "refused": f["refused"] / sims, "warned": f["warned"] / sims} for name, f in found.items()]


def run_small(args, cells: Cells) -> None:
    rows = []
    for n in SMALL_SIZES:
        rows += cells.get(("small", n, args.sims, args.seed), partial(small_cell, n, args.sims, args.seed))
        print(f"  small n={n:<4d} " + "  ".join(f"{r['method']} {r['coverage']:.3f}" for r in
                                                rows[-len(SMALL_ESTIMATORS):]), flush=True)
    frame = pd.DataFrame(rows)[["n", "method", "sims", "coverage", "refused", "warned"]].astype({"n": int})
    frame.to_csv(args.out / "coverage_small.csv", index=False)
    wide = frame.pivot_table(index="n", columns="method", values=["coverage", "warned"], sort=False)
    wide.columns = [f"{value} {method}" for value, method in wide.columns]
    wide = wide[[f"{v} {m}" for m in SMALL_ESTIMATORS for v in ("coverage", "warned")]]
    text = markdown(wide, ["n"], lambda v: f"{v:.3f}")
    refused = frame.pivot_table(index="n", columns="method", values="refused", sort=False)
    (args.out / "coverage_small.md").write_text(text + "\n")
    print(f"\nobservational estimators with few units: coverage of the 95% interval of the ATE over {args.sims} data "
          f"sets per cell (among those answered) and share warned\n\n{text}\n\nshare refused\n{refused.to_string()}")


def run_mediation(args, cells: Cells) -> None:
    rows = []
    for law in MED_LAWS:
        for n in MED_SIZES:
            for method in ("quasi-bayesian", "delta", "bootstrap"):
                sims = args.slow_sims if method == "bootstrap" else args.sims
                rows += cells.get(("mediation", law, n, method, sims, args.n_resamples, args.seed),
                                  partial(mediation_cell, law, n, method, sims, args.n_resamples, args.seed))
                print(f"  mediation {law:13s} n={n:<3d} {method:14s} " + "  ".join(
                    f"{r['effect']} {r['coverage']:.3f}" for r in rows[-len(MED_ROWS):]), flush=True)
    frame = pd.DataFrame(rows)[["law", "n", "method", "effect", "sims", "coverage", "coverage_conditional",
                                "median_width", "refused", "warned"]].astype({"n": int, "sims": int})
    # cells saved before these two columns existed: the linear laws never warn and are never refused
    frame[["refused", "warned"]] = frame[["refused", "warned"]].fillna(0.0)
    frame.to_csv(args.out / "coverage_mediation.csv", index=False)
    wide = frame.pivot_table(index=["law", "n"], columns=["method", "effect"], values="coverage", sort=False)
    wide.columns = [f"{method} {effect}" for method, effect in wide.columns]
    text = markdown(wide, ["outcome", "n"], lambda v: f"{v:.3f}")
    (args.out / "coverage_mediation.md").write_text(text + "\n")
    shares = frame.pivot_table(index=["law", "n"], columns="method", values=["refused", "warned"], sort=False)
    print(f"\nmediation: coverage of the population effects by nominal {LEVEL:.0%} intervals ({args.sims} data sets "
          f"per cell, {args.slow_sims} for the bootstrap with {args.n_resamples} resamples)\n\n{text}\n\n"
          f"share of data sets refused (not scored) and warned (quasi-separation)\n{shares.to_string()}")


def run_lasso(args, cells: Cells) -> None:
    rows = []
    kinds = [("lasso-plugin", lasso_plugin_cell, ()), ("lasso-fixed", lasso_fixed_cell, (LASSO_FIXED_ALPHAS,))]
    for kind, compute, extra in kinds + ([] if args.lasso_skip_cv else [("lasso-cv", lasso_cell, ())]):
        for p in LASSO_DIMENSIONS:
            for n in LASSO_SIZES:
                cell = cells.get((kind, n, p, *extra, args.lasso_sims, args.seed),
                                 partial(compute, n, p, args.lasso_sims, args.seed))
                print(f"  {kind} n={n:<3d} p={p:<3d} " + "  ".join(f"{r['method']} {r['coverage']:.3f}"
                                                                   for r in cell), flush=True)
                rows += cell
    frame = pd.DataFrame(rows)[["n", "p", "method", "sims", "coverage", "median_width", "bias", "mean_selected",
                                "se_over_sd"]].astype({"n": int, "p": int, "sims": int})
    frame.to_csv(args.out / "coverage_lasso.csv", index=False)
    wide = frame.pivot_table(index=["p", "n"], columns="method", values="coverage", sort=False)
    wide.columns = [f"coverage {m}" for m in wide.columns]
    for column, values in frame.pivot_table(index=["p", "n"], columns="method",
                                            values=["bias", "mean_selected", "se_over_sd"], sort=False).items():
        if column[1].startswith("double selection"):
            wide[f"{column[0].replace('_', ' ')} {column[1]}"] = values
    text = markdown(wide, ["p", "n"], lambda v: f"{v:.3f}")
    (args.out / "coverage_lasso.md").write_text(text + "\n")
    print(f"\nlasso adjustment: coverage of nominal {LEVEL:.0%} intervals over {args.lasso_sims} data sets per cell"
          f"\n\n{text}")


def nested_settings():
    for law in NESTED_LAWS:
        for sd_between in (*SD_BETWEEN, *((None,) if law == "accuracy" else ())):
            for groups in GROUPS:
                for n in PER_MODEL:
                    yield law, groups, n, sd_between


class Cells:
    """Finished cells, appended to ``path`` as they finish; a rerun skips the ones already there."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = pd.read_csv(path, dtype={"key": str, "sd_between": str}).to_dict("records") if path.exists() else []

    def get(self, key: tuple, compute) -> list[dict]:
        """The rows of the cell ``key``, computed by ``compute()`` and saved unless already there."""
        name = "|".join(map(str, key))
        rows = [row for row in self.rows if row["key"] == name]
        if not rows:
            rows = [{**row, "key": name} for row in compute()]
            self.rows += rows
            pd.DataFrame(self.rows).to_csv(self.path, index=False)
        return rows


def markdown(table: pd.DataFrame, index: list[str], fmt) -> str:
    lines = ["| " + " | ".join(index + [str(c) for c in table.columns]) + " |",
             "|" + "---|" * (len(index) + len(table.columns))]
    for keys, row in table.iterrows():
        keys = keys if isinstance(keys, tuple) else (keys,)
        lines.append("| " + " | ".join(map(str, keys)) + " | " + " | ".join(fmt(v) for v in row) + " |")
    return "\n".join(lines)


def run_effects(args, cells: Cells) -> None:
    rows = []
    for design in ("paired", "two-arm"):
        for law in LAWS:
            for n in SIZES:
                for method in METHODS:
                    sims = args.sims if method in ("t", "normal") else args.slow_sims
                    key = ("effects", design, law, n, method, sims, args.n_resamples, args.seed)
                    rows += cells.get(key, partial(lambda *a: [cell(*a)], design, law, n, method, sims,
                                                   args.n_resamples, args.seed))
                print(f"  {design:8s} {law:7s} n={n:<3d} " + "  ".join(
                    f"{r['method']} {r['coverage']:.3f}" for r in rows[-len(METHODS):]), flush=True)
    frame = pd.DataFrame(rows)[["design", "law", "n", "method", "sims", "coverage", "infinite", "median_width"]]
    frame = frame.astype({"n": int, "sims": int})
    frame.to_csv(args.out / "coverage.csv", index=False)
    table = frame.pivot_table(index=["design", "law", "n"], columns="method", values="coverage", sort=False)
    table = table[list(METHODS)]
    infinite = frame[frame["method"] == "randomization"].set_index(["design", "law", "n"])["infinite"]
    table["randomization: share infinite"] = infinite
    text = markdown(table, ["design", "outcome", "n"], lambda v: "refused" if math.isnan(v) else f"{v:.3f}")
    (args.out / "coverage.md").write_text(text + "\n")
    print(f"\ncoverage of nominal {LEVEL:.0%} intervals ({args.sims} data sets per cell for t and normal, "
          f"{args.slow_sims} for randomization and bootstrap, {args.n_resamples} resamples)\n\n{text}")


def run_nested(args, cells: Cells) -> None:
    rows = []
    for law, groups, n, sd_between in nested_settings():
        rows += cells.get(("nested", law, groups, n, sd_between, args.sims, args.seed),
                          partial(nested_cell, law, groups, n, sd_between, args.sims, args.seed))
        print(f"  nested {law:8s} G={groups:<2d} n={n:<3d} sd_between={rows[-1]['sd_between']!s:11s} "
              f"clustered-t {rows[-2]['coverage']:.3f}  naive-t {rows[-1]['coverage']:.3f}", flush=True)
    frame = pd.DataFrame(rows)[["law", "sd_between", "n", "models", "method", "sims", "coverage", "median_width",
                                "sd_within"]].astype({"models": int, "n": int})
    frame.to_csv(args.out / "coverage_nested.csv", index=False)
    wide = frame.pivot_table(index=["law", "sd_between", "n"], columns=["method", "models"], values="coverage",
                             sort=False)
    wide = wide[[(m, g) for m in ("clustered-t", "naive-t") for g in GROUPS]]
    wide.columns = [f"{m} G={g}" for m, g in wide.columns]
    wide["width ratio (G=4)"] = frame[frame["models"] == 4].pivot_table(
        index=["law", "sd_between", "n"], columns="method", values="median_width", sort=False).eval(
        "`clustered-t` / `naive-t`")
    text = markdown(wide, ["outcome", "sd between", "n per model"], lambda v: f"{v:.3f}")
    (args.out / "coverage_nested.md").write_text(text + "\n")
    within = frame.groupby("law")["sd_within"].mean()
    print(f"\nnested design: coverage of nominal {LEVEL:.0%} intervals of the population mean effect over "
          f"{args.sims} data sets per cell (within-model sd of a difference: "
          + ", ".join(f"{law} {v:.2f}" for law, v in within.items()) + f")\n\n{text}")


MSM_SIZES = (500, 2000)
MSM_TRUTH = 2.5  # E[Y^(1,1)] - E[Y^(0,0)] of datasets/build_time_varying.py
MSM_ARGS = (["a0", "a1"], ["l0", "l1"])


def _time_varying_law():
    path = Path(__file__).resolve().parent.parent / "datasets" / "build_time_varying.py"
    spec = importlib.util.spec_from_file_location("build_time_varying", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.simulate


def msm_cell(n: int, sims: int, slow_sims: int, n_resamples: int, seed: int) -> list[dict]:
    """Coverage, bias and median SE of the MSM (plain and truncated), the naive regression and the g-formula."""
    simulate, rng = _time_varying_law(), np.random.default_rng([seed, 21, n])
    results: dict[str, list[tuple[float, float, float]]] = {"msm": [], "msm truncated 1-99": [], "naive ols": [],
                                                            "g-formula": []}
    for i in range(sims):
        data = simulate(n, rng)
        for name, est in (("msm", msm(data, "y", *MSM_ARGS, confidence_level=LEVEL)),
                          ("msm truncated 1-99", msm(data, "y", *MSM_ARGS, truncate=(1, 99),
                                                     confidence_level=LEVEL))):
            results[name].append((est.estimate, *est.confidence_interval))
        fit = sm.OLS(data["y"], sm.add_constant(data[["a0", "a1", "l0", "l1"]])).fit(cov_type="HC2")
        naive = fit.t_test([0, 1, 1, 0, 0])
        low, high = np.squeeze(naive.conf_int(alpha=1 - LEVEL))
        results["naive ols"].append((float(np.squeeze(naive.effect)), low, high))
        if i < slow_sims:
            est = g_formula(data, "y", *MSM_ARGS, n_resamples=min(n_resamples, 200), rng=rng,
                            confidence_level=LEVEL)
            results["g-formula"].append((est.estimate, *est.confidence_interval))
    rows = []
    for name, values in results.items():
        v = np.array(values)
        rows.append({"design": "msm", "n": n, "method": name, "sims": len(v),
                     "coverage": float(np.mean((v[:, 1] <= MSM_TRUTH) & (MSM_TRUTH <= v[:, 2]))),
                     "bias": float(v[:, 0].mean() - MSM_TRUTH), "sd_estimate": float(v[:, 0].std(ddof=1)),
                     "median_se": float(np.median((v[:, 2] - v[:, 1]) / (2 * 1.959963984540054)))})
    return rows


def run_msm(args, cells: Cells) -> None:
    rows = []
    for n in args.msm_sizes:
        rows += cells.get(("msm", n, args.sims, args.slow_sims, min(args.n_resamples, 200), args.seed),
                          lambda n=n: msm_cell(n, args.sims, args.slow_sims, args.n_resamples, args.seed))
        print(f"  msm n={n}: " + ", ".join(f"{r['method']} {r['coverage']:.3f}" for r in rows[-4:]), flush=True)
    frame = pd.DataFrame(rows)[["n", "method", "sims", "coverage", "bias", "median_se", "sd_estimate"]]
    frame = frame.astype({"n": int, "sims": int})
    frame.to_csv(args.out / "coverage_msm.csv", index=False)
    text = markdown(frame.set_index(["n", "method", "sims"]), ["n", "method", "data sets"], lambda v: f"{v:.3f}")
    (args.out / "coverage_msm.md").write_text(text + "\n")
    print(f"\nmarginal structural model: coverage of nominal {LEVEL:.0%} intervals of always vs never treated "
          f"(truth {MSM_TRUTH})\n\n{text}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="data sets per cell for the t and normal methods")
    parser.add_argument("--slow-sims", type=int, default=500, help="data sets per cell, randomization and bootstrap")
    parser.add_argument("--n-resamples", type=int, default=999, help="FRT draws (above exact) / bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("effects", "nested", "psmatch", "small", "msm", "mediation", "lasso"),
                        help="run one part (default: all)")
    parser.add_argument("--msm-sizes", type=int, nargs="+", default=list(MSM_SIZES),
                        help="numbers of subjects of the MSM cells")
    parser.add_argument("--lasso-sims", type=int, default=400, help="data sets per cell of the lasso cells")
    parser.add_argument("--lasso-skip-cv", action="store_true",
                        help="leave out the cross-validated lasso cells (the slow ones)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "output")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    start, cpu = time.perf_counter(), time.process_time()
    cells = Cells(args.out / "coverage_cells.csv")
    if args.only in (None, "nested"):
        run_nested(args, cells)
    if args.only in (None, "effects"):
        run_effects(args, cells)
    if args.only in (None, "psmatch"):
        run_psmatch(args, cells)
    if args.only in (None, "small"):
        run_small(args, cells)
    if args.only in (None, "msm"):
        run_msm(args, cells)
    if args.only in (None, "mediation"):
        run_mediation(args, cells)
    if args.only in (None, "lasso"):
        run_lasso(args, cells)
    print(f"\n{time.perf_counter() - start:.0f} s wall, {time.process_time() - cpu:.0f} s CPU (cells not cached); "
          f"load average {os.getloadavg()[0]:.2f}; wrote {args.out}")


if __name__ == "__main__":
    main()
