"""Exports, streamed: a run's stored metric points as CSV or Parquet, the runs table as CSV.

Both read the database in pages and hand each page on as soon as it is encoded, so a run of
1e6 points (or a project of 1e5 runs) never sits in memory whole; between pages the read
transaction is ended, so a slow download holds no pooled connection and no SQLite snapshot.
A page is therefore read as of its own moment: points logged while an export runs are in it
only if their page is read after they were stored.

Metric points (long format, one row per stored point, by key then step):
`key, step, value, wall_time`. `wall_time` is what the store holds: float seconds since the
Unix epoch. Values round-trip exactly: CSV writes every float as Python's repr (the shortest
text that reads back as the same double), so NaN is `nan`, +Inf `inf` and -Inf `-inf`, which
Python's float(), numpy and pandas all read back; Parquet stores float64 natively. Pages go by
keyset (`step > last step sent`, via store/points.read_points), never OFFSET.

The runs table: one row per run, in the order and with the filters of GET /api/v1/runs; the
fixed columns, then `config.<dotted path>` and `job.<dotted path>` (a worker job's spec) for
every path any exported run has, then `metric.<key>.last|min|max` from the runs' metric
summaries. A CSV header comes first, so the columns are found by a first pass over the runs
before the rows are written by a second; each pass reads a page of runs in a fixed number of
statements (runs with projects, tags, summaries), whatever the page size.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy.orm import Session, sessionmaker

from lionlab_server import schemas
from lionlab_server.parameters import flatten
from lionlab_server.store.points import read_points
from lionlab_server.store.runs import RunFilter, ordered_run_ids, runs_by_ids
from lionlab_server.store.scope import Scope
from lionlab_server.store.series import summaries_of_runs

POINTS_PAGE = 50_000  # points per read (and per Parquet row group)
RUNS_PAGE = 500  # runs per read
LAST_STEP = 2**63 - 1

CSV_TYPE = "text/csv; charset=utf-8"
PARQUET_TYPE = "application/vnd.apache.parquet"
POINT_COLUMNS = ("key", "step", "value", "wall_time")
POINTS_SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("step", pa.int64()),
        ("value", pa.float64()),
        ("wall_time", pa.float64()),
    ]
)
RUN_COLUMNS = (
    "id",
    "name",
    "project_id",
    "project",
    "status",
    "optimizer",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
    "tags",
)
SUMMARY_STATS = ("last", "min", "max")

Page = tuple[str, Any, Any, Any]  # key, steps, values, walls (numpy arrays)


# --- metric points ---------------------------------------------------------------------


def point_pages(
    sessions: sessionmaker[Session],
    run_id: int,
    keys: Sequence[tuple[int, str]],
    page: int | None = None,
) -> Iterator[Page]:
    """Every stored point of `keys` ((key id, name) pairs) of the run, a page at a time, by
    key then step. `page` defaults to POINTS_PAGE, read when called (tests shrink it)."""
    size = page or POINTS_PAGE
    with sessions() as session:
        for key_id, name in keys:
            after = 0
            while True:
                steps, values, walls = read_points(
                    session, run_id, key_id, after, LAST_STEP, limit=size
                )
                session.rollback()  # no transaction held while the client reads this page
                if len(steps):
                    yield name, steps, values, walls
                if len(steps) < size:
                    break
                after = int(steps[-1]) + 1


def _csv_text(text: str) -> str:
    """A CSV field (RFC 4180): quoted, with quotes doubled, when it holds a separator."""
    if any(c in text for c in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def points_csv(pages: Iterator[Page]) -> Iterator[bytes]:
    """The CSV of `pages`: a header, then one chunk per page."""
    yield (",".join(POINT_COLUMNS) + "\r\n").encode()
    for key, steps, values, walls in pages:
        field = _csv_text(key)
        rows = zip(steps.tolist(), values.tolist(), walls.tolist(), strict=True)
        yield "".join(f"{field},{s},{v!r},{w!r}\r\n" for s, v, w in rows).encode()


class _Drain:
    """The file pyarrow's ParquetWriter writes into: it keeps what was written since the
    last `take()`, so each finished row group can be sent on and forgotten."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.closed = False

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.size += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


def points_parquet(pages: Iterator[Page]) -> Iterator[bytes]:
    """The Parquet file of `pages`: one row group per page, each sent once written; the
    footer (which lists the row groups) comes last."""
    sink = _Drain()
    with pq.ParquetWriter(sink, POINTS_SCHEMA, compression="zstd") as writer:
        for key, steps, values, walls in pages:
            table = pa.table(
                [
                    pa.repeat(pa.scalar(key, pa.string()), len(steps)),
                    pa.array(steps, pa.int64()),
                    pa.array(values, pa.float64()),
                    pa.array(walls, pa.float64()),
                ],
                schema=POINTS_SCHEMA,
            )
            writer.write_table(table)
            chunk = sink.take()
            if chunk:
                yield chunk
    yield sink.take()


# --- the runs table ----------------------------------------------------------------------


def _cell(value: Any) -> str:
    """A value as CSV text: floats exactly (repr), booleans true/false, times ISO 8601,
    None empty, lists and objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return orjson.dumps(value).decode()


def _pages(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _fixed(run: schemas.Run, project: str) -> list[Any]:
    return [
        run.id,
        run.name,
        run.project_id,
        project,
        run.status.value,
        run.optimizer,
        run.created_by,
        run.created_at,
        run.started_at,
        run.finished_at,
        list(run.tags),
    ]


def _stats(summary: schemas.MetricSummary) -> tuple[Any, Any, Any]:
    return summary.last, summary.min, summary.max


def runs_csv(
    sessions: sessionmaker[Session], scope: Scope, which: RunFilter, page: int | None = None
) -> Iterator[bytes]:
    """The runs `which` selects among those `scope` sees, as CSV chunks (see the module)."""
    size = page or RUNS_PAGE
    with sessions() as session:
        ids = ordered_run_ids(session, scope, which)
        session.rollback()
        config: set[str] = set()
        job: set[str] = set()
        metrics: set[str] = set()
        for chunk in _pages(ids, size):  # first pass: the columns
            for run, _ in runs_by_ids(session, chunk):
                config.update(flatten(run.config))
                job.update(flatten(run.job or {}))
            for logged in summaries_of_runs(session, chunk).values():
                metrics.update(s.key for s in logged)
            session.rollback()
        config_keys, job_keys, metric_keys = sorted(config), sorted(job), sorted(metrics)
        header = [
            *RUN_COLUMNS,
            *(f"config.{k}" for k in config_keys),
            *(f"job.{k}" for k in job_keys),
            *(f"metric.{k}.{stat}" for k in metric_keys for stat in SUMMARY_STATS),
        ]
        buffer = io.StringIO()
        out = csv.writer(buffer)
        out.writerow(header)
        yield _taken(buffer)
        for chunk in _pages(ids, size):  # second pass: the rows
            found = runs_by_ids(session, chunk)
            summaries = summaries_of_runs(session, chunk)
            session.rollback()
            for run, project in found:
                flat_config, flat_job = flatten(run.config), flatten(run.job or {})
                by_key = {s.key: _stats(s) for s in summaries.get(run.id, [])}
                empty = (None,) * len(SUMMARY_STATS)
                row = [
                    *_fixed(run, project),
                    *(flat_config.get(k) for k in config_keys),
                    *(flat_job.get(k) for k in job_keys),
                    *(v for k in metric_keys for v in by_key.get(k, empty)),
                ]
                out.writerow([_cell(v) for v in row])
            yield _taken(buffer)


def _taken(buffer: io.StringIO) -> bytes:
    """What `buffer` holds, encoded, and the buffer emptied."""
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode()
