r"""Screening heads by attribution patching on one half of the units, confirming the top ones on the other half.

When the exact map of every head is too slow, :func:`screen_heads` splits the
units at random (seeded, recorded) into two halves:

1. **screen** (first half): attribution patching
   (:func:`causalattn.lab.analysis.attribution.attribution_patching`) estimates
   every head's effect from one forward and one backward pass per batch;
   the ``top`` heads of largest estimated effect (in absolute value) are chosen;
2. **confirm** (second half): those heads are ablated exactly
   (:func:`causalattn.lab.studies.head_map.map_units`), and their effects,
   intervals and p-values, adjusted across the ``top`` confirmed heads, come
   from these units only.

This is sample splitting: the confirming units played no part in the choice,
so given the choice each confirmed head's test is an ordinary paired test on
independent units, and the adjustment across the chosen heads controls the
error rate of the claims made (Cox 1975; Wasserman and Roeder 2009). Testing
the chosen heads on the units that chose them would not: the largest of 270
noisy estimates is biased away from zero. The price is half the units for each
step, and that heads the screen misses are never tested (a miss is not a
finding of no effect).

References
----------
Cox, D. R. (1975). A note on data-splitting for the evaluation of significance levels. *Biometrika* 62, 441-444.
Wasserman, L. and Roeder, K. (2009). High-dimensional variable selection. *Annals of Statistics* 37, 2178-2201.
Kramar, J., Lieberum, T., Shah, R. and Nanda, N. (2024). AtP*: An efficient and scalable method for
localizing LLM behaviour to components. arXiv:2403.00745.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from tqdm.auto import tqdm

from causalattn._streams import question_rng
from causalattn._validation import check_positive_int
from causalattn.lab.analysis.attribution import Attribution, attribution_patching
from causalattn.lab.interventions.base import Reference
from causalattn.lab.models.contract import HookedModel
from causalattn.lab.studies.head_map import head_interventions, map_units, prepare_map
from causalattn.lab.studies.head_table import HeadMap
from causalattn.lab.tasks.bigram import Task
from causalattn.lab.tasks.prompts import PromptSet

__all__ = ["HeadScreen", "screen_heads"]


@dataclasses.dataclass(frozen=True, repr=False)
class HeadScreen:
    """Result of :func:`screen_heads`: the attribution screen, the split, and the confirmed heads' map.

    Attributes
    ----------
    attribution : Attribution
        Every head's attribution-patching estimate on the screening units.
    selected : list of (int, int)
        The heads chosen (largest ``|estimate|``), in the order of their rank.
    confirmed : HeadMap
        The exact map of the chosen heads on the confirming units: its intervals
        and p-values (adjusted across the chosen heads) use those units only.
    screen_units, confirm_units : numpy.ndarray
        Which units (indices into the units drawn) each half holds.
    split_seed : int
        The seed of the split (the study's seed).
    """

    attribution: Attribution
    selected: list[tuple[int, int]]
    confirmed: HeadMap
    screen_units: np.ndarray
    confirm_units: np.ndarray
    split_seed: int

    def __repr__(self) -> str:
        return (f"HeadScreen({len(self.attribution.heads)} heads screened on {len(self.screen_units)} units, "
                f"top {len(self.selected)} confirmed on {len(self.confirm_units)} others)")

    def to_frame(self) -> pd.DataFrame:
        """Every head's attribution estimate and rank, and whether it was chosen (``selected``)."""
        frame = self.attribution.to_frame()
        chosen = set(self.selected)
        frame["selected"] = [(int(r.layer), int(r.head)) in chosen for r in frame.itertuples()]
        return frame

    def summary(self, outcome: str | None = None, *, alpha: float = 0.05, adjust: str = "holm", method: str = "t",
                confidence_level: float | None = None, n_resamples: int | None = None,
                rng: int | np.random.Generator | None = None) -> str:
        """The split, the screen's choice, and the confirmed heads' discoveries (:meth:`HeadMap.summary`)."""
        return "\n".join([repr(self), self.confirmed.summary(
            outcome, alpha=alpha, adjust=adjust, method=method, confidence_level=confidence_level,
            n_resamples=n_resamples, rng=rng, top=len(self.selected))])

    def spearman(self, exact: HeadMap, outcome: str | None = None) -> float:
        """Spearman's rank correlation between the attribution estimates and ``exact``'s effects on the same heads.

        ``outcome`` of the exact map defaults to the outcome attributed, so that
        both rank the same quantity.
        """
        outcome = outcome or self.attribution.outcome
        exact_effects = dict(zip(exact.heads, exact.effects(outcome).to_frame()["estimate"], strict=True))
        common = [i for i, h in enumerate(self.attribution.heads) if h in exact_effects]
        if len(common) < 3:
            raise ValueError("`exact` must hold at least 3 of the screened heads")
        atp = self.attribution.estimates[common]
        return float(stats.spearmanr(atp, [exact_effects[self.attribution.heads[i]] for i in common]).statistic)


def screen_heads(model: HookedModel, data: Task | PromptSet, *, top: int = 20, layers: Sequence[int] | None = None,
                 heads: Sequence[tuple[int, int]] | None = None, kind: str = "mean", outcome: str | None = None,
                 n_sequences: int | None = None, seed: int = 0, batch_size: int = 16, atp_batch_size: int = 8,
                 reference_size: int = 32, per_forward: int | None = None, out_dir: str | os.PathLike | None = None,
                 n_resamples: int = 10_000, confidence_level: float = 0.95, n_jobs: int = 1, client: Any = None,
                 torch_threads: int | None = None, progress: bool = True) -> HeadScreen:
    """Screen every head by attribution patching on a random half of the units; confirm the ``top`` on the other half.

    Parameters
    ----------
    top : int
        Heads confirmed by exact ablation (at most the number screened).
    atp_batch_size : int
        Units per forward and backward pass of the screen.
    model, data, layers, heads, kind, outcome, n_sequences, seed, batch_size, reference_size, per_forward,
    out_dir, n_resamples, confidence_level, n_jobs, client, torch_threads, progress
        As in :func:`causalattn.lab.studies.head_map.head_map` (``out_dir`` saves the confirmation;
        ``seed`` also seeds the split).

    Returns
    -------
    HeadScreen

    Examples
    --------
    >>> from causalattn.lab import BigramTask, TaskConfig, induction_head_model
    >>> task = BigramTask(TaskConfig(seq_len=64))
    >>> model = induction_head_model(task, d_model=128)
    >>> screen = screen_heads(model, task, top=1, kind="zero", n_sequences=40, n_resamples=999, progress=False)
    >>> screen.selected, screen.confirmed.discoveries()["treatment"].tolist()
    ([(1, 0)], ['ablate:L1H0:zero'])
    """
    units, reference_tokens, options = prepare_map(
        model, data, layers=layers, heads=heads, kind=kind, outcome=outcome, n_sequences=n_sequences, seed=seed,
        batch_size=batch_size, reference_size=reference_size, per_forward=per_forward, out_dir=out_dir,
        n_resamples=n_resamples, confidence_level=confidence_level, n_jobs=n_jobs, client=client,
        torch_threads=torch_threads, progress=progress)
    top = check_positive_int("top", top)
    if top > len(options.heads):
        raise ValueError(f"`top` {top} is more than the {len(options.heads)} heads screened")
    atp_batch_size = check_positive_int("atp_batch_size", atp_batch_size)
    if len(units) < 4:
        raise ValueError(f"`n_sequences`: a screen splits the units in two halves of at least 2 units each, "
                         f"got {len(units)} units")
    order = question_rng(options.seed, "screen split").permutation(len(units))
    half = len(units) // 2
    screen_units, confirm_units = np.sort(order[:half]), np.sort(order[half:])
    arms = head_interventions(options.heads, options.kind)
    screening = units.take(torch.as_tensor(screen_units))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            reference = Reference.compute(model, screening.reference if reference_tokens is None else reference_tokens,
                                          arms, sources=screening.sources,
                                          generator=torch.Generator().manual_seed(options.seed))
    finally:
        model.train(was_training)
    outcome_name = options.outcome or units.default_outcome
    with tqdm(total=len(screening), desc="attribution screen", unit="unit", disable=not options.progress) as bar:
        attribution = attribution_patching(model, screening, arms, reference, outcome=outcome_name,
                                           batch_size=atp_batch_size, progress=bar)
    selected = attribution.top(top)
    selection = (f"sample split (seed {options.seed}): heads chosen by attribution patching (|AtP| of "
                 f"{attribution.outcome}) on {half} of the {len(units)} {units.kind}s; the top {top} of "
                 f"{len(options.heads)} measured exactly on the other {len(units) - half}, whose intervals and "
                 f"p-values (adjusted across the {top}) use those {units.kind}s only")
    confirming = units.take(torch.as_tensor(confirm_units))
    confirmed = map_units(model, confirming, reference_tokens, dataclasses.replace(options, heads=sorted(selected)),
                          details={"selection": selection, "split_seed": options.seed,
                                   "units_of_study": confirm_units.tolist()})
    return HeadScreen(attribution, selected, confirmed, screen_units, confirm_units, options.seed)
