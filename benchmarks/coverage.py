"""Coverage of the effect layer's intervals, by simulation: paired and two-arm designs, small to moderate n.

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
(default 100: standard error about 0.022, so read those columns to +-0.04) with ``--n-resamples`` draws each.
Writes ``coverage.csv`` and ``coverage.md`` to ``--out`` and prints the table.

Run:  python benchmarks/coverage.py [--sims 2000] [--slow-sims 100] [--n-resamples 999] [--out benchmarks/output]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from causalattn import paired_effect, two_arm_effect
from causalattn.effects import METHODS

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=2000, help="data sets per cell for the t and normal methods")
    parser.add_argument("--slow-sims", type=int, default=100, help="data sets per cell, randomization and bootstrap")
    parser.add_argument("--n-resamples", type=int, default=999, help="FRT draws (above exact) / bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "output")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    rows = []
    for design in ("paired", "two-arm"):
        for law in LAWS:
            for n in SIZES:
                for method in METHODS:
                    sims = args.sims if method in ("t", "normal") else args.slow_sims
                    rows.append(cell(design, law, n, method, sims, args.n_resamples, args.seed))
                print(f"  {design:8s} {law:7s} n={n:<3d} " + "  ".join(
                    f"{r['method']} {r['coverage']:.3f}" for r in rows[-len(METHODS):]), flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(args.out / "coverage.csv", index=False)
    table = frame.pivot_table(index=["design", "law", "n"], columns="method", values="coverage", sort=False)
    table = table[list(METHODS)]
    infinite = frame[frame["method"] == "randomization"].set_index(["design", "law", "n"])["infinite"]
    table["randomization: share infinite"] = infinite
    lines = ["| design | outcome | n | " + " | ".join(table.columns) + " |",
             "|---|---|---|" + "---|" * len(table.columns)]
    for (design, law, n), row in table.iterrows():
        lines.append(f"| {design} | {law} | {n} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    markdown = "\n".join(lines)
    (args.out / "coverage.md").write_text(markdown + "\n")
    elapsed = time.perf_counter() - start
    print(f"\ncoverage of nominal {LEVEL:.0%} intervals ({args.sims} data sets per cell for t and normal, "
          f"{args.slow_sims} for randomization and bootstrap, {args.n_resamples} resamples)\n")
    print(markdown)
    print(f"\n{elapsed:.0f} s; load average {os.getloadavg()[0]:.2f}; wrote {args.out / 'coverage.csv'} and "
          f"{args.out / 'coverage.md'}")


if __name__ == "__main__":
    main()
