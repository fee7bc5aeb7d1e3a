"""The Triton kernel against the reference path and the paper: on CUDA when present, else on
CPU in Triton's interpreter (TRITON_INTERPRET=1 while the kernel module is imported)."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

pytest.importorskip("triton")

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def _import_kernel():
    saved = os.environ.get("TRITON_INTERPRET")
    if DEVICE == "cpu":
        os.environ["TRITON_INTERPRET"] = "1"  # read when the kernel is decorated
    try:
        from lionlab.optim import triton_kernel
    finally:
        if saved is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = saved
    return triton_kernel


triton_kernel = _import_kernel()

from lionlab.optim import Lion  # noqa: E402

# Around the kernel's 1024-element block: one element, a partial block, several blocks.
SHAPES = [(1,), (1000,), (2500,), (33, 64)]


@pytest.fixture(autouse=True)
def _kernel_runs_here() -> None:
    assert DEVICE == "cuda" or triton_kernel.INTERPRETED, (
        "lionlab.optim.triton_kernel was imported before TRITON_INTERPRET=1 could be set"
    )


def trajectory(ref, backend: str, dtype: torch.dtype, stochastic: bool, steps: int = 8):
    weights = ref.initial_weights(SHAPES, dtype=dtype)
    grads = ref.gradient_sequence(SHAPES, steps, dtype=dtype)
    params = [torch.nn.Parameter(w.to(DEVICE, copy=True)) for w in weights]
    opt = Lion(
        params,
        lr=1e-2,
        betas=(0.95, 0.98),
        weight_decay=0.1,
        backend=backend,
        stochastic_rounding=stochastic,
        seed=42,
    )
    for step_grads in grads:
        for p, g in zip(params, step_grads, strict=True):
            p.grad = g.to(DEVICE)
        opt.step()
    assert {opt.path_for(p) for p in params} == {backend}
    states = [opt.state[p]["exp_avg"].cpu() for p in params]
    return [p.detach().cpu() for p in params], states, weights, grads


@pytest.mark.parametrize(
    "dtype, stochastic",
    [
        (torch.float32, False),
        (torch.bfloat16, False),
        (torch.bfloat16, True),
        (torch.float16, False),
    ],
)
def test_same_bits_as_the_reference_path(ref, dtype, stochastic: bool) -> None:
    ours, our_m, _, _ = trajectory(ref, "triton", dtype, stochastic)
    theirs, their_m, _, _ = trajectory(ref, "reference", dtype, stochastic)
    for a, b in zip(ours + our_m, theirs + their_m, strict=True):
        assert a.dtype == b.dtype and torch.equal(a, b)


def test_fp32_matches_the_paper_equations(ref) -> None:
    ours, _, weights, grads = trajectory(ref, "triton", torch.float32, False)
    paper = ref.paper_trajectory(weights, grads, 1e-2, (0.95, 0.98), 0.1)
    for a, b in zip(ours, paper, strict=True):
        np.testing.assert_array_equal(a.numpy(), b)


def test_sign_of_zero_and_nan() -> None:
    p = torch.nn.Parameter(torch.ones(4, device=DEVICE))
    opt = Lion([p], lr=0.25, weight_decay=0.0, backend="triton")
    p.grad = torch.tensor([0.0, 1.0, -1.0, float("nan")], device=DEVICE)
    opt.step()
    out = p.detach().cpu()
    assert out[:3].tolist() == [1.0, 0.75, 1.25] and torch.isnan(out[3])
