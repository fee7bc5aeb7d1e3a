"""PostgreSQL binary COPY for metric points, built and parsed with numpy (no per-row Python).

Format: an 11-byte signature, int32 flags, int32 header-extension length; then per row an
int16 field count and, per field, an int32 byte length and the big-endian value; then int16 -1.
NaN and +/-Inf travel as IEEE float8 bits, exactly.
"""

from __future__ import annotations

import numpy as np
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


def decode_rows(data: bytes, dtypes: list[str]) -> list[np.ndarray]:
    """Columns of a COPY (...) TO STDOUT (FORMAT BINARY) stream of non-NULL fixed-size fields.

    `dtypes` are numpy type codes per column ("i8", "f8", ...), in native byte order out.
    """
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    body = data[19 + ext : len(data) - len(TRAILER)]
    fields = [("nfields", ">i2")]
    for i, code in enumerate(dtypes):
        fields += [(f"len{i}", ">i4"), (f"c{i}", ">" + code)]
    rows = np.frombuffer(body, dtype=np.dtype(fields))
    for i, code in enumerate(dtypes):
        if len(rows) and (rows[f"len{i}"] != np.dtype(code).itemsize).any():
            raise ValueError(f"column {i} holds NULL or a different type than {code}")
    return [rows[f"c{i}"].astype(code) for i in range(len(dtypes))]


def copy_out(session: Session, query: str) -> bytes:
    """Run COPY (query) TO STDOUT (FORMAT BINARY) on the session's connection."""
    cursor = session.connection().connection.driver_connection.cursor()
    with cursor.copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)") as copy:
        return b"".join(bytes(chunk) for chunk in copy)


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
