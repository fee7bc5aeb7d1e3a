"""Stream primitives the detectors share: blocks of points, levels, sliding hit counts, episodes.

Batch-split invariance rests on one rule: every statistic is a function of whole blocks
(consecutive finite points of one metric, cut the same way however the series arrives) or of
single points compared with the state frozen at the end of the previous block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from lionlab.detect.state import float_from_json, float_to_json, floats_from_json

MAD_TO_SD = 1.4826  # median absolute deviation -> SD for Gaussian noise
NOISE_FLOOR = 1e-6  # log units; a noiseless series still gets finite z-scores
LOG_FLOOR = 1e-30  # values at or below zero are clamped here before the log


def row_median(a: np.ndarray) -> np.ndarray:
    """Median of each row of a 2-D array (np.median(a, axis=1) without its overhead)."""
    mid = a.shape[1] // 2
    if a.shape[1] % 2:
        return np.partition(a, mid, axis=1)[:, mid]
    p = np.partition(a, [mid - 1, mid], axis=1)
    return 0.5 * (p[:, mid - 1] + p[:, mid])


@dataclass(frozen=True)
class Blocks:
    """Blocks completed by one batch (k of them), oldest first."""

    values: np.ndarray  # (k, size) log values
    first_step: np.ndarray  # (k,)
    last_step: np.ndarray  # (k,)
    last_row: np.ndarray  # (k,) batch row of each block's last point
    last_point: np.ndarray  # (k,) index of each block's last point among the batch's points
    first_index: int  # run-wide index of the first of them

    @property
    def count(self) -> int:
        return len(self.last_row)

    @cached_property
    def medians(self) -> np.ndarray:
        return row_median(self.values)

    @cached_property
    def point_noise(self) -> np.ndarray:
        """Robust SD of single points about their local level, from first differences."""
        d = np.diff(self.values, axis=1)
        dev = np.abs(d - row_median(d)[:, None])
        return MAD_TO_SD / math.sqrt(2) * row_median(dev)


@dataclass(frozen=True)
class Chunk:
    """The finite points of one metric in a batch, and the blocks they complete."""

    rows: np.ndarray  # (m,) batch rows
    values: np.ndarray  # (m,) log values
    steps: np.ndarray  # (m,)
    state: np.ndarray  # (m,) blocks completed (within this batch) before each point
    blocks: Blocks


class BlockStream:
    """Cuts a metric's finite points into blocks of `size`, carrying the partial block."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.points_done = 0
        self._values = np.zeros(0)  # the partial block
        self._steps = np.zeros(0, dtype=np.int64)

    def push(self, raw: np.ndarray | None, steps: np.ndarray) -> Chunk:
        """Take the finite values of one metric column (None: absent from the batch)."""
        rows = np.flatnonzero(np.isfinite(raw)) if raw is not None else np.zeros(0, np.int64)
        values = np.log(np.maximum(raw[rows], LOG_FLOOR)) if len(rows) else np.zeros(0)
        steps = steps[rows]
        size, carried, first_block = self.size, len(self._values), self.points_done // self.size
        index = self.points_done + np.arange(len(rows))
        all_values = np.concatenate([self._values, values])
        all_steps = np.concatenate([self._steps, steps])
        used = len(all_values) // size * size
        last_point = np.arange(size - 1, used, size) - carried
        blocks = Blocks(
            values=all_values[:used].reshape(-1, size),
            first_step=all_steps[:used:size],
            last_step=all_steps[size - 1 : used : size],
            last_row=rows[last_point],
            last_point=last_point,
            first_index=first_block,
        )
        self._values, self._steps = all_values[used:], all_steps[used:]
        self.points_done += len(rows)
        return Chunk(rows, values, steps, index // size - first_block, blocks)

    def state_dict(self) -> dict:
        return {
            "points_done": self.points_done,
            "values": self._values.tolist(),
            "steps": self._steps.tolist(),
        }

    def load_state_dict(self, d: dict) -> None:
        self.points_done = int(d["points_done"])
        self._values = np.array(floats_from_json(d["values"]), dtype=np.float64)
        self._steps = np.array(d["steps"], dtype=np.int64)


class Ewma:
    """Debiased exponentially weighted mean: early values are not pulled towards a start value."""

    def __init__(self, span: float) -> None:
        self.beta = 2 / (span + 1)
        self.total = self.weight = 0.0

    @property
    def value(self) -> float:
        return self.total / self.weight if self.weight else math.nan

    def run(self, xs: list[float], clip: float | None = None) -> list[float]:
        """Add each of xs in turn; the mean after each. With `clip`, a value above clip times
        the current mean is cut to it (winsorised: one outlier barely moves the mean)."""
        beta, total, weight, means = self.beta, self.total, self.weight, []
        for x in xs:
            if clip is not None and weight:
                x = min(x, clip * total / weight)
            total += beta * (x - total)
            weight += beta * (1 - weight)
            means.append(total / weight)
        self.total, self.weight = total, weight
        return means

    def state_dict(self) -> list:
        return [float_to_json(self.total), float_to_json(self.weight)]

    def load_state_dict(self, d: list) -> None:
        self.total, self.weight = float_from_json(d[0]), float_from_json(d[1])


class LevelTracker:
    """Exponentially weighted level and point noise of a log-metric, updated once per block."""

    def __init__(self, level_span: float, noise_span: float) -> None:
        self.level, self.noise = Ewma(level_span), Ewma(noise_span)

    def follow(self, blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
        """Update with each block; return (level, noise) before each block and after the last."""
        levels = [self.level.value, *self.level.run(blocks.medians.tolist())]
        noises = [self.noise.value, *self.noise.run(blocks.point_noise.tolist())]
        return np.array(levels), np.maximum(np.array(noises), NOISE_FLOOR)

    def state_dict(self) -> dict:
        return {"level": self.level.state_dict(), "noise": self.noise.state_dict()}

    def load_state_dict(self, d: dict) -> None:
        self.level.load_state_dict(d["level"])
        self.noise.load_state_dict(d["noise"])


@dataclass(frozen=True)
class HitWindow:
    """Hit counts over the last `window` points ending at each point of a batch."""

    counts: np.ndarray  # (m,)
    hits: np.ndarray  # (window - 1 + m,) carried tail then this batch
    steps: np.ndarray
    window: int

    def onset_step(self, i: int) -> int:
        """Step of the first hit in the window that ends at point i."""
        span = self.hits[i : i + self.window]
        return int(self.steps[i + int(np.argmax(span))])


class RecentHits:
    """Counts hits among the last `window` points of a stream, across batches."""

    def __init__(self, window: int) -> None:
        self.window = window
        self._hits = np.zeros(window - 1, dtype=bool)
        self._steps = np.zeros(window - 1, dtype=np.int64)

    def count(self, hits: np.ndarray, steps: np.ndarray) -> HitWindow:
        all_hits = np.concatenate([self._hits, hits])
        all_steps = np.concatenate([self._steps, steps])
        total = np.concatenate([[0], np.cumsum(all_hits)])
        counts = total[self.window :] - total[: -self.window]
        keep = len(all_hits) - (self.window - 1)
        self._hits, self._steps = all_hits[keep:], all_steps[keep:]
        return HitWindow(counts, all_hits, all_steps, self.window)

    def state_dict(self) -> dict:
        return {"hits": self._hits.tolist(), "steps": self._steps.tolist()}

    def load_state_dict(self, d: dict) -> None:
        self._hits = np.array(d["hits"], dtype=bool).reshape(-1)
        self._steps = np.array(d["steps"], dtype=np.int64).reshape(-1)


def next_true(mask: np.ndarray) -> np.ndarray:
    """For each position, the first position at or after it where mask holds (len: none)."""
    n = len(mask)
    where = np.where(mask, np.arange(n), n)
    return np.minimum.accumulate(where[::-1])[::-1]


def forward_fill(values: np.ndarray, rows: np.ndarray, n: int, before: object) -> np.ndarray:
    """Per row of a batch of n rows, the last of `values` (given at `rows`) at or before it."""
    index = np.full(n, -1)
    index[rows] = np.arange(len(rows))
    index = np.maximum.accumulate(index)
    filled = values[np.maximum(index, 0)] if len(values) else np.full(n, before)
    return np.where(index >= 0, filled, before)


class Episodes:
    """One event per episode: a trigger opens it, `calm_needed` calm rows in a row close it."""

    def __init__(self, calm_needed: int) -> None:
        self.calm_needed = calm_needed
        self.open = False
        self.calm_run = 0  # calm rows in a row at the end of the stream so far

    def run(self, trigger: np.ndarray, calm: np.ndarray) -> tuple[list[int], np.ndarray]:
        """Rows that open an episode, and a mask of the rows inside one."""
        n = len(trigger)
        pos = np.arange(n)
        last_busy = np.maximum.accumulate(np.where(calm, -1, pos))
        run = np.where(last_busy >= 0, pos - last_busy, self.calm_run + pos + 1)
        closes, opens = next_true(run >= self.calm_needed), next_true(trigger)
        starts, inside, i = [], np.zeros(n, dtype=bool), 0
        while i < n:
            if self.open:
                end = int(closes[i])
                inside[i:end] = True
                self.open, i = end >= n, end + 1
            elif opens[i] < n:
                i = int(opens[i])
                starts.append(i)
                self.open = True
            else:
                break
        if n:
            self.calm_run = int(run[-1])
        return starts, inside

    def state_dict(self) -> dict:
        return {"open": self.open, "calm_run": self.calm_run}

    def load_state_dict(self, d: dict) -> None:
        self.open, self.calm_run = bool(d["open"]), int(d["calm_run"])
