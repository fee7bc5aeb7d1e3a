"""Detector parameters. Windows count logged points (not steps); levels are in log units.

docs/detectors.md explains every parameter and how its default was chosen.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DivergenceConfig:
    level_span: float = 16.0  # EWMA span of the log-loss / log-grad-norm level, in blocks
    noise_span: float = 32.0  # EWMA span of their point noise (SD), in blocks
    spike_z: float = 6.0  # a loss point is hot at this many noise SDs above its level...
    spike_min_ratio: float = 1.2  # ...and at least this multiple of it
    spike_hits: int = 4  # hot points among the last `spike_window` loss points that persist
    spike_window: int = 6
    confirm_z: float = 3.0  # a gradient-norm point this many noise SDs above its level...
    confirm_window: int = 8  # ...among the last this many confirms a spike
    blowup_ratio: float = 1.3  # smoothed loss this multiple of its running minimum...
    blowup_blocks: int = 8  # ...for this many consecutive blocks is a slow blow-up
    burn_in_blocks: int = 4  # blocks before the running minimum is tracked
    backstop_ratio: float = 3.0  # loss this multiple of the first block's median (backstop)
    calm_rows: int = 256  # consecutive calm rows that close an episode


@dataclass(frozen=True)
class DriftConfig:
    bucket_points: int = 64  # gradient-norm points per bucket
    settle_steps: int = 1000  # steps before the first reference (and after an lr step)
    level_span: float = 4.0  # EWMA span of the bucket level, in buckets
    spread_span: float = 16.0  # EWMA span of the bucket spread, in buckets
    level_ratio: float = 1.3  # effect-size floor: level this multiple of the reference
    spread_ratio: float = 2.0  # effect-size floor for the spread (the point-noise SD)
    cusum_h: float = 2.0  # CUSUM alarm threshold, in multiples of the log floor
    calm_buckets: int = 8  # buckets back within half the floor that close an episode
    lr_step_ratio: float = 1.5  # an lr change of this factor within a bucket re-takes the reference


@dataclass(frozen=True)
class LossStepConfig:
    half_window: int = 64  # blocks on each side of a candidate drop
    trend_degree: int = 1  # polynomial trend fitted jointly with the step
    z: float = 5.5  # drop size in standard errors that opens a candidate
    rearm_z: float = 2.0  # the candidate closes (and the detector re-arms) below this
    noise_span: float = 256.0  # EWMA span of the block-median noise, in blocks
    excuse_blocks: int = 32  # an lr change or a gap this many blocks before the drop excuses it
    lr_change_ratio: float = 1.5  # lr change between consecutive blocks that counts
    gap_ratio: float = 10.0  # a block spanning this many times the steps of the previous one
    # holds a gap in the logged loss (a run resumed from a checkpoint, or missing logs)


@dataclass(frozen=True)
class DetectorConfig:
    block_points: int = 16  # loss and grad-norm points per block (divergence, loss steps)
    divergence: DivergenceConfig = field(default_factory=DivergenceConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    loss_step: LossStepConfig = field(default_factory=LossStepConfig)

    def __post_init__(self) -> None:
        checks = {
            "block_points >= 4": self.block_points >= 4,
            "drift.bucket_points >= 4": self.drift.bucket_points >= 4,
            "loss_step.half_window >= 8": self.loss_step.half_window >= 8,
            "divergence.spike_hits <= spike_window": (
                1 <= self.divergence.spike_hits <= self.divergence.spike_window
            ),
            "divergence.calm_rows >= 1": self.divergence.calm_rows >= 1,
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid detector config: need {', '.join(failed)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        parts = {"divergence": DivergenceConfig, "drift": DriftConfig, "loss_step": LossStepConfig}
        return cls(**{k: parts[k](**v) if k in parts else v for k, v in d.items()})
