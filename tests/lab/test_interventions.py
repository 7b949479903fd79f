"""Interventions as values: labels, parsing, hooks that do what they say, and clear errors."""

import pytest
import torch

from causalattn.lab.interventions import Combined, HeadAblation, HeadPatch, PatternFreeze, Reference, parse_treatment
from causalattn.lab.models.hooks import hooks, run_with_cache
from causalattn.lab.models.transformer import ModelConfig, build_model

T = 10


@pytest.fixture(scope="module")
def model():
    return build_model(ModelConfig(kind="vanilla", n_layers=2, n_heads=2, d_model=16, max_seq_len=T))


@pytest.fixture(scope="module")
def inputs():
    return torch.randint(65, (3, T), generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="module")
def reference():
    return torch.randint(65, (4, T), generator=torch.Generator().manual_seed(1))


def _cache(model, inputs, intervention, reference=None, offset=0):
    with torch.no_grad(), hooks(model, intervention.hooks(model, reference, offset=offset)):
        return run_with_cache(model, inputs)


@pytest.mark.parametrize("label", [
    "ablate:L1H0:zero", "ablate:L0H1:mean", "ablate:L1H1:mean:overall", "ablate:L0H0:resample",
    "pattern:L0H0:uniform", "pattern:L1H1:previous_token", "pattern:L0H1:clean", "pattern:L1H0:corrupted",
    "ablate:L0H0:zero+pattern:L1H1:uniform",
])
def test_labels_round_trip(label):
    assert parse_treatment(label).label == label


def test_values_and_labels():
    assert HeadAblation(1, 0, "mean").label == "ablate:L1H0:mean"
    assert HeadAblation(1, 0, "mean", per_position=False).label == "ablate:L1H0:mean:overall"
    assert PatternFreeze(0, 0, "previous_token").label == "pattern:L0H0:previous_token"
    both = Combined((HeadAblation(0, 0), Combined((HeadAblation(1, 1), PatternFreeze(1, 0)))))
    assert both.label == "ablate:L0H0:zero+ablate:L1H1:zero+pattern:L1H0:uniform"
    assert both.layers == (0, 1) and not both.acts_on_z_only
    assert HeadAblation(1, 0) == parse_treatment("ablate:L1H0:zero")  # values compare equal
    assert len({HeadAblation(1, 0), HeadAblation(1, 0)}) == 1


@pytest.mark.parametrize("first, middle, last, point, head", [
    ("pattern:L0H0:uniform", "", "pattern:L0H0:previous_token", "pattern", "L0H0"),  # issue 18, item 10
    ("pattern:L0H0:previous_token", "", "pattern:L0H0:uniform", "pattern", "L0H0"),  # the other order
    ("ablate:L1H0:zero", "", "patch:L1H0:corrupted", "z", "L1H0"),  # ablation and patching both replace z
    ("ablate:L1H0:mean", "ablate:L0H0:zero+", "ablate:L1H0:mean", "z", "L1H0"),  # one part twice
    ("ablate_role:induction@L1:zero", "", "ablate_role:induction@L1:mean", "z", "the induction head of layer 1"),
])
def test_two_parts_on_the_same_hook_point_of_a_head_are_refused(first, middle, last, point, head):
    # before: the last hook won, so the two orders of the pattern labels gave different treatments
    with pytest.raises(ValueError, match=rf"`parts`: '{first}' and '{last}' both replace the {point} of {head}; "):
        parse_treatment(f"{first}+{middle}{last}")
    with pytest.raises(ValueError, match=rf"both replace the {point} of {head}"):  # nested: checked once flat
        Combined((parse_treatment(first), Combined((parse_treatment(f"{middle}{last}"),))))


def test_a_new_kind_registers_its_prefix_and_parses_inside_combinations():
    from causalattn.lab.interventions.base import JOINERS, PREFIXES, HeadIntervention

    class Doubling(HeadIntervention, prefix="test_double"):  # stays registered in this test process
        point = "z"

        @classmethod
        def from_label(cls, text):
            layer, head, _ = cls._split(text)
            return cls(layer, head)

        @property
        def label(self):
            return f"test_double:L{self.layer}H{self.head}:x"

    assert PREFIXES["test_double"] is Doubling and JOINERS["+"] is Combined
    both = parse_treatment("test_double:L0H1:x+pattern:L1H0:uniform")
    assert both.parts == (Doubling(0, 1), PatternFreeze(1, 0))
    with pytest.raises(ValueError, match="`parts`: 'test_double:L0H1:x' and 'ablate:L0H1:zero' both replace the z"):
        parse_treatment("test_double:L0H1:x+ablate:L0H1:zero")
    with pytest.raises(ValueError, match="the intervention prefix name 'test_double' is taken by Doubling"):
        type("Again", (HeadIntervention,), {}, prefix="test_double")


def test_a_pattern_and_an_output_of_one_head_combine():
    both = parse_treatment("pattern:L0H0:uniform+ablate:L0H0:zero")
    assert both.targets == {("pattern", "L0H0"), ("z", "L0H0")}
    assert parse_treatment("ablate_role:induction@L1:zero+ablate_role:previous_token@L1:zero").parts


def test_zero_mean_resample_replace_only_that_head(model, inputs, reference):
    _, clean = run_with_cache(model, inputs)
    _, ref_cache = run_with_cache(model, reference)
    z_ref = ref_cache["blocks.1.attn.hook_z"][:, :, 0]  # (R, T, d_head)
    for kind, expected in [("zero", torch.zeros_like(clean["blocks.1.attn.hook_z"][:, :, 0])),
                           ("mean", z_ref.mean(0).expand(3, T, -1)),
                           ("resample", z_ref[torch.tensor([2, 3, 0])])]:  # offset 2, R = 4: rows 2, 3, 0
        _, cache = _cache(model, inputs, HeadAblation(1, 0, kind), reference, offset=2)
        z = cache["blocks.1.attn.hook_z"]
        torch.testing.assert_close(z[:, :, 0], expected)
        torch.testing.assert_close(z[:, :, 1], clean["blocks.1.attn.hook_z"][:, :, 1])  # other head untouched
    _, cache = _cache(model, inputs, HeadAblation(1, 0, "mean", per_position=False), reference)
    torch.testing.assert_close(cache["blocks.1.attn.hook_z"][0, 3, 0], z_ref.mean((0, 1)))


def test_patterns(model, inputs, reference):
    _, cache = _cache(model, inputs, PatternFreeze(0, 1, "uniform"))
    p = cache["blocks.0.attn.hook_pattern"][:, 1]
    torch.testing.assert_close(p[0, 3], torch.tensor([0.25] * 4 + [0.0] * (T - 4)))
    _, cache = _cache(model, inputs, PatternFreeze(0, 1, "previous_token"))
    p = cache["blocks.0.attn.hook_pattern"][:, 1]
    assert p[1, 0, 0] == 1 and p[1, 5, 4] == 1 and p[1, 5].sum() == 1
    _, ref_cache = run_with_cache(model, reference)
    _, cache = _cache(model, inputs, PatternFreeze(1, 0, "clean"), reference)
    torch.testing.assert_close(cache["blocks.1.attn.hook_pattern"][:, 0],
                               ref_cache["blocks.1.attn.hook_pattern"][:3, 0])
    # corrupted: the pattern on the reference with its positions shuffled, which differs from the clean one
    prepared = Reference.compute(model, reference, [PatternFreeze(1, 0, "corrupted")],
                                 generator=torch.Generator().manual_seed(5))
    _, cache = _cache(model, inputs, PatternFreeze(1, 0, "corrupted"), prepared)
    frozen = cache["blocks.1.attn.hook_pattern"][:, 0]
    torch.testing.assert_close(frozen, prepared.activations["corrupted"]["blocks.1.attn.hook_pattern"][:3, 0])
    assert not torch.allclose(frozen, ref_cache["blocks.1.attn.hook_pattern"][:3, 0])
    # a frozen pattern changes the head's output (z is computed from the hooked pattern)
    _, clean = run_with_cache(model, inputs)
    assert not torch.allclose(cache["blocks.1.attn.hook_z"][:, :, 0], clean["blocks.1.attn.hook_z"][:, :, 0])


def test_combined_applies_every_part(model, inputs):
    _, cache = _cache(model, inputs, parse_treatment("ablate:L0H0:zero+ablate:L0H1:zero"))
    assert (cache["blocks.0.attn.hook_z"] == 0).all()


def test_bad_input(model, inputs):
    with pytest.raises(ValueError, match="`layer` 2 of 'ablate:L2H0:zero' is out of range"):
        HeadAblation(2, 0).hooks(model)
    with pytest.raises(ValueError, match="`head` 3 of 'pattern:L0H3:uniform' is out of range"):
        PatternFreeze(0, 3).hooks(model)
    with pytest.raises(ValueError, match="`layer` must be an integer >= 0, got -1"):
        HeadAblation(-1, 0)
    with pytest.raises(TypeError, match="`head` must be an integer >= 0, got 1.5"):
        HeadAblation(0, 1.5)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        HeadAblation(0, 0, "gaussian")
    with pytest.raises(ValueError, match="`per_position`=False applies to kind='mean' only"):
        HeadAblation(0, 0, "zero", per_position=False)
    with pytest.raises(ValueError, match="`kind` must be one of"):
        PatternFreeze(0, 0, "random")
    with pytest.raises(TypeError, match="`parts` must be a non-empty tuple"):
        Combined(())
    with pytest.raises(ValueError, match="`label` 'ablate:head1': cannot read"):
        parse_treatment("ablate:head1")
    with pytest.raises(ValueError, match="':overall' applies to mean ablation only"):
        parse_treatment("pattern:L0H0:uniform:overall")
    with pytest.raises(TypeError, match="`label` must be a string"):
        parse_treatment(3)
    # before: accepted, resample ablation under a second label (read as patching from the sequence itself)
    for patch in (lambda: parse_treatment("patch:L1H0:clean"), lambda: HeadPatch(1, 0, "clean")):
        with pytest.raises(ValueError, match=r"^`source` 'clean' names the reference sequences, so 'patch:L1H0:clean' "
                                             r"would be resample ablation under a second label: write "
                                             r"'ablate:L1H0:resample'"):
            patch()
    with pytest.raises(ValueError, match="`reference` is needed by 'ablate:L0H0:mean'"):
        HeadAblation(0, 0, "mean").hooks(model)
    with pytest.raises(ValueError, match="`reference` holds no clean activations"):
        HeadAblation(0, 0, "mean").hooks(model, Reference({}))
    with pytest.raises(TypeError, match="`model` must implement causalattn.lab.models.contract.HookedModel"):
        HeadAblation(0, 0).hooks(torch.nn.Linear(2, 2))
    short = torch.randint(65, (2, T - 4))
    with pytest.raises(ValueError, match="does not fit: its reference sequences have 6 positions"):
        _cache(model, inputs, HeadAblation(0, 0, "resample"), short)



def test_role_labels_parse_wherever_parse_treatment_is_imported():
    import subprocess
    import sys

    code = ("from causalattn.lab.interventions.base import parse_treatment; "
            "print(repr(parse_treatment('ablate_role:induction@L1:zero+pattern_role:previous_token:uniform')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)  # a fresh process
    assert done.stdout.strip() == ("Combined(parts=(RoleAblation(role='induction', layer=1, kind='zero'), "
                                   "RolePattern(role='previous_token', layer=None, kind='uniform')))")
