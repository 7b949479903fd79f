"""The evaluation study on the hand-set induction-head model: effects, resume, efficiency path, bad input."""


import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

import causalattn.lab.studies.evaluation as evaluation
import causalattn.lab.studies.runner as runner
from causalattn import frt
from causalattn.experiments.designs import MPE
from causalattn.lab import BigramTask, TaskConfig, induction_head_model
from causalattn.lab.interventions import HeadAblation, Reference, parse_treatment
from causalattn.lab.models.hooks import hooks
from causalattn.lab.models.transformer import ModelConfig, build_model
from causalattn.lab.plots import plot_attention
from causalattn.lab.studies.checksummed import DamagedFileWarning, digest
from causalattn.lab.studies.evaluation import CONTROL, evaluation_study
from causalattn.lab.studies.storage import StudyFolder
from causalattn.lab.tasks.metrics import token_metrics

TREATMENTS = ["ablate:L0H0:zero", "ablate:L1H0:zero", "ablate:L1H0:mean", "pattern:L0H0:previous_token"]
KW = dict(n_sequences=60, seed=3, batch_size=25, reference_size=16, n_resamples=999, progress=False)


@pytest.fixture(scope="module")
def task():
    return BigramTask(TaskConfig(seq_len=32))


@pytest.fixture(scope="module")
def model(task):
    return induction_head_model(task, d_model=128)


@pytest.fixture(scope="module")
def study(model, task):
    return evaluation_study(model, task, TREATMENTS, **KW)


@pytest.fixture
def pending(monkeypatch):
    """The (offset, arm labels) of every batch that ``evaluation_study`` evaluates, in order."""
    real, evaluated = evaluation.run_arms, []

    def recording(model, batch, arms, reference, offset):
        evaluated.append((offset, [CONTROL if arm is None else arm.label for arm in arms]))
        return real(model, batch, arms, reference, offset)

    monkeypatch.setattr(evaluation, "run_arms", recording)
    return evaluated


def test_units_and_tokens_are_tidy(study):
    units, tokens = study.units, study.tokens
    assert len(units) == 60 * 5 and set(units["arm"]) == {CONTROL, *TREATMENTS}
    assert list(units.columns) == ["sequence", "arm", "in_context_accuracy", "in_context_loss", "n_in_context",
                                   "global_accuracy", "global_loss"]
    # per-sequence accuracy is the mean of that sequence's in-context tokens
    control = tokens[tokens["arm"] == CONTROL]
    by_hand = control.groupby("sequence")["correct"].mean()
    got = units[units["arm"] == CONTROL].set_index("sequence")["in_context_accuracy"].dropna()
    pd.testing.assert_series_equal(got, by_hand, check_names=False)
    assert (tokens["trigger_count"] >= 2).all()


def test_control_arm_matches_a_plain_forward_pass(study, model):
    batch = study.data
    with torch.no_grad():
        metrics = token_metrics(model(batch.inputs), batch)
    control = study.tokens[study.tokens["arm"] == CONTROL]
    np.testing.assert_array_equal(control["correct"].to_numpy(), metrics.correct[batch.in_context].numpy())


def test_ablating_either_circuit_head_drops_accuracy(study):
    table = study.effects()
    effects = {e.estimand: e for e in table}
    control_mean = effects["ablate:L1H0:zero"].details["mean_control"]
    assert control_mean > 0.6
    for label in ("ablate:L0H0:zero", "ablate:L1H0:zero", "ablate:L1H0:mean"):
        e = effects[label]
        assert e.confidence_interval.high < 0, label  # the CI excludes zero
        assert e.details["mean_treated"] < 0.2  # no induction head left: near a one-layer model's level
        assert e.pvalue < 0.01 and e.details["pvalue_adjusted"] <= len(TREATMENTS) * e.pvalue + 1e-12
        assert e.details["pvalue_randomization"] < 0.01 and e.method == "paired-t"
        assert 55 <= e.n <= 60 and e.details["outcome"] == "in_context_accuracy" and e.details["unit"] == "sequence"
    # exact previous-token attention is what layer 1 already does: no detectable effect
    freeze = effects["pattern:L0H0:previous_token"]
    assert freeze.confidence_interval.low <= 0 <= freeze.confidence_interval.high
    # the paired t numbers are scipy's paired t test on the sequences
    wide = study.units.pivot(index="sequence", columns="arm", values="in_context_accuracy").dropna()
    ref = stats.ttest_rel(wide["ablate:L1H0:mean"], wide[CONTROL])
    e = effects["ablate:L1H0:mean"]
    assert e.estimate == pytest.approx((wide["ablate:L1H0:mean"] - wide[CONTROL]).mean())
    assert e.pvalue == pytest.approx(ref.pvalue, rel=1e-9)
    assert e.confidence_interval == pytest.approx(tuple(ref.confidence_interval()), rel=1e-9)
    loss = {e.estimand: e for e in study.effects("in_context_loss", adjust="bh")}
    assert loss["ablate:L1H0:zero"].confidence_interval.low > 0


def test_unused_head_has_no_effect(task):
    # a two-head vanilla model whose layer-0 head 1 is never read (its W_O columns are zero)
    model = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=32, max_seq_len=32))
    with torch.no_grad():
        model.blocks[0].attn.W_O[:, 16:] = 0.0
    study = evaluation_study(model, task, ["ablate:L0H1:zero", "ablate:L0H1:resample"], **KW)
    for e in study.effects():  # every sequence has difference 0: no t test, a point interval, FRT p = 1
        assert e.confidence_interval == (0.0, 0.0) and e.standard_error == 0.0
        assert e.pvalue is None and e.details["pvalue_randomization"] == 1.0


@pytest.mark.parametrize("method", ["t", "normal", "randomization", "bootstrap"])
def test_every_row_has_an_interval_and_a_pvalue_that_agree(study, method, assert_coherent):
    rows = sum(assert_coherent(study.effects(outcome, method=method)) for outcome in evaluation.OUTCOMES)
    assert rows == len(evaluation.OUTCOMES) * len(TREATMENTS)
    for e in study.effects(method=method):
        assert e.method.startswith(f"paired-{method}")


def test_rows_do_not_depend_on_the_questions_asked(study):
    alone = study.effect("ablate:L1H0:zero", "in_context_loss", method="bootstrap")
    study.effects("in_context_accuracy", method="bootstrap", adjust=None)
    after = study.effect("ablate:L1H0:zero", "in_context_loss", method="bootstrap")
    assert alone == after  # its own stream: the other questions drew nothing from it


def test_token_level_tables_and_regression(study):
    table = study.token_table("ablate:L1H0:zero")
    tokens = study.tokens
    treated = tokens[tokens["arm"] == "ablate:L1H0:zero"]["correct"].to_numpy()
    control = tokens[tokens["arm"] == CONTROL]["correct"].to_numpy()
    assert table.counts[0, 1] == np.sum(treated & ~control) and table.counts[1, 0] == np.sum(~treated & control)
    assert table.mcnemar().pvalue < 1e-6
    reg = study.token_regression("ablate:L1H0:zero")
    # the coefficient is the difference in token-level means = the paired risk difference
    assert reg.estimate == pytest.approx(table.risk_difference().estimate)
    assert reg.method.endswith("cluster") or "cluster" in reg.method
    assert set(study.token_tables()) == set(TREATMENTS)


def test_heterogeneity_and_simpson_check(study):
    het = study.heterogeneity("ablate:L1H0:zero", by="position", bins=2)
    assert len(het.by_stratum) == 2 and all(e.confidence_interval.high < 0 for e in het.by_stratum)
    assert not het.reverses and not het.simpson.reverses
    assert "no reversal" in het.summary()
    het = study.heterogeneity("ablate:L1H0:zero", by="trigger_count", bins=2, outcome="in_context_loss")
    assert [e.details["stratum"] for e in het.by_stratum] == ["2", "3+"] and het.simpson is None


def test_forest_plot_and_attention(study, task):
    fig = study.plot_forest()
    assert len(fig.axes[0].get_yticklabels()) == len(TREATMENTS)
    maps = study.plot_attention("ablate:L1H0:zero", chars=task.chars, window=(0, 16))
    first = task.chars[study.data.inputs[0, 0].item()]
    assert maps.axes[0].get_xticklabels()[0].get_text() == {" ": "\u2423", "\n": "\\n"}.get(first, first)


def _titles(fig):
    return [ax.get_title() for ax in fig.axes if ax.images]  # the maps, not their colour bars


def test_attention_maps_say_what_an_intervention_replaces(study, task):
    # before (issue 18, item 19): the map of an output ablation showed the unchanged pattern with nothing to say
    # that the head's output, not its pattern, is replaced: it read as if the ablation did nothing
    control = study.plot_attention(index=3)
    assert _titles(control) == ["layer 0 head 0 (L0H0)", "layer 1 head 0 (L1H0)"] and control.get_suptitle() == ""
    ablated = study.plot_attention("ablate:L1H0:mean", index=3)
    assert ablated.get_suptitle() == "under ablate:L1H0:mean"
    assert _titles(ablated) == ["layer 0 head 0 (L0H0)", "layer 1 head 0 (L1H0)\nOUTPUT replaced by "
                                "ablate:L1H0:mean\n(this pattern is computed but not used)"]
    shown = [[ax.images[0].get_array() for ax in fig.axes if ax.images] for fig in (control, ablated)]
    np.testing.assert_array_equal(shown[0][1], shown[1][1])  # the pattern the ablated head computes is unchanged
    fixed = study.plot_attention("pattern:L0H0:previous_token", index=3)
    assert _titles(fixed)[0] == "layer 0 head 0 (L0H0)\nPATTERN replaced by pattern:L0H0:previous_token (shown)"
    assert np.allclose(np.diag(fixed.axes[0].images[0].get_array(), k=-1), 1)  # the replaced pattern is drawn
    both = plot_attention(study.model, study.data, 3, treatment="ablate:L0H0:zero+pattern:L1H0:uniform")
    assert [t.split("\n")[1].split(" by")[0] for t in _titles(both)] == ["OUTPUT replaced", "PATTERN replaced"]
    hooked = plot_attention(study.model, study.data, 3, fwd_hooks={"blocks.1.attn.hook_z": lambda z, hook: 0 * z})
    assert _titles(hooked)[1] == ("layer 1 head 0 (L1H0)\nOUTPUT replaced by hooks on blocks.1.attn.hook_z\n(this "
                                  "pattern is computed but not used)")
    assert hooked.get_suptitle() == "under the hooks given (fwd_hooks)"
    with pytest.raises(TypeError, match="`treatment` must be an Intervention, a label or None, got int"):
        plot_attention(study.model, study.data, 3, treatment=5)
    with pytest.raises(ValueError, match="`index` must be in"):
        study.plot_attention("ablate:L1H0:mean", index=60)


def test_efficient_path_equals_full_forward():
    # MLP and LayerNorm blocks: resuming after hook_z must equal the full forward pass under the hooks
    model = build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=12, mlp=True,
                                    layer_norm=True))
    task = BigramTask(TaskConfig(seq_len=12))
    batch = task.sample(4, torch.Generator().manual_seed(0))
    arms = [parse_treatment(x) for x in ("ablate:L0H1:mean", "ablate:L1H0:resample", "pattern:L0H0:uniform",
                                         "ablate:L0H0:zero+ablate:L1H1:zero")]
    reference = Reference.compute(model, task.sample(3, torch.Generator().manual_seed(1)), arms)
    out = runner.run_arms(model, batch, [None, *arms], reference, offset=2)
    for arm in arms:
        with torch.no_grad(), hooks(model, arm.hooks(model, reference, offset=2)):
            full = token_metrics(model(batch.inputs), batch)
        torch.testing.assert_close(out[arm.label].loss, full.loss)


def test_resume_gives_the_same_table(model, task, tmp_path, monkeypatch):
    reference_table = evaluation_study(model, task, TREATMENTS[:2], **KW).effects().to_frame()
    real = evaluation.run_arms
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed during the second batch
        return real(*args, **kwargs)

    monkeypatch.setattr(evaluation, "run_arms", interrupted)
    with pytest.raises(KeyboardInterrupt):
        evaluation_study(model, task, TREATMENTS[:2], out_dir=tmp_path, **KW)
    saved = sorted((tmp_path / "arms").iterdir())
    assert len(saved) == 3 and not list(tmp_path.glob("**/*.tmp-*"))  # batch 0, three arms, whole files
    for path in saved:
        with np.load(path) as f:
            assert f["correct"].dtype == np.int8
    monkeypatch.setattr(evaluation, "run_arms", real)
    resumed = evaluation_study(model, task, TREATMENTS[:2], out_dir=tmp_path, **KW)
    pd.testing.assert_frame_equal(resumed.effects().to_frame(), reference_table)

    def no_work(*args, **kwargs):
        raise AssertionError("a finished arm was recomputed")

    monkeypatch.setattr(evaluation, "run_arms", no_work)
    again = evaluation_study(model, task, TREATMENTS[:2], out_dir=tmp_path, **KW)
    pd.testing.assert_frame_equal(again.effects().to_frame(), reference_table)
    with pytest.raises(ValueError, match=r"`out_dir` .* a different configuration \(differs in \['seed'\]\)"):
        evaluation_study(model, task, TREATMENTS[:2], out_dir=tmp_path, **{**KW, "seed": 4})


def test_damaged_arm_files_are_reported_and_only_they_are_recomputed(model, task, tmp_path, pending):
    # before: a truncated or bit-flipped arm .npz gave a raw BadZipFile traceback without the path
    reference_table = evaluation_study(model, task, TREATMENTS[:2], out_dir=tmp_path, **KW).effects().to_frame()
    truncated = tmp_path / "arms" / "batch00001__ablate_L0H0_zero.npz"
    truncated.write_bytes(truncated.read_bytes()[:300])
    flipped = tmp_path / "arms" / "batch00002__control.npz"
    data = bytearray(flipped.read_bytes())
    data[100:164] = bytes(b ^ 0xFF for b in data[100:164])
    flipped.write_bytes(bytes(data))
    pending.clear()  # what the rerun evaluates
    with pytest.warns(UserWarning) as caught:
        rerun = evaluation_study(model, task, TREATMENTS[:2], out_dir=tmp_path, **KW)
    messages = [str(w.message) for w in caught if "damaged" in str(w.message)]
    assert messages == [f"{truncated} is damaged (unreadable: BadZipFile); recomputing arm 'ablate:L0H0:zero' on "
                        "sequences 25-49", f"{flipped} is damaged (unreadable: BadZipFile); "
                        "recomputing arm 'control' on sequences 50-59"], messages
    assert pending == [(25, ["ablate:L0H0:zero"]), (50, [CONTROL])]
    pd.testing.assert_frame_equal(rerun.effects().to_frame(), reference_table)


def test_arm_files_copied_over_another_arm_or_batch_are_recomputed(model, task, tmp_path, pending):
    # before (issue 18, item 3): control's file copied over an ablated arm's changed the effect without a word
    reference_table = evaluation_study(model, task, TREATMENTS[:1], out_dir=tmp_path, **KW).effects().to_frame()
    arms = tmp_path / "arms"
    (arms / "batch00000__ablate_L0H0_zero.npz").write_bytes((arms / "batch00000__control.npz").read_bytes())
    (arms / "batch00001__control.npz").write_bytes((arms / "batch00000__control.npz").read_bytes())  # same shapes
    with np.load(arms / "batch00001__control.npz") as f:
        assert f["global_loss"].shape == (25,)  # shapes alone would not tell batch 0 from batch 1
    pending.clear()  # what the rerun evaluates
    with pytest.warns(DamagedFileWarning) as caught:
        rerun = evaluation_study(model, task, TREATMENTS[:1], out_dir=tmp_path, **KW)
    assert [str(w.message).split("/")[-1] for w in caught] == [
        "batch00000__ablate_L0H0_zero.npz is damaged (it holds arm 'control', batch 0, first_sequence 0, not arm "
        "'ablate:L0H0:zero', batch 0, first_sequence 0: copied or moved from another file); recomputing arm "
        "'ablate:L0H0:zero' on sequences 0-24",
        "batch00001__control.npz is damaged (it holds arm 'control', batch 0, first_sequence 0, not arm 'control', "
        "batch 1, first_sequence 25: copied or moved from another file); recomputing arm 'control' on sequences "
        "25-49"]
    assert pending == [(0, ["ablate:L0H0:zero"]), (25, [CONTROL])]
    pd.testing.assert_frame_equal(rerun.effects().to_frame(), reference_table)


def test_arm_files_of_another_version_are_recomputed_not_a_key_error(model, task, tmp_path, pending):
    # before: an intact arm file with other fields (here `loss` named `nll`) stopped the study with a KeyError
    reference_table = evaluation_study(model, task, TREATMENTS[:1], out_dir=tmp_path, **KW).effects().to_frame()
    folder = StudyFolder(tmp_path / "arms", json.loads((tmp_path / "study.json").read_text())["sha256"])
    control = {"arm": CONTROL, "batch": 1, "first_sequence": 25}
    arrays = folder.load_arrays("batch00001__control.npz", identity=control)
    arrays["nll"] = arrays.pop("loss")
    folder.save_arrays("batch00001__control.npz", arrays, identity=control)
    ablated = {"arm": "ablate:L0H0:zero", "batch": 2, "first_sequence": 50}
    arrays = folder.load_arrays("batch00002__ablate_L0H0_zero.npz", identity=ablated)
    folder.save_arrays("batch00002__ablate_L0H0_zero.npz", {**arrays, "global_loss": arrays["global_loss"][:3]},
                       identity=ablated)
    pending.clear()  # what the rerun evaluates
    with pytest.warns(DamagedFileWarning) as caught:
        rerun = evaluation_study(model, task, TREATMENTS[:1], out_dir=tmp_path, **KW)
    assert [str(w.message).split("/")[-1] for w in caught] == [
        "batch00001__control.npz is damaged (unexpected content, ValueError: missing ['loss']; unexpected ['nll']); "
        "recomputing arm 'control' on sequences 25-49",
        "batch00002__ablate_L0H0_zero.npz is damaged (unexpected content, ValueError: global_loss of shape (3,) "
        "instead of (10,)); recomputing arm 'ablate:L0H0:zero' on sequences 50-59"]
    assert pending == [(25, [CONTROL]), (50, ["ablate:L0H0:zero"])]
    pd.testing.assert_frame_equal(rerun.effects().to_frame(), reference_table)


def test_damaged_fingerprint_keeps_the_arms_it_made_and_recomputes_the_unverifiable(model, task, tmp_path, pending):
    # before: a damaged study.json stopped the study
    reference_table = evaluation_study(model, task, TREATMENTS[:1], out_dir=tmp_path, **KW).effects().to_frame()
    untagged = tmp_path / "arms" / "batch00001__control.npz"  # as saved before arm files carried their study
    with np.load(untagged) as f:
        arrays = {key: f[key] for key in f.files if key not in ("__sha256__", "__study__")}
    np.savez(untagged, **arrays, __sha256__=np.array(digest(arrays)))
    (tmp_path / "study.json").write_text('{"sha256": "0", "content": {}}')
    pending.clear()  # what the rerun evaluates
    with pytest.warns(UserWarning, match=r"study.json is damaged \(checksum mismatch: edited or corrupted\); rewriting "
                                         r"it .* kept the 5 unit files .* removed the 1 "):
        rerun = evaluation_study(model, task, TREATMENTS[:1], out_dir=tmp_path, **KW)
    assert pending == [(25, [CONTROL])]  # only the arm that could not show its configuration
    pd.testing.assert_frame_equal(rerun.effects().to_frame(), reference_table)


def test_changed_weights_are_named_as_such(task, tmp_path):
    # before: "a different configuration (model_state_sha256)", advising to delete the folder
    evaluation_study(induction_head_model(task, d_model=128), task, TREATMENTS[:1], out_dir=tmp_path, **KW)
    other = induction_head_model(task, d_model=128)
    with torch.no_grad():
        next(other.parameters()).mul_(1.01)
    with pytest.raises(ValueError, match=r"holds an evaluation study made with another model's weights \(the model "
                                         r"was retrained or replaced since\) \(model_state_sha256 differs\)"):
        evaluation_study(other, task, TREATMENTS[:1], out_dir=tmp_path, **KW)


@dataclasses.dataclass(frozen=True)
class Named(HeadAblation):
    """A user's intervention whose label is free text."""

    name: str = ""

    @property
    def label(self) -> str:
        return self.name


def test_labels_sharing_a_file_name_are_refused_before_any_work(model, task, tmp_path, monkeypatch):
    # before: 'mine:a' and 'mine/a' were both saved as batch00000__mine_a.npz, so a rerun read one arm for the other
    monkeypatch.setattr(evaluation, "run_arms", lambda *args: pytest.fail("an arm was evaluated"))
    with pytest.raises(ValueError, match=r"^`treatments`: labels must be distinct as file names, but 'mine:a' and "
                                         r"'mine/a' both become 'mine_a'$"):
        evaluation_study(model, task, [Named(1, 0, name="mine:a"), Named(0, 0, name="mine/a")], out_dir=tmp_path, **KW)
    assert not tmp_path.joinpath("arms").exists()


def test_frt_pvalues_are_uniform_under_a_treatment_that_does_nothing():
    # 200 simulated studies of 12 sequences: control and "treated" accuracies exchangeable within each pair
    rng = np.random.default_rng(0)
    pvalues = []
    for _ in range(200):
        base = rng.beta(5, 3, size=12)
        y1, y0 = base + rng.normal(0, 0.05, 12), base + rng.normal(0, 0.05, 12)
        res = frt(np.concatenate([y1, y0]), np.repeat([1, 0], 12), design=MPE(np.tile(np.arange(12), 2)),
                  n_resamples=5000, rng=rng)
        pvalues.append(res.pvalue)
    pvalues = np.array(pvalues)
    # rejections at 0.05 and 0.10 within a two-sided 99.9% binomial range around 200 * alpha
    for alpha in (0.05, 0.10):
        low, high = stats.binom.ppf([0.0005, 0.9995], 200, alpha)
        assert low <= np.sum(pvalues <= alpha) <= high
    assert stats.kstest(pvalues, "uniform").pvalue > 0.001


def test_bad_input(model, task, tmp_path):
    with pytest.raises(ValueError, match="`layer` 2 of 'ablate:L2H0:zero' is out of range"):
        evaluation_study(model, task, ["ablate:L2H0:zero"], **KW)
    with pytest.raises(ValueError, match="`head` 1 of 'ablate:L1H1:mean' is out of range"):
        evaluation_study(model, task, [HeadAblation(1, 1, "mean")], **KW)
    with pytest.raises(ValueError, match="`n_sequences` must be an integer >= 2"):
        evaluation_study(model, task, TREATMENTS, **{**KW, "n_sequences": 1})
    # before: a negative seed was accepted and failed in effects(method="randomization"), in numpy, unnamed
    with pytest.raises(ValueError, match=r"`seed` must be an integer in \[0, 9223372036854775807\], got -1"):
        evaluation_study(model, task, TREATMENTS, **{**KW, "seed": -1})
    with pytest.raises(TypeError, match=r"`seed` must be an integer in \[0, 9223372036854775807\], got 1.5"):
        evaluation_study(model, task, TREATMENTS, **{**KW, "seed": 1.5})
    with pytest.raises(ValueError, match="`treatments` has duplicate labels"):
        evaluation_study(model, task, ["ablate:L1H0:zero", HeadAblation(1, 0)], **KW)
    with pytest.raises(ValueError, match="`treatments` must hold at least one"):
        evaluation_study(model, task, [], **KW)
    with pytest.raises(ValueError, match="`task` does not fit `model`"):
        evaluation_study(model, BigramTask(TaskConfig(seq_len=64)), TREATMENTS, **KW)
    with pytest.raises(TypeError, match="`model` must implement causalattn.lab.models.contract.HookedModel"):
        evaluation_study(torch.nn.Linear(2, 2), task, TREATMENTS, **KW)
    with pytest.raises(TypeError, match="`task` must be a task .* such as BigramTask or RepeatedTokensTask"):
        evaluation_study(model, "task", TREATMENTS, **KW)
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        evaluation_study(model, task, TREATMENTS, **{**KW, "batch_size": 0})
    study = evaluation_study(model, task, TREATMENTS[:1], **{**KW, "n_sequences": 2})
    with pytest.raises(ValueError, match="`treatment` 'ablate:L1H0:zero' is not in this study"):
        study.effect("ablate:L1H0:zero")
    with pytest.raises(ValueError, match="`outcome` must be one of"):
        study.effects("accuracy")
    with pytest.raises(ValueError, match="`adjust` must be one of"):
        study.effects(adjust="bonferroni")
    with pytest.raises(ValueError, match="`method` must be one of"):
        study.effect("ablate:L0H0:zero", method="wald")
    with pytest.raises(ValueError, match="`by` must be one of"):
        study.heterogeneity("ablate:L0H0:zero", by="layer")
    # said before the evaluation, not only after it (global outcomes are defined: a warning, not an error)
    with pytest.warns(UserWarning, match=r"^`n_sequences`: only 1 of the 3 sequences drawn have an in-context "
                                         r"position .* The in-context outcomes will be refused; the global ones are"):
        short = evaluation_study(model, BigramTask(TaskConfig(seq_len=4)), TREATMENTS[:1], **{**KW, "n_sequences": 3})
    with pytest.raises(ValueError, match="fewer than 2 sequences have it under both arms"):
        short.effect("ablate:L0H0:zero")
    assert short.effect("ablate:L0H0:zero", "global_loss").n == 3
