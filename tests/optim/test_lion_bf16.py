"""bf16 weights: Lion's fixed-size steps vanish under round-to-nearest; stochastic rounding
(or fp32 master weights) keeps them."""

from __future__ import annotations

import pytest
import torch

from lionlab.optim import Lion
from lionlab.optim.rounding import (
    mix32,
    rounding_key,
    rounding_noise,
    stochastic_round_to_bf16,
)

LR, STEPS = 1e-4, 200
PATHS = ["reference", "cpu"]


def _train_with_constant_gradient(weights: torch.Tensor, backend: str, **options) -> torch.Tensor:
    """STEPS Lion steps at LR with gradient +1 everywhere: exact drift is -STEPS * LR."""
    p = torch.nn.Parameter(weights.clone())
    opt = Lion([p], lr=LR, backend=backend, **options)
    for _ in range(STEPS):
        p.grad = torch.ones_like(p)
        opt.step()
    return p.detach()


def _weights(low: float, high: float, n: int = 4096) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    magnitude = low + (high - low) * torch.rand(n, generator=gen)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    return (sign * magnitude).to(torch.bfloat16)


@pytest.mark.parametrize("backend", PATHS)
def test_round_to_nearest_never_moves_weights_above_0_03(backend: str) -> None:
    """|w| >= 2**-5 ~= 0.031: half a bf16 ulp (>= 1.2e-4) exceeds the lr, so w never moves."""
    large = _weights(2**-5, 4.0)
    assert torch.equal(_train_with_constant_gradient(large, backend), large)
    small = _weights(1e-3, 2**-6)  # below the threshold steps survive
    assert (_train_with_constant_gradient(small, backend).float() < small.float()).all()


@pytest.mark.parametrize("backend", PATHS)
def test_stochastic_rounding_keeps_the_expected_drift(backend: str) -> None:
    large = _weights(2**-5, 1.0)
    moved = _train_with_constant_gradient(large, backend, stochastic_rounding=True, seed=3)
    drift = (moved.float() - large.float()).mean().item()
    assert drift == pytest.approx(-STEPS * LR, rel=0.05)


def test_fp32_master_weights_keep_every_step() -> None:
    """The mixed-precision recipe: fp32 weights in the optimizer, bf16 copies for compute."""
    master = _weights(2**-5, 1.0).float()
    moved = _train_with_constant_gradient(master, "auto")
    drift = (moved - master).mean().item()
    assert drift == pytest.approx(-STEPS * LR, rel=1e-3)
    assert not torch.equal(moved.to(torch.bfloat16), master.to(torch.bfloat16))


@pytest.mark.parametrize("backend", PATHS)
def test_stochastic_rounding_is_reproducible_from_its_seed(backend: str) -> None:
    w = _weights(0.01, 1.0, n=2000)

    def run(**options) -> torch.Tensor:
        return _train_with_constant_gradient(w, backend, stochastic_rounding=True, **options)

    assert torch.equal(run(seed=5), run(seed=5))
    assert not torch.equal(run(seed=5), run(seed=6))
    torch.manual_seed(123)
    first = run()
    torch.manual_seed(123)
    assert torch.equal(first, run())


def test_stochastic_rounding_is_unbiased() -> None:
    lo, hi = 1.0, 1.0 + 2**-7  # neighbouring bf16 values
    x = torch.full((100_000,), lo + 0.3 * (hi - lo))
    rounded = stochastic_round_to_bf16(x, key=rounding_key(1, 0, 1)).float()
    assert set(rounded.unique().tolist()) == {lo, hi}
    assert (rounded == hi).float().mean().item() == pytest.approx(0.3, abs=0.01)
    negative = stochastic_round_to_bf16(-x, key=7).float()
    assert (negative == -hi).float().mean().item() == pytest.approx(0.3, abs=0.01)


def test_stochastic_rounding_keeps_special_values() -> None:
    x = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0])
    out = stochastic_round_to_bf16(x, key=99)
    assert torch.isnan(out[0]) and out[1:].float().tolist() == [
        float("inf"),
        -float("inf"),
        0.0,
        0.0,
        1.0,
    ]


def test_hash_matches_plain_integer_arithmetic() -> None:
    def mix32_int(x: int) -> int:
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    values = [0, 1, 2, 12345, 2**31 - 1, 2**31, 2**32 - 1, 0xDEADBEEF]
    assert mix32(torch.tensor(values)).tolist() == [mix32_int(v) for v in values]
    noise = rounding_noise(1 << 16, key=rounding_key(0, 0, 1))
    assert noise.min() >= 0 and noise.max() < 2**16
    assert noise.float().mean().item() == pytest.approx(2**15, rel=0.01)
