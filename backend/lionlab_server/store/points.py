"""Reads of stored metric points: ranges, edge points and whole-series statistics."""

from __future__ import annotations

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from lionlab_server.db import is_postgres
from lionlab_server.models import MetricPoint
from lionlab_server.store.dialect import is_nan
from lionlab_server.store.pgbinary import fetch_packed

EMPTY = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def read_points(
    session: Session, run_id: int, key_id: int, lo: int, hi: int, limit: int | None = None
) -> Arrays:
    """(steps, values, walls) of stored points with lo <= step <= hi, sorted by step; the
    first `limit` of them when given."""
    if hi < lo:
        return EMPTY
    hi = min(hi, 2**63 - 1)
    if is_postgres(session):
        return _pg_read(session, run_id, key_id, lo, hi, limit)
    raw = session.connection().connection.driver_connection
    rows = raw.execute(
        "SELECT step, value, wall_time FROM metric_points "
        "WHERE run_id = ? AND key_id = ? AND step BETWEEN ? AND ? ORDER BY step LIMIT ?",
        (run_id, key_id, lo, hi, -1 if limit is None else limit),
    ).fetchall()
    if not rows:
        return EMPTY
    arr = np.array(rows, dtype=np.float64)  # NULL (NaN on SQLite) becomes nan here
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2]


def _pg_read(
    session: Session, run_id: int, key_id: int, lo: int, hi: int, limit: int | None
) -> Arrays:
    steps, values, walls = fetch_packed(
        session,
        "SELECT step, value, wall_time FROM metric_points WHERE run_id = :run AND key_id = :key"
        " AND step BETWEEN :lo AND :hi ORDER BY step"
        + ("" if limit is None else f" LIMIT {int(limit)}"),
        {"run": run_id, "key": key_id, "lo": lo, "hi": hi},
        [("step", "i8"), ("value", "f8"), ("wall_time", "f8")],
    )
    return in_step_order(steps, values, walls)


def in_step_order(steps: np.ndarray, *columns: np.ndarray) -> Arrays:
    """The columns sorted by step (a no-op check when they already are)."""
    if len(steps) > 1 and (np.diff(steps) <= 0).any():
        order = np.argsort(steps, kind="stable")
        return (steps[order], *(c[order] for c in columns))
    return (steps, *columns)


# Per equal-width step bucket of [lo, hi]: the min and the max point (non-NaN; SQLite stores
# NaN as NULL) and the first NaN. With one min() or max() aggregate, SQLite takes the bare
# columns from the row that holds it, the first such row on a tie (downsample_minmax's rule).
_BUCKET_SQL = (
    "SELECT {agg}, step, value, wall_time, count(*) FROM metric_points "
    "WHERE run_id = ? AND key_id = ? AND step BETWEEN ? AND ? AND value IS {null} "
    "GROUP BY (step - ?) * ? / ?"
)
_BUCKET_QUERIES = (
    _BUCKET_SQL.format(agg="min(value)", null="NOT NULL"),
    _BUCKET_SQL.format(agg="max(value)", null="NOT NULL"),
    _BUCKET_SQL.format(agg="min(step)", null="NULL"),
)


def sqlite_bucket_extremes(
    session: Session, run_id: int, key_id: int, lo: int, hi: int, n_buckets: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """The points downsample_minmax keeps of [lo, hi] (each bucket's min, max and first
    NaN, and the range's first and last points), sorted by step, and how many the range holds.

    SQLite groups the range in C, so only the kept rows become Python objects: a raw read
    builds a tuple per stored point while holding the interpreter lock the server's metric
    writer waits for.
    """
    raw = session.connection().connection.driver_connection
    span = hi - lo + 1
    params = (run_id, key_id, lo, hi, lo, n_buckets, span)
    parts, total = [], 0
    for i, sql in enumerate(_BUCKET_QUERIES):
        rows = raw.execute(sql, params).fetchall()
        if rows:
            arr = np.array([r[1:] for r in rows], dtype=np.float64)  # NULL value -> nan
            parts.append(arr[:, :3])
            total += int(arr[:, 3].sum()) if i != 1 else 0  # min and NaN rows count each once
    steps, values, walls = edge_points(session, run_id, key_id, lo, hi)
    parts.append(np.column_stack([steps, values, walls]))
    kept = np.concatenate(parts)
    order = np.argsort(kept[:, 0], kind="stable")
    kept = kept[order]
    unique = np.r_[True, kept[1:, 0] != kept[:-1, 0]]
    kept = kept[unique]
    return kept[:, 0].astype(np.int64), kept[:, 1], kept[:, 2], total


def edge_points(session: Session, run_id: int, key_id: int, lo: int, hi: int) -> Arrays:
    """The first and last stored points in [lo, hi] (fewer if the range holds fewer)."""
    where = (
        MetricPoint.run_id == run_id,
        MetricPoint.key_id == key_id,
        MetricPoint.step.between(lo, hi),
    )
    cols = (MetricPoint.step, MetricPoint.value, MetricPoint.wall_time)
    rows = []
    for order in (MetricPoint.step.asc(), MetricPoint.step.desc()):
        row = session.execute(select(*cols).where(*where).order_by(order).limit(1)).first()
        if row is not None:
            rows.append(row)
    if not rows:
        return EMPTY
    arr = np.array([tuple(r) for r in rows], dtype=np.float64)
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2]


def summary_from_points(session: Session, run_id: int, key_id: int) -> dict:
    """Summary fields (count, first/last step, last, min, max, nan_count) from stored points."""
    p = MetricPoint
    nan = is_nan(session, p.value)
    non_nan = case((nan, None), else_=p.value)
    row = session.execute(
        select(
            func.count(),
            func.min(p.step),
            func.max(p.step),
            func.min(non_nan),
            func.max(non_nan),
            func.sum(case((nan, 1), else_=0)),
        ).where(p.run_id == run_id, p.key_id == key_id)
    ).one()
    count, first, last, lo, hi, nans = row
    last_value = session.scalar(
        select(p.value).where(p.run_id == run_id, p.key_id == key_id, p.step == last)
    )
    return {
        "count": count,
        "first_step": first,
        "last_step": last,
        "min_value": lo,
        "max_value": hi,
        "nan_count": int(nans or 0),
        "last_value": last_value,
    }
