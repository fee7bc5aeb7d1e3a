"""`run_training`: build the task, model and optimizer from a JobSpec, resume, train, report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lionlab.jobs import JobSpec
from lionlab.optim import build_optimizer
from lionlab_worker.training import char_lm, image_classifier
from lionlab_worker.training.checkpoint import CheckpointStore
from lionlab_worker.training.device import effective_precision, resolve_device
from lionlab_worker.training.loop import Outcome, TrainingLoop
from lionlab_worker.training.sink import RunSink, TrainResult
from lionlab_worker.training.task import TrainingTask
from lionlab_worker.training.user_task import build_user_task


def build_task(
    spec: JobSpec, device: torch.device, allowed_task_modules: Sequence[str]
) -> TrainingTask:
    """The spec's built-in task, or its user task if the entry point is allowed."""
    if spec.task == "char_lm":
        return char_lm.build_task(spec, device)
    if spec.task == "image_classifier":
        return image_classifier.build_task(spec, device)
    return build_user_task(spec, device, allowed_task_modules)


def param_groups(
    model: nn.Module, weight_decay: float, lr_scale: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Weight decay on matrices, embeddings and conv kernels; none on biases and norm scales.
    A tensor named in `lr_scale` gets a group of its own whose lr the loop scales."""
    lr_scale = lr_scale or {}
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    missing = sorted(set(lr_scale) - {n for n, _ in named})
    if missing:
        raise ValueError(
            f"optimizer.lr_scale names {missing[:3]}, which the model has no parameter for; "
            f"its parameters include {[n for n, _ in named][:5]}"
        )
    plain = [(n, p) for n, p in named if n not in lr_scale]
    groups = [
        {"params": [p for _, p in plain if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for _, p in plain if p.dim() < 2], "weight_decay": 0.0},
    ]
    for n, p in named:
        if n in lr_scale:
            decay = weight_decay if p.dim() >= 2 else 0.0
            groups.append({"params": [p], "weight_decay": decay, "lr_scale": lr_scale[n]})
    return [g for g in groups if g["params"]]


def run_training(
    spec: JobSpec,
    sink: RunSink,
    checkpoint_dir: Path,
    device: str | None = None,
    *,
    allowed_task_modules: Sequence[str] | None = None,
) -> TrainResult:
    """Train `spec` to completion or until the sink says stop, resuming from a checkpoint.

    `device` overrides spec.device (e.g. "cuda:1" for the worker's GPU). User tasks are imported
    only from `allowed_task_modules` (default: the LIONLAB_ALLOWED_TASK_MODULES setting).
    Metrics are logged for steps after the checkpoint the run resumed from, if any.
    """
    dev = resolve_device(device or spec.device)
    precision = effective_precision(spec.precision, dev)
    if allowed_task_modules is None:
        from lionlab.settings import get_settings  # pydantic-settings: only when asked for

        allowed_task_modules = get_settings().allowed_task_modules
    torch.manual_seed(spec.seed)  # initialisation; batches draw from their own generators
    task = build_task(spec, dev, allowed_task_modules)
    model = task.model.to(dev)
    optimizer = build_optimizer(
        spec.optimizer.name,
        param_groups(model, spec.optimizer.weight_decay, spec.optimizer.lr_scale),
        **spec.optimizer.hparams(),
    )
    checkpoints = CheckpointStore(checkpoint_dir, spec)
    resumed = checkpoints.load(model, optimizer, dev)
    start = Outcome(0)
    if resumed is not None:
        start = Outcome(resumed.step, train_loss=resumed.train_loss, eval_loss=resumed.eval_loss)
    loop = TrainingLoop(spec, sink, task, model, optimizer, dev, precision, checkpoints)
    outcome = loop.run(start)
    return TrainResult(
        status="stopped" if outcome.stop_reason else "completed",
        stop_reason=outcome.stop_reason,
        steps_done=outcome.steps_done,
        final_train_loss=outcome.train_loss,
        final_eval_loss=outcome.eval_loss,
        resumed_from=None if resumed is None else resumed.step,
        device=str(dev),
        precision=precision,
    )
