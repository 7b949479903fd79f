"""Float32Muon against torch.optim.Muon and against the algorithm written out in float64."""

import math

import pytest
import torch

from causalattn.lab.training.muon import Float32Muon, orthogonalize


def newton_schulz64(g):
    # Jordan et al.'s quintic iteration, written out in float64
    a, b, c = 3.4445, -4.775, 2.0315
    x = g.double()
    if x.shape[0] > x.shape[1]:
        return newton_schulz64(g.T).T
    x = x / x.norm()
    for _ in range(5):
        m = x @ x.T
        x = a * x + (b * m + c * m @ m) @ x
    return x


def run(optimizer_class, shapes, steps=3, **options):
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(*s, generator=gen)) for s in shapes]
    optimizer = optimizer_class(params, **options)
    grads = [[torch.randn(*s, generator=gen) for s in shapes] for _ in range(steps)]
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = g
        optimizer.step()
    return [p.detach() for p in params], grads


SHAPES = [(32, 32), (48, 16), (16, 40)]


def test_orthogonalize_is_the_float64_iteration():
    g = torch.randn(48, 16, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(orthogonalize(g).double(), newton_schulz64(g), rtol=0, atol=1e-5)


def test_three_steps_equal_the_algorithm_by_hand():
    ours, grads = run(Float32Muon, SHAPES, lr=0.02, weight_decay=0.1, momentum=0.95)
    start, _ = run(lambda params, **_: torch.optim.SGD(params, lr=0.0), SHAPES, steps=0)
    lr, decay, mu = 0.02, 0.1, 0.95
    for w, shape, k in zip(start, SHAPES, range(len(SHAPES)), strict=True):
        w, buf = w.double(), torch.zeros(shape, dtype=torch.float64)
        for step in grads:
            g = step[k].double()
            buf = mu * buf + (1 - mu) * g
            w = (1 - lr * decay) * w - lr * 0.2 * math.sqrt(max(shape)) * newton_schulz64((1 - mu) * g + mu * buf)
        torch.testing.assert_close(ours[k].double(), w, rtol=0, atol=1e-6)


def test_agrees_with_torch_muon_to_bfloat16_precision():
    ours, _ = run(Float32Muon, SHAPES, lr=0.02, weight_decay=0.1)
    theirs, _ = run(torch.optim.Muon, SHAPES, lr=0.02, weight_decay=0.1, adjust_lr_fn="match_rms_adamw")
    start, _ = run(lambda params, **_: torch.optim.SGD(params, lr=0.0), SHAPES, steps=0)
    for a, b, w in zip(ours, theirs, start, strict=True):
        moved = (b - w).abs().max()
        assert (a - b).abs().max() < 0.02 * moved  # bfloat16 keeps ~3 significant digits


def test_parameters_without_gradient_are_left_alone():
    frozen, trained = torch.nn.Parameter(torch.ones(3, 3)), torch.nn.Parameter(torch.ones(3, 3))
    optimizer = Float32Muon([frozen, trained], lr=0.1, weight_decay=0.5)
    trained.grad = torch.eye(3)
    optimizer.step()
    assert torch.equal(frozen, torch.ones(3, 3)) and frozen not in optimizer.state
    assert not torch.equal(trained, torch.ones(3, 3))


@pytest.mark.parametrize(("options", "message"), [
    ({"lr": 0.0}, "`lr` must be positive"),
    ({"lr": 0.1, "weight_decay": -1.0}, "`weight_decay` must be non-negative"),
    ({"lr": 0.1, "momentum": 1.0}, r"`momentum` must be in \[0, 1\)"),
])
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        Float32Muon([torch.nn.Parameter(torch.ones(2, 2))], **options)


def test_vectors_are_refused():
    with pytest.raises(ValueError, match=r"`params`: Muon updates 2-D matrices only, got shape \(3,\)"):
        Float32Muon([torch.nn.Parameter(torch.ones(3))], lr=0.1)
