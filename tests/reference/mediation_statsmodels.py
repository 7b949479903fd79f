"""Reference numbers for tests/test_mediation.py from statsmodels' ``Mediation`` (Monte Carlo) on the framing data.

Run from the repository root: ``python tests/reference/mediation_statsmodels.py`` (statsmodels 0.15.0 was used;
about 2 minutes; importing it computes nothing). statsmodels simulates mediators for every unit and averages
predicted outcomes, so its estimates carry simulation error: each line prints the mean over the replications,
its Monte Carlo standard error, and the standard deviation of the replications.

* ``fixed``: the coefficients held at their estimates (``_simulate_params`` returns them), so the mean over
  replications estimates the natural effects at the estimates, which causalattn computes exactly;
* ``parametric``: statsmodels' default quasi-Bayesian simulation (coefficients drawn too).
"""

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.stats.mediation import Mediation

from causalattn import datasets


class FixedParameters(Mediation):
    """statsmodels' Mediation with the coefficients fixed at their estimates: only the mediators are simulated."""

    def _simulate_params(self, result, rng):
        return np.asarray(result.params)


def summarize(label, result):
    rows = {"NIE(0)": result.indirect_effects[0], "NIE(1)": result.indirect_effects[1],
            "NDE(0)": result.direct_effects[0], "NDE(1)": result.direct_effects[1]}
    rows["total effect"] = (rows["NIE(1)"] + rows["NDE(0)"] + rows["NIE(0)"] + rows["NDE(1)"]) / 2
    print(label)
    for name, per_unit in rows.items():
        reps = np.asarray(per_unit).mean(axis=0)  # one value per replication
        print(f"  {name:13s} mean={reps.mean():.6f} mcse={reps.std(ddof=1) / np.sqrt(len(reps)):.6f} "
              f"sd={reps.std(ddof=1):.6f}")


def main():
    framing = datasets.load("framing")
    dummies = pd.get_dummies(framing[["educ", "gender"]], drop_first=True, dtype=float)
    data = pd.concat([framing, dummies], axis=1)
    covariates = ["age", "income", *dummies.columns]
    x_mediator = sm.add_constant(data[["treat", *covariates]].astype(float))
    x_outcome = sm.add_constant(data[["treat", "emo", *covariates]].astype(float))
    for link in ("probit", "logit"):
        family = sm.families.Binomial(link=getattr(sm.families.links, link.capitalize())())
        outcome = sm.GLM(data["cong_mesg"].astype(float), x_outcome, family=family)
        mediator = sm.OLS(data["emo"].astype(float), x_mediator)
        for label, kind, reps in (("fixed", FixedParameters, 4000), ("parametric", Mediation, 4000)):
            result = kind(outcome, mediator, (1, 1), 2, outcome_fit_kwargs={"tol": 1e-12}).fit(
                method="parametric", n_rep=reps, rng=np.random.default_rng(20261207))
            summarize(f"{link} {label} n_rep={reps}", result)

    plain = data.rename(columns={c: f"x{j}" for j, c in enumerate(dummies.columns)})  # names formulas can parse
    terms = " + ".join(["age", "income", *(f"x{j}" for j in range(len(dummies.columns)))])
    outcome = smf.glm(f"cong_mesg ~ treat * emo + {terms}", plain, family=sm.families.Binomial())
    mediator = smf.ols(f"emo ~ treat + {terms}", plain)
    result = FixedParameters(outcome, mediator, "treat", "emo", outcome_fit_kwargs={"tol": 1e-12}).fit(
        method="parametric", n_rep=1000, rng=np.random.default_rng(20261207))
    summarize("logit interaction fixed n_rep=1000", result)


if __name__ == "__main__":
    main()
