"""The body of runs/log-batch, read straight into LionLab's columnar points.

A batch holds up to 1,000 metrics. Read through FastAPI (the standard library's JSON parser,
then the pydantic model, one validator call per metric key) it cost about 2.5 ms of the
event loop per call, more than its database work. Here the body is parsed with orjson and the
metrics become numpy columns, with each distinct key checked once. Any metric outside the
plain form MLflow's client sends (numbers, "NaN"/"Infinity" strings) is validated by the
route's pydantic model instead, so odd input gets exactly the model's lax conversions and its
400 answers. Both ways end in the same columns.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from lionlab.json_values import text_problem
from lionlab_server.api.validation import MAX_STEP
from lionlab_server.services.ingest import key_points
from lionlab_server.store.metrics import KeyPoints

MAX_KEY_LENGTH = 250
# The strings protobuf's JSON mapping writes for a double that is not finite.
NOT_FINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_NUMBER = {float, int}  # bool is its own type: it is not a metric value


class _Unplain(Exception):
    """A metric the fast reading does not take: the model decides."""


def parse_json(raw: bytes) -> Any:
    """The body as JSON: orjson, else the standard library (as FastAPI reads bodies, so the
    same bodies are accepted: bare NaN, lone surrogate escapes); 400 when neither reads it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
        raise RequestValidationError([{**error, "input": {}, "ctx": {"error": exc.msg}}]) from None
    except ValueError as exc:  # not UTF-8
        error = {"type": "json_invalid", "loc": ("body", 0), "msg": "JSON decode error"}
        raise RequestValidationError([{**error, "input": {}, "ctx": {"error": str(exc)}}]) from None


def validated(model: type[BaseModel], body: Any) -> BaseModel:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None


def _int_column(items: list, max_value: int) -> np.ndarray:
    if not set(map(type, items)) <= {int}:
        raise _Unplain
    try:
        column = np.array(items, dtype=np.int64)
    except OverflowError:
        raise _Unplain from None
    if column.size and (column.min() < 0 or column.max() > max_value):
        raise _Unplain
    return column


def _value_column(items: list) -> np.ndarray:
    types = set(map(type, items))
    if str in types:
        items = [NOT_FINITE.get(v, v) if type(v) is str else v for v in items]
        types = set(map(type, items))
    if not types <= _NUMBER:
        raise _Unplain
    try:
        return np.array(items, dtype=np.float64)
    except OverflowError:  # an integer beyond a double
        raise _Unplain from None


def _plain_columns(metrics: Any, max_metrics: int, max_timestamp_ms: int):
    if type(metrics) is not list or len(metrics) > max_metrics:
        raise _Unplain
    try:
        keys = [m["key"] for m in metrics]
        values = [m["value"] for m in metrics]
        stamps = [m.get("timestamp", 0) for m in metrics]
        steps = [m.get("step", 0) for m in metrics]
    except (TypeError, KeyError, AttributeError):  # not an object, or a required field missing
        raise _Unplain from None
    if not set(map(type, keys)) <= {str}:
        raise _Unplain
    for key in set(keys):
        if not 1 <= len(key) <= MAX_KEY_LENGTH or text_problem(key):
            raise _Unplain
    columns = _value_column(values), _int_column(stamps, max_timestamp_ms)
    return keys, *columns, _int_column(steps, MAX_STEP)


def grouped(keys: list[str], values, stamps, steps) -> list[KeyPoints]:
    """Columnar points per key, in the order keys first appear; a (key, step) given twice in
    one batch keeps its last value, as a re-sent step does."""
    codes = {k: i for i, k in enumerate(dict.fromkeys(keys))}
    code = np.fromiter(map(codes.__getitem__, keys), dtype=np.int64, count=len(keys))
    walls = stamps.astype(np.float64) / 1000.0
    return [key_points(key, steps, values, code == i, walls) for key, i in codes.items()]


def parse_log_batch(
    raw: bytes, model: type[BaseModel], max_metrics: int, max_timestamp_ms: int
) -> tuple[Any, list[KeyPoints]]:
    """(the body validated by `model` without its metrics, the metrics as points per key)."""
    body = parse_json(raw)
    if type(body) is not dict:
        validated(model, body)  # raises the model's "should be a valid dictionary"
    head = validated(model, {**body, "metrics": []})
    try:
        keys, values, stamps, steps = _plain_columns(
            body.get("metrics", []), max_metrics, max_timestamp_ms
        )
    except _Unplain:
        metrics = validated(model, body).metrics  # raises the model's 400, or converts
        keys = [m["key"] for m in metrics]
        values = np.array([m["value"] for m in metrics], dtype=np.float64)
        stamps = np.array([m.get("timestamp", 0) for m in metrics], dtype=np.int64)
        steps = np.array([m.get("step", 0) for m in metrics], dtype=np.int64)
    if not keys:
        return head, []
    return head, grouped(keys, values, stamps, steps)
