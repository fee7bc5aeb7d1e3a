"""Per-layer statistics: storage, level of detail, and the distribution view's read.

A run logs, every N steps, one value per layer (parameter tensor or group) of each statistic
in STATS. At 1,000 layers x 100,000 steps a row per value would be 1e8 rows per statistic
(~40 bytes each with its key, plus the index); here a row is one step of one statistic, its
layers as a float32 vector (4 bytes a value) with the step's percentiles across layers.
Layer names are columns numbered per run in `layer_names`; a batch may add layers, and
vectors stored before that are read padded with NaN (not logged).

Level of detail, as for metrics: buckets of 16, 256, 4096 and 65536 steps hold each layer's
min and max and each percentile's min and max over the bucket, so the view of a 1e5-step run
reads a few hundred rows at most. Every write recomputes the buckets it touches level by level
(16-step buckets from the stored vectors, each coarser level from the 16 below it), which is
right for appends and for re-sent steps alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from lionlab_server.errors import InputError
from lionlab_server.models import LayerLod, LayerName, LayerStat
from lionlab_server.store.dialect import dialect_insert

STATS = ("grad_norm", "param_norm", "update_ratio", "update_rms")  # ids are positions
STAT_IDS = {name: i for i, name in enumerate(STATS)}
PERCENTILES = (0, 7, 16, 50, 84, 93, 100)  # TensorBoard's distribution bands
FACTOR = 16
LEVELS = (1, 2, 3, 4)  # bucket widths 16, 256, 4096, 65536 steps
MAX_LAYERS = 10_000
F32 = np.dtype("<f4")


def _vec(blob: bytes, width: int) -> np.ndarray:
    v = np.frombuffer(blob, dtype=F32)
    if len(v) == width:
        return v
    out = np.full(width, np.nan, dtype=F32)  # layers added after this row was stored
    out[: len(v)] = v
    return out


def _matrix(blobs: list[bytes], width: int) -> np.ndarray:
    if not blobs:
        return np.zeros((0, width), dtype=F32)
    if all(len(b) == 4 * width for b in blobs):
        return np.frombuffer(b"".join(blobs), dtype=F32).reshape(len(blobs), width)
    return np.stack([_vec(b, width) for b in blobs])


def percentiles(values: np.ndarray) -> np.ndarray:
    """(n, len(PERCENTILES)) float32: each row's percentiles over its finite values (NaN for
    a row with none), by the nearest-rank rule on the sorted row."""
    n, width = values.shape
    rows = np.where(np.isfinite(values), values, np.inf).astype(np.float64)
    rows.sort(axis=1)  # non-finite values last
    finite = np.isfinite(values).sum(axis=1)
    out = np.full((n, len(PERCENTILES)), np.nan, dtype=F32)
    some = finite > 0
    if some.any():
        last = finite[some] - 1
        for j, q in enumerate(PERCENTILES):
            rank = np.rint(last * (q / 100.0)).astype(np.int64)
            out[some, j] = rows[np.flatnonzero(some), rank]
    return out


def names(session: Session, run_id: int) -> list[str]:
    rows = session.execute(
        select(LayerName.name).where(LayerName.run_id == run_id).order_by(LayerName.idx)
    )
    return list(rows.scalars())


def logged_stats(session: Session, run_id: int) -> list[str]:
    """The statistics a run has stored vectors of, in STATS order."""
    rows = session.execute(
        select(LayerLod.stat)
        .where(LayerLod.run_id == run_id, LayerLod.level == LEVELS[-1])
        .distinct()
    )
    have = set(rows.scalars())
    return [name for name in STATS if STAT_IDS[name] in have]


def columns_for(session: Session, run_id: int, given: list[str]) -> tuple[np.ndarray, int]:
    """(the run's column of each given name, adding new names at the end; the run's width).
    Refuses a run that would pass MAX_LAYERS."""
    known = {name: i for i, name in enumerate(names(session, run_id))}
    new = [n for n in given if n not in known]
    if len(known) + len(new) > MAX_LAYERS:
        raise InputError(
            ("body", "names"),
            f"a run holds at most {MAX_LAYERS} layers; group parameters (watch(group=...))",
        )
    if new:
        start = len(known)
        session.execute(
            dialect_insert(session)(LayerName),
            [{"run_id": run_id, "idx": start + i, "name": n} for i, n in enumerate(new)],
        )
        known.update({n: start + i for i, n in enumerate(new)})
    return np.array([known[n] for n in given], dtype=np.int64), len(known)


def write(
    session: Session,
    run_id: int,
    layer_names: list[str],
    steps: np.ndarray,
    stats: dict[str, np.ndarray],
) -> int:
    """Store a validated batch (steps sorted and unique, each stat (n, layers)); returns the
    values written. In the caller's write transaction."""
    cols, width = columns_for(session, run_id, layer_names)
    written = 0
    for name, values in stats.items():
        stat = STAT_IDS[name]
        full = np.full((len(steps), width), np.nan, dtype=F32)
        full[:, cols] = values
        pcts = percentiles(full)
        insert = dialect_insert(session)(LayerStat)
        insert = insert.on_conflict_do_update(
            index_elements=["run_id", "stat", "step"],
            set_={"vals": insert.excluded.vals, "pcts": insert.excluded.pcts},
        )
        session.execute(
            insert,
            [
                {"run_id": run_id, "stat": stat, "step": int(s), "vals": v.tobytes(), "pcts": p}
                for s, v, p in zip(steps, full, map(np.ndarray.tobytes, pcts), strict=True)
            ],
        )
        _rebuild_lod(session, run_id, stat, steps, width)
        written += values.size
    return written


@dataclass
class _Buckets:
    """Buckets of one level, in bucket order."""

    bucket: np.ndarray
    rows: np.ndarray
    first: np.ndarray
    last: np.ndarray
    lo: np.ndarray | None  # (buckets, width); None where not read (the view)
    hi: np.ndarray
    pct_lo: np.ndarray  # (buckets, len(PERCENTILES))
    pct_hi: np.ndarray


def _reduce(
    keys: np.ndarray,
    rows: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    lo: np.ndarray | None,
    hi: np.ndarray,
    pct_lo: np.ndarray,
    pct_hi: np.ndarray,
) -> _Buckets:
    """Group consecutive entries with equal `keys` (sorted) into buckets: sums, extremes.
    fmin / fmax pass over NaN (a column that is NaN throughout a bucket stays NaN), so one
    reduceat per array does it. `lo` None: not wanted (the view draws only the highs)."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lo_ = None if lo is None else np.fmin.reduceat(lo, starts, axis=0)
    hi_ = np.fmax.reduceat(hi, starts, axis=0)
    plo, phi = np.fmin.reduceat(pct_lo, starts, axis=0), np.fmax.reduceat(pct_hi, starts, axis=0)
    return _Buckets(
        keys[starts],
        np.add.reduceat(rows, starts),
        first[starts],
        np.maximum.reduceat(last, starts),
        lo_,
        hi_,
        plo,
        phi,
    )


def _rebuild_lod(session: Session, run_id: int, stat: int, steps: np.ndarray, width: int) -> None:
    touched = np.unique(steps // FACTOR)
    for level in LEVELS:
        w = FACTOR**level
        if level == 1:
            spans = [(int(b) * w, int(b) * w + w - 1) for b in touched]
            children = _raw_children(session, run_id, stat, spans, width)
        else:
            touched = np.unique(touched // FACTOR)
            children = _lod_children(session, run_id, stat, level - 1, touched, width)
        keys = children.first // w
        built = _reduce(
            keys,
            children.rows,
            children.first,
            children.last,
            children.lo,
            children.hi,
            children.pct_lo,
            children.pct_hi,
        )
        _save_buckets(session, run_id, stat, level, built)


def _stored(session, run_id, stat, lo_step, hi_step, width) -> _Buckets:
    """The stored vectors of steps lo_step..hi_step, each a bucket of its own."""
    rows = session.execute(
        select(LayerStat.step, LayerStat.vals, LayerStat.pcts)
        .where(
            LayerStat.run_id == run_id,
            LayerStat.stat == stat,
            LayerStat.step.between(lo_step, hi_step),
        )
        .order_by(LayerStat.step)
    ).all()
    step = np.array([r[0] for r in rows], dtype=np.int64)
    vals = _matrix([r[1] for r in rows], width)
    pcts = _matrix([r[2] for r in rows], len(PERCENTILES))
    return _Buckets(step, np.ones(len(rows), np.int64), step, step, vals, vals, pcts, pcts)


def _lod(session, run_id, stat, level, lo_bucket, hi_bucket, width, lows=True) -> _Buckets:
    """The level-`level` buckets lo_bucket..hi_bucket (`lows` False: without the per-layer
    lows, half the bytes, which the view does not draw)."""
    rows = session.execute(
        select(
            LayerLod.bucket,
            LayerLod.rows,
            LayerLod.first_step,
            LayerLod.last_step,
            LayerLod.lo if lows else literal(None),
            LayerLod.hi,
            LayerLod.pct_lo,
            LayerLod.pct_hi,
        )
        .where(
            LayerLod.run_id == run_id,
            LayerLod.stat == stat,
            LayerLod.level == level,
            LayerLod.bucket.between(lo_bucket, hi_bucket),
        )
        .order_by(LayerLod.bucket)
    ).all()
    return _from_rows(rows, width)


def _select(b: _Buckets, keep: np.ndarray) -> _Buckets:
    return _Buckets(*(getattr(b, f)[keep] for f in _Buckets.__dataclass_fields__))


def _raw_children(session, run_id, stat, spans, width) -> _Buckets:
    """The stored vectors inside the 16-step `spans`."""
    b = _stored(session, run_id, stat, spans[0][0], spans[-1][1], width)
    wanted = np.array([lo for lo, _ in spans], dtype=np.int64)
    return _select(b, np.isin((b.first // FACTOR) * FACTOR, wanted))


def _lod_children(session, run_id, stat, level, parents, width) -> _Buckets:
    """The level-`level` buckets under `parents` (buckets of the next level up)."""
    lo_b, hi_b = int(parents[0]) * FACTOR, int(parents[-1]) * FACTOR + FACTOR - 1
    b = _lod(session, run_id, stat, level, lo_b, hi_b, width)
    return _select(b, np.isin(b.bucket // FACTOR, parents))


def _from_rows(rows, width) -> _Buckets:
    k = len(PERCENTILES)
    return _Buckets(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.int64),
        np.array([r[3] for r in rows], dtype=np.int64),
        None if rows and rows[0][4] is None else _matrix([r[4] for r in rows], width),
        _matrix([r[5] for r in rows], width),
        _matrix([r[6] for r in rows], k),
        _matrix([r[7] for r in rows], k),
    )


def _save_buckets(session, run_id, stat, level, b: _Buckets) -> None:
    if not len(b.bucket):
        return
    insert = dialect_insert(session)(LayerLod)
    fields = ("rows", "first_step", "last_step", "lo", "hi", "pct_lo", "pct_hi")
    insert = insert.on_conflict_do_update(
        index_elements=["run_id", "stat", "level", "bucket"],
        set_={f: getattr(insert.excluded, f) for f in fields},
    )
    session.execute(
        insert,
        [
            {
                "run_id": run_id,
                "stat": stat,
                "level": level,
                "bucket": int(b.bucket[i]),
                "rows": int(b.rows[i]),
                "first_step": int(b.first[i]),
                "last_step": int(b.last[i]),
                "lo": b.lo[i].astype(F32).tobytes(),
                "hi": b.hi[i].astype(F32).tobytes(),
                "pct_lo": b.pct_lo[i].astype(F32).tobytes(),
                "pct_hi": b.pct_hi[i].astype(F32).tobytes(),
            }
            for i in range(len(b.bucket))
        ],
    )


@dataclass
class LayerView:
    names: list[str]
    level: int  # 0: stored vectors; else the LOD level read
    rows: int  # stored vectors the view covers
    band_first: np.ndarray
    band_last: np.ndarray
    pct_lo: np.ndarray  # (columns, len(PERCENTILES)): each band's lowest in the column
    pct_hi: np.ndarray  # ... and highest
    heat_first: np.ndarray
    heat_last: np.ndarray
    heat: np.ndarray  # (heat columns, layers): each layer's largest value in the column


def _group(b: _Buckets, columns: int) -> _Buckets:
    """At most `columns` columns, each joining consecutive entries (extremes kept; the
    per-layer lows are left out: the view draws the highs and the percentile bands)."""
    n = len(b.first)
    if n <= columns:
        return b
    per = -(-n // columns)
    keys = np.arange(n) // per
    return _reduce(keys, b.rows, b.first, b.last, None, b.hi, b.pct_lo, b.pct_hi)


def view(
    session: Session,
    run_id: int,
    stat: str,
    start: int | None,
    end: int | None,
    points: int,
    heat_points: int,
) -> LayerView:
    """The distribution view of one statistic over [start, end]: percentile bands in at most
    `points` columns and a layers x steps heatmap in at most `heat_points` columns."""
    layer_names = names(session, run_id)
    width = len(layer_names)
    sid = STAT_IDS[stat]
    lo_step, hi_step = start or 0, end if end is not None else 2**62
    chosen = _choose_level(session, run_id, sid, lo_step, hi_step, points)
    if chosen == 0:
        b = _stored(session, run_id, sid, lo_step, hi_step, width)
    else:
        w = FACTOR**chosen
        b = _lod(session, run_id, sid, chosen, lo_step // w, hi_step // w, width, lows=False)
    bands, heat = _group(b, points), _group(b, heat_points)
    return LayerView(
        layer_names,
        chosen,
        int(b.rows.sum()),
        bands.first,
        bands.last,
        bands.pct_lo,
        bands.pct_hi,
        heat.first,
        heat.last,
        heat.hi,
    )


def _choose_level(session, run_id, stat, lo_step, hi_step, points) -> int:
    """The finest level whose buckets in range number at most 4x `points` (0: the stored
    vectors, when they number at most that)."""
    limit = 4 * points
    for level in LEVELS:
        w = FACTOR**level
        count, rows = session.execute(
            select(func.count(), func.coalesce(func.sum(LayerLod.rows), 0)).where(
                LayerLod.run_id == run_id,
                LayerLod.stat == stat,
                LayerLod.level == level,
                LayerLod.bucket.between(lo_step // w, hi_step // w),
            )
        ).one()
        if level == 1 and rows <= limit:
            return 0
        if count <= limit:
            return level
    return LEVELS[-1]
