"""Gradient-norm drift: the level or spread of log grad-norm moving up from a reference.

The reference is taken once `settle_steps` have passed and the logged lr has stopped rising
(after warmup). It then follows the smoothed level and spread down, so the normal decline of
gradient norms early in training is never a drift, and it is re-taken after an lr step. A
one-sided CUSUM on bucket medians (allowance: half the effect-size floor) times the alarm;
the smoothed level must also clear the floor. Same for the spread (the point-noise SD).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lionlab.detect.batch import Batch
from lionlab.detect.config import DriftConfig
from lionlab.detect.flags import GRAD_NORM_DRIFT, WARNING, Flag
from lionlab.detect.state import float_from_json, float_to_json
from lionlab.detect.streams import NOISE_FLOOR, Blocks, BlockStream, Ewma


@dataclass(frozen=True)
class Bucket:
    median: float  # log grad-norm
    spread: float  # log of the point-noise SD
    level: float  # EWMA of the medians up to this bucket
    smooth_spread: float  # EWMA of the spreads
    first_step: int
    last_step: int
    lr: float  # lr in force at the bucket's last point
    diverging: bool  # a divergence episode overlaps the bucket


@dataclass
class Cusum:
    """One-sided CUSUM of increments, with the step at which it last left zero."""

    total: float = 0.0
    since: int = -1

    def add(self, increment: float, step: int) -> None:
        if self.total == 0.0 and increment > 0:
            self.since = step
        self.total = max(0.0, self.total + increment)


class GradNormDrift:
    def __init__(self, cfg: DriftConfig) -> None:
        self.cfg = cfg
        self.stream = BlockStream(cfg.bucket_points)
        self.level_floor = math.log(cfg.level_ratio)
        self.spread_floor = math.log(cfg.spread_ratio)
        self.level, self.spread = Ewma(cfg.level_span), Ewma(cfg.spread_span)  # of bucket stats
        self.ref_level = self.ref_spread = math.nan  # NaN: no reference yet
        self.settle_from: int | None = None  # step from which settling is counted
        self.last_lr = math.nan
        self.level_cusum, self.spread_cusum = Cusum(), Cusum()
        self.open, self.calm = False, 0
        self.diverging_rows = 0  # run-wide rows inside divergence episodes...
        self.diverging_at_bucket = 0  # ...and their count at the last bucket's end

    def update(self, batch: Batch, lr: np.ndarray, diverging: np.ndarray) -> list[Flag]:
        """Flags raised by this batch; `lr` and `diverging` are per row (lr in force, inside a
        divergence episode)."""
        chunk = self.stream.push(batch.grad_norm, batch.steps)
        seen = self.diverging_rows + np.cumsum(diverging)
        self.diverging_rows += int(diverging.sum())
        flags = []
        for bucket in self._buckets(chunk.blocks, lr, seen):
            flag = self._follow(bucket)
            if flag is not None:
                flags.append(flag)
        return flags

    def _buckets(self, blocks: Blocks, lr: np.ndarray, seen: np.ndarray) -> Iterator[Bucket]:
        medians = blocks.medians.tolist()
        spreads = np.log(np.maximum(blocks.point_noise, NOISE_FLOOR)).tolist()
        levels, smooth_spreads = self.level.run(medians), self.spread.run(spreads)
        rows = blocks.last_row.tolist()
        for i, (median, spread) in enumerate(zip(medians, spreads, strict=True)):
            diverging_seen = int(seen[rows[i]])
            yield Bucket(
                median=median,
                spread=spread,
                level=levels[i],
                smooth_spread=smooth_spreads[i],
                first_step=int(blocks.first_step[i]),
                last_step=int(blocks.last_step[i]),
                lr=float(lr[rows[i]]),
                diverging=diverging_seen > self.diverging_at_bucket,
            )
            self.diverging_at_bucket = diverging_seen

    def _follow(self, b: Bucket) -> Flag | None:
        """Advance by one bucket; a flag when a drift episode opens (unless diverging)."""
        level, spread = b.level, b.smooth_spread
        lr_rising = self._follow_schedule(b)
        if self.settle_from is None:
            self.settle_from = b.first_step
        if math.isnan(self.ref_level):
            if b.last_step - self.settle_from >= self.cfg.settle_steps and not lr_rising:
                self.ref_level, self.ref_spread = level, spread
            return None
        self.ref_level = min(self.ref_level, level)
        self.ref_spread = min(self.ref_spread, spread)
        self.level_cusum.add(b.median - self.ref_level - self.level_floor / 2, b.first_step)
        self.spread_cusum.add(b.spread - self.ref_spread - self.spread_floor / 2, b.first_step)
        return self._episode(b, level - self.ref_level, spread - self.ref_spread)

    def _follow_schedule(self, b: Bucket) -> bool:
        """Re-take the reference after an lr step, unless a drift is already flagged (the step
        does not explain it); return whether the lr is still rising."""
        change = abs(math.log(b.lr / self.last_lr)) if self.last_lr > 0 and b.lr > 0 else 0.0
        rising = b.lr > self.last_lr
        if change > math.log(self.cfg.lr_step_ratio) and not self.open:
            self.ref_level = self.ref_spread = math.nan
            self.settle_from, self.calm = b.last_step, 0
            self.level_cusum, self.spread_cusum = Cusum(), Cusum()
        if not math.isnan(b.lr):
            self.last_lr = b.lr
        return rising

    def _episode(self, b: Bucket, level_up: float, spread_up: float) -> Flag | None:
        """Open (and flag) or close a drift episode, given the smoothed rises (log units)."""
        if self.open:
            calm = level_up < self.level_floor / 2 and spread_up < self.spread_floor / 2
            self.calm = self.calm + 1 if calm else 0
            self.open = self.calm < self.cfg.calm_buckets
            return None
        h = self.cfg.cusum_h
        level_alarm = (
            self.level_cusum.total >= h * self.level_floor and level_up >= self.level_floor
        )
        spread_alarm = (
            self.spread_cusum.total >= h * self.spread_floor and spread_up >= self.spread_floor
        )
        if not (level_alarm or spread_alarm):
            return None
        self.open, self.calm = True, 0
        since = self.level_cusum.since if level_alarm else self.spread_cusum.since
        self.level_cusum, self.spread_cusum = Cusum(), Cusum()
        if b.diverging:
            return None  # the divergence flag already explains it
        what = "level" if level_alarm else "spread"
        ratio = math.exp(level_up if level_alarm else spread_up)
        message = (
            f"gradient-norm {what} {ratio:.3g}x its post-warmup reference, rising since "
            f"step {since}"
        )
        return Flag(
            GRAD_NORM_DRIFT, b.last_step, min(since, b.last_step), b.last_step, WARNING, message
        )

    def state_dict(self) -> dict:
        return {
            "stream": self.stream.state_dict(),
            "level": self.level.state_dict(),
            "spread": self.spread.state_dict(),
            "ref_level": float_to_json(self.ref_level),
            "ref_spread": float_to_json(self.ref_spread),
            "last_lr": float_to_json(self.last_lr),
            "cusums": [
                [float_to_json(c.total), c.since] for c in (self.level_cusum, self.spread_cusum)
            ],
            "settle_from": self.settle_from,
            "open": self.open,
            "calm": self.calm,
            "diverging": [self.diverging_rows, self.diverging_at_bucket],
        }

    def load_state_dict(self, d: dict) -> None:
        self.stream.load_state_dict(d["stream"])
        self.level.load_state_dict(d["level"])
        self.spread.load_state_dict(d["spread"])
        self.ref_level, self.ref_spread = (
            float_from_json(d["ref_level"]),
            float_from_json(d["ref_spread"]),
        )
        self.last_lr = float_from_json(d["last_lr"])
        self.level_cusum, self.spread_cusum = (
            Cusum(float_from_json(t), int(s)) for t, s in d["cusums"]
        )
        self.settle_from, self.open, self.calm = d["settle_from"], bool(d["open"]), int(d["calm"])
        self.diverging_rows, self.diverging_at_bucket = (int(x) for x in d["diverging"])
