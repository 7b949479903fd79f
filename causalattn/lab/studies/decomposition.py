r"""How a head's effect travels: total, direct and indirect effects, self-repair and paths, with paired intervals.

For a sender head :math:`h`, an ablation kind and an outcome :math:`Y` measured
per sequence (in-context accuracy, loss, a prompt's log-probability or logit
difference), an evaluation study runs each sequence :math:`i` under control
and under three kinds of arms (:mod:`causalattn.lab.interventions.path`):
:math:`h` ablated everywhere (``ablate:``), :math:`h`'s ablated output reaching
the unembedding only directly (``path:...->logits``), and, optionally, only
through one receiver's query, key or value input (``path:...->L1H0.k``). The
decomposition is

.. math::

    \text{total} &= \overline{Y(\text{ablate}) - Y(\text{control})}, \qquad
    \text{direct} = \overline{Y(\text{direct path}) - Y(\text{control})}, \\
    \text{indirect} &= \text{total} - \text{direct} = \overline{Y(\text{ablate}) - Y(\text{direct path})}, \qquad
    \text{self-repair} = \text{direct} - \text{total} = -\,\text{indirect}, \\
    \text{path to } r &= \overline{Y(\text{path to } r) - Y(\text{control})}.

Every row is the mean over sequences of a difference of two arms evaluated on
the same sequence, so its interval and p-value are the effect layer's paired
procedure (:func:`causalattn.paired_effect`, the paired t by default) applied to
that difference: the interval of the indirect effect is computed from the
per-sequence differences :math:`Y_i(\text{ablate}) - Y_i(\text{direct path})`, not
by combining the intervals of the total and direct effects. Self-repair is
the indirect effect with its sign turned: positive when the later layers,
reading :math:`h`'s ablated output, undo part of what its direct path does
(McGrath et al. 2023), negative when they amplify it. In the mediation
vocabulary of Vig et al. (2020), with the ablated sender as the treatment and
the later layers as the mediator, the direct effect is a natural direct effect
with the mediator held at its clean value, and the indirect effect the
difference.

References
----------
Vig, J. et al. (2020). Investigating Gender Bias in Language Models Using Causal Mediation Analysis. NeurIPS.
McGrath, T. et al. (2023). The Hydra Effect: Emergent Self-repair in Language Model Computations.
arXiv:2307.15771.
Wang, K. et al. (2022). Interpretability in the Wild: a Circuit for Indirect Object Identification in GPT-2
small. arXiv:2211.00593 (path patching).
Ding, P. (2024). *A First Course in Causal Inference*, ch. 7 (matched pairs) and ch. 27 (mediation).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable

from causalattn._validation import check_choice
from causalattn.effects import METHODS
from causalattn.estimate import Estimate
from causalattn.lab.interventions.ablation import HeadAblation
from causalattn.lab.interventions.path import HeadPath
from causalattn.lab.studies.evaluation import CONTROL, EvaluationStudy
from causalattn.mediation.decomposition import Decomposition

__all__ = ["decompose", "decomposition_treatments"]


def decomposition_treatments(heads: Iterable[tuple[int, int]], kind: str = "zero", *,
                             per_position: bool = True) -> list[HeadAblation | HeadPath]:
    """The treatments that :func:`decompose` needs: each head's ablation and its direct path to the logits.

    Parameters
    ----------
    heads : iterable of (layer, head)
    kind : {"zero", "mean", "resample"}
        The ablation of every sender.
    per_position : bool
        Mean ablation: per position (default) or over all positions.

    Add paths into receivers (``"path:L0H0->L1H0.k:zero"``) to the list to decompose further.

    Examples
    --------
    >>> [t.label for t in decomposition_treatments([(0, 0), (1, 0)], "mean")]
    ['ablate:L0H0:mean', 'path:L0H0->logits:mean', 'ablate:L1H0:mean', 'path:L1H0->logits:mean']
    """
    if isinstance(heads, (str, bytes)) or not isinstance(heads, Iterable):
        raise TypeError(f"`heads` must be a list of (layer, head) pairs, got {heads!r}")
    out: list[HeadAblation | HeadPath] = []
    for item in heads:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError(f"`heads` must be a list of (layer, head) pairs, got item {item!r}")
        layer, head = item
        out += [HeadAblation(layer, head, kind, per_position), HeadPath(layer, head, kind, per_position=per_position)]
    if not out:
        raise ValueError("`heads` must name at least one head")
    return out


def _row(study: EvaluationStudy, treated: str, baseline: str, outcome: str, method: str, *, head: str,
         component: str, group: str) -> Estimate:
    est = study.effect(treated, outcome, method=method, baseline=baseline)
    part = f"-> {HeadPath.from_label(treated).target}" if component == "path" else component
    return dataclasses.replace(est, estimand=f"{head} {part}", details={
        **est.details, "component": component, "treatment": group, "contrast": f"{treated} - {baseline}"})


def decompose(study: EvaluationStudy, outcome: str = "in_context_accuracy", *, method: str = "t") -> Decomposition:
    """Total, direct, indirect effects and self-repair of every decomposable head of ``study``, and its paths.

    A sender is decomposable when ``study`` holds its ablation (``ablate:L0H0:zero``) and its direct path
    (``path:L0H0->logits:zero``, same kind; :func:`decomposition_treatments` makes both). Paths from the
    same sender into receivers (``path:L0H0->L1H0.k:zero``) in the study become ``path`` rows. See the
    module docstring for the estimands.

    Parameters
    ----------
    study : EvaluationStudy
        From :func:`causalattn.lab.studies.evaluation.evaluation_study` or
        :func:`causalattn.lab.studies.prompts.prompt_study` (prompts as units).
    outcome : str
        One of ``study.outcomes``.
    method : {"t", "normal", "randomization", "bootstrap"}
        The one procedure behind every row's interval and p-value.

    Returns
    -------
    Decomposition
        Per sender, in study order, the rows ``L0H0 total``, ``L0H0 direct``,
        ``L0H0 indirect``, ``L0H0 self-repair`` and ``L0H0 -> L1H0.k`` ...;
        ``details["component"]`` says which (``total``, ``direct``,
        ``indirect``, ``self-repair``, ``path``), ``details["treatment"]``
        names the sender's ablation (the group of the bar chart) and
        ``details["contrast"]`` the two arms compared.

    Examples
    --------
    >>> from causalattn.lab import BigramTask, TaskConfig, evaluation_study, induction_head_model
    >>> task = BigramTask(TaskConfig(seq_len=64))
    >>> treatments = [*decomposition_treatments([(0, 0)], "mean"), "path:L0H0->L1H0.k:mean"]
    >>> study = evaluation_study(induction_head_model(task, d_model=256), task, treatments, n_sequences=40,
    ...                          n_resamples=999, progress=False)
    >>> table = decompose(study)
    >>> [row.estimand for row in table]
    ['L0H0 total', 'L0H0 direct', 'L0H0 indirect', 'L0H0 self-repair', 'L0H0 -> L1H0.k']
    >>> abs(table["L0H0 direct"].estimate) < 0.02 < -table["L0H0 total"].estimate
    True
    """
    if not isinstance(study, EvaluationStudy):
        raise TypeError(f"`study` must be an EvaluationStudy (evaluation_study, prompt_study), "
                        f"got {type(study).__name__}")
    outcome = check_choice("outcome", outcome, study.outcomes)
    method = check_choice("method", method, METHODS)
    arms = study.interventions
    rows: list[Estimate] = []
    used: set[str] = set()
    for label, arm in arms.items():
        if not (isinstance(arm, HeadPath) and arm.receiver is None and arm.ablation.label in arms):
            continue
        total, head = arm.ablation.label, f"L{arm.layer}H{arm.head}"
        used |= {label, *(other.label for other in arms.values() if isinstance(other, HeadPath)
                          and other.receiver is not None and other.ablation == arm.ablation)}
        rows += [_row(study, a, b, outcome, method, head=head, component=part, group=total) for a, b, part in (
            (total, CONTROL, "total"), (label, CONTROL, "direct"), (total, label, "indirect"),
            (label, total, "self-repair"))]
        rows += [_row(study, other.label, CONTROL, outcome, method, head=head, component="path", group=total)
                 for other in arms.values() if isinstance(other, HeadPath) and other.receiver is not None
                 and other.ablation == arm.ablation]
    if not rows:
        raise ValueError("`study` has no head to decompose: it needs a head's ablation and its direct path, "
                         "e.g. 'ablate:L0H0:zero' and 'path:L0H0->logits:zero' (decomposition_treatments makes "
                         f"them); its treatments: {study.treatments}")
    unused = [label for label, arm in arms.items() if isinstance(arm, HeadPath) and label not in used]
    if unused:
        warnings.warn(f"`study`: path treatment(s) {unused} are not in the decomposition: a path needs its sender's "
                      "ablation of the same kind, and a receiver path also the sender's direct path (e.g. "
                      "'ablate:L0H0:mean' and 'path:L0H0->logits:mean'; decomposition_treatments makes them)",
                      stacklevel=2)
    return Decomposition(rows, f"decomposition of the effects on {outcome}, {rows[0].n} {rows[0].details['unit']}s "
                               f"(paired {method} intervals)")
