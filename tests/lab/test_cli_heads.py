"""`causalattn heads` and `causalattn ablate --prompts/--treatments/--outcome`: on a tiny Llama saved as a
checkpoint folder (the same numbers as the Python API, resuming, bad flags before loading), and with SmolLM2 on
the bundled IOI prompts."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from causalattn.cli import main
from causalattn.lab.studies.head_table import HEAD_COLUMNS

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

pytestmark = pytest.mark.usefixtures("one_thread")

REPO = Path(__file__).resolve().parents[2]
WORDS = ["<s>", "</s>", *(f"w{i}" for i in range(60)), "Mary", "John", "Tom", "gave", "a", "to", "the", "book",
         "Then", "went", "store", "and"]
TINY = ["--length", "6", "--n-sequences", "8", "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A random 3-layer Llama (4 query heads sharing 2 key/value heads) with a word-level tokenizer, as a folder."""
    import torch

    folder = tmp_path_factory.mktemp("tiny_llama")
    torch.manual_seed(0)
    config = transformers.LlamaConfig(num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
                                      hidden_size=32, intermediate_size=64, vocab_size=len(WORDS),
                                      max_position_embeddings=64, bos_token_id=0, eos_token_id=1)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    words = tokenizers.Tokenizer(tokenizers.models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="w0"))
    words.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    transformers.PreTrainedTokenizerFast(tokenizer_object=words, bos_token="<s>", eos_token="</s>",
                                         unk_token="w0").save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    rows = []
    for i, (a, b, s) in enumerate([("Mary", "John", "John"), ("Tom", "Mary", "Tom"), ("John", "Tom", "Tom"),
                                   ("Mary", "Tom", "Mary"), ("Tom", "John", "John"), ("John", "Mary", "Mary")]):
        answer = a if s == b else b
        names = [f"w{3 * i + k + 1}" for k in range(3)]
        rows.append((f"Then {a} and {b} went to the store {s} gave a book to", f" {answer}", f" {s}",
                     f"Then {names[0]} and {names[1]} went to the store {names[2]} gave a book to"))
    path = tmp_path_factory.mktemp("prompts") / "prompts.csv"
    pd.DataFrame(rows, columns=["prompt", "answer", "distractor", "counterfactual"]).to_csv(path, index=False)
    return path


def test_heads_writes_one_row_per_head_equal_to_the_api_and_resumes(tiny_model, tmp_path, capsys):
    from causalattn.lab.models.pretrained import load_pretrained
    from causalattn.lab.studies.head_map import head_map
    from causalattn.lab.tasks.repeated import RepeatedTokensTask

    out = tmp_path / "heads"
    assert main(["heads", "--model", tiny_model, *TINY, "--kind", "zero", "--adjust", "by", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "discoveries (by, alpha = 0.05)" in printed and "p-values adjusted across all 12 heads" in printed
    table = pd.read_csv(out / "head_effects.csv")
    assert list(table.columns) == list(HEAD_COLUMNS) and len(table) == 12
    assert (out / "head_map.png").stat().st_size > 0
    model, tokenizer = load_pretrained(tiny_model, progress=False)
    api = head_map(model, RepeatedTokensTask.from_tokenizer(tokenizer, 6), kind="zero", n_sequences=8, batch_size=4,
                   progress=False).to_frame(adjust="by")
    pd.testing.assert_frame_equal(table, api, check_dtype=False)
    files = sorted((out / "heads" / "heads").iterdir())
    stamps = [p.stat().st_mtime_ns for p in files]
    assert len(files) == 2 * 13  # 2 batches x (12 heads + control)
    assert main(["heads", "--model", tiny_model, *TINY, "--kind", "zero", "--out", str(out), "--method",
                 "randomization"]) == 0
    assert [p.stat().st_mtime_ns for p in sorted((out / "heads" / "heads").iterdir())] == stamps  # nothing redone
    assert (pd.read_csv(out / "head_effects.csv")["method"] == "paired-randomization-exact").all()
    assert main(["heads", "--model", tiny_model, *TINY, "--kind", "zero", "--length", "7", "--out", str(out)]) == 2
    assert "other units" in capsys.readouterr().err


def test_heads_on_prompts_patching_and_screening(tiny_model, prompt_file, tmp_path, capsys):
    out = tmp_path / "screen"
    assert main(["heads", "--model", tiny_model, "--prompts", str(prompt_file), "--kind", "patch", "--screen", "3",
                 "--batch-size", "4", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sample split (seed 0): heads chosen by attribution patching (|AtP| of logit_diff) on 3 of the 6 " \
           "prompts" in printed
    atp = pd.read_csv(out / "atp.csv")
    assert len(atp) == 12 and atp["selected"].sum() == 3
    table = pd.read_csv(out / "head_effects.csv")
    assert len(table) == 3 and (table["n"] == 3).all() and (table["outcome"] == "logit_diff").all()
    assert set(zip(table["layer"], table["head"], strict=True)) == set(
        zip(atp.loc[atp["selected"], "layer"], atp.loc[atp["selected"], "head"], strict=True))


@pytest.mark.parametrize("flags, match", [
    (["--layers", "1", "1"], r"`--layers` names a layer twice: \[1\]"),
    (["--layers", "-1"], "`--layers` must be an integer >= 0, got -1"),
    (["--alpha", "1.5"], r"`--alpha` must be a level in \(0, 1\), got 1.5"),
    (["--alpha", "0"], r"`--alpha` must be a level in \(0, 1\)"),
    (["--alpha", "nan"], r"`--alpha` must be a level in \(0, 1\), got nan"),
    (["--screen", "0"], "`--screen` must be a positive integer, got 0"),
    (["--screen", "2", "--n-sequences", "3"], "`--n-sequences` must be an integer >= 4, got 3"),
    (["--length", "1"], "`--length` must be an integer >= 2, got 1"),
    (["--seed", "-1"], r"`--seed` must be an integer in \[0, 9223372036854775807\], got -1"),
    (["--seed", str(2**70)], r"`--seed` must be an integer in \[0, 9223372036854775807\]"),  # was after loading
    (["--local-cluster", "0"], "`--local-cluster` must be a positive integer, got 0"),
    (["--model", "/nonexistent/model.gguf"], "`--model`: '/nonexistent/model.gguf' is neither a known model"),
    (["--per-forward", "0"], "`--per-forward` must be a positive integer, got 0"),
    (["--n-jobs", "0"], "`--n-jobs` must be a non-zero integer"),
    (["--kind", "patch"], "`--kind` patch patches each head from the prompt's counterfactual"),
    (["--outcome", "logit_diff"], "`--outcome` 'logit_diff' is not an outcome of sequences"),
    (["--prompts", "missing.csv"], "`--prompts`: missing.csv is not a file"),
    (["--prompts", "PROMPTS", "--task", "text"], "`--task` and `--prompts`"),
    (["--prompts", "PROMPTS", "--n-sequences", "5"], "`--n-sequences` and `--prompts`"),
    (["--device", "toaster"], "`--device` must name a torch device"),
    (["--method", "bootstrap", "--n-sequences", "4"], "`--method` bootstrap needs at least 5 units per row, and "
     "`--n-sequences` gives 4"),
    (["--method", "bootstrap", "--n-sequences", "9", "--screen", "3"], "`--method` bootstrap needs at least 5 "
     "units per row, and `--n-sequences` gives 4"),  # the screen confirms on half of the 9
    (["--method", "bootstrap", "--prompts", "PROMPTS", "--screen", "2"], "`--method` bootstrap needs at least 5 "
     "units per row, and `--prompts` gives 3"),
])
def test_heads_checks_its_flags_before_loading_the_model(flags, match, prompt_file, tmp_path, capsys):
    flags = [str(prompt_file) if f == "PROMPTS" else f for f in flags]
    out = tmp_path / "never"
    assert main(["heads", "--model", "no-such-model", "--no-progress", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(match, err), err
    assert not out.exists()


def test_heads_names_its_adjustment_adjust(capsys):
    for flags, match in ((["--adjust", "bonferroni"], "argument --adjust: invalid choice: 'bonferroni'"),
                         (["--correction", "by"], "unrecognized arguments: --correction by")):  # renamed: --adjust
        with pytest.raises(SystemExit) as exit_:
            main(["heads", "--model", "no-such-model", *flags])
        assert exit_.value.code == 2 and match in capsys.readouterr().err


@pytest.fixture(scope="module")
def one_answer(tmp_path_factory):
    """12 prompts whose answer is always Mary (distractor John): a head's output moves every logit difference
    alike, so most heads of the random model have an effect and some do not."""
    rows = [(f"Then w{i} and w{i + 1} went to the store w{i + 2} gave a book to", " Mary", " John")
            for i in range(1, 13)]
    path = tmp_path_factory.mktemp("one_answer") / "prompts.csv"
    pd.DataFrame(rows, columns=["prompt", "answer", "distractor"]).to_csv(path, index=False)
    return path


@pytest.mark.parametrize("method", ["t", "normal", "randomization", "bootstrap"])
def test_heads_csv_has_one_row_per_head_and_coherent_intervals_for_every_method(method, tiny_model, one_answer,
                                                                                tmp_path):
    out = tmp_path / "coherent"
    assert main(["heads", "--model", tiny_model, "--prompts", str(one_answer), "--kind", "zero", "--method", method,
                 "--batch-size", "12", "--alpha", "0.01", "--adjust", "by", "--no-progress", "--out", str(out)]) == 0
    table = pd.read_csv(out / "head_effects.csv")
    assert len(table) == 12 and len(set(zip(table["layer"], table["head"], strict=True))) == 12
    assert table["method"].str.startswith("paired-").all() and table["pvalue"].notna().all()
    excludes = (table["ci_low"] > 0) | (table["ci_high"] < 0)
    tie = np.isclose(table["pvalue"], 0.05, rtol=1e-9) & (method in ("t", "normal"))  # an end of the interval is 0
    assert ((excludes == (table["pvalue"] < 0.05)) | tie).all(), table[["ci_low", "ci_high", "pvalue"]]
    assert 0 < (table["pvalue"] < 0.05).sum() < 12  # both sides of the rule are checked
    assert table["discovery"].tolist() == (table["pvalue_by"] < 0.01).tolist()


@pytest.mark.parametrize("content, match", [
    ("prompt,answr\na,b\nc,d\n", "has no column 'answer' (its columns: ['prompt', 'answr'])"),
    ("prompt,answer\nThen Mary gave a book to, Mary\nThen John gave a book to,  \n",
     "column 'answer' is empty in row 1 (line 3 of the file)"),
    ("prompt,answer,distractor\nThen Mary gave a book to, Mary,\nThen John gave a book to, Tom, John\n",
     "column 'distractor' is empty in row 0 (line 2 of the file)"),
    ("prompt,answer\nThen Mary gave a book to, Mary\n", "holds 1 prompt(s); a study needs at least 2"),
    ("", "is not a readable CSV file"),
    # an unquoted comma on every line: pandas took "Then" as the index and the prompt lost its first word, silently
    ("prompt,answer\nThen, Mary gave a book to, John\nThen, John gave a book to, Mary\n",
     "line 2 has 3 fields, the header 2: a prompt or answer that contains a comma must be quoted"),
    ("prompt,answer,answer\nThen Mary gave a book to, John, Tom\nThen John gave a book to, Mary, Tom\n",
     "names column(s) ['answer'] more than once"),
])
def test_a_bad_prompt_file_names_the_column_and_row_before_loading(content, match, tmp_path, capsys):
    path = tmp_path / "prompts.csv"
    path.write_text(content)
    for command in ("heads", "ablate"):
        assert main([command, "--model", "no-such-model", "--prompts", str(path), "--no-progress",
                     "--out", str(tmp_path / "out")]) == 2
        assert match in capsys.readouterr().err


def test_errors_that_need_the_model_name_their_flag(tiny_model, tmp_path, capsys):
    long = tmp_path / "long.csv"
    pd.DataFrame({"prompt": [" ".join(["Mary"] * 70), "Then Tom gave a book to"],
                  "answer": [" John", " Mary"]}).to_csv(long, index=False)
    for flags, match in ((["--layers", "3", *TINY], "`--layers`: layer 3 is out of range: the model has 3"),
                         (["--prompts", str(long)], "row 0 is 70 prompt + 1 answer tokens, longer than the model's "
                                                    "context max_len=64"),
                         (["--task", "text", *TINY], "`--length`: `passages`: passage 0"),
                         (["--screen", "13", *TINY], "`--screen` 13 is more than the 12 heads screened")):
        assert main(["heads", "--model", tiny_model, "--no-progress", *flags, "--out", str(tmp_path / "x")]) == 2
        assert match in capsys.readouterr().err, flags
    # a folder of a map with another --kind: the message named the Python argument `out_dir`
    small = ["--model", tiny_model, "--layers", "2", "--length", "6", "--n-sequences", "4", "--no-progress", "--out",
             str(tmp_path / "map")]
    assert main(["heads", *small, "--kind", "zero"]) == 0
    capsys.readouterr()
    assert main(["heads", *small, "--kind", "mean"]) == 2
    assert "`--out` '" in capsys.readouterr().err


def test_ablate_with_treatments_and_an_outcome_on_sequences(tiny_model, tmp_path, capsys):
    out = tmp_path / "ablate"
    flags = ["--model", tiny_model, "--length", "6", "--n-sequences", "6", "--batch-size", "3", "--no-progress"]
    assert main(["ablate", *flags, "--treatments", "ablate:L1H0:zero", "ablate:L0H1:mean+ablate:L2H3:zero",
                 "--outcome", "in_context_loss", "--out", str(out)]) == 0
    table = pd.read_csv(out / "effects.csv")
    assert list(table["treatment"]) == ["ablate:L1H0:zero", "ablate:L0H1:mean+ablate:L2H3:zero"]
    assert (table["outcome"] == "in_context_loss").all() and not (out / "head_scan.csv").exists()  # no scan needed
    assert main(["ablate", *flags, "--treatments", "ablate:L3H0:zero", "--out", str(tmp_path / "x")]) == 2
    assert "`--treatments`: `layer` 3 of 'ablate:L3H0:zero' is out of range" in capsys.readouterr().err
    for bad, match in ((["--treatments", "ablate:L1H0"], "`--treatments`: `label` 'ablate:L1H0'"),
                       (["--treatments", "ablate:L1H0:zero", "ablate:L1H0:zero"], "a label is given twice"),
                       (["--treatments", "patch:L1H0:counterfactual"], "give `--prompts` with a counterfactual"),
                       (["--outcome", "accuracy"], "`--outcome` 'accuracy' is not an outcome of sequences"),
                       (["--decompose", "--treatments", "ablate:L1H0:zero"], "`--decompose` decomposes the scan's")):
        assert main(["ablate", "--model", "no-such-model", *bad, "--out", str(tmp_path / "never")]) == 2
        assert match in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


PATHS = ["path:L0H0->logits:zero", "path:L0H1->L2H3.k:mean", "path:L1H0->logits:resample+ablate:L2H1:zero",
         "path:L0H2->L1H0.q:mean:overall"]


def test_ablate_path_role_and_combined_labels_equal_the_api(tiny_model, prompt_file, tmp_path):
    from causalattn import EstimateTable, effects_frame
    from causalattn.lab.analysis.head_scan import head_scan
    from causalattn.lab.interventions import parse_treatment
    from causalattn.lab.interventions.roles import resolve_roles
    from causalattn.lab.models.pretrained import load_pretrained
    from causalattn.lab.studies.evaluation import evaluation_study
    from causalattn.lab.studies.prompts import prompt_study
    from causalattn.lab.tasks.prompts import PromptSet, read_prompts
    from causalattn.lab.tasks.repeated import RepeatedTokensTask

    model, tokenizer = load_pretrained(tiny_model, progress=False)
    task = RepeatedTokensTask.from_tokenizer(tokenizer, 6, vocab_size=model.vocab_size)
    role = "path_role:previous_token@L0->induction.v:mean"
    resolved = resolve_roles(parse_treatment(role), head_scan(model, task, 16, seed=1, batch_size=3)).label
    assert resolved.startswith("path:L0H") and "->L" in resolved  # the command's scan draws from seed + 1
    out = tmp_path / "sequences"
    assert main(["ablate", "--model", tiny_model, "--length", "6", "--n-sequences", "6", "--batch-size", "3",
                 "--no-progress", "--treatments", *PATHS, role, "--out", str(out)]) == 0
    study = evaluation_study(model, task, [*PATHS, resolved], n_sequences=6, batch_size=3, reference_size=32)
    api = EstimateTable([e for outcome in ("in_context_accuracy", "in_context_loss")
                         for e in study.effects(outcome, adjust="holm")])
    table = pd.read_csv(out / "effects.csv")
    pd.testing.assert_frame_equal(table, effects_frame(api), check_dtype=False)
    assert list(table["treatment"][:5]) == [*PATHS, resolved] and (table["unit"] == "sequence").all()
    assert (table.query("outcome == 'in_context_loss'")["standard_error"] > 0).all()  # every path changes the loss

    labels = ["path:L0H0->logits:zero", "path:L1H2->L2H0.v:resample",
              "patch:L1H0:counterfactual+path:L0H1->logits:mean"]
    out = tmp_path / "prompts"
    assert main(["ablate", "--model", tiny_model, "--prompts", str(prompt_file), "--batch-size", "4", "--no-progress",
                 "--treatments", *labels, "--out", str(out)]) == 0
    prompts = PromptSet.from_frame(tokenizer, read_prompts(prompt_file), distractor="distractor",
                                   counterfactual="counterfactual", max_len=model.max_len, vocab_size=model.vocab_size)
    api = prompt_study(model, prompts, labels, batch_size=4).effects("logit_diff", adjust="holm")
    table = pd.read_csv(out / "effects.csv")
    pd.testing.assert_frame_equal(table, effects_frame(api), check_dtype=False)
    assert (table["unit"] == "prompt").all() and api.title.endswith("6 prompts")  # as in heads' head_effects.csv


@pytest.mark.parametrize("labels, match", [
    (["path:L0H0->L1H0:zero"], "must end at 'logits' or at a receiver's input such as 'L1H0.k'"),
    (["path:L1H0->L0H0.k:zero"], "is layer 0, not after the sender's layer 1"),  # a path to an earlier layer
    (["path:L1H0->L1H2.k:zero"], "is layer 1, not after the sender's layer 1"),
    (["path:L0H0->L1H0.key:zero"], "the receiver's input must be one of ['q', 'k', 'v']"),
    (["path:L0H0-"], "must be quoted: the shell reads '>' as a redirection"),  # 'path:L0H0->logits:zero' unquoted
    (["path:L0H0->logits:counterfactual"], "patching a path from a source sequence is not supported"),
    (["path:L0H0->logits:zero", "path:L00H0->logits:zero"], "a label is given twice"),
    (["path:L0H0->logits:zero+ablate:L0H0:mean"], "reads the clean z of L0H0, which 'ablate:L0H0:mean' replaces"),
    (["path:L0H0->L1H0.k:zero+path:L0H0->L1H0.k:mean"], "both replace the path to L1H0.k of L0H0"),
    (["path_role:induction->logit:zero"], "must end at 'logits' or at a receiver's input"),
])
def test_ablate_refuses_bad_path_labels_before_loading(labels, match, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(["ablate", "--model", "no-such-model", "--treatments", *labels, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "`--treatments`: " in err and match in err, err
    assert not out.exists()


def test_ablate_refuses_labels_that_do_not_fit_the_model_before_its_head_scan(tiny_model, tmp_path, capsys):
    from causalattn.lab.analysis.head_scan import head_scan
    from causalattn.lab.models.pretrained import load_pretrained
    from causalattn.lab.tasks.repeated import RepeatedTokensTask

    flags = ["--model", tiny_model, "--length", "6", "--n-sequences", "6", "--batch-size", "3", "--no-progress",
             "--out", str(tmp_path / "x")]
    for labels, match in (
            (["path:L0H9->logits:zero"], "`--treatments`: `head` 9 of 'path:L0H9->logits:zero' is out of range"),
            (["path:L0H0->L5H0.k:zero"], "`--treatments`: `receiver` L5H0 of 'path:L0H0->L5H0.k:zero' is out of "
                                         "range: the model has 3 layer(s)"),
            (["ablate_role:induction:zero", "path_role:induction@L7->logits:zero"], "`--treatments`: `layer` 7 of "
             "'path_role:induction@L7->logits:zero' is out of range"),
            (["path_role:induction@L2->induction.k:zero"], "`--treatments`: 'path_role:induction@L2->induction.k:"
             "zero': no receiver in a layer after the sender's, L2")):
        assert main(["ablate", *flags, "--treatments", *labels]) == 2
        printed = capsys.readouterr()
        assert match in printed.err and "head scan" not in printed.out, (labels, printed)
    # what only the scan decides is refused after it, naming the flag
    model, tokenizer = load_pretrained(tiny_model, progress=False)
    top = head_scan(model, RepeatedTokensTask.from_tokenizer(tokenizer, 6), 16, seed=1, batch_size=3).top(1)
    induction = f"L{top['layer'].iloc[0]}H{top['head'].iloc[0]}"
    assert induction.startswith("L2")  # the induction head of this random model is in its last layer
    for labels, match in (
            (["ablate_role:induction:zero", f"ablate:{induction}:zero"], "`--treatments`: 'ablate_role:induction:"
             f"zero' and 'ablate:{induction}:zero' both name 'ablate:{induction}:zero' on this model's head scan"),
            (["path_role:induction->induction.k:zero"], "`--treatments`: 'path_role:induction->induction.k:zero': "
             "no receiver in a layer after the sender's, L2 (on this model's head scan)")):
        assert main(["ablate", *flags, "--treatments", *labels]) == 2
        assert match in capsys.readouterr().err, labels


def test_heads_and_ablate_on_smollm2_with_the_bundled_ioi_prompts(smollm2, tmp_path, monkeypatch, capsys):
    import causalattn.lab.models.pretrained as pretrained

    monkeypatch.setattr(pretrained, "load_pretrained", lambda name, device="cpu", progress=True: smollm2)
    # the first 20 of the bundled file's 200 prompts, in two batches (all 200 took 154 s of CPU, 40 took 26 s, 20
    # take 18 s; the whole file is checked in test_datasets)
    prompts = tmp_path / "ioi_prompts_20.csv"
    pd.read_csv(REPO / "datasets" / "ioi_prompts.csv").head(20).to_csv(prompts, index=False)
    prompts = str(prompts)
    out = tmp_path / "ioi"
    assert main(["heads", "--prompts", prompts, "--layers", "18", "--kind", "patch", "--batch-size", "10",
                 "--no-progress", "--out", str(out)]) == 0
    table = pd.read_csv(out / "head_effects.csv")
    assert len(table) == 9 and (table["n"] == 20).all() and (table["outcome"] == "logit_diff").all()
    assert table["mean_control"].iloc[0] > 0  # SmolLM2 prefers the indirect object to the subject
    assert main(["ablate", "--prompts", prompts, "--treatments", "ablate:L18H6:zero", "patch:L18H6:counterfactual",
                 "--outcome", "logit_diff", "--batch-size", "10", "--no-progress", "--out", str(tmp_path / "a")]) == 0
    effects = pd.read_csv(tmp_path / "a" / "effects.csv")
    patched = effects.set_index("treatment").loc["patch:L18H6:counterfactual"]
    assert patched["estimate"] == pytest.approx(table.set_index("head").loc[6, "estimate"], rel=1e-6)
    assert np.isfinite(effects["pvalue"]).all()


def test_a_prompt_file_with_a_byte_order_mark_windows_line_ends_and_quotes_reads_as_written(tmp_path):
    from causalattn.lab.tasks.prompts import read_prompts

    path = tmp_path / "prompts.csv"
    path.write_bytes('\ufeffprompt,answer\r\n"Then, Mary gave a book to", John\r\n\r\n"He said ""hi"" to",NA\r\n'
                     .encode("utf-8"))
    frame = read_prompts(path)
    assert list(frame.columns) == ["prompt", "answer"]
    assert frame.to_dict("list") == {"prompt": ["Then, Mary gave a book to", 'He said "hi" to'],
                                     "answer": [" John", "NA"]}
    path.write_text("prompt,answer\nThen Mary gave a book to, John\n\nThen John gave a book to,  \n")
    with pytest.raises(ValueError, match=r"column 'answer' is empty in row 1 \(line 4 of the file\)"):
        read_prompts(path)  # the blank line counted: the file's own line
