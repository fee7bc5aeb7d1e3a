"""Checks figure JSON against what Python plotly itself would send for the same figure."""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import plotly.graph_objects as go


def _plain(obj: Any) -> Any:
    """Typed arrays decoded and NaN made comparable, so two encodings of a figure compare equal."""
    if isinstance(obj, dict) and set(obj) >= {"dtype", "bdata"}:
        raw = base64.b64decode(obj["bdata"])
        return _plain(np.frombuffer(raw, dtype=np.dtype(obj["dtype"])).tolist())
    if isinstance(obj, np.ndarray):
        return _plain(obj.tolist())
    if isinstance(obj, dict):  # plotly leaves out empty lists (no shapes): so does this
        return {k: _plain(v) for k, v in obj.items() if not (isinstance(v, list) and not v)}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, float) and math.isnan(obj):
        return "nan"
    return obj


def assert_plotly_equivalent(fig: dict) -> None:
    """`fig` is valid plotly (go.Figure refuses an unknown property or a bad value) and holds
    exactly what plotly's own to_plotly_json() makes of it."""
    assert _plain(go.Figure(fig).to_plotly_json()) == _plain(fig)
