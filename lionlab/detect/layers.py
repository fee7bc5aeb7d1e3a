"""Per-layer detectors: a layer's gradient norm leaving the other layers (layer_grad_drift); a
layer's update-to-weight ratio outside a healthy band, or its per-weight step far above the
other layers' (update_ratio).

Both work on blocks of `block_rows` consecutive logged rows (cut by row count since the start,
carried across batches, so the same blocks come out however the series is split) and take
per-layer medians over a block: one heavy-tailed point cannot move them. The per-block work is
vectorised over layers; the loop runs over blocks only. See docs/detectors.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lionlab.detect.batch import NO_STEP
from lionlab.detect.config import LayerConfig, LayerGradConfig, UpdateRatioConfig
from lionlab.detect.flags import KINDS, LAYER_GRAD_DRIFT, UPDATE_RATIO, WARNING, Flag
from lionlab.detect.state import float_from_json, float_to_json, floats_from_json
from lionlab.detect.streams import LOG_FLOOR, MAD_TO_SD

LAYER_STATE_VERSION = 2
STATS = ("grad_norm", "param_norm", "update_ratio", "update_rms")
LION = frozenset({"lion", "distributed_lion"})


def nan_median(a: np.ndarray, axis: int = -1) -> np.ndarray:
    """Median along `axis` ignoring NaN (NaN where a slice has no finite value); a sort and
    two picks, much faster than np.nanmedian on small slices. `a` holds finite values or NaN."""
    a = np.moveaxis(a, axis, -1)
    s = np.sort(a, axis=-1)  # NaN sorts last
    count = np.sum(~np.isnan(a), axis=-1)
    lo = np.maximum((count - 1) // 2, 0)[..., None]
    hi = np.minimum(count // 2, a.shape[-1] - 1)[..., None]
    mid = 0.5 * (np.take_along_axis(s, lo, -1) + np.take_along_axis(s, hi, -1))[..., 0]
    return np.where(count > 0, mid, np.nan)


def _log_or_nan(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(x.shape, np.nan)
    np.log(np.maximum(x, LOG_FLOOR), out=out, where=mask)
    return out


@dataclass(frozen=True)
class LayerBlock:
    """One block of rows: per-layer medians and the steps it spans."""

    first_step: int
    last_step: int
    lr: float  # lr in force at its last row (NaN: none logged yet)
    peak_lr: float  # largest lr logged up to its last row
    grad_dev: np.ndarray  # (L,) median log grad-norm minus the cross-layer median (NaN: absent)
    grad_zero: np.ndarray  # (L,) bool: only exactly-zero gradients, the other layers' not
    ratio: np.ndarray  # (L,) median log update ratio
    ratio_at_peak: np.ndarray  # (L,) median log ratio scaled to the peak lr (= ratio w/o lr)
    ratio_per_lr: np.ndarray  # (L,) median log(ratio / lr) (NaN without lr)
    step_dev: np.ndarray  # (L,) median log update RMS minus the cross-layer median
    step_log: np.ndarray  # (L,) median log update RMS


class PerLayer:
    """Named per-layer arrays (last axis: layers) that grow when layers are added."""

    def __init__(self, spec: dict[str, tuple[object, object, int]]) -> None:
        self.spec = spec  # name -> (fill value, dtype, leading rows; 0 for a 1-D array)
        self.arrays: dict[str, np.ndarray] = {}
        for name, (fill, dtype, rows) in spec.items():
            shape = (rows, 0) if rows else (0,)
            self.arrays[name] = np.full(shape, fill, dtype=dtype)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    def set(self, name: str, value: np.ndarray) -> None:
        self.arrays[name] = value

    def grow(self, count: int) -> None:
        for name, (fill, dtype, rows) in self.spec.items():
            shape = (rows, count) if rows else (count,)
            extra = np.full(shape, fill, dtype=dtype)
            self.arrays[name] = np.concatenate([self.arrays[name], extra], axis=-1)

    def state_dict(self) -> dict:
        out = {}
        for name, a in self.arrays.items():
            if a.dtype.kind == "f":
                out[name] = [float_to_json(x) for x in a.ravel().tolist()]
            else:
                out[name] = a.ravel().tolist()
        return out

    def load_state_dict(self, d: dict, layers: int) -> None:
        for name, (_, dtype, rows) in self.spec.items():
            shape = (rows, layers) if rows else (layers,)
            values = d[name]
            if np.dtype(dtype).kind == "f":
                values = floats_from_json(values)
            self.arrays[name] = np.array(values, dtype=dtype).reshape(shape)


def _name_list(names: list[str], cap: int) -> str:
    shown = ", ".join(names[:cap])
    return shown if len(names) <= cap else f"{shown} and {len(names) - cap} more"


def _compose(parts: list[tuple[str, str]], cap: int, single: str, many: str) -> str:
    """One layer: "layer NAME: TEXT (single)"; several: "many: NAME: TEXT; ..." (capped)."""
    if len(parts) == 1:
        name, text = parts[0]
        return f"layer {name}: {text} ({single})"
    listed = [f"{n}: {t}" for n, t in parts[:cap]]
    more = f"; and {len(parts) - cap} more" if len(parts) > cap else ""
    return f"{many}: " + "; ".join(listed) + more


def _episodes(s: PerLayer, calm: np.ndarray, lasted: np.ndarray, calm_blocks: int):
    """Per layer: an open episode closes after `calm_blocks` calm blocks; a layer whose
    excursion `lasted` and has no open episode opens one. Returns the layers that did."""
    closing = s.open & (calm >= calm_blocks)
    is_open = s.open & ~closing
    new = lasted & ~is_open
    s.set("open", is_open | new)
    s.set("calm", np.where(closing | new, 0, calm))
    return new


class _Starts:
    """Keeps flags' start_step strictly increasing per kind (the server keys on it)."""

    def __init__(self) -> None:
        self.last = NO_STEP

    def next(self, start: int, end: int) -> int:
        start = min(max(start, self.last + 1), end)
        self.last = start
        return start


class LayerGradDrift:
    """A layer whose log grad-norm, relative to the cross-layer median, leaves its reference."""

    SPEC = {
        "ref": (np.nan, np.float64, 0),
        "floor": (np.nan, np.float64, 0),
        "noise": (np.nan, np.float64, 0),  # SD of the layer's block medians about its reference
        "ref_n": (0, np.int64, 0),
        "level_total": (0.0, np.float64, 0),
        "level_weight": (0.0, np.float64, 0),
        "up": (0.0, np.float64, 0),
        "down": (0.0, np.float64, 0),
        "above": (0, np.int64, 0),
        "below": (0, np.int64, 0),
        "up_since": (-1, np.int64, 0),
        "down_since": (-1, np.int64, 0),
        "zero_run": (0, np.int64, 0),
        "zero_since": (-1, np.int64, 0),
        "open": (False, np.bool_, 0),
        "calm": (0, np.int64, 0),
    }

    def __init__(self, cfg: LayerGradConfig, ref_blocks: int) -> None:
        self.cfg = cfg
        self.beta = 2 / (cfg.level_span + 1)
        self.min_floor = math.log(cfg.level_ratio)
        self.follow_rate = 1 / cfg.ref_span
        self.noise_rate = 2 / (cfg.noise_span + 1)
        self.layers = PerLayer({**self.SPEC, "ref_buf": (np.nan, np.float64, ref_blocks)})
        self.starts = _Starts()

    def follow(self, b: LayerBlock, names: list[str], cap: int) -> Flag | None:
        cfg, s = self.cfg, self.layers
        x, zero = b.grad_dev, b.grad_zero
        present = ~np.isnan(x)
        self._reference(x, present)
        ref, floor = s.ref, s.floor
        have = present & ~np.isnan(ref)
        # smoothed level (debiased EWMA) and two-sided CUSUMs, on layers with a reference
        total = np.where(have, s.level_total + self.beta * (x - s.level_total), s.level_total)
        weight = np.where(have, s.level_weight + self.beta * (1 - s.level_weight), s.level_weight)
        s.set("level_total", total)
        s.set("level_weight", weight)
        dev = np.where(have, x - ref, 0.0)
        half = np.where(have, floor / 2, 0.0)
        up = np.where(have, np.maximum(0.0, s.up + dev - half), s.up)
        down = np.where(have, np.maximum(0.0, s.down - dev - half), s.down)
        s.set("up_since", np.where((s.up == 0) & (up > 0), b.first_step, s.up_since))
        s.set("down_since", np.where((s.down == 0) & (down > 0), b.first_step, s.down_since))
        with np.errstate(invalid="ignore", divide="ignore"):
            level_dev = np.where(weight > 0, total / np.where(weight > 0, weight, 1), np.nan) - ref
        near = have & (np.abs(level_dev) < floor / 2) & ~s.open
        s.set("ref", np.where(near, ref + self.follow_rate * level_dev, ref))
        # noise: EWMA of |x - ref| (as an SD; winsorised at twice the floor), outside episodes
        quiet = have & ~s.open
        spread = np.minimum(np.abs(dev), 2 * floor) * math.sqrt(math.pi / 2)
        noise = np.where(quiet, s.noise + self.noise_rate * (spread - s.noise), s.noise)
        s.set("noise", noise)
        s.set("floor", np.where(quiet, np.maximum(self.min_floor, cfg.noise_k * noise), floor))
        zero_run = np.where(zero, s.zero_run + 1, np.where(present, 0, s.zero_run))
        s.set("zero_since", np.where(zero & (s.zero_run == 0), b.first_step, s.zero_since))
        s.set("zero_run", zero_run)
        # episodes: a layer's closes after calm_blocks blocks back within half its floor
        is_open = s.open
        calm_now = have & (np.abs(level_dev) < floor / 2)
        calm = np.where(calm_now, s.calm + 1, np.where(present | zero, 0, s.calm))
        closing = is_open & (calm >= cfg.calm_blocks)
        is_open = is_open & ~closing
        above = np.where(have, np.where(dev >= floor, s.above + 1, 0), s.above)
        below = np.where(have, np.where(dev <= -floor, s.below + 1, 0), s.below)
        s.set("above", above)
        s.set("below", below)
        h, persist = cfg.cusum_h * floor, cfg.persist_blocks
        rise = have & (up >= h) & (above >= persist) & (level_dev >= floor) & ~is_open
        fall = have & (down >= h) & (below >= persist) & (level_dev <= -floor) & ~is_open
        frozen = (zero_run >= cfg.frozen_blocks) & ~is_open
        new = rise | fall | frozen
        reset = closing | new
        s.set("up", np.where(reset, 0.0, up))
        s.set("down", np.where(reset, 0.0, down))
        s.set("open", is_open | new)
        s.set("calm", np.where(reset, 0, calm))
        if not new.any():
            return None
        return self._flag(b, names, cap, np.flatnonzero(new), frozen, rise, level_dev)

    def _reference(self, x: np.ndarray, present: np.ndarray) -> None:
        """Fill each layer's reference buffer; take its median (and the floor) once full."""
        s = self.layers
        need = present & np.isnan(s.ref)
        if not need.any():
            return
        cols = np.flatnonzero(need)
        buf, count = s.ref_buf, s.ref_n
        buf[count[cols], cols] = x[cols]
        count[cols] += 1
        done = cols[count[cols] >= buf.shape[0]]
        if len(done):
            ref = nan_median(buf[:, done], axis=0)
            sd = MAD_TO_SD * nan_median(np.abs(buf[:, done] - ref), axis=0)
            s.ref[done] = ref
            s.noise[done] = sd
            s.floor[done] = np.maximum(self.min_floor, self.cfg.noise_k * sd)

    def _flag(self, b, names, cap, cols, frozen, rise, level_dev) -> Flag:
        s = self.layers
        since = np.where(frozen, s.zero_since, np.where(rise, s.up_since, s.down_since))[cols]
        since = np.where(since >= 0, since, b.first_step)
        order = np.argsort(-np.where(frozen[cols], np.inf, np.abs(level_dev[cols])), kind="stable")
        cols, since = cols[order], since[order]
        parts = []
        for c in cols.tolist():
            if frozen[c]:
                parts.append((names[c], "gradient exactly 0 while the other layers' are not"))
            else:
                parts.append((names[c], f"{math.exp(level_dev[c]):.3g}x"))
        first = int(since.min())
        if len(parts) == 1:
            name, what = parts[0]
            if frozen[cols[0]]:
                message = f"layer {name}: {what}, since step {first}"
            else:
                message = (
                    f"layer {name}: grad norm {what} its usual level relative to the other "
                    f"layers' median, since step {first}"
                )
        else:
            listed = [f"{n} ({w})" for n, w in parts[:cap]]
            more = f" and {len(parts) - cap} more" if len(parts) > cap else ""
            message = (
                f"{len(parts)} layers' grad norms left their usual level relative to the other "
                f"layers' median, since step {first}: {', '.join(listed)}{more}"
            )
        start = self.starts.next(first, b.last_step)
        return Flag(LAYER_GRAD_DRIFT, b.last_step, start, b.last_step, WARNING, message)


class UpdateRatioBand:
    """A layer's update-to-weight ratio outside [band_low, band_high] for a sustained window."""

    SPEC = {
        "side": (0, np.int64, 0),  # side of the band of the current run of blocks
        "run": (0, np.int64, 0),  # blocks in the run
        "run_start": (-1, np.int64, 0),  # first step of its first block
        "open": (False, np.bool_, 0),
        "calm": (0, np.int64, 0),
    }

    def __init__(self, cfg: UpdateRatioConfig, block_rows: int) -> None:
        self.cfg = cfg
        self.window = max(1, math.ceil(cfg.window_rows / block_rows))  # blocks
        self.block_rows = block_rows
        self.log_low, self.log_high = math.log(cfg.band_low), math.log(cfg.band_high)
        self.centre = math.sqrt(cfg.band_low * cfg.band_high)
        w = self.window
        self.layers = PerLayer(
            {
                **self.SPEC,
                "ring": (np.nan, np.float64, w),
                "ring_per_lr": (np.nan, np.float64, w),
            }
        )
        self.blocks_done = 0
        self.starts = _Starts()

    def follow(
        self, b: LayerBlock, names: list[str], cap: int, optimizer: str | None
    ) -> Flag | None:
        s = self.layers
        hi, lo = b.ratio, b.ratio_at_peak
        present = ~np.isnan(hi)
        pos = self.blocks_done % self.window
        self.blocks_done += 1
        s.ring[pos] = hi
        s.ring_per_lr[pos] = b.ratio_per_lr
        side = np.where(hi > self.log_high, 1, np.where(lo < self.log_low, -1, 0))
        same = present & (side == s.side) & (side != 0)
        run = np.where(present, np.where(side == 0, 0, np.where(same, s.run + 1, 1)), s.run)
        start = np.where(present & (side != 0) & ~same, b.first_step, s.run_start)
        s.set("side", np.where(present, side, s.side))
        s.set("run", run)
        s.set("run_start", start)
        calm = np.where(present & (side == 0), s.calm + 1, np.where(present, 0, s.calm))
        lasted = (run >= self.window) & (b.last_step - start >= self.cfg.window_steps)
        new = _episodes(s, calm, lasted & present, self.cfg.calm_blocks)
        if not new.any():
            return None
        return self._flag(b, names, cap, np.flatnonzero(new), optimizer)

    def _flag(self, b, names, cap, cols, optimizer) -> Flag:
        s = self.layers
        measured = np.exp(nan_median(s.ring[:, cols], axis=0))
        per_lr = np.exp(nan_median(s.ring_per_lr[:, cols], axis=0))
        sides = s.side[cols]
        lion = optimizer is not None and optimizer.lower() in LION
        band = f"{self.cfg.band_low:.3g}..{self.cfg.band_high:.3g}"
        parts = []
        for i, c in enumerate(cols.tolist()):
            high = sides[i] > 0
            what = (
                "above the healthy band: the lr is too high for this layer"
                if high
                else "below the healthy band: it is barely learning"
            )
            if not high and not math.isnan(b.lr) and b.peak_lr > b.lr * 1.01:
                what += " (even scaled to the peak lr)"
            text = f"update-to-weight ratio {measured[i]:.3g} per step, {what}"
            advice = lion and math.isfinite(per_lr[i]) and per_lr[i] > 0 and measured[i] > 0
            if advice:
                text += (
                    f"; with Lion the ratio is linear in the lr: an lr of "
                    f"{self.centre / per_lr[i]:.3g} (now {b.lr:.3g}) would bring it to "
                    f"{self.centre:.3g}, the band's centre"
                )
            parts.append((names[c], text))
        first = int(s.run_start[cols].min())
        window = f"median over the last {self.window * self.block_rows} logged rows"
        message = _compose(
            parts,
            cap,
            f"{window}, since step {first}; band {band}",
            f"{len(parts)} layers outside the healthy update-ratio band {band} since step "
            f"{first} ({window})",
        )
        if not lion and optimizer is not None:
            message += (
                f" ({optimizer}'s ratio is not simply linear in its lr: change the lr for this "
                "layer and watch the ratio)"
            )
        start = self.starts.next(first, b.last_step)
        return Flag(UPDATE_RATIO, b.last_step, start, b.last_step, WARNING, message)


class StepSize:
    """A layer whose update RMS per weight stays `step_ratio` times the other layers' median.

    With Lion every weight moves by its lr each step (sign updates), so a layer's update RMS is
    its lr to within weight decay and the share of zero signs, the same for all layers of a run.
    Its update-to-weight ratio does not show a layer whose lr is set too high for long: the
    weights grow until the ratio is back in the band. Cross-sectional, so no settling: an lr
    scale set from the first step is caught as soon as the window has passed.
    """

    SPEC = {
        "run": (0, np.int64, 0),  # consecutive blocks above the threshold
        "run_start": (-1, np.int64, 0),
        "open": (False, np.bool_, 0),
        "calm": (0, np.int64, 0),
    }

    def __init__(self, cfg: UpdateRatioConfig, block_rows: int) -> None:
        self.cfg = cfg
        self.window = max(1, math.ceil(cfg.step_window_rows / block_rows))
        self.block_rows = block_rows
        self.log_ratio = math.log(cfg.step_ratio)
        w = self.window
        self.layers = PerLayer(
            {**self.SPEC, "ring_dev": (np.nan, np.float64, w), "ring_log": (np.nan, np.float64, w)}
        )
        self.blocks_done = 0
        self.starts = _Starts()

    def follow(
        self, b: LayerBlock, names: list[str], cap: int, optimizer: str | None
    ) -> Flag | None:
        s = self.layers
        dev = b.step_dev
        present = ~np.isnan(dev)
        pos = self.blocks_done % self.window
        self.blocks_done += 1
        s.ring_dev[pos] = dev
        s.ring_log[pos] = b.step_log
        high = present & (dev >= self.log_ratio)
        run = np.where(present, np.where(high, s.run + 1, 0), s.run)
        s.set("run_start", np.where(high & (s.run == 0), b.first_step, s.run_start))
        s.set("run", run)
        calm = np.where(present & (dev < self.log_ratio / 2), s.calm + 1, 0)
        lasted = (run >= self.window) & (b.last_step - s.run_start >= self.cfg.step_window_steps)
        new = _episodes(s, calm, lasted, self.cfg.calm_blocks)
        if not new.any():
            return None
        return self._flag(b, names, cap, np.flatnonzero(new), optimizer)

    def _flag(self, b, names, cap, cols, optimizer) -> Flag:
        s = self.layers
        factor = np.exp(nan_median(s.ring_dev[:, cols], axis=0))
        rms = np.exp(nan_median(s.ring_log[:, cols], axis=0))
        order = np.argsort(-factor, kind="stable")
        cols, factor, rms = cols[order], factor[order], rms[order]
        lion = optimizer is not None and optimizer.lower() in LION
        has_lr = math.isfinite(b.lr) and b.lr > 0
        parts = []
        for c, f, u in zip(cols.tolist(), factor.tolist(), rms.tolist(), strict=True):
            text = f"each weight moves by {u:.3g} per step (update RMS), {f:.3g}x the other layers'"
            if lion:
                text += "; with Lion every weight moves by its lr each step, so this layer trains "
                if has_lr:
                    text += f"at an lr of about {b.lr * f:.3g} against the run's {b.lr:.3g}"
                else:
                    text += f"at about {f:.3g}x the other layers' lr"
                text += (
                    f": the lr set for it (lr_scale, a parameter group) is about {f:.3g}x too high"
                )
                if has_lr:
                    text += f", and an lr of {b.lr:.3g} would bring it in line"
            else:
                text += "; the lr set for this layer is likely that much higher than the rest's"
            parts.append((names[c], text))
        first = int(s.run_start[cols].min())
        window = f"median over the last {self.window * self.block_rows} logged rows"
        message = _compose(
            parts,
            cap,
            f"{window}, since step {first}",
            f"{len(parts)} layers take steps at least {self.cfg.step_ratio:.3g}x the other "
            f"layers' since step {first} ({window})",
        )
        start = self.starts.next(first, b.last_step)
        return Flag(UPDATE_RATIO, b.last_step, start, b.last_step, WARNING, message)


class LayerDetectors:
    """layer_grad_drift and update_ratio over per-layer stats logged every few steps.

    `update` takes rows in step order, in batches of any size, and returns the flags raised by
    that batch; the flags are the same however the series is split. Rows at or before the last
    step seen are ignored.
    """

    def __init__(self, config: LayerConfig | None = None) -> None:
        self.config = config or LayerConfig()
        cfg = self.config
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.last_step = NO_STEP
        self.first_step: int | None = None
        self.lr = math.nan  # last logged lr (finite, positive)
        self.peak_lr = math.nan
        self.prev_block_lr = math.nan
        self.optimizer: str | None = None
        self.blocks_done = 0
        self.settled = False
        self.grad = LayerGradDrift(cfg.grad, cfg.grad.ref_blocks)
        self.ratio = UpdateRatioBand(cfg.ratio, cfg.block_rows)
        self.step = StepSize(cfg.ratio, cfg.block_rows)
        self._partial_steps = np.zeros(0, dtype=np.int64)
        self._partial_lr = np.zeros(0)
        self._partial_peak = np.zeros(0)
        self._partial = {k: np.zeros((0, 0)) for k in STATS}

    # -- input ----------------------------------------------------------------------------

    def _add_names(self, names: Sequence[str]) -> np.ndarray:
        """Columns of `names` in the internal order, registering new names at the end."""
        new = [n for n in dict.fromkeys(names) if n not in self.index]
        if len(set(names)) != len(names):
            raise ValueError("layer names must be distinct")
        if new:
            for n in new:
                self.index[n] = len(self.names)
                self.names.append(n)
            self.grad.layers.grow(len(new))
            self.ratio.layers.grow(len(new))
            self.step.layers.grow(len(new))
            for k, a in self._partial.items():
                pad = np.full((a.shape[0], len(new)), np.nan)
                self._partial[k] = np.concatenate([a, pad], axis=1)
        return np.array([self.index[n] for n in names], dtype=np.int64)

    def update(
        self,
        steps: Sequence[int] | np.ndarray,
        names: Sequence[str],
        stats: Mapping[str, np.ndarray],
        lr: np.ndarray | Sequence[float] | None = None,
        optimizer: str | None = None,
    ) -> list[Flag]:
        """Feed one batch: `stats` maps grad_norm / param_norm / update_ratio / update_rms to
        (n, L) arrays whose columns follow `names` (NaN: the layer was not reported at that
        row; a statistic left out counts as not reported)."""
        if optimizer is not None:
            self.optimizer = str(optimizer)
        steps = np.asarray(steps).astype(np.int64).ravel()
        n, names = len(steps), list(names)
        cols = self._add_names(names)
        width = len(self.names)
        full = {}
        for key in STATS:
            if stats.get(key) is None:
                continue
            a = np.asarray(np.ma.filled(stats[key], np.nan), dtype=np.float64)
            if a.shape != (n, len(names)):
                raise ValueError(f"stats[{key!r}] has shape {a.shape}, expected {(n, len(names))}")
            a = np.where(np.isinf(a) & (a < 0), np.nan, a)
            if len(names) == width and np.array_equal(cols, np.arange(width)):
                full[key] = a
            else:
                out = np.full((n, width), np.nan)
                out[:, cols] = a
                full[key] = out
        lr_col = np.full(n, np.nan) if lr is None else np.asarray(lr, dtype=np.float64).ravel()
        if len(lr_col) != n:
            raise ValueError(f"lr has {len(lr_col)} values for {n} steps")
        seen = np.maximum.accumulate(np.concatenate([[self.last_step], steps]))[:-1]
        keep = steps > seen
        reported = np.zeros(n, dtype=bool)
        for a in full.values():
            reported |= ~np.isnan(a).all(axis=1)
        # lr in force per row (also from rows that carry no layer stat)
        ok = keep & np.isfinite(lr_col) & (lr_col > 0)
        last = np.maximum.accumulate(np.where(ok, np.arange(n), -1))
        lr_row = np.where(last >= 0, lr_col[np.maximum(last, 0)], self.lr)
        logged = np.concatenate([[self.peak_lr], np.where(ok, lr_col, np.nan)])
        peak_row = np.fmax.accumulate(logged)[1:]
        if n and keep.any():
            self.last_step = int(steps[keep][-1])
            self.lr, self.peak_lr = float(lr_row[-1]), float(peak_row[-1])
        rows = keep & reported
        if not rows.any():
            return []
        if self.first_step is None:
            self.first_step = int(steps[rows][0])
        return self._blocks(
            steps[rows], lr_row[rows], peak_row[rows], {k: a[rows] for k, a in full.items()}
        )

    # -- blocks ---------------------------------------------------------------------------

    def _blocks(self, steps, lr, peak, stats) -> list[Flag]:
        size, width = self.config.block_rows, len(self.names)
        m = len(steps)
        cat = {}
        for k in STATS:
            part = self._partial[k]
            new = stats.get(k)
            if new is None:
                new = np.full((m, width), np.nan)
            cat[k] = np.concatenate([part, new]) if len(part) else new
        all_steps = np.concatenate([self._partial_steps, steps])
        all_lr = np.concatenate([self._partial_lr, lr])
        all_peak = np.concatenate([self._partial_peak, peak])
        used = len(all_steps) // size * size
        self._partial_steps, self._partial_lr = all_steps[used:], all_lr[used:]
        self._partial_peak = all_peak[used:]
        self._partial = {k: a[used:] for k, a in cat.items()}
        if used == 0:
            return []
        head = {k: a[:used] for k, a in cat.items()}
        blocks = self._features(head, all_lr[:used], all_peak[:used], size)
        firsts, lasts = all_steps[:used:size].tolist(), all_steps[size - 1 : used : size].tolist()
        lrs, peaks = all_lr[size - 1 : used : size].tolist(), all_peak[size - 1 : used : size]
        flags, cap = [], self.config.max_names
        for i in range(used // size):
            block = LayerBlock(
                first_step=int(firsts[i]),
                last_step=int(lasts[i]),
                lr=float(lrs[i]),
                peak_lr=float(peaks[i]),
                **{k: v[i] for k, v in blocks.items()},
            )
            self.blocks_done += 1
            settled = self._settle(block)
            self.prev_block_lr = block.lr
            found = [self.step.follow(block, self.names, cap, self.optimizer)]  # no settling
            if settled:
                found += [
                    self.grad.follow(block, self.names, cap),
                    self.ratio.follow(block, self.names, cap, self.optimizer),
                ]
            flags.extend(flag for flag in found if flag is not None)
        return sorted(flags, key=lambda f: (f.step, KINDS.index(f.kind)))

    def _settle(self, b: LayerBlock) -> bool:
        """Past settle_steps and settle_blocks, and the logged lr no longer rising (warmup)."""
        if self.settled:
            return True
        g = self.config.grad
        # the first block with an lr cannot tell whether it still rises: wait one more
        rising = not math.isnan(b.lr) and not b.lr <= self.prev_block_lr
        self.settled = (
            self.blocks_done >= g.settle_blocks
            and b.last_step - (self.first_step or 0) >= g.settle_steps
            and not rising
        )
        return self.settled

    def _features(self, stats, lr, peak, size) -> dict[str, np.ndarray]:
        """Per block and layer: the medians LayerBlock holds, (k, L) each."""
        g, r, p = stats["grad_norm"], stats["update_ratio"], stats["param_norm"]
        k, width = len(lr) // size, g.shape[1]
        out = {}
        finite = np.isfinite(g)
        positive = finite & (g > 0)
        log_g = _log_or_nan(g, positive)
        median = self._cross_median(log_g, positive)
        dev = log_g - median[:, None]
        out["grad_dev"] = nan_median(dev.reshape(k, size, width), axis=1)
        zero = finite & (g == 0) & ~np.isnan(median)[:, None]
        zero_b = zero.reshape(k, size, width)
        nonzero_b = (positive & ~np.isnan(median)[:, None]).reshape(k, size, width)
        out["grad_zero"] = zero_b.any(axis=1) & ~nonzero_b.any(axis=1)
        valid = np.isfinite(r) & (r >= 0) & ~(p == 0)  # a layer whose params are all 0: skipped
        log_r = _log_or_nan(r, valid)
        out["ratio"] = nan_median(log_r.reshape(k, size, width), axis=1)
        has_lr = np.isfinite(lr) & (lr > 0)
        scale = np.where(has_lr, np.log(np.where(has_lr, peak / np.where(has_lr, lr, 1), 1)), 0.0)
        at_peak = log_r + scale[:, None]
        out["ratio_at_peak"] = nan_median(at_peak.reshape(k, size, width), axis=1)
        log_lr = np.where(has_lr, np.log(np.where(has_lr, lr, 1)), np.nan)
        per_lr = log_r - log_lr[:, None]
        out["ratio_per_lr"] = nan_median(per_lr.reshape(k, size, width), axis=1)
        u = stats["update_rms"]
        moved = np.isfinite(u) & (u > 0)
        log_u = _log_or_nan(u, moved)
        step_dev = log_u - self._cross_median(log_u, moved)[:, None]
        out["step_dev"] = nan_median(step_dev.reshape(k, size, width), axis=1)
        out["step_log"] = nan_median(log_u.reshape(k, size, width), axis=1)
        return out

    def _cross_median(self, logs: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Per row, the median over layers of `logs` (NaN with fewer than min_layers valid)."""
        least = self.config.grad.min_layers
        if logs.shape[1] < least:
            return np.full(len(logs), np.nan)
        return np.where(valid.sum(axis=1) >= least, nan_median(logs, axis=1), np.nan)

    # -- state ----------------------------------------------------------------------------

    def state_dict(self) -> dict:
        """Everything needed to resume; plain JSON types (non-finite floats as strings)."""
        return {
            "version": LAYER_STATE_VERSION,
            "config": self.config.to_dict(),
            "names": list(self.names),
            "last_step": self.last_step,
            "first_step": self.first_step,
            "lr": float_to_json(self.lr),
            "peak_lr": float_to_json(self.peak_lr),
            "prev_block_lr": float_to_json(self.prev_block_lr),
            "optimizer": self.optimizer,
            "blocks_done": self.blocks_done,
            "settled": self.settled,
            "grad": self.grad.layers.state_dict(),
            "grad_last_start": self.grad.starts.last,
            "ratio": self.ratio.layers.state_dict(),
            "ratio_blocks_done": self.ratio.blocks_done,
            "ratio_last_start": self.ratio.starts.last,
            "step": self.step.layers.state_dict(),
            "step_blocks_done": self.step.blocks_done,
            "step_last_start": self.step.starts.last,
            "partial": {
                "steps": self._partial_steps.tolist(),
                "lr": [float_to_json(x) for x in self._partial_lr.tolist()],
                "peak": [float_to_json(x) for x in self._partial_peak.tolist()],
                **{
                    k: [float_to_json(x) for x in a.ravel().tolist()]
                    for k, a in self._partial.items()
                },
            },
        }

    @classmethod
    def from_state(cls, d: Mapping) -> LayerDetectors:
        version = d.get("version")
        if version not in (1, LAYER_STATE_VERSION):
            raise ValueError(f"layer detector state version {version!r} is not supported")
        det = cls(LayerConfig.from_dict(d["config"]))
        det._add_names(list(d["names"]))
        width = len(det.names)
        det.last_step = int(d["last_step"])
        det.first_step = None if d["first_step"] is None else int(d["first_step"])
        det.lr, det.peak_lr = float_from_json(d["lr"]), float_from_json(d["peak_lr"])
        det.prev_block_lr = float_from_json(d["prev_block_lr"])
        det.optimizer = d["optimizer"]
        det.blocks_done, det.settled = int(d["blocks_done"]), bool(d["settled"])
        det.grad.layers.load_state_dict(d["grad"], width)
        det.grad.starts.last = int(d["grad_last_start"])
        det.ratio.layers.load_state_dict(d["ratio"], width)
        det.ratio.blocks_done = int(d["ratio_blocks_done"])
        det.ratio.starts.last = int(d["ratio_last_start"])
        if version >= 2:
            det.step.layers.load_state_dict(d["step"], width)
            det.step.blocks_done = int(d["step_blocks_done"])
            det.step.starts.last = int(d["step_last_start"])
        part = d["partial"]
        det._partial_steps = np.array(part["steps"], dtype=np.int64)
        det._partial_lr = np.array(floats_from_json(part["lr"]), dtype=np.float64)
        det._partial_peak = np.array(floats_from_json(part["peak"]), dtype=np.float64)
        rows = len(det._partial_steps)
        det._partial = {  # version 1 had no update_rms: a fresh step-size check, NaN rows
            k: np.array(floats_from_json(part[k]), dtype=np.float64).reshape(rows, width)
            if k in part
            else np.full((rows, width), np.nan)
            for k in STATS
        }
        return det
