"""Arguments every entry point of the lab shares, checked the same way everywhere (found by a hostile pass, issue 18):
seeds, the `progress` switch, treatments given as pandas or numpy labels, and activations handed to a model."""

import numpy as np
import pandas as pd
import pytest
import torch

from causalattn.lab import BigramTask, Freeze, ModelConfig, TaskConfig, TrainConfig, build_model, train
from causalattn.lab.analysis.head_scan import head_scan
from causalattn.lab.studies.evaluation import evaluation_study
from causalattn.lab.studies.head_map import head_map
from causalattn.lab.studies.head_screen import screen_heads
from causalattn.lab.studies.models_study import models_study
from causalattn.lab.studies.prompts import prompt_study
from causalattn.lab.tasks.prompts import PromptSet
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
from causalattn.lab.training.study import training_study

TASK = BigramTask(TaskConfig(seq_len=16))
MODEL = build_model(ModelConfig(d_model=16, max_seq_len=16))
SMALL = dict(n_sequences=4, n_resamples=9)


class Words:
    """A word-level stand-in for a HuggingFace tokenizer."""

    unk_token_id, pad_token_id = 0, 1

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [2 + ord(word[0]) % 60 for word in text.split()]}


def _calls():
    """Each entry point that takes a seed and a progress switch, as a call of a tiny configuration."""
    scan_task = RepeatedTokensTask(RepeatedTokensConfig(length=4, vocab_size=65))
    prompts = PromptSet.from_frame(Words(), pd.DataFrame({"prompt": ["a b c", "d e f"], "answer": ["g", "h"]}),
                                   max_len=16, vocab_size=65)
    train_config = TrainConfig(n_iters=2, log_every=1, batch_size=2, eval_sequences=2)
    arms = {"control": (), "frozen": (Freeze("W2_O", 1),)}
    return {
        "evaluation_study": lambda seed, progress: evaluation_study(MODEL, TASK, ["ablate:L1H0:zero"], seed=seed,
                                                                   progress=progress, **SMALL),
        "models_study": lambda seed, progress: models_study([MODEL, MODEL], TASK, ["ablate:L1H0:zero"], seed=seed,
                                                            progress=progress, **SMALL),
        "head_scan": lambda seed, progress: head_scan(MODEL, scan_task, 2, seed=seed, progress=progress),
        "prompt_study": lambda seed, progress: prompt_study(MODEL, prompts, ["ablate:L1H0:zero"], seed=seed,
                                                            progress=progress, n_resamples=SMALL["n_resamples"]),
        "head_map": lambda seed, progress: head_map(MODEL, TASK, layers=[1], seed=seed, progress=progress,
                                                    reference_size=4, **SMALL),
        "screen_heads": lambda seed, progress: screen_heads(MODEL, TASK, top=1, seed=seed, progress=progress,
                                                            reference_size=4, **SMALL),
        "training_study": lambda seed, progress: training_study(
            ModelConfig(d_model=16, max_seq_len=16), TaskConfig(seq_len=16), train_config, arms, seeds=(seed, 1),
            progress=progress),
        "train (data_seed)": lambda seed, progress: train(
            ModelConfig(d_model=16, max_seq_len=16), TaskConfig(seq_len=16), TrainConfig(n_iters=1, data_seed=seed),
            progress=progress),
        "ModelConfig (init_seed)": lambda seed, progress: build_model(ModelConfig(init_seed=seed)),
    }


@pytest.mark.parametrize("call", list(_calls()))
def test_seeds_beyond_64_bits_are_refused_naming_the_argument(call):
    # before: evaluation_study(seed=2**70) gave "Overflow when unpacking long long", naming nothing
    name = {"training_study": "seeds", "train (data_seed)": "data_seed", "ModelConfig (init_seed)": "init_seed"}.get(
        call, "seed")
    for seed, error in ((2**70, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match=rf"^`{name}` must be an integer in \[0, 9223372036854775807\], got "):
            _calls()[call](seed, False)
    if call != "training_study":  # the largest seed works (a training study's seeds are run, and slow)
        _calls()[call](2**63 - 1, False)


@pytest.mark.parametrize("call", [c for c in _calls() if c != "ModelConfig (init_seed)"])
def test_progress_must_be_true_or_false(call):
    # before: progress="no" was taken as True (a bar) without a word
    with pytest.raises(TypeError, match="^`progress` must be True or False, got 'no'$"):
        _calls()[call](0, "no")


@pytest.mark.parametrize("call", ["evaluation_study", "models_study", "prompt_study", "head_map", "screen_heads"])
def test_resample_counts_are_bounded_before_any_work(call, monkeypatch):
    # before: the studies took any positive n_resamples and the effect layer refused 10**9 only after every forward
    # pass (the head map: after ablating every head)
    import causalattn.lab.studies.engine as engine

    def no_work(*args, **kwargs):
        raise AssertionError("a forward pass ran before the options were checked")

    monkeypatch.setattr(engine, "run_jobs", no_work)
    for module in ("evaluation", "head_map"):
        monkeypatch.setattr(f"causalattn.lab.studies.{module}.run_jobs", no_work)
    monkeypatch.setitem(SMALL, "n_resamples", 10**9)
    with pytest.raises(ValueError, match=r"^`n_resamples` must be at most 2\*\*26 = 67,108,864 .*got 1,000,000,000$"):
        _calls()[call](0, False)


@pytest.mark.parametrize("labels", [pd.Series(["ablate:L1H0:zero", "ablate:L0H0:zero"], index=[7, 3]),
                                    np.array(["ablate:L1H0:zero", "ablate:L0H0:zero"]), iter(["ablate:L1H0:zero",
                                                                                               "ablate:L0H0:zero"])])
def test_treatments_may_be_any_iterable_of_labels(labels):
    # before: a Series or an array of labels was read as one label: "`label` must be a string ..., got Series"
    study = evaluation_study(MODEL, TASK, labels, progress=False, **SMALL)
    assert study.treatments == ["ablate:L1H0:zero", "ablate:L0H0:zero"]


def test_activations_handed_to_a_model_are_checked():
    # before: "mat1 and mat2 shapes cannot be multiplied (4x7 and 16x16)" from deep inside torch
    with pytest.raises(ValueError, match=r"^`resid_pre` must be a floating-point tensor of shape \(batch, position, "
                                         r"16\), got a torch.float32 tensor of shape \(1, 4, 7\)$"):
        MODEL.run_from(1, torch.zeros(1, 4, 7))
    with pytest.raises(ValueError, match=r"`resid_pre` must be a floating-point tensor .* got a torch.int64 tensor"):
        MODEL.run_from(1, torch.zeros(1, 4, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^`z` must be a floating-point tensor of shape \(1, 4, 1, 16\), got a "
                                         r"torch.float32 tensor of shape \(1, 4, 3, 3\)$"):
        MODEL.run_from_z(1, torch.zeros(1, 4, 16), torch.zeros(1, 4, 3, 3))
    torch.testing.assert_close(MODEL.run_from(0, MODEL.embed(torch.zeros(1, 4, dtype=torch.long))),
                               MODEL(torch.zeros(1, 4, dtype=torch.long)))


def test_models_and_seeds_may_be_pandas_or_numpy():
    # before: "`models` must be a sequence or a mapping ..., got Series"; "`seeds` must be a sequence ..., got array"
    study = models_study(pd.Series({"a": MODEL, "b": MODEL}), TASK, ["ablate:L1H0:zero"], progress=False, **SMALL)
    assert list(study.models) == ["a", "b"]
    train_config = TrainConfig(n_iters=2, log_every=1, batch_size=2, eval_sequences=2)
    arms = {"control": (), "frozen": (Freeze("W2_O", 1),)}
    runs = [training_study(ModelConfig(d_model=16, max_seq_len=16), TaskConfig(seq_len=16), train_config, arms,
                           seeds=seeds, progress=False).units
            for seeds in ((3, 4), np.array([3, 4]), pd.Series([3, 4], index=[9, 2]))]
    pd.testing.assert_frame_equal(runs[1], runs[0])
    pd.testing.assert_frame_equal(runs[2], runs[0])
    with pytest.raises(TypeError, match="^`seeds` must be a sequence of integers, got {3: 4}$"):
        training_study(ModelConfig(d_model=16, max_seq_len=16), TaskConfig(seq_len=16), train_config, arms,
                       seeds={3: 4})


def test_load_pretrained_checks_device_and_dtype_before_loading(monkeypatch):
    import transformers

    from causalattn.lab.models.pretrained import load_pretrained

    # before: SmolLM2 was read (30 s to minutes) and only then moved to the missing GPU or refused by transformers
    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained",
                        lambda *a, **k: pytest.fail("loaded before checking the arguments"))
    if torch.cuda.device_count() < 8:
        with pytest.raises(ValueError, match=r"^`device` 'cuda:7': this machine has "):
            load_pretrained("smollm2-135m", device="cuda:7")
    with pytest.raises(ValueError, match="^`device` must be a cpu, cuda or mps device, got 'meta'$"):
        load_pretrained("smollm2-135m", device="meta")
    with pytest.raises(ValueError, match=r"^`dtype` must be a floating-point torch.dtype \(the weights'\), got "
                                         "torch.int64$"):
        load_pretrained("smollm2-135m", dtype=torch.int64)


def test_prompts_need_a_tokenizer_and_non_negative_ids():
    frame = pd.DataFrame({"prompt": ["a b c", "d e f"], "answer": ["g", "h"]})
    with pytest.raises(TypeError, match=r"^`tokenizer` must be a tokenizer, called as tokenizer\(text, "
                                        r"add_special_tokens=False\), got NoneType$"):
        PromptSet.from_frame(None, frame)  # before: "'NoneType' object is not callable"
    with pytest.raises(ValueError, match=r"`prompts`: prompt 'a b c' \(row 0\) is not in the model's vocabulary: "
                                         r"it tokenizes to \[-1, -1, -1\] \(unknown or out-of-range ids"):
        PromptSet.from_frame(lambda text, add_special_tokens: {"input_ids": [-1] * len(text.split())}, frame)


def test_sizes_beyond_this_machine_are_refused_before_any_work():
    # before: torch's "DefaultCPUAllocator: can't allocate memory: you tried to allocate 40000000000 bytes"
    with pytest.raises(ValueError, match=r"^`n_sequences` 1000000000000, `reference_size` 64, `task.seq_len` 16: the "
                                         r"run would need about .* GB of memory, mostly for the sequences"):
        evaluation_study(MODEL, TASK, ["ablate:L1H0:zero"], n_sequences=10**12, progress=False)
    with pytest.raises(ValueError, match=r"^`batch_size` 100000000, `task.seq_len` 16: .* mostly for the attention "
                                         "patterns and activations of a batch"):
        evaluation_study(MODEL, TASK, ["ablate:L1H0:zero"], n_sequences=10**8, batch_size=10**8, progress=False)
    evaluation_study(MODEL, TASK, ["ablate:L1H0:zero"], batch_size=10**12, progress=False, **SMALL)  # 4 sequences
    with pytest.raises(ValueError, match=r"^`d_model` 10000000, `n_layers` 2: .* mostly for the weights"):
        build_model(ModelConfig(d_model=10**7, vocab_size=65))
    with pytest.raises(ValueError, match=r"^`train_config.batch_size` 1000000000000, `train_config.eval_sequences` "
                                         r"256, `task_config.seq_len` 16: .* mostly for the attention patterns"):
        train(ModelConfig(d_model=16, max_seq_len=16), TaskConfig(seq_len=16), TrainConfig(batch_size=10**12))
