"""Benchmark: causalattn.frt against scipy.stats.permutation_test on the NSW experiment, and exact enumeration.

Runs the difference-in-means FRT on the 445 NSW men with 10^5 (and 10^6)
Monte Carlo draws beside ``scipy.stats.permutation_test(..., vectorized=True,
permutation_type="independent")`` in the same process, alternating the two
``--repeats`` times, and prints the best and median time of each and their
ratio (target: causalattn at least 5x faster at 10^5 draws). The machine may be
shared: the load average is printed before and after, and only the ratio of
two runs interleaved in one script is meaningful under load.

It also prints the peak memory that ``frt`` allocates (``tracemalloc``) for
several ``batch`` sizes: it is bounded by ``batch`` and by the fixed chunk of
candidate assignments (at most 4096 rows, about 32 MB), not by the number of
draws. Last, the exact enumeration of Darwin's 2^15 sign flips with the
defaults (target: well under a second) and the exact 95% interval by test inversion.

Run:  python benchmarks/bench_frt.py [--batch 8192] [--repeats 3] [--skip-million]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc

import numpy as np
from scipy import stats

import causalattn

DARWIN = [6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6]


def timed(function):
    """``(value, wall-clock seconds)``."""
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def peak_mib(function) -> float:
    """Peak memory allocated while ``function`` runs, in MiB (numpy reports to tracemalloc)."""
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def difference_in_means(treated, control, axis):
    return treated.mean(axis=axis) - control.mean(axis=axis)


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8192, help="assignments per batch in causalattn.frt")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each method per size")
    parser.add_argument("--skip-million", action="store_true", help="only run 10^5 draws")
    args = parser.parse_args()

    nsw = causalattn.datasets.load("lalonde_nsw")
    y, z = nsw["re78"].to_numpy(float), nsw["treat"].to_numpy(int)
    print(f"before: {load()} (timings under load are slower; compare the ratio)")
    print(f"NSW: n = {len(y)}, n1 = {z.sum()}; difference in means, two-sided; batch = {args.batch}")
    print(f"{'draws':>9}  {'causalattn s (best/median)':>27}  {'scipy s (best/median)':>22}  "
          f"{'ratio best':>10}  {'ratio median':>12}  {'p causalattn':>12}  {'p scipy':>9}")
    for draws in (10**5,) if args.skip_million else (10**5, 10**6):
        ours_times, scipy_times = [], []
        for _ in range(args.repeats):
            ours, t = timed(lambda draws=draws: causalattn.frt(y, z, n_resamples=draws, batch=args.batch, rng=1))
            ours_times.append(t)
            theirs, t = timed(lambda draws=draws: stats.permutation_test(
                (y[z == 1], y[z == 0]), difference_in_means, vectorized=True, permutation_type="independent",
                n_resamples=draws, rng=np.random.default_rng(2)))
            scipy_times.append(t)
        best, median = min(ours_times), statistics.median(ours_times)
        scipy_best, scipy_median = min(scipy_times), statistics.median(scipy_times)
        print(f"{draws:>9}  {best:>12.2f} / {median:>12.2f}  {scipy_best:>10.2f} / {scipy_median:>9.2f}  "
              f"{scipy_best / best:>9.1f}x  {scipy_median / median:>11.1f}x  {ours.pvalue:>12.5f}  "
              f"{theirs.pvalue:>9.5f}")

    print("\npeak memory of causalattn.frt at 10^5 draws (tracemalloc):")
    for batch in (256, 8192, None):
        mib = peak_mib(lambda batch=batch: causalattn.frt(y, z, n_resamples=10**5, batch=batch, rng=1))
        print(f"  batch = {str(batch):>5}: {mib:6.1f} MiB")

    d = np.asarray(DARWIN)
    y_pairs = np.column_stack([d, np.zeros(15)]).ravel()
    z_pairs, pairs = np.tile([1, 0], 15), np.repeat(np.arange(15), 2)
    exact, t_exact = timed(lambda: causalattn.frt(y_pairs, z_pairs, design=causalattn.designs.MPE(pairs),
                                                  alternative="greater"))
    print(f"\nDarwin's 15 pairs with the defaults: exact enumeration of {exact.details['n_resamples']} "
          f"assignments in {t_exact * 1000:.0f} ms, p = {exact.pvalue:.8f} ({exact.method})")
    interval, t_interval = timed(lambda: causalattn.frt(y_pairs, z_pairs, design=causalattn.designs.MPE(pairs),
                                                        confidence=True))
    low, high = interval.confidence_interval
    print(f"exact 95% interval by test inversion: [{low:.3f}, {high:.3f}] in {t_interval * 1000:.0f} ms")
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
