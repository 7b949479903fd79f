"""``causalattn study``: the main job, and the report it prints and writes.

It answers the question of Figure 3 of Bietti et al. (2023) on one population of training runs: it trains
paired seeds with and without ``W2_O`` frozen until iteration 200 (the training study: does the freeze delay
the induction head?), keeps the control runs' final models, and evaluates the same held-out sequences on each
of them under role-based head ablations (the evaluation study: the induction head of layer 1 and the
previous-token head of layer 0, found in each model by a head scan; the models are the units of inference).
It prints the effects table with confidence intervals and writes the table, the forest plots, the training
curves and the attention maps of seed 0's model to the output folder. An interrupted run resumes: the
finished training runs, their models and the evaluated sequences are kept in the folder.

References
----------
A. Bietti, V. Cabannes, D. Bouchacourt, H. Jegou and L. Bottou, "Birth of a Transformer: A Memory
Viewpoint", NeurIPS 2023, arXiv:2306.00802, Figure 3.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time
from pathlib import Path

from causalattn._pvalues import pvalue_equation
from causalattn.cli.options import StudySetup, check_study_options
from causalattn.cli.parser import STUDY_DEFAULTS

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run ``causalattn study`` with the parsed ``args``; returns the exit status."""
    setup = check_study_options(args)  # before any work: Dask cluster, output folder, training
    with contextlib.ExitStack() as stack:
        return _main_job(args, setup, _dask_client(args, stack))


def _dask_client(args: argparse.Namespace, stack: contextlib.ExitStack):
    """A Dask client for `--scheduler` or `--local-cluster` (closed with ``stack``), else None."""
    if args.scheduler is None and args.local_cluster is None:
        return None
    flag = "--scheduler" if args.scheduler is not None else "--local-cluster"
    from causalattn.lab.studies.engine import import_distributed

    try:
        distributed = import_distributed()
    except ImportError as exc:
        raise ValueError(f"`{flag}`: {exc}") from None
    if args.scheduler is None:
        cluster = stack.enter_context(distributed.LocalCluster(
            n_workers=args.local_cluster, threads_per_worker=1, processes=True, dashboard_address=None))
        return stack.enter_context(distributed.Client(cluster))
    try:
        return stack.enter_context(distributed.Client(args.scheduler, timeout="20s"))
    except (OSError, ValueError, TypeError) as exc:  # unreachable or malformed address
        raise ValueError(f"`--scheduler`: cannot connect to {args.scheduler!r}: {exc}") from None


def _main_job(args: argparse.Namespace, setup: StudySetup, client) -> int:
    import pandas as pd

    from causalattn import EFFECT_COLUMNS, EstimateTable, effects_frame, plot_forest
    from causalattn.lab.studies.evaluation import CONTROL
    from causalattn.lab.studies.models_study import models_study
    from causalattn.lab.studies.storage import slug
    from causalattn.lab.tasks.bigram import BigramTask
    from causalattn.lab.training.config import Freeze, TrainConfig
    from causalattn.lab.training.study import training_study

    start = time.perf_counter()
    progress = not args.no_progress
    out = Path(args.out)
    model_config, task_config, treatments = setup.model_config, setup.task_config, setup.treatments
    out.mkdir(parents=True, exist_ok=True)  # check_study_options made sure it can be
    task = BigramTask(task_config)

    arms = {"control": ()}
    arms.update({Freeze(p, args.freeze_until).label: (Freeze(p, args.freeze_until),) for p in args.freeze})
    recipe = TrainConfig(n_iters=args.study_iters, batch_size=args.study_batch_size,
                         eval_sequences=STUDY_DEFAULTS["study_eval_sequences"])
    at = [t for t in sorted({args.freeze_until, args.study_iters})
          if t % recipe.log_every == 0 or t == args.study_iters]
    where = "" if client is None else f" on the Dask cluster at {client.scheduler.address}"
    print(f"[1/3] training study{where}: {len(arms)} arms x {args.seeds} paired seeds, {args.study_iters} iterations "
          f"each (T = {args.seq_len}, d = {args.d_model}, batches of {args.study_batch_size}; "
          f"kept in {out / 'training'})")
    training = training_study(model_config, task_config, recipe, arms, seeds=range(args.seeds), at_iterations=at,
                              threshold=args.threshold, out_dir=out / "training", n_jobs=args.n_jobs, client=client,
                              keep_models=True, progress=progress)

    models = {f"seed{seed}": training.model(seed) for seed in range(args.seeds)}
    print(f"[2/3] evaluation study over the {len(models)} control models: {len(treatments)} treatments x "
          f"{args.n_sequences} sequences on each model")
    evaluation = models_study(models, task, treatments, n_sequences=args.n_sequences, seed=args.seed,
                              out_dir=out / "evaluation", client=client, progress=progress)
    control = [study.units.loc[study.units["arm"] == CONTROL, "in_context_accuracy"].mean()
               for study in evaluation.studies.values()]
    print(f"      held-out in-context accuracy of the control models: {min(control):.3f} to {max(control):.3f} "
          f"(measured on the weights, {args.n_sequences} sequences each)")

    print("[3/3] effects")
    pooled = [_with_units(e, f"{e.details['n_clusters']} models")
              for e in evaluation.effects("in_context_accuracy", method=args.method)]
    trained = [_with_units(e, f"{e.n} seeds") for e in training.effects(adjust="holm", method=args.method)]
    table = EstimateTable([*pooled, *trained], title="causalattn study: effects vs control")
    print()
    print(table.summary(columns=["outcome", "units", "pvalue_adjusted", "pvalue_randomization"]))
    print(f"\nEvaluation rows ({len(models)} models as the units): the effect averaged over the models and their "
          f"sequences; CI and p: {_procedure(args.method, len(models), 'model means')}. They cover the population "
          "of training runs of this recipe; n counts the sequences of all models.")
    print(f"Training rows (seeds as the units): CI and p: {_procedure(args.method, args.seeds, 'paired differences')}"
          "; with n paired seeds the sign-flip p-value cannot go below 2/2^n "
          f"= {2 / 2 ** args.seeds:.3g} here (more seeds: --seeds).")
    print("Both: a CI excludes 0 exactly when p < 0.05; p adjusted: Holm across treatments within each outcome; "
          "pvalue_randomization: sign flips of whole models (seeds).")
    timing = training.time_to_threshold()
    logrank = {test.details["treatment"]: test for test in timing.logrank}
    for e in trained:
        if "restricted_at" not in e.details:
            continue
        print(f"{e.estimand}, {e.details['outcome']}: the {e.details['estimand']}; {e.details['n_censored']} of "
              f"{2 * e.n} runs never reached {args.threshold:g}. Its interval is valid for that quantity, not for "
              f"the delay in mean iterations, which no run beyond {args.study_iters} can show.")
        test = logrank.get(e.estimand)
        print(f"  Kaplan-Meier view ({out / 'time_to_threshold.png'}): "
              + (f"log-rank chi2 = {test.statistic:.3g} (1 df), {pvalue_equation(test.pvalue, digits=2)} "
                 "(the arms as independent samples: it ignores the pairing)" if test is not None else
                 f"no run of either arm reached {args.threshold:g}: no log-rank test"))

    print(f"\nPer model (each interval covers that model's sequences only; {out / 'per_model.csv'}, "
          f"{out / 'per_model'}/*.png):")
    per_model = []
    for label in evaluation.treatments:
        rows = evaluation.per_model(label, method=args.method)  # computed once, reused by the plots and maps below
        per_model.append(effects_frame(rows).assign(model=[e.estimand for e in rows], treatment=label,
                                                    head=[e.details["treatment"] for e in rows]))
        estimates = [e.estimate for e in rows]
        try:
            q = evaluation.heterogeneity(label)
            spread = (f"Cochran's Q = {q.statistic:.3g} ({q.dof:g} df), {pvalue_equation(q.pvalue, digits=2)}, "
                      f"I^2 = {q.details['i_squared']:.0%}")
        except ValueError:  # a model whose sequences all changed by the same amount
            spread = "Cochran's Q undefined (a model's effect has standard error 0)"
        heads = sorted({e.details["treatment"] for e in rows})
        print(f"  {label}: heads {', '.join(heads)}; effects {min(estimates):.3g} to {max(estimates):.3g}; {spread}")

    frame = effects_frame(table).assign(n_models=pd.array([e.details.get("n_clusters") for e in table], dtype="Int64"),
                                        heads=[e.details.get("heads") for e in table])
    frame.to_csv(out / "effects.csv", index=False)
    per_model = pd.concat(per_model, ignore_index=True)
    per_model[["model", "head", *EFFECT_COLUMNS]].to_csv(out / "per_model.csv", index=False)
    accuracy = EstimateTable([e for e in table if e.details.get("outcome", "").startswith("in_context_accuracy")],
                             title="Effect on held-out in-context accuracy")
    written = [out / "effects.csv", out / "per_model.csv", out / "forest.png"]
    plot_forest(accuracy, xlabel="change in in-context accuracy").savefig(out / "forest.png", dpi=120)
    (out / "per_model").mkdir(exist_ok=True)
    for label in evaluation.treatments:
        evaluation.plot_models(label, method=args.method).savefig(out / "per_model" / f"{slug(label)}.png", dpi=120)
    training.plot_curves().savefig(out / "training_curves.png", dpi=120)
    timing.plot().savefig(out / "time_to_threshold.png", dpi=120)
    written += [out / "per_model", out / "training_curves.png", out / "time_to_threshold.png"]

    maps = out / "attention"
    maps.mkdir(exist_ok=True)
    first, study = next(iter(evaluation.studies.items()))
    study.plot_attention(chars=task.chars).savefig(maps / "control.png", dpi=100)
    for label in evaluation.treatments:  # the first held-out sequence under each intervention, on seed 0's model
        head = evaluation.per_model(label, method=args.method)[0].details["treatment"]
        study.plot_attention(head, chars=task.chars).savefig(maps / f"{slug(label)}.png", dpi=100)
    written.append(maps)
    print()
    print(f"wrote to {out}/: " + ", ".join(p.name for p in written)
          + f" ({1 + len(treatments)} attention maps of model {first}: control and each treatment)")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def _procedure(method: str, n: int, units: str) -> str:
    """What the interval and p-value of ``--method`` are, over ``n`` ``units`` (``"model means"``)."""
    return {"t": f"the t interval over the {n} {units} ({n - 1} df) and the same t test",
            "normal": f"the normal interval over the {n} {units} and the same z test (too narrow with few units)",
            "randomization": f"the sign-flip test over the {n} {units} and the interval inverting it (no p-value "
                             f"below 2/2^{n}: the 95% interval is the whole line while that exceeds 0.05)",
            "bootstrap": f"the BCa bootstrap interval over the {n} {units} and the p-value inverting it",
            }[method]


def _with_units(estimate, units: str):
    """``estimate`` with ``details["units"]``, the printed column that says what the interval is over."""
    return dataclasses.replace(estimate, details={**estimate.details, "units": units})
