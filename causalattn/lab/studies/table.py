r"""The effects table of a study: one row per (treatment, outcome), from the effect layer, adjusted across treatments.

Every study of the lab reports the same table. Row :math:`(j, k)` is the
effect of treatment :math:`j` on outcome :math:`k` against the control arm,
from one procedure of the effect layer (:func:`causalattn.paired_effect`,
:func:`causalattn.two_arm_effect`, :func:`causalattn.clustered_effect`), which
gives its interval and its ``pvalue``; beside it travels the randomization
p-value of the sharp null of no effect on any unit
(``details["pvalue_randomization"]``). Within each family of rows (by default
the rows of one outcome) ``pvalue`` is adjusted across the treatments
(:func:`causalattn.adjust_pvalues`: Holm's family-wise or Benjamini-Hochberg's
false discovery rate control), stored as ``details["pvalue_adjusted"]``.

Every row's ``details`` have the same keys, whatever the study:

==========================  ===================================================================
key                         meaning
==========================  ===================================================================
``treatment``               the treatment's label
``outcome``                 the outcome's name
``unit``                    what ``n`` counts (``"sequence"``, ``"seed"``, ``"prompt"`` ...)
``mean_treated``            the mean outcome under the treatment (over the units of the row)
``mean_control``            the mean outcome under the control
``pvalue_randomization``    the randomization test's p-value (sign flips or permutations)
``pvalue_adjusted``         ``pvalue`` adjusted within the row's family (None without ``adjust``)
``adjustment``              the adjustment (``"holm"``, ``"bh"``; None without ``adjust``)
==========================  ===================================================================

and a study may add its own (``design``, ``n_censored``, ``heads``, ``n_clusters`` ...).

The pieces, for a study of any kind (a head map over hundreds of heads, the
total, direct and indirect effects of a mediation):

* :class:`EffectOptions`: the options every ``effects`` method takes, checked once;
* :func:`study_effect`: one row, from an estimator of the effect layer;
* :func:`study_table`: the rows of every (treatment, outcome), adjusted within families;
* :class:`StudyEffects`: the ``effects`` and ``plot_forest`` methods a study class
  inherits once it says how to compute one row (``_effect``).

Each (treatment, outcome) question draws its random numbers from its own
stream (:func:`causalattn._streams.question_rng`), so a row does not depend on
which other rows are asked for.

References
----------
Holm, S. (1979). A simple sequentially rejective multiple test procedure. *Scandinavian Journal of Statistics* 6.
Ding, P. (2024). *A First Course in Causal Inference*, ch. 3 (FRT), 4 (Neyman) and 7 (matched pairs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from causalattn._streams import base_seed, question_rng
from causalattn._validation import check_choice, check_confidence_level, check_resample_count
from causalattn.effects import METHODS
from causalattn.estimate import Estimate, EstimateTable
from causalattn.multiple_testing import ADJUSTMENTS, adjust_pvalues
from causalattn.plots import plot_forest

__all__ = ["DETAIL_KEYS", "EffectOptions", "StudyEffects", "check_outcomes", "study_effect", "study_table"]

#: The ``details`` keys of every row of a study's effects table.
DETAIL_KEYS = ("treatment", "outcome", "unit", "mean_treated", "mean_control", "pvalue_randomization",
               "pvalue_adjusted", "adjustment")


@dataclasses.dataclass(frozen=True)
class EffectOptions:
    """The options of a study's ``effects``: build it with :meth:`check`.

    Attributes
    ----------
    method : {"t", "normal", "randomization", "bootstrap"}
        The procedure of every row's interval and ``pvalue`` (:data:`causalattn.effects.METHODS`).
    adjust : str or None
        The adjustment of ``pvalue`` within each family of rows: one of
        :data:`causalattn.multiple_testing.ADJUSTMENTS` ("holm", "bh", ...).
    confidence_level : float
    n_resamples : int
        Randomization draws (when the assignments cannot be enumerated) and bootstrap resamples.
    seed : int
        The seed of the questions' random streams.
    """

    method: str = "t"
    adjust: str | None = "holm"
    confidence_level: float = 0.95
    n_resamples: int = 10_000
    seed: int = 0

    @classmethod
    def check(cls, *, method: Any = "t", adjust: Any = "holm", confidence_level: Any = None,
              n_resamples: Any = None, rng: Any = None, defaults: EffectOptions | None = None) -> EffectOptions:
        """The options checked; ``confidence_level``, ``n_resamples`` and ``rng`` left None take ``defaults``'.

        ``rng`` is an integer seed or a numpy Generator (one draw of it seeds the questions' streams).

        Examples
        --------
        >>> EffectOptions.check(method="randomization", adjust=None, rng=3)
        EffectOptions(method='randomization', adjust=None, confidence_level=0.95, n_resamples=10000, seed=3)
        >>> EffectOptions.check(adjust="bonferroni")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: `adjust` must be one of ['holm', 'bh'...] or None, got 'bonferroni'
        """
        defaults = cls() if defaults is None else defaults
        if adjust is not None and (not isinstance(adjust, str) or adjust not in ADJUSTMENTS):
            raise (TypeError if not isinstance(adjust, str) else ValueError)(
                f"`adjust` must be one of {list(ADJUSTMENTS)} or None, got {adjust!r}")
        return cls(
            method=check_choice("method", method, METHODS),
            adjust=None if adjust is None else str(adjust),
            confidence_level=(defaults.confidence_level if confidence_level is None
                              else check_confidence_level(confidence_level)),
            n_resamples=(defaults.n_resamples if n_resamples is None
                         else check_resample_count("n_resamples", n_resamples)),
            seed=defaults.seed if rng is None else base_seed(rng),
        )

    def rng(self, *keys: str) -> np.random.Generator:
        """The random stream of the question named by ``keys`` (e.g. treatment and outcome)."""
        return question_rng(self.seed, *keys)


def check_outcomes(outcome: Any, outcomes: Sequence[str], default: Sequence[str]) -> tuple[str, ...]:
    """``outcome`` (a name or a sequence of names; None: ``default``) as a tuple of names from ``outcomes``."""
    if outcome is None:
        return tuple(default)
    names = (outcome,) if isinstance(outcome, str) else outcome
    if not isinstance(names, Sequence) or not names:
        raise TypeError(f"`outcome` must be a name or a non-empty sequence of names, one of {list(outcomes)}, "
                        f"got {outcome!r}")
    return tuple(dict.fromkeys(check_choice("outcome", name, outcomes) for name in names))


def study_effect(estimator: Callable[..., Estimate], *data: Any, treatment: str, outcome: str, unit: str,
                 means: tuple[float, float], options: EffectOptions, keys: Sequence[str] | None = None,
                 **details: Any) -> Estimate:
    r"""One row of a study's table: ``estimator(*data)`` with the options, named and described alike.

    Parameters
    ----------
    estimator : callable
        An estimator of the effect layer: :func:`causalattn.paired_effect`,
        :func:`causalattn.two_arm_effect` or :func:`causalattn.clustered_effect`.
    *data
        Its positional arguments (e.g. treated and control outcomes).
    treatment, outcome, unit : str
        The row's treatment label (its estimand), outcome name and unit.
    means : (float, float)
        The mean outcome under the treatment and under the control.
    options : EffectOptions
    keys : sequence of str, optional
        Name the question's random stream (:meth:`EffectOptions.rng`); default ``(treatment, outcome)``.
    **details
        The study's own details for the row.

    Examples
    --------
    >>> from causalattn import paired_effect
    >>> y1, y0 = [0.2, 0.1, 0.4, 0.3], [0.9, 0.8, 0.9, 0.7]
    >>> row = study_effect(paired_effect, y1, y0, treatment="ablate:L1H0:zero", outcome="accuracy",
    ...                    unit="sequence", means=(0.25, 0.825), options=EffectOptions())
    >>> row.estimand, round(row.estimate, 3), row.method, row.details["mean_treated"], row.details["unit"]
    ('ablate:L1H0:zero', -0.575, 'paired-t', 0.25, 'sequence')

    Every difference is negative: of the :math:`2^4` sign flips two are as extreme, so

    >>> row.details["pvalue_randomization"]
    0.125
    """
    est = estimator(*data, method=options.method, confidence_level=options.confidence_level,
                    n_resamples=options.n_resamples,
                    rng=options.rng(*((treatment, outcome) if keys is None else keys)),
                    extra_pvalues=("randomization",))
    return dataclasses.replace(est, estimand=treatment, details={
        **est.details, "treatment": treatment, "outcome": outcome, "unit": unit,
        "mean_treated": float(means[0]), "mean_control": float(means[1]), **details})


def study_table(effect: Callable[[str, str], Estimate], treatments: Sequence[str], outcomes: Sequence[str], *,
                adjust: str | None, title: str, family_by: Sequence[str] = ("outcome",), family: str = "tested",
                adjustments: Sequence[str] = ()) -> EstimateTable:
    """The rows ``effect(treatment, outcome)`` of every outcome and treatment, adjusted within families.

    Parameters
    ----------
    effect : callable
        ``effect(treatment, outcome) -> Estimate``, e.g. a study's row (:func:`study_effect`).
    treatments, outcomes : sequence of str
        The rows: outcome by outcome, each with every treatment in order.
    adjust : str or None
        :func:`causalattn.adjust_pvalues` of ``pvalue`` within each family (one of
        :data:`causalattn.multiple_testing.ADJUSTMENTS`: "holm", "bh", ...);
        ``details["pvalue_adjusted"]`` and ``details["adjustment"]`` are None without it.
    title : str
    family_by : sequence of str
        The ``details`` keys whose values define a family of hypotheses: by default
        the rows of one outcome (the treatments are compared within each outcome).
    family : {"tested", "all"}
        The hypotheses of a family, as in :func:`causalattn.adjust_pvalues`: its rows with
        a p-value, or all of its rows (a row without a p-value counts as p = 1: the family
        was fixed before the data were seen, as every head of a head map).
    adjustments : sequence of str
        Further adjustments, each stored as ``details["pvalue_<name>"]`` beside
        ``pvalue_adjusted`` (a head map's ``pvalue_holm``, ``pvalue_bh``, ``pvalue_by``), with ``adjust`` or
        without it.

    Examples
    --------
    Three heads, their p-values adjusted by Holm (the smallest times 3, the next times 2, the largest as is):

    >>> from causalattn import paired_effect
    >>> y = {"a": [0.1, 0.2, 0.0, 0.1], "b": [0.8, 0.9, 0.7, 0.8], "c": [0.5, 0.9, 0.8, 0.6]}
    >>> control = [0.8, 0.9, 0.9, 0.7]
    >>> def effect(treatment, outcome):
    ...     return study_effect(paired_effect, y[treatment], control, treatment=treatment, outcome=outcome,
    ...                         unit="sequence", means=(np.mean(y[treatment]), np.mean(control)),
    ...                         options=EffectOptions())
    >>> table = study_table(effect, ["a", "b", "c"], ["accuracy"], adjust="holm", title="heads")
    >>> [(e.estimand, round(e.pvalue, 4), round(e.details["pvalue_adjusted"], 4)) for e in table]
    [('a', 0.0014, 0.0042), ('b', 0.7177, 0.7177), ('c', 0.1411, 0.2822)]

    Benjamini-Hochberg beside it (the smallest times 3, the next times 3/2, the largest as is):

    >>> table = study_table(effect, ["a", "b", "c"], ["accuracy"], adjust="holm", title="heads", adjustments=["bh"])
    >>> [round(e.details["pvalue_bh"], 4) for e in table]
    [0.0042, 0.7177, 0.2117]
    """
    family = check_choice("family", family, ("tested", "all"))
    for name in adjustments:
        check_choice("adjustments", name, ADJUSTMENTS)
    names = list(dict.fromkeys([*([] if adjust is None else [adjust]), *adjustments]))
    rows = [effect(treatment, outcome) for outcome in outcomes for treatment in treatments]
    families: dict[Hashable, list[int]] = {}
    for i, e in enumerate(rows):
        families.setdefault(tuple(e.details.get(key) for key in family_by), []).append(i)
    adjusted: dict[str, list[float | None]] = {name: [None] * len(rows) for name in names}
    for name in names:
        for members in families.values():
            table = adjust_pvalues(EstimateTable([rows[i] for i in members]), name, family=family)
            for i, e in zip(members, table, strict=True):
                adjusted[name][i] = e.details["pvalue_adjusted"]
    return EstimateTable([dataclasses.replace(e, details={
        **e.details, "pvalue_adjusted": None if adjust is None else adjusted[adjust][i], "adjustment": adjust,
        **{f"pvalue_{name}": adjusted[name][i] for name in adjustments}}) for i, e in enumerate(rows)], title=title)


class StudyEffects:
    """The ``effects`` and ``plot_forest`` of a study: a subclass says how to compute one row.

    A subclass provides ``treatments`` and ``outcomes`` (sequences of names),
    ``_default_outcomes`` (the outcomes of ``effects()`` without ``outcome``),
    ``_effect_defaults`` (an :class:`EffectOptions`: the study's confidence
    level, resamples and seed), ``_effects_cache`` (a dict) and
    ``_effect(treatment, outcome, options) -> Estimate`` (one row, usually
    :func:`study_effect`), and ``_title(outcomes)``. ``_treatment`` looks a
    treatment up by its label. ``_family`` and ``_adjustments`` are
    :func:`study_table`'s ``family`` and ``adjustments`` (by default the tested
    rows, and no further adjustment).
    """

    treatments: Sequence[str]
    outcomes: Sequence[str]
    _default_outcomes: Sequence[str]
    _effect_defaults: EffectOptions
    _effects_cache: dict
    _family: str = "tested"
    _adjustments: tuple[str, ...] = ()

    def _effect(self, treatment: str, outcome: str, options: EffectOptions) -> Estimate:
        raise NotImplementedError

    def _treatment(self, treatment: Any, name: str = "treatment") -> str:
        """The label of ``treatment`` (an intervention or a label; argument ``name``), one of :attr:`treatments`."""
        label = getattr(treatment, "label", treatment)
        if not isinstance(label, str):
            raise TypeError(f"`{name}` must be a treatment's label or an intervention, "
                            f"got {type(treatment).__name__}")
        if label not in self.treatments:
            raise ValueError(f"`{name}` {label!r} is not in this study; treatments: {list(self.treatments)}")
        return label

    def _title(self, outcomes: tuple[str, ...]) -> str:
        raise NotImplementedError

    def effects(self, outcome: str | Sequence[str] | None = None, *, method: str = "t", adjust: str | None = "holm",
                confidence_level: float | None = None, n_resamples: int | None = None,
                rng: int | np.random.Generator | None = None) -> EstimateTable:
        """The effect of every treatment on ``outcome``: one row per (treatment, outcome), adjusted across treatments.

        Parameters
        ----------
        outcome : str or sequence of str, optional
            The outcome(s), of :attr:`outcomes`; default: the study's main outcome(s).
        method : {"t", "normal", "randomization", "bootstrap"}
            The one procedure of every row's interval and ``pvalue`` (the effect layer's).
        adjust : str or None
            Adjustment of ``pvalue`` across the treatments, within each outcome: one of
            :data:`causalattn.multiple_testing.ADJUSTMENTS` ("holm", "bh", ...).
        confidence_level : float, optional
            Default: the study's.
        n_resamples : int, optional
            Randomization draws and bootstrap resamples; default: the study's.
        rng : int or Generator, optional
            Seeds the questions' random streams (each (treatment, outcome) has its own); default: the study's seed.

        Returns
        -------
        EstimateTable
            Estimand = treatment label; ``details`` with the keys of
            :data:`causalattn.lab.studies.table.DETAIL_KEYS` and the study's own.
        """
        options = EffectOptions.check(method=method, adjust=adjust, confidence_level=confidence_level,
                                      n_resamples=n_resamples, rng=rng, defaults=self._effect_defaults)
        outcomes = check_outcomes(outcome, self.outcomes, self._default_outcomes)
        key = (outcomes, options)
        if key not in self._effects_cache:
            # the rows do not depend on the adjustment: computed once per (treatment, outcome) and procedure
            procedure = dataclasses.replace(options, adjust=None)
            rows = self._effects_cache.setdefault(("rows", procedure), {})

            def row(treatment: str, outcome: str) -> Estimate:
                if (treatment, outcome) not in rows:
                    rows[treatment, outcome] = self._effect(treatment, outcome, procedure)
                return rows[treatment, outcome]

            self._effects_cache[key] = study_table(row, self.treatments, outcomes, adjust=options.adjust,
                                                   title=self._title(outcomes), family=self._family,
                                                   adjustments=self._adjustments)
        return self._effects_cache[key]

    def plot_forest(self, outcome: str | Sequence[str] | None = None, *, method: str = "t",
                    adjust: str | None = "holm", confidence_level: float | None = None, n_resamples: int | None = None,
                    rng: int | np.random.Generator | None = None) -> Figure:
        """Forest plot (:func:`causalattn.plot_forest`) of :meth:`effects`, with the same arguments."""
        table = self.effects(outcome, method=method, adjust=adjust, confidence_level=confidence_level,
                             n_resamples=n_resamples, rng=rng)
        outcomes = {e.details["outcome"] for e in table}
        xlabel = f"change in {outcomes.pop().replace('_', ' ')}" if len(outcomes) == 1 else "effect"
        return plot_forest(table, xlabel=xlabel)
