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
