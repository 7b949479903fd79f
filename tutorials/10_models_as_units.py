"""Tutorial 10: models as units. Does an ablation's effect hold for other training runs, or only for this model?

Tutorial 6 ablated heads of one model: its intervals are about the population
of sequences the task generates, for that one trained model. A reader of an
ablation study usually assumes more: that retraining with another seed would
give the same effect. Here several models of one recipe (training seeds) are
evaluated on the same held-out sequences under every arm. Sequences are nested
in models, and the models are the units of inference: the pooled interval is
the t interval on the per-model mean effects, with G - 1 degrees of freedom for
G models (``causalattn.lab.studies.models_study``, built on ``causalattn.clustered_effect``).

The models are vanilla two-layer transformers with two heads per layer. Which
of the two heads of a layer becomes the previous-token head is decided by the
seed, so "ablate head 1 of layer 0" is a different treatment in every model. A
treatment named by the head's role ("ablate the head with the highest
previous-token score in layer 0") is resolved on each model by a head scan.
A role can also fix that head's attention pattern instead of ablating it
(``RolePattern("previous_token", 0)``, label ``pattern_role:previous_token@L0:uniform``),
resolved and recorded the same way.

Run:  python tutorials/10_models_as_units.py [--quick] [--out tutorials/output]
(the full run trains 4 models of d = 64 on length-64 sequences for 300
iterations, a few minutes on 2 cores, and keeps their checkpoints in
``--out/10_models`` so that a second run skips the training; --quick trains 3
tiny models briefly, for tests).
"""

from __future__ import annotations

import numpy as np
import torch
from _common import parse_args, save, section

from causalattn import EstimateTable, paired_effect, pvalue_equation
from causalattn.lab import (
    BigramTask,
    ModelConfig,
    RepeatedTokensConfig,
    RepeatedTokensTask,
    RoleAblation,
    TaskConfig,
    TrainConfig,
    head_scan,
    models_study,
    train,
)

# How long the full run takes (shown by --help).
RUNTIME = "a few minutes on 2 cores (4 models x 300 iterations, then the study); --quick takes seconds"


def options(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="3 tiny models, short runs (for tests)")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], options, runtime=RUNTIME)
    out = args.out
    torch.set_num_threads(1)  # small models train fastest on one thread
    if args.quick:
        d_model, seq_len, n_iters, seeds, n_sequences = 32, 32, 40, (0, 1, 2), 40
    else:
        d_model, seq_len, n_iters, seeds, n_sequences = 64, 64, 300, (0, 1, 2, 3), 300
    task_config = TaskConfig(seq_len=seq_len)
    task = BigramTask(task_config)

    section("Several training runs of one recipe")
    models = {}
    for seed in seeds:
        config = ModelConfig(kind="vanilla", n_heads=2, d_model=d_model, max_seq_len=seq_len, init_seed=seed)
        recipe = TrainConfig(n_iters=n_iters, batch_size=32, log_every=n_iters, eval_sequences=128, data_seed=seed)
        result = train(config, task_config, recipe, checkpoint_dir=out / "10_models" / f"seed{seed}", progress=False)
        models[f"seed{seed}"] = result.model
        accuracy = result.history["in_context_accuracy"].iloc[-1]
        print(f"  seed{seed}: held-out in-context accuracy {accuracy:.3f} after {n_iters} iterations")
    print(
        f"\n{len(seeds)} vanilla transformers (2 layers x 2 heads, d = {d_model}), trained on the bigram task with\n"
        "triggers (tutorial 5). Only the seed differs: it sets the initial weights and the stream of training\n"
        "batches. These models are a sample from a population, the training runs this recipe produces."
    )

    section("Which head does what: a head scan of each model")
    triggers = set(task.fixed_triggers.tolist())
    scan_task = RepeatedTokensTask(RepeatedTokensConfig(
        length=len(triggers), vocab_size=task.vocab_size,
        excluded=tuple(t for t in range(task.vocab_size) if t not in triggers)))
    scans = {name: head_scan(model, scan_task, 32) for name, model in models.items()}
    scores = {name: scan.scores.set_index(["layer", "head"]) for name, scan in scans.items()}
    print("previous-token score of the layer-0 heads, induction score of the layer-1 heads:")
    for name, s in scores.items():
        print(f"  {name}:  L0H0 {s.loc[(0, 0), 'previous_token_score']:.2f}  L0H1 "
              f"{s.loc[(0, 1), 'previous_token_score']:.2f}   |   L1H0 {s.loc[(1, 0), 'induction_score']:.2f}  "
              f"L1H1 {s.loc[(1, 1), 'induction_score']:.2f}")
    print(
        "\nThe scan feeds each model its triggers twice in a row and measures where the heads look (Olsson et\n"
        "al. 2022): the previous-token score is the attention to position t - 1, the induction score the\n"
        "attention to the token that followed the previous occurrence of the current one. The models learned\n"
        "to copy after the 5 fixed triggers only, so the scan repeats the triggers, not random tokens. These\n"
        "scores describe attention; whether a head matters is the causal question the ablations answer."
    )

    section("Treatments by role and by index")
    first = next(iter(models))
    previous = RoleAblation("previous_token", 0)
    induction = RoleAblation("induction", 1)
    index_previous = previous.resolve(scans[first])
    index_induction = induction.resolve(scans[first])
    both_l1 = "ablate:L1H0:zero+ablate:L1H1:zero"
    treatments = [previous, index_previous, induction, index_induction, both_l1]
    print(
        f"  {previous.label:36s} each model's own previous-token head of layer 0\n"
        f"  {index_previous.label:36s} the head that role picked in {first}, used in every model\n"
        f"  {induction.label:36s} each model's own top induction head of layer 1\n"
        f"  {index_induction.label:36s} the head that role picked in {first}, used in every model\n"
        f"  {both_l1:36s} both heads of layer 1"
    )
    print(
        f"\nThe index treatments are what a study of {first} alone would carry over to the other seeds: the head\n"
        f"it found in {first}."
    )
    study = models_study(models, task, treatments, n_sequences=n_sequences, seed=0, scan_task=scan_task,
                         scan_sequences=32, progress=False)
    print(f"\n{study!r}")

    section("Which head each model used")
    heads = study.heads[study.heads["treatment"].str.startswith("ablate_role")]
    print(heads.pivot(index="model", columns="treatment", values="label").to_string())
    moved = sorted(set(heads.loc[heads["treatment"] == previous.label, "label"]))
    print(
        f"\nThe role resolved to {len(moved)} different head(s) across the models ({', '.join(moved)}): the\n"
        "index of a head is an accident of the seed, its role is what the recipe reproduces. The head and\n"
        "its role score are also in study.heads and in details['heads'] of every pooled row."
    )

    section("Pooled over models: the effect on in-context accuracy (models as clusters)")
    table = study.effects("in_context_accuracy")
    print(table.summary(columns=["pvalue_adjusted"]))
    role_row, index_row = table[0], table[1]
    print(
        f"\nEach row averages the paired difference over the {n_sequences} sequences of each model, then over the\n"
        f"{len(models)} models. The interval is the t interval on the {len(models)} model means with "
        f"{len(models) - 1} degrees of freedom,\n"
        "and the p-value comes from the same t test (Holm-adjusted across the 5 treatments in pvalue_adjusted).\n"
        f"Ablating the previous-token head by role: {role_row.estimate:+.3f}, 95% CI "
        f"[{role_row.confidence_interval.low:.3f}, {role_row.confidence_interval.high:.3f}].\n"
        f"Ablating {index_previous.label} in every model: {index_row.estimate:+.3f}, 95% CI "
        f"[{index_row.confidence_interval.low:.3f}, {index_row.confidence_interval.high:.3f}].\n"
        "In a model whose previous-token head sits at the other index, the index treatment ablates a head\n"
        "that does something else: the models disagree, the pooled effect is diluted, and its interval\n"
        "widens (in the full run, one seed of four has its previous-token head at the other index)."
    )

    section("Per model vs pooled: which interval covers what")
    per_model = study.per_model(previous)
    print(per_model.summary(columns=["treatment"]))
    d = study.differences(previous)
    naive = paired_effect(d["difference"].to_numpy(), np.zeros(len(d)))
    rows = [role_row, naive]
    print()
    print(EstimateTable(rows, title=f"{previous.label}: pooled over models vs all sequences as if independent")
          .summary())
    widths = [e.confidence_interval.high - e.confidence_interval.low for e in per_model]
    pooled_width = role_row.confidence_interval.high - role_row.confidence_interval.low
    naive_width = naive.confidence_interval.high - naive.confidence_interval.low
    print(
        f"\nInterval widths: per model {min(widths):.3f} to {max(widths):.3f}; pooled over models "
        f"{pooled_width:.3f};\nall {len(d)} sequences as if independent {naive_width:.3f}.\n"
        "\n"
        "* A per-model interval covers that one model's effect over the population of sequences the task\n"
        "  generates. Drawing fresh sequences and recomputing it, 95% of such intervals cover that model's\n"
        "  average effect. It says nothing about another seed.\n"
        "* The pooled interval covers the average effect over the population of training runs of this\n"
        "  recipe. Its standard error is the spread of the model means: it counts how much models differ as\n"
        "  well as the sampling noise of their sequences, and with G models its t quantile has G - 1\n"
        f"  degrees of freedom ({len(models) - 1} here: a quantile well above 1.96). Hence the width: the honest\n"
        "  price of a claim about training runs rather than about one trained model. More sequences per\n"
        "  model cannot shrink it below the between-model spread; only more models can.\n"
        "* Treating all sequences as independent (the last row) mixes the two: it aims at the population\n"
        "  of training runs but has the standard error of one big sample of sequences. When models differ it\n"
        "  is far too narrow. benchmarks/README.md measures it by simulation: with 500 sequences per model and\n"
        "  a between-model spread of the effect that is small next to the per-sequence noise, it covers the\n"
        "  population effect in well under half of the data sets, while the pooled t interval stays near 95%."
    )

    section("Do the models differ? Cochran's Q")
    for treatment in (previous, index_previous, induction, both_l1):
        label = treatment if isinstance(treatment, str) else treatment.label
        try:
            test = study.heterogeneity(treatment)
        except ValueError as error:  # a model whose differences are all equal: Q undefined
            print(f"  {label:36s} {error}")
            continue
        print(f"  {label:36s} Q = {test.statistic:8.1f} on {test.dof:.0f} df, "
              f"{pvalue_equation(test.pvalue, digits=2)}, "
              f"I^2 = {test.details['i_squared']:.2f}, tau^2 = {test.details['tau_squared']:.2g}")
    print(
        "\nQ sums the squared gaps between each model's effect and their weighted mean, in units of each\n"
        "model's standard error; under equal effects it is about chi-square with G - 1 df. I^2 is the share\n"
        "of the spread beyond sampling noise, tau^2 the between-model variance (DerSimonian-Laird). With\n"
        "hundreds of sequences per model, Q detects even small differences between models: the per-model\n"
        "intervals are narrow. That is one more reason to pool with the models as units: the effect of a\n"
        "treatment is a distribution over training runs, and the pooled interval is about its mean. Compare\n"
        "the index treatment's Q (inflated by any model where the index misses the role) with the role's."
    )

    section("Redundancy: the induction role and both heads of layer 1")
    print(study.per_model(induction).summary(columns=["treatment"]))
    print()
    print(study.per_model(both_l1).summary())
    print(
        "\nA role names one head per model, the one with the highest score. When both heads of layer 1 learned\n"
        "to copy, ablating one of them leaves the other, and the effect is small; ablating both removes the\n"
        "in-context prediction. The scan ranks heads by their attention, the ablation measures what they do:\n"
        "a high induction score does not make a head the one the model cannot do without."
    )

    section("Figures")
    save(study.plot_models(previous), out / "10_models_previous_token_role.png")
    save(study.plot_models(index_previous), out / "10_models_previous_token_index.png")
    save(scans[first].plot(), out / "10_head_scan_first_model.png")
    print(
        "\nEach forest plot has one row per model (its own paired interval, labelled with the head it used)\n"
        "and, last, the pooled effect over models with its wider interval."
    )


if __name__ == "__main__":
    main()
