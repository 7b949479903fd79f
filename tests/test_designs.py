import math

import numpy as np
import pytest
from scipy import stats

from causalattn.designs import BRE, CRE, MPE, SRE, ReM

STRATA = np.array([2, 0, 0, 1, 2, 0, 1, 2, 1, 0, 2, 2])


def all_designs():
    rng = np.random.default_rng(0)
    return [CRE(10, 4), BRE(8, 0.3), SRE(STRATA, [2, 1, 3]), MPE([3, 1, 2, 1, 3, 2]),
            ReM(rng.normal(size=(12, 2)), 5, 1.0)]


@pytest.mark.parametrize("design", all_designs(), ids=lambda d: type(d).__name__)
def test_draw_batches_do_not_depend_on_batch_size(design):
    whole = design.draw(np.random.default_rng(3), 500)
    pieces = np.concatenate(list(design.draw_batches(np.random.default_rng(3), 500, 37)))
    np.testing.assert_array_equal(whole, pieces)
    assert whole.shape == (500, design.n) and np.isin(whole, (0.0, 1.0)).all()


@pytest.mark.parametrize("design", all_designs(), ids=lambda d: type(d).__name__)
def test_enumeration_lists_distinct_assignments(design):
    rows = np.concatenate([block for block, _ in design.enumerate(batch=50)])
    assert len(np.unique(rows, axis=0)) == len(rows)
    if not isinstance(design, ReM):
        assert len(rows) == design.count()


def test_counts_and_structure():
    rng = np.random.default_rng(1)
    assert CRE(10, 4).count() == math.comb(10, 4)
    assert (CRE(10, 4).draw(rng, 100).sum(axis=1) == 4).all()
    sre = SRE(STRATA, [2, 1, 3])
    assert sre.count() == math.comb(4, 2) * math.comb(3, 1) * math.comb(5, 3)
    a = sre.draw(rng, 100)
    for label, n1 in zip((0, 1, 2), (2, 1, 3)):
        assert (a[:, STRATA == label].sum(axis=1) == n1).all()
    mpe = MPE([3, 1, 2, 1, 3, 2])
    a = mpe.draw(rng, 100)
    assert mpe.count() == 8 and (a[:, [1, 3]].sum(axis=1) == 1).all() and (a[:, [0, 4]].sum(axis=1) == 1).all()
    bre = BRE(8, 0.3)
    a = bre.draw(rng, 4000)
    # draws are conditional on both arms being non-empty: E[Z_i | 0 < N_1 < n] = (p - p^n) / (1 - p^n - (1-p)^n)
    assert bre.count() == 2**8 - 2 and abs(a.mean() - (0.3 - 0.3**8) / (1 - 0.3**8 - 0.7**8)) < 0.01
    assert ((a.sum(axis=1) > 0) & (a.sum(axis=1) < 8)).all()
    weights = np.concatenate([w for _, w in bre.enumerate()])
    assert weights.sum() == pytest.approx(1 - 0.3**8 - 0.7**8)


def test_cre_draws_are_uniform_over_subsets():
    a = CRE(4, 2).draw(np.random.default_rng(2), 6000)
    codes = a @ (2 ** np.arange(4))
    counts = np.unique(codes, return_counts=True)[1]
    assert len(counts) == 6
    assert stats.chisquare(counts).pvalue > 0.001


def test_rerandomization_accepts_only_small_distances():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(60, 3))
    threshold = stats.chi2.ppf(0.1, 3)
    rem = ReM(x, 30, threshold)
    a = rem.draw(rng, 200)
    assert (rem.mahalanobis(a) <= threshold).all()
    assert rem.acceptance_probability() == pytest.approx(0.1)
    # Mahalanobis distance by hand for one assignment
    d = x[a[0] == 1].mean(axis=0) - x[a[0] == 0].mean(axis=0)
    hand = 30 * 30 / 60 * d @ np.linalg.solve(np.cov(x, rowvar=False), d)
    assert rem.mahalanobis(a[:1])[0] == pytest.approx(hand)


def test_bad_input():
    with pytest.raises(ValueError, match="`n_treated` must be less than `n`"):
        CRE(5, 5)
    with pytest.raises(ValueError, match="`n_treated` must be a positive integer"):
        CRE(5, 0)
    with pytest.raises(ValueError, match="`probability` must be in"):
        BRE(5, 0.0)
    with pytest.raises(ValueError, match="`strata`: stratum 1 needs both arms"):
        SRE(STRATA, [2, 3, 3])
    with pytest.raises(ValueError, match="`n_treated` must give one count per stratum"):
        SRE(STRATA, [2, 1])
    with pytest.raises(ValueError, match="`pairs`: every pair must hold exactly 2 units, pair 'c' has 1"):
        MPE(["a", "a", "b", "b", "c"])
    with pytest.raises(ValueError, match="`covariates` are collinear"):
        ReM(np.column_stack([np.arange(10.0), 2 * np.arange(10.0)]), 5, 1.0)
    with pytest.raises(ValueError, match="`threshold` must be positive"):
        ReM(np.arange(10.0), 5, 0.0)
    with pytest.raises(ValueError, match="`covariates` must be finite"):
        ReM(np.r_[np.nan, np.arange(9.0)], 5, 1.0)
