"""TensorBoard's debiased exponential moving average for smoothing metric curves."""

from __future__ import annotations

import numpy as np


def debiased_ema(values: np.ndarray, weight: float) -> np.ndarray:
    """Smooth `values` with weight in [0, 1): s_t = w s_{t-1} + (1 - w) v_t, divided by
    1 - w**n (n = finite points seen so far) so the curve does not start at zero.

    Non-finite points pass through unchanged and do not enter the average; a constant series
    is returned as is (no rounding drift). The dashboard's chart.js smooths the same way.
    """
    values = np.asarray(values, dtype=np.float64)
    if weight <= 0 or len(values) == 0 or np.all(values == values[0]):
        return values.copy()
    out = values.copy()
    last, seen = 0.0, 0
    for i, v in enumerate(values.tolist()):
        if v != v or v in (np.inf, -np.inf):
            continue
        last = last * weight + (1 - weight) * v
        seen += 1
        out[i] = last / (1 - weight**seen)
    return out
