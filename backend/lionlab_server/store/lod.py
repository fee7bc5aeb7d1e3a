"""Level-of-detail store: per-bucket min/max/first-NaN points at widths 64, 512, ... steps.

Appends merge batch buckets into stored ones in SQL; overwrites recompute the touched buckets
level by level, each level from the one below it (64-step buckets from raw points).
On Postgres the buckets travel by binary COPY into a per-connection staging table and are
merged by one INSERT ... SELECT; adapting them as Python parameters cost 3x the database work.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from sqlalchemy import and_, bindparam, case, column, func, literal_column, or_, select, table, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lionlab_server.db import is_postgres
from lionlab_server.models import MetricLod
from lionlab_server.store.downsample import (
    LOD_WIDTHS,
    LodRows,
    lod_buckets,
    lod_coarser,
    lod_levels,
)
from lionlab_server.store.pgbinary import encode_rows, fetch_packed, stage_cursor
from lionlab_server.store.points import in_step_order, read_points

_KEY = ("run_id", "key_id", "level", "bucket")
# A bucket's columns, as metric_lod stores them (group_series.py reads them too).
LOD_COLUMNS = (
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
_ALL = _KEY + LOD_COLUMNS
# Staging rows carry no NULLs: a missing step is -1 and a missing value NaN (never a stored
# min/max), turned back into NULL by NULLIF on the way into metric_lod.
_STAGE = table("metric_lod_stage", *(column(c) for c in _ALL))


@dataclass(frozen=True)
class LodBatch:
    """Buckets of several keys and levels for one run."""

    key_ids: np.ndarray
    levels: np.ndarray
    rows: LodRows

    @staticmethod
    def concat(parts: list[LodBatch]) -> LodBatch:
        rows = LodRows(
            **{
                f: np.concatenate([getattr(p.rows, f) for p in parts])
                for f in ("bucket",) + LOD_COLUMNS
            }
        )
        return LodBatch(
            np.concatenate([p.key_ids for p in parts]),
            np.concatenate([p.levels for p in parts]),
            rows,
        )


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


def _on_conflict(stmt, merge: bool):
    ex = stmt.excluded
    set_ = _merge_set(ex) if merge else {c: getattr(ex, c) for c in LOD_COLUMNS}
    return stmt.on_conflict_do_update(index_elements=list(_KEY), set_=set_)


@functools.cache
def _pg_merge_sql(merge: bool) -> str:
    """INSERT ... SELECT from the stage ... ON CONFLICT, compiled once to SQL text: building
    the statement per batch cost more than the database spent running it."""
    s = _STAGE.c
    nulled = [
        func.nullif(s[c], literal_column("-1" if c.endswith("_step") else "'NaN'::float8"))
        if c in LOD_COLUMNS[1:]
        else s[c]
        for c in _ALL
    ]
    stmt = postgresql.insert(MetricLod).from_select(list(_ALL), select(*nulled))
    return str(_on_conflict(stmt, merge).compile(dialect=postgresql.dialect()))


def _pg_write(session: Session, run_id: int, batch: LodBatch, merge: bool) -> None:
    r, n = batch.rows, len(batch.rows)

    def steps(a):
        return np.where(np.isnan(a), -1, a).astype(np.int64)

    data = encode_rows(
        [
            np.full(n, run_id, np.int32),
            batch.key_ids.astype(np.int32),
            batch.levels.astype(np.int16),
            r.bucket.astype(np.int64),
            r.n.astype(np.int32),
            steps(r.min_step),
            r.min_value,
            r.min_wall,
            steps(r.max_step),
            r.max_value,
            r.max_wall,
            steps(r.nan_step),
            r.nan_wall,
        ]
    )
    cursor = stage_cursor(session, "metric_lod_stage", "metric_lod")
    if not merge:
        # A recompute may follow this transaction's merge (ingest_points merges first) and
        # writes level after level: start from an empty stage. A merge runs once, first, on
        # the stage that the last commit emptied.
        cursor.execute("DELETE FROM metric_lod_stage")
    with cursor.copy("COPY metric_lod_stage FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(data)
    cursor.execute(_pg_merge_sql(merge))


@functools.cache
def _sqlite_upsert(merge: bool, rows: int) -> tuple[str, tuple[str, ...]]:
    """SQL text and parameter order of a `rows`-row INSERT ... ON CONFLICT, compiled once per
    size. Building the statement per batch cost more than SQLite spent on it, and executemany
    steps SQLite (handing the GIL over) once per row: under SQLite's single writer both are
    waits for every other batch."""
    values = [{c: bindparam(f"{c}_{i}") for c in _ALL} for i in range(rows)]
    stmt = _on_conflict(sqlite.insert(MetricLod).values(values), merge)
    compiled = stmt.compile(dialect=sqlite.dialect())
    return compiled.string, tuple(compiled.positiontup)


_SQLITE_ROWS_PER_INSERT = 999 // len(_ALL)  # within the parameters every SQLite build allows


def _sqlite_write(session: Session, run_id: int, batch: LodBatch, merge: bool) -> None:
    r = batch.rows
    missing_min, missing_nan = np.isnan(r.min_step), np.isnan(r.nan_step)
    records = []
    for i in range(len(r)):
        rec = {
            "run_id": run_id,
            "key_id": int(batch.key_ids[i]),
            "level": int(batch.levels[i]),
            "bucket": int(r.bucket[i]),
            "n": int(r.n[i]),
        }
        for c in LOD_COLUMNS[1:]:
            empty = missing_nan[i] if c.startswith("nan") else missing_min[i]
            value = getattr(r, c)[i]
            rec[c] = None if empty else (int(value) if c.endswith("_step") else float(value))
        records.append(rec)
    raw = session.connection().connection.driver_connection
    for start in range(0, len(records), _SQLITE_ROWS_PER_INSERT):
        chunk = records[start : start + _SQLITE_ROWS_PER_INSERT]
        sql, order = _sqlite_upsert(merge, len(chunk))
        named = {f"{c}_{i}": rec[c] for i, rec in enumerate(chunk) for c in _ALL}
        raw.execute(sql, [named[name] for name in order])


def _write(session: Session, run_id: int, batch: LodBatch, merge: bool) -> None:
    if len(batch.rows):
        (_pg_write if is_postgres(session) else _sqlite_write)(session, run_id, batch, merge)


def merge_appended(
    session: Session, run_id: int, series: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]
) -> None:
    """Fold appended points (each key's steps all past its stored ones) into every level.

    `series` holds (key_id, steps, values, walls) per key.
    """
    key_ids = np.concatenate([np.full(len(s[1]), s[0]) for s in series])
    steps, values, walls = (np.concatenate([s[i] for s in series]) for i in (1, 2, 3))
    levels = lod_levels(steps, values, walls, key_ids, list(LOD_WIDTHS.values()))
    parts = [
        LodBatch(rows.group, np.full(len(rows), level), rows)
        for level, rows in zip(LOD_WIDTHS, levels, strict=True)
    ]
    _write(session, run_id, LodBatch.concat(parts), merge=True)


def _ranges(buckets: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs [first, last] of sorted unique bucket numbers."""
    breaks = np.flatnonzero(np.diff(buckets) != 1)
    starts = np.r_[0, breaks + 1]
    ends = np.r_[breaks, len(buckets) - 1]
    return [(int(buckets[a]), int(buckets[b])) for a, b in zip(starts, ends, strict=True)]


def recompute(session: Session, run_id: int, key_id: int, steps: np.ndarray) -> None:
    """Rebuild every level's buckets that contain any of `steps` from stored data."""
    buckets = np.unique(steps // LOD_WIDTHS[1])
    for level, width in LOD_WIDTHS.items():
        if level > 1:
            buckets = np.unique(buckets // 8)
        for first, last in _ranges(buckets):
            rows = _bucket_range(session, run_id, key_id, level, width, first, last)
            batch = LodBatch(np.full(len(rows), key_id), np.full(len(rows), level), rows)
            _write(session, run_id, batch, merge=False)


def _bucket_range(
    session: Session, run_id: int, key_id: int, level: int, width: int, first: int, last: int
) -> LodRows:
    """Buckets first..last of a level, aggregated from the level below (or raw points)."""
    if level == 1:
        steps, values, walls = read_points(
            session, run_id, key_id, first * width, (last + 1) * width - 1
        )
        return lod_buckets(steps, values, walls, width)
    return lod_coarser(read_lod(session, run_id, key_id, level - 1, first * 8, last * 8 + 7), width)


def read_lod(
    session: Session, run_id: int, key_id: int, level: int, first: int, last: int
) -> LodRows:
    """Stored buckets first..last of one level, as columns (NULL -> NaN)."""
    params = {"run": run_id, "key": key_id, "level": level, "first": first, "last": last}
    where = "run_id = :run AND key_id = :key AND level = :level AND bucket BETWEEN :first AND :last"
    if is_postgres(session):
        # NULL -> NaN as float8, so every row packs to the same width (pgbinary.fetch_packed).
        select_sql = (
            f"SELECT bucket, {', '.join(LOD_COLUMNS)} FROM metric_lod WHERE {where} ORDER BY bucket"
        )
        cols = [("bucket", "i8"), ("n", "i8")] + [
            (f"coalesce({c}::float8, 'NaN')", "f8") for c in LOD_COLUMNS[1:]
        ]
        bucket, *rest = in_step_order(*fetch_packed(session, select_sql, params, cols))
        arr = (
            np.column_stack([bucket.astype(np.float64), *rest])
            if len(bucket)
            else np.zeros((0, len(LOD_COLUMNS) + 1))
        )
    else:
        rows = session.execute(
            text(
                f"SELECT bucket, {', '.join(LOD_COLUMNS)} FROM metric_lod WHERE {where} "
                "ORDER BY bucket"
            ),
            params,
        ).all()
        arr = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(
            len(rows), len(LOD_COLUMNS) + 1
        )
    cols = {name: arr[:, i + 1] for i, name in enumerate(LOD_COLUMNS)}
    cols["n"] = cols["n"].astype(np.int64)
    return LodRows(bucket=arr[:, 0].astype(np.int64), **cols)
