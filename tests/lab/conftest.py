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
def assert_coherent():
    """Check every row of an effects table: its interval excludes the null iff its p-value < 1 - level.

    An exact tie p == 1 - level is allowed only at the boundary; a row without a
    p-value must say why (a degenerate row with a point interval, or a row that
    is not estimable, with no interval).
    """
    import math

    def check(table):
        for e in table:
            low, high = e.confidence_interval
            if e.pvalue is None:
                assert "degenerate" in e.details or e.method == "not estimable", e
                assert (low == high == e.estimate) or (math.isnan(low) and math.isnan(high)), e
                continue
            alpha = 1 - e.confidence_level
            excludes = not low <= e.null_value <= high
            assert excludes == (e.pvalue < alpha) or e.pvalue == alpha, e
        return len(table)

    return check

