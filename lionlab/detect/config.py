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
class CollapseConfig:
    settle_steps: int = 2000  # steps before evals count towards the reference
    settle_evals: int = 2  # and evals skipped before it
    ref_evals: int = 4  # evals whose median is the reference (per metric)
    entropy_ratio: float = 0.6  # entropy below this multiple of its reference (beyond the
    # loss's own relative fall) is a fall of diversity...
    distinct_ratio: float = 0.7  # ...and distinct-n below this multiple of its reference
    collapse_evals: int = 3  # consecutive evals with a fall that make a collapse
    loss_rise_ratio: float = 1.1  # not a collapse when the loss rose by this factor meanwhile
    calm_evals: int = 3  # evals without a fall that close an episode


@dataclass(frozen=True)
class DetectorConfig:
    block_points: int = 16  # loss and grad-norm points per block (divergence, loss steps)
    divergence: DivergenceConfig = field(default_factory=DivergenceConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    loss_step: LossStepConfig = field(default_factory=LossStepConfig)
    collapse: CollapseConfig = field(default_factory=CollapseConfig)

    def __post_init__(self) -> None:
        checks = {
            "block_points >= 4": self.block_points >= 4,
            "drift.bucket_points >= 4": self.drift.bucket_points >= 4,
            "loss_step.half_window >= 8": self.loss_step.half_window >= 8,
            "divergence.spike_hits <= spike_window": (
                1 <= self.divergence.spike_hits <= self.divergence.spike_window
            ),
            "divergence.calm_rows >= 1": self.divergence.calm_rows >= 1,
            "collapse.ref_evals >= 1": self.collapse.ref_evals >= 1,
            "collapse.collapse_evals >= 1": self.collapse.collapse_evals >= 1,
            "0 < collapse.entropy_ratio, distinct_ratio < 1": (
                0 < self.collapse.entropy_ratio < 1 and 0 < self.collapse.distinct_ratio < 1
            ),
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid detector config: need {', '.join(failed)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DetectorConfig:
        """From `to_dict()`; a config saved before a part existed gets that part's defaults."""
        parts = {
            "divergence": DivergenceConfig,
            "drift": DriftConfig,
            "loss_step": LossStepConfig,
            "collapse": CollapseConfig,
        }
        return cls(**{k: parts[k](**v) if k in parts else v for k, v in d.items()})


@dataclass(frozen=True)
class LayerGradConfig:
    min_layers: int = 3  # layers reported at a row needed for a cross-layer median
    settle_steps: int = 1000  # steps (and settle_blocks blocks) before references are taken,
    settle_blocks: int = 4  # and only once a logged lr has stopped rising (warmup over)
    ref_blocks: int = 16  # blocks whose median is a layer's first reference...
    ref_span: float = 32.0  # ...which then follows the smoothed level at this span (in blocks)
    # while the level is within half the floor of it (slow healthy change; a departure freezes it)
    level_ratio: float = 2.0  # effect-size floor: a departure of this factor from the reference
    noise_k: float = 3.0  # the floor is at least this many SDs of the layer's block medians
    noise_span: float = 64.0  # EWMA span (blocks) of that SD, from |block median - reference|
    cusum_h: float = 3.0  # CUSUM alarm threshold, in multiples of the layer's floor
    persist_blocks: int = 4  # and this many consecutive blocks beyond the floor, one side
    level_span: float = 3.0  # EWMA span of a layer's block medians, in blocks
    frozen_blocks: int = 2  # consecutive blocks of exactly-zero gradient that flag a frozen layer
    calm_blocks: int = 8  # blocks back within half the floor that close a layer's episode


@dataclass(frozen=True)
class UpdateRatioConfig:
    band_low: float = 1e-4  # healthy update-to-weight ratio per step: lower end...
    band_high: float = 1e-2  # ...and upper end (the advice aims at their geometric centre)
    window_rows: int = 24  # an excursion lasts at least this many logged rows...
    window_steps: int = 500  # ...and this many steps
    calm_blocks: int = 4  # blocks back inside the band that close a layer's episode
    # step size: a layer whose update RMS per weight is this multiple of the other layers'
    # median (the lr set for it is that much higher: with Lion every weight moves by its lr)...
    step_ratio: float = 10.0
    step_window_rows: int = 24  # ...for at least this many logged rows...
    step_window_steps: int = 200  # ...and this many steps


@dataclass(frozen=True)
class LayerConfig:
    block_rows: int = 8  # logged rows per block (per-layer medians are taken over a block)
    max_names: int = 5  # layer names listed in one message ("...and 7 more")
    grad: LayerGradConfig = field(default_factory=LayerGradConfig)
    ratio: UpdateRatioConfig = field(default_factory=UpdateRatioConfig)

    def __post_init__(self) -> None:
        checks = {
            "block_rows >= 1": self.block_rows >= 1,
            "max_names >= 1": self.max_names >= 1,
            "grad.min_layers >= 3": self.grad.min_layers >= 3,
            "grad.ref_blocks >= 1": self.grad.ref_blocks >= 1,
            "grad.level_ratio > 1": self.grad.level_ratio > 1,
            "0 < ratio.band_low < ratio.band_high": 0 < self.ratio.band_low < self.ratio.band_high,
            "ratio.window_rows >= 1": self.ratio.window_rows >= 1,
            "ratio.step_ratio > 1": self.ratio.step_ratio > 1,
            "ratio.step_window_rows >= 1": self.ratio.step_window_rows >= 1,
        }
        failed = [rule for rule, ok in checks.items() if not ok]
        if failed:
            raise ValueError(f"invalid layer detector config: need {', '.join(failed)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayerConfig:
        parts = {"grad": LayerGradConfig, "ratio": UpdateRatioConfig}
        return cls(**{k: parts[k](**v) if k in parts else v for k, v in d.items()})
