"""Role treatments: labels, validation, resolution on a head scan."""

import pandas as pd
import pytest

pytest.importorskip("torch")

from causalattn.lab import BigramTask, ModelConfig, TaskConfig, build_model, evaluation_study, head_scan  # noqa: E402
from causalattn.lab.head_scan import HeadScan  # noqa: E402
from causalattn.lab.repeated import RepeatedTokensConfig, RepeatedTokensTask  # noqa: E402
from causalattn.lab.roles import RoleAblation, resolve_roles  # noqa: E402

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


def test_a_role_is_not_a_head_until_resolved():
    with pytest.raises(ValueError, match="`treatments`: 'ablate_role:induction@L1:zero' names a role"):
        evaluation_study(_model(0), TASK, ["ablate_role:induction@L1:zero"], n_sequences=4, progress=False)


def test_role_labels_round_trip():
    for label in ("ablate_role:induction@L1:zero", "ablate_role:previous_token:mean",
                  "ablate_role:induction@L0:resample"):
        assert RoleAblation.from_label(label).label == label
    from causalattn.lab import parse_treatment

    combined = parse_treatment("ablate_role:induction@L1:zero+ablate:L0H1:zero")
    assert combined.label == "ablate_role:induction@L1:zero+ablate:L0H1:zero"


@pytest.mark.parametrize("kwargs, match", [
    ({"role": "copying"}, "`role`"),
    ({"role": "induction", "layer": -1}, "`layer`"),
    ({"role": "induction", "layer": True}, "`layer`"),
    ({"role": "induction", "kind": "noise"}, "`kind`"),
])
def test_role_ablation_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RoleAblation(**kwargs)


def test_bad_role_label_and_scan():
    with pytest.raises(ValueError, match="`label` 'ablate_role:induction@1:zero'"):
        RoleAblation.from_label("ablate_role:induction@1:zero")
    with pytest.raises(TypeError, match="`scan` must be a HeadScan"):
        RoleAblation("induction", 1).resolve("scan")
    with pytest.raises(ValueError, match="`layer` 5 of 'ablate_role:induction@L5:zero' is out of range"):
        RoleAblation("induction", 5).resolve(head_scan(_model(0), SCAN, 2))
