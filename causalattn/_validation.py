"""Argument checks shared by the public functions.

Every message names the argument in backticks and says what was wrong, e.g.
``"`n_resamples` must be a positive integer, got -3"``.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from causalattn.hypothesis import HypothesisTest


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else a ValueError naming ``name``."""
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a string, one of {list(choices)}, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}, got {value!r}")
    return value


def check_confidence_level(level: Any) -> float:
    """A confidence level strictly between 0 and 1."""
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"`confidence_level` must be a number in (0, 1), got {type(level).__name__}")
    if not 0 < level < 1:
        raise ValueError(f"`confidence_level` must be in (0, 1), got {level}")
    return float(level)


def check_flag(name: str, value: Any) -> bool:
    """A bool (numpy bools accepted)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)


def check_positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """An integer ``>= minimum`` (bools are rejected): :func:`check_integer` with a lower bound."""
    return check_integer(name, value, minimum=minimum)


#: Most resamples (or simulation draws) of any procedure: each resampled statistic is kept in memory (8 bytes) and
#: each takes time, so a larger count is a typo that would run for days (:func:`check_resamples`).
MAX_RESAMPLES = 2**26

#: The intervals a resampling count serves (:func:`minimum_resamples`).
RESAMPLED_INTERVALS = ("percentile", "normal")

# A normal interval from a bootstrap standard error may lose at most this share of its nominal error rate 1 - level
# to the Monte Carlo noise of the standard error (:func:`minimum_resamples`).
_NORMAL_NOISE = 0.2


@functools.lru_cache(maxsize=64)
def minimum_resamples(level: float, interval: str = "percentile") -> int:
    r"""Fewest resamples (or simulation draws) for an interval at ``level`` built from them.

    ``interval="percentile"``: an interval read from the resampled percentiles,
    or a p-value counted over them: :math:`\lceil 2 / (1 - \text{level}) \rceil`
    (40 at 95%). Below it the interval's endpoints are the extreme resamples (or
    undefined: one resample has no spread) and the p-value floor
    :math:`1/(B + 1)` exceeds :math:`1 - \text{level}`, so test and interval
    could disagree.

    ``interval="normal"``: an interval :math:`\hat\theta \pm z\,\widehat{se}_B`
    from the standard deviation of :math:`B` resamples (a bootstrap standard
    error), nothing read from their percentiles. If the resampled statistics
    are normal, :math:`(B - 1)\widehat{se}_B^2/se^2 \sim \chi^2_{B-1}`, so the
    Monte Carlo noise of :math:`\widehat{se}_B` alone gives the interval the
    coverage :math:`P(|t_{B-1}| \le z)` instead of ``level``. The minimum is the
    smallest :math:`B` for which the error rate :math:`P(|t_{B-1}| > z)` is at
    most 1.2 times the nominal :math:`1 - \text{level}` (30 at 95%: coverage
    0.94 or more; 17 at 90%, 75 at 99%). At every level it is at most the
    percentile minimum.

    References
    ----------
    Efron, B. and Tibshirani, R. J. (1993). *An Introduction to the Bootstrap*,
    sections 6.4 (how many resamples a standard error needs) and 19.3 (its
    Monte Carlo variability).

    Examples
    --------
    >>> minimum_resamples(0.95), minimum_resamples(0.95, "normal"), minimum_resamples(0.99, "normal")
    (40, 30, 75)
    """
    check_choice("interval", interval, RESAMPLED_INTERVALS)
    if interval == "percentile":
        return math.ceil(2 / (1 - level) - 1e-9)  # 2 / (1 - 0.9) is 20.000000000000004 in floating point
    from scipy import stats  # only here: a light import for the rest of the validators

    z, allowed = stats.norm.ppf((1 + level) / 2), (1 + _NORMAL_NOISE) * (1 - level)

    def enough(count: int) -> bool:  # the error rate falls as the count grows
        return 2 * stats.t.sf(z, count - 1) <= allowed

    low, high = 1, 2  # not enough at low (one resample has no spread); find a high that is, then bisect
    while not enough(high):
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high


def check_resample_count(name: str, value: Any) -> int:
    """A positive integer of at most :data:`MAX_RESAMPLES`, named ``name`` (no minimum: see :func:`check_resamples`)."""
    count = check_positive_int(name, value)
    if count > MAX_RESAMPLES:
        raise ValueError(f"`{name}` must be at most 2**26 = {MAX_RESAMPLES:,} (the resampled statistics are kept in "
                         f"memory, 8 bytes each, and each takes time), got {count:,}")
    return count


def check_resamples(name: str, value: Any, level: float, interval: str = "percentile") -> int:
    """An integer of at least :func:`minimum_resamples` for ``interval`` intervals at ``level`` and at most
    :data:`MAX_RESAMPLES`, named ``name``.

    Every resampling count of the package is checked here: the bootstrap and
    simulation draws of the effect layer, mediation, the observational
    estimators, the g-formula and Mendelian randomization.

    Examples
    --------
    >>> check_resamples("n_resamples", 20, 0.95, "normal")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `n_resamples` must be at least 30 for a normal interval at 95% from a bootstrap standard error ...
    """
    count = check_resample_count(name, value)
    least = minimum_resamples(level, interval)
    if count < least:
        why = ("(the resampled percentiles and the p-value floor 1/(B + 1) need it)" if interval == "percentile" else
               "(fewer make the standard error so noisy that the interval undercovers by more than a fifth of "
               "its error rate)")
        kind = f"{level:.0%} intervals" if interval == "percentile" else (
            f"a normal interval at {level:.0%} from a bootstrap standard error")
        raise ValueError(f"`{name}` must be at least {least} for {kind} {why}, got {count}")
    return count


# Largest seed accepted: torch's generators take 64-bit seeds, and seeds are offset (seed + 1, a question's stream)
SEED_MAX = 2**63 - 1


def check_seed(name: str, value: Any) -> int:
    """A seed of a random stream: an integer in ``[0, 2**63 - 1]`` (:func:`check_integer`).

    Examples
    --------
    >>> check_seed("seed", 2**70)
    Traceback (most recent call last):
    ...
    ValueError: `seed` must be an integer in [0, 9223372036854775807], got 1180591620717411303424
    """
    return check_integer(name, value, minimum=0, maximum=SEED_MAX)


def check_integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer in ``[minimum, maximum]`` (either bound optional; bools and floats are refused).

    A TypeError if ``value`` is not an integer (numpy integers are), a
    ValueError if it is out of range; both name ``name`` and the range.

    Examples
    --------
    >>> check_integer("layer", 5, minimum=0, maximum=1)
    Traceback (most recent call last):
    ...
    ValueError: `layer` must be an integer in [0, 1], got 5
    """
    if minimum is not None and maximum is not None:
        kind = f"an integer in [{minimum}, {maximum}]"
    elif minimum is not None:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    else:
        kind = "an integer" if maximum is None else f"an integer <= {maximum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be {kind}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{name}` must be {kind}, got {value}")
    return int(value)


def check_rng(rng: Any) -> np.random.Generator:
    """Normalize ``rng`` (None, int seed, or Generator) with :func:`numpy.random.default_rng`; a bool is refused."""
    if isinstance(rng, (bool, np.bool_)) or (
            rng is not None and not isinstance(rng, (numbers.Integral, np.random.Generator, np.random.SeedSequence))):
        raise TypeError(f"`rng` must be None, an integer seed or a numpy Generator, got {type(rng).__name__}")
    return np.random.default_rng(rng)


#: Integers beyond this magnitude are refused: not every one of them is a float64 (2**53 + 1 is not).
MAX_EXACT_INTEGER = 2**53


def check_real(name: str, value: Any) -> float:
    """A finite real number (bools, complex numbers and integers beyond the float range refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a finite real number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"`{name}` is too large for floating point (beyond 1.8e308), got an integer of "
                         f"{len(str(abs(int(value))))} digits") from None
    if not math.isfinite(number):
        raise ValueError(f"`{name}` must be a finite number, got {value!r}")
    return number


def check_exact_integers(where: str, raw: np.ndarray) -> None:
    """Refuse integers float64 cannot hold exactly (beyond 2**53 in magnitude), and complex numbers."""
    if raw.dtype.kind == "c":
        raise TypeError(f"{where} must be real, got complex values (dtype {raw.dtype}); pass the real part, "
                        "the modulus or the two parts as separate arguments")
    if raw.dtype.kind in "iu":
        too_large = raw.size and (raw.max() > MAX_EXACT_INTEGER or (raw.dtype.kind == "i" and
                                                                    raw.min() < -MAX_EXACT_INTEGER))
        big = [int(raw.max()) if raw.max() > MAX_EXACT_INTEGER else int(raw.min())] if too_large else []
    elif raw.dtype.kind == "O":
        items = raw.ravel().tolist()
        if any(isinstance(x, complex) for x in items):
            raise TypeError(f"{where} must be real, got complex values; pass the real part, the modulus or the "
                            "two parts as separate arguments")
        big = [x for x in items if isinstance(x, numbers.Integral) and not isinstance(x, bool)
               and abs(x) > MAX_EXACT_INTEGER][:1]
    else:
        return
    if big:
        shown = f"{big[0]}" if len(str(big[0])) <= 30 else f"an integer of {len(str(abs(big[0])))} digits"
        raise ValueError(f"{where} holds integers beyond 2**53 in magnitude ({shown}), which float64 cannot hold "
                         "exactly; subtract a common offset first, or convert to float yourself if rounding them "
                         "is acceptable")


def as_float_array(name: str, values: Any, *, column: str | None = None, vector: bool = True) -> np.ndarray:
    """Finite float values of argument ``name`` (or of its column ``column``), not empty; never drops a row.

    ``values`` is array-like or a pandas Series (booleans are numeric; a
    nullable Series' missing values count as NaN). With ``vector`` they must
    be one-dimensional; else any shape is accepted. A message names
    ``name`` alone, or ``column`` within it when that is another name (a
    covariate of a list). A TypeError if the values are not numeric or are
    complex, a ValueError on a wrong shape, no value, NaN or infinity, and on
    integers beyond :data:`MAX_EXACT_INTEGER` (2**53) in magnitude, which
    float64 would round (they are refused, never rounded silently).
    """
    where = f"`{name}`" if column in (None, name) else f"`{name}`: column {column!r}"
    encode = "encode it first, e.g. with pandas.get_dummies"
    if isinstance(values, pd.Series) and not pd.api.types.is_numeric_dtype(values):
        raise TypeError(f"{where} must be numeric, got dtype {values.dtype}; {encode}")
    try:
        raw = (values.dropna().to_numpy() if isinstance(values, pd.Series) and values.hasnans
               else np.asarray(values))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} must be numeric, could not convert it: {exc}; {encode}") from None
    check_exact_integers(where, raw)
    try:
        arr = (values.to_numpy(dtype=float, na_value=np.nan) if isinstance(values, pd.Series)
               else raw.astype(float))
    except OverflowError:
        raise ValueError(f"{where} holds a number too large for floating point (beyond 1.8e308)") from None
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{where} must be numeric, could not convert it: {exc}; {encode}") from None
    if vector and arr.ndim != 1:
        raise ValueError(f"{where} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{where} must not be empty")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(f"{where} must be finite, found {int(bad.sum())} missing (NaN) or infinite value(s); "
                         "drop or impute those rows first (rows are never dropped silently)")
    return arr


def check_not_constant(where: str, values: np.ndarray) -> None:
    """Refuse an outcome whose values are all equal (``where`` names it, e.g. ```outcome```).

    Every effect on it is 0 up to rounding (1e-16), and a standard error computed from the same rounding makes
    their ratio look "significant" (a constant outcome gave p = 0.0005 in a regression and p = 0.011 in a marginal
    structural model). Shared by the observational, mediation and longitudinal estimators.

    Examples
    --------
    >>> check_not_constant("`outcome`", np.array([2.0, 2.0, 2.0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `outcome` is constant (2 for every unit): there is no effect to estimate, and a variance of 0 ...
    """
    if values.size and not np.ptp(values) > 0:
        raise ValueError(f"{where} is constant ({float(values.flat[0]):g} for every unit): there is no effect to "
                         "estimate, and a variance of 0 would give rounding noise a p-value")


def as_binary_array(name: str, values: Any) -> np.ndarray:
    """A 1-d int array of 0/1 values (booleans accepted)."""
    arr = as_float_array(name, values)
    if not np.isin(arr, (0.0, 1.0)).all():
        found = np.unique(arr[~np.isin(arr, (0.0, 1.0))])[:5]
        raise ValueError(f"`{name}` must be binary (0/1), found values {found.tolist()}")
    return arr.astype(int)


def check_same_length(**arrays: Any) -> int:
    """The common length of the named arrays; a ValueError listing them otherwise."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"`{k}` has {v}" for k, v in lengths.items())
        raise ValueError(f"arguments must have the same length: {listed}")
    return next(iter(lengths.values()))


def check_same_index(**values: Any) -> None:
    """Refuse pandas arguments whose indexes differ: values are matched by position, never aligned silently.

    Each keyword is an argument's name and its value; pandas Series and
    DataFrames are compared by their index, a :class:`pandas.Index` is taken as
    the index itself (e.g. the index of the labels a design was built from),
    and anything else (arrays, lists, None) is not checked. The message names
    the first two arguments that differ.

    Examples
    --------
    >>> y = pd.Series([1.0, 2.0], index=["a", "b"])
    >>> check_same_index(outcome=y, treatment=[1, 0], strata=y.index)
    >>> check_same_index(outcome=y, treatment=pd.Series([1, 0]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `outcome` and `treatment` are pandas objects with different indexes; values are matched by ...
    """
    indexes = {name: v if isinstance(v, pd.Index) else v.index for name, v in values.items()
               if isinstance(v, (pd.Series, pd.DataFrame, pd.Index))}
    (first, index), *others = list(indexes.items()) or [(None, None)]
    for name, other in others:
        if not index.equals(other):
            raise ValueError(
                f"`{first}` and `{name}` are pandas objects with different indexes; values are matched by "
                f"position, so align them first (e.g. `{name}.reindex({first}.index)`) or pass arrays"
            )


def check_columns(data: Any, **columns: Any) -> pd.DataFrame:
    """Check that ``data`` is a DataFrame holding each named column (keyword = argument name)."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame, got {type(data).__name__}")
    for arg, col in columns.items():
        if col is None:
            continue
        cols = col if isinstance(col, (list, tuple)) else [col]
        for c in cols:
            if c not in data.columns:
                raise ValueError(f"`{arg}`: column {c!r} is not in `data` (columns: {list(data.columns)[:20]})")
    return data


def check_estimate_rows(name: str, rows: Sequence[Any], use: str) -> None:
    """Refuse :class:`~causalattn.HypothesisTest` rows of a table where only estimates make sense (``use``)."""
    tests = [i for i, row in enumerate(rows) if isinstance(row, HypothesisTest)]
    if tests:
        raise TypeError(f"`{name}`: {use} needs estimates, but row(s) {tests[:5]} are HypothesisTest objects "
                        "(no estimate or interval); leave them out")
