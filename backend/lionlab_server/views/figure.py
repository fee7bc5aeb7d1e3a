"""Figure JSON for plotly.js from trace and layout dicts the builders assemble.

`plotly.graph_objects.Figure(...).to_plotly_json()` validates every property on every request
(about a third of a run page's chart time). The builders here produce the same JSON without
that pass: numpy arrays in traces become plotly.js typed arrays (base64, as Python plotly
sends them) and a template name becomes the template itself. tests/views/test_figure.py
checks each builder's output against plotly's own, so an invalid property still fails there.
"""

from __future__ import annotations

import base64
import functools
from typing import Any

import numpy as np
import plotly.io as pio

_INT32 = np.iinfo(np.int32)
# numpy dtype -> plotly.js typed-array dtype
_TYPED = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4",
          "uint32": "u4", "float32": "f4", "float64": "f8"}  # fmt: skip


def typed_array(v: np.ndarray) -> Any:
    """A plotly.js typed-array spec for a numeric array; other arrays as lists."""
    if v.size == 0:
        return []
    if v.dtype.kind in "iu" and str(v.dtype) not in _TYPED:  # 64-bit: plotly.js has none
        fits = _INT32.min <= v.min() and v.max() <= _INT32.max
        v = v.astype(np.int32 if fits else np.float64)  # steps < 2**53 stay exact in f8
    code = _TYPED.get(str(v.dtype))
    if code is None or v.ndim != 1:
        return v.tolist()
    return {"dtype": code, "bdata": base64.b64encode(np.ascontiguousarray(v)).decode("ascii")}


def _arrays_to_typed(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return typed_array(obj)
    if isinstance(obj, dict):
        return {k: _arrays_to_typed(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_arrays_to_typed(v) for v in obj]
    return obj


@functools.cache
def _template(name: str) -> dict[str, Any]:
    return pio.templates[name].to_plotly_json()


def expand_template(layout: dict[str, Any]) -> dict[str, Any]:
    """`layout` with a template name replaced by the template (plotly.js knows no names)."""
    layout = dict(layout)
    if isinstance(layout.get("template"), str):
        layout["template"] = _template(layout["template"])
    return layout


def figure(data: list[dict[str, Any]], layout: dict[str, Any]) -> dict[str, Any]:
    """{"data", "layout"} as plotly.js reads it."""
    return {"data": [_arrays_to_typed(t) for t in data], "layout": expand_template(layout)}
