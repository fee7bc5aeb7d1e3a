"""The log-batch body reader (mlflow/batch.py) against the route's pydantic model: the fast
reading must give exactly the points the model gives, and refuse exactly what it refuses;
and the JSON depth check against a parser's count."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from lionlab_server.api.validation import MAX_BODY_DEPTH, body_depth
from lionlab_server.mlflow import batch
from lionlab_server.mlflow.routes import MAX_BATCH_METRICS, MAX_TIMESTAMP_MS, LogBatch


def parse(body) -> tuple:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return batch.parse_log_batch(raw, LogBatch, MAX_BATCH_METRICS, MAX_TIMESTAMP_MS)


def reference(body: dict) -> dict:
    """What the model makes of the body: {key: {step: (value, wall)}}, last value wins."""
    out: dict = {}
    for m in LogBatch.model_validate(body).metrics:
        out.setdefault(m["key"], {})[m.get("step", 0)] = (m["value"], m.get("timestamp", 0) / 1e3)
    return out


def as_dict(points) -> dict:
    out = {}
    for kp in points:
        assert np.all(np.diff(kp.steps) > 0), "steps sorted and unique"
        rows = zip(kp.steps.tolist(), kp.values.tolist(), kp.walls.tolist(), strict=True)
        out[kp.name] = {s: (v, w) for s, v, w in rows}
    return out


def same(a: dict, b: dict) -> bool:
    if a.keys() != b.keys():
        return False
    for key in a:
        if a[key].keys() != b[key].keys():
            return False
        for step, (v1, w1) in a[key].items():
            v2, w2 = b[key][step]
            if not (v1 == v2 or (math.isnan(v1) and math.isnan(v2))) or w1 != w2:
                return False
    return True


def mlflow_body(rng: random.Random, n: int) -> dict:
    keys = [f"key_{i}" for i in range(rng.randint(1, 5))] + ["loss/é", "a b"]
    specials = ["NaN", "Infinity", "-Infinity"]
    metrics = []
    for _ in range(n):
        value = rng.choice([rng.gauss(0, 1e3), rng.randint(-9, 9), rng.choice(specials)])
        m = {"key": rng.choice(keys), "value": value, "step": rng.randint(0, 50)}
        if rng.random() < 0.9:
            m["timestamp"] = rng.randint(0, 2_000_000_000_000)
        metrics.append(m)
    return {"run_id": "7", "metrics": metrics}


def test_client_bodies_give_the_models_points():
    rng = random.Random(3)
    for n in (0, 1, 7, 300, MAX_BATCH_METRICS):
        body = mlflow_body(rng, n)
        head, points = parse(body)
        assert head.id == 7
        assert same(as_dict(points), reference(body))


def test_not_finite_values_are_exact():
    body = {
        "run_id": "1",
        "metrics": [
            {"key": "k", "value": v, "step": i}
            for i, v in enumerate(["NaN", "Infinity", "-Infinity", 1e308])
        ],
    }
    (kp,) = parse(body)[1]
    assert math.isnan(kp.values[0]) and kp.values[1] == math.inf and kp.values[2] == -math.inf
    assert kp.values[3] == 1e308
    # the standard library's bare NaN, which orjson does not read, reads the same
    (kp,) = parse(b'{"run_id": "1", "metrics": [{"key": "k", "value": NaN}]}')[1]
    assert math.isnan(kp.values[0]) and kp.steps.tolist() == [0] and kp.walls.tolist() == [0]


@pytest.mark.parametrize(
    "metric",
    [
        {"key": "k", "value": "1.5", "step": "3", "timestamp": "1000"},  # the model's lax strings
        {"key": "k", "value": 2, "step": 3.0},
        {"key": "k", "value": True},
    ],
)
def test_lax_forms_follow_the_model(metric):
    body = {"run_id": "2", "metrics": [metric]}
    assert same(as_dict(parse(body)[1]), reference(body))


@pytest.mark.parametrize(
    "metrics",
    [
        [{"key": "k"}],  # no value
        [{"value": 1.0}],  # no key
        [{"key": "", "value": 1.0}],
        [{"key": "x" * 251, "value": 1.0}],
        [{"key": "a\x00b", "value": 1.0}],
        [{"key": "\ud800", "value": 1.0}],
        [{"key": 5, "value": 1.0}],
        [{"key": "k", "value": "lots"}],
        [{"key": "k", "value": None}],
        [{"key": "k", "value": 10**400}],
        [{"key": "k", "value": 1.0, "step": -1}],
        [{"key": "k", "value": 1.0, "step": 2**53}],
        [{"key": "k", "value": 1.0, "step": 2**70}],
        [{"key": "k", "value": 1.0, "timestamp": MAX_TIMESTAMP_MS + 1}],
        [{"key": "k", "value": 1.0}] * (MAX_BATCH_METRICS + 1),
        [[1, 2]],
        ["k"],
        {"key": "k", "value": 1.0},
    ],
)
def test_refuses_what_the_model_refuses(metrics):
    body = {"run_id": "3", "metrics": metrics}
    raw = json.dumps(body).encode()
    with pytest.raises(ValidationError) as model:
        LogBatch.model_validate(json.loads(raw))
    with pytest.raises(RequestValidationError) as ours:
        parse(raw)
    expected = [("body", *e["loc"]) for e in model.value.errors()]
    assert [tuple(e["loc"]) for e in ours.value.errors()] == expected


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_not_an_object_is_a_validation_error(raw):
    with pytest.raises(RequestValidationError) as exc:
        parse(raw)
    assert exc.value.errors()[0]["loc"][0] == "body"


def _depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def test_body_depth_counts_as_a_parser_does():
    """Random JSON whose strings are full of brackets, quotes and backslashes, wrapped deep
    enough that the count is made (shallow bodies are passed after two scans)."""
    rng = random.Random(5)
    alphabet = ["[", "]", "{", "}", '"', "\\", "\\\\", "a", "\n", "é", "\ud7ff"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))

    def value(depth: int):
        r = rng.random()
        if depth > 40 or r < 0.3:
            return text()
        if r < 0.65:
            return [value(depth + 1) for _ in range(rng.randint(0, 3))]
        return {text(): value(depth + 1) for _ in range(rng.randint(0, 3))}

    wrap = MAX_BODY_DEPTH + 1
    for _ in range(2000):
        v = value(0)
        raw = json.dumps(v, ensure_ascii=rng.random() < 0.5).encode()
        assert body_depth(b"[" * wrap + raw + b"]" * wrap) == _depth(v) + wrap, raw
