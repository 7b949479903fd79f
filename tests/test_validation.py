"""The shared readers and checks of `_validation`, and their use in every function that reads several arrays."""

import numpy as np
import pandas as pd
import pytest

import causalattn as ca
from causalattn._validation import as_float_array, check_real, check_rng, check_same_index

# --------------------------------------------------------------------------- numbers float64 cannot hold


@pytest.mark.parametrize("values, match", [
    ([2**53 + 1, 1], r"`x` holds integers beyond 2\*\*53 in magnitude \(9007199254740993\)"),
    (np.array([-(2**62), 0]), r"`x` holds integers beyond 2\*\*53 in magnitude \(-4611686018427387904\)"),
    (np.array([2**64 - 1], dtype=np.uint64), r"beyond 2\*\*53 in magnitude \(18446744073709551615\)"),
    ([10**400, 1.0], r"`x` holds integers beyond 2\*\*53 in magnitude \(an integer of 401 digits\)"),
    (pd.Series([2**60, None], dtype="Int64"), r"`x` holds integers beyond 2\*\*53"),
])
def test_integers_beyond_2_to_53_are_refused_not_rounded(values, match):
    with pytest.raises(ValueError, match=match):
        as_float_array("x", values)


def test_integers_up_to_2_to_53_and_big_floats_are_read_exactly():
    assert as_float_array("x", [2**53, -(2**53), True]).tolist() == [2.0**53, -(2.0**53), 1.0]
    assert as_float_array("x", [1e300, 2.0**62]).tolist() == [1e300, 2.0**62]


@pytest.mark.parametrize("values", [[1 + 2j, 3], np.array([1.0, 2.0], dtype=complex), pd.Series([1j, 2.0])])
def test_complex_values_are_refused(values):
    # before: np.asarray(..., dtype=float) dropped the imaginary part with a ComplexWarning
    with pytest.raises(TypeError, match="`x` must be real, got complex values"):
        as_float_array("x", values)


def test_check_real():
    assert check_real("tau", 2) == 2.0
    with pytest.raises(ValueError, match="`tau` is too large for floating point"):
        check_real("tau", 10**400)
    with pytest.raises(ValueError, match="`tau` must be a finite number"):
        check_real("tau", float("nan"))
    with pytest.raises(TypeError, match="`tau` must be a finite real number"):
        check_real("tau", 1j)
    with pytest.raises(TypeError, match="`tau` must be a finite real number"):
        check_real("tau", True)


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


def test_check_same_index_compares_series_frames_and_index_objects():
    y = pd.Series([1.0, 2.0, 3.0], index=[10, 11, 12])
    check_same_index(outcome=y, treatment=[1, 0, 1], strata=y.index, covariates=pd.DataFrame({"x": y}))
    with pytest.raises(ValueError, match="`outcome` and `strata` are pandas objects with different indexes"):
        check_same_index(outcome=y, treatment=None, strata=pd.Index([12, 11, 10]))


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
    "frt strata": (lambda: ca.frt(Y, Z, design="sre", strata=_shuffled(pd.Series([0, 1] * 4))),
                   "`outcome` and `strata`"),
    "frt covariates": (lambda: ca.frt(Y, Z, design="mpe", pairs=[0, 1, 2, 3] * 2, statistic="adjusted",
                                      covariates=_shuffled(Y)), "`outcome` and `covariates`"),
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
    ("check_rng", lambda: check_rng(True)),
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
