"""The Lion update rule as plain tensor code: the reference path every fast path must match.

Chen et al., "Symbolic Discovery of Optimization Algorithms" (2023), Algorithm 2:

    c     = beta1 * m + (1 - beta1) * g                   # interpolation, used only for the step
    theta = theta * (1 - lr_t * wd) - lr_t * sign(c)      # decoupled decay, scaled by lr_t
    m     = beta2 * m + (1 - beta2) * g                   # the only state

lr_t is the scheduled learning rate of this step, so weight decay follows the schedule
(p *= 1 - lr * wd, as torch.optim.AdamW and optax do).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lionlab.optim.rounding import stochastic_round_to_bf16


@dataclass(frozen=True)
class LionHyperparams:
    """The scalars of one step of one param group."""

    lr: float
    beta1: float
    beta2: float
    weight_decay: float

    @property
    def decay(self) -> float:
        """Multiplier of the decoupled weight decay, 1 - lr * wd."""
        return 1.0 - self.lr * self.weight_decay


def state_dtype(param_dtype: torch.dtype) -> torch.dtype:
    """dtype of the momentum m: fp32 for fp32/bf16/fp16 weights, fp64 for fp64 weights."""
    return torch.promote_types(param_dtype, torch.float32)


def sign_or_nan(c: torch.Tensor) -> torch.Tensor:
    """sign(c) with sign(0) = 0 and sign(NaN) = NaN (jnp.sign, as in the paper's code).

    torch.sign maps NaN to 0 on CPU, which would freeze the weights behind a NaN momentum
    instead of letting the divergence show in the next loss.
    """
    return torch.where(torch.isnan(c), c, torch.sign(c))


@torch.no_grad()
def lion_update_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    hp: LionHyperparams,
    round_key: int | None = None,
) -> None:
    """One Lion step for one tensor, in place.

    exp_avg (m) has param's shape and dtype state_dtype(param.dtype). bf16/fp16 weights are
    updated in fp32 and rounded back: to nearest-even, or stochastically with the noise of
    round_key (bf16 only; see rounding.py).
    """
    g = grad.to(exp_avg.dtype)
    theta = param if param.dtype == exp_avg.dtype else param.to(exp_avg.dtype)

    c = exp_avg * hp.beta1 + g * (1 - hp.beta1)
    if hp.weight_decay != 0:
        theta.mul_(hp.decay)
    theta.add_(sign_or_nan(c), alpha=-hp.lr)  # sign(c) is exact, so this rounds once
    exp_avg.mul_(hp.beta2).add_(g * (1 - hp.beta2))

    if theta is not param:
        if round_key is not None and param.dtype == torch.bfloat16:
            theta = stochastic_round_to_bf16(theta, round_key)
        param.copy_(theta)
