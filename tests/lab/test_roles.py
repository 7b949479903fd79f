"""Role treatments: labels, validation, resolution on a head scan."""

import importlib

import pandas as pd
import pytest

pytest.importorskip("torch")

from causalattn.lab import (  # noqa: E402
    BigramTask,
    ModelConfig,
    TaskConfig,
    build_model,
    evaluation_study,
    head_scan,
    parse_treatment,
)
from causalattn.lab.analysis.head_scan import HeadScan  # noqa: E402
from causalattn.lab.interventions.roles import RoleAblation, RolePattern, resolve_roles  # noqa: E402
from causalattn.lab.studies.models_study import models_study  # noqa: E402
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask  # noqa: E402

TASK = BigramTask(TaskConfig(seq_len=32))
SCAN = RepeatedTokensTask(RepeatedTokensConfig(length=12, vocab_size=65))


def _model(seed):
    return build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=32, init_seed=seed))


def _scan(induction, previous):
    """A HeadScan of a 2-layer, 2-head model with the given scores (row-major by layer, head)."""
    return HeadScan(pd.DataFrame({"layer": [0, 0, 1, 1], "head": [0, 1, 0, 1], "induction_score": induction,
                                  "previous_token_score": previous}), n_sequences=4, length=8)


def test_resolve_picks_the_highest_score_in_the_layer_ties_to_the_lower_head():
    scan = _scan([0.9, 0.0, 0.2, 0.3], [0.1, 0.7, 0.8, 0.0])
    assert RoleAblation("induction", 1).resolve(scan).label == "ablate:L1H1:zero"
    assert RoleAblation("induction").resolve(scan).label == "ablate:L0H0:zero"  # over all layers
    assert RoleAblation("previous_token", 0, "mean").resolve(scan).label == "ablate:L0H1:mean"
    assert RoleAblation("previous_token").resolve(scan).label == "ablate:L1H0:zero"
    tied = _scan([0.5, 0.5, 0.4, 0.4], [0.0, 0.0, 0.0, 0.0])
    assert RoleAblation("induction", 1).resolve(tied).label == "ablate:L1H0:zero"
    assert RoleAblation("induction").resolve(tied).label == "ablate:L0H0:zero"
    assert resolve_roles(RoleAblation("induction", 0), tied).label == "ablate:L0H0:zero"


def test_a_role_pattern_resolves_to_the_same_head_as_the_role_ablation():
    scan = _scan([0.9, 0.0, 0.2, 0.3], [0.1, 0.7, 0.8, 0.0])
    assert RolePattern("previous_token", 0).resolve(scan).label == "pattern:L0H1:uniform"
    assert RolePattern("induction", 1, "clean").resolve(scan).label == "pattern:L1H1:clean"
    assert RolePattern("previous_token", None, "previous_token").resolve(scan).label == "pattern:L1H0:previous_token"
    tied = _scan([0.5, 0.5, 0.4, 0.4], [0.0, 0.0, 0.0, 0.0])
    assert RolePattern("induction", 1, "corrupted").resolve(tied).label == "pattern:L1H0:corrupted"
    combined = parse_treatment("pattern_role:previous_token@L0:uniform+ablate_role:induction@L1:mean")
    assert resolve_roles(combined, scan).label == "pattern:L0H1:uniform+ablate:L1H1:mean"


def test_two_roles_of_one_head_act_once_and_conflicting_kinds_are_refused():
    # layer 1: head 1 is both the induction head and the previous-token head of this scan
    scan = _scan([0.9, 0.0, 0.2, 0.3], [0.1, 0.7, 0.0, 0.8])
    both = parse_treatment("ablate_role:induction@L1:zero+ablate_role:previous_token@L1:zero")
    assert resolve_roles(both, scan) == parse_treatment("ablate:L1H1:zero")  # the union of the heads: one head
    same = parse_treatment("ablate_role:induction@L1:mean+ablate:L1H1:mean+pattern:L0H0:uniform")
    assert resolve_roles(same, scan).label == "ablate:L1H1:mean+pattern:L0H0:uniform"
    clash = parse_treatment("ablate_role:induction@L1:zero+ablate_role:previous_token@L1:mean")
    with pytest.raises(ValueError, match=r"`treatment` 'ablate_role:induction@L1:zero\+ablate_role:previous_token"
                                         r"@L1:mean' names one head twice in this model: `parts`: 'ablate:L1H1:zero' "
                                         r"and 'ablate:L1H1:mean' both replace the z of L1H1"):
        resolve_roles(clash, scan)  # before: the later hook won, silently


def test_a_role_is_not_a_head_until_resolved():
    with pytest.raises(ValueError, match="`treatments`: 'ablate_role:induction@L1:zero' names a role"):
        evaluation_study(_model(0), TASK, ["ablate_role:induction@L1:zero"], n_sequences=4, progress=False)
    with pytest.raises(ValueError, match=r"`treatments`: 'pattern_role:previous_token@L0:uniform' names a role.*"
                                         r"RolePattern.resolve"):
        evaluation_study(_model(0), TASK, ["pattern_role:previous_token@L0:uniform"], n_sequences=4, progress=False)


def test_role_labels_round_trip():
    for label in ("ablate_role:induction@L1:zero", "ablate_role:previous_token:mean",
                  "ablate_role:induction@L0:resample"):
        assert RoleAblation.from_label(label).label == label
    for label in ("pattern_role:previous_token@L0:uniform", "pattern_role:induction:previous_token",
                  "pattern_role:induction@L1:clean", "pattern_role:previous_token@L2:corrupted"):
        assert RolePattern.from_label(label).label == label
        assert parse_treatment(label) == RolePattern.from_label(label)
    assert RolePattern.from_label("pattern_role:induction@L3:clean") == RolePattern("induction", 3, "clean")
    assert RolePattern("previous_token").label == "pattern_role:previous_token:uniform"
    assert not RolePattern("induction").acts_on_z_only and RoleAblation("induction").acts_on_z_only

    combined = parse_treatment("ablate_role:induction@L1:zero+ablate:L0H1:zero")
    assert combined.label == "ablate_role:induction@L1:zero+ablate:L0H1:zero"


@pytest.mark.parametrize("kwargs, error, match", [
    ({"role": "copying"}, ValueError, "`role`"),
    ({"role": "induction", "layer": -1}, ValueError, "`layer` must be an integer >= 0, got -1"),
    ({"role": "induction", "layer": True}, TypeError, "`layer` must be an integer >= 0, got True"),
    ({"role": "induction", "kind": "noise"}, ValueError, "`kind`"),
])
def test_role_ablation_rejects_bad_values(kwargs, error, match):
    with pytest.raises(error, match=match):
        RoleAblation(**kwargs)


@pytest.mark.parametrize("label, match", [
    ("pattern_role:copying@L0:uniform", r"`role` must be one of \['induction', 'previous_token'\], got 'copying'"),
    ("pattern_role:previous_token@L0:mean",
     r"`kind` must be one of \['uniform', 'previous_token', 'clean', 'corrupted'\], got 'mean'"),
    ("ablate_role:induction@L1:uniform", r"`kind` must be one of \['zero', 'mean', 'resample'\], got 'uniform'"),
    ("pattern_role:previous_token@0:uniform", r"`label` 'pattern_role:previous_token@0:uniform': cannot read it; "
                                              r"expected e.g. 'pattern_role:induction@L1:uniform'"),
    ("pattern_role:induction@L1H0:uniform", r"`label` 'pattern_role:induction@L1H0:uniform': cannot read it"),
    ("pattern_role:induction", r"`label` 'pattern_role:induction': cannot read it"),
    ("pattern:previous_token@L0:uniform", r"`label` 'pattern:previous_token@L0:uniform': cannot read it; "
                                          r"expected e.g. 'pattern:L1H0:...'"),
    ("patern_role:induction@L1:uniform", r"cannot read 'patern_role:induction@L1:uniform'; each part starts with "
                                         r"one of \[.*'pattern_role'"),
])
def test_bad_role_labels_name_the_argument(label, match):
    with pytest.raises(ValueError, match=match):
        parse_treatment(label)


def test_a_label_names_its_own_class():
    with pytest.raises(ValueError, match=r"`label` 'ablate_role:induction@L1:zero': cannot read it; expected e.g. "
                                         r"'pattern_role:induction@L1:uniform'"):
        RolePattern.from_label("ablate_role:induction@L1:zero")


def test_models_study_rejects_bad_role_patterns_before_any_scan(monkeypatch):
    module = importlib.import_module("causalattn.lab.studies.models_study")  # the package's attribute is the function
    monkeypatch.setattr(module, "head_scan", lambda *a, **k: pytest.fail("scanned before checking the treatments"))
    models = [_model(0), _model(1)]
    with pytest.raises(ValueError, match="`kind` must be one of"):
        models_study(models, TASK, ["pattern_role:previous_token@L0:mean"], n_sequences=4, progress=False)
    with pytest.raises(ValueError, match="`role` must be one of"):
        models_study(models, TASK, ["ablate:L0H0:zero+pattern_role:copying@L0:uniform"], n_sequences=4)
    with pytest.raises(ValueError, match="`layer` 2 of 'pattern_role:induction@L2:uniform' is out of range: model 'm"):
        models_study(models, TASK, ["pattern_role:induction@L2:uniform"], n_sequences=4, progress=False)


def test_bad_role_label_and_scan():
    with pytest.raises(ValueError, match="`label` 'ablate_role:induction@1:zero'"):
        RoleAblation.from_label("ablate_role:induction@1:zero")
    with pytest.raises(TypeError, match="`scan` must be a HeadScan"):
        RoleAblation("induction", 1).resolve("scan")
    with pytest.raises(ValueError, match="`layer` 5 of 'ablate_role:induction@L5:zero' is out of range"):
        RoleAblation("induction", 5).resolve(head_scan(_model(0), SCAN, 2))
