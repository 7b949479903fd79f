"""Build ``time_varying.csv``: a simulated study with a time-varying confounder affected by past treatment.

Two treatment times. Per subject, independently:

    U  ~ N(0, 1)                                   unmeasured (not in the file)
    L0 ~ N(0, 1)                                   measured before the first treatment
    A0 ~ Bernoulli(expit(0.8 L0))
    L1 = 0.4 L0 + 0.6 A0 + U + N(0, 0.5^2)         measured after A0, before A1
    A1 ~ Bernoulli(expit(-0.5 + 1.0 L1 + 0.5 A0))
    Y  = 2 + 1.0 A0 + 1.5 A1 + 0.5 L0 + 2 U + N(0, 1)

The mean potential outcome under the regime (a0, a1) is E[Y^{a0 a1}] = 2 + a0 + 1.5 a1 (L0 and U have
mean 0, and A0 reaches Y only directly), so "always treated" against "never treated" is 2.5. L1 is a
confounder of A1 (through U) that A0 affects: a regression of Y on A0, A1, L0 and L1 is biased for A0
(conditioning on L1, a collider of A0 and U), and one without L1 is biased for A1. Inverse-probability
weighting (a marginal structural model) and the g-formula recover the truth.

Run from the repository root:  python datasets/build_time_varying.py
"""

from pathlib import Path

import numpy as np
import pandas as pd

N_SUBJECTS = 2000
SEED = 20001  # Robins, Hernan and Brumback (2000)


def expit(x):
    return 1 / (1 + np.exp(-x))


def simulate(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` subjects of the law in the module docstring (columns id, l0, a0, l1, a1, y; U left out)."""
    u = rng.normal(size=n)
    l0 = rng.normal(size=n)
    a0 = (rng.uniform(size=n) < expit(0.8 * l0)).astype(int)
    l1 = 0.4 * l0 + 0.6 * a0 + u + rng.normal(0, 0.5, size=n)
    a1 = (rng.uniform(size=n) < expit(-0.5 + 1.0 * l1 + 0.5 * a0)).astype(int)
    y = 2 + 1.0 * a0 + 1.5 * a1 + 0.5 * l0 + 2 * u + rng.normal(size=n)
    return pd.DataFrame({"id": np.arange(1, n + 1), "l0": l0, "a0": a0, "l1": l1, "a1": a1, "y": y})


def main() -> None:
    data = simulate(N_SUBJECTS, np.random.default_rng(SEED)).round({"l0": 4, "l1": 4, "y": 4})
    path = Path(__file__).resolve().parent / "time_varying.csv"
    data.to_csv(path, index=False)
    print(f"wrote {path} ({len(data)} subjects)")


if __name__ == "__main__":
    main()
