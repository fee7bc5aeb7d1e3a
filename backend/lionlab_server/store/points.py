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


def read_points(session: Session, run_id: int, key_id: int, lo: int, hi: int) -> Arrays:
    """(steps, values, walls) of stored points with lo <= step <= hi, sorted by step."""
    if hi < lo:
        return EMPTY
    if is_postgres(session):
        return _pg_read(session, run_id, key_id, lo, hi)
    raw = session.connection().connection.driver_connection
    rows = raw.execute(
        "SELECT step, value, wall_time FROM metric_points "
        "WHERE run_id = ? AND key_id = ? AND step BETWEEN ? AND ? ORDER BY step",
        (run_id, key_id, lo, hi),
    ).fetchall()
    if not rows:
        return EMPTY
    arr = np.array(rows, dtype=np.float64)  # NULL (NaN on SQLite) becomes nan here
    return arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2]


def _pg_read(session: Session, run_id: int, key_id: int, lo: int, hi: int) -> Arrays:
    steps, values, walls = fetch_packed(
        session,
        "SELECT step, value, wall_time FROM metric_points WHERE run_id = :run AND key_id = :key"
        " AND step BETWEEN :lo AND :hi ORDER BY step",
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
