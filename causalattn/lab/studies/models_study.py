r"""Models as units: one evaluation study over several independently trained models (training seeds).

Every held-out sequence is evaluated under every arm on every model, so the
sequences (units) are nested in the models (clusters). With :math:`G` models and
:math:`D_{gi} = Y_{gi}(\text{treatment}) - Y_{gi}(\text{control})` the paired
difference of sequence :math:`i` on model :math:`g`, the effect is the average
over models of each model's average over sequences,

.. math::

    \hat\tau = \frac1G \sum_{g=1}^G \bar D_g, \qquad \bar D_g = \frac1{n_g}\sum_i D_{gi},

and its interval treats the *models* as the units of inference
(:func:`causalattn.clustered_effect`, nested design): by default the t
interval on the :math:`G` model means with :math:`G - 1` degrees of freedom.

Which interval covers what:

* the **pooled** interval (:meth:`ModelsStudy.effects`) covers the average
  effect over the *population of training runs* the models were drawn from
  (the same recipe, other seeds). It counts the variation between models, and
  with few models it is wide: that is the honest price of generalizing beyond
  the models in hand;
* each **per-model** interval (:meth:`ModelsStudy.per_model`, the model's own
  :meth:`EvaluationStudy.effect <causalattn.lab.studies.evaluation.EvaluationStudy.effect>`)
  covers that one model's effect over the population of sequences the task
  generates. It says nothing about another seed;
* pooling every model's sequences as if independent (a paired t interval over
  all :math:`\sum_g n_g` differences) gives neither: it aims at the population
  of training runs with the standard error of one model's sequences, and is
  far too narrow as soon as the models differ.

Measured by simulation (``benchmarks/coverage.py``, nested cells: 2,000 data
sets per cell, Monte Carlo standard error 0.005; per-sequence accuracies and
binary outcomes, 50 or 500 sequences per model): the pooled t interval covers
the population mean effect 0.94-0.96 at G = 3 to 10 models when the models
share one effect, and 0.92-0.96 when it varies between them (the low end with
3-4 models whose effects spread uniformly, where the t quantile assumes
normal model means). The naive interval covers 0.40-0.42 at 500 sequences per
model when the between-model standard deviation of the effect is 0.02 (0.13
per sequence), and 0.10-0.11 when it is 0.1. No interval sees a failure mode
rarer than 1/G: if one training run in five has no effect, the pooled
interval covers only about as often as the sample holds such a run (0.49 at
G = 3, 0.89 at G = 10).

Whether the models differ is tested by Cochran's Q (:meth:`ModelsStudy.heterogeneity`).

Treatments may name a head by its role (:mod:`causalattn.lab.interventions.roles`: an ablation,
``"ablate_role:induction@L1:zero"``, or a fixed attention pattern,
``"pattern_role:previous_token@L0:uniform"``): each model resolves it with its own head
scan, and the head each model used is recorded (:attr:`ModelsStudy.heads`, and
``details["heads"]`` of every row).

References
----------
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched pairs) and ch. 9
(finite and super populations).
Cochran, W. G. (1954). The combination of estimates from different experiments. *Biometrics* 10, 101-129.
Higgins, J. P. T. and Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis.
*Statistics in Medicine* 21, 1539-1558.
Olsson, C. et al. (2022). In-context Learning and Induction Heads. Transformer Circuits Thread.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from causalattn._validation import check_choice, check_flag, check_positive_int
from causalattn.effects import METHODS, clustered_effect
from causalattn.estimate import Estimate, EstimateTable
from causalattn.hypothesis import HypothesisTest
from causalattn.lab.analysis.head_scan import HeadScan, head_scan
from causalattn.lab.interventions.base import Intervention
from causalattn.lab.interventions.roles import ROLES, RoleTreatment, resolve_roles
from causalattn.lab.models.contract import HookedModel, check_model
from causalattn.lab.studies._inputs import check_task, check_treatments, parts
from causalattn.lab.studies.evaluation import EvaluationStudy, evaluation_study
from causalattn.lab.studies.storage import check_file_names, check_out_dir, slug
from causalattn.lab.studies.table import EffectOptions, StudyEffects, study_effect
from causalattn.lab.tasks.bigram import Task
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
from causalattn.plots import plot_forest

__all__ = ["ModelsStudy", "models_study"]


@dataclasses.dataclass(frozen=True)
class _ModelsArgs:
    """The arguments of :func:`models_study`, checked (:func:`_models_study_iv`)."""

    models: dict[str, HookedModel]
    interventions: list[Intervention]
    scan_task: RepeatedTokensTask
    scan_sequences: int
    options: dict[str, Any]  # evaluation_study's keyword arguments, its defaults filled in


def _models_study_iv(models, task, treatments, scan_task, scan_sequences, options) -> _ModelsArgs:
    if isinstance(models, (Mapping, pd.Series)):  # a Series: its index names the models
        names, values = [str(k) for k, _ in models.items()], [m for _, m in models.items()]
    elif isinstance(models, Iterable) and not isinstance(models, (str, bytes)):
        values = list(models)
        names = [f"model{g}" for g in range(len(values))]
    else:
        raise TypeError(f"`models` must be a sequence or a mapping (name -> model) of models, "
                        f"got {type(models).__name__}")
    if len(values) < 2:
        raise ValueError(f"`models` must hold at least 2 models (the units of inference), got {len(values)}")
    check_file_names("models", names, what="names")  # each model's study is saved in out_dir/{slug(name)}
    models = {name: check_model(m, f"models[{name!r}]") for name, m in zip(names, values, strict=True)}
    described = {f"model {name!r}": model for name, model in models.items()}
    task = check_task(task, described)
    interventions = check_treatments(treatments, described, roles=True)
    scan_sequences = check_positive_int("scan_sequences", scan_sequences)
    if scan_task is None and isinstance(task, RepeatedTokensTask):
        scan_task = task
    elif scan_task is None:
        scan_task = _default_scan_task(task, min(m.max_len for m in models.values()))
    elif not isinstance(scan_task, RepeatedTokensTask):
        raise TypeError(f"`scan_task` must be None or a RepeatedTokensTask, got {type(scan_task).__name__}")
    try:  # evaluation_study's own defaults: they are written down once, in its signature
        bound = inspect.signature(evaluation_study).bind(None, None, None, **options)
    except TypeError as exc:
        raise TypeError(f"`options`: {exc} (the options are evaluation_study's keyword arguments)") from None
    bound.apply_defaults()
    options = {key: value for key, value in bound.arguments.items() if key not in ("model", "task", "treatments")}
    options["out_dir"] = check_out_dir(options["out_dir"])  # before the first head scan
    check_flag("progress", options["progress"])
    return _ModelsArgs(models, interventions, scan_task, scan_sequences, options)


def _default_scan_task(task: Task, max_len: int) -> RepeatedTokensTask:
    """Repeated triggers for a task with at least 2 fixed triggers (its models copy after those only), else
    repeated random tokens over its vocabulary, copies of ``min(16, (max_len + 1) // 2)`` tokens."""
    triggers = getattr(task, "fixed_triggers", None)
    if triggers is not None and 2 <= len(set(triggers.tolist())) <= (max_len + 1) // 2:
        kept = set(triggers.tolist())
        return RepeatedTokensTask(RepeatedTokensConfig(
            length=len(kept), vocab_size=task.vocab_size,
            excluded=tuple(t for t in range(task.vocab_size) if t not in kept)))
    length = min(16, (max_len + 1) // 2, task.vocab_size)
    return RepeatedTokensTask(RepeatedTokensConfig(length=max(length, 2), vocab_size=task.vocab_size))


def models_study(
    models: Sequence[HookedModel] | Mapping[str, HookedModel],
    task: Task,
    treatments: Sequence[Intervention | str],
    *,
    scan_task: RepeatedTokensTask | None = None,
    scan_sequences: int = 32,
    **options: Any,
) -> ModelsStudy:
    """Evaluate the same held-out sequences under every arm on every model; models are the units of inference.

    One :func:`causalattn.lab.studies.evaluation.evaluation_study` per model, all with
    the same ``seed``: the same held-out and reference sequences on every
    model. Role treatments (:class:`causalattn.lab.interventions.roles.RoleAblation`,
    :class:`causalattn.lab.interventions.roles.RolePattern`) are resolved on each model
    with its own :func:`causalattn.lab.analysis.head_scan.head_scan`.

    Parameters
    ----------
    models : sequence or mapping of HookedModel
        At least 2 independently trained models (training seeds) of one
        recipe; a mapping names them, else they are ``model0, model1, ...``.
    task : Task
        Source of the held-out sequences (as for ``evaluation_study``).
    treatments : sequence of Intervention or label
        Index treatments (``"ablate:L1H0:zero"``, ``"pattern:L0H0:uniform"``,
        the same head on every model) or role treatments
        (``"ablate_role:induction@L1:zero"``, ``"pattern_role:previous_token@L0:uniform"``),
        also combined with ``+``.
    scan_task : RepeatedTokensTask, optional
        The sequences of the head scans that resolve roles; default: ``task``
        itself if it is a RepeatedTokensTask (a pretrained model's, which
        leaves out special tokens); for a task with fixed triggers (a
        ``BigramTask``), its triggers, each copy a random order of them (such
        models learn to copy after the triggers only: on random tokens their
        induction scores are all near 0.1 and a role would resolve by noise);
        else repeated random tokens over the task's vocabulary, copies of
        ``min(16, (max_len + 1) // 2)`` tokens. The scan used is ``study.scan_task``.
    scan_sequences : int
        Sequences per head scan (seed ``seed``).
    **options
        The keyword arguments of :func:`causalattn.lab.studies.evaluation.evaluation_study`,
        with its defaults, for every model: ``n_sequences``, ``seed``,
        ``batch_size``, ``reference_size``, ``n_resamples``,
        ``confidence_level``, ``progress``, and where the batches run:
        ``n_jobs``, ``client`` (a Dask cluster; an active
        ``joblib.parallel_config(backend="dask")`` selects its client),
        ``torch_threads``. The models are evaluated one after the other, the
        batches of each in parallel; the workers return arrays and only this
        process writes ``out_dir`` (no shared filesystem is needed). This
        process runs the head scans and the reference activations. With
        ``out_dir``, each model's study is saved in (and resumed from)
        ``out_dir/{name}``.

    Returns
    -------
    ModelsStudy

    Examples
    --------
    Three untrained two-head models, the induction-scored head of layer 1 ablated in each:

    >>> from causalattn.lab import BigramTask, ModelConfig, TaskConfig, build_model
    >>> task = BigramTask(TaskConfig(seq_len=16))
    >>> models = [build_model(ModelConfig(kind="vanilla", n_heads=2, d_model=16, max_seq_len=16, init_seed=s))
    ...           for s in range(3)]
    >>> study = models_study(models, task, ["ablate_role:induction@L1:zero"], n_sequences=6,
    ...                      n_resamples=99, scan_sequences=4, progress=False)
    >>> effect = study.effects("in_context_loss")[0]
    >>> effect.method, effect.details["n_clusters"], effect.details["df"]
    ('clustered-paired-t', 3, 2.0)
    >>> sorted(study.heads.columns)
    ['head', 'label', 'layer', 'model', 'role_score', 'treatment']
    """
    args = _models_study_iv(models, task, treatments, scan_task, scan_sequences, options)
    interventions, options = args.interventions, dict(args.options)
    seed, out_dir = options.pop("seed"), options.pop("out_dir")
    needs_scan = any(isinstance(part, RoleTreatment) for t in interventions for part in parts(t))
    studies, scans, labels, rows = {}, {}, {}, []
    for name, model in args.models.items():
        scan = scans[name] = head_scan(model, args.scan_task, args.scan_sequences, seed=seed) if needs_scan else None
        resolved = [resolve_roles(t, scan) if scan is not None else t for t in interventions]
        pairs = list(zip(interventions, resolved, strict=True))
        rows.extend(row for t, r in pairs for row in _head_rows(name, t, r, scan))
        labels[name] = {t.label: r.label for t, r in pairs}
        unique = list({r.label: r for r in resolved}.values())  # a role and an index naming one head share its arm
        studies[name] = evaluation_study(model, task, unique, seed=seed,
                                         out_dir=None if out_dir is None else out_dir / slug(name), **options)
    heads = pd.DataFrame(rows, columns=["model", "treatment", "label", "layer", "head", "role_score"])
    return ModelsStudy(studies, [t.label for t in interventions], labels, heads, scans, seed=seed,
                       scan_task=args.scan_task if needs_scan else None)


def _head_rows(name: str, treatment: Intervention, resolved: Intervention, scan: HeadScan | None) -> list[dict]:
    """One row per head that ``resolved`` (``treatment`` on model ``name``) acts on, with its role's score."""
    rows = []
    for given, part in zip(parts(treatment), parts(resolved), strict=True):  # resolving keeps the parts in order
        if not hasattr(part, "head"):
            continue
        score = float("nan")
        if isinstance(given, RoleTreatment):
            s = scan.scores
            score = float(s.loc[(s["layer"] == part.layer) & (s["head"] == part.head), ROLES[given.role]].iloc[0])
        rows.append({"model": name, "treatment": treatment.label, "label": resolved.label, "layer": part.layer,
                     "head": part.head, "role_score": score})
    return rows


class ModelsStudy(StudyEffects):
    """Results of :func:`models_study`: pooled effects (models as clusters), per-model effects, heterogeneity.

    Attributes
    ----------
    studies : dict
        Model name -> its :class:`causalattn.lab.studies.evaluation.EvaluationStudy`.
    treatments : list of str
        The treatment labels as given (role labels stay role labels).
    heads : pandas.DataFrame
        One row per model x treatment x head acted on: ``model, treatment,
        label`` (the label on that model) ``, layer, head, role_score`` (the
        head's score for the role that chose it, NaN for a head named by index).
    scans : dict
        Model name -> the :class:`causalattn.lab.analysis.head_scan.HeadScan` that
        resolved its roles (None without role treatments).
    scan_task : RepeatedTokensTask or None
        The sequences of those scans (None without role treatments).

    :meth:`effects` and :meth:`plot_forest` (of :class:`causalattn.lab.studies.table.StudyEffects`)
    report the pooled effects, on in-context accuracy unless told another outcome.
    """

    _default_outcomes = ("in_context_accuracy",)

    def __init__(self, studies: dict[str, EvaluationStudy], treatments: list[str],
                 labels: dict[str, dict[str, str]], heads: pd.DataFrame, scans: dict[str, HeadScan | None], *,
                 seed: int, scan_task: RepeatedTokensTask | None = None) -> None:
        self.studies = studies
        self.scan_task = scan_task
        self.treatments = treatments
        self.heads = heads
        self.scans = scans
        self.seed = seed
        self._labels = labels
        self._first = next(iter(studies.values()))  # the options (level, resamples, outcomes) all models share
        self._cache: dict[tuple, Any] = {}
        self._effects_cache: dict[tuple, EstimateTable] = {}
        self._effect_defaults = dataclasses.replace(self._first._effect_defaults, seed=seed)

    @property
    def models(self) -> list[str]:
        return list(self.studies)

    @property
    def confidence_level(self) -> float:
        return self._first.confidence_level

    def __repr__(self) -> str:
        n = len(self._first.data)
        return (f"ModelsStudy({len(self.studies)} models x {n} sequences x {len(self.treatments) + 1} arms: "
                f"control, {', '.join(self.treatments)})")

    @property
    def outcomes(self) -> tuple[str, ...]:
        """The outcomes of every model's study (:attr:`EvaluationStudy.outcomes`)."""
        return self._first.outcomes

    def _check(self, treatment: Any, outcome: str, method: str) -> tuple[str, str, str]:
        return (self._treatment(treatment), check_choice("outcome", outcome, self.outcomes),
                check_choice("method", method, METHODS))

    def _heads_of(self, label: str) -> str:
        """``"model0=ablate:L1H0:zero; model1=..."``: the treatment each model received."""
        return "; ".join(f"{name}={self._labels[name][label]}" for name in self.studies)

    def _pairs(self, label: str, outcome: str) -> pd.DataFrame:
        """Every model's :meth:`EvaluationStudy.pairs` under the treatment ``label`` names on it, with ``model``."""
        frames = [study.pairs(self._labels[name][label], outcome).reset_index().assign(model=name)
                  for name, study in self.studies.items()]
        return pd.concat(frames, ignore_index=True)

    def differences(self, treatment: Any, outcome: str = "in_context_accuracy") -> pd.DataFrame:
        """Per-sequence paired differences ``model, sequence, difference`` (sequences with the outcome in both arms)."""
        label, outcome, _ = self._check(treatment, outcome, "t")
        pairs = self._pairs(label, outcome)
        return pairs.assign(difference=pairs["treated"] - pairs["control"])[["model", "sequence", "difference"]]

    def effect(self, treatment: Any, outcome: str = "in_context_accuracy", *, method: str = "t",
               confidence_level: float | None = None, n_resamples: int | None = None,
               rng: int | np.random.Generator | None = None) -> Estimate:
        r"""The effect averaged over models and sequences; interval and p-value over models (clusters).

        :func:`causalattn.clustered_effect` on the per-sequence differences
        with the model as cluster: ``method="t"`` gives the t interval on the
        :math:`G` model means with :math:`G - 1` df and the p-value of the same
        t test; ``"randomization"`` flips the signs of whole models (with
        :math:`G` models no two-sided p-value is below :math:`2^{1-G}`).
        It covers the average effect over the population of training runs.
        ``n`` counts the sequences over all models (``details["unit"]``), ``details["n_clusters"]``
        the models; ``details["heads"]`` names the head each model used,
        ``details["pvalue_randomization"]`` is the sign-flip p-value over models;
        ``mean_treated`` and ``mean_control`` average the models' arm means, as the estimate
        averages their effects. ``confidence_level``, ``n_resamples`` and ``rng`` default to the study's.
        """
        label, outcome, _ = self._check(treatment, outcome, "t")
        options = EffectOptions.check(method=method, adjust=None, confidence_level=confidence_level,
                                      n_resamples=n_resamples, rng=rng, defaults=self._effect_defaults)
        return self._effect(label, outcome, options)

    def _effect(self, label: str, outcome: str, options: EffectOptions) -> Estimate:
        pairs = self._pairs(label, outcome)
        if pairs["model"].nunique() < len(self.studies):
            raise ValueError(f"`outcome` {outcome!r}: some model has no sequence with it under both arms")
        means = pairs.groupby("model", sort=False)[["treated", "control"]].mean().mean()
        return study_effect(clustered_effect, pairs["treated"] - pairs["control"], pairs["model"], treatment=label,
                            outcome=outcome, unit="sequence", means=(means["treated"], means["control"]),
                            options=options, keys=("models", label, outcome), cluster="model",
                            heads=self._heads_of(label))

    def _title(self, outcomes: tuple[str, ...]) -> str:
        return (f"effects on {', '.join(outcomes)} (treatment - control), {len(self.studies)} models "
                "as clusters")

    def per_model(self, treatment: Any, outcome: str = "in_context_accuracy", *, method: str = "t") -> EstimateTable:
        """Each model's own paired effect (:meth:`EvaluationStudy.effect`): it covers that model only.

        Rows are named by model; ``details["treatment"]`` is the head the model
        used (``"ablate:L1H0:zero"``) and ``details["role"]`` the treatment as
        given to the study (``"ablate_role:induction@L1:zero"``). ``method`` as for
        :meth:`EvaluationStudy.effect`: the paired t interval with :math:`n_g - 1` df by default.
        """
        label, outcome, method = self._check(treatment, outcome, method)
        key = ("per_model", label, outcome, method)
        if key not in self._cache:  # each model's randomization test is the slow part: ask once
            rows = []
            for name, study in self.studies.items():
                est = study.effect(self._labels[name][label], outcome, method=method)
                rows.append(dataclasses.replace(est, estimand=name,
                                                details={**est.details, "model": name, "role": label}))
            self._cache[key] = EstimateTable(
                rows, title=f"{label}: effect on {outcome} within each model (sequences as units)")
        return self._cache[key]

    def heterogeneity(self, treatment: Any, outcome: str = "in_context_accuracy") -> HypothesisTest:
        r"""Cochran's Q test that every model has the same effect.

        With :math:`\hat\tau_g` and :math:`s_g` the per-model paired effect and
        its standard error (:meth:`per_model`, t method), weights
        :math:`w_g = 1/s_g^2` and :math:`\bar\tau_w = \sum_g w_g\hat\tau_g / \sum_g w_g`,

        .. math::

            Q = \sum_g w_g (\hat\tau_g - \bar\tau_w)^2 \;\approx\; \chi^2_{G-1}

        under the null of equal effects (Cochran 1954), an approximation good
        when each model has many sequences. ``details`` has
        :math:`I^2 = \max\{0, (Q - (G-1))/Q\}` (the share of the spread beyond
        sampling error, Higgins and Thompson 2002), the DerSimonian-Laird
        between-model variance :math:`\hat\tau^2`, and the per-model effects.
        A model whose differences are all equal (standard error 0) makes the
        test undefined: a ValueError.
        """
        label, outcome, _ = self._check(treatment, outcome, "t")
        table = self.per_model(label, outcome)
        tau = np.array([e.estimate for e in table])
        se = np.array([e.standard_error for e in table])
        if np.any(se <= 0):
            raise ValueError(f"`treatment` {label!r}: a model's effect on {outcome!r} has standard error 0 "
                             "(every sequence changed by the same amount), Cochran's Q is undefined")
        w = 1 / se**2
        pooled = float(np.sum(w * tau) / np.sum(w))
        q = float(np.sum(w * (tau - pooled) ** 2))
        dof = len(tau) - 1
        between = max(0.0, (q - dof) / (np.sum(w) - np.sum(w**2) / np.sum(w)))
        return HypothesisTest(
            f"equal effects of {label} on {outcome} in every model", q, dof, float(stats.chi2.sf(q, dof)),
            "cochran-q", sum(e.n for e in table),
            details={"i_squared": max(0.0, (q - dof) / q) if q > 0 else 0.0, "tau_squared": float(between),
                     "fixed_effect": pooled, "n_models": len(tau),
                     "effects": "; ".join(f"{e.estimand}={e.estimate:.4g}" for e in table)})

    def summary(self, outcome: str = "in_context_accuracy", *, method: str = "t") -> str:
        """The pooled effects, then each treatment's per-model effects and Cochran's Q, as printable text."""
        lines = [self.effects(outcome, method=method).summary(),
                 "The pooled interval covers the population of training runs; each per-model interval covers "
                 "that model's sequences only."]
        for treatment in self.treatments:
            lines += ["", self.per_model(treatment, outcome, method=method).summary(columns=["treatment"])]
            try:
                lines.append(repr(self.heterogeneity(treatment, outcome)))
            except ValueError as error:
                lines.append(f"heterogeneity: {error}")
        return "\n".join(lines)

    def plot_models(self, treatment: Any, outcome: str = "in_context_accuracy", *, method: str = "t"):
        """Forest plot of each model's effect and, last, the pooled effect over models (matplotlib Figure)."""
        label, outcome, method = self._check(treatment, outcome, method)
        pooled = self.effect(label, outcome, method=method)
        rows = [dataclasses.replace(e, details={**e.details, "treatment": f"{e.estimand}: {e.details['treatment']}"})
                for e in self.per_model(label, outcome, method=method)]
        rows.append(dataclasses.replace(pooled, details={**pooled.details, "treatment": "pooled over models"}))
        return plot_forest(EstimateTable(rows, title=f"{label}: per model and pooled over {len(self.studies)} models"),
                           xlabel=f"change in {outcome.replace('_', ' ')}")
