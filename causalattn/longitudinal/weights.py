r"""Stabilized inverse-probability-of-treatment weights for treatments at several times.

For subject :math:`i` with treatments :math:`A_0, \dots, A_{T-1}` and confounder history
:math:`\bar L_t` (everything measured up to time :math:`t`),

.. math::

    SW_i = \prod_{t=0}^{T-1} \frac{P(A_t = a_{it} \mid \bar A_{t-1} = \bar a_{i,t-1})}
                                   {P(A_t = a_{it} \mid \bar A_{t-1} = \bar a_{i,t-1}, \bar L_t = \bar l_{it})},

each factor from two logistic regressions per time (statsmodels GLM): the denominator on the
confounders up to :math:`t` and the past treatments, the numerator on the past treatments only.
Weighting by :math:`SW` creates a pseudo-population in which :math:`A_t` no longer depends on
:math:`\bar L_t`, so the regression of the outcome on the treatment history estimates the
marginal structural model :math:`E[Y^{\bar a}]` (Robins, Hernán and Brumback 2000). The
stabilized weights average 1 when the treatment models are right; their mean, range and the
effective sample size :math:`(\sum_i SW_i)^2 / \sum_i SW_i^2` are the diagnostics. Truncating
them at percentiles (e.g. 1 and 99, Cole and Hernán 2008) trades a little bias for variance.

Assumptions: sequential exchangeability (no unmeasured confounder of any :math:`A_t` given the
history), positivity (every history has both treatments with positive probability; a
treatment that the history predicts perfectly is refused) and correctly specified
treatment models.

References
----------
Robins, J. M., Hernán, M. A. and Brumback, B. (2000). Marginal structural models and causal
inference in epidemiology. *Epidemiology* 11, 550-560.

Cole, S. R. and Hernán, M. A. (2008). Constructing inverse probability weights for marginal
structural models. *American Journal of Epidemiology* 168, 656-664.

Hernán, M. A. and Robins, J. M. (2020). *Causal Inference: What If*, ch. 21. Chapman & Hall/CRC.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

from causalattn import _scaled_fit
from causalattn._validation import check_flag
from causalattn.longitudinal._history import History, history_iv

__all__ = ["TreatmentWeights", "treatment_weights"]

# A fitted probability of treatment within this of 0 or 1 (or perfect separation) is a positivity violation.
POSITIVITY_FLOOR = 1e-12


@dataclass(frozen=True, repr=False)
class TreatmentWeights:
    """Inverse-probability-of-treatment weights of the subjects, with the probabilities behind them.

    Attributes
    ----------
    weights : numpy.ndarray
        One weight per subject (stabilized unless ``stabilized`` is False; truncated if
        ``truncation`` is set).
    numerator, denominator : numpy.ndarray, shape (n, T)
        Each subject's fitted probability of its observed treatment at each time, given the past
        treatments (numerator; all 1 when not stabilized) and given the whole history (denominator).
    stabilized : bool
    truncation : tuple of float or None
        The percentiles at which the weights were truncated, and ``limits`` the weights there.
    limits : tuple of float or None
    treatments : tuple of str
    """

    weights: np.ndarray
    numerator: np.ndarray
    denominator: np.ndarray
    stabilized: bool
    truncation: tuple[float, float] | None
    limits: tuple[float, float] | None
    treatments: tuple[str, ...]

    @property
    def effective_sample_size(self) -> float:
        r"""Kish's effective sample size :math:`(\sum_i w_i)^2 / \sum_i w_i^2`."""
        return float(self.weights.sum() ** 2 / (self.weights**2).sum())

    def diagnostics(self) -> dict[str, float]:
        """Mean (about 1 for stabilized weights), standard deviation, minimum, maximum, effective sample size, n."""
        w = self.weights
        return {"mean": float(w.mean()), "sd": float(w.std(ddof=1)), "min": float(w.min()), "max": float(w.max()),
                "effective_sample_size": self.effective_sample_size, "n": len(w)}

    def __repr__(self) -> str:
        d = self.diagnostics()
        kind = "stabilized" if self.stabilized else "unstabilized"
        cut = "" if self.truncation is None else f", truncated at percentiles {self.truncation}"
        ess = d["effective_sample_size"]
        return (f"TreatmentWeights({kind}, {len(self.treatments)} times{cut}: mean {d['mean']:.3g}, range "
                f"[{d['min']:.3g}, {d['max']:.3g}], effective sample size {ess:.0f} of {d['n']})")

    def to_frame(self) -> pd.DataFrame:
        """One row per subject: the weight and, per time, the numerator and denominator probabilities."""
        columns = {"weight": self.weights}
        for t, name in enumerate(self.treatments):
            columns[f"numerator_{name}"] = self.numerator[:, t]
            columns[f"denominator_{name}"] = self.denominator[:, t]
        return pd.DataFrame(columns)

    def plot(self) -> Figure:
        """The distribution of the weights (log scale), with their mean and any truncation limits."""
        fig = Figure(figsize=(6.5, 4), layout="constrained")
        ax = fig.add_subplot()
        w = self.weights
        ax.hist(w, bins=np.geomspace(w.min(), w.max(), 40) if w.max() > w.min() else 10, color="C0", alpha=0.8)
        ax.set_xscale("log")
        ax.axvline(w.mean(), color="C3", lw=1.5, label=f"mean {w.mean():.3g}")
        if self.limits is not None:
            for limit in self.limits:
                ax.axvline(limit, color="grey", ls="--", lw=1)
            ax.plot([], [], color="grey", ls="--", label=f"truncated at percentiles {self.truncation}")
        kind = "stabilized" if self.stabilized else "unstabilized"
        ax.set_xlabel(f"{kind} weight (log scale)")
        ax.set_ylabel("subjects")
        ax.set_title(f"Treatment weights: effective sample size {self.effective_sample_size:.0f} of {len(w)}")
        ax.legend(fontsize=8)
        return fig


def truncation_iv(truncate: Any) -> tuple[float, float] | None:
    """``None`` or two percentiles ``0 <= low < high <= 100``."""
    if truncate is None:
        return None
    if isinstance(truncate, (str, bytes)) or not hasattr(truncate, "__len__") or len(truncate) != 2 or not all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) for v in truncate):
        raise TypeError(f"`truncate` must be None or two percentiles (low, high), e.g. (1, 99), got {truncate!r}")
    low, high = (float(v) for v in truncate)
    if not 0 <= low < high <= 100:
        raise ValueError(f"`truncate` must be percentiles with 0 <= low < high <= 100, got ({low:g}, {high:g})")
    return low, high


def _probability_of_observed(a: np.ndarray, design: np.ndarray, names: list[str], column: str, t: int,
                             model: str) -> np.ndarray:
    """Fitted P(A_t = observed | design) from a logistic GLM; refuses collinear designs (``names``: the design's
    columns) and positivity violations."""
    j = _scaled_fit.aliased(design)
    if j is not None:
        raise ValueError(f"the {model} model of `treatments` column {column!r} (time {t}) has collinear regressors "
                         f"({_scaled_fit.collinearity([repr(c) for c in names], j)}): a confounder is constant or "
                         "duplicates another, or a past treatment determines another")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # statsmodels warns on perfect separation (and overflows on the way)
        p = np.asarray(GLM(a, design, family=families.Binomial()).fit().fittedvalues)
    separated = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
    bad = ~((p >= POSITIVITY_FLOOR) & (p <= 1 - POSITIVITY_FLOOR))
    if separated or bad.any():
        raise ValueError(f"positivity fails at time {t}: the {model} model predicts `treatments` column {column!r} "
                         f"(almost) perfectly ({int(bad.sum())} subject(s) with a fitted probability of treatment "
                         f"within {POSITIVITY_FLOOR:g} of 0 or 1): their history allows one treatment only, so "
                         "the weights and any contrast of regimes are not identified there (coarsen the history "
                         "or restrict the population)")
    observed = np.where(a == 1, p, 1 - p)
    return observed


def weights_from_history(history: History, *, stabilized: bool = True,
                         truncation: tuple[float, float] | None = None) -> TreatmentWeights:
    """The weights of validated ``history`` (see :func:`treatment_weights`)."""
    n, times = history.n, history.times
    numerator, denominator = np.ones((n, times)), np.empty((n, times))
    for t, column in enumerate(history.treatment_names):
        a = history.treatments[:, t].astype(float)
        denominator[:, t] = _probability_of_observed(a, history.design(t), history.names(t), column, t,
                                                     "denominator")
        if stabilized:
            numerator[:, t] = _probability_of_observed(a, history.design(t, with_confounders=False),
                                                       ["const", *history.treatment_names[:t]], column, t, "numerator")
    weights = np.prod(numerator, axis=1) / np.prod(denominator, axis=1)
    limits = None
    if truncation is not None:
        low, high = np.percentile(weights, truncation)
        weights, limits = np.clip(weights, low, high), (float(low), float(high))
    return TreatmentWeights(weights, numerator, denominator, stabilized, truncation, limits,
                            history.treatment_names)


def treatment_weights(data: pd.DataFrame, treatments: list[str], confounders: list[Any], *, stabilized: bool = True,
                      truncate: tuple[float, float] | None = None) -> TreatmentWeights:
    r"""Stabilized inverse-probability-of-treatment weights from one logistic model per time (module docstring).

    Parameters
    ----------
    data : DataFrame
        One row per subject (wide format).
    treatments : list of str
        The 0/1 treatment column of each time, in time order (at least 2).
    confounders : list
        Per time, the column (or list of columns) measured before that time's treatment;
        the model of :math:`A_t` uses all of them up to :math:`t` and the past treatments.
    stabilized : bool
        Numerators from the past treatments (True) or 1 (the unstabilized weights
        :math:`1/\prod_t P(A_t \mid \bar A_{t-1}, \bar L_t)`).
    truncate : (float, float), optional
        Percentiles (e.g. ``(1, 99)``) at which to truncate the weights.

    Returns
    -------
    TreatmentWeights
        The weights, the fitted probabilities, ``diagnostics()``, ``plot()``.

    Raises
    ------
    ValueError
        Fewer than 2 times, a non-binary or constant treatment, missing columns or values,
        collinear history, a treatment predicted perfectly (positivity), or truncation
        percentiles out of order.

    References
    ----------
    Robins, J. M., Hernán, M. A. and Brumback, B. (2000). *Epidemiology* 11, 550-560.

    Cole, S. R. and Hernán, M. A. (2008). *American Journal of Epidemiology* 168, 656-664.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.longitudinal import treatment_weights
    >>> data = datasets.load("time_varying")
    >>> w = treatment_weights(data, ["a0", "a1"], ["l0", "l1"])
    >>> w
    TreatmentWeights(stabilized, 2 times: mean 1.02, range [0.261, 22], effective sample size 1033 of 2000)
    >>> [round(limit, 3) for limit in treatment_weights(data, ["a0", "a1"], ["l0", "l1"], truncate=(1, 99)).limits]
    [0.329, 4.616]
    """
    stabilized = check_flag("stabilized", stabilized)
    truncation = truncation_iv(truncate)
    history = history_iv(data, treatments, confounders)
    return weights_from_history(history, stabilized=stabilized, truncation=truncation)
