"""Per-layer statistics batches: parse and validate the JSON body, then store them.

The body (lionlab.watch sends it, every N steps):
    {"names": ["blocks.0.attn.qkv.weight", ...],
     "steps": [100, 200],
     "stats": {"grad_norm": [[0.12, 0.03, ...], [...]], "update_ratio": [[...], [...]]}}
one row per step and one value per name in each row; null (or NaN) where a layer was not
logged at that step. Statistics: grad_norm (L2 norm of the layer's gradient before clipping),
param_norm (L2 norm of its parameters after the update), update_ratio (||delta theta|| /
||theta|| of the update), update_rms (||delta theta|| / sqrt(n), the step per weight). Every
error names the field and says how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from lionlab import known_keys
from lionlab.json_values import text_problem
from lionlab_server.db import begin_write
from lionlab_server.errors import InputError
from lionlab_server.services import detection
from lionlab_server.services.ingest import MAX_KEY_LENGTH, _int_steps, parse_json
from lionlab_server.store import layers as layer_store
from lionlab_server.store import lifecycle
from lionlab_server.store import metrics as metric_store
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope

FIELDS = ("names", "steps", "stats")
EXAMPLE = '{"names": ["fc.weight", "fc.bias"], "steps": [10], "stats": {"grad_norm": [[0.5, 0.1]]}}'


@dataclass(frozen=True)
class LayerBatch:
    names: list[str]
    steps: np.ndarray  # sorted, unique
    stats: dict[str, np.ndarray]  # (steps, names) float32, NaN: not logged

    @property
    def values(self) -> int:
        return sum(v.size for v in self.stats.values())


def _names(names: object) -> list[str]:
    if not isinstance(names, list) or not names:
        raise InputError(
            ("body", "names"), f"names must be a non-empty array of layer names, e.g. {EXAMPLE}"
        )
    if len(names) > layer_store.MAX_LAYERS:
        raise InputError(
            ("body", "names"),
            f"{len(names)} layers; at most {layer_store.MAX_LAYERS} per run (group parameters)",
        )
    for i, name in enumerate(names):
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_KEY_LENGTH or text_problem(name):
            raise InputError(
                ("body", "names", i),
                f"names[{i}] must be a layer name of 1 to {MAX_KEY_LENGTH} characters "
                "(no NUL, valid Unicode)",
            )
    if len(set(names)) != len(names):
        raise InputError(("body", "names"), "names must not repeat a layer")
    return names


_PLAIN = {float, int, type(None)}


def _matrix(stat: str, rows: object, n: int, width: int) -> np.ndarray:
    where = ("body", "stats", stat)
    if not isinstance(rows, list) or len(rows) != n:
        raise InputError(where, f"stats.{stat} must be an array of {n} rows, one per step")
    try:
        arr = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        arr = None
    # numpy reads true as 1.0 and "2" as 2.0: only numbers and nulls pass (a C-level scan)
    types = set().union(*(map(type, row) for row in rows if type(row) is list))
    if arr is None or arr.shape != (n, width) or not types <= _PLAIN:
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                raise InputError(
                    (*where, i),
                    f"stats.{stat}[{i}] must be an array of {width} values, one per name",
                )
            for j, v in enumerate(row):
                if v is not None and (type(v) is bool or not isinstance(v, int | float)):
                    raise InputError(
                        (*where, i, j),
                        f"stats.{stat}[{i}][{j}] is {v!r:.60}; send a number, or null where the "
                        "layer was not logged",
                    )
        raise InputError(where, f"stats.{stat} holds a number beyond float64")
    if (arr < 0).any():
        i, j = (int(x[0]) for x in np.nonzero(arr < 0))
        raise InputError(
            (*where, i, j), f"stats.{stat}[{i}][{j}] is negative; norms and ratios are >= 0"
        )
    return arr.astype(np.float32)


def parse_layers(raw: bytes, max_values: int) -> LayerBatch:
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InputError(("body",), f"the body must be a JSON object such as {EXAMPLE}")
    for field in body:
        if field not in FIELDS:
            raise InputError(
                ("body", field), f"unknown field {field!r}; a batch has names, steps and stats"
            )
    names = _names(body.get("names"))
    steps = _int_steps(body.get("steps"))
    stats = body.get("stats")
    if not isinstance(stats, dict) or not stats:
        raise InputError(
            ("body", "stats"),
            f"stats must map one or more of {', '.join(layer_store.STATS)} to rows, e.g. {EXAMPLE}",
        )
    for stat in stats:
        if stat not in layer_store.STATS:
            raise InputError(
                ("body", "stats", stat),
                f"unknown statistic {stat!r:.60}; one of {', '.join(layer_store.STATS)}",
            )
    size = len(steps) * len(names) * len(stats)
    if size > max_values:
        raise InputError(
            ("body",),
            f"the batch holds {size} values (steps x names x stats), over the limit of "
            f"{max_values}; send fewer steps per batch",
            status_code=413,
        )
    matrices = {s: _matrix(s, rows, len(steps), len(names)) for s, rows in stats.items()}
    # sorted by step; where a step repeats, its last row wins
    order = np.lexsort((np.arange(len(steps)), steps))
    s = steps[order]
    keep = order[np.r_[s[1:] != s[:-1], True]]
    return LayerBatch(names, steps[keep], {k: m[keep] for k, m in matrices.items()})


def ingest(
    session: Session, scope: Scope, run_id: int, batch: LayerBatch, attempt: int | None = None
) -> tuple[int, list[dict]]:
    """Store a validated batch and run the per-layer detectors on it, in one write
    transaction (the caller commits); returns (values written, new flags). NotFound outside
    the scope; Conflict for a stale job attempt."""
    begin_write(session)
    run = visible_run(session, scope, run_id)
    lifecycle.fence_writer(session, run, attempt)
    written = layer_store.write(session, run_id, batch.names, batch.steps, batch.stats)
    lr = metric_store.last_value(session, run_id, known_keys.LR)
    flags = detection.feed_layers(session, run, batch.steps, batch.names, batch.stats, lr)
    return written, flags
