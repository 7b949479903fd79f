"""The optimizers of a training run: SGD, AdamW, or Muon for the hidden matrices with AdamW for the rest.

References
----------
K. Jordan et al., "Muon: An optimizer for hidden layers in neural networks",
2024, https://kellerjordan.github.io/posts/muon/.

J. Liu et al., "Muon is Scalable for LLM Training", 2025, arXiv:2502.16982.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from causalattn.lab.training.config import TrainConfig
from causalattn.lab.training.muon import Float32Muon

__all__ = ["EMBEDDINGS", "MUON_MOMENTUM", "Optimizers", "make_optimizer"]


# Tables trained by AdamW even under optimizer="muon": Muon orthogonalizes the update of a hidden
# weight matrix, which is not meant for an embedding (Jordan et al. 2024; Liu et al. 2025).
EMBEDDINGS = ("W_E", "W_pos", "W_U")
MUON_MOMENTUM = 0.95  # Nesterov momentum, torch.optim.Muon's default


def make_optimizer(model: nn.Module, params: list[nn.Parameter], config: TrainConfig) -> Any:
    """The optimizer of ``config`` over ``params``; under "muon", AdamW takes the tables and vectors."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    names = {id(p): name for name, p in model.named_parameters()}
    is_hidden = [config.optimizer == "muon" and p.ndim == 2 and names[id(p)] not in EMBEDDINGS for p in params]
    hidden = [p for p, h in zip(params, is_hidden, strict=True) if h]
    rest = [p for p, h in zip(params, is_hidden, strict=True) if not h]
    adam = torch.optim.AdamW(rest, lr=config.lr, betas=(0.9, 0.95), weight_decay=config.weight_decay) if rest else None
    if not hidden:
        return adam
    muon = Float32Muon(hidden, lr=config.lr, weight_decay=config.weight_decay, momentum=MUON_MOMENTUM)
    return muon if adam is None else Optimizers(muon, adam)


class Optimizers:
    """Optimizers stepped together as one (Muon for the hidden matrices, AdamW for the rest)."""

    def __init__(self, *optimizers: torch.optim.Optimizer) -> None:
        self.optimizers = optimizers

    def zero_grad(self, set_to_none: bool = True) -> None:
        for optimizer in self.optimizers:
            optimizer.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        for optimizer in self.optimizers:
            optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": [optimizer.state_dict() for optimizer in self.optimizers]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for optimizer, part in zip(self.optimizers, state["optimizers"], strict=True):
            optimizer.load_state_dict(part)
