"""NaN and +/-Inf in responses: the one place they are encoded for JSON.

They are data (divergence looks like them), so the store and the views hold them as floats.
JSON has no literal for them; responses carry them as the strings "NaN", "Infinity" and
"-Infinity", which the ingest endpoint and the SDK read back as the same floats.
"""

from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import PlainSerializer


def encode_float(value: float) -> float | str:
    """`value` for JSON: finite floats as they are, NaN and +/-Inf as text."""
    if math.isfinite(value):
        return value
    return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")


def encode_floats(values: np.ndarray) -> list[float | str]:
    """A float array for JSON, as `encode_float` does each value (the series' fast path)."""
    out = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = encode_float(out[i])
    return out


MetricValue = Annotated[
    float, PlainSerializer(encode_float, return_type=float | str, when_used="json")
]
"""A metric value: a float in Python, and in a JSON response a number or 'NaN'/'Infinity'."""
