"""What a stored JSON value (a run config, a sweep spec) may hold, the same on every backend.

Stored objects are read back by every list and page, so a value that cannot round-trip would
break those reads for everyone: Postgres cannot store NUL in text, orjson (the dashboard's
encoder) refuses nesting past 254 levels and integers past 64 bits, JSON has no NaN/Infinity
(SQLite's JSON would turn them into null, Postgres refuses them), and JavaScript holds
integers exactly only up to 2**53. The rules: nesting at most `MAX_DEPTH` levels, integers in
signed 64-bit, finite floats, strings (keys included) without NUL and encodable as UTF-8
(JSON text may carry a lone surrogate such as "\\ud800", which neither database stores).
"""

from __future__ import annotations

import math
from typing import Any

MAX_DEPTH = 64  # levels of objects/arrays in a stored value; orjson's own limit is 254
# Values (scalars and containers) in one stored value; bounds the walk over a YAML document
# whose aliases repeat one list inside another (a "billion laughs" from a few lines).
MAX_NODES = 1_000_000
INT64 = (-(2**63), 2**63 - 1)


def text_problem(value: str) -> str | None:
    """Why a string cannot be stored as text on every backend, or None."""
    if "\x00" in value:
        return "contains a NUL (\\x00) character, which is not stored"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate, which is not valid Unicode text"
    return None


class JsonValueError(ValueError):
    """A value breaks a rule; `path` is where ("a.b[3]", "" for the value itself)."""

    def __init__(self, path: str, message: str):
        self.path, self.message = path, message
        super().__init__(f"{path}: {message}" if path else message)


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _check_scalar(value: Any, path: str) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise JsonValueError(
                path, "is an integer outside signed 64-bit; send it as a string or a float"
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise JsonValueError(
                path, f"is {value}; JSON has no NaN or Infinity: use null or a string"
            )
    elif isinstance(value, str):
        problem = text_problem(value)
        if problem:
            raise JsonValueError(path, problem)
    else:
        raise JsonValueError(path, f"is a {type(value).__name__}, not a JSON value")


def check_json_value(value: Any, path: str = "", max_depth: int = MAX_DEPTH) -> None:
    """Raise JsonValueError at a part of `value` that breaks the rules above."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    visited = 0
    while stack:  # iterative: a deep value must not hit Python's recursion limit
        item, where, depth = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise JsonValueError(path, f"holds more than {MAX_NODES} values")
        if isinstance(item, (dict, list, tuple)):
            if depth > max_depth:
                raise JsonValueError(where, f"nests deeper than {max_depth} levels")
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                problem = text_problem(key) if isinstance(key, str) else None
                if problem:
                    raise JsonValueError(_child(where, key[:40]), f"is a key that {problem}")
                stack.append((child, _child(where, key), depth + 1))
        else:
            _check_scalar(item, where)
