"""Rounding fp32 results into bf16 weights: nearest-even or stochastic.

A Lion step moves every coordinate by exactly lr. A bf16 weight w has a spacing (ulp) of
2**(floor(log2|w|) - 7), so round-to-nearest drops any step smaller than half of it: at
lr = 1e-4 every weight with |w| > ~0.03 never moves. Stochastic rounding rounds up with
probability equal to the dropped fraction, so the expected stored weight equals the fp32
result and small steps accumulate.

The noise is a counter-based hash of (key, element index), computed identically here (torch
integer ops, the reference), in csrc/lion_cpu.c and in triton_kernel.py, so every path gives
the same bits for the same key, whatever the thread count or block size.
"""

from __future__ import annotations

import torch

MASK32 = 0xFFFFFFFF
MASK64 = 0xFFFFFFFFFFFFFFFF
GOLDEN32 = 0x9E3779B1  # spreads consecutive element indices before hashing
BF16_NAN = 0x7FC0  # the NaN torch writes when rounding fp32 NaN to bf16


def rounding_key(seed: int, param_index: int, step: int) -> int:
    """31-bit key for one tensor at one step (splitmix64 finalizer over the three counters)."""
    x = (seed * 0x9E3779B97F4A7C15 + param_index * 0xBF58476D1CE4E5B9 + step) & MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK64
    x ^= x >> 31
    return x & 0x7FFFFFFF  # 31 bits: fits every backend's signed 32-bit scalar argument


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x * c) mod 2**32 for int64 tensors holding uint32, without int64 overflow."""
    low = x * (c & 0xFFFF)  # < 2**48
    high = ((x * (c >> 16)) & 0xFFFF) << 16  # only its low 16 bits survive the mod
    return (low + high) & MASK32


def mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 integer hash (C. Wellons) on int64 tensors holding uint32 values."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def rounding_noise(numel: int, key: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """16 random bits per element, int64 of shape (numel,), in [0, 2**16)."""
    index = torch.arange(numel, dtype=torch.int64, device=device)
    return mix32((_mul32(index & MASK32, GOLDEN32) + key) & MASK32) >> 16


def stochastic_round_to_bf16(x: torch.Tensor, key: int) -> torch.Tensor:
    """Round fp32 x to bf16, up with probability equal to the fraction dropped; NaN stays NaN."""
    bits = x.contiguous().view(torch.int32).to(torch.int64) & MASK32  # fp32 bit patterns
    noise = rounding_noise(x.numel(), key, x.device).view(x.shape)
    kept = (bits + noise) & 0xFFFF0000  # bf16 is the top half of an fp32
    kept = torch.where(kept >= 2**31, kept - 2**32, kept).to(torch.int32)
    rounded = kept.view(torch.float32).to(torch.bfloat16)  # exact: low 16 bits are zero
    return torch.where(torch.isnan(x), x.to(torch.bfloat16), rounded)
