"""JSON-safe detector state: non-finite floats are written as the strings 'nan', 'inf', '-inf'."""

from __future__ import annotations

import math
from collections.abc import Iterable


def enc(x: float) -> float | str:
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def dec(v: float | str) -> float:
    return float(v)


def enc_list(xs: Iterable[float]) -> list[float | str]:
    return [enc(x) for x in xs]


def dec_list(vs: Iterable[float | str]) -> list[float]:
    return [float(v) for v in vs]
