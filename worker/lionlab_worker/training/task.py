"""The task contract: what the training loop needs from a built-in or user task."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

Batch = Any  # a tensor, or a tuple/list/dict of tensors (moved to the device by the loop)


@dataclass
class TrainingTask:
    """A model, its data and its loss.

    - `model`: the module to train; the loop moves it to the run's device.
    - `train_batches(start)`: an endless iterator of training batches beginning at batch number
      `start` (how many were consumed before; a resumed run passes its checkpoint step). Batches
      must be a deterministic function of the job's seed and their position.
    - `loss(model, batch)`: scalar loss tensor; called under autocast, batch already on device.
    - `eval_batches()`: a finite iterable of evaluation batches, the same ones on every call;
      None: the task has no evaluation and `eval_loss` is not logged.
    - `diversity(model, eval_number)`: for generative tasks, metrics of output diversity
      logged with each evaluation (the char LM: `eval_entropy`, `eval_distinct_2`), which the
      mode_collapse detector reads; None: not a generative task.

    A user task is a function `build(spec: JobSpec, device: torch.device)` that returns a
    `TrainingTask` (or any object with these four attributes).
    """

    model: nn.Module
    train_batches: Callable[[int], Iterator[Batch]]
    loss: Callable[[nn.Module, Batch], torch.Tensor]
    eval_batches: Callable[[], Iterable[Batch]] | None = None
    diversity: Callable[[nn.Module, int], dict[str, float]] | None = None


def batch_generator(seed: int, position: int) -> torch.Generator:
    """A CPU generator that depends only on (seed, batch position): batches are resumable."""
    return torch.Generator().manual_seed((seed << 32) | position)


def move_to_device(batch: Batch, device: torch.device) -> Batch:
    """The batch with every tensor in it on `device`."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # a namedtuple
        return type(batch)(*(move_to_device(b, device) for b in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: move_to_device(v, device) for k, v in batch.items()}
    return batch
