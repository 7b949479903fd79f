"""Nearest neighbours for matching: the metric, a blocked exact search with ties, within-group covariances.

The search is a brute force in numpy by blocks of queries, so that memory is
bounded by :data:`BLOCK_ELEMENTS` distances whatever the number of units.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BLOCK_ELEMENTS", "cross_matches", "group_covariances", "metric_space", "nearest", "own_matches"]

# Queries per block times candidates: bounds the distance matrix held in memory (8 bytes each).
BLOCK_ELEMENTS = 4_000_000


def metric_space(x: np.ndarray, metric: str) -> np.ndarray:
    """Coordinates in which the matching distance is Euclidean (standardized, then whitened for Mahalanobis)."""
    standardized = (x - x.mean(axis=0)) / x.std(axis=0, ddof=1)
    if metric == "inverse_variance":
        return standardized
    weight = np.linalg.inv(standardized.T @ standardized / len(x))
    return standardized @ np.linalg.cholesky(weight)


def nearest(queries: np.ndarray, candidates: np.ndarray, k: int, tolerance: float | None,
            exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` nearest candidates of each query, with ties, by blocks of queries.

    Returns ``(query, candidate, squared distance)`` index arrays of every match:
    for query ``q`` all candidates within ``tolerance`` of its ``k``-th smallest
    squared distance, or exactly ``k`` of them if ``tolerance`` is ``None``
    (ties broken arbitrarily). ``exclude[q]`` is a candidate index never matched
    to ``q`` (the unit itself, when matching within an arm).
    """
    norms = (candidates**2).sum(axis=1)
    block = max(1, BLOCK_ELEMENTS // len(candidates))
    found_q, found_c, found_d = [], [], []
    for start in range(0, len(queries), block):
        q = queries[start:start + block]
        dist = np.maximum((q**2).sum(axis=1)[:, None] + norms[None, :] - 2 * q @ candidates.T, 0.0)
        if exclude is not None:
            dist[np.arange(len(q)), exclude[start:start + block]] = np.inf
        if tolerance is None:
            rows, cols = np.repeat(np.arange(len(q)), k), np.argpartition(dist, k - 1, axis=1)[:, :k].ravel()
        else:
            kth = np.partition(dist, k - 1, axis=1)[:, k - 1]
            rows, cols = np.nonzero(dist <= kth[:, None] + tolerance)
        found_q.append(rows + start)
        found_c.append(cols)
        found_d.append(dist[rows, cols])
    return np.concatenate(found_q), np.concatenate(found_c), np.concatenate(found_d)


def cross_matches(space: np.ndarray, z: np.ndarray, queries: np.ndarray, k: int,
                  tolerance: float | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(unit, match, squared distance)``: each query unit's ``k`` nearest units of the other arm (:func:`nearest`)."""
    found = []
    for arm in (1, 0):
        rows = queries[z[queries] == arm]
        if rows.size == 0:
            continue
        pool = np.flatnonzero(z != arm)
        q, c, d = nearest(space[rows], space[pool], k, tolerance)
        found.append((rows[q], pool[c], d))
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def own_matches(space: np.ndarray, z: np.ndarray, queries: np.ndarray, k: int,
                tolerance: float | None) -> tuple[np.ndarray, np.ndarray]:
    """``(unit, match)``: each query unit's ``k`` nearest other units of its own arm (see :func:`nearest`)."""
    found = []
    for arm in (0, 1):
        members = np.flatnonzero(z == arm)
        rows = np.flatnonzero(np.isin(members, queries))
        if rows.size == 0:
            continue
        q, c, _ = nearest(space[members[rows]], space[members], k, tolerance, exclude=rows)
        found.append((members[rows][q], members[c]))
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def group_covariances(unit: np.ndarray, member: np.ndarray, x: np.ndarray, y: np.ndarray, n: int) -> np.ndarray:
    """Per unit ``i``, the sample covariance of each column of ``x`` with ``y`` over the units ``member[unit == i]``.

    A unit whose group has fewer than two members gets 0.
    """
    size = np.bincount(unit, minlength=n)
    present = size > 1
    total_y = np.bincount(unit, weights=y[member], minlength=n)[present]
    out = np.zeros((n, x.shape[1]))
    for col in range(x.shape[1]):
        total_x = np.bincount(unit, weights=x[member, col], minlength=n)[present]
        cross = np.bincount(unit, weights=x[member, col] * y[member], minlength=n)[present]
        out[present, col] = (cross - total_x * total_y / size[present]) / (size[present] - 1)
    return out
