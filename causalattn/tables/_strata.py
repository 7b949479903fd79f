"""The stratum tables of :class:`~causalattn.StratifiedTable`: checked from tables, or counted from data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from causalattn._validation import check_columns
from causalattn.tables._cells import binary_columns, check_arms, check_counts, count_units
from causalattn.tables.association import Table2x2


def tables_iv(tables: Any, labels: Any) -> tuple[np.ndarray, tuple]:
    """Counts of shape (K, 2, 2) and K labels, checked."""
    if isinstance(tables, np.ndarray) and tables.ndim != 3:
        raise ValueError(f"`tables` as one array must have shape (K, 2, 2), got shape {tables.shape}")
    if not isinstance(tables, (list, tuple, np.ndarray)):
        raise TypeError(f"`tables` must be a list of 2x2 tables, got {type(tables).__name__}")
    if len(tables) == 0:
        raise ValueError("`tables` must contain at least one stratum")
    if labels is None:
        labels = tuple(range(len(tables)))
    else:
        if isinstance(labels, str) or not isinstance(labels, (Sequence, np.ndarray, pd.Index)):
            raise TypeError(f"`labels` must be a sequence of stratum names, got {type(labels).__name__}")
        labels = tuple(labels)
        if len(labels) != len(tables):
            raise ValueError(f"`labels` has {len(labels)} names for {len(tables)} tables")
        if len(set(labels)) != len(labels):
            raise ValueError(f"`labels` must be distinct, got {list(labels)}")
    counts = []
    for i, (label, table) in enumerate(zip(labels, tables, strict=True)):
        arr = table.counts if isinstance(table, Table2x2) else check_counts(f"tables[{i}]", table)
        check_arms("tables", arr, f"stratum {label!r}")
        counts.append(arr)
    return np.stack(counts), labels


def count_strata(data: pd.DataFrame, treatment: str, outcome: str, strata: str) -> tuple[list[np.ndarray], list]:
    """One 2x2 table of counts per level of column ``strata``, and the levels (numpy scalars as Python ones).

    The levels come in the order of a categorical column's categories (those
    present); otherwise sorted when sortable, else in order of appearance.
    """
    check_columns(data, strata=strata)
    z, y = binary_columns(data, treatment=treatment, outcome=outcome)
    groups = data[strata]
    if groups.isna().any():
        raise ValueError(f"`strata`: column {strata!r} has {int(groups.isna().sum())} missing value(s)")
    if isinstance(groups.dtype, pd.CategoricalDtype):
        levels = [c for c in groups.cat.categories if (groups == c).any()]
    else:
        levels = list(pd.unique(groups))
        try:
            levels = sorted(levels)
        except TypeError:
            pass
    values = groups.to_numpy()
    tables = []
    for level in levels:
        in_stratum = values == level
        counts = count_units(z[in_stratum], y[in_stratum])
        check_arms("strata", counts, f"stratum {level!r}")
        tables.append(counts)
    return tables, [level.item() if isinstance(level, np.generic) else level for level in levels]
