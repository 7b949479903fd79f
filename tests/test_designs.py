import itertools
import math

import numpy as np
import pytest
from scipy import stats

from causalattn.experiments.designs import BRE, CRE, DESIGNS, MPE, SRE, ClusterRandomized, ReM, resolve_design

STRATA = np.array([2, 0, 0, 1, 2, 0, 1, 2, 1, 0, 2, 2])


def all_designs():
    rng = np.random.default_rng(0)
    return [CRE(10, 4), BRE(0.3, n=8), SRE(STRATA, [2, 1, 3]), MPE([3, 1, 2, 1, 3, 2]),
            ReM(rng.normal(size=(12, 2)), 1.0, n_treated=5), ClusterRandomized(CLUSTERS, 2)]


CLUSTERS = np.array(["c", "a", "b", "a", "d", "c", "c", "b"])


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
    for row in rows:
        design.check_assignment(row.astype(int))  # every enumerated assignment is one the design can produce
    if not isinstance(design, ReM):
        assert len(rows) == design.count()


def test_counts_and_structure():
    rng = np.random.default_rng(1)
    assert CRE(10, 4).count() == math.comb(10, 4)
    assert (CRE(10, 4).draw(rng, 100).sum(axis=1) == 4).all()
    sre = SRE(STRATA, [2, 1, 3])
    assert sre.count() == math.comb(4, 2) * math.comb(3, 1) * math.comb(5, 3)
    a = sre.draw(rng, 100)
    for label, n1 in zip((0, 1, 2), (2, 1, 3), strict=True):
        assert (a[:, STRATA == label].sum(axis=1) == n1).all()
    mpe = MPE([3, 1, 2, 1, 3, 2])
    a = mpe.draw(rng, 100)
    assert mpe.count() == 8 and (a[:, [1, 3]].sum(axis=1) == 1).all() and (a[:, [0, 4]].sum(axis=1) == 1).all()
    bre = BRE(0.3, n=8)
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
    rem = ReM(x, threshold, n_treated=30)
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
        BRE(0.0, n=5)
    with pytest.raises(ValueError, match="`strata`: stratum 1 needs both arms"):
        SRE(STRATA, [2, 3, 3])
    with pytest.raises(ValueError, match="`n_treated` must give one count per stratum"):
        SRE(STRATA, [2, 1])
    with pytest.raises(ValueError, match="`pairs`: every pair must hold exactly 2 units, pair 'c' has 1"):
        MPE(["a", "a", "b", "b", "c"])
    with pytest.raises(ValueError, match="`covariates` are collinear"):
        ReM(np.column_stack([np.arange(10.0), 2 * np.arange(10.0)]), 1.0)
    with pytest.raises(ValueError, match="`threshold` must be positive"):
        ReM(np.arange(10.0), 0.0)
    with pytest.raises(ValueError, match="`covariates` must be finite"):
        ReM(np.r_[np.nan, np.arange(9.0)], 1.0)


def test_cluster_design_assigns_clusters_whole():
    design = ClusterRandomized(CLUSTERS, 2)
    assert design.count() == math.comb(4, 2) and design.n == 8
    rows = np.concatenate([block for block, _ in design.enumerate()])
    hand = [np.isin(CLUSTERS, treated).astype(float) for treated in itertools.combinations("abcd", 2)]
    assert sorted(map(tuple, rows)) == sorted(map(tuple, hand))
    a = design.draw(np.random.default_rng(0), 300)
    for label in "abcd":
        block = a[:, CLUSTERS == label]
        assert (block == block[:, :1]).all()
    assert design.treated_probability() == pytest.approx(np.full(8, 0.5))
    assert ClusterRandomized(CLUSTERS).bind(np.isin(CLUSTERS, ["a", "d"]).astype(int)).n_treated == 2


@pytest.mark.parametrize("design", [CRE(7, 3), SRE(STRATA, [2, 1, 3]), MPE([3, 1, 2, 1, 3, 2]),
                                    ClusterRandomized(CLUSTERS, 2), BRE(0.3, n=6)],
                         ids=lambda d: type(d).__name__)
def test_moments_and_probabilities_agree_with_enumeration(design):
    blocks = list(design.enumerate())
    rows = np.concatenate([b for b, _ in blocks])
    weights = np.ones(len(rows)) if blocks[0][1] is None else np.concatenate([w for _, w in blocks])
    weights = weights / weights.sum()
    scores = np.random.default_rng(1).normal(size=design.n)
    values = rows @ scores
    mean = weights @ values
    moments = design.linear_moments(scores)
    if moments is None:
        assert isinstance(design, BRE)
    else:
        assert moments[0] == pytest.approx(mean) and moments[1] == pytest.approx(weights @ (values - mean) ** 2)
    if not isinstance(design, BRE):  # BRE's probability is before excluding the empty arms
        assert design.treated_probability() == pytest.approx(weights @ rows)


def test_names_stand_for_designs_without_arguments_and_values_are_bound_to_the_treatment():
    assert set(DESIGNS) == {"cre", "bre", "sre", "mpe", "rem", "cluster"}
    z = np.array([1, 0, 1, 0, 0, 1])
    assert isinstance(resolve_design("cre", z), CRE) and resolve_design("cre", z).n_treated == 3
    assert resolve_design(MPE([0, 0, 1, 1, 2, 2]), z).count() == 8
    assert resolve_design(BRE(0.5), z).n == 6 and resolve_design(BRE(0.5), z).count() == 62
    assert resolve_design(SRE([0, 0, 0, 1, 1, 1]), z).n_treated.tolist() == [2, 1]
    assert resolve_design(ClusterRandomized([0, 1, 0, 1, 1, 0]), z).n_treated == 1
    assert resolve_design(ReM(np.arange(6.0), 10.0), z).n_treated == 3
    with pytest.raises(ValueError, match=r"`design` must be one of .*, got 'crd'; or a Design value"):
        resolve_design("crd", z)
    with pytest.raises(ValueError, match=r"`design`='cluster' needs arguments: pass the value "
                                         r"ClusterRandomized\(clusters, n_treated=None\).*names stand only for "
                                         r"the designs without arguments, \['cre'\]"):
        resolve_design("cluster", z)
    with pytest.raises(TypeError, match=r"`design` must be a Design value .* or one of \['cre'\], got int"):
        resolve_design(3, z)
    with pytest.raises(ValueError, match="same length: `treatment` has 6, `strata` has 5"):
        resolve_design(SRE([0, 0, 0, 1, 1]), z)
    with pytest.raises(ValueError, match="`treatment` treats 3 units, the design 2"):
        resolve_design(CRE(6, 2), z)


def test_an_open_design_is_refused_until_bound():
    for open_design in (CRE(), SRE([0, 0, 1, 1]), BRE(0.5), ClusterRandomized([0, 0, 1, 1]), ReM(np.arange(4.0), 1.0)):
        assert not open_design.bound
        with pytest.raises(ValueError, match=f"`design`: this {type(open_design).__name__} leaves the number of "
                                             "treated units open"):
            open_design.draw(0, 2)
        with pytest.raises(ValueError, match="leaves the number of treated units open"):
            open_design.count()
    with pytest.raises(ValueError, match="give both `n` and `n_treated`, or neither"):
        CRE(5)


def test_designs_remember_the_index_of_pandas_labels():
    import pandas as pd
    strata = pd.Series([0, 0, 1, 1], index=[10, 11, 12, 13])
    design = SRE(strata)
    assert design.indexes["strata"].equals(strata.index)
    assert design.bind([1, 0, 0, 1]).indexes["strata"].equals(strata.index)  # kept when bound
    assert MPE([0, 0, 1, 1]).indexes == {}


def test_draw_accepts_seeds_and_zero_size():
    np.testing.assert_array_equal(CRE(5, 2).draw(0, 4), CRE(5, 2).draw(np.random.default_rng(0), 4))
    assert CRE(5, 2).draw(np.random.default_rng(0), 0).shape == (0, 5)
    assert list(CRE(5, 2).draw_batches(0, 0, 3)) == []


def test_rejection_sampling_gives_up_with_the_acceptance_rate():
    with pytest.raises(ValueError, match=r"BRE: only 0 of \d+ candidate assignments were acceptable "
                                         r"\(acceptance rate 0\).*`probability` is too close"):
        BRE(1e-9, n=2).draw(0, 3)
    x = np.random.default_rng(0).normal(size=(40, 3))
    with pytest.raises(ValueError, match=r"ReM: only 0 of \d+ candidates? .*acceptance rate 0.*raise `threshold`"):
        ReM(x, 1e-12, n_treated=20).draw(0, 2)
    # an enumerable design still gives an exact answer (2 assignments, both acceptable)
    assert BRE(1e-9, n=2).count() == 2


def test_issue_12_design_inputs():
    with pytest.raises(ValueError, match=r"`n_treated` must hold whole numbers, got \[1.7, 1.2\]"):
        SRE([0, 0, 0, 1, 1, 1], n_treated=[1.7, 1.2])
    assert SRE([0, 0, 0, 1, 1, 1], n_treated=[1.0, 2.0]).n_treated.tolist() == [1, 2]
    with pytest.raises(TypeError, match="`n_treated` must hold integers"):
        SRE([0, 0, 0, 1, 1, 1], n_treated=["1", "2"])
    with pytest.raises(ValueError, match="`batch` must be a positive integer"):
        list(CRE(5, 2).enumerate(batch=0))
    with pytest.raises(ValueError, match="`pairs` must hold at least one pair"):
        MPE([])
    with pytest.raises(ValueError, match="`covariates` must have at least 2 rows"):
        ReM([[1.0]], 1.0)
    with pytest.raises(ValueError, match="`size` must be an integer >= 0"):
        CRE(5, 2).draw(0, -1)
    with pytest.raises(TypeError, match="`rng` must be None, an integer seed or a numpy Generator"):
        CRE(5, 2).draw("seed", 2)
    with pytest.raises(TypeError, match="`probability` must be a real number, got '0.5'"):
        BRE("0.5", n=5)
    with pytest.raises(TypeError, match="`threshold` must be a real number, got '1'"):
        ReM(np.arange(10.0), "1")
    with pytest.raises(TypeError, match="`covariates` must be numeric"):
        ReM([["a"], ["b"]], 1.0)
    with pytest.raises(ValueError, match="`clusters` must hold at least 2 clusters"):
        ClusterRandomized(["a", "a"], 1)
    with pytest.raises(ValueError, match=r"`n_treated` \(treated clusters\) must be less than the 4 clusters"):
        ClusterRandomized(CLUSTERS, 4)
    with pytest.raises(ValueError, match="`treatment`: need at least 1 treated and 1 control cluster"):
        ClusterRandomized(CLUSTERS).bind(np.ones(8, int))
