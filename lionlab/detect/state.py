"""JSON-safe detector state: non-finite floats are written as the strings 'nan', 'inf', '-inf'."""

from __future__ import annotations

import math
from collections.abc import Iterable


def float_to_json(x: float) -> float | str:
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def float_from_json(v: float | str) -> float:
    return float(v)


def floats_to_json(xs: Iterable[float]) -> list[float | str]:
    return [float_to_json(x) for x in xs]


def floats_from_json(vs: Iterable[float | str]) -> list[float]:
    return [float(v) for v in vs]
