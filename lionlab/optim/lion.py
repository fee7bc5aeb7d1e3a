"""Lion (EvoLved Sign Momentum) as a torch.optim.Optimizer: a thin shell over the update rule.

The rule lives in functional.py; this class keeps the state (one fp32 momentum per weight and
a step count), reads each group's scheduled lr every step, and hands tensors to the fastest
path that supports them:

    "cpu"        fused C kernel, all threads        CPU fp32/bf16, contiguous   cpu_kernel.py
    "triton"     fused Triton kernel                CUDA fp32/bf16/fp16, contig.  triton_kernel.py
    "foreach"    torch._foreach ops                 fp32/fp64 anywhere          multi_tensor.py
    "reference"  plain per-tensor torch code        everything else             functional.py

All paths give the same bits for the same inputs.
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Literal

import torch
from torch.optim import Optimizer

from lionlab.optim import cpu_kernel
from lionlab.optim.functional import LionHyperparams, lion_update_, state_dtype
from lionlab.optim.multi_tensor import lion_update_foreach_
from lionlab.optim.rounding import rounding_key

Backend = Literal["auto", "cpu", "triton", "foreach", "reference"]
BACKENDS: tuple[str, ...] = ("auto", "cpu", "triton", "foreach", "reference")


@functools.cache
def _triton() -> ModuleType | None:
    """lionlab.optim.triton_kernel if Triton is installed (imported on first CUDA use only)."""
    if importlib.util.find_spec("triton") is None:
        return None
    try:
        from lionlab.optim import triton_kernel
    except Exception as error:  # a broken install must not stop training: fall back
        warnings.warn(
            f"lionlab.optim.Lion: Triton kernel unavailable ({error}); using torch._foreach",
            RuntimeWarning,
            stacklevel=3,
        )
        return None
    return triton_kernel


@dataclass
class _Batch:
    """Tensors of one group that share a path, dtype and device."""

    params: list[torch.Tensor] = field(default_factory=list)
    grads: list[torch.Tensor] = field(default_factory=list)
    exp_avgs: list[torch.Tensor] = field(default_factory=list)
    round_keys: list[int] = field(default_factory=list)  # empty: round bf16 to nearest

    def run(self, path: str, hp: LionHyperparams) -> None:
        keys = self.round_keys or None
        if path == "cpu":
            cpu_kernel.lion_update_cpu_(self.params, self.grads, self.exp_avgs, hp, keys)
        elif path == "triton":
            _triton().lion_update_triton_(self.params, self.grads, self.exp_avgs, hp, keys)
        elif path == "foreach":
            lion_update_foreach_(self.params, self.grads, self.exp_avgs, hp)
        else:
            for i, (p, g, m) in enumerate(zip(self.params, self.grads, self.exp_avgs, strict=True)):
                lion_update_(p, g, m, hp, keys[i] if keys else None)


class Lion(Optimizer):
    """Lion (Chen et al. 2023). Moving from AdamW: lr 3-10x smaller, weight_decay 3-10x larger.

    Args:
        lr: learning rate; every coordinate moves by exactly lr per step (plus decay).
        betas: (beta1, beta2): interpolation for the step, momentum decay. LMs: (0.95, 0.98).
        weight_decay: decoupled, p *= 1 - lr * weight_decay with the scheduled lr.
        stochastic_rounding: round updated bf16 weights stochastically (see rounding.py).
        seed: seed of that rounding noise; None draws one from torch's global generator
            (when stochastic_rounding is on). Saved with the param groups, so a resumed run
            continues with the same noise.
        backend: "auto" or one path to prefer (tensors it cannot take use the next one).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        *,
        stochastic_rounding: bool = False,
        seed: int | None = None,
        backend: Backend = "auto",
    ) -> None:
        _validate(lr, betas, weight_decay, backend)
        if seed is None:  # follows torch.manual_seed; drawn only when needed, so that
            # enabling Lion leaves the global random stream as AdamW would
            seed = int(torch.randint(0, 2**31 - 1, ()).item()) if stochastic_rounding else 0
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            weight_decay=weight_decay,
            stochastic_rounding=stochastic_rounding,
            seed=seed,
        )
        super().__init__(params, defaults)
        self.backend: Backend = backend

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("backend", "auto")

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One update of every parameter that has a gradient; returns closure()'s loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        first_index = 0  # position of the group's first param in the whole optimizer
        for group in self.param_groups:
            self._step_group(group, first_index)
            first_index += len(group["params"])
        return loss

    def _step_group(self, group: dict[str, Any], first_index: int) -> None:
        beta1, beta2 = group["betas"]
        hp = LionHyperparams(float(group["lr"]), beta1, beta2, group["weight_decay"])
        if any(p.grad is not None and p.grad.is_sparse for p in group["params"]):
            raise RuntimeError(
                "Lion does not support sparse gradients; use dense ones "
                "(e.g. nn.Embedding(..., sparse=False))"
            )
        batches: dict[tuple[str, torch.dtype, torch.device], _Batch] = {}
        for offset, p in enumerate(group["params"]):
            if p.grad is None:
                continue
            state = self._state_for(p)
            state["step"] += 1
            batch = batches.setdefault((self.path_for(p), p.dtype, p.device), _Batch())
            batch.params.append(p)
            batch.grads.append(p.grad)
            batch.exp_avgs.append(state["exp_avg"])
            if group["stochastic_rounding"] and p.dtype == torch.bfloat16:
                batch.round_keys.append(
                    rounding_key(group["seed"], first_index + offset, state["step"])
                )
        for (path, _, _), batch in batches.items():
            batch.run(path, hp)

    def _state_for(self, p: torch.Tensor) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            if p.is_complex():
                raise TypeError(
                    "Lion does not support complex parameters; "
                    "optimize torch.view_as_real(p) instead"
                )
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(
                p, dtype=state_dtype(p.dtype), memory_format=torch.preserve_format
            )
        return state

    def path_for(self, p: torch.Tensor) -> str:
        """The path that updates p at its next step: "cpu", "triton", "foreach" or "reference"."""
        grad = p.grad if p.grad is not None else p
        exp_avg = self.state[p].get("exp_avg")
        if exp_avg is None:  # before the first step: the state it will get
            exp_avg = torch.empty_like(p, dtype=state_dtype(p.dtype))
        cpu_ok = self.backend in ("auto", "cpu") and cpu_kernel.supports(p, grad, exp_avg)
        if cpu_ok and cpu_kernel.load_library() is not None:
            return "cpu"
        if self.backend in ("auto", "triton") and (p.is_cuda or self.backend == "triton"):
            kernel = _triton()
            if kernel is not None and kernel.supports(p, grad, exp_avg):
                return "triton"
        if self.backend != "reference" and exp_avg.dtype == p.dtype:
            return "foreach"
        return "reference"

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's loader casts float state to the weight's dtype; keep m in fp32 for bf16."""
        saved = state_dict["state"]
        ids = [i for group in state_dict["param_groups"] for i in group["params"]]
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for i, p in zip(ids, params, strict=True):
            if "exp_avg" in saved.get(i, {}):
                exp_avg = saved[i]["exp_avg"].to(device=p.device, dtype=state_dtype(p.dtype))
                self.state[p]["exp_avg"] = exp_avg


def check_hyperparams(lr: float, betas: tuple[float, float], weight_decay: float) -> None:
    """ValueError for a Lion lr, betas or weight decay out of range (DistributedLion too)."""
    if not lr >= 0.0:
        raise ValueError(f"lr must be >= 0, got {lr}")
    if len(betas) != 2 or not all(0.0 <= b <= 1.0 for b in betas):
        raise ValueError(f"betas must be two numbers in [0, 1], got {betas}")
    if not weight_decay >= 0.0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")


def _validate(lr: float, betas: tuple[float, float], weight_decay: float, backend: str) -> None:
    check_hyperparams(lr, betas, weight_decay)
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
