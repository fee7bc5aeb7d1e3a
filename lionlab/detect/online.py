"""OnlineDetectors: the run-level detectors fed batch by batch, with JSON-safe state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lionlab.detect.batch import NO_STEP, parse_batch
from lionlab.detect.collapse import ModeCollapse
from lionlab.detect.config import DetectorConfig
from lionlab.detect.divergence import DivergenceDetector
from lionlab.detect.drift import GradNormDrift
from lionlab.detect.flags import KINDS, Flag
from lionlab.detect.loss_step import LossStepDetector
from lionlab.detect.schedule import ScheduleTracker
from lionlab.detect.streams import BlockStream

STATE_VERSION = 2  # 2: adds the mode-collapse detector
READABLE_VERSIONS = (1, 2)  # a version-1 state resumes with a fresh mode-collapse detector
PARTS = ("schedule", "loss_blocks", "grad_blocks", "divergence", "drift", "loss_step")


class OnlineDetectors:
    """Divergence, gradient-norm drift, loss-step and mode-collapse detectors over one run's
    metrics.

    `update` takes rows in step order, in batches of any size, and returns the flags raised
    by that batch; the flags are the same however the series is split. Rows at or before a
    step already seen are ignored, so a retried batch is harmless.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        cfg = self.config
        self.last_step = NO_STEP
        self.schedule = ScheduleTracker()
        self.loss_blocks = BlockStream(cfg.block_points)
        self.grad_blocks = BlockStream(cfg.block_points)
        self.divergence = DivergenceDetector(cfg.divergence)
        self.drift = GradNormDrift(cfg.drift)
        self.loss_step = LossStepDetector(cfg.loss_step)
        self.collapse = ModeCollapse(cfg.collapse)

    def update(
        self, steps: Sequence[int] | np.ndarray, metrics: Mapping[str, object]
    ) -> list[Flag]:
        """Feed one batch: `metrics` maps loss / grad_norm / lr (and, at evals of a generative
        model, entropy / distinct) to arrays aligned with `steps`."""
        batch = parse_batch(steps, metrics, self.last_step)
        if batch.n == 0:
            return []
        self.last_step = int(batch.steps[-1])
        lr = self.schedule.update(batch)
        loss = self.loss_blocks.push(batch.loss, batch.steps)
        grad = self.grad_blocks.push(batch.grad_norm, batch.steps)
        flags, diverging = self.divergence.update(batch, loss, grad)
        flags += self.drift.update(batch, lr, diverging)
        flags += self.loss_step.update(loss, lr, diverging)
        flags += self.collapse.update(batch, loss)
        return sorted(flags, key=lambda f: (f.step, KINDS.index(f.kind)))

    def state_dict(self) -> dict:
        """Everything needed to resume; plain JSON types (non-finite floats as strings)."""
        return {
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "last_step": self.last_step,
            "schedule": self.schedule.state_dict(),
            "loss_blocks": self.loss_blocks.state_dict(),
            "grad_blocks": self.grad_blocks.state_dict(),
            "divergence": self.divergence.state_dict(),
            "drift": self.drift.state_dict(),
            "loss_step": self.loss_step.state_dict(),
            "collapse": self.collapse.state_dict(),
        }

    @classmethod
    def from_state(cls, state: Mapping) -> OnlineDetectors:
        if state.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"detector state version {state.get('version')!r} is not supported")
        detectors = cls(DetectorConfig.from_dict(state["config"]))
        detectors.last_step = int(state["last_step"])
        for name in PARTS:
            getattr(detectors, name).load_state_dict(state[name])
        if "collapse" in state:
            detectors.collapse.load_state_dict(state["collapse"])
        return detectors


def analyze(
    steps: Sequence[int] | np.ndarray,
    metrics: Mapping[str, object],
    config: DetectorConfig | None = None,
) -> list[Flag]:
    """All flags for a whole series: OnlineDetectors fed it in one batch."""
    return OnlineDetectors(config).update(steps, metrics)
