"""Tutorial 11: how does an effect travel? Natural direct and indirect effects in the framing experiment.

Brader, Valentino and Suhay (2008) showed 265 Americans a news story about
immigration. Its tone and the immigrant's ethnicity were randomized; the arm
of interest (`treat`) is a negative story about a Latino immigrant. Did it move
people to ask for an anti-immigration message to be sent to Congress
(`cong_mesg`), and did it do so *through* the anxiety it raised (`emo`)? That
is mediation analysis (Ding 2024, ch. 27-28; R's `mediation` vignette uses the
same data). We read the Baron-Kenny regressions, compute the natural direct and
indirect effects exactly from a normal mediator model and a probit outcome
model, compare the three interval procedures, add the exposure-mediator
interaction and controlled direct effects, draw the effect decomposition, and
ask how strong an unmeasured confounder of anxiety and attitudes would have to
be to explain the indirect effect away (Imai, Keele and Yamamoto 2010). Then
the same decomposition inside a transformer: the two heads of an induction
circuit as treatments, the later layers as the mediator, path patching for
the direct effect (Wang et al. 2022; McGrath et al. 2023).

Run:  python tutorials/11_mediation.py [--quick] [--out tutorials/output]
(--quick uses fewer simulation draws and bootstrap resamples, and the hand-set
induction model instead of training one, for tests).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
from _common import parse_args, save, section  # selects the Agg backend before pyplot is imported

from causalattn import EstimateTable, baron_kenny, datasets, mediate, mediation_sensitivity

# How long the full run takes (shown by --help).
RUNTIME = ("a few minutes on 2 cores (the bootstrap refits a probit model 1,000 times; a two-layer transformer "
           "is trained); --quick takes under a minute")


def framing_data() -> tuple[pd.DataFrame, list[str]]:
    """The framing data with education and gender as 0/1 dummies, and the covariates of R's vignette."""
    framing = datasets.load("framing")
    dummies = pd.get_dummies(framing[["educ", "gender"]], drop_first=True, dtype=float)
    return pd.concat([framing, dummies], axis=1), ["age", "income", *dummies.columns]


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], runtime=RUNTIME, extra=lambda p: p.add_argument(
        "--quick", action="store_true", help="fewer draws and resamples (for tests)"))
    out, draws = args.out, 200 if args.quick else 1000

    section("The framing experiment")
    data, covariates = framing_data()
    arms = data.groupby("treat")[["emo", "cong_mesg"]].mean()
    print(arms.rename(index={0: "other stories", 1: "negative, Latino"}).round(3).to_string())
    print(f"\n{int(data['treat'].sum())} of {len(data)} subjects saw the negative story about a Latino immigrant. "
          "Their emotional response\n`emo` (3-12) is higher, and more of them asked for the message to Congress. "
          "The story was randomized,\nso its total effect is identified; whether anxiety *carries* it is not: "
          "anxiety was not randomized.")

    section("Baron and Kenny: three regressions")
    bk = baron_kenny(data, "immigr", "treat", "emo", covariates)
    print(bk.summary())
    print(f"\nOn the 4-point attitude scale `immigr`, the story raises anxiety by a = {bk[0].estimate:.2f}, and "
          f"anxiety raises the\nscore by b = {bk[1].estimate:.3f} per point. The indirect effect ab = "
          f"{bk[4].estimate:.3f} equals c - c' exactly: the total effect\nminus the direct effect that is left once "
          "anxiety is held fixed (an identity of least squares).\nSobel's delta-method SE serves both.")

    section("Natural effects on a binary outcome (probit), computed exactly")
    probit = mediate(data, "cong_mesg", "treat", "emo", covariates, link="probit", n_draws=draws, rng=0)
    print(probit.summary())
    nie, nde, total = probit["NIE(1)"], probit["NDE(0)"], probit["total effect"]
    print(
        f"\nThe negative story raised the probability of asking for the message by {total.estimate:.3f}, of which "
        f"{nie.estimate:.3f}\ntravelled through anxiety (NIE(1): the story held on, anxiety moved from its level "
        "under the other\nstories to its level under this one) and "
        f"{nde.estimate:.3f} did not (NDE(0)). NDE(0) + NIE(1) = NDE(1) + NIE(0) =\nthe total effect, exactly. "
        "The indirect effect is clearly positive; the total effect, estimated with the\nnoise of the direct "
        "part, is not distinguishable from 0, so the proportion mediated is a ratio of a\nsure numerator to an "
        "unsure denominator: read its interval, not its standard error."
    )
    print("\nEach effect is the mediation formula integrated exactly: for a probit outcome model and a normal\n"
          "mediator, E Phi(a + b M) = Phi((a + b mu) / sqrt(1 + b^2 sigma^2)), with sigma^2 = SSR/(n - p) "
          "as R's lm.\nR's mediate and statsmodels' Mediation simulate mediators instead: their point estimates "
          "are averages\nover simulated draws and carry simulation error; ours are the value at the estimates.")

    section("Three ways to an interval, each row from one procedure")
    rows = [probit["NIE(1)"]]
    rows.append(mediate(data, "cong_mesg", "treat", "emo", covariates, link="probit", method="bootstrap",
                        n_resamples=draws, rng=1)["NIE(1)"])
    rows.append(mediate(data, "cong_mesg", "treat", "emo", covariates, link="probit", method="delta")["NIE(1)"])
    print(EstimateTable(rows, "NIE(1) of the probit model").summary())
    print("\nQuasi-Bayesian simulation (the default, as R) and the percentile bootstrap give the percentile "
          "interval\nof their draws and the p-value that inverts it (so p < 0.05 exactly when the interval "
          "excludes 0,\nfloored at 1/(draws + 1)); the delta method is Sobel's normal interval. With 265 units "
          "they agree.")

    section("Does the answer depend on the outcome model?")
    links = [mediate(data, "cong_mesg", "treat", "emo", covariates, link=link, method="delta")["NIE(1)"]
             for link in ("identity", "probit", "logit")]
    print(EstimateTable([dataclasses.replace(row, estimand=f"NIE(1), {row.details['link']}")
                         for row in links]).summary())
    print("\nA linear probability model, a probit and a logit model give the same indirect effect on the "
          "risk-difference\nscale to the second digit (the logit's integral is computed by Gauss-Hermite "
          "and Gauss-Laguerre quadrature).")

    section("Exposure-mediator interaction and controlled direct effects")
    interacted = mediate(data, "cong_mesg", "treat", "emo", covariates, link="probit", interaction=True,
                         cde_at=[3, 6, 9, 12], n_draws=draws, rng=2)
    print(interacted.summary())
    product = interacted.fits["outcome"].params[3]
    low, high = interacted["CDE(m=3)"], interacted["CDE(m=12)"]
    print(f"\nWith treat x emo in the outcome model (coefficient {product:.3f}) the two decompositions part: NIE(1) "
          f"= {interacted['NIE(1)'].estimate:.3f}\nand NIE(0) = {interacted['NIE(0)'].estimate:.3f}. The "
          "controlled direct effects CDE(m) fix anxiety at m for everybody: the story's\neffect among people who "
          f"all feel the same. Through the interaction it grows from {low.estimate:+.3f} at m = 3 (the\nscale's "
          f"floor) to {high.estimate:+.3f} at m = 12, but no CDE is distinguishable from 0 (p >= "
          f"{min(r.pvalue for r in interacted if r.details['component'] == 'controlled direct'):.2f}).")
    save(interacted.plot(xlabel="effect on P(ask for the message to Congress)"), out / "11_decomposition.png")

    section("Sensitivity: an unmeasured confounder of anxiety and attitudes")
    sensitivity = mediation_sensitivity(data, "immigr", "treat", "emo", covariates, method="bootstrap",
                                        n_resamples=draws, rng=3)
    print(sensitivity)
    print(sensitivity.to_frame().iloc[::6][["rho", "estimate", "ci_low", "ci_high", "pvalue"]].round(4).to_string(
        index=False))
    print(
        f"\nIf something unmeasured (say, prior hostility to immigration) raised both anxiety and the "
        f"attitude\nscore, the errors of the two regressions would correlate (rho > 0) and OLS would credit "
        f"anxiety with\npart of its effect. The indirect effect on `immigr` vanishes at rho = "
        f"{sensitivity.rho_at_zero:.2f}: the shares of the mediator's and\nthe outcome's unexplained variance "
        f"that the confounder explains would have to multiply to\nR2*_M R2*_Y = {sensitivity.r2_star_product:.2f} "
        f"({sensitivity.rho_at_zero:.0%} of each, if equal), the shares of their total variance to R2~_M R2~_Y = "
        f"{sensitivity.r2_tilde_product:.2f}.\nWeaker confounding leaves a positive indirect effect; whether such a "
        "confounder exists the data\ncannot say."
    )
    save(sensitivity.plot(), out / "11_sensitivity.png")
    heads_half(args.quick, out)


def heads_half(quick: bool, out: Path) -> None:
    """The same decomposition inside a transformer: the two heads of an induction circuit as treatments."""
    from causalattn.lab import (
        BigramTask,
        ModelConfig,
        TaskConfig,
        TrainConfig,
        decompose,
        decomposition_treatments,
        evaluation_study,
        induction_head_model,
        train,
    )

    section("The same question inside a transformer: direct and indirect effects of attention heads")
    if quick:
        task = BigramTask(TaskConfig(seq_len=64))
        model, made = induction_head_model(task, d_model=256), "its weights set by hand as in Bietti et al."
    else:
        task = BigramTask(TaskConfig(seq_len=128))
        model = train(ModelConfig(d_model=256, max_seq_len=128), task.config,
                      TrainConfig(n_iters=300, batch_size=16, log_every=300, eval_sequences=64), progress=False).model
        made = "trained for 300 steps by the lab's recipe"
    treatments = [*decomposition_treatments([(0, 0), (1, 0)], "mean"),
                  *(f"path:L0H0->L1H0.{part}:mean" for part in "qkv")]
    study = evaluation_study(model, task, treatments, n_sequences=60 if quick else 300, n_resamples=999,
                             progress=False)
    table = decompose(study)
    print(table.summary())
    total, direct, low, high = (table["L0H0 total"].estimate, table["L0H0 direct"].estimate,
                                *table["L0H0 direct"].confidence_interval)
    path = {part: table[f"L0H0 -> L1H0.{part}"].estimate for part in "qkv"}
    print(
        f"\nA two-layer transformer ({made})\nsolves Bietti et al.'s bigram task in context with two heads. "
        "L0H0 attends to the previous\ntoken and writes it into the residual stream; L1H0, the induction head, "
        "uses it as its *key* to\nfind the earlier occurrence of the current token and copies the token that "
        "followed. Units are\nsequences, the treatment is ablating a head (its output replaced by its mean over "
        "reference\nsequences), the outcome is in-context accuracy. The question is the framing experiment's: "
        "how much\nof the effect travels through the later layers (the mediator), how much goes straight to the "
        "logits?\nPath patching answers it by intervening on the mediator instead of modelling it: the direct "
        "arm\nlets the ablated output reach the unembedding while every later layer reads the clean output\n"
        "(a natural direct effect, the mediator at its value under control; Vig et al. 2020).\n\n"
        f"Ablating L0H0 costs {-total:.2f} of accuracy; its direct effect is {direct:+.3f} (95% CI {low:+.3f} "
        f"to {high:+.3f}),\nso all of it is indirect, and the path into L1H0's keys alone "
        f"({path['k']:+.3f}) carries it,\nnot the queries ({path['q']:+.3f}) or the values ({path['v']:+.3f}). "
        f"The induction head acts directly (direct\n{table['L1H0 direct'].estimate:+.3f}, total "
        f"{table['L1H0 total'].estimate:+.3f}): no layer after it could compensate. Self-repair = direct - total\n"
        "= -indirect (McGrath et al. 2023) reads as repair for a head that acts directly and whose loss\nlater "
        "layers make up; for L0H0, which acts only through L1H0, it is its indirect effect turned round.\n"
        "Each row is a paired contrast of two arms on the same sequences, so the interval of the indirect\n"
        "effect comes from the per-sequence differences, not from combining two intervals."
    )
    save(table.plot(components=["total", "direct", "indirect", "path"], xlabel="change in in-context accuracy"),
         out / "11_heads_decomposition.png")


if __name__ == "__main__":
    main()
