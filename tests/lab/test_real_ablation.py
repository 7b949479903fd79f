"""SmolLM2-135M has induction heads: a high induction score, and ablating the top ones lowers accuracy on repeats.

Small on purpose (16 random tokens repeated, 24 sequences): the model is loaded
once per session by the ``smollm2`` fixture of tests/conftest.py.
"""

import pytest

from causalattn.lab.analysis.head_scan import head_scan
from causalattn.lab.interventions import Combined, HeadAblation
from causalattn.lab.studies.evaluation import evaluation_study
from causalattn.lab.tasks.repeated import RepeatedTokensTask


@pytest.fixture(scope="module")
def scan_and_study(smollm2):
    model, tokenizer = smollm2
    task = RepeatedTokensTask.from_tokenizer(tokenizer, 16, vocab_size=model.vocab_size)
    scan = head_scan(model, task, n_sequences=8, seed=1, batch_size=8)  # not the study's sequences
    induction, control = scan.select(3, rng=0)
    top = Combined(tuple(HeadAblation(layer, head, "mean") for layer, head in induction))
    quiet = HeadAblation(*control[0], "mean")
    study = evaluation_study(model, task, [top, quiet], n_sequences=24, batch_size=12, reference_size=12,
                             n_resamples=999, progress=False)
    return scan, study, top, quiet


def test_smollm2_has_heads_with_a_high_induction_score(scan_and_study):
    scan = scan_and_study[0]
    assert len(scan.scores) == 30 * 9
    best = scan.top(3)
    # a pure induction head puts all its attention on the token after the previous occurrence (score 1); a head
    # attending uniformly to the ~16-48 earlier tokens scores about 0.03
    assert best["induction_score"].iloc[0] > 0.5
    assert (best["induction_score"] > 0.2).all()
    assert scan.scores["induction_score"].median() < 0.05


def test_ablating_induction_heads_lowers_accuracy_and_a_quiet_head_does_much_less(scan_and_study):
    _, study, top, quiet = scan_and_study
    effects = {e.estimand: e for e in study.effects("in_context_accuracy")}
    induction, control = effects[top.label], effects[quiet.label]
    assert induction.details["mean_control"] > 0.3  # the model copies from the first half
    assert induction.confidence_interval.high < 0  # the interval excludes 0
    # the quiet head's whole interval lies above the induction heads' effect and its effect is much smaller
    assert control.confidence_interval.low > induction.estimate
    assert abs(control.estimate) < abs(induction.estimate) / 4
    loss = {e.estimand: e for e in study.effects("in_context_loss")}
    assert loss[top.label].confidence_interval.low > 0  # and the loss on the repeated half rises
