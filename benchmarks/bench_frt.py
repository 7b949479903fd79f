"""Benchmark: causalattn.frt against scipy.stats.permutation_test on the NSW experiment, and exact enumeration.

Runs the difference-in-means FRT on the 445 NSW men with 10^5 and 10^6 Monte
Carlo draws beside ``scipy.stats.permutation_test(..., vectorized=True,
permutation_type="independent")`` in the same process, prints both times and
their ratio (target: causalattn at least 2x faster at 10^5 draws), the largest
assignment matrix held at once (bounded by ``batch``), and the time to
enumerate all 2^15 sign flips of Darwin's 15 matched pairs exactly (target: well
under a second).

Run:  python benchmarks/bench_frt.py [--batch 8192] [--skip-million]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

import causalattn

DARWIN = [6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6]


def timed(function):
    """``(value, wall-clock seconds)``."""
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def difference_in_means(treated, control, axis):
    return treated.mean(axis=axis) - control.mean(axis=axis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8192, help="assignments per batch in causalattn.frt")
    parser.add_argument("--skip-million", action="store_true", help="only run 10^5 draws")
    args = parser.parse_args()

    nsw = causalattn.datasets.load("lalonde_nsw")
    y, z = nsw["re78"].to_numpy(float), nsw["treat"].to_numpy(int)
    print(f"NSW: n = {len(y)}, n1 = {z.sum()}; difference in means, two-sided; batch = {args.batch}")
    print(f"largest assignment matrix in causalattn: {args.batch} x {len(y)} float64 = "
          f"{args.batch * len(y) * 8 / 2**20:.1f} MiB")
    print(f"{'draws':>9}  {'causalattn s':>12}  {'scipy s':>9}  {'ratio':>6}  {'p causalattn':>12}  {'p scipy':>9}")
    for draws in (10**5,) if args.skip_million else (10**5, 10**6):
        ours, t_ours = timed(lambda: causalattn.frt(y, z, n_resamples=draws, batch=args.batch, rng=1))
        theirs, t_scipy = timed(lambda: stats.permutation_test(
            (y[z == 1], y[z == 0]), difference_in_means, vectorized=True, permutation_type="independent",
            n_resamples=draws, rng=np.random.default_rng(2)))
        print(f"{draws:>9}  {t_ours:>12.2f}  {t_scipy:>9.2f}  {t_scipy / t_ours:>5.1f}x  "
              f"{ours.pvalue:>12.5f}  {theirs.pvalue:>9.5f}")

    d = np.asarray(DARWIN)
    y_pairs = np.column_stack([d, np.zeros(15)]).ravel()
    z_pairs, pairs = np.tile([1, 0], 15), np.repeat(np.arange(15), 2)
    exact, t_exact = timed(lambda: causalattn.frt(y_pairs, z_pairs, design="mpe", pairs=pairs,
                                                  alternative="greater", n_resamples=2**15))
    print(f"\nDarwin's 15 pairs, exact enumeration of 2^15 = {exact.details['n_resamples']} assignments: "
          f"{t_exact * 1000:.0f} ms, p = {exact.pvalue:.8f} ({exact.method})")


if __name__ == "__main__":
    main()
