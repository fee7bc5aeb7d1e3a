"""Every CPU path of Lion follows the paper's equations, step for step (`ref`: conftest.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lionlab.optim import Lion, multi_tensor

CPU_PATHS = ["reference", "foreach", "cpu"]
BETAS = [(0.9, 0.99), (0.95, 0.98), (0.5, 0.9)]


def lion(backend: str = "auto", **hparams):
    return lambda params: Lion(params, backend=backend, **hparams)


@pytest.mark.parametrize("backend", CPU_PATHS)
@pytest.mark.parametrize("betas", BETAS)
@pytest.mark.parametrize("wd", [0.0, 0.3])
def test_fp32_matches_paper_equations(ref, backend: str, betas, wd: float) -> None:
    lr, steps = 3e-3, 40
    weights, grads = ref.initial_weights(ref.SHAPES), ref.gradient_sequence(ref.SHAPES, steps)
    got = ref.run_trajectory(lion(backend, lr=lr, betas=betas, weight_decay=wd), weights, grads)
    # fp32, one rounding per operation in the order written: the same bits.
    paper = ref.paper_trajectory(weights, grads, lr, betas, wd)
    for ours, theirs in zip(got, paper, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs)
    # against float64 arithmetic: only fp32 rounding apart.
    exact = ref.paper_trajectory(weights, grads, lr, betas, wd, dtype=np.float64)
    for ours, theirs in zip(got, exact, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("backend", CPU_PATHS)
def test_bf16_weights_round_the_fp32_update_to_nearest(ref, backend: str) -> None:
    lr, betas, wd, steps = 1e-2, (0.9, 0.99), 0.1, 20
    weights = ref.initial_weights(ref.SHAPES, dtype=torch.bfloat16)
    grads = ref.gradient_sequence(ref.SHAPES, steps, dtype=torch.bfloat16)
    got = ref.run_trajectory(lion(backend, lr=lr, betas=betas, weight_decay=wd), weights, grads)
    for i, w in enumerate(weights):  # the paper's step in fp32, stored as bf16 (nearest-even)
        theta, m = w.float().numpy(), np.zeros(w.shape, np.float32)
        for step_grads in grads:
            theta, m = ref.paper_lion(theta, m, step_grads[i].float().numpy(), lr, *betas, wd)
            theta = torch.from_numpy(theta).to(torch.bfloat16).float().numpy()
        assert got[i].dtype == torch.bfloat16
        np.testing.assert_array_equal(got[i].float().numpy(), theta)


@pytest.mark.parametrize("backend", CPU_PATHS)
def test_sign_of_zero_is_zero(backend: str) -> None:
    """c = 0 moves nothing but the decay: zero gradient on zero momentum, and an exact cancel."""
    beta, lr, wd = 0.5, 0.25, 0.5
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 4.0]))
    opt = Lion([p], lr=lr, betas=(beta, beta), weight_decay=wd, backend=backend)
    p.grad = torch.tensor([0.0, 0.0, 1.0])  # c = (0, 0, 0.5); m becomes (0, 0, 0.5)
    opt.step()
    decay = 1 - lr * wd
    assert p.tolist() == [1.0 * decay, -2.0 * decay, 4.0 * decay - lr]
    before = p.detach().clone()
    p.grad = torch.tensor([0.0, 0.0, -0.5])  # c = 0.5 * 0.5 + 0.5 * -0.5 = 0 exactly
    opt.step()
    assert p.tolist() == (before * decay).tolist()


@pytest.mark.parametrize("backend", CPU_PATHS)
def test_nan_gradient_reaches_the_weights(backend: str) -> None:
    """sign(NaN) = NaN as in the paper's code: a NaN must show as divergence, not freeze m."""
    p = torch.nn.Parameter(torch.ones(5))
    opt = Lion([p], lr=1e-3, backend=backend)
    p.grad = torch.tensor([float("nan"), 1.0, -1.0, 0.0, float("inf")])
    opt.step()
    assert torch.isnan(p[0]) and torch.isfinite(p[1:]).all()
    assert p[1:].tolist() == pytest.approx([1 - 1e-3, 1 + 1e-3, 1.0, 1 - 1e-3])


@pytest.mark.parametrize("backend", CPU_PATHS)
def test_every_path_gives_the_same_bits(ref, backend: str) -> None:
    weights, grads = ref.initial_weights(ref.SHAPES), ref.gradient_sequence(ref.SHAPES, 25, 3)
    hparams = dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=0.2)
    ours = ref.run_trajectory(lion(backend, **hparams), weights, grads)
    reference = ref.run_trajectory(lion("reference", **hparams), weights, grads)
    for a, b in zip(ours, reference, strict=True):
        assert torch.equal(a, b)


def test_foreach_path_cut_into_pieces_gives_the_same_bits(ref, monkeypatch) -> None:
    """On CPU the _foreach path runs on cache-sized pieces; make them small to cut tensors."""
    monkeypatch.setattr(multi_tensor, "CPU_PIECE_ELEMENTS", 1000)
    shapes = [*ref.SHAPES, (3, 1000)]
    weights, grads = ref.initial_weights(shapes), ref.gradient_sequence(shapes, 10)
    ours = ref.run_trajectory(lion("foreach", lr=1e-3, weight_decay=0.1), weights, grads)
    reference = ref.run_trajectory(lion("reference", lr=1e-3, weight_decay=0.1), weights, grads)
    for a, b in zip(ours, reference, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("betas", BETAS)
@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_matches_lion_pytorch(ref, betas, wd: float) -> None:
    """lion-pytorch with decoupled_weight_decay=False decays by lr * wd, as here."""
    import lion_pytorch  # in the dev extra: a missing one fails, it does not skip

    lr, steps = 1e-3, 100
    weights, grads = ref.initial_weights(ref.SHAPES), ref.gradient_sequence(ref.SHAPES, steps, 5)
    ours = ref.run_trajectory(lion(lr=lr, betas=betas, weight_decay=wd), weights, grads)
    theirs = ref.run_trajectory(
        lambda ps: lion_pytorch.Lion(ps, lr=lr, betas=betas, weight_decay=wd), weights, grads
    )
    for a, b in zip(ours, theirs, strict=True):
        assert_same_up_to_sign_ties(a, b, lr)


def assert_same_up_to_sign_ties(a: torch.Tensor, b: torch.Tensor, lr: float) -> None:
    """Equal to float tolerance, except where c fell within one rounding of 0.

    lion-pytorch forms c with a fused multiply-add (torch's add(alpha=)), we round each
    product; where c is ~1e-8 from 0 the two can take different signs, and that coordinate
    then differs by a multiple of lr. That happens about once in a million updates.
    """
    close = torch.isclose(a, b, rtol=1e-6, atol=1e-6)
    assert close.float().mean() > 1 - 1e-4
    steps_apart = ((a - b)[~close] / lr).abs()
    assert torch.all((steps_apart - steps_apart.round()).abs() < 1e-2)


def test_lion_pytorch_decoupled_flag_is_another_convention(ref) -> None:
    """Its decoupled_weight_decay=True divides wd by the initial lr: not p *= 1 - lr * wd."""
    import lion_pytorch  # in the dev extra: a missing one fails, it does not skip

    lr, wd = 1e-3, 0.1
    weights, grads = ref.initial_weights(ref.SHAPES), ref.gradient_sequence(ref.SHAPES, 10)
    theirs = ref.run_trajectory(
        lambda ps: lion_pytorch.Lion(ps, lr=lr, weight_decay=wd, decoupled_weight_decay=True),
        weights,
        grads,
    )
    ours = ref.run_trajectory(lion(lr=lr, weight_decay=wd), weights, grads)
    assert not torch.allclose(ours[-1], theirs[-1], rtol=1e-4, atol=1e-5)
    same = ref.run_trajectory(lion(lr=lr, weight_decay=wd / lr), weights, grads)
    torch.testing.assert_close(same[-1], theirs[-1], rtol=1e-6, atol=1e-6)
