"""Optimizer step time on CPU against the memory-bandwidth floor; prints one JSON object.

    python3 bench/optim_step.py [--params 33554432] [--tensors 64] [--reps 25]

Figures (ms per step, medians over --reps rounds after --warmup, all candidates timed in
turn within each round so that load from other processes hits them alike):
    lion_ms            lionlab.optim.Lion, default path (the fused C kernel on CPU)
    lion_foreach_ms    lionlab.optim.Lion(backend="foreach"), the fallback without a compiler
    adamw_fused_ms     torch.optim.AdamW(fused=True)
    adamw_foreach_ms   torch.optim.AdamW(foreach=True)
    lion_pytorch_ms    lion_pytorch.Lion (null when not installed)
    lion_bf16_ms       Lion on bf16 weights and gradients (fp32 momentum), nearest rounding
    lion_bf16_sr_ms    the same with stochastic rounding
    copy_gb_s          dst.copy_(src) of 256 MiB on all threads, counting 12 bytes per fp32
                       element (read src, read dst on write-allocate, write dst)
    floor_ms           20 bytes per parameter (fp32 Lion: read p, g, m; write p, m) / copy_gb_s
    lion_over_floor    lion_ms / floor_ms
    floor_bf16_ms      14 bytes per parameter (bf16 p, g; fp32 m) / copy_gb_s
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from lionlab.optim import Lion

LION_BYTES_PER_PARAM = 20  # fp32: read p, g, m + write p, m
LION_BF16_BYTES_PER_PARAM = 14  # bf16 p, g (2 + 2 + 2 written) and fp32 m (4 + 4)
COPY_ELEMENTS = 64 * 2**20  # 256 MiB of fp32, far beyond the caches
COPY_BYTES_PER_ELEMENT = 12  # read src + write-allocate read of dst + write dst


def make_params(
    total: int, tensors: int, dtype: torch.dtype = torch.float32
) -> list[torch.nn.Parameter]:
    """`tensors` parameters of total // tensors elements each, with random gradients."""
    params = [
        torch.nn.Parameter(torch.randn(total // tensors, dtype=dtype)) for _ in range(tensors)
    ]
    for p in params:
        p.grad = torch.randn_like(p)
    return params


def candidates(
    params: list[torch.nn.Parameter], bf16_params: list[torch.nn.Parameter]
) -> dict[str, Callable[[], object]]:
    """name -> one step; 'copy' is the bandwidth probe."""
    src = torch.randn(COPY_ELEMENTS)
    dst = torch.empty_like(src)
    steps: dict[str, Callable[[], object]] = {
        "copy": lambda: dst.copy_(src),
        "lion": Lion(params, lr=1e-4, weight_decay=0.1).step,
        "lion_foreach": Lion(params, lr=1e-4, weight_decay=0.1, backend="foreach").step,
        "adamw_fused": torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, fused=True).step,
        "adamw_foreach": torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01, foreach=True).step,
        "lion_bf16": Lion(bf16_params, lr=1e-4, weight_decay=0.1).step,
        "lion_bf16_sr": Lion(bf16_params, lr=1e-4, stochastic_rounding=True, seed=0).step,
    }
    try:
        import lion_pytorch

        steps["lion_pytorch"] = lion_pytorch.Lion(params, lr=1e-4, weight_decay=0.1).step
    except ImportError:
        pass
    return steps


def time_round_robin(steps: dict[str, Callable[[], object]], reps: int, warmup: int) -> dict:
    """Median ms per call of each step, calling each once per round."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(warmup + reps):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if round_ >= warmup:
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(ms) for name, ms in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=int, default=32 * 2**20)
    parser.add_argument("--tensors", type=int, default=64)
    parser.add_argument("--reps", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()

    torch.manual_seed(0)
    params = make_params(args.params, args.tensors)
    steps = candidates(params, make_params(args.params, args.tensors, torch.bfloat16))
    ms = time_round_robin(steps, args.reps, args.warmup)
    copy_gb_s = COPY_BYTES_PER_ELEMENT * COPY_ELEMENTS / (ms.pop("copy") * 1e6)
    n = sum(p.numel() for p in params)
    floor_ms = LION_BYTES_PER_PARAM * n / (copy_gb_s * 1e6)
    result = {f"{name}_ms": round(value, 2) for name, value in ms.items()}
    result.setdefault("lion_pytorch_ms", None)
    result |= {
        "copy_gb_s": round(copy_gb_s, 1),
        "floor_ms": round(floor_ms, 2),
        "lion_over_floor": round(ms["lion"] / floor_ms, 3),
        "floor_bf16_ms": round(floor_ms * LION_BF16_BYTES_PER_PARAM / LION_BYTES_PER_PARAM, 2),
        "lion_path": Lion(params[:1]).path_for(params[0]),
        "params": n,
        "tensors": len(params),
        "threads": torch.get_num_threads(),
        "reps": args.reps,
        "torch": torch.__version__,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
