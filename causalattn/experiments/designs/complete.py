"""Designs on one group of units: complete (CRE), Bernoulli (BRE) and rerandomization (ReM)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from causalattn import _fields as fields
from causalattn import _scaled_fit
from causalattn._validation import as_float_array, check_positive_int, check_same_length
from causalattn.experiments.designs.base import Design, bits, combination_blocks, cre_moments
from causalattn.experiments.designs.groups import Groups

__all__ = ["BRE", "CRE", "ReM"]

_SELECTION_UNITS = 8192  # CRE draws by selection sampling up to this many units, by shuffling rows beyond


def _treated_count(treatment: np.ndarray) -> int:
    """The number of treated units of an observed assignment that has both arms."""
    n1, _ = Groups(None, len(treatment)).check_both_arms(treatment)
    return int(n1[0])


@dataclass(frozen=True, eq=False)
class CRE(Design, shorthand="cre"):
    """Completely randomized experiment: ``n_treated`` of ``n`` units treated, all subsets equally likely.

    ``CRE()`` leaves both numbers open: :func:`causalattn.frt` takes them
    from the observed treatment (the design ``"cre"`` names).

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3.

    Examples
    --------
    >>> CRE(5, 2).draw(0, 3).sum(axis=1)
    array([2., 2., 2.])
    >>> CRE(5, 2).count(), CRE().bind([1, 0, 0, 1, 1]).n_treated
    (10, 3)
    """

    n: int | None = None
    n_treated: int | None = None
    fixed_group_counts: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if (self.n is None) != (self.n_treated is None):
            raise ValueError("give both `n` and `n_treated`, or neither (then they are read off the treatment)")
        if self.n is None:
            return
        check_positive_int("n", self.n, minimum=2)
        check_positive_int("n_treated", self.n_treated)
        if self.n_treated >= self.n:
            raise ValueError(f"`n_treated` must be less than `n` = {self.n}, got {self.n_treated}")

    @property
    def bound(self) -> bool:
        return self.n is not None

    def _bind(self, treatment: np.ndarray) -> CRE:
        return CRE(len(treatment), _treated_count(treatment))

    def _check(self, treatment: np.ndarray) -> None:
        if treatment.sum() != self.n_treated:
            raise ValueError(f"`treatment` treats {treatment.sum()} units, the design {self.n_treated}")

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        if self.n > _SELECTION_UNITS:  # one Python step per unit would cost more than a C shuffle per row
            out = np.zeros((size, self.n))
            out[:, : self.n_treated] = 1.0
            return rng.permuted(out, axis=1, out=out)  # a Fisher-Yates shuffle of each row in turn
        # Selection sampling (Knuth's Algorithm S), all assignments at once: unit i is treated with
        # probability (treated still needed) / (units left), which draws every subset with equal probability
        keys = rng.random((self.n, size))  # (units, assignments): each unit's step is one contiguous row
        keys *= (self.n - np.arange(self.n))[:, None]  # keys[i] < needed  <=>  uniform < needed / (n - i)
        needed = np.full(size, float(self.n_treated))
        for row in keys:
            np.less(row, needed, out=row)
            needed -= row
        return keys.T  # (assignments, units), a view

    def _count(self) -> int:
        return math.comb(self.n, self.n_treated)

    def _enumerate(self, batch: int):
        for block in combination_blocks(self.n, self.n_treated, batch):
            yield block, None

    def _treated_probability(self) -> np.ndarray:
        return np.full(self.n, self.n_treated / self.n)

    def _linear_moments(self, scores: np.ndarray) -> tuple[float, float]:
        return cre_moments(scores, self.n_treated)


@dataclass(frozen=True, eq=False)
class BRE(Design, shorthand="bre"):
    """Bernoulli randomized experiment: units treated independently with ``probability``.

    Assignments with an empty arm are excluded (the difference in means is
    undefined there): draws are conditional on both arms being non-empty, an
    event of probability :math:`1 - p^n - (1 - p)^n`, by rejection. ``n``
    (the number of units) may be left open, to be read off the treatment.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 and 6.

    Examples
    --------
    >>> BRE(0.5, n=4).count()
    14
    """

    probability: float
    n: int | None = None
    _rejection_hint: ClassVar[str] = "`probability` is too close to 0 or 1 for this number of units"

    def __post_init__(self) -> None:
        probability = fields.real("probability", self.probability)
        if not 0 < probability < 1:
            raise ValueError(f"`probability` must be in (0, 1), got {probability}")
        object.__setattr__(self, "probability", probability)
        if self.n is not None:
            check_positive_int("n", self.n, minimum=2)

    @property
    def bound(self) -> bool:
        return self.n is not None

    def _bind(self, treatment: np.ndarray) -> BRE:
        return replace(self, n=len(treatment))

    def _check(self, treatment: np.ndarray) -> None:
        Groups(None, self.n).check_both_arms(treatment)

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return (rng.random((size, self.n)) < self.probability).astype(float)

    def _accept(self, assignments: np.ndarray) -> np.ndarray:
        n1 = assignments.sum(axis=1)
        return (n1 > 0) & (n1 < self.n)

    def _count(self) -> int:
        return 2**self.n - 2

    def _enumerate(self, batch: int):
        for start in range(1, 2**self.n - 1, batch):
            block = bits(start, min(start + batch, 2**self.n - 1), self.n)
            n1 = block.sum(axis=1)
            yield block, self.probability**n1 * (1 - self.probability) ** (self.n - n1)

    def _treated_probability(self) -> np.ndarray:
        return np.full(self.n, self.probability)


def _covariate_matrix(covariates) -> np.ndarray:
    """Covariates as a finite ``(n, K)`` float array (a 1-d array is one covariate)."""
    x = as_float_array("covariates", covariates, vector=False)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"`covariates` must be a 2-d array (units x covariates), got shape {x.shape}")
    return x


@dataclass(frozen=True, eq=False)
class ReM(Design, shorthand="rem"):
    r"""Rerandomization: a CRE whose assignments are accepted only if the Mahalanobis distance is small.

    .. math::
        M(Z) = \frac{n_1 n_0}{n}\,(\bar x_1 - \bar x_0)^\top S_x^{-1} (\bar x_1 - \bar x_0) \le a,

    with :math:`S_x` the sample covariance of the covariates. Under the CRE,
    :math:`M` is approximately :math:`\chi^2_K`; ``threshold`` is :math:`a`
    (e.g. ``scipy.stats.chi2.ppf(0.001, K)`` accepts about 0.1% of CRE draws).
    Draws are by rejection and give up, with the observed acceptance rate, when
    fewer than about :math:`10^{-4}` of the candidates are acceptable.

    Parameters
    ----------
    covariates : array-like, shape (n, K)
        The covariates balanced by the rerandomization (stored centred). These
        belong to the design; the ``covariates`` of :func:`causalattn.frt` are
        adjustment covariates, another thing.
    threshold : float
        Acceptance threshold :math:`a > 0`.
    n_treated : int, optional
        Read off the observed treatment when not given.

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 6; Morgan and Rubin (2012).

    Examples
    --------
    >>> rem = ReM(np.arange(10.0), 1.0, n_treated=5)
    >>> bool((rem.mahalanobis(rem.draw(0, 20)) <= 1.0).all())
    True
    """

    covariates: Any
    threshold: float
    n_treated: int | None = None
    fixed_group_counts: ClassVar[bool] = True
    _rejection_hint: ClassVar[str] = "raise `threshold`"

    def __post_init__(self) -> None:
        self._remember_index("covariates", self.covariates)
        x = _covariate_matrix(self.covariates)
        threshold = fields.real("threshold", self.threshold)
        if not threshold > 0:
            raise ValueError(f"`threshold` must be positive, got {threshold}")
        if len(x) < 2:
            raise ValueError(f"`covariates` must have at least 2 rows (units), got {len(x)}")
        # the covariance of the covariates scaled by powers of 2 (exact): its rank and inverse in any units
        scales = np.outer(*2 * [_scaled_fit.column_scales(x)])
        cov = np.atleast_2d(np.cov(x, rowvar=False)) / scales
        if np.linalg.matrix_rank(cov) < x.shape[1]:
            raise ValueError("`covariates` are collinear: their sample covariance matrix is singular "
                             f"({len(x)} units, {x.shape[1]} covariates)")
        object.__setattr__(self, "threshold", threshold)
        object.__setattr__(self, "covariates", x - x.mean(axis=0))
        object.__setattr__(self, "base", None if self.n_treated is None else CRE(len(x), self.n_treated))
        object.__setattr__(self, "_precision", np.linalg.inv(cov) / scales)

    @property
    def n(self) -> int:  # type: ignore[override]
        return len(self.covariates)

    @property
    def bound(self) -> bool:
        return self.n_treated is not None

    def _bind(self, treatment: np.ndarray) -> ReM:
        check_same_length(treatment=treatment, covariates=self.covariates)
        return replace(self, n_treated=_treated_count(treatment))

    def mahalanobis(self, assignments: np.ndarray) -> np.ndarray:
        """:math:`M` for each row of ``assignments`` (``(B, n) -> (B,)``)."""
        self._require_bound()
        n1, n0 = self.n_treated, self.n - self.n_treated
        diff = (assignments @ self.covariates) * (1 / n1 + 1 / n0)  # (B, K) mean differences (covariates centred)
        return n1 * n0 / self.n * np.einsum("bk,kl,bl->b", diff, self._precision, diff)

    def _check(self, treatment: np.ndarray) -> None:
        self.base._check(treatment)
        distance = float(self.mahalanobis(treatment[None, :].astype(float))[0])
        if distance > self.threshold:
            raise ValueError(
                f"`treatment` is not acceptable under rerandomization: its Mahalanobis distance {distance:.4g} "
                f"exceeds `threshold` = {self.threshold:.4g}"
            )

    def _candidates(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.base._candidates(rng, size)

    def _accept(self, assignments: np.ndarray) -> np.ndarray:
        return self.mahalanobis(assignments) <= self.threshold

    def acceptance_probability(self) -> float:
        """The asymptotic acceptance probability :math:`P(\\chi^2_K \\le a)`."""
        return float(stats.chi2.cdf(self.threshold, self.covariates.shape[1]))

    def _count(self) -> int:
        return self.base.count()

    def _enumerate(self, batch: int):
        for block, _ in self.base.enumerate(batch):
            yield block[self._accept(block)], None
