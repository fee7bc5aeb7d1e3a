"""Learning-rate schedule as a pure function of the step (so a checkpoint's step restores it)."""

from __future__ import annotations

import math

from lionlab.jobs import ScheduleSpec


def lr_at(step: int, peak_lr: float, total_steps: int, schedule: ScheduleSpec) -> float:
    """Learning rate of update `step` (1-based): linear warmup, then decay to the min ratio."""
    if step <= schedule.warmup_steps:
        return peak_lr * step / schedule.warmup_steps
    if schedule.decay == "constant":
        return peak_lr
    min_lr = peak_lr * schedule.min_lr_ratio
    # progress runs from 0 just after warmup to 1 at the last step
    decay_steps = max(1, total_steps - schedule.warmup_steps)
    progress = min(1.0, (step - schedule.warmup_steps) / decay_steps)
    if schedule.decay == "linear":
        return min_lr + (peak_lr - min_lr) * (1.0 - progress)
    return min_lr + (peak_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
