r"""Muon with its Newton-Schulz iteration in float32, for CPUs without fast bfloat16.

Muon (Jordan et al. 2024) updates a weight matrix :math:`W` by the
orthogonalized momentum of its gradient :math:`G_t`:

.. math::

    B_t = \mu B_{t-1} + (1 - \mu) G_t, \qquad
    U_t = \mathrm{NS}_5\big((1 - \mu) G_t + \mu B_t\big), \qquad
    W_t = (1 - \gamma\lambda) W_{t-1} - 0.2\,\gamma \sqrt{\max(m, n)}\; U_t,

where :math:`\mathrm{NS}_5(X)` runs five steps of the quintic Newton-Schulz
iteration :math:`X \leftarrow aX + (bA + cA^2)X`, :math:`A = XX^\top`,
:math:`(a, b, c) = (3.4445, -4.775, 2.0315)`, from :math:`X / \lVert X\rVert_F`;
it maps the singular values of :math:`X` to about 1 (0.7 to 1.2), so every
direction of the matrix moves by about the same amount. The factor
:math:`0.2\sqrt{\max(m, n)}` gives the update the root-mean-square size of an
AdamW update (Liu et al. 2025), so that the learning rate and weight decay
tuned for AdamW carry over. This is the algorithm of ``torch.optim.Muon``
with Nesterov momentum and ``adjust_lr_fn="match_rms_adamw"``, whose
iteration runs in bfloat16: 25 to 40 times slower than float32 on a CPU
without bfloat16 arithmetic (290 ms against 7.4 ms for one 256 x 256 matrix
on this project's AVX2 machines). The results agree with
``torch.optim.Muon`` up to its bfloat16 rounding, which the iteration
amplifies along small singular values: within 2% of the step for full-rank
gradients, up to a quarter of some entries of a first step on the low-rank
gradients of a small transformer (tests/lab/test_muon.py).

References
----------
K. Jordan, Y. Jin, V. Boza, J. You, F. Cesista, L. Newhouse and J. Bernstein,
"Muon: An optimizer for hidden layers in neural networks", 2024,
https://kellerjordan.github.io/posts/muon/.

J. Liu et al., "Muon is Scalable for LLM Training", 2025, arXiv:2502.16982.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

__all__ = ["Float32Muon", "orthogonalize"]

COEFFICIENTS = (3.4445, -4.775, 2.0315)  # quintic Newton-Schulz coefficients of Jordan et al.
NS_STEPS = 5
EPS = 1e-7


def orthogonalize(matrix: torch.Tensor, steps: int = NS_STEPS) -> torch.Tensor:
    """Quintic Newton-Schulz iteration in float32: about :math:`UV^\\top` for :math:`M = USV^\\top`.

    Examples
    --------
    >>> import torch
    >>> s = torch.linalg.svdvals(orthogonalize(torch.randn(64, 32, generator=torch.Generator().manual_seed(0))))
    >>> bool(0.6 < s.min() and s.max() < 1.25)
    True
    """
    a, b, c = COEFFICIENTS
    x = matrix.float()
    tall = x.shape[0] > x.shape[1]
    if tall:
        x = x.T
    x = x / x.norm().clamp(min=EPS)
    for _ in range(steps):
        gram = x @ x.T
        x = torch.addmm(x, torch.addmm(gram, gram, gram, beta=b, alpha=c), x, beta=a)
    return x.T if tall else x


class Float32Muon(torch.optim.Optimizer):
    """Muon for 2-D parameters (Nesterov momentum, AdamW-matched step size), orthogonalizing in float32.

    Parameters
    ----------
    params : iterable of 2-D tensors or parameter groups
    lr : float
        Learning rate :math:`\\gamma`, on AdamW's scale.
    weight_decay : float
        Decoupled weight decay :math:`\\lambda`.
    momentum : float
        :math:`\\mu` in [0, 1).

    Examples
    --------
    >>> import torch
    >>> w = torch.nn.Parameter(torch.zeros(4, 3))
    >>> optimizer = Float32Muon([w], lr=0.1)
    >>> w.grad = torch.ones(4, 3)
    >>> optimizer.step()
    >>> # every entry moves by lr * 0.2 * sqrt(4) * 0.696 / sqrt(12): the rank-one gradient's
    >>> # singular value 1 comes out of five Newton-Schulz steps as 0.696
    >>> round(float(w.detach().abs().max()), 5), round(0.1 * 0.2 * 2 * 0.6964 / 12 ** 0.5, 5)
    (0.00804, 0.00804)
    """

    def __init__(self, params: Iterable, lr: float, weight_decay: float = 0.0, momentum: float = 0.95) -> None:
        if not lr > 0:
            raise ValueError(f"`lr` must be positive, got {lr}")
        if not weight_decay >= 0:
            raise ValueError(f"`weight_decay` must be non-negative, got {weight_decay}")
        if not 0 <= momentum < 1:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum}")
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay, "momentum": momentum})
        for group in self.param_groups:
            for p in group["params"]:
                if p.ndim != 2:
                    raise ValueError(f"`params`: Muon updates 2-D matrices only, got shape {tuple(p.shape)}")

    @torch.no_grad()
    def step(self) -> None:
        """One update of every parameter that has a gradient."""
        for group in self.param_groups:
            lr, decay, mu = group["lr"], group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["momentum_buffer"] = torch.zeros_like(p)
                buf = state["momentum_buffer"]
                buf.lerp_(p.grad, 1 - mu)
                update = orthogonalize(p.grad.lerp(buf, mu))
                p.mul_(1 - lr * decay)
                p.add_(update, alpha=-lr * 0.2 * math.sqrt(max(p.shape)))
