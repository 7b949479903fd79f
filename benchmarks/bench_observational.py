"""Benchmark: matching on the 16,177 cps1re74 men, and the coverage of the observational intervals by simulation.

Part 1 times Abadie-Imbens matching (bias-corrected, AI variance) on Ding's
cps1re74 for the ATT and the ATE with M = 1 and 4 (target: a few seconds at
most; the search is a blocked brute force in numpy, memory bounded by
``BLOCK_ELEMENTS``).

Part 2 draws ``--reps`` data sets from a model with confounding and overlap
(n = 500, two covariates, a logistic score, heterogeneous effects) and counts
how often the 95% intervals of IPW (Hajek, sandwich with the estimated score),
outcome regression, AIPW and matching cover the true ATE and ATT (the
sample-average effects of the population, computed from the model).

Run:  python benchmarks/bench_observational.py [--reps 500]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from causalattn import datasets
from causalattn.observational import aipw, ipw, match, outcome_regression

COVARIATES = ["age", "educ", "black", "hispan", "married", "nodegree", "re74", "re75", "u74", "u75"]


def timed(function):
    """``(value, wall-clock seconds)``."""
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def draw(rng: np.random.Generator, n: int):
    """Covariates, treatment and outcome with confounding; the true ATE is 1 and the true ATT larger."""
    x = rng.normal(size=(n, 2))
    e = 1 / (1 + np.exp(-(-0.2 + 0.9 * x[:, 0] - 0.6 * x[:, 1])))
    z = (rng.uniform(size=n) < e).astype(int)
    y = 1 + x[:, 0] + x[:, 1] + z * (1 + 0.8 * x[:, 0]) + rng.normal(size=n)
    return x, z, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=500, help="simulated data sets for the coverage")
    args = parser.parse_args()

    print(f"load average {os.getloadavg()}")
    cps = datasets.load("lalonde_cps1")
    for estimand in ("ATT", "ATE"):
        for m in (1, 4):
            est, seconds = timed(lambda estimand=estimand, m=m: match(
                cps, "re78", "treat", COVARIATES, estimand=estimand, n_matches=m))
            print(f"matching {estimand} M={m}: {seconds:.2f} s, estimate {est.estimate:.0f} "
                  f"(SE {est.standard_error:.0f})")

    # The effect is 1 + 0.8 x1: its mean is 1 over everyone, 1 + 0.8 E[x1 | Z = 1] over the treated.
    rng = np.random.default_rng(2026)
    big_x, big_z, _ = draw(rng, 2_000_000)
    truth = {"ATE": 1.0, "ATT": 1 + 0.8 * big_x[big_z == 1, 0].mean()}
    estimators = {
        "ipw-hajek-sandwich": lambda x, z, y, t: ipw(outcome=y, treatment=z, covariates=x, estimand=t),
        "outcome-regression": lambda x, z, y, t: outcome_regression(outcome=y, treatment=z, covariates=x,
                                                                    estimand=t),
        "aipw": lambda x, z, y, t: aipw(outcome=y, treatment=z, covariates=x, estimand=t),
        "matching-bc M=4": lambda x, z, y, t: match(outcome=y, treatment=z, covariates=x, estimand=t, n_matches=4),
    }
    covered = {(name, t): 0 for name in estimators for t in truth}
    start = time.perf_counter()
    for _ in range(args.reps):
        x, z, y = draw(rng, 500)
        for name, estimator in estimators.items():
            for t in truth:
                low, high = estimator(x, z, y, t).confidence_interval
                covered[(name, t)] += low <= truth[t] <= high
    print(f"\ncoverage of 95% intervals over {args.reps} data sets (n = 500; true ATE 1, ATT {truth['ATT']:.3f}); "
          f"{time.perf_counter() - start:.0f} s, load average {os.getloadavg()}")
    for (name, t), count in covered.items():
        print(f"  {t} {name:22s} {count / args.reps:.3f}")


if __name__ == "__main__":
    main()
