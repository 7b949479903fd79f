"""Tutorial 7: freezing as a treatment, training seeds as units (Bietti et al. 2023, Figure 3, with error bars).

The question of the paper's Figure 3: does keeping W2_O (the induction head's
output memory), W2_K (its key memory) or W1_K (the previous-token head's key)
frozen at its random initialization until iteration 300 slow the formation of
the induction head? The paper answers with one training curve per schedule.
One curve is one seed: it cannot say how much of a gap between two curves is
the freeze and how much is the luck of that seed's initialization and batches.
Here each training seed is a unit, each schedule is a treatment, and the
effect comes with a confidence interval and a p-value from one procedure (the
paired t), with the exact randomization p-value beside them.

Run:  python tutorials/07_freezing_as_treatment.py [--quick] [--n-jobs 2] [--out tutorials/output]
(the full run trains 4 arms x 4 seeds x 500 iterations of a d = 128 model on T = 128 sequences:
about 6 minutes on 2 cores with --n-jobs 2; --quick is a tiny configuration for tests).
"""

from __future__ import annotations

from dataclasses import replace

import torch
from _common import parse_args, save, section
from scipy import stats

from causalattn import EstimateTable
from causalattn.experiments.neyman import neyman
from causalattn.lab.models.transformer import ModelConfig
from causalattn.lab.tasks.bigram import TaskConfig
from causalattn.lab.training.config import Freeze, TrainConfig
from causalattn.lab.training.study import training_study

# How long the full run takes (shown by --help).
RUNTIME = ("about 6 minutes on 2 cores with --n-jobs 2 (4 arms x 4 seeds x 500 iterations); "
           "--quick takes seconds")

def options(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="tiny model and short runs (for tests)")
    parser.add_argument("--n-jobs", type=int, default=1, help="training runs in parallel (joblib)")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], options, runtime=RUNTIME)
    out = args.out

    if args.quick:
        torch.set_num_threads(1)  # tiny models train fastest on one thread
        model = ModelConfig(d_model=32, max_seq_len=32)
        task = TaskConfig(seq_len=32)
        until, n_iters, seeds, threshold = 20, 40, (0, 1, 2), 0.3
        recipe = TrainConfig(n_iters=n_iters, batch_size=16, log_every=5, eval_sequences=64)
    else:
        model = ModelConfig(d_model=128, max_seq_len=128)
        task = TaskConfig(seq_len=128)
        until, n_iters, seeds, threshold = 300, 500, (0, 1, 2, 3), 0.9
        recipe = TrainConfig(n_iters=n_iters, batch_size=32, log_every=10, eval_sequences=256)

    section("The design: matched pairs of training runs")
    arms = {"control": ()}
    for name in ("W2_O", "W2_K", "W1_K"):
        schedule = (Freeze(name, until=until),)
        arms[schedule[0].label] = schedule
    print(
        f"Arms: {list(arms)}.\n"
        f"Units: the training seeds {list(seeds)}. Every seed is trained under every arm with\n"
        "ModelConfig.init_seed = seed and TrainConfig.data_seed = seed: the same initial weights and the\n"
        "same stream of training batches. The runs of one seed differ only by the freeze, so the seed is a\n"
        "matched pair (a block of 4 here) and the per-seed difference Y_s(freeze) - Y_s(control) removes\n"
        "what the seeds do to both runs alike. This is the matched-pairs experiment of Ding ch. 7: the\n"
        "paired estimator with its t interval and test, and the sign-flip randomization test."
    )
    study = training_study(model, task, recipe, arms, seeds=seeds, at_iterations=(until, n_iters),
                           threshold=threshold, probes=("w2o_recall", "w2k_recall", "w1k_recall"),
                           n_jobs=args.n_jobs)

    section("One row per run (seed x arm)")
    acc_until, acc_end = f"in_context_accuracy_at_{until}", f"in_context_accuracy_at_{n_iters}"
    steps = f"restricted_iterations_to_{threshold:g}"
    print(study.units[["seed", "arm", acc_until, acc_end, steps, f"{steps}_censored"]].to_string(index=False))
    print(
        f"\n{steps}: the first logged iteration (every {recipe.log_every}) where held-out in-context accuracy\n"
        f"reaches {threshold}, or n_iters = {n_iters} for a run that never gets there (censored, flagged above:\n"
        f"its true time is larger). Its effect is the difference in RESTRICTED mean iterations to {threshold},\n"
        f"the mean of min(T, {n_iters}): a well-defined quantity with a valid interval, though not the delay in\n"
        "mean iterations, which runs that stop at n_iters cannot show."
    )

    section("Effects of each freeze, with 95% confidence intervals")
    table = study.effects([acc_until, acc_end, steps], adjust="holm")
    print(table.summary(columns=["outcome", "pvalue_adjusted", "pvalue_randomization", "n_censored"]))
    n = len(seeds)
    print(
        "\nestimate: mean over seeds of the paired difference (freeze - control). The 95% interval is the\n"
        f"paired t interval, estimate +- t(n-1) SE with SE = sd of the differences / sqrt(seeds); with {n} seeds\n"
        f"the t quantile is {stats.t.ppf(0.975, n - 1):.2f}, not 1.96: the normal interval would cover far less than\n"
        "95% with so few units (benchmarks/README.md). p is the same t test, so the interval excludes 0 exactly\n"
        "when p < 0.05. If we drew new seeds and redid the study many times, about 95% of the intervals so\n"
        "built would cover the average effect over seeds (exactly so when the differences are normal).\n"
        "pvalue_randomization is the exact sign-flip test, which assumes nothing about normality: under the\n"
        "sharp null that the freeze changes no run, each seed's difference is equally likely to have either\n"
        f"sign, so with {n} seeds it cannot go below 2 / 2^{n} = {2 / 2 ** n:.3g}. p adjusted (Holm) accounts\n"
        "for testing three freezes. When every run misses the threshold, both restricted means are n_iters:\n"
        "the row is 0 with a degenerate interval and says nothing about later iterations."
    )
    timing = study.time_to_threshold()
    print("\nThe Kaplan-Meier view of the same runs (fraction of runs not yet at the threshold, by iteration):")
    print(timing.arms.to_string(index=False))
    if len(timing.logrank):
        print(timing.logrank.summary())
    print("The log-rank test compares whole curves and treats the arms as independent samples (it ignores the\n"
          "pairing, which makes it conservative here); the paired rows above are the primary analysis.")
    exact = study.effects(acc_until, method="randomization", adjust=None)
    print(f"\nThe randomization interval inverts that test: it holds every constant effect the test cannot\n"
          f"reject. With {n} seeds: " + "; ".join(
              f"{e.estimand} [{e.confidence_interval.low:.3g}, {e.confidence_interval.high:.3g}]" for e in exact)
          + (".\nInfinite ends are the honest answer when no p-value can fall below 0.05." if 2 / 2**n > 0.05
             else "."))

    at_until = sorted((e for e in table if e.details["outcome"] == acc_until), key=lambda e: e.estimate)
    print(f"\nReading at iteration {until}, from the largest drop in accuracy to the smallest: "
          + ", ".join(f"{e.estimand} ({e.estimate:+.2f})" for e in at_until) + ".")

    section("Why pairing pays: the same runs analysed as if the seeds were unrelated")
    wide = study.units.pivot(index="seed", columns="arm", values=acc_until)
    rows = []
    for label in study.treatments:
        y = list(wide[label]) + list(wide["control"])
        z = [1] * len(seeds) + [0] * len(seeds)
        rows += [replace(neyman(y, z, pairs=list(seeds) * 2), estimand=f"{label}, paired"),
                 replace(neyman(y, z), estimand=f"{label}, unpaired")]
    print(EstimateTable(rows, title=f"{acc_until}: paired vs unpaired analysis").summary())
    ratios = ", ".join(f"{u.standard_error / p.standard_error:.1f}" for p, u in zip(rows[::2], rows[1::2], strict=True)
                       if p.standard_error > 0)
    print(
        "Same point estimates; the unpaired standard error counts the seed-to-seed spread (a seed that\n"
        "learns fast does so in every arm) as noise, the paired one removes it by differencing within the\n"
        f"seed. Unpaired / paired standard error here: {ratios or 'n/a'}. Pairing gains most when a seed's\n"
        "outcomes are strongly correlated across arms (seeds differ a lot) and can lose a little when they\n"
        "are not. (A completely randomized design, one arm per seed, needs more seeds for the same\n"
        "precision whenever pairing helps: training_study(..., design='randomized').)"
    )

    section("Figures")
    curves = study.plot_curves("in_context_accuracy")
    curves.suptitle("In-context accuracy by freezing schedule (mean over seeds, 95% pointwise band)")
    save(curves, out / "07_freezing_curves.png")
    save(study.plot_curves("w2o_recall"), out / "07_freezing_w2o_recall.png")
    save(study.plot_forest(acc_until), out / "07_freezing_forest.png")
    save(study.time_to_threshold().plot(), out / "07_freezing_time_to_threshold.png")
    print(
        "Left panel: the curves of the arms; right panel: each freeze minus control, seed by seed, with\n"
        f"a band that excludes 0 where the freeze changed accuracy at that iteration. The dotted line is\n"
        f"iteration {until}, where the frozen matrix starts to learn."
    )


if __name__ == "__main__":
    main()
