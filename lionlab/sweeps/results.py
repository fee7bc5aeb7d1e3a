"""What the analysis reads about a finished (or running) trial: plain values and arrays only."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np


class TrialStatus(str, Enum):
    """How a trial ended (or that it has not yet)."""

    SUCCEEDED = "succeeded"  # ran all its steps
    DIVERGED = "diverged"  # stopped at its first non-finite loss
    STOPPED_EARLY = "stopped_early"  # stopped by ASHA at a rung
    FAILED = "failed"  # crashed: says nothing about the configuration
    CANCELLED = "cancelled"
    RUNNING = "running"
    QUEUED = "queued"

    @property
    def finished(self) -> bool:
        return self not in (TrialStatus.RUNNING, TrialStatus.QUEUED)


@dataclass(frozen=True)
class Curve:
    """A trial's eval-loss series: steps (1-based, increasing), values, optional wall time.

    `wall_time` is in seconds on any clock; time is measured from `start_time` (the trial's
    start on that clock) when given, else from the first point of the curve.
    """

    steps: np.ndarray
    values: np.ndarray
    wall_time: np.ndarray | None = None
    start_time: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", np.asarray(self.steps, dtype=np.int64))
        object.__setattr__(self, "values", np.asarray(self.values, dtype=np.float64))
        if self.wall_time is not None:
            object.__setattr__(self, "wall_time", np.asarray(self.wall_time, dtype=np.float64))
        n = len(self.steps)
        if len(self.values) != n or (self.wall_time is not None and len(self.wall_time) != n):
            raise ValueError("steps, values and wall_time must have the same length")
        if n > 1 and np.any(np.diff(self.steps) <= 0):
            raise ValueError("steps must be strictly increasing")

    def __len__(self) -> int:
        return len(self.steps)

    def elapsed(self, i: int) -> float | None:
        """Seconds from the trial's start (or the first point) to point i; None without times."""
        if self.wall_time is None:
            return None
        origin = self.start_time if self.start_time is not None else self.wall_time[0]
        return float(self.wall_time[i] - origin)


@dataclass(frozen=True)
class TrialResult:
    """One trial as the analysis sees it; final and best loss default to the curve's."""

    trial: int
    optimizer: str
    group: str
    seed: int
    status: TrialStatus
    curve: Curve
    planned_steps: int
    params: Mapping[str, Any] = field(default_factory=dict)
    lr: float | None = None  # defaults to params["optimizer.lr"]
    final_loss: float | None = None  # defaults to the last eval loss of a succeeded trial
    best_loss: float | None = None  # defaults to the lowest finite eval loss of the curve
    last_step: int | None = None  # last step trained (any metric); defaults to the curve's

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TrialStatus(self.status))

    @property
    def final(self) -> float | None:
        """Final eval loss; only a trial that ran all its steps has one."""
        if self.status != TrialStatus.SUCCEEDED:
            return None
        if self.final_loss is not None:
            return self.final_loss
        return float(self.curve.values[-1]) if len(self.curve) else None

    @property
    def best(self) -> float | None:
        """Lowest finite eval loss reached, whatever the status; None when there is none."""
        if self.best_loss is not None:
            return self.best_loss
        finite = self.curve.values[np.isfinite(self.curve.values)]
        return float(finite.min()) if finite.size else None

    @property
    def learning_rate(self) -> float | None:
        if self.lr is not None:
            return self.lr
        value = self.params.get("optimizer.lr")
        return None if value is None else float(value)

    @property
    def steps_run(self) -> int:
        """Steps this trial ran: all of them when it succeeded, else its last logged step."""
        if self.status == TrialStatus.SUCCEEDED:
            return self.planned_steps
        if self.last_step is not None:
            return self.last_step
        return int(self.curve.steps[-1]) if len(self.curve) else 0


@dataclass(frozen=True)
class Hit:
    """When a trial's eval loss first reached the target (if it did)."""

    reached: bool
    step: int | None  # first eval step with loss <= target
    seconds: float | None  # elapsed wall time at that point


def time_to_target(curve: Curve, target: float) -> Hit:
    """First eval point with loss <= target (raw eval loss, no smoothing); NaN/inf never count."""
    values = curve.values
    below = np.flatnonzero(np.isfinite(values) & (values <= target))
    if below.size == 0 or not math.isfinite(target):
        return Hit(False, None, None)
    i = int(below[0])
    return Hit(True, int(curve.steps[i]), curve.elapsed(i))
