r"""Propensity scores :math:`e(X) = P(Z = 1 \mid X)`: estimation, overlap diagnostics and trimming.

The score is fitted by logistic regression (statsmodels' ``Logit``) by default,
or by any scikit-learn classifier with ``predict_proba``. Diagnostics: the
score's range by arm (:meth:`PropensityScore.ranges`), an overlap plot
(:meth:`PropensityScore.plot_overlap`) and trimming by a fixed threshold or by
the rule of Crump et al. (2009) (:meth:`PropensityScore.trim`).

References
----------
Rosenbaum, P. R. and Rubin, D. B. (1983). The central role of the propensity
score in observational studies for causal effects. *Biometrika* 70, 41-55.

Crump, R. K., Hotz, V. J., Imbens, G. W. and Mitnik, O. A. (2009). Dealing
with limited overlap in estimation of average treatment effects.
*Biometrika* 96, 187-199.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 11 (the propensity
score) and ch. 14 (overlap and trimming). CRC Press.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from statsmodels.discrete.discrete_model import Logit
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError, PerfectSeparationWarning

from causalattn import _scaled_fit
from causalattn._validation import check_choice, check_positive_int
from causalattn.observational._data import Units, learner_iv, strictly_inside, units_iv
from causalattn.observational._design import check_collinear, near_dependency, separation

__all__ = ["PropensityScore", "Trimming", "crump_threshold", "fit_score_model", "propensity_score"]

ARMS = ("treated", "control")
# Newton iterations of the logistic score before it counts as not converged.
LOGIT_ITERATIONS = 200
# A condition number of the standardized covariates above this is named as the likely cause of a failed fit.
NEAR_COLLINEAR = 1e5


def design_matrix(x: np.ndarray) -> np.ndarray:
    """``x`` with a leading intercept column."""
    return np.column_stack([np.ones(len(x)), x])


def score_model_iv(model: Any) -> Any:
    """``None`` (logistic regression) or an unfitted scikit-learn classifier with ``predict_proba``."""
    return learner_iv("model", model, "classifier", "predict_proba", "LogisticRegression()")


def fit_score_model(x: np.ndarray, z: np.ndarray, model: Any, names: list[str] | None = None
                    ) -> tuple[Callable[[np.ndarray], np.ndarray], Any]:
    """Fit the score model on ``(x, z)``; return its prediction function and the fitted object.

    ``model=None`` is statsmodels' logistic regression with an intercept, on
    covariates that are neither constant nor collinear (``names`` name them in
    errors), solved on the column-scaled design (:mod:`causalattn._scaled_fit`:
    Newton's stopping rule on the raw coefficients depends on their units); if
    its Newton iterations do not converge, the arms are checked for separation
    (:mod:`causalattn.observational._design`) and the error names the
    separating covariates. Otherwise a clone of the scikit-learn classifier ``model``.
    """
    if model is None:
        names = names if names is not None else [f"covariate{j}" for j in range(x.shape[1])]
        check_collinear(x, names)
        design = design_matrix(x)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit, failure = _scaled_fit.maximum_likelihood(
                    Logit(z, design), disp=0, maxiter=LOGIT_ITERATIONS,
                    names=["the intercept", *(f"`covariates` {c!r}" for c in names)]), None
            except (PerfectSeparationError, np.linalg.LinAlgError) as exc:
                fit, failure = None, str(exc)
        for warning in caught:
            if issubclass(warning.category, PerfectSeparationWarning):
                failure = failure or "perfect separation"
            elif issubclass(warning.category, ConvergenceWarning):
                failure = failure or "the likelihood is still increasing"
            else:
                warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        if failure is not None or not fit.mle_retvals["converged"]:
            _score_failure(x, z, names, failure or "the likelihood is still increasing")
        return (lambda new: fit.predict(design_matrix(new))), fit
    from sklearn.base import clone

    fitted = clone(model).fit(x, z)
    column = list(fitted.classes_).index(1)
    return (lambda new: fitted.predict_proba(new)[:, column]), fitted


def _score_failure(x: np.ndarray, z: np.ndarray, names: list[str], failure: str) -> None:
    """Raise the cause of a logistic fit that failed: separation, else near-collinearity (named covariates)."""
    found = separation(x, z, names)
    if found is not None:
        raise ValueError(f"{found.describe()}; the logistic score has no maximum-likelihood estimate (their "
                         "scores tend to 0 or 1): trim those units, or drop or coarsen those covariates")
    condition, involved = near_dependency(x, names)
    cause = (f"`covariates` {involved} are nearly collinear (condition number {condition:.3g} of the standardized "
             "design); drop one of them" if condition > NEAR_COLLINEAR else
             "no covariate separates the arms nor is nearly collinear; rescale or drop `covariates`")
    raise ValueError(f"the logistic score did not converge in {LOGIT_ITERATIONS} Newton iterations ({failure}): "
                     f"{cause}, or pass a regularized scikit-learn `model`")


def check_scores(e: np.ndarray) -> np.ndarray:
    """The estimated scores, with a clear error if any is 0 or 1 (a unit without overlap)."""
    return strictly_inside(e, "the estimated propensity score is exactly 0 or 1 for {count} unit(s) (`model`, "
                              "`covariates`): those units have no overlap; trim them, or use a smoother `model`")


@dataclass(frozen=True, repr=False)
class Trimming:
    """Which units a trimming rule keeps, and how many of each arm it drops.

    Attributes
    ----------
    keep : numpy.ndarray of bool
        ``True`` for the units kept (``low <= e <= high``); index ``data[keep]``.
    low, high : float
        The kept range of the score.
    rule : str
        ``"threshold"`` or ``"crump"``.
    dropped_treated, dropped_control : int
        Units dropped from each arm.
    n_treated, n_control : int
        Units of each arm before trimming.
    """

    keep: np.ndarray
    low: float
    high: float
    rule: str
    dropped_treated: int
    dropped_control: int
    n_treated: int
    n_control: int

    def __repr__(self) -> str:
        return (
            f"Trimming({self.rule}: keep {self.low:.4g} <= e(X) <= {self.high:.4g}; dropped {self.dropped_treated} "
            f"of {self.n_treated} treated and {self.dropped_control} of {self.n_control} control units)"
        )


@dataclass(frozen=True, repr=False)
class PropensityScore:
    r"""Estimated propensity scores :math:`\hat e(X_i)` of a set of units, with overlap diagnostics.

    Made by :func:`propensity_score`.

    Attributes
    ----------
    score : numpy.ndarray
        :math:`\hat e(X_i)`, one per unit, strictly between 0 and 1 (read-only).
    treatment : numpy.ndarray
        The 0/1 treatment (read-only).
    covariates : tuple of str
        Names of the covariates of the score model.
    x : numpy.ndarray
        The covariate matrix (read-only), kept to refit or to compute the sandwich.
    model : str
        ``"logit"`` or the scikit-learn class name.
    fit : object
        The fitted statsmodels results or scikit-learn classifier.
    """

    score: np.ndarray
    treatment: np.ndarray
    covariates: tuple[str, ...]
    x: np.ndarray
    model: str
    fit: Any

    def __repr__(self) -> str:
        z = self.treatment.astype(bool)
        return (
            f"PropensityScore({self.model} on {len(self.covariates)} covariates, n={len(z)}; treated "
            f"[{self.score[z].min():.3g}, {self.score[z].max():.3g}], control "
            f"[{self.score[~z].min():.3g}, {self.score[~z].max():.3g}])"
        )

    @property
    def logistic(self) -> bool:
        """Whether the score comes from the default logistic regression (the sandwich can then account for it)."""
        return self.model == "logit"

    def ranges(self) -> pd.DataFrame:
        """The score's distribution by arm: n, min, 1%, median, 99% and max (rows ``treated``, ``control``)."""
        rows = {}
        for arm, mask in zip(ARMS, (self.treatment == 1, self.treatment == 0), strict=True):
            s = self.score[mask]
            rows[arm] = {"n": int(mask.sum()), "min": s.min(), "1%": np.quantile(s, 0.01),
                         "median": np.median(s), "99%": np.quantile(s, 0.99), "max": s.max()}
        return pd.DataFrame(rows).T.astype({"n": int})

    def trim(self, threshold: float | str = 0.1) -> Trimming:
        r"""Keep the units whose score lies in :math:`[\alpha, 1 - \alpha]`.

        Parameters
        ----------
        threshold : float in (0, 0.5) or ``"crump"``
            :math:`\alpha`. ``"crump"`` chooses it by the rule of Crump et al.
            (2009), see :func:`crump_threshold`.

        Returns
        -------
        Trimming
            The kept units (``keep``) and how many of each arm were dropped.

        Raises
        ------
        ValueError
            If trimming leaves an arm empty (no overlap).
        """
        if isinstance(threshold, str):
            check_choice("threshold", threshold, ("crump",))
            alpha, rule = crump_threshold(self.score), "crump"
        else:
            if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
                raise TypeError(f"`threshold` must be a number in (0, 0.5) or 'crump', got {threshold!r}")
            if not 0 < threshold < 0.5:
                raise ValueError(f"`threshold` must be in (0, 0.5), got {threshold}")
            alpha, rule = float(threshold), "threshold"
        keep = (self.score >= alpha) & (self.score <= 1 - alpha)
        z = self.treatment == 1
        for arm, mask in zip(ARMS, (z, ~z), strict=True):
            if not keep[mask].any():
                raise ValueError(
                    f"no overlap: trimming at `threshold` {alpha:.4g} leaves no {arm} units "
                    f"(score range of the {arm}: [{self.score[mask].min():.3g}, {self.score[mask].max():.3g}])"
                )
        keep.setflags(write=False)
        return Trimming(keep, alpha, 1 - alpha, rule, int((z & ~keep).sum()), int((~z & ~keep).sum()),
                        int(z.sum()), int((~z).sum()))

    def plot_overlap(self, *, scale: str = "linear", bins: int = 40) -> Figure:
        """Histograms of the score by arm (each arm's bars sum to 1), the overlap plot.

        Parameters
        ----------
        scale : {"linear", "log"}
            Horizontal axis; ``"log"`` shows scores near 0 (log-spaced bins).
        bins : int
            Number of bins.
        """
        check_choice("scale", scale, ("linear", "log"))
        bins = check_positive_int("bins", bins)
        lo, hi = self.score.min(), self.score.max()
        edges = np.geomspace(lo, hi, bins + 1) if scale == "log" else np.linspace(lo, hi, bins + 1)
        fig = Figure(figsize=(7, 3.5), layout="constrained")
        ax = fig.add_subplot()
        for arm, mask, colour in zip(ARMS, (self.treatment == 1, self.treatment == 0), ("C3", "C0"), strict=True):
            ax.hist(self.score[mask], bins=edges, weights=np.full(int(mask.sum()), 1 / mask.sum()), alpha=0.5,
                    color=colour, label=f"{arm} (n={int(mask.sum())})")
        if scale == "log":
            ax.set_xscale("log")
        ax.set_xlabel(f"estimated propensity score ({self.model})")
        ax.set_ylabel("share of the arm")
        ax.set_title("Overlap of the propensity score by arm")
        ax.legend()
        return fig


def crump_threshold(score: Any) -> float:
    r"""The trimming threshold :math:`\alpha` of Crump et al. (2009).

    With :math:`g_i = 1 / \{e_i (1 - e_i)\}`: if :math:`\max_i g_i \le 2\,\bar g`,
    :math:`\alpha = 0` (no trimming); otherwise :math:`\gamma` is the largest
    solution of :math:`\gamma \le 2\,\mathrm{mean}(g_i \mid g_i \le \gamma)` (the
    smallest :math:`\alpha`, i.e. the least trimming, when the sample equation
    has several roots) and :math:`\alpha = 1/2 - \sqrt{1/4 - 1/\gamma}`. Keeping the units with
    :math:`\alpha \le e(X) \le 1 - \alpha` minimizes the asymptotic variance of
    the efficient estimator of the ATE on the kept subpopulation (under
    homoskedasticity).

    Parameters
    ----------
    score : array_like
        Propensity scores strictly between 0 and 1.

    Returns
    -------
    float
        :math:`\alpha \in [0, 1/2)`.

    References
    ----------
    Crump, R. K., Hotz, V. J., Imbens, G. W. and Mitnik, O. A. (2009). Dealing
    with limited overlap in estimation of average treatment effects.
    *Biometrika* 96, 187-199.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 14. CRC Press.

    Examples
    --------
    >>> from causalattn.observational import crump_threshold
    >>> round(crump_threshold([0.01, 0.2, 0.3, 0.5, 0.6, 0.8, 0.995]), 4)
    0.1105
    >>> crump_threshold([0.3, 0.4, 0.5, 0.6])
    0.0
    """
    e = np.asarray(score, dtype=float)
    if e.ndim != 1 or e.size == 0 or not ((e > 0) & (e < 1)).all():
        raise ValueError("`score` must be a non-empty 1-d array of values strictly between 0 and 1")
    g = np.sort(1 / (e * (1 - e)))
    if g[-1] <= 2 * g.mean():
        return 0.0
    running_mean = np.cumsum(g) / np.arange(1, len(g) + 1)
    # on [g_k, g_{k+1}) the conditional mean is running_mean[k], so gamma <= 2 * running_mean[k] holds there
    # from g_k up to 2 * running_mean[k]: the largest such gamma comes from the last k with g_k <= 2 * mean
    k = int(np.flatnonzero(g <= 2 * running_mean)[-1])
    gamma = 2 * running_mean[k]
    return 0.5 - math.sqrt(0.25 - 1 / gamma)


def propensity_score(
    data: pd.DataFrame | None = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    model: Any = None,
) -> PropensityScore:
    r"""Estimate the propensity score :math:`e(X) = P(Z = 1 \mid X)`.

    By default :math:`\hat e(X) = \mathrm{expit}(\hat\beta_0 + \hat\beta^\top X)`,
    the maximum-likelihood logistic regression (statsmodels' ``Logit``) of the
    treatment on an intercept and the covariates; transformations (squares,
    interactions) are columns the caller adds. ``model`` may instead be any
    scikit-learn classifier with ``predict_proba`` (a clone is fitted).

    Under strong ignorability, :math:`Z \perp \{Y(1), Y(0)\} \mid X` and
    :math:`0 < e(X) < 1`, the score balances the covariates and suffices for
    adjustment (Rosenbaum and Rubin 1983).

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    treatment : str or array_like
        The 0/1 treatment.
    covariates : list of str or array_like
        Numeric covariates (encode categorical ones first), without missing values.
    model : scikit-learn classifier, optional
        Any estimator with ``fit`` and ``predict_proba``; default logistic regression.

    Returns
    -------
    PropensityScore
        The scores with :meth:`~PropensityScore.ranges`,
        :meth:`~PropensityScore.plot_overlap` and :meth:`~PropensityScore.trim`.

    Raises
    ------
    ValueError
        A non-binary treatment, missing values, constant or collinear covariates,
        covariates that separate the arms (named), a logistic fit that does not
        converge, or an estimated score of exactly 0 or 1.
    TypeError
        Non-numeric covariates, or a ``model`` without ``predict_proba``.

    References
    ----------
    Rosenbaum, P. R. and Rubin, D. B. (1983). *Biometrika* 70, 41-55.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 11. CRC Press.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import propensity_score
    >>> nsw = datasets.load("lalonde_nsw")
    >>> ps = propensity_score(nsw, "treat", ["age", "educ", "black", "married", "re74", "re75"])
    >>> ps.ranges().loc["treated", "n"], round(float(ps.score.mean()), 4)
    (np.int64(185), 0.4157)
    """
    units = units_iv(data, None, treatment, covariates, need_outcome=False)
    model = score_model_iv(model)
    return score_from_units(units, model)


def score_from_units(units: Units, model: Any) -> PropensityScore:
    """The :class:`PropensityScore` of validated units (no further checks of the arguments)."""
    predict, fit = fit_score_model(units.x, units.z, model, units.names)
    e = check_scores(np.array(predict(units.x), dtype=float))
    z, x = units.z.copy(), units.x.copy()  # copies: the caller's arrays stay writeable
    for arr in (e, z, x):
        arr.setflags(write=False)
    return PropensityScore(e, z, tuple(units.names), x, "logit" if model is None else type(model).__name__, fit)
