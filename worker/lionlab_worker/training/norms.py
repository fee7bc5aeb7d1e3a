"""Gradient norm, parameter norm and update RMS with foreach kernels (one launch per dtype)."""

from __future__ import annotations

import torch
from torch import nn


def global_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """L2 norm over all the tensors together, as a 0-d fp32 tensor on their device."""
    norms = torch._foreach_norm(tensors)  # one norm per tensor
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))


def grad_norm_and_clip(params: list[nn.Parameter], max_norm: float | None) -> torch.Tensor:
    """Global gradient norm before clipping; scales the gradients down to max_norm if given."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=params[0].device)
    norm = global_norm(grads)
    if max_norm is not None:
        # same rule as torch.nn.utils.clip_grad_norm_, without a second norm pass
        scale = torch.clamp(max_norm / (norm + 1e-6), max=1.0)
        torch._foreach_mul_(grads, scale.to(grads[0].dtype))
    return norm


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
        torch._foreach_sub_(self.before, self.params)  # now holds old - new
        update_rms = global_norm(self.before) / self.numel**0.5
        return update_rms, global_norm(self.params)
