r"""Scanning every attention head for induction and previous-token behaviour on repeated random tokens.

On a sequence ``[bos] r_1 .. r_L r_1 .. r_L`` (:class:`causalattn.lab.tasks.repeated.RepeatedTokensTask`),
with :math:`A^{(l,h)}_{ij}` the attention of head ``h`` of layer ``l`` from query
position ``i`` to key position ``j`` (the ``pattern`` hook point), the scores
of Olsson et al. (2022) are

.. math::

    \text{induction}(l, h) = \operatorname{mean}_{s,\; i \in \text{2nd copy}} A^{(l,h)}_{i,\, i - L + 1},
    \qquad
    \text{previous token}(l, h) = \operatorname{mean}_{s,\; 1 \le i < T} A^{(l,h)}_{i,\, i - 1},

averaged over sequences :math:`s` and query positions: the second copy
(:math:`i = b + L, \dots, T - 1`) for the induction score, whose key
:math:`i - L + 1` holds the token that followed the previous occurrence of
token :math:`i`, and every position but the first for the previous-token
score. Both lie in [0, 1]; 1 is a head that puts all its attention there.
A head with a high induction score is a candidate induction head; whether it
*matters* for in-context prediction is the causal question the ablation study
(:func:`causalattn.lab.studies.evaluation.evaluation_study`) answers.

References
----------
Olsson, C. et al. (2022). In-context Learning and Induction Heads. Transformer Circuits Thread.
Nanda, N. and Bloom, J. (2022). TransformerLens (induction and previous-token scores).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import nn
from tqdm.auto import tqdm

from causalattn._validation import check_flag, check_positive_int, check_rng, check_seed
from causalattn.lab.models.contract import check_model
from causalattn.lab.models.hooks import hooks
from causalattn.lab.tasks.repeated import RepeatedTokensTask

__all__ = ["HeadScan", "head_scan"]

SCORES = ("induction_score", "previous_token_score")


def _head_scan_iv(model, task, n_sequences, seed, batch_size):
    check_model(model)
    if not isinstance(task, RepeatedTokensTask):
        raise TypeError(f"`task` must be a RepeatedTokensTask, got {type(task).__name__}")
    if task.seq_len > model.max_len or task.vocab_size > model.vocab_size:
        raise ValueError(f"`task` does not fit `model`: sequences of {task.seq_len} tokens over {task.vocab_size} "
                         f"symbols vs max_len={model.max_len}, vocab_size={model.vocab_size}")
    n_sequences = check_positive_int("n_sequences", n_sequences)
    return n_sequences, check_seed("seed", seed), check_positive_int("batch_size", batch_size)


def _pattern_scores(pattern: torch.Tensor, start: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-head sums of the induction and previous-token attention of a (batch, head, query, key) pattern.

    Returns two tensors of shape (head,): the attention summed over sequences
    and the query positions of each score (see the module docstring); divide by
    ``batch * (T - start - length)`` and ``batch * (T - 1)`` for the means.
    """
    t = pattern.shape[-1]
    queries = torch.arange(start + length, t)
    induction = pattern[:, :, queries, queries - length + 1].double().sum((0, 2))
    queries = torch.arange(1, t)
    previous = pattern[:, :, queries, queries - 1].double().sum((0, 2))
    return induction.cpu(), previous.cpu()


@torch.no_grad()
def head_scan(model: nn.Module, task: RepeatedTokensTask, n_sequences: int = 16, *, seed: int = 0,
              batch_size: int = 16, progress: bool = False) -> HeadScan:
    """Induction and previous-token score of every head, from attention patterns on repeated random tokens.

    Parameters
    ----------
    model : nn.Module
        A model following the lab's contract (``n_layers``, ``n_heads``,
        ``hook_name("pattern", layer)``): a lab Transformer or an adapted
        HuggingFace model (:func:`causalattn.lab.models.pretrained.load_pretrained`).
    task : RepeatedTokensTask
    n_sequences : int
        Sequences averaged over.
    seed : int
        Seeds the sequences.
    batch_size : int
        Sequences per forward pass (the pattern of one layer is reduced as soon
        as it is computed, so memory is one layer's pattern).
    progress : bool
        Show a progress bar.

    Returns
    -------
    HeadScan

    Examples
    --------
    >>> from causalattn.lab import ModelConfig, build_model
    >>> from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
    >>> task = RepeatedTokensTask(RepeatedTokensConfig(length=8, vocab_size=65))
    >>> model = build_model(ModelConfig(d_model=32, max_seq_len=16))
    >>> scan = head_scan(model, task, n_sequences=4)
    >>> list(scan.scores.columns)
    ['layer', 'head', 'induction_score', 'previous_token_score']
    """
    n_sequences, seed, batch_size = _head_scan_iv(model, task, n_sequences, seed, batch_size)
    progress = check_flag("progress", progress)
    n_layers, n_heads = model.n_layers, model.n_heads
    sums = torch.zeros(2, n_layers, n_heads, dtype=torch.float64)
    start, length = task.start, task.config.length

    def accumulate(layer: int):
        def fn(pattern: torch.Tensor, hook: Any = None) -> None:
            induction, previous = _pattern_scores(pattern, start, length)
            sums[0, layer] += induction
            sums[1, layer] += previous
        return fn

    generator = torch.Generator().manual_seed(seed)
    fwd = [(model.hook_name("pattern", layer), accumulate(layer)) for layer in range(n_layers)]
    was_training = model.training
    model.eval()
    try:
        with hooks(model, fwd):
            for start_row in tqdm(range(0, n_sequences, batch_size), desc="head scan", unit="batch",
                                  disable=not progress):
                model(task.sample(min(batch_size, n_sequences - start_row), generator).inputs)
    finally:
        model.train(was_training)
    t = task.seq_len
    means = sums / torch.tensor([n_sequences * (t - start - length), n_sequences * (t - 1)],
                                dtype=torch.float64).view(2, 1, 1)
    layer, head = np.divmod(np.arange(n_layers * n_heads), n_heads)
    scores = pd.DataFrame({"layer": layer, "head": head, "induction_score": means[0].flatten().numpy(),
                           "previous_token_score": means[1].flatten().numpy()})
    return HeadScan(scores, n_sequences=n_sequences, length=length)


@dataclasses.dataclass(frozen=True)
class HeadScan:
    """Result of :func:`head_scan`.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per head: ``layer, head, induction_score, previous_token_score``.
    n_sequences : int
        Sequences averaged over.
    length : int
        ``L``, the length of each copy.
    """

    scores: pd.DataFrame
    n_sequences: int
    length: int

    def __repr__(self) -> str:
        best = self.top(1).iloc[0]
        return (f"HeadScan({len(self.scores)} heads, {self.n_sequences} sequences of 2 x {self.length} tokens; "
                f"top induction head L{int(best['layer'])}H{int(best['head'])}: {best['induction_score']:.3f})")

    def top(self, k: int, score: str = "induction_score") -> pd.DataFrame:
        """The ``k`` heads with the highest ``score``, highest first (ties: lower layer, then head, first)."""
        k = check_positive_int("k", k)
        if score not in SCORES:
            raise ValueError(f"`score` must be one of {list(SCORES)}, got {score!r}")
        order = self.scores.sort_values([score, "layer", "head"], ascending=[False, True, True], kind="stable")
        return order.head(k).reset_index(drop=True)

    def select(self, k: int, *, rng: Any = 0) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Heads to ablate: the top ``k`` induction heads and ``k`` control heads, as ``(layer, head)`` lists.

        The rule: the induction heads are the ``k`` highest induction scores
        (:meth:`top`). The controls are ``k`` heads drawn uniformly at random
        (``rng``, seeded for a reproducible choice) from the heads that do
        neither job: induction score *and* previous-token score both at most
        their median over all heads. Previous-token heads are left out because
        they feed induction heads (Olsson et al., 2022), so they are not
        controls. Controls are listed by layer and head.
        """
        k = check_positive_int("k", k)
        rng = check_rng(rng)
        if 2 * k > len(self.scores):
            raise ValueError(f"`k` {k} is too large: 2k heads are needed and the model has {len(self.scores)}")
        induction = [(int(row.layer), int(row.head)) for row in self.top(k).itertuples()]
        s = self.scores
        quiet = s[(s["induction_score"] <= s["induction_score"].median())
                  & (s["previous_token_score"] <= s["previous_token_score"].median())]
        quiet = quiet[~quiet.set_index(["layer", "head"]).index.isin(induction)]
        if len(quiet) < k:
            raise ValueError(f"`k` {k} is too large: only {len(quiet)} heads score at most the median on both scores")
        rows = np.sort(rng.choice(len(quiet), size=k, replace=False))
        control = [(int(quiet["layer"].iloc[i]), int(quiet["head"].iloc[i])) for i in rows]
        return induction, control

    def plot(self, mark: Any = ()) -> Figure:
        """Layer x head heatmaps of both scores; heads in ``mark`` (``(layer, head)`` pairs) are outlined."""
        n_layers, n_heads = int(self.scores["layer"].max()) + 1, int(self.scores["head"].max()) + 1
        fig = Figure(figsize=(2.2 + 0.55 * n_heads * 2, 1.5 + 0.22 * n_layers), layout="constrained")
        axes = fig.subplots(1, 2, squeeze=False)[0]
        for ax, score in zip(axes, SCORES, strict=True):
            grid = self.scores.pivot(index="layer", columns="head", values=score).to_numpy()
            image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=max(1e-9, float(np.nanmax(grid))), aspect="auto",
                              interpolation="nearest")
            ax.set_title(score.replace("_", " "))
            ax.set_xlabel("head")
            ax.set_ylabel("layer")
            ax.set_xticks(range(n_heads))
            ax.set_yticks(range(n_layers))
            ax.tick_params(labelsize=7)
            for layer, head in mark:
                ax.add_patch(Rectangle((head - 0.5, layer - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=1.5))
            fig.colorbar(image, ax=ax, shrink=0.8)
        fig.suptitle(f"head scan: {self.n_sequences} repeated random sequences (L = {self.length})")
        return fig

