"""PostgreSQL binary COPY for metric points, built and parsed with numpy (no per-row Python).

Format: an 11-byte signature, int32 flags, int32 header-extension length; then per row an
int16 field count and, per field, an int32 byte length and the big-endian value; then int16 -1.
NaN and +/-Inf travel as IEEE float8 bits, exactly.
"""

from __future__ import annotations

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

# One metric_points row: (run_id int4, key_id int4, step int8, value float8, wall_time float8).
POINT_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_run", ">i4"),
        ("run_id", ">i4"),
        ("len_key", ">i4"),
        ("key_id", ">i4"),
        ("len_step", ">i4"),
        ("step", ">i8"),
        ("len_value", ">i4"),
        ("value", ">f8"),
        ("len_wall", ">i4"),
        ("wall_time", ">f8"),
    ]
)

# One row of `SELECT step, value, wall_time`.
READ_ROW = np.dtype(
    [
        ("nfields", ">i2"),
        ("len_step", ">i4"),
        ("step", ">i8"),
        ("len_value", ">i4"),
        ("value", ">f8"),
        ("len_wall", ">i4"),
        ("wall_time", ">f8"),
    ]
)


def encode_points(
    run_id: int, key_ids: np.ndarray, steps: np.ndarray, values: np.ndarray, walls: np.ndarray
) -> bytes:
    """The COPY ... FROM STDIN (FORMAT BINARY) stream for these points."""
    rows = np.empty(len(steps), dtype=POINT_ROW)
    rows["nfields"] = 5
    rows["len_run"], rows["len_key"] = 4, 4
    rows["len_step"], rows["len_value"], rows["len_wall"] = 8, 8, 8
    rows["run_id"] = run_id
    rows["key_id"] = key_ids
    rows["step"] = steps
    rows["value"] = values
    rows["wall_time"] = walls
    return HEADER + rows.tobytes() + TRAILER


def decode_points(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse COPY (SELECT step, value, wall_time ...) TO STDOUT (FORMAT BINARY)."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PostgreSQL binary COPY stream")
    ext = int.from_bytes(data[15:19], "big")
    body = data[19 + ext : len(data) - len(TRAILER)]
    rows = np.frombuffer(body, dtype=READ_ROW)
    if len(rows) and (rows["len_value"] != 8).any():
        raise ValueError("unexpected NULL value in metric_points")
    return (
        rows["step"].astype(np.int64),
        rows["value"].astype(np.float64),
        rows["wall_time"].astype(np.float64),
    )
