"""The mediation laws of ``benchmarks/coverage.py --only mediation``: data, true natural effects, one cell.

See the docstring of ``coverage.py`` for the laws. The probit law's natural effects are in closed form:
with M ~ N(0.5 z* + 0.3 X, 1) and P(Y = 1 | z, M, X) = Phi(-0.2 + 0.4 z + 0.5 M + 0.3 X),
E{Y(z, M(z*)) | X} = Phi((-0.2 + 0.4 z + 0.25 z* + 0.45 X) / sqrt(1.25)), and over X ~ N(0, 1)
E Y(z, M(z*)) = Phi((-0.2 + 0.4 z + 0.25 z*) / sqrt(1.25 + 0.45^2)).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from causalattn import mediate
from causalattn.observational import SmallSampleWarning

MED_SIZES = (30, 100, 500)
MED_LAWS = ("linear", "linear, a = 0", "probit")
MED_ROWS = ("NIE(1)", "NDE(0)", "total effect")


def draw_mediation(law: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    x, z = rng.normal(size=n), rng.integers(0, 2, n)
    m = (0.0 if law == "linear, a = 0" else 0.5) * z + 0.3 * x + rng.normal(size=n)
    y = ((-0.2 + 0.4 * z + 0.5 * m + 0.3 * x + rng.normal(size=n) > 0).astype(int) if law == "probit"
         else 0.3 * z + 0.4 * m + 0.2 * x + rng.normal(size=n))
    return pd.DataFrame({"y": y, "z": z, "m": m, "x": x})


def mediation_truth(law: str, x: np.ndarray | None) -> dict[str, float]:
    """NIE(1), NDE(0), total effect of the law: in the population (``x`` None) or averaged over covariates ``x``."""
    if law != "probit":
        nie = 0.0 if law == "linear, a = 0" else 0.2
        return {"NIE(1)": nie, "NDE(0)": 0.3, "total effect": nie + 0.3}

    def psi(z: int, z_star: int) -> float:  # E Phi(-0.2 + 0.4 z + 0.5 M + 0.3 X), M ~ N(0.5 z* + 0.3 X, 1)
        centre = -0.2 + 0.4 * z + 0.25 * z_star
        if x is None:  # and X ~ N(0, 1): slope 0.45 on X
            return float(stats.norm.cdf(centre / np.sqrt(1.25 + 0.45**2)))
        return float(stats.norm.cdf((centre + 0.45 * x) / np.sqrt(1.25)).mean())

    return {"NIE(1)": psi(1, 1) - psi(1, 0), "NDE(0)": psi(1, 0) - psi(0, 0), "total effect": psi(1, 1) - psi(0, 0)}


def mediation_cell(law: str, n: int, method: str, sims: int, n_resamples: int, seed: int) -> list[dict]:
    """Coverage of the population and the sample-covariate effects, and median width, per row of ``MED_ROWS``.

    A data set ``mediate`` refuses (a probit model that does not converge: quasi-separation, at n = 30) is
    counted in ``refused`` and left out of the coverage; one it answers with a quasi-separation warning is
    scored and counted in ``warned``.
    """
    rng = np.random.default_rng([seed, 19, MED_LAWS.index(law), n])  # the same data sets for every method
    level = 0.95
    population = mediation_truth(law, None)
    hits = {row: [0, 0] for row in MED_ROWS}
    widths = {row: [] for row in MED_ROWS}
    refused = warned = 0
    options = {"n_resamples": n_resamples} if method == "bootstrap" else {}
    for _ in range(sims):
        data = draw_mediation(law, n, rng)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                table = mediate(data, "y", "z", "m", "x", link="probit" if law == "probit" else "identity",
                                method=method, rng=rng, confidence_level=level, **options)
            except ValueError:
                refused += 1
                continue
        warned += any(not issubclass(w.category, SmallSampleWarning) for w in caught)  # separation etc.
        conditional = mediation_truth(law, data["x"].to_numpy())
        for row in MED_ROWS:
            low, high = table[row].confidence_interval
            hits[row][0] += bool(low <= population[row] <= high)
            hits[row][1] += bool(low <= conditional[row] <= high)
            widths[row].append(high - low)
    answered = sims - refused
    return [{"design": "mediation", "law": law, "n": n, "method": method, "effect": row, "sims": sims,
             "coverage": hits[row][0] / answered, "coverage_conditional": hits[row][1] / answered,
             "median_width": float(np.median(widths[row])), "refused": refused / sims, "warned": warned / sims}
            for row in MED_ROWS]
