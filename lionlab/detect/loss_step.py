"""Loss steps: abrupt drops of the loss level between plateaus.

At every block boundary the detector fits, over `half_window` blocks of medians on each side,
a polynomial trend plus a step (weights fixed once, so the statistic is one dot product) and
divides the step by its standard error, from an EWMA of the block medians' second differences.
A candidate opens at `z` and is raised at its peak once the statistic falls below `rearm_z`.

Not raised: bends of the trend (the loss is not lower after, or climbs back: the start of a
blow-up) and drops whose window overlaps a divergence episode (a spike's recovery). Raised as
"info": drops that follow a logged lr change or span a gap in the logged loss (a run resumed
from a checkpoint, missing logs), which are the schedule's doing, not the optimizer's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from lionlab.detect.config import LossStepConfig
from lionlab.detect.flags import INFO, LOSS_STEP, WARNING, Flag
from lionlab.detect.state import float_from_json, float_to_json, floats_from_json, floats_to_json
from lionlab.detect.streams import Chunk, Ewma

MEAN_ABS_TO_SD = math.sqrt(2 / math.pi) * math.sqrt(6)  # E|2nd difference| / SD, Gaussian
EXCUSE_AFTER_BLOCKS = 8  # an lr change this soon after the boundary still explains the drop
RING_FIELDS = ("median", "noise", "first_step", "last_step", "lr", "gap", "diverging")


def step_weights(half: int, degree: int) -> np.ndarray:
    """Weights (3, 2*half) for a window y of block medians: row 0 @ y is the least-squares
    step between its halves, fitted jointly with a polynomial trend of `degree`; row 1 @ y
    the difference of the halves' means; row 2 @ y the rise of a line fitted to the second
    half, over its length."""
    t = (np.arange(2 * half) - (half - 0.5)) / half  # -1..1, the boundary at 0
    trend = np.vander(t, degree + 1)
    step = (t > 0).astype(np.float64)
    residual = step - trend @ np.linalg.lstsq(trend, step, rcond=None)[0]
    after = np.where(t > 0, t - t[t > 0].mean(), 0.0)
    return np.stack(
        [
            residual / (residual @ residual),
            np.where(t > 0, 1.0, -1.0) / half,
            after / (after @ after) * (t[-1] - t[half]),
        ]
    )


@dataclass
class Candidate:
    z: float
    boundary: int  # run-wide index of the first block after the drop
    drop: float  # log units
    plateau: bool  # lower after the boundary and not climbing back, at the peak

    def to_state(self) -> dict:
        return {
            "z": float_to_json(self.z),
            "boundary": self.boundary,
            "drop": float_to_json(self.drop),
            "plateau": self.plateau,
        }

    @classmethod
    def from_state(cls, d: dict) -> Candidate:
        return cls(
            float_from_json(d["z"]),
            int(d["boundary"]),
            float_from_json(d["drop"]),
            bool(d["plateau"]),
        )


class LossStepDetector:
    def __init__(self, cfg: LossStepConfig) -> None:
        self.cfg = cfg
        self.weights = step_weights(cfg.half_window, cfg.trend_degree)
        fit = self.weights[0]
        self.scale = float(np.sqrt(fit @ fit))  # SE of the fitted step per unit noise
        self.ring_len = 3 * cfg.half_window + cfg.excuse_blocks + 2
        self.ring: dict[str, list] = {f: [] for f in RING_FIELDS}
        self.blocks_done = 0
        self.abs_d2 = Ewma(cfg.noise_span)  # |second difference| of block medians
        self.candidate: Candidate | None = None
        self.armed = True
        self.diverging_rows = 0

    def update(self, loss: Chunk, lr: np.ndarray, diverging: np.ndarray) -> list[Flag]:
        """Flags raised by this batch; `lr` and `diverging` are per row (lr in force, inside a
        divergence episode)."""
        seen = self.diverging_rows + np.cumsum(diverging)
        self.diverging_rows += int(diverging.sum())
        blocks = loss.blocks
        if not blocks.count:
            return []
        fitted, curvature = self._window_steps(blocks.medians), self._curvature(blocks.medians)
        rows = blocks.last_row
        self._extend(
            median=blocks.medians.tolist(),
            noise=blocks.point_noise.tolist(),  # to express a drop in noise SDs
            first_step=blocks.first_step.tolist(),
            last_step=blocks.last_step.tolist(),
            lr=lr[rows].tolist(),
            gap=self._gaps(blocks.last_step),
            diverging=seen[rows].tolist(),
        )
        # winsorised: a drop itself barely moves the noise estimate
        noise = self.abs_d2.run([d for d in curvature.tolist() if not math.isnan(d)], clip=5.0)
        noise = [math.nan] * (len(fitted) - len(noise)) + noise
        flags, first = [], blocks.first_index + 1 - self.cfg.half_window
        for i, (window, d2) in enumerate(zip(fitted.tolist(), noise, strict=True)):
            flag = self._follow(window, d2, first + i)
            if flag is not None:
                flags.append(flag)
        for f in RING_FIELDS:
            del self.ring[f][: -self.ring_len]
        return flags

    def _recent(self, medians: np.ndarray, width: int) -> np.ndarray:
        """The last width-1 ring medians followed by the new ones."""
        tail = self.ring["median"][max(0, len(self.ring["median"]) - (width - 1)) :]
        return np.concatenate([np.asarray(tail, dtype=np.float64), medians])

    def _window_steps(self, medians: np.ndarray) -> np.ndarray:
        """(fitted step, shift of the means, rise after), log units, of the window ending at
        each new block; NaN while the run is shorter than a window."""
        width = self.weights.shape[1]
        values, out = self._recent(medians, width), np.full((len(medians), 3), np.nan)
        if len(values) >= width:
            windows = sliding_window_view(values, width)[:, None, :]
            out[len(medians) - len(windows) :] = (windows * self.weights).sum(axis=2)
        return out

    def _curvature(self, medians: np.ndarray) -> np.ndarray:
        """|second difference| of the block medians ending at each new block (NaN: too early)."""
        v, out = self._recent(medians, 3), np.full(len(medians), np.nan)
        d2 = np.abs(v[2:] - 2 * v[1:-1] + v[:-2])
        out[len(out) - len(d2) :] = d2
        return out

    def _gaps(self, last_steps: np.ndarray) -> list[bool]:
        """Whether each new block spans gap_ratio times the steps of the block before it."""
        ends = np.concatenate([np.asarray(self.ring["last_step"][-2:], np.int64), last_steps])
        spans = np.diff(ends).astype(np.float64)
        gaps = spans[1:] > self.cfg.gap_ratio * spans[:-1]
        return [False] * (len(last_steps) - len(gaps)) + gaps.tolist()

    def _extend(self, **columns: list) -> None:
        for f in RING_FIELDS:
            self.ring[f].extend(columns[f])
        self.blocks_done += len(columns["median"])

    def _follow(self, window: list, abs_d2: float, boundary: int) -> Flag | None:
        """Advance the candidate with the window statistics at `boundary` (the first block
        after it), given the mean |second difference| of block medians at that time."""
        cfg = self.cfg
        step, shift, rise = window
        se = max(abs_d2 / MEAN_ABS_TO_SD, 1e-12) * self.scale
        z = -step / se  # drops are positive
        # a new plateau: lower after the boundary, and not climbing back (else a bend)
        plateau = -shift >= -step / 2 and rise <= -step / 2
        if self.candidate is None:
            if self.armed and z >= cfg.z:
                self.candidate = Candidate(z, boundary, -step, plateau)
            elif z < cfg.rearm_z:
                self.armed = True
            return None
        if z > self.candidate.z:
            self.candidate = Candidate(z, boundary, -step, plateau)
        if z < cfg.rearm_z or boundary - self.candidate.boundary >= cfg.half_window // 2:
            flag = self._raise(self.candidate, boundary + cfg.half_window - 1)
            self.candidate, self.armed = None, z < cfg.rearm_z
            return flag
        return None

    def _block(self, field: str, index: int):
        """A ring field of the block with run-wide `index` (clamped to what the ring holds)."""
        first = self.blocks_done - len(self.ring[field])
        return self.ring[field][min(max(index - first, 0), len(self.ring[field]) - 1)]

    def _raise(self, c: Candidate, current: int) -> Flag | None:
        """The flag for candidate c, raised at block `current` (None: not a loss step)."""
        cfg, b = self.cfg, c.boundary
        if not c.plateau:
            return None  # a bend in the trend (such as the start of a blow-up)
        window_start, window_end = b - cfg.half_window - 1, b + cfg.half_window - 1
        if self._block("diverging", window_end) > self._block("diverging", window_start):
            return None  # a spike's recovery, not a step down to a new plateau
        start, end = self._block("first_step", b - 1), self._block("last_step", b)
        raised = self._block("last_step", current)
        window = range(b - cfg.half_window, b + cfg.half_window)
        sd = c.drop / max(float(np.median([self._block("noise", i) for i in window])), 1e-12)
        message = (
            f"loss dropped {100 * (1 - math.exp(-c.drop)):.2g}% ({sd:.2g} noise SD, "
            f"z={c.z:.1f}) between plateaus around step {start}-{end}"
        )
        excuse = self._schedule_change(b)
        if excuse is None:
            return Flag(LOSS_STEP, raised, start, end, WARNING, message)
        return Flag(LOSS_STEP, raised, start, end, INFO, f"{message}; {excuse}")

    def _schedule_change(self, b: int) -> str | None:
        """What excuses a drop at boundary b: an lr change or a gap in the logs around it."""
        first = b - self.cfg.excuse_blocks - 1
        last = b + EXCUSE_AFTER_BLOCKS
        if any(self._block("gap", i) for i in range(first, last + 1)):
            return "spans a gap in the logged loss (a restart or missing logs): not the optimizer"
        lrs = np.array([self._block("lr", i) for i in range(first, last + 1)])
        jumps = np.abs(np.diff(np.log(lrs)))  # between consecutive blocks; NaN: no lr logged
        if not (jumps >= math.log(self.cfg.lr_change_ratio)).any():
            return None
        jump = int(np.nanargmax(jumps))
        at = self._block("last_step", first + jump)
        return (
            f"coincides with the lr change from {lrs[jump]:.3g} to {lrs[jump + 1]:.3g} "
            f"after step {at}: the schedule, not the optimizer"
        )

    def state_dict(self) -> dict:
        ring = dict(self.ring)
        for f in ("median", "noise", "lr"):
            ring[f] = floats_to_json(ring[f])
        candidate = None if self.candidate is None else self.candidate.to_state()
        return {
            "ring": ring,
            "blocks_done": self.blocks_done,
            "abs_d2": self.abs_d2.state_dict(),
            "candidate": candidate,
            "armed": self.armed,
            "diverging_rows": self.diverging_rows,
        }

    def load_state_dict(self, d: dict) -> None:
        ring = {f: list(d["ring"][f]) for f in RING_FIELDS}
        for f in ("median", "noise", "lr"):
            ring[f] = floats_from_json(ring[f])
        self.ring = ring
        self.blocks_done, self.armed = int(d["blocks_done"]), bool(d["armed"])
        self.abs_d2.load_state_dict(d["abs_d2"])
        c = d["candidate"]
        self.candidate = None if c is None else Candidate.from_state(c)
        self.diverging_rows = int(d["diverging_rows"])
