"""One metric's downsampled series for many runs at once, for grouped comparisons.

`query_series` reads each (run, key) on its own: several statements per run, fine for the 24
runs of a compare view, not for 100 runs pooled into groups. This reads the same series (the
same extremes-preserving LOD levels and `downsample_minmax`) in a fixed number of statements
whatever the number of runs: the runs' summaries of the key, their first and last points, the
LOD buckets of every run that has a fitting level, and the raw points of the runs short
enough to be read whole. A whole run needs no raw edges (`query_series` reads them for a
range cut mid-bucket); its first and last points are added so that every run's series starts
and ends where the run does, which the grid and the wall-time origin depend on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select, text, tuple_
from sqlalchemy.orm import Session

from lionlab_server.db import is_postgres
from lionlab_server.models import MetricKey, MetricPoint, MetricSummary
from lionlab_server.store.downsample import LodRows, downsample_minmax, lod_candidates
from lionlab_server.store.lod import LOD_COLUMNS
from lionlab_server.store.pgbinary import fetch_packed
from lionlab_server.store.series import level_for


@dataclass(frozen=True)
class RunSeries:
    """One run's series of the key (sorted by step; NaN values kept) and its summary."""

    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray
    count: int
    last: float  # the last logged value (NaN if it was NaN)
    low: float | None  # least finite value, None when none was finite
    high: float | None


def read_group_series(
    session: Session, run_ids: list[int], key: str, points: int
) -> dict[int, RunSeries]:
    """Each run's series of `key` at about `points` points; runs that never logged it are
    left out. Visibility is the caller's (the route checks every run first)."""
    s = MetricSummary
    summaries = {
        row.run_id: row
        for row in session.execute(
            select(s.run_id, s.key_id, s.count, s.first_step, s.last_step)
            .add_columns(s.last_value, s.min_value, s.max_value)
            .join(MetricKey, MetricKey.id == s.key_id)
            .where(MetricKey.name == key, s.run_id.in_(run_ids), s.count > 0)
        )
    }
    if not summaries:
        return {}
    key_id = next(iter(summaries.values())).key_id
    n_buckets = max(1, (points - 2) // 2)
    levels: dict[int, int] = {}  # run -> LOD level read; runs not in it are read raw
    for rid, row in summaries.items():
        level = level_for((row.last_step - row.first_step + 1) / n_buckets)
        if level is not None and row.count > points:
            levels[rid] = level
    raw = _raw_points(session, key_id, [r for r in summaries if r not in levels])
    lod = _lod_points(session, key_id, levels)
    edges = _edge_points(session, key_id, summaries)
    out = {}
    for rid, row in summaries.items():
        steps, values, walls = raw.get(rid) or lod.get(rid) or _empty()
        if rid in levels:
            e = edges.get(rid, _empty())
            steps, values, walls = _merged((steps, values, walls), e)
            if len(steps) > points:
                keep = downsample_minmax(steps, values, row.first_step, row.last_step, n_buckets)
                steps, values, walls = steps[keep], values[keep], walls[keep]
        last = float("nan") if row.last_value is None else row.last_value
        out[rid] = RunSeries(steps, values, walls, row.count, last, row.min_value, row.max_value)
    return out


def _empty():
    return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)


def _merged(a, b):
    """Two sorted series as one, each step once (the edge points may be LOD extremes too)."""
    steps = np.concatenate([a[0], b[0]]).astype(np.int64)
    order = np.argsort(steps, kind="stable")
    steps = steps[order]
    unique = np.r_[True, steps[1:] != steps[:-1]] if len(steps) else np.zeros(0, bool)
    values = np.concatenate([a[1], b[1]])[order][unique]
    walls = np.concatenate([a[2], b[2]])[order][unique]
    return steps[unique], values, walls


def _split(run: np.ndarray, *columns: np.ndarray) -> dict[int, tuple]:
    """Columns of rows sorted by run, as run -> its own slices."""
    if not len(run):
        return {}
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]])
    ends = np.r_[starts[1:], len(run)]
    return {int(run[a]): tuple(c[a:b] for c in columns) for a, b in zip(starts, ends, strict=True)}


def _rows(session: Session, sql: str, params: dict, cols: list[tuple[str, str]]):
    """An ordered SELECT's columns as arrays: packed by Postgres (pgbinary.fetch_packed),
    tuples on SQLite. `cols` name the output columns with NULL already mapped away."""
    if is_postgres(session):
        return fetch_packed(session, sql, params, cols)
    names = ", ".join(expr for expr, _ in cols)
    rows = session.execute(text(f"SELECT {names} FROM ({sql}) AS rows"), params).all()
    return [np.array([r[i] for r in rows], dtype=kind) for i, (_, kind) in enumerate(cols)]


def _raw_points(session: Session, key_id: int, run_ids: list[int]) -> dict[int, tuple]:
    """Every point of the short runs, in one statement."""
    if not run_ids:
        return {}
    ids = ", ".join(str(int(r)) for r in run_ids)  # ints from the validated query
    sql = (
        "SELECT run_id, step, value, wall_time FROM metric_points "
        f"WHERE key_id = :key AND run_id IN ({ids}) ORDER BY run_id, step"
    )
    nan = "'NaN'::float8" if is_postgres(session) else "NULL"
    cols = [
        ("run_id", "i8"),
        ("step", "i8"),
        (f"coalesce(value, {nan})", "f8"),
        ("wall_time", "f8"),
    ]
    run, steps, values, walls = _rows(session, sql, {"key": key_id}, cols)
    values = values.astype(np.float64)  # SQLite: None -> NaN
    return _split(run, steps, values, walls)


def _lod_points(session: Session, key_id: int, levels: dict[int, int]) -> dict[int, tuple]:
    """The LOD candidates (each bucket's min, max and first NaN) of every run at its level,
    in one statement."""
    if not levels:
        return {}
    by_level: dict[int, list[int]] = {}
    for rid, level in levels.items():
        by_level.setdefault(level, []).append(rid)
    where = " OR ".join(
        f"(level = {int(lvl)} AND run_id IN ({', '.join(str(int(r)) for r in rids)}))"
        for lvl, rids in by_level.items()
    )
    sql = (
        f"SELECT run_id, bucket, {', '.join(LOD_COLUMNS)} FROM metric_lod "
        f"WHERE key_id = :key AND ({where}) ORDER BY run_id, bucket"
    )
    nan = "'NaN'::float8" if is_postgres(session) else "NULL"
    cols = [("run_id", "i8"), ("bucket", "i8"), ("n", "i8")] + [
        (f"coalesce(CAST({c} AS double precision), {nan})", "f8") for c in LOD_COLUMNS[1:]
    ]
    run, bucket, *rest = _rows(session, sql, {"key": key_id}, cols)
    out = {}
    for rid, (b, n, *fields) in _split(run, bucket, *rest).items():
        floats = {
            name: np.asarray(v, np.float64) for name, v in zip(LOD_COLUMNS[1:], fields, strict=True)
        }
        rows = LodRows(bucket=b.astype(np.int64), n=n.astype(np.int64), **floats)
        steps, values, walls, _ = lod_candidates(rows)
        out[rid] = (steps.astype(np.int64), values, walls)
    return out


def _edge_points(session: Session, key_id: int, summaries: dict) -> dict[int, tuple]:
    """Each run's first and last point, in one statement (primary-key lookups)."""
    pairs = [(rid, row.first_step) for rid, row in summaries.items()]
    pairs += [(rid, row.last_step) for rid, row in summaries.items()]
    p = MetricPoint
    rows = session.execute(
        select(p.run_id, p.step, p.value, p.wall_time)
        .where(p.key_id == key_id, tuple_(p.run_id, p.step).in_(pairs))
        .order_by(p.run_id, p.step)
    ).all()
    run = np.array([r[0] for r in rows], np.int64)
    steps = np.array([r[1] for r in rows], np.int64)
    values = np.array([np.nan if r[2] is None else r[2] for r in rows], np.float64)
    walls = np.array([r[3] for r in rows], np.float64)
    return _split(run, steps, values, walls)
