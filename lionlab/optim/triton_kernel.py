"""The fused CUDA path: one Triton kernel per tensor, one pass over memory.

Each program updates BLOCK consecutive elements: loads p, g (fp32/bf16/fp16) and m (fp32),
computes the Lion update in fp32 registers, stores p in its own dtype and m in fp32. fp32
traffic is 20 bytes per element, bf16 weights 14. Arithmetic matches the reference path
operation for operation (fp fusion disabled, so no FMA), and bf16 stochastic rounding uses
the same hash as rounding.py, so results are the same bits as on CPU.

With TRITON_INTERPRET=1 set before this module is imported, the kernel runs on CPU tensors
in Triton's interpreter; the tests use that where no GPU is present.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from lionlab.optim.functional import LionHyperparams

BLOCK = 1024  # elements per program: 4 KiB of fp32 per stream, 8 per thread with 4 warps
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@triton.jit
def _mix32(x):
    # lowbias32 (C. Wellons) on uint32, wrapping arithmetic; see rounding.py.
    x ^= x >> 16
    x *= 0x7FEB352D
    x ^= x >> 15
    x *= 0x846CA68B
    x ^= x >> 16
    return x


@triton.jit(do_not_specialize=["key"])
def _lion_kernel(
    p_ptr,
    g_ptr,
    m_ptr,
    numel,
    lr,
    decay,
    beta1,
    one_minus_beta1,
    beta2,
    one_minus_beta2,
    key,
    BF16_ROUNDING: tl.constexpr,  # 0: p is not bf16, 1: nearest-even, 2: stochastic
    BLOCK: tl.constexpr,
):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < numel
    p = tl.load(p_ptr + offsets, mask=mask).to(tl.float32)
    g = tl.load(g_ptr + offsets, mask=mask).to(tl.float32)
    m = tl.load(m_ptr + offsets, mask=mask)

    c = beta1 * m + one_minus_beta1 * g  # interpolation, used only for the step
    sign = (c > 0).to(tl.float32) - (c < 0).to(tl.float32)
    sign = tl.where(c != c, c, sign)  # NaN stays NaN
    p = p * decay - lr * sign  # decoupled decay with the scheduled lr
    m = beta2 * m + one_minus_beta2 * g

    # bf16: round in integers (as csrc/lion_cpu.c) so that the final cast only drops zeros;
    # the interpreter's own fp32 -> bf16 cast truncates.
    if BF16_ROUNDING != 0:
        bits = p.to(tl.uint32, bitcast=True)
        if BF16_ROUNDING == 2:  # add 16 random bits below the kept mantissa
            bits += _mix32(offsets.to(tl.uint32) * 0x9E3779B1 + key.to(tl.uint32)) >> 16
        else:
            bits += 0x7FFF + ((bits >> 16) & 1)
        kept = (bits & 0xFFFF0000).to(tl.float32, bitcast=True)
        p = tl.where(p != p, p, kept)
    tl.store(p_ptr + offsets, p.to(p_ptr.dtype.element_ty), mask=mask)
    tl.store(m_ptr + offsets, m, mask=mask)


# Decided when the kernel was decorated (TRITON_INTERPRET=1 at import): then it runs on CPU.
INTERPRETED = type(_lion_kernel).__name__ == "InterpretedFunction"


def supports(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor) -> bool:
    """True for contiguous fp32/bf16/fp16 weights with an fp32 state, on CUDA or interpreted."""
    on_device = param.is_cuda or INTERPRETED
    return (
        on_device
        and param.dtype in DTYPES
        and exp_avg.dtype == torch.float32
        and param.is_contiguous()
        and grad.is_contiguous()
        and exp_avg.is_contiguous()
    )


def lion_update_triton_(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    hp: LionHyperparams,
    round_keys: list[int] | None = None,
) -> None:
    """One Lion step for tensors accepted by supports(); round_keys: bf16 stochastic rounding."""
    for i, (p, g, m) in enumerate(zip(params, grads, exp_avgs, strict=True)):
        rounding = 0
        if p.dtype == torch.bfloat16:
            rounding = 2 if round_keys is not None else 1
        key = round_keys[i] if rounding == 2 else 0
        grid = (triton.cdiv(p.numel(), BLOCK),)
        _lion_kernel[grid](
            p,
            g,
            m,
            p.numel(),
            hp.lr,
            hp.decay,
            hp.beta1,
            1 - hp.beta1,
            hp.beta2,
            1 - hp.beta2,
            key,
            BF16_ROUNDING=rounding,
            BLOCK=BLOCK,
            num_warps=4,
            enable_fp_fusion=False,
        )
