"""Divergence: non-finite values, persistent loss spikes, slow blow-ups, and a backstop.

Each episode raises one critical flag. Loss points are compared with the loss level frozen at
the end of the previous block (robust: block medians, MAD noise), so the result does not
depend on how the series is split into batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lionlab.detect.batch import Batch
from lionlab.detect.config import DivergenceConfig
from lionlab.detect.flags import CRITICAL, DIVERGENCE, Flag
from lionlab.detect.state import float_from_json, float_to_json
from lionlab.detect.streams import (
    Chunk,
    Episodes,
    HitWindow,
    LevelTracker,
    RecentHits,
    forward_fill,
)

NONFINITE, SPIKE, BLOWUP, BACKSTOP = 1, 2, 3, 4  # trigger reasons, in order of precedence


@dataclass(frozen=True)
class LossSignals:
    """Per loss point of a batch: the hot/trigger state and what a message needs."""

    chunk: Chunk
    excess: np.ndarray  # log-loss minus its level (log units)
    z: np.ndarray  # excess in noise SDs
    hot: np.ndarray  # bool
    reason: np.ndarray  # int8: 0 or the trigger reason
    spikes: HitWindow  # of spike-hot points
    backstops: HitWindow  # of backstop-hot points
    blowup_since: np.ndarray  # per point: step since which the loss is above min * ratio


class BlowupWatch:
    """Slow blow-up: the smoothed log-loss above its running minimum by a margin, block after
    block. The minimum is tracked after `burn_in` blocks (an early bump is not a blow-up)."""

    def __init__(self, ratio: float, blocks: int, burn_in: int) -> None:
        self.margin, self.blocks, self.burn_in = math.log(ratio), blocks, burn_in
        self.blocks_done = 0
        self.minimum = math.inf
        self.above = 0  # consecutive blocks above the minimum plus the margin
        self.since = -1  # last step of the first of them

    def follow(self, levels: list[float], end_steps: list[int]) -> tuple[list, list, list]:
        """Per block: above the margin, since which step, and whether it has lasted."""
        above, since, lasted = [], [], []
        for level, end in zip(levels, end_steps, strict=True):
            self.blocks_done += 1
            if self.blocks_done > self.burn_in:
                self.minimum = min(self.minimum, level)
            if level - self.minimum > self.margin:
                self.since = end if self.above == 0 else self.since
                self.above += 1
            else:
                self.above, self.since = 0, -1
            above.append(self.above > 0)
            since.append(self.since)
            lasted.append(self.above >= self.blocks)
        return above, since, lasted

    def state_dict(self) -> dict:
        return {
            "blocks_done": self.blocks_done,
            "minimum": float_to_json(self.minimum),
            "above": self.above,
            "since": self.since,
        }

    def load_state_dict(self, d: dict) -> None:
        self.blocks_done, self.minimum = int(d["blocks_done"]), float_from_json(d["minimum"])
        self.above, self.since = int(d["above"]), int(d["since"])


class DivergenceDetector:
    PARTS = (
        "loss_level",
        "grad_level",
        "spike_hits",
        "backstop_hits",
        "confirm_hits",
        "episodes",
        "blowup",
    )

    def __init__(self, cfg: DivergenceConfig) -> None:
        self.cfg = cfg
        self.loss_level = LevelTracker(cfg.level_span, cfg.noise_span)
        self.grad_level = LevelTracker(cfg.level_span, cfg.noise_span)
        self.spike_hits = RecentHits(cfg.spike_window)
        self.backstop_hits = RecentHits(cfg.spike_window)
        self.confirm_hits = RecentHits(cfg.confirm_window)
        self.episodes = Episodes(cfg.calm_rows)
        self.blowup = BlowupWatch(cfg.blowup_ratio, cfg.blowup_blocks, cfg.burn_in_blocks)
        self.confirmed = True  # no gradient norm logged yet: nothing to confirm with
        self.early_level = math.nan  # median log-loss of the first block

    def update(self, batch: Batch, loss: Chunk, grad: Chunk) -> tuple[list[Flag], np.ndarray]:
        """Flags raised by this batch, and a mask of its rows inside a divergence episode."""
        nonfinite = batch.nonfinite("loss") | batch.nonfinite("grad_norm")
        confirmed = self._grad_confirms(grad, batch.n)
        signals = self._loss_signals(loss, confirmed)
        reason = np.where(nonfinite, NONFINITE, 0).astype(np.int8)
        busy = nonfinite.copy()
        free = reason[loss.rows] == 0
        reason[loss.rows[free]] = signals.reason[free]
        busy[loss.rows] |= signals.hot | (signals.reason > 0)
        starts, inside = self.episodes.run(reason > 0, ~busy)
        point_of_row = np.full(batch.n, -1)
        point_of_row[loss.rows] = np.arange(len(loss.rows))
        flags = [self._flag(batch, r, int(reason[r]), signals, point_of_row[r]) for r in starts]
        return flags, inside

    def _grad_confirms(self, grad: Chunk, n: int) -> np.ndarray:
        """Per row: whether the gradient norm backs a loss spike (always, until it is logged)."""
        level, noise = self.grad_level.follow(grad.blocks)
        z = (grad.values - level[grad.state]) / noise[grad.state]
        window = self.confirm_hits.count(z > self.cfg.confirm_z, grad.steps)
        confirmed = forward_fill(window.counts > 0, grad.rows, n, self.confirmed)
        if len(grad.rows):
            self.confirmed = bool(confirmed[-1])
        return confirmed

    def _loss_signals(self, loss: Chunk, confirmed: np.ndarray) -> LossSignals:
        cfg = self.cfg
        level, noise, early, blowup_hot, since, blowup_lasted = self._follow_loss(loss)
        s = loss.state  # the state each point is compared with
        excess = loss.values - level[s]
        z = excess / noise[s]
        spike_hot = (z > cfg.spike_z) & (excess > math.log(cfg.spike_min_ratio))
        backstop_hot = loss.values > early[s] + math.log(cfg.backstop_ratio)
        spikes = self.spike_hits.count(spike_hot, loss.steps)
        backstops = self.backstop_hits.count(backstop_hot, loss.steps)
        reason = np.zeros(len(s), dtype=np.int8)
        reason[backstops.counts >= cfg.spike_hits] = BACKSTOP
        reason[blowup_lasted] = BLOWUP
        reason[(spikes.counts >= cfg.spike_hits) & confirmed[loss.rows]] = SPIKE
        hot = spike_hot | backstop_hot | blowup_hot[s]
        return LossSignals(loss, excess, z, hot, reason, spikes, backstops, since[s])

    def _follow_loss(self, loss: Chunk):
        """Advance the loss level block by block. Returns, per state (before each block and
        after the last): level, noise, early level, blow-up flag and onset step; and the
        points at which a blow-up has lasted `blowup_blocks` blocks."""
        blocks, early_before = loss.blocks, self.early_level
        hot_before, since_before = self.blowup.above > 0, self.blowup.since
        level, noise = self.loss_level.follow(blocks)
        if math.isnan(self.early_level) and blocks.count:
            self.early_level = float(blocks.medians[0])
        hot, since, lasted = self.blowup.follow(level[1:].tolist(), blocks.last_step.tolist())
        early = np.full(len(level), self.early_level)
        early[0] = early_before
        hot = np.array([hot_before, *hot], dtype=bool)
        since = np.array([since_before, *since], dtype=np.int64)
        return level, noise, early, hot, since, blocks.last_point[np.array(lasted, dtype=bool)]

    def _flag(self, batch: Batch, row: int, reason: int, sig: LossSignals, point: int) -> Flag:
        step = int(batch.steps[row])
        if reason == NONFINITE:
            start, message = step, self._nonfinite_message(batch, row)
        elif reason == SPIKE:
            start = sig.spikes.onset_step(point)
            message = (
                f"loss spike: {math.exp(sig.excess[point]):.3g}x its recent level "
                f"({sig.z[point]:.1f} noise SD) in {int(sig.spikes.counts[point])} of the "
                f"last {self.cfg.spike_window} points"
            )
            if self.grad_level.level.weight:
                message += ", the gradient norm up with it"
        elif reason == BLOWUP:
            start = int(sig.blowup_since[point])
            message = (
                f"slow blow-up: smoothed loss above {self.cfg.blowup_ratio:g}x its running "
                f"minimum since step {start} ({self.cfg.blowup_blocks} blocks or more)"
            )
        else:
            start = sig.backstops.onset_step(point)
            message = (
                f"loss {math.exp(sig.chunk.values[point] - self.early_level):.3g}x its "
                f"early-run level (backstop at {self.cfg.backstop_ratio:g}x)"
            )
        return Flag(DIVERGENCE, step, min(start, step), step, CRITICAL, message)

    @staticmethod
    def _nonfinite_message(batch: Batch, row: int) -> str:
        for name, label in (("loss", "loss"), ("grad_norm", "gradient norm")):
            if batch.nonfinite(name)[row]:
                return f"{label} is {getattr(batch, name)[row]} at step {int(batch.steps[row])}"
        return f"non-finite value at step {int(batch.steps[row])}"

    def state_dict(self) -> dict:
        parts = {name: getattr(self, name).state_dict() for name in self.PARTS}
        return {
            **parts,
            "confirmed": self.confirmed,
            "early_level": float_to_json(self.early_level),
        }

    def load_state_dict(self, d: dict) -> None:
        for name in self.PARTS:
            getattr(self, name).load_state_dict(d[name])
        self.confirmed, self.early_level = bool(d["confirmed"]), float_from_json(d["early_level"])
