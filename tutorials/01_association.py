"""Tutorial 1: measuring association in a 2x2 table (Ding 2024, ch. 1).

Kidney stones (Charig et al. 1986): did open surgery (Z = 1) or percutaneous
nephrolithotomy (PCNL, Z = 0) remove the stone (Y = 1) more often? We count the
700 patients into a 2x2 table and measure the association three ways, each with
the interval methods causalattn offers, then test independence.

Run:  python tutorials/01_association.py [--out tutorials/output]
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import pandas as pd
from _common import parse_args, save, section  # first: it selects the Agg backend
from matplotlib import ticker

import causalattn
from causalattn import EstimateTable, Table2x2, datasets

# How long the full run takes (shown by --help).
RUNTIME = "about 20 seconds on 2 shared cores"

def main() -> None:
    out = parse_args(__doc__.splitlines()[0], runtime=RUNTIME).out

    section("The data: one row per patient")
    stones = datasets.load("kidney_stones")
    print(datasets.describe("kidney_stones"))
    print(stones.head())

    section("The 2x2 table (rows Z, columns Y)")
    table = Table2x2.from_data(stones, treatment="treatment", outcome="success")
    print(table.to_frame())
    print(f"\nrisk of success: open surgery p1 = {table.p1:.3f}, PCNL p0 = {table.p0:.3f}")

    section("Three measures of association")
    print(
        "risk difference RD = p1 - p0: extra successes per patient treated by open surgery;\n"
        "    0 means no association, it is on the scale of the outcome itself.\n"
        "risk ratio RR = p1 / p0: how many times as likely success is; 1 means no association.\n"
        "odds ratio OR = [p1/(1-p1)] / [p0/(1-p0)]: the ratio of odds; 1 means no association.\n"
        "    Close to RR when the outcome is rare, here (success is common) it is farther from 1.\n"
        "All three have the same sign (RD < 0 exactly when RR < 1 and OR < 1): they agree on the\n"
        "direction and differ on the scale. Ratio intervals are computed on the log scale."
    )
    estimates = EstimateTable(
        [
            table.risk_difference(method="wald"),
            table.risk_difference(method="newcombe"),
            table.risk_ratio(method="katz"),
            table.odds_ratio(method="woolf"),
            table.odds_ratio(method="exact"),
        ],
        title="Kidney stones, all patients: open surgery vs PCNL",
    )
    print(estimates.summary())
    print(
        "\nwald: estimate +- 1.96 SE. newcombe: combines the Wilson score intervals of p1 and p0, better\n"
        "coverage in small samples or near 0 and 1. katz / woolf: Wald intervals for log RR / log OR,\n"
        "exponentiated. exact-conditional: the conditional MLE of the OR and an exact interval given the\n"
        "table's margins (no large-sample approximation). A 95% interval is a range of values of the\n"
        "population measure compatible with the data: it is not 95% probability that it lies inside."
    )

    section("Tests of independence (p1 = p0, equivalently RR = 1, OR = 1)")
    yates, pearson = table.chi2_test(), table.chi2_test(continuity=False)
    tests = pd.DataFrame([test.to_dict() for test in (yates, pearson)])
    print(tests[["hypothesis", "statistic", "dof", "pvalue", "method", "n"]].to_string(index=False))
    print()
    print(EstimateTable([table.fisher_exact()], title="Fisher's exact test, with the conditional odds ratio").summary())
    print(
        f"\nPearson's X^2 = {pearson.statistic:.3f} (with Yates' continuity correction, R's and scipy's default,\n"
        f"{yates.statistic:.3f}), 1 degree of freedom, compares the counts to those expected under independence;\n"
        "Fisher's exact test conditions on the margins and needs no large sample. None rejects at 5%:\n"
        f"a difference of {abs(table.p1 - table.p0):.1%} in success rates is within what chance alone produces "
        f"with {table.n1} and {table.n0} patients per arm."
    )

    section("Association is not causation")
    print(
        "Doctors chose the treatment: open surgery went mostly to large stones, which are harder to remove.\n"
        "Tutorial 02 splits the table by stone size and finds the opposite association in each stratum."
    )

    section("Beyond 2x2 tables: correlation and regression coefficients (Ding 1.2.1)")
    cps1 = datasets.load("lalonde_cps1")
    covariates = ["age", "educ", "black", "hispan", "married", "nodegree", "re74", "re75", "u74", "u75"]
    flip = EstimateTable(
        [
            causalattn.correlation(cps1, x="treat", y="re78"),
            dataclasses.replace(causalattn.ols(cps1, outcome="re78", treatment="treat"),
                                estimand="OLS coef. of treat, no covariates"),
            dataclasses.replace(causalattn.ols(cps1, outcome="re78", treatment="treat", covariates=covariates),
                                estimand="OLS coef. of treat, 10 covariates"),
        ],
        title="LaLonde cps1re74: job training (treat) and 1978 earnings (re78)",
    )
    print(flip.summary())
    print(
        "\nThe correlation and the simple regression coefficient (the difference in mean earnings) say that\n"
        "trainees earned less; the coefficient of treat in the regression that also holds age, schooling,\n"
        "race, marriage and 1974-75 earnings fixed is positive. A regression coefficient measures association\n"
        "given the other regressors, and it can change sign when they change. Tutorial 03 continues."
    )

    print()
    save(plot_measures(table, estimates), out / "01_association_measures.png")


def plot_measures(table: Table2x2, estimates: EstimateTable) -> plt.Figure:
    """Risks by arm, then each measure with its intervals by method (null value dashed), every value labelled."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    counts = table.counts
    bars = axes[0].bar(["PCNL (Z=0)", "open (Z=1)"], [table.p0, table.p1], color=["tab:gray", "tab:blue"])
    axes[0].bar_label(bars, labels=[f"{table.p0:.3f}\n({counts[1, 0]}/{table.n0})",
                                    f"{table.p1:.3f}\n({counts[0, 0]}/{table.n1})"], padding=3)
    axes[0].set_ylim(0, 1.15)
    axes[0].set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes[0].set_ylabel("proportion of stones removed")
    axes[0].set_title("risk of success")
    xlabels = {"risk difference": "p1 - p0 (open minus PCNL)",
               "risk ratio": "p1 / p0 (log scale)",
               "odds ratio": "odds(open) / odds(PCNL) (log scale)"}
    for ax, estimand in zip(axes[1:], xlabels, strict=True):
        rows = [e for e in estimates if e.estimand == estimand]
        for i, e in enumerate(rows):
            low, high = e.confidence_interval
            ax.errorbar(e.estimate, i, xerr=[[e.estimate - low], [high - e.estimate]], fmt="o", capsize=4)
            ax.annotate(f"{e.estimate:.3g} [{low:.3g}, {high:.3g}]", (e.estimate, i), xytext=(0, 7),
                        textcoords="offset points", ha="center", fontsize=9)
        ax.axvline(rows[0].null_value, color="k", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(rows)), [e.method for e in rows])
        ax.set_ylim(-0.6, len(rows) - 0.2)
        ax.set_title(f"{estimand} (95% CI)")
        ax.set_xlabel(xlabels[estimand])
        if estimand != "risk difference":  # log axis, with plain-number ticks spread over the visible range
            ax.set_xscale("log")
            low, high = ax.get_xlim()
            ticks = [t for t in ticker.MaxNLocator(nbins=5, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
                     if low <= t <= high]
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_locator(ticker.NullLocator())
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
