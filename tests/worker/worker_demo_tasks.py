"""User tasks for the worker tests: imported by run_training through the allowlist."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import count

import torch
from torch import nn
from torch.nn import functional as F

from lionlab.jobs import JobSpec
from lionlab_worker.training import TrainingTask
from lionlab_worker.training.task import batch_generator

N_FEATURES = 8
NAN_FROM_POSITION = 3  # build_nan_task's loss is NaN from this batch position on


def _targets(x: torch.Tensor) -> torch.Tensor:
    """A fixed linear map plus a little noise-free curvature: (B, N_FEATURES) -> (B, 1)."""
    w = torch.linspace(-1.0, 1.0, N_FEATURES)
    return (x @ w).unsqueeze(1) + 0.1 * x[:, :1] ** 2


def _batches(spec: JobSpec, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    for position in count(start):
        x = torch.randn(spec.batch_size, N_FEATURES, generator=batch_generator(spec.seed, position))
        yield x, _targets(x), position


def _mse(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, int]) -> torch.Tensor:
    x, y, _ = batch
    return F.mse_loss(model(x), y)


def _eval_batches() -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    x = torch.randn(64, N_FEATURES, generator=torch.Generator().manual_seed(7))
    return [(x, _targets(x), -1)]


def build_regression_task(spec: JobSpec, device: torch.device) -> TrainingTask:
    """Linear regression onto a fixed linear map."""
    model = nn.Sequential(nn.Linear(N_FEATURES, 16), nn.Tanh(), nn.Linear(16, 1))
    return TrainingTask(model, lambda start: _batches(spec, start), _mse, _eval_batches)


def _nan_after(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor, int]) -> torch.Tensor:
    loss = _mse(model, batch)
    return loss * float("nan") if batch[2] >= NAN_FROM_POSITION else loss


def build_nan_task(spec: JobSpec, device: torch.device) -> TrainingTask:
    """The regression task whose loss turns NaN at a fixed batch position."""
    model = nn.Linear(N_FEATURES, 1)
    return TrainingTask(model, lambda start: _batches(spec, start), _nan_after, None)


not_a_function = 42
