"""Series queries: per (run, key), at most about `max_points` points, extremes preserved.

A range holding at most max_points points is read raw. A longer one reads the coarsest LOD
level whose buckets are at most LOD_STRETCH times as wide as the output buckets (so it reads
about max_points rows however long the run is), raw points for the partial buckets at both
ends, and the first and last points, then keeps min/max (and the first NaN) per output
bucket. A range too short for any LOD level is bucketed from raw points: by SQLite itself
(store/points.sqlite_bucket_extremes), or in numpy after Postgres's binary COPY.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from lionlab_server import schemas
from lionlab_server.db import is_postgres
from lionlab_server.models import MetricKey, MetricSummary
from lionlab_server.store.downsample import LOD_WIDTHS, downsample_minmax, lod_candidates
from lionlab_server.store.lod import read_lod
from lionlab_server.store.points import edge_points, read_points, sqlite_bucket_extremes
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope


@dataclass(frozen=True)
class SeriesData:
    run_id: int
    key: str
    steps: np.ndarray
    values: np.ndarray
    walls: np.ndarray
    points_in_range: int
    downsampled: bool


# A level whose buckets are up to this many times wider than the output buckets still serves:
# the chart gets at least 1/LOD_STRETCH of the points it asked for, each bucket's extremes
# among them, from up to 8x fewer rows than the next finer level (or the raw points) holds.
LOD_STRETCH = 2


def level_for(bucket_width: float) -> int | None:
    """The coarsest LOD level with buckets at most LOD_STRETCH x `bucket_width` steps wide."""
    fitting = [lvl for lvl, w in LOD_WIDTHS.items() if w <= LOD_STRETCH * bucket_width]
    return max(fitting) if fitting else None


def query_series(
    session: Session,
    scope: Scope,
    run_ids: list[int],
    keys: list[str],
    max_points: int,
    start: int | None = None,
    end: int | None = None,
) -> list[SeriesData]:
    """Downsampled series for every (run, key) pair; pairs never logged come back empty."""
    for run_id in run_ids:
        visible_run(session, scope, run_id)  # NotFound outside the scope
    key_ids = dict(
        session.execute(select(MetricKey.name, MetricKey.id).where(MetricKey.name.in_(keys))).all()
    )
    summaries = {
        (s.run_id, s.key_id): s
        for s in session.scalars(
            select(MetricSummary).where(
                MetricSummary.run_id.in_(run_ids), MetricSummary.key_id.in_(key_ids.values())
            )
        )
    }
    out = []
    for run_id in run_ids:
        for key in keys:
            summary = summaries.get((run_id, key_ids.get(key, -1)))
            out.append(_one(session, run_id, key, summary, max_points, start, end))
    return out


def _one(
    session: Session,
    run_id: int,
    key: str,
    summary: MetricSummary | None,
    max_points: int,
    start: int | None,
    end: int | None,
) -> SeriesData:
    empty = SeriesData(run_id, key, np.zeros(0, np.int64), np.zeros(0), np.zeros(0), 0, False)
    if summary is None or not summary.count:
        return empty
    lo = summary.first_step if start is None else max(start, summary.first_step)
    hi = summary.last_step if end is None else min(end, summary.last_step)
    if hi < lo:
        return empty
    n_buckets = max(1, (max_points - 2) // 2)
    density = summary.count / (summary.last_step - summary.first_step + 1)
    level = level_for((hi - lo + 1) / n_buckets)
    expected = density * (hi - lo + 1)
    if level is None or expected <= max_points:
        if expected > max_points and not is_postgres(session):
            steps, values, walls, total = sqlite_bucket_extremes(
                session, run_id, summary.key_id, lo, hi, n_buckets
            )
            if total > max_points:  # else the estimate was off: the range comes back whole
                return SeriesData(run_id, key, steps, values, walls, total, True)
        steps, values, walls = read_points(session, run_id, summary.key_id, lo, hi)
        total = len(steps)
    else:
        steps, values, walls, total = _lod_candidates(
            session, run_id, summary.key_id, level, lo, hi
        )
    if len(steps) <= max_points:
        return SeriesData(run_id, key, steps, values, walls, total, total > len(steps))
    keep = downsample_minmax(steps, values, lo, hi, n_buckets)
    return SeriesData(run_id, key, steps[keep], values[keep], walls[keep], total, True)


def _lod_candidates(session: Session, run_id: int, key_id: int, level: int, lo: int, hi: int):
    """Points that can be extremes of [lo, hi]: LOD min/max/NaN points, raw edges, first/last."""
    width = LOD_WIDTHS[level]
    first_bucket = -(-lo // width)  # first bucket wholly inside the range
    end_bucket = (hi + 1) // width  # one past the last bucket wholly inside
    parts = [
        read_points(session, run_id, key_id, lo, first_bucket * width - 1),
        read_points(session, run_id, key_id, end_bucket * width, hi),
        edge_points(session, run_id, key_id, lo, hi),
    ]
    rows = read_lod(session, run_id, key_id, level, first_bucket, end_bucket - 1)
    c_steps, c_values, c_walls, _ = lod_candidates(rows)
    parts.append((c_steps, c_values, c_walls))
    total = int(rows.n.sum()) + len(parts[0][0]) + len(parts[1][0])
    steps = np.concatenate([p[0] for p in parts])
    order = np.argsort(steps, kind="stable")
    steps = steps[order]
    unique = np.r_[True, steps[1:] != steps[:-1]]  # a point can be both a min and a max
    values = np.concatenate([p[1] for p in parts])[order][unique]
    walls = np.concatenate([p[2] for p in parts])[order][unique]
    return steps[unique], values, walls, total


def summaries(session: Session, run_id: int) -> list[schemas.MetricSummary]:
    """Every key logged for a run with its summary, by key name."""
    return summaries_of_runs(session, [run_id])[run_id]


def summaries_of_runs(
    session: Session, run_ids: list[int]
) -> dict[int, list[schemas.MetricSummary]]:
    """Each run's logged keys with their summaries, by key name, in one query."""
    s = MetricSummary
    rows = session.execute(
        select(
            s.run_id,
            MetricKey.name,
            s.count,
            s.first_step,
            s.last_step,
            s.last_value,
            s.min_value,
            s.max_value,
            s.nan_count,
        )
        .join(MetricKey, s.key_id == MetricKey.id)
        .where(s.run_id.in_(run_ids), s.count > 0)
        .order_by(s.run_id, MetricKey.name)
    )
    out: dict[int, list[schemas.MetricSummary]] = {r: [] for r in run_ids}
    for run_id, name, count, first, last_step, last, lo, hi, nans in rows:
        # On SQLite a NaN last value reads back as NULL; count > 0 says it was logged.
        out[run_id].append(
            schemas.MetricSummary(
                key=name,
                count=count,
                first_step=first,
                last_step=last_step,
                last=float("nan") if last is None else last,
                min=lo,
                max=hi,
                nan_count=nans,
            )
        )
    return out


def logged_keys(
    session: Session, run_id: int, names: list[str] | None = None
) -> list[tuple[int, str]]:
    """(key id, name) of each key the run logged points for, by name; only those in `names`
    when given (a name never logged is left out)."""
    query = (
        select(MetricKey.id, MetricKey.name)
        .join(MetricSummary, MetricSummary.key_id == MetricKey.id)
        .where(MetricSummary.run_id == run_id, MetricSummary.count > 0)
        .order_by(MetricKey.name)
    )
    if names is not None:
        query = query.where(MetricKey.name.in_(names))
    return [(key_id, name) for key_id, name in session.execute(query)]
