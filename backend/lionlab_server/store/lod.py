"""Level-of-detail store: per-bucket min/max/first-NaN points at widths 64, 512, ... steps.

Appends merge batch buckets into stored ones in SQL; overwrites recompute the touched buckets
level by level, each level from the one below it (64-step buckets from raw points).
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from lionlab_server.models import MetricLod
from lionlab_server.services.downsample import LOD_WIDTHS, LodRows, lod_buckets, lod_candidates
from lionlab_server.store.dialect import dialect_insert
from lionlab_server.store.points import read_points

_COLUMNS = (
    "n",
    "min_step",
    "min_value",
    "min_wall",
    "max_step",
    "max_value",
    "max_wall",
    "nan_step",
    "nan_wall",
)
_INT_COLUMNS = {"min_step", "max_step", "nan_step"}


def _records(run_id: int, key_id: int, level: int, rows: LodRows) -> list[dict]:
    """LodRows as insert parameters; NaN placeholders become NULL."""
    cols = {name: getattr(rows, name) for name in _COLUMNS}
    missing_min = np.isnan(rows.min_step)
    missing_nan = np.isnan(rows.nan_step)
    out = []
    for i, bucket in enumerate(rows.bucket.tolist()):
        rec = {
            "run_id": run_id,
            "key_id": key_id,
            "level": level,
            "bucket": bucket,
            "n": int(cols["n"][i]),
        }
        for name in _COLUMNS[1:]:
            empty = missing_nan[i] if name.startswith("nan") else missing_min[i]
            value = cols[name][i]
            rec[name] = None if empty else (int(value) if name in _INT_COLUMNS else float(value))
        out.append(rec)
    return out


def _merge_set(excluded) -> dict:
    """ON CONFLICT updates folding appended points (all later than stored ones) into a bucket."""
    t = MetricLod.__table__.c
    lower = and_(
        excluded.min_value.is_not(None),
        or_(t.min_value.is_(None), excluded.min_value < t.min_value),
    )
    higher = and_(
        excluded.max_value.is_not(None),
        or_(t.max_value.is_(None), excluded.max_value > t.max_value),
    )
    new = {}
    for side, better in (("min", lower), ("max", higher)):
        for part in ("step", "value", "wall"):
            col = f"{side}_{part}"
            new[col] = case((better, getattr(excluded, col)), else_=getattr(t, col))
    new["n"] = t.n + excluded.n
    new["nan_step"] = func.coalesce(t.nan_step, excluded.nan_step)
    new["nan_wall"] = case((t.nan_step.is_(None), excluded.nan_wall), else_=t.nan_wall)
    return new


def _upsert(session: Session, records: list[dict], merge: bool) -> None:
    if not records:
        return
    stmt = dialect_insert(session)(MetricLod)
    ex = stmt.excluded
    set_ = _merge_set(ex) if merge else {c: getattr(ex, c) for c in _COLUMNS}
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "key_id", "level", "bucket"], set_=set_
        ),
        records,
    )


def merge_appended(
    session: Session,
    run_id: int,
    key_id: int,
    steps: np.ndarray,
    values: np.ndarray,
    walls: np.ndarray,
) -> None:
    """Fold points that follow every stored point into each level's buckets."""
    records: list[dict] = []
    for level, width in LOD_WIDTHS.items():
        records += _records(run_id, key_id, level, lod_buckets(steps, values, walls, width))
    _upsert(session, records, merge=True)


def _ranges(buckets: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs [first, last] of sorted unique bucket numbers."""
    breaks = np.flatnonzero(np.diff(buckets) != 1)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(buckets) - 1]
    return [(int(buckets[a]), int(buckets[b])) for a, b in zip(starts, ends, strict=True)]


def recompute(session: Session, run_id: int, key_id: int, steps: np.ndarray) -> None:
    """Rebuild every level's buckets that contain any of `steps` from stored data."""
    width0 = LOD_WIDTHS[1]
    buckets = np.unique(steps // width0)
    for level, width in LOD_WIDTHS.items():
        if level > 1:
            buckets = np.unique(buckets // 8)
        parts = [
            _bucket_range(session, run_id, key_id, level, width, a, b) for a, b in _ranges(buckets)
        ]
        for rows in parts:
            _upsert(session, _records(run_id, key_id, level, rows), merge=False)


def _bucket_range(
    session: Session, run_id: int, key_id: int, level: int, width: int, first: int, last: int
) -> LodRows:
    """Buckets first..last of a level, aggregated from the level below (or raw points)."""
    if level == 1:
        steps, values, walls = read_points(
            session, run_id, key_id, first * width, (last + 1) * width - 1
        )
        return lod_buckets(steps, values, walls, width)
    child = read_lod(session, run_id, key_id, level - 1, first * 8, last * 8 + 7)
    steps, values, walls, weights = lod_candidates(child)
    return lod_buckets(steps, values, walls, width, weights)


def read_lod(
    session: Session, run_id: int, key_id: int, level: int, first: int, last: int
) -> LodRows:
    """Stored buckets first..last of one level, as columns (NULL -> NaN)."""
    t = MetricLod
    rows = session.execute(
        select(t.bucket, *(getattr(t, c) for c in _COLUMNS))
        .where(
            t.run_id == run_id, t.key_id == key_id, t.level == level, t.bucket.between(first, last)
        )
        .order_by(t.bucket)
    ).all()
    arr = np.array(rows, dtype=np.float64).reshape(len(rows), len(_COLUMNS) + 1)
    cols = {name: arr[:, i + 1] for i, name in enumerate(_COLUMNS)}
    cols["n"] = cols["n"].astype(np.int64)
    return LodRows(bucket=arr[:, 0].astype(np.int64), **cols)
