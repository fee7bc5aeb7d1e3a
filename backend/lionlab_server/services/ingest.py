"""Metric batch ingestion: parse and validate a columnar JSON body, then store it.

The body is parsed here rather than by pydantic models: a batch of 1000 steps x 4 keys is
4000 numbers, and numpy turns them into arrays in microseconds. Every error names the field
(`metrics.loss[17]`) and says how to fix it; a bad batch stores nothing.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pydantic_core
from sqlalchemy.orm import Session

from lionlab.lifecycle import RunStatus
from lionlab_server.api.validation import MAX_STEP
from lionlab_server.db import begin_write
from lionlab_server.errors import InputError
from lionlab_server.services import detection, sweeps
from lionlab_server.store import lifecycle
from lionlab_server.store.metrics import KeyPoints, ingest_points
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope

NON_FINITE = {
    "nan": math.nan,
    "infinity": math.inf,
    "+infinity": math.inf,
    "-infinity": -math.inf,
    "inf": math.inf,
    "+inf": math.inf,
    "-inf": -math.inf,
}
BATCH_FIELDS = ("steps", "metrics", "wall_time")
# wall_time bounds: the Unix epoch to the last second datetime can hold (year 9999), so the
# dashboard's clock axis can convert every stored time.
MAX_WALL_TIME = 253_402_300_799.0
MAX_KEY_LENGTH = 250
EXAMPLE = '{"steps": [0, 1], "metrics": {"train_loss": [2.31, 2.27]}}'


def parse_json(raw: bytes) -> object:
    """JSON with NaN/Infinity literals allowed; a 400 naming the position otherwise."""
    try:
        return pydantic_core.from_json(raw, allow_inf_nan=True)
    except ValueError as exc:
        raise InputError(
            ("body",),
            f"the body is not valid JSON ({exc}); send a JSON object such as {EXAMPLE}",
            status_code=400,
        ) from None


def _flat(values: list) -> np.ndarray | None:
    """`values` as a 1-D numeric array, or None when they need a look one by one (nested or
    ragged arrays, booleans, strings, nulls, integers too large for int64)."""
    if bool in set(map(type, values)):  # numpy reads [1, true] as [1, 1]
        return None
    try:
        arr = np.asarray(values)
    except (ValueError, OverflowError):  # ragged, or beyond numpy's integers
        return None
    return arr if arr.ndim == 1 and arr.dtype.kind in "if" else None


def _int_steps(steps: object) -> np.ndarray:
    if not isinstance(steps, list) or not steps:
        raise InputError(("body", "steps"), "steps must be a non-empty array of integers")
    arr = _flat(steps)
    if arr is None or arr.dtype.kind != "i":
        for i, s in enumerate(steps):
            if type(s) is not int or not 0 <= s <= MAX_STEP:
                raise InputError(
                    ("body", "steps", i),
                    f"steps[{i}] is {_short(s)}; steps must be integers >= 0 and <= 2**53 - 1",
                )
        arr = np.asarray(steps, dtype=np.int64)
    bad = (arr < 0) | (arr > MAX_STEP)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(
            ("body", "steps", i),
            f"steps[{i}] is {steps[i]}; steps must be >= 0 and <= 2**53 - 1 (larger ones "
            "would lose precision in summaries and in the browser)",
        )
    return arr


def _float(key: str, i: int, v: object) -> float:
    if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool) and _fits(v)):
        return float(v)
    if isinstance(v, str) and v.strip().lower() in NON_FINITE:
        return NON_FINITE[v.strip().lower()]
    raise InputError(
        ("body", "metrics", key, i),
        f"metrics.{key}[{i}] is {_short(v)}, not a number a float64 holds; send a number, "
        'NaN/Infinity/-Infinity (as literals or strings such as "NaN"), or null where the key '
        "was not logged",
    )


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _fits(v: int) -> bool:
    """Whether an integer converts to a float64 (a 400-digit one does not)."""
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _values(key: str, values: object, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64, mask of entries present) for one key's column."""
    if not isinstance(values, list):
        raise InputError(
            ("body", "metrics", key), f"metrics.{key} must be an array of numbers, one per step"
        )
    if len(values) != n:
        raise InputError(
            ("body", "metrics", key),
            f"metrics.{key} has {len(values)} values but steps has {n}; send one "
            "value per step (null where the key was not logged)",
        )
    arr = _flat(values)
    if arr is not None:
        return arr.astype(np.float64), np.ones(n, dtype=bool)
    present = np.array([v is not None for v in values], dtype=bool)
    out = np.array([_float(key, i, v) if v is not None else 0.0 for i, v in enumerate(values)])
    return out, present


def _walls(walls: object, n: int, now: float) -> np.ndarray:
    if walls is None:
        return np.full(n, now)
    if not isinstance(walls, list) or len(walls) != n:
        raise InputError(
            ("body", "wall_time"),
            f"wall_time must be an array of {n} numbers (seconds since the epoch, "
            "one per step) or left out",
        )
    arr = _flat(walls)
    if arr is None or not ((arr >= 0) & (arr <= MAX_WALL_TIME)).all():
        raise InputError(
            ("body", "wall_time"),
            "wall_time must hold numbers of seconds since the Unix epoch, from 0 up to "
            f"{MAX_WALL_TIME:.0f} (the end of year 9999)",
        )
    return arr.astype(np.float64)


def _check_shape(body: object, max_points: int) -> dict:
    if not isinstance(body, dict):
        raise InputError(("body",), f"the body must be a JSON object such as {EXAMPLE}")
    for field in body:
        if field not in BATCH_FIELDS:
            raise InputError(
                ("body", field),
                f"unknown field {field!r}; a batch has steps, metrics and optionally wall_time",
            )
    metrics = body.get("metrics")
    if not isinstance(metrics, dict) or not metrics:
        raise InputError(
            ("body", "metrics"),
            "metrics must be a non-empty object mapping each "
            f"metric key to an array of values, e.g. {EXAMPLE}",
        )
    steps = body.get("steps")
    size = (len(steps) if isinstance(steps, list) else 0) * len(metrics)
    if size > max_points:
        raise InputError(
            ("body",),
            f"the batch holds {size} points (steps x keys), over the "
            f"limit of {max_points}; split it into smaller batches",
            status_code=413,
        )
    for key in metrics:
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InputError(
                ("body", "metrics", key),
                f"metric keys must be 1 to {MAX_KEY_LENGTH} printable characters",
            )
    return body


def key_points(
    name: str, steps: np.ndarray, values: np.ndarray, present: np.ndarray, walls: np.ndarray
) -> KeyPoints:
    """Sorted by step; where a step repeats within the batch, its last value wins."""
    idx = np.flatnonzero(present)
    s = steps[idx]
    order = np.lexsort((idx, s))
    s, idx = s[order], idx[order]
    last = np.r_[s[1:] != s[:-1], True]
    idx = idx[last]
    return KeyPoints(name=name, steps=s[last], values=values[idx], walls=walls[idx])


def parse_batch(raw: bytes, max_points: int, now: float | None = None) -> list[KeyPoints]:
    """Validate a columnar batch body; every key's points (keys with no values dropped)."""
    body = _check_shape(parse_json(raw), max_points)
    steps = _int_steps(body.get("steps"))
    walls = _walls(body.get("wall_time"), len(steps), time.time() if now is None else now)
    out = []
    for name, column in body["metrics"].items():
        values, present = _values(name, column, len(steps))
        if present.any():
            out.append(key_points(name, steps, values, present, walls))
    return out


def ingest(
    session: Session,
    scope: Scope,
    run_id: int,
    batch: list[KeyPoints],
    attempt: int | None = None,
) -> tuple[int, list[dict]]:
    """Store a validated batch and run the detectors on it, in one write transaction (the
    caller commits); returns (points written, flags raised, stop: why the logger should stop
    training, or None). NotFound outside the scope; Conflict when a job's batch does not come
    from its current attempt (`attempt`)."""
    begin_write(session)
    run = visible_run(session, scope, run_id)
    lifecycle.fence_writer(session, run, attempt)
    if not batch:
        return 0, [], stop_reason(run)
    written = ingest_points(session, run_id, batch)
    flags = detection.feed(session, run, batch)
    sweeps.feed_eval(session, run, batch)
    return written, flags, stop_reason(run)


def stop_reason(run) -> str | None:
    """What the run's logger should stop for: a stop request (cancel, divergence with
    stop_on_divergence, ASHA), or a script's run ended by someone else (cancelled from the
    dashboard)."""
    if run.stop_requested:
        return run.stop_requested
    if run.job is None and run.status != RunStatus.RUNNING.value:
        return run.status
    return None
