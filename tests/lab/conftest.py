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
    """Check every row of an effects table: its interval excludes the null iff its test rejects, p <= 1 - level.

    The one rule of ``causalattn.rejects``; the ends of a t or normal interval are the single points where
    p = 1 - level, so a tie there within rounding is allowed. A row without a p-value must say why (a degenerate
    row with a point interval, or a row that is not estimable, with no interval).
    """
    import math

    from causalattn import rejects

    def check(table):
        for e in table:
            low, high = e.confidence_interval
            if e.pvalue is None:
                assert "degenerate" in e.details or e.method == "not estimable", e
                assert (low == high == e.estimate) or (math.isnan(low) and math.isnan(high)), e
                continue
            excludes = not low <= e.null_value <= high
            tie = "randomization" not in e.method and math.isclose(e.pvalue, 1 - e.confidence_level, rel_tol=1e-9)
            assert excludes == rejects(e.pvalue, e.confidence_level) or tie, e
        return len(table)

    return check

