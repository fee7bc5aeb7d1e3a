"""Extreme-preserving downsampling and level-of-detail (LOD) buckets, in numpy.

Every function here keeps the minimum, the maximum and the first NaN of each bucket, so a
spike or a NaN that happened anywhere stays visible after downsampling; there is no stride or
random sampling anywhere. Inputs are sorted by step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Bucket widths of the LOD levels, in steps: level L holds buckets of 8**(L+1) steps.
LOD_WIDTHS: dict[int, int] = {level: 8 ** (level + 1) for level in range(1, 6)}  # 64 .. 262144


def _segment_starts(seg: np.ndarray) -> np.ndarray:
    """Start index of each run of equal values in a non-decreasing array."""
    return np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])


def _first_true(mask: np.ndarray, seg_of: np.ndarray, nseg: int) -> np.ndarray:
    """Per segment, the index of the first True in `mask`, or -1."""
    out = np.full(nseg, -1, dtype=np.int64)
    idx = np.flatnonzero(mask)
    segs, first = np.unique(seg_of[idx], return_index=True)
    out[segs] = idx[first]
    return out


@dataclass(frozen=True)
class Extremes:
    """Per segment of a sorted bucket array: first index, argmin, argmax, first NaN (-1: none)."""

    starts: np.ndarray
    imin: np.ndarray
    imax: np.ndarray
    inan: np.ndarray


def segment_extremes(seg: np.ndarray, values: np.ndarray) -> Extremes:
    """Argmin/argmax over non-NaN values and the first NaN, for each run of equal `seg`."""
    starts = _segment_starts(seg)
    nseg = len(starts)
    seg_of = np.repeat(np.arange(nseg), np.diff(np.r_[starts, len(seg)]))
    nan = np.isnan(values)
    lo = np.where(nan, np.inf, values)
    hi = np.where(nan, -np.inf, values)
    vmin = np.minimum.reduceat(lo, starts)
    vmax = np.maximum.reduceat(hi, starts)
    imin = _first_true((lo == vmin[seg_of]) & ~nan, seg_of, nseg)
    imax = _first_true((hi == vmax[seg_of]) & ~nan, seg_of, nseg)
    inan = _first_true(nan, seg_of, nseg)
    return Extremes(starts=starts, imin=imin, imax=imax, inan=inan)


def downsample_minmax(
    steps: np.ndarray, values: np.ndarray, start: int, end: int, n_buckets: int
) -> np.ndarray:
    """Indices to keep: first, last, and per equal-width step bucket the min, max, first NaN."""
    n = len(steps)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    span = max(end - start + 1, 1)
    seg = np.clip((steps - start) * n_buckets // span, 0, n_buckets - 1)
    ex = segment_extremes(seg, values)
    keep = np.concatenate(([0, n - 1], ex.imin, ex.imax, ex.inan))
    return np.unique(keep[keep >= 0])


@dataclass(frozen=True)
class LodRows:
    """LOD buckets of one level, as columns (NaN marks a missing min/max/nan point)."""

    bucket: np.ndarray
    n: np.ndarray
    min_step: np.ndarray
    min_value: np.ndarray
    min_wall: np.ndarray
    max_step: np.ndarray
    max_value: np.ndarray
    max_wall: np.ndarray
    nan_step: np.ndarray
    nan_wall: np.ndarray
    group: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.bucket)


def _pick(idx: np.ndarray, column: np.ndarray, fill: float = np.nan) -> np.ndarray:
    out = np.full(len(idx), fill, dtype=np.float64)
    ok = idx >= 0
    out[ok] = column[idx[ok]]
    return out


def _labels(buckets: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Non-decreasing segment labels: a new label wherever the bucket or the group changes."""
    change = buckets[1:] != buckets[:-1]
    if groups is not None:
        change |= groups[1:] != groups[:-1]
    return np.r_[0, np.cumsum(change)]


def lod_buckets(
    steps: np.ndarray,
    values: np.ndarray,
    walls: np.ndarray,
    width: int | np.ndarray,
    weights: np.ndarray | None = None,
    groups: np.ndarray | None = None,
) -> LodRows:
    """Aggregate points into LOD buckets of `width` steps (or a width per point).

    Points are sorted by step within each group (e.g. a metric key), groups contiguous;
    `LodRows.group` tells which group a bucket belongs to. `weights` is how many stored
    points each input stands for (1 for raw points; a child bucket's count when composing a
    coarser level from a finer one).
    """
    buckets = steps // width
    ex = segment_extremes(_labels(buckets, groups), values)
    if weights is None:
        weights = np.ones(len(steps), dtype=np.int64)
    fsteps = steps.astype(np.float64)
    return LodRows(
        bucket=buckets[ex.starts],
        n=np.add.reduceat(weights, ex.starts) if len(steps) else weights[:0],
        min_step=_pick(ex.imin, fsteps),
        min_value=_pick(ex.imin, values),
        min_wall=_pick(ex.imin, walls),
        max_step=_pick(ex.imax, fsteps),
        max_value=_pick(ex.imax, values),
        max_wall=_pick(ex.imax, walls),
        nan_step=_pick(ex.inan, fsteps),
        nan_wall=_pick(ex.inan, walls),
        group=None if groups is None else groups[ex.starts],
    )


def _candidates(rows: LodRows) -> tuple[np.ndarray, ...]:
    """(steps, values, walls, weights, groups) of the points LOD rows keep, ordered by group
    (when rows have groups) then step. Each bucket's count rides on exactly one of its
    points: the min point, or the NaN point of an all-NaN bucket."""
    has_min = ~np.isnan(rows.min_step)
    has_nan = ~np.isnan(rows.nan_step)
    groups = rows.group if rows.group is not None else np.zeros(len(rows), dtype=np.int64)
    parts = [
        (
            rows.min_step[has_min],
            rows.min_value[has_min],
            rows.min_wall[has_min],
            rows.n[has_min],
            groups[has_min],
        ),
        (
            rows.max_step[has_min],
            rows.max_value[has_min],
            rows.max_wall[has_min],
            np.zeros(int(has_min.sum()), dtype=np.int64),
            groups[has_min],
        ),
        (
            rows.nan_step[has_nan],
            np.full(int(has_nan.sum()), np.nan),
            rows.nan_wall[has_nan],
            np.where(has_min, 0, rows.n)[has_nan],
            groups[has_nan],
        ),
    ]
    cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    steps = cols[0].astype(np.int64)
    order = np.lexsort((steps, cols[4]))
    return (
        steps[order],
        cols[1][order],
        cols[2][order],
        cols[3][order].astype(np.int64),
        cols[4][order].astype(np.int64),
    )


def lod_candidates(rows: LodRows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The points one key's LOD rows keep (min, max, first NaN), sorted by step, with their
    weights; summing weights per coarser bucket gives that bucket's count."""
    return _candidates(rows)[:4]


def lod_coarser(rows: LodRows, width: int) -> LodRows:
    """A coarser level's buckets composed from a finer level's, per group: exact, because
    a coarse bucket's min/max/first NaN is among its fine buckets' ones."""
    steps, values, walls, weights, groups = _candidates(rows)
    return lod_buckets(
        steps,
        values,
        walls,
        width,
        weights=weights,
        groups=groups if rows.group is not None else None,
    )


def lod_levels(
    steps: np.ndarray, values: np.ndarray, walls: np.ndarray, groups: np.ndarray, widths: list[int]
) -> list[LodRows]:
    """Every LOD level of a batch, per group: the finest from the points, all coarser ones in
    one pass over the finest level's candidates (a pass costs numpy's per-call overhead,
    which dominates on batches this size)."""
    finest = lod_buckets(steps, values, walls, widths[0], groups=groups)
    c_steps, c_values, c_walls, c_weights, c_groups = _candidates(finest)
    n, coarse = len(c_steps), widths[1:]
    span = int(c_groups.max()) + 1 if n else 1
    level_of = np.repeat(np.arange(len(coarse)), n)
    rows = lod_buckets(
        np.tile(c_steps, len(coarse)),
        np.tile(c_values, len(coarse)),
        np.tile(c_walls, len(coarse)),
        np.repeat(np.asarray(coarse, dtype=np.int64), n),
        weights=np.tile(c_weights, len(coarse)),
        groups=level_of * span + np.tile(c_groups, len(coarse)),
    )
    out = [finest]
    for i in range(len(coarse)):
        mask = rows.group // span == i
        fields = {f: getattr(rows, f)[mask] for f in LodRows.__dataclass_fields__}
        fields["group"] = fields["group"] % span
        out.append(LodRows(**fields))
    return out
