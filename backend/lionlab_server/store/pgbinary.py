"""PostgreSQL binary COPY for metric points, built and parsed with numpy (no per-row Python).

Format: an 11-byte signature, int32 flags, int32 header-extension length; then per row an
int16 field count and, per field, an int32 byte length and the big-endian value; then int16 -1.
NaN and +/-Inf travel as IEEE float8 bits, exactly.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"


def encode_rows(columns: list[np.ndarray]) -> bytes:
    """A COPY ... FROM STDIN (FORMAT BINARY) stream of rows given column by column.

    Each column's numpy dtype picks the column type: int16 -> smallint, int32 -> integer,
    int64 -> bigint, float64 -> double precision. No NULLs (use sentinels and NULLIF).
    """
    fields = [("nfields", ">i2")]
    for i, col in enumerate(columns):
        fields += [(f"len{i}", ">i4"), (f"c{i}", col.dtype.newbyteorder(">").str)]
    rows = np.empty(len(columns[0]), dtype=np.dtype(fields))
    rows["nfields"] = len(columns)
    for i, col in enumerate(columns):
        rows[f"len{i}"] = col.dtype.itemsize
        rows[f"c{i}"] = col
    return HEADER + rows.tobytes() + TRAILER


def encode_points(
    run_id: int, key_ids: np.ndarray, steps: np.ndarray, values: np.ndarray, walls: np.ndarray
) -> bytes:
    """metric_points rows (run_id, key_id, step, value, wall_time) for COPY."""
    n = len(steps)
    return encode_rows(
        [
            np.full(n, run_id, dtype=np.int32),
            key_ids.astype(np.int32),
            steps.astype(np.int64),
            values.astype(np.float64),
            walls.astype(np.float64),
        ]
    )


_SEND = {"i8": "int8send", "f8": "float8send"}


def fetch_packed(
    session: Session, select_sql: str, params: dict, columns: list[tuple[str, str]]
) -> list[np.ndarray]:
    """Columns of an ordered SELECT, packed by the server into one bytea of fixed-width rows.

    `columns` are (SQL expression, "i8" | "f8") pairs over `select_sql`'s output; NULLs must
    be mapped to values first (coalesce). One row comes back and numpy parses it without a
    Python loop: fetching 10,000 rows as tuples, or through COPY (one message per row), cost
    2-3x more. Postgres keeps a sorted subquery's order into the aggregate in practice but
    does not promise it, so callers check their step order.
    """
    packed = " || ".join(f"{_SEND[kind]}({expr})" for expr, kind in columns)
    sql = f"SELECT string_agg({packed}, ''::bytea) FROM ({select_sql}) AS rows"
    data = session.execute(text(sql), params).scalar_one()
    dtype = np.dtype([(f"c{i}", ">" + kind) for i, (_, kind) in enumerate(columns)])
    rows = np.frombuffer(data or b"", dtype=dtype)
    return [rows[f"c{i}"].astype(kind) for i, (_, kind) in enumerate(columns)]


def stage_cursor(session: Session, stage: str, like: str):
    """A psycopg cursor on the session's connection, with temp table `stage` (LIKE `like`).

    Connections normally get their staging tables when they open (db.py); one opened before
    the schema existed declares them here, inside the transaction.
    """
    pooled = session.connection().connection
    cursor = pooled.driver_connection.cursor()
    if not pooled.info.get("stages_ready"):
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {like}) ON COMMIT DELETE ROWS"
        )
    return cursor
