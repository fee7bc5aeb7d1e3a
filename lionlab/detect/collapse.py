"""Mode collapse: the diversity of a generative model's outputs falling while its loss holds.

Fed at eval rows: `entropy` (of the next-token distribution, nats) and `distinct` (distinct-n
of sampled text, 0..1), beside the training loss. After settling, each metric takes its own
reference (the median of its first `ref_evals` evals). An eval is *low* when the entropy is
below `entropy_ratio` times its reference beyond what the loss's own relative fall explains
(a calibrated model's entropy tracks its cross-entropy: learning lowers both), or distinct-n
below `distinct_ratio` times its reference. `collapse_evals` low evals in a row are a
collapse, unless the loss (the mean of the last 4 loss-block medians) stood `loss_rise_ratio`
times above its lowest level at the 8 evals before, at any eval of the fall
(divergence or over-fitting: the divergence detector's business). One flag per episode;
`calm_evals` evals that are not low close it. Off (no flag, no work beyond one number per
batch) while no diversity metric is logged.
"""

from __future__ import annotations

import math

import numpy as np

from lionlab.detect.batch import Batch
from lionlab.detect.config import CollapseConfig
from lionlab.detect.flags import MODE_COLLAPSE, WARNING, Flag
from lionlab.detect.state import float_from_json, float_to_json, floats_from_json, floats_to_json
from lionlab.detect.streams import LOG_FLOOR, Chunk, forward_fill

DIVERSITY = ("entropy", "distinct")
LOSS_BLOCKS = 4  # the loss level at an eval: the mean of the last 4 loss-block medians
LOSS_EVALS = 8  # a rise is measured from the lowest loss level at the 8 evals before


class ModeCollapse:
    def __init__(self, cfg: CollapseConfig) -> None:
        self.cfg = cfg
        self.entropy_drop = math.log(1 / cfg.entropy_ratio)
        self.distinct_drop = math.log(1 / cfg.distinct_ratio)
        self.loss_rise = math.log(cfg.loss_rise_ratio)
        self.loss_level = math.nan  # smoothed log-loss as of the last completed loss block
        self.recent = np.zeros(0)  # the last LOSS_BLOCKS - 1 loss-block medians
        self.vetoed = False  # the loss rose during the current run of low evals
        self.first_step: int | None = None  # first eval row
        self.evals = 0  # eval rows seen
        self.buffers: dict[str, list[float]] = {"entropy": [], "distinct": [], "loss": []}
        self.refs = {"entropy": math.nan, "distinct": math.nan, "loss": math.nan}
        self.low_run = 0  # consecutive low evals
        self.low_since = -1
        self.loss_window: list[float] = []  # loss levels at the last LOSS_EVALS evals
        self.open, self.calm = False, 0

    def update(self, batch: Batch, loss: Chunk) -> list[Flag]:
        """Flags raised by this batch; `loss` is the batch's chunk of loss points and blocks."""
        blocks = loss.blocks
        columns = {k: batch.extra.get(k) for k in DIVERSITY}
        present = [c for c in columns.values() if c is not None]
        if not present:
            self._carry(blocks.medians)
            return []
        evals = np.zeros(batch.n, dtype=bool)
        for c in present:
            evals |= np.isfinite(c)
        rows = np.flatnonzero(evals)
        if len(rows) == 0:
            self._carry(blocks.medians)
            return []
        smooth = self._smooth(blocks.medians)
        levels = forward_fill(smooth, blocks.last_row, batch.n, self.loss_level)
        if blocks.count:
            self.loss_level = float(smooth[-1])
        flags = []
        for r in rows.tolist():
            values = {}
            for k, c in columns.items():
                if c is not None and np.isfinite(c[r]):
                    values[k] = math.log(max(float(c[r]), LOG_FLOOR))
            flag = self._eval(int(batch.steps[r]), values, float(levels[r]))
            if flag is not None:
                flags.append(flag)
        return flags

    def _smooth(self, medians: np.ndarray) -> np.ndarray:
        """Per block, the mean of the last LOSS_BLOCKS block medians (fewer at the start)."""
        values = np.concatenate([self.recent, medians])
        sums = np.concatenate([[0.0], np.cumsum(values)])
        ends = np.arange(len(self.recent) + 1, len(values) + 1)
        starts = np.maximum(ends - LOSS_BLOCKS, 0)
        self.recent = values[-(LOSS_BLOCKS - 1) :]
        return (sums[ends] - sums[starts]) / (ends - starts)

    def _carry(self, medians: np.ndarray) -> None:
        """No eval in the batch: keep only what the next one needs (bounded, no loop)."""
        if len(medians):
            self.loss_level = float(self._smooth(medians[-LOSS_BLOCKS:])[-1])

    def _eval(self, step: int, values: dict[str, float], loss: float) -> Flag | None:
        cfg = self.cfg
        if self.first_step is None:
            self.first_step = step
        self.evals += 1
        if self.evals <= cfg.settle_evals or step - self.first_step < cfg.settle_steps:
            return None
        filling = False
        for k, v in values.items():
            if math.isnan(self.refs[k]):
                filling = True
                self.buffers[k].append(v)
                if len(self.buffers[k]) >= cfg.ref_evals:
                    self.refs[k] = float(np.median(self.buffers[k]))
                    self.buffers[k] = []
        if filling and not math.isnan(loss):  # the loss reference: over the same evals
            self.buffers["loss"].append(loss)
            self.refs["loss"] = float(np.median(self.buffers["loss"]))
        if filling:
            return None
        self.buffers["loss"] = []
        falls = self._falls(values, loss)
        low = bool(falls)
        if self.open:
            self.calm = 0 if low else self.calm + 1
            if self.calm >= cfg.calm_evals:
                self.open, self.calm, self.low_run = False, 0, 0
            return None
        before = [x for x in self.loss_window if not math.isnan(x)]
        rose = loss - min(before) if before else math.nan
        self.loss_window = [*self.loss_window, loss][-LOSS_EVALS:]
        if not low:
            self.low_run, self.vetoed = 0, False
            return None
        self.low_run += 1
        if self.low_run == 1:
            self.low_since = step
        self.vetoed = self.vetoed or rose > self.loss_rise  # divergence / over-fitting: the
        # whole run of low evals is explained by it, even once the loss comes back
        if self.low_run < cfg.collapse_evals or self.vetoed:
            return None
        self.open, self.calm = True, 0
        return self._flag(step, falls, rose)

    def _falls(self, values: dict[str, float], loss: float) -> dict[str, float]:
        """The metrics that fell far enough at this eval, with their ratio to the reference."""
        out = {}
        if "entropy" in values and not math.isnan(self.refs["entropy"]):
            fall = self.refs["entropy"] - values["entropy"]
            loss_fall = self.refs["loss"] - loss
            excuse = max(0.0, loss_fall) if math.isfinite(loss_fall) else 0.0
            if fall - excuse >= self.entropy_drop:
                out["entropy"] = values["entropy"]
        ref = self.refs["distinct"]
        if "distinct" in values and ref - values["distinct"] >= self.distinct_drop:
            out["distinct"] = values["distinct"]
        return out

    def _flag(self, step: int, falls: dict[str, float], rose: float) -> Flag:
        parts = []
        if "entropy" in falls:
            ratio = math.exp(falls["entropy"] - self.refs["entropy"])
            parts.append(
                f"entropy {math.exp(falls['entropy']):.3g} nats ({ratio:.2g}x its reference "
                f"{math.exp(self.refs['entropy']):.3g})"
            )
        if "distinct" in falls:
            ratio = math.exp(falls["distinct"] - self.refs["distinct"])
            parts.append(
                f"distinct-n {math.exp(falls['distinct']):.3g} ({ratio:.2g}x its reference "
                f"{math.exp(self.refs['distinct']):.3g})"
            )
        if math.isnan(rose):
            loss = "no loss logged to tell it from a divergence"
        else:
            loss = f"the loss {math.exp(rose):.3g}x its lowest level at the evals before"
        message = (
            f"output diversity fell for {self.low_run} evals in a row while the loss held or "
            f"fell: {', '.join(parts)}, since step {self.low_since}; {loss}. Possible mode "
            "collapse (or a repetition loop in sampling)"
        )
        return Flag(MODE_COLLAPSE, step, self.low_since, step, WARNING, message)

    def state_dict(self) -> dict:
        return {
            "loss_level": float_to_json(self.loss_level),
            "recent": floats_to_json(self.recent.tolist()),
            "vetoed": self.vetoed,
            "first_step": self.first_step,
            "evals": self.evals,
            "buffers": {k: floats_to_json(v) for k, v in self.buffers.items()},
            "refs": {k: float_to_json(v) for k, v in self.refs.items()},
            "low_run": self.low_run,
            "low_since": self.low_since,
            "loss_window": floats_to_json(self.loss_window),
            "open": self.open,
            "calm": self.calm,
        }

    def load_state_dict(self, d: dict) -> None:
        self.loss_level = float_from_json(d["loss_level"])
        self.recent = np.array(floats_from_json(d["recent"]), dtype=np.float64)
        self.vetoed = bool(d["vetoed"])
        self.first_step = None if d["first_step"] is None else int(d["first_step"])
        self.evals = int(d["evals"])
        self.buffers = {k: floats_from_json(v) for k, v in d["buffers"].items()}
        self.refs = {k: float_from_json(v) for k, v in d["refs"].items()}
        self.low_run, self.low_since = int(d["low_run"]), int(d["low_since"])
        self.loss_window = floats_from_json(d["loss_window"])
        self.open, self.calm = bool(d["open"]), int(d["calm"])
