"""Metric ingestion: points, per-key summaries and LOD buckets, in one transaction.

A batch is written by one of two paths per key, chosen under the key's locked summary row:
- append (every step is past the stored last step, the common case): points go straight in
  (binary COPY on Postgres) and the summary and LOD buckets are merged from the batch alone;
- overlap (a re-sent or out-of-order step): points are upserted, so a re-sent (key, step)
  overwrites its value, and the summary and the touched LOD buckets are recomputed from the
  stored points.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Engine, TextClause, bindparam, select, text
from sqlalchemy.orm import Session

from lionlab_server.db import is_postgres
from lionlab_server.models import MetricKey, MetricSummary, UTCDateTime, utcnow
from lionlab_server.store import lod
from lionlab_server.store.dialect import dialect_insert
from lionlab_server.store.pgbinary import encode_points, stage_cursor
from lionlab_server.store.points import summary_from_points


@dataclass(frozen=True)
class KeyPoints:
    """One metric key's points from a batch: steps sorted and unique."""

    name: str
    steps: np.ndarray  # int64
    values: np.ndarray  # float64, NaN/inf allowed
    walls: np.ndarray  # float64, seconds since the epoch


# Metric key names never change id once committed, so each engine keeps a name -> id cache.
# Only ids read before this transaction inserted anything go in: a key created by a
# transaction that later rolls back must not be remembered.
_KEY_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def forget_key_ids(engine: Engine) -> None:
    """Drop `engine`'s cached key ids (after a transaction that may have read its own
    uncommitted keys failed to commit)."""
    _KEY_CACHE.pop(engine, None)


def last_value(session: Session, run_id: int, names: tuple[str, ...]) -> float | None:
    """The last logged value of the first of `names` the run has logged, else None."""
    rows = session.execute(
        select(MetricKey.name, MetricSummary.last_value)
        .join(MetricSummary, MetricSummary.key_id == MetricKey.id)
        .where(MetricSummary.run_id == run_id, MetricKey.name.in_(names))
    ).all()
    found = dict(rows)
    return next((found[n] for n in names if found.get(n) is not None), None)


def key_ids_for(session: Session, names: list[str]) -> dict[str, int]:
    """Ids of metric key names, creating the missing ones."""
    cache = _KEY_CACHE.setdefault(session.get_bind(), {})
    found = {n: cache[n] for n in names if n in cache}
    unknown = [n for n in names if n not in found]
    if unknown:
        committed = dict(
            session.execute(
                select(MetricKey.name, MetricKey.id).where(MetricKey.name.in_(unknown))
            ).all()
        )
        cache.update(committed)
        found.update(committed)
    missing = [n for n in names if n not in found]
    if missing:
        insert = dialect_insert(session)(MetricKey).on_conflict_do_nothing()
        session.execute(insert, [{"name": n} for n in missing])
        found.update(
            session.execute(
                select(MetricKey.name, MetricKey.id).where(MetricKey.name.in_(missing))
            ).all()
        )
    return found


_SUMMARY_FIELDS = (
    "count",
    "first_step",
    "last_step",
    "last_value",
    "min_value",
    "max_value",
    "nan_count",
)


@functools.cache
def _lock_summaries_sql(n_keys: int) -> TextClause:
    values = ", ".join(f"(:run_id, :k{i}, 0, 0, :now)" for i in range(n_keys))
    return text(
        "INSERT INTO metric_summaries (run_id, key_id, count, nan_count, updated_at) "
        f"VALUES {values} ON CONFLICT (run_id, key_id) DO UPDATE "
        f"SET updated_at = excluded.updated_at RETURNING key_id, {', '.join(_SUMMARY_FIELDS)}"
    ).bindparams(bindparam("now", type_=UTCDateTime))


def _lock_summaries(session: Session, run_id: int, key_ids: list[int]) -> dict[int, dict]:
    """The (run, key) summary rows as dicts, created if new, locked in key order.

    ON CONFLICT DO UPDATE locks an existing row as SELECT ... FOR UPDATE would, in one
    round trip; key order keeps two batches of one run from deadlocking. (Plain SQL text:
    it reads the same on Postgres and SQLite and costs nothing to build per batch.)
    """
    params = {"run_id": run_id, "now": utcnow()}
    params.update({f"k{i}": k for i, k in enumerate(sorted(key_ids))})
    rows = session.connection().execute(_lock_summaries_sql(len(key_ids)), params)
    return {row.key_id: dict(row._mapping) for row in rows}


_SAVE_SUMMARY = text(
    "UPDATE metric_summaries SET "
    + ", ".join(f"{f} = :{f}" for f in _SUMMARY_FIELDS)
    + ", updated_at = :now WHERE run_id = :run_id AND key_id = :key_id"
).bindparams(bindparam("now", type_=UTCDateTime))


def _save_summaries(session: Session, run_id: int, summaries: dict[int, dict]) -> None:
    now = utcnow()
    rows = [{**s, "run_id": run_id, "key_id": kid, "now": now} for kid, s in summaries.items()]
    session.connection().execute(_SAVE_SUMMARY, rows)


def ingest_points(session: Session, run_id: int, batch: list[KeyPoints]) -> int:
    """Store a batch for a run in the session's write transaction; returns points written."""
    key_ids = key_ids_for(session, [kp.name for kp in batch])
    summaries = _lock_summaries(session, run_id, list(key_ids.values()))
    append: list[tuple[int, KeyPoints]] = []
    overlap: list[tuple[int, KeyPoints]] = []
    for kp in batch:
        kid = key_ids[kp.name]
        last = summaries[kid]["last_step"]
        (append if last is None or kp.steps[0] > last else overlap).append((kid, kp))
    _write_points(session, run_id, append, overlap)
    for kid, kp in append:
        _merge_summary(summaries[kid], kp)
    if append:
        lod.merge_appended(
            session, run_id, [(kid, kp.steps, kp.values, kp.walls) for kid, kp in append]
        )
    for kid, kp in overlap:
        summaries[kid].update(summary_from_points(session, run_id, kid))
        lod.recompute(session, run_id, kid, kp.steps)
    _save_summaries(session, run_id, summaries)
    return sum(len(kp.steps) for kp in batch)


def _write_points(session: Session, run_id: int, append: list, overlap: list) -> None:
    if not is_postgres(session):
        _sqlite_upsert(session, run_id, append + overlap)
        return
    cursor = stage_cursor(session, "metric_points_stage", "metric_points")
    if append:
        with cursor.copy(
            "COPY metric_points (run_id, key_id, step, value, wall_time) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.write(_encode(run_id, append))
    if overlap:
        with cursor.copy("COPY metric_points_stage FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(_encode(run_id, overlap))
        cursor.execute(
            "INSERT INTO metric_points SELECT * FROM metric_points_stage "
            "ON CONFLICT (run_id, key_id, step) DO UPDATE "
            "SET value = EXCLUDED.value, wall_time = EXCLUDED.wall_time"
        )


def _encode(run_id: int, items: list[tuple[int, KeyPoints]]) -> bytes:
    return encode_points(
        run_id,
        np.concatenate([np.full(len(kp.steps), kid, dtype=np.int64) for kid, kp in items]),
        np.concatenate([kp.steps for _, kp in items]),
        np.concatenate([kp.values for _, kp in items]),
        np.concatenate([kp.walls for _, kp in items]),
    )


# Rows per INSERT on SQLite: 5 parameters each, within the 999 that every SQLite build allows.
_SQLITE_ROWS_PER_INSERT = 199


@functools.cache
def _sqlite_upsert_sql(rows: int) -> str:
    return (
        "INSERT INTO metric_points (run_id, key_id, step, value, wall_time) VALUES "
        + ",".join(["(?,?,?,?,?)"] * rows)
        + " ON CONFLICT (run_id, key_id, step) DO UPDATE "
        "SET value = excluded.value, wall_time = excluded.wall_time"
    )


def _sqlite_upsert(session: Session, run_id: int, items: list[tuple[int, KeyPoints]]) -> None:
    """Multi-row INSERTs rather than executemany: executemany steps SQLite once per row, and
    each step hands the GIL over, which under load let request threads stall the writer."""
    # sqlite3 binds NaN as NULL, which is LionLab's NaN on SQLite (see models.py).
    raw = session.connection().connection.driver_connection
    rows = [
        (run_id, kid, *point)
        for kid, kp in items
        for point in zip(kp.steps.tolist(), kp.values.tolist(), kp.walls.tolist(), strict=True)
    ]
    for i in range(0, len(rows), _SQLITE_ROWS_PER_INSERT):
        chunk = rows[i : i + _SQLITE_ROWS_PER_INSERT]
        raw.execute(_sqlite_upsert_sql(len(chunk)), [v for row in chunk for v in row])


def _merge_summary(row: dict, kp: KeyPoints) -> None:
    """Fold appended points into a summary without reading stored points."""
    nan = np.isnan(kp.values)
    finite = kp.values[~nan]
    row["count"] += len(kp.steps)
    row["nan_count"] += int(nan.sum())
    if row["first_step"] is None:
        row["first_step"] = int(kp.steps[0])
    row["last_step"] = int(kp.steps[-1])
    row["last_value"] = float(kp.values[-1])
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        row["min_value"] = lo if row["min_value"] is None else min(row["min_value"], lo)
        row["max_value"] = hi if row["max_value"] is None else max(row["max_value"], hi)
