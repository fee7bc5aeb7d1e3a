"""Gradient norm, parameter norm and update RMS with foreach kernels (one launch per dtype)."""

from __future__ import annotations

import torch
from torch import nn


def global_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm over all the tensors together, as a 0-d fp32 tensor on their device."""
    norms = torch._foreach_norm(tensors)  # one norm per tensor
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))


def _combined(norms: list[torch.Tensor]) -> torch.Tensor:
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))


def grad_norm_and_clip(params: list[nn.Parameter], max_norm: float | None) -> torch.Tensor:
    """Global gradient norm before clipping; scales the gradients down to max_norm if given."""
    return grad_norms_and_clip(params, max_norm)[0]


def grad_norms_and_clip(
    params: list[nn.Parameter], max_norm: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(global gradient norm, each parameter's gradient norm (NaN: no gradient)), both
    before clipping; scales the gradients down to max_norm if given."""
    device = params[0].device
    have = [i for i, p in enumerate(params) if p.grad is not None]
    each = torch.full((len(params),), float("nan"), device=device)
    if not have:
        return torch.zeros((), device=device), each
    grads = [params[i].grad for i in have]
    norms = torch._foreach_norm(grads)  # one norm per tensor
    each[have] = torch.stack([n.float() for n in norms])
    norm = _combined(norms)
    if max_norm is not None:
        # same rule as torch.nn.utils.clip_grad_norm_, without a second norm pass
        scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        torch._foreach_mul_(grads, scale.to(grads[0].dtype))
    return norm, each


class UpdateTracker:
    """Measures the parameter change of one optimizer step (a copy, a subtract and a norm)."""

    def __init__(self, params: list[nn.Parameter]) -> None:
        self.params = params
        self.numel = sum(p.numel() for p in params)
        self.before = [p.detach().clone() for p in params]

    @torch.no_grad()
    def snapshot(self) -> None:
        """Remember the parameters before the step."""
        torch._foreach_copy_(self.before, self.params)

    @torch.no_grad()
    def update_rms_and_param_norm(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(RMS of new - old over all parameters, global norm of the new parameters)."""
        update_rms, param_norm, _, _ = self.update_and_param_norms()
        return update_rms, param_norm

    @torch.no_grad()
    def update_and_param_norms(self) -> tuple[torch.Tensor, ...]:
        """(update RMS, global parameter norm, each parameter's update norm, each one's
        norm): the per-parameter norms are the global ones' parts, so they cost nothing."""
        torch._foreach_sub_(self.before, self.params)  # now holds old - new
        updates, params = torch._foreach_norm(self.before), torch._foreach_norm(self.params)
        update_rms = _combined(updates) / self.numel**0.5
        each_update = torch.stack([n.float() for n in updates])
        each_param = torch.stack([n.float() for n in params])
        return update_rms, _combined(params), each_update, each_param
