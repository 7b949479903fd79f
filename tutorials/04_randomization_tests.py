"""Tutorial 4: Fisher randomization tests and Neyman's repeated-sampling inference (Ding 2024, ch. 3-5, 7).

Two ways to analyse a randomized experiment. Fisher asks whether the data are
compatible with *no effect for anyone*: under that sharp null every outcome is
fixed, so the distribution of any statistic over the assignments the design
could have produced is known, and the p-value is exact (or Monte Carlo with a
known error). Neyman asks about the *average* effect and relies on repeated
sampling: an unbiased difference in means, a conservative variance, a normal
interval. We apply both to the NSW job-training experiment, to Darwin's matched
pairs of Zea mays, and to a stratified analysis, then turn the test into a
confidence interval by inverting it over constant effects.

Run:  python tutorials/04_randomization_tests.py [--out tutorials/output]
"""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
from _common import parse_args, save, section

import causalattn
from causalattn import EstimateTable, datasets

# Darwin's 15 pairs: height of the cross-fertilized minus the self-fertilized plant (eighths of an inch -> inches)
DARWIN = np.array([6.125, -8.375, 1, 2, 0.75, 2.875, 3.5, 5.125, 1.75, 3.625, 7, 3, 9.375, 7.5, -6])
STATISTICS = {"diff_in_means": "two-sided", "studentized": "two-sided", "rank_sum": "two-sided", "ks": "greater"}


# How long the full run takes (shown by --help).
RUNTIME = "about 20 seconds on 2 shared cores"

def main() -> None:
    args = parse_args(__doc__.splitlines()[0], runtime=RUNTIME)

    section("NSW: four test statistics, one sharp null (Ding ch. 3)")
    nsw = datasets.load("lalonde_nsw")
    y, z = nsw["re78"].to_numpy(float), nsw["treat"].to_numpy(int)
    print(f"{len(y)} men, {z.sum()} trained; outcome: 1978 earnings (re78, dollars)")
    tests = {s: causalattn.frt(y, z, statistic=s, alternative=alt, n_resamples=10_000, rng=2024)
             for s, alt in STATISTICS.items()}
    print(f"\n{'statistic':<14} {'observed':>10} {'alternative':>12} {'p-value':>8} {'MC s.e.':>8}")
    for name, res in tests.items():
        d = res.details
        print(f"{name:<14} {d['statistic']:>10.4g} {d['alternative']:>12} {res.pvalue:>8.4f} "
              f"{d['mc_standard_error']:>8.4f}")
    print(
        "\nEach p-value is (1 + #draws at least as extreme) / (1 + 10,000) over random re-assignments of the\n"
        "185 'treated' labels; its Monte Carlo standard error is reported next to it. All four statistics\n"
        "reject 'no effect for anyone' at 5%. The rank sum and KS statistics are insensitive to the few very\n"
        "large earnings; the KS test looks for any difference in distribution, hence its one-sided form."
    )

    section("Neyman: the average effect with a conservative variance (Ding ch. 4)")
    neyman = causalattn.experiments.neyman(y, z)
    print(neyman)
    print(
        f"\ntau = {neyman.estimate:.4f}, SE = {neyman.standard_error:.4f}: S1^2/n1 + S0^2/n0 ignores the\n"
        "(unknowable) variance of individual effects, so it is conservative. It equals the HC2 robust\n"
        "standard error of OLS of re78 on treat (tutorial 3)."
    )

    section("A confidence interval by inverting the FRT, and Hodges-Lehmann")
    with_ci = causalattn.frt(y, z, n_resamples=2000, rng=2024, confidence=True)  # about 30 tests: fewer draws
    print(with_ci)
    hl = causalattn.hodges_lehmann(y, z)
    print(
        f"\nThe 95% interval collects the constant effects tau whose sharp null Y(1) = Y(0) + tau is not\n"
        f"rejected (about 30 FRTs on the same 2,000 assignments, found by bisection):\n"
        f"[{with_ci.confidence_interval.low:.0f}, {with_ci.confidence_interval.high:.0f}] against Neyman's "
        f"[{neyman.confidence_interval.low:.0f}, {neyman.confidence_interval.high:.0f}].\n"
        f"The Hodges-Lehmann estimate (rank-sum based: the median of the {z.sum()} x {len(z) - z.sum()} "
        f"treated-minus-control differences) is {hl:.0f},\nsmaller than the difference in means: "
        "the mean is pulled up by a few large earnings."
    )

    section("Darwin's Zea mays: 15 matched pairs, exact enumeration of 2^15 sign flips (Ding ch. 7)")
    y_pairs = np.column_stack([DARWIN, np.zeros(15)]).ravel()  # each pair: the crossed plant carries the difference
    z_pairs, pairs = np.tile([1, 0], 15), np.repeat(np.arange(15), 2)
    matched = causalattn.designs.MPE(pairs)  # the design carries its pairs
    darwin = causalattn.frt(y_pairs, z_pairs, design=matched, alternative="greater", n_resamples=2**15,
                            confidence=True)
    darwin_t = causalattn.frt(y_pairs, z_pairs, design=matched, statistic="studentized", alternative="greater",
                              n_resamples=2**15)
    paired = causalattn.experiments.neyman(y_pairs, z_pairs, pairs=pairs)
    print(darwin)
    print(
        f"\nAll {darwin.details['n_resamples']} assignments (which plant of each pair is 'crossed') are\n"
        f"enumerated: one-sided exact p = {darwin.pvalue:.8f} (Ding's 0.02633667) for the mean difference,\n"
        f"{darwin_t.pvalue:.5f} for the paired t statistic. Inverting the exact one-sided test gives the 95%\n"
        f"lower bound {darwin.confidence_interval.low:.3f} inches. Neyman's paired estimate: {paired.estimate:.3f} "
        f"inches\n(SE {paired.standard_error:.3f}), from the variance of the 15 pair differences."
    )

    section("A stratified analysis: NSW within strata of degree status (Ding ch. 5)")
    strata = np.where(nsw["nodegree"] == 1, "no degree", "degree")
    counts = nsw.groupby(strata)["treat"].agg(["size", "sum"]).rename(columns={"size": "men", "sum": "treated"})
    print(counts.to_string())
    sre = causalattn.frt(y, z, design=causalattn.designs.SRE(strata), n_resamples=2000, rng=2024, confidence=True)
    post = causalattn.experiments.neyman(y, z, strata=strata)
    table = EstimateTable(
        [dataclasses.replace(neyman, estimand="Neyman, CRE"),
         dataclasses.replace(post, estimand="Neyman, post-stratified"),
         dataclasses.replace(with_ci, estimand="FRT, CRE"),
         dataclasses.replace(sre, estimand="FRT, within strata")],
        title="NSW effect on 1978 earnings, ignoring and using the strata (FRT: 2,000 draws)",
    )
    print()
    print(table.summary())
    share = counts["treated"] / counts["men"]
    print(
        "\nConditioning on the number treated in each stratum turns the CRE into a stratified experiment:\n"
        "labels are permuted only within strata, and the statistic is sum_k pi_k tau_k with pi_k = n_k / n.\n"
        f"The treated share differs between strata ({share['degree']:.0%} with a degree, "
        f"{share['no degree']:.0%} without), so weighting the\nwithin-stratum effects by stratum size moves the "
        f"estimate from {neyman.estimate:.0f} to {post.estimate:.0f}, well within one standard error."
    )

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    ax = axes[0]
    null = tests["diff_in_means"].details["null_distribution"]
    ax.hist(null, bins=60, color="0.7", edgecolor="0.5")
    ax.axvline(tests["diff_in_means"].details["statistic"], color="C3", lw=2, label="observed")
    ax.set(title=f"NSW: difference in means, 10,000 permutations\np = {tests['diff_in_means'].pvalue:.4f}",
           xlabel="difference in mean 1978 earnings ($)", ylabel="assignments")
    ax.legend()
    ax = axes[1]
    exact = darwin.details["null_distribution"]
    ax.hist(exact, bins=60, color="0.7", edgecolor="0.5")
    ax.axvline(darwin.details["statistic"], color="C3", lw=2, label="observed")
    ax.set(title=f"Darwin's pairs: all 2^15 sign flips\none-sided p = {darwin.pvalue:.4f}",
           xlabel="mean pair difference (inches)", ylabel="assignments")
    ax.legend()
    fig.tight_layout()
    save(fig, args.out / "04_randomization_distribution.png")


if __name__ == "__main__":
    main()
