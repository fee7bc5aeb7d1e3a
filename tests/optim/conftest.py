"""Fixtures for the optimizer tests: the paper's update rule in numpy, and a driver that feeds
the same gradients to any optimizer (what the Lion tests compare against), as `ref`."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
import torch

# Sizes: a scalar, odd lengths, one beyond the CPU kernel's 32768-element work chunk,
# and a 2-D weight.
SHAPES = [(1,), (7,), (33_001,), (64, 33)]


def paper_lion(theta, m, g, lr, beta1, beta2, wd, dtype=np.float32):
    """Chen et al. 2023, Algorithm 2, one step, written as the paper's equations in numpy.

    In float32 each operation rounds once, in the order written; in float64 it is the
    exact-arithmetic yardstick. Returns (theta, m).
    """
    f = dtype
    c = f(beta1) * m + f(1 - beta1) * g
    theta = theta * f(1 - lr * wd) - f(lr) * np.sign(c)  # np.sign(0) = 0, np.sign(nan) = nan
    m = f(beta2) * m + f(1 - beta2) * g
    return theta, m


def gradient_sequence(shapes, steps: int, seed: int = 0, dtype=torch.float32):
    """steps lists of gradients (one per shape), reproducible from seed."""
    gen = torch.Generator().manual_seed(seed)
    return [[torch.randn(s, generator=gen).to(dtype) for s in shapes] for _ in range(steps)]


def initial_weights(shapes, seed: int = 1, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(s, generator=gen).to(dtype) for s in shapes]


def run_trajectory(
    make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    weights: list[torch.Tensor],
    grads: list[list[torch.Tensor]],
) -> list[torch.Tensor]:
    """Weights after one optimizer step per entry of grads."""
    params = [torch.nn.Parameter(w.clone()) for w in weights]
    optimizer = make_optimizer(params)
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.clone()
        optimizer.step()
    return [p.detach().clone() for p in params]


def paper_trajectory(weights, grads, lr, betas, wd, dtype=np.float32) -> list[np.ndarray]:
    """The same trajectory by paper_lion, per parameter."""
    out = []
    for i, w in enumerate(weights):
        theta = w.double().numpy().astype(dtype)
        m = np.zeros_like(theta)
        for step_grads in grads:
            g = step_grads[i].double().numpy().astype(dtype)
            theta, m = paper_lion(theta, m, g, lr, *betas, wd, dtype=dtype)
        out.append(theta)
    return out


@pytest.fixture
def ref() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import this file)."""
    return SimpleNamespace(
        SHAPES=SHAPES,
        paper_lion=paper_lion,
        paper_trajectory=paper_trajectory,
        gradient_sequence=gradient_sequence,
        initial_weights=initial_weights,
        run_trajectory=run_trajectory,
    )


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """Tests may change torch's thread count; give the next test the original one."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
