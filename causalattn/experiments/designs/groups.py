"""Units in groups (strata, pairs or clusters) and the stratified difference in means over many assignments."""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["Groups", "stratified_difference"]

_GROUP_WORD = {"strata": "stratum", "pairs": "pair", "clusters": "cluster"}


class Groups:
    """Units grouped into strata (or pairs, or clusters), with vectorized per-group sums.

    Parameters
    ----------
    labels : array-like of length n, or None
        A label per unit; ``None`` puts every unit in one group.
    n : int
        Number of units.
    name : str
        Argument name used in error messages (``"strata"``, ``"pairs"`` or ``"clusters"``).

    Examples
    --------
    >>> g = Groups(["a", "b", "a"], 3)
    >>> g.k, g.sizes.tolist(), g.sums(np.array([1.0, 2.0, 3.0])).tolist()
    (2, [2, 1], [4.0, 2.0])
    """

    def __init__(self, labels, n: int, name: str = "strata") -> None:
        self.name = name
        if labels is None:
            self.labels = np.array([0])
            self.codes = np.zeros(n, dtype=np.intp)
        else:
            labels = np.asarray(labels)
            if labels.ndim != 1:
                raise ValueError(f"`{name}` must be one-dimensional, got shape {labels.shape}")
            if len(labels) != n:
                raise ValueError(f"arguments must have the same length: `{name}` has {len(labels)}, expected {n}")
            if labels.dtype.kind == "f" and np.isnan(labels).any():
                raise ValueError(f"`{name}` must not contain NaN")
            try:
                self.labels, self.codes = np.unique(labels, return_inverse=True)
            except TypeError:
                raise TypeError(f"`{name}` labels must be mutually comparable (e.g. all ints or all strings, "
                                f"no None), got {sorted({type(x).__name__ for x in labels.tolist()})}") from None
        self.n = n
        self.k = len(self.labels)
        self.sizes = np.bincount(self.codes, minlength=self.k)
        self.members = [np.flatnonzero(self.codes == g) for g in range(self.k)]

    def sums(self, x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Per-group sums of ``x * weights`` along the last axis: ``(..., n) -> (..., k)``."""
        w = np.ones(self.n) if weights is None else weights
        if self.k == 1:
            return (x @ w)[..., None]
        matrix = sparse.csr_array((w, (np.arange(self.n), self.codes)), shape=(self.n, self.k))
        return np.asarray(x @ matrix) if x.ndim == 2 else matrix.T @ x

    def check_both_arms(self, treatment: np.ndarray, minimum: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Treated and control counts per group; a ValueError naming the group that has too few."""
        n1 = np.rint(self.sums(np.asarray(treatment, dtype=float))).astype(int)
        n0 = self.sizes - n1
        bad = np.flatnonzero((n1 < minimum) | (n0 < minimum))
        if bad.size:
            g = bad[0]
            arm = "treated" if n1[g] < minimum else "control"
            where = "" if self.k == 1 else f" in {_GROUP_WORD[self.name]} {self.labels[g].item()!r}"
            raise ValueError(
                f"`{'treatment' if self.k == 1 else self.name}`: need at least {minimum} {arm} unit(s){where}, "
                f"found {n1[g]} treated and {n0[g]} control"
            )
        return n1, n0


def stratified_difference(
    outcome: np.ndarray, assignments: np.ndarray, groups: Groups, *, paired: bool = False, variance: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    r"""The stratified difference in means and its conservative variance, for each row of ``assignments``.

    With strata :math:`k = 1, \dots, K` of sizes :math:`n_k` and :math:`\pi_k = n_k / n`,
    :math:`\hat\tau = \sum_k \pi_k (\bar Y_{1k} - \bar Y_{0k})` and
    :math:`\hat V = \sum_k \pi_k^2 (S_{1k}^2 / n_{1k} + S_{0k}^2 / n_{0k})`.
    One stratum gives the CRE difference in means. For pairs (``paired=True``)
    :math:`\hat\tau` is the mean of the pair differences :math:`\hat\tau_i` and
    :math:`\hat V = \sum_i (\hat\tau_i - \hat\tau)^2 / \{m (m - 1)\}`.

    ``outcome`` is ``(n,)`` and ``assignments`` ``(B, n)`` of 0/1; returns two
    ``(B,)`` arrays (the second ``None`` unless ``variance``). Assignments with
    fewer than 2 units in an arm of a stratum give a NaN variance.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 4 (CRE), 5 (SRE) and 7 (MPE).

    Examples
    --------
    >>> tau, var = stratified_difference(np.array([3.0, 5.0, 4.0, 1.0, 2.0, 2.0]),
    ...                                  np.array([[1.0, 1, 1, 0, 0, 0]]), Groups(None, 6), variance=True)
    >>> round(float(tau[0]), 4), round(float(var[0]), 4)
    (2.3333, 0.4444)
    """
    centred = outcome - (groups.sums(outcome) / groups.sizes)[groups.codes]  # for accuracy of the variances
    n1 = groups.sums(assignments)  # (B, K)
    n0 = groups.sizes - n1
    total = groups.sums(centred)
    sum1 = groups.sums(assignments, centred)
    mean1, mean0 = sum1 / n1, (total - sum1) / n0
    weights = groups.sizes / groups.n
    tau_k = mean1 - mean0
    tau = tau_k @ weights
    if not variance:
        return tau, None
    with np.errstate(divide="ignore", invalid="ignore"):
        if paired:
            m = groups.k
            var = ((tau_k - tau[:, None]) ** 2).sum(axis=1) / (m * (m - 1))
        else:
            squares1 = groups.sums(assignments, centred**2)
            var1 = (squares1 - n1 * mean1**2) / (n1 - 1)
            var0 = (groups.sums(centred**2) - squares1 - n0 * mean0**2) / (n0 - 1)
            var = (var1 / n1 + var0 / n0) @ weights**2
    return tau, np.maximum(var, 0.0)
