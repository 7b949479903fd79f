"""The shared readers and checks, through every public function that uses them."""

import numpy as np
import pandas as pd
import pytest

import causalattn as ca


def _outcome(values):
    """``two_arm_effect`` reading ``values`` as its `outcome` (two units per arm at least)."""
    return ca.two_arm_effect(values, np.arange(len(values)) % 2)


# --------------------------------------------------------------------------- numbers float64 cannot hold


@pytest.mark.parametrize("values, match", [
    ([2**53 + 1, 1, 2, 3], r"`outcome` holds integers beyond 2\*\*53 in magnitude \(9007199254740993\)"),
    (np.array([-(2**62), 0, 1, 2]), r"`outcome` holds integers beyond 2\*\*53 in magnitude \(-4611686018427387904\)"),
    (np.array([2**64 - 1, 0, 1, 2], dtype=np.uint64), r"beyond 2\*\*53 in magnitude \(18446744073709551615\)"),
    ([10**400, 1.0, 2.0, 3.0], r"`outcome` holds integers beyond 2\*\*53 in magnitude \(an integer of 401 digits\)"),
    (pd.Series([2**60, None, 1, 2], dtype="Int64"), r"`outcome` holds integers beyond 2\*\*53"),
])
def test_integers_beyond_2_to_53_are_refused_not_rounded(values, match):
    with pytest.raises(ValueError, match=match):
        _outcome(values)


def test_integers_up_to_2_to_53_and_big_floats_are_read_exactly():
    assert _outcome([2**53, 0, -(2**53), 4]).estimate == 2.0  # treated (0, 4), control (2**53, -2**53): exact
    assert _outcome([0.0, 1e300, 1.0, 3e300]).estimate == pytest.approx(2e300)  # treated (1e300, 3e300)


@pytest.mark.parametrize("values", [[1 + 2j, 3, 4, 5], np.array([1.0, 2.0, 3, 4], dtype=complex),
                                    pd.Series([1j, 2.0, 3, 4])])
def test_complex_values_are_refused(values):
    # before: np.asarray(..., dtype=float) dropped the imaginary part with a ComplexWarning
    with pytest.raises(TypeError, match="`outcome` must be real, got complex values"):
        _outcome(values)


def test_numbers_beyond_the_float_range_name_their_argument():
    # before: a bare OverflowError
    with pytest.raises(ValueError, match="`null_value` is too large for floating point"):
        ca.paired_effect([1.0, 2, 3], [0.0, 0, 0], null_value=10**400)
    with pytest.raises(ValueError, match="`null_effect` is too large for floating point"):
        ca.frt([1.0, 2, 3, 4], [1, 1, 0, 0], null_effect=-(10**400))
    with pytest.raises(ValueError, match="`probability` is too large for floating point"):
        ca.designs.BRE(10**400)
    with pytest.raises(TypeError, match="`null_value` must be a finite real number"):
        ca.paired_effect([1.0, 2, 3], [0.0, 0, 0], null_value=1j)


def test_large_integers_in_the_estimators_are_refused():
    # before: paired_effect(b, b - [1, 2, 3, 5]) with b near 2**62 returned 0 with CI [0, 0]
    b = np.array([2**62 + 1, 2**62 + 7, 2**62 + 20, 2**62 + 3])
    with pytest.raises(ValueError, match=r"`treated` holds integers beyond 2\*\*53"):
        ca.paired_effect(b, b - np.array([1, 2, 3, 5]))
    with pytest.raises(ValueError, match=r"`outcome` holds integers beyond 2\*\*53"):
        ca.two_arm_effect([10**400, 1, 2, 3], [1, 1, 0, 0])
    with pytest.raises(TypeError, match="`outcome` must be real, got complex"):
        ca.frt([1 + 1j, 2, 3, 4], [1, 1, 0, 0])


def test_table_counts_beyond_2_to_53_are_refused():
    # before: Table2x2([[2**53 + 1, 1], [1, 1]]) stored 2**53
    with pytest.raises(ValueError, match=r"`counts` holds integers beyond 2\*\*53"):
        ca.Table2x2([[2**53 + 1, 1], [1, 1]])
    with pytest.raises(ValueError, match=r"`tables\[1\]` holds integers beyond 2\*\*53"):
        ca.StratifiedTable([[[1, 2], [3, 4]], [[1, 2], [3, 10**30]]])
    with pytest.raises(ValueError, match=r"`counts` holds integers beyond 2\*\*53"):
        ca.PairedTable(np.array([[2**63 - 1, 1], [1, 1]]))
    assert ca.Table2x2([[2**53, 1], [1, 1]]).counts[0, 0] == 2**53
    with pytest.raises(ValueError, match="`correction` must be None or a positive finite number such as 0.5, got 1000"):
        ca.Table2x2([[1, 2], [3, 4]]).risk_ratio(correction=10**400)


# --------------------------------------------------------------------------- pandas objects are not aligned


REVERSED = [3, 2, 1, 0, 7, 6, 5, 4]  # the index of a Series holding the same units in another order
Y = pd.Series([3.0, 5.0, 4.0, 6.0, 1.0, 2.0, 2.5, 1.5])
Z = pd.Series([1, 1, 1, 1, 0, 0, 0, 0])


def _shuffled(series):
    return pd.Series(series.to_numpy(), index=REVERSED)


# each call passes one argument whose index differs from the outcome's (the first pandas argument)
CALLS = {
    "paired_effect": (lambda: ca.paired_effect(Y[:4], _shuffled(Y)[4:]), "`treated` and `control`"),
    "two_arm_effect": (lambda: ca.two_arm_effect(Y, _shuffled(Z)), "`outcome` and `treatment`"),
    "clustered_effect": (lambda: ca.clustered_effect(Y, _shuffled(pd.Series([0, 0, 1, 1, 2, 2, 3, 3]))),
                         "`outcome` and `clusters`"),
    "clustered_effect treatment": (
        lambda: ca.clustered_effect(Y, pd.Series([0, 0, 1, 1, 2, 2, 3, 3]), treatment=_shuffled(Z)),
        "`outcome` and `treatment`"),
    "frt": (lambda: ca.frt(Y, _shuffled(Z)), "`outcome` and `treatment`"),
    "frt strata": (lambda: ca.frt(Y, Z, design=ca.designs.SRE(_shuffled(pd.Series([0, 1] * 4)))),
                   "`outcome` and `strata`"),
    "frt pairs": (lambda: ca.frt(Y, Z, design=ca.designs.MPE(_shuffled(pd.Series([0, 1, 2, 3] * 2)))),
                  "`outcome` and `pairs`"),
    "frt clusters": (lambda: ca.frt(Y, Z, design=ca.designs.ClusterRandomized(_shuffled(pd.Series(range(8))))),
                     "`outcome` and `clusters`"),
    "frt rerandomization covariates": (
        lambda: ca.frt(Y, Z, design=ca.designs.ReM(pd.DataFrame({"x": _shuffled(Y)}), 100.0)),
        "`outcome` and `covariates`"),
    "frt covariates": (lambda: ca.frt(Y, Z, design=ca.designs.MPE([0, 1, 2, 3] * 2), statistic="adjusted",
                                      covariates=_shuffled(Y)), "`outcome` and `covariates`"),
    "hodges_lehmann strata": (lambda: ca.hodges_lehmann(Y, Z, design=ca.designs.SRE(_shuffled(pd.Series([0, 1] * 4)))),
                              "`outcome` and `strata`"),
    "hodges_lehmann": (lambda: ca.hodges_lehmann(Y, _shuffled(Z)), "`outcome` and `treatment`"),
    "neyman": (lambda: ca.neyman(Y, _shuffled(Z)), "`outcome` and `treatment`"),
    "matched_pairs_adjusted": (
        lambda: ca.matched_pairs_adjusted(Y, Z, pairs=[0, 1, 2, 3] * 2, covariates=_shuffled(Y)),
        "`outcome` and `covariates`"),
    "PairedTable.from_data": (lambda: ca.PairedTable.from_data(Z, _shuffled(Z)), "`treated` and `control`"),
    "ols": (lambda: ca.ols(outcome=Y, treatment=_shuffled(Z)), "`outcome` and `treatment`"),
    "correlation": (lambda: ca.correlation(x=Y, y=_shuffled(Y)), "`x` and `y`"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_pandas_arguments_with_different_indexes_are_refused(name):
    # before: the effect layer, frt and hodges_lehmann paired the values by position, e.g.
    # two_arm_effect(y, z) with z's index reversed returned -3 where the aligned answer is +3
    call, match = CALLS[name]
    with pytest.raises(ValueError, match=f"{match} are pandas objects with different indexes"):
        call()


def test_same_index_in_any_order_of_labels_is_accepted():
    y, z = Y.set_axis(REVERSED), Z.set_axis(REVERSED)
    assert ca.two_arm_effect(y, z).estimate == ca.two_arm_effect(Y.to_numpy(), Z.to_numpy()).estimate


RNG_TRUE = [
    ("paired_effect", lambda: ca.paired_effect([1.0, 2.0, 3.0], [0.0, 1.0, 1.0], method="bootstrap", rng=True)),
    ("two_arm_effect", lambda: ca.two_arm_effect([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0], method="randomization",
                                                 rng=np.True_)),
    ("frt", lambda: ca.frt([1.0, 2.0, 3.0, 4.0], [1, 1, 0, 0], rng=True)),
]


@pytest.mark.parametrize("name, call", RNG_TRUE, ids=[name for name, _ in RNG_TRUE])
def test_a_bool_is_no_seed(name, call):
    # True used to seed numpy as 1: a flag passed where a seed belongs went unnoticed
    with pytest.raises(TypeError, match="`rng` must be None, an integer seed or a numpy Generator, got bool"):
        call()


# --------------------------------------------------------------------------- resampling counts


def test_the_minimum_resamples_of_a_percentile_interval():
    from causalattn._validation import minimum_resamples

    # ceil(2 / (1 - level)): each tail of the percentile interval needs one resample beyond the endpoint
    assert [minimum_resamples(level) for level in (0.5, 0.8, 0.9, 0.95, 0.99)] == [4, 10, 20, 40, 200]


@pytest.mark.parametrize("level, expected", [(0.8, 9), (0.9, 17), (0.95, 30), (0.99, 75)])
def test_the_minimum_resamples_of_a_normal_interval_from_a_bootstrap_standard_error(level, expected):
    from scipy import stats

    from causalattn._validation import minimum_resamples

    least = minimum_resamples(level, "normal")
    assert least == expected
    # the definition, from scipy's t: with B resamples the normal interval errs with probability P(|t_{B-1}| > z)
    z = stats.norm.ppf((1 + level) / 2)
    assert 2 * stats.t.sf(z, least - 1) <= 1.2 * (1 - level) < 2 * stats.t.sf(z, least - 2)
    assert least <= minimum_resamples(level)  # never more than a percentile interval needs


def test_the_normal_minimum_is_the_coverage_measured_by_simulation():
    from scipy import stats

    # a normal estimate with SD 1 and B = 30 normal resamples of SD 1: the interval estimate +- z sd(resamples)
    rng = np.random.default_rng(20261207)
    trials, b, z = 40_000, 30, stats.norm.ppf(0.975)
    estimates = rng.standard_normal(trials)
    se = rng.standard_normal((trials, b)).std(axis=1, ddof=1)
    coverage = np.mean(np.abs(estimates) <= z * se)
    expected = 1 - 2 * stats.t.sf(z, b - 1)  # 0.9403: within a fifth of the 5% error rate
    assert coverage == pytest.approx(expected, abs=4 * np.sqrt(expected * (1 - expected) / trials))
    assert 0.94 <= expected < 0.95


def test_the_interval_of_a_resampling_count_is_checked():
    from causalattn._validation import check_resamples

    with pytest.raises(ValueError, match=r"^`interval` must be one of \['percentile', 'normal'\], got 'bca'"):
        check_resamples("n_resamples", 100, 0.95, "bca")
    assert check_resamples("n_draws", 30, 0.95, "normal") == 30
