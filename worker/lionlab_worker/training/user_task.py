"""User tasks: `module:function` entry points, imported only from allowed module prefixes.

A token holder may submit any entry point; the worker imports nothing unless the module is
inside one of `LIONLAB_ALLOWED_TASK_MODULES`, so a job cannot run arbitrary code on a GPU node.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import torch

from lionlab.jobs import JobSpec, module_allowed
from lionlab_worker.training.task import TrainingTask

_REQUIRED = ("model", "train_batches", "loss", "eval_batches")


class TaskNotAllowedError(PermissionError):
    """The entry point's module is outside the worker's allowed task modules."""


def check_entrypoint(entrypoint: str, allowed_prefixes: Sequence[str]) -> tuple[str, str]:
    """(module, function) of an allowed entry point; raises TaskNotAllowedError otherwise."""
    module, _, function = entrypoint.partition(":")
    if not module_allowed(module, allowed_prefixes):
        allowed = ", ".join(repr(p) for p in allowed_prefixes) or "none configured"
        raise TaskNotAllowedError(
            f"user task module {module!r} is not under this worker's allowed task modules "
            f"({allowed}); add its package to LIONLAB_ALLOWED_TASK_MODULES on the worker"
        )
    return module, function


def build_user_task(
    spec: JobSpec, device: torch.device, allowed_prefixes: Sequence[str]
) -> TrainingTask:
    """Check the allowlist, then import the entry point and call it with (spec, device)."""
    if spec.entrypoint is None:
        raise ValueError("task 'user' needs an entrypoint ('module:function')")
    module_name, function_name = check_entrypoint(spec.entrypoint, allowed_prefixes)
    module = importlib.import_module(module_name)
    build = getattr(module, function_name, None)
    if not callable(build):
        raise TypeError(f"{spec.entrypoint}: {module_name} has no function {function_name!r}")
    task = build(spec, device)
    missing = [name for name in _REQUIRED if not hasattr(task, name)]
    if missing or not isinstance(task.model, torch.nn.Module):
        raise TypeError(
            f"{spec.entrypoint} must return a TrainingTask (model: nn.Module, "
            f"train_batches, loss, eval_batches); missing or wrong: {missing or ['model']}"
        )
    return task
