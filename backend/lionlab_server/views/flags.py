"""Detector flags on a chart: a shaded span (or a line) per flag plus a hoverable marker.

Shapes cannot carry hover text in plotly.js, so each flag also gets a marker on the overlay
axis `y2` at the plot's top edge whose hover shows the flag's message.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np

from lionlab_server.schemas import FlagOut
from lionlab_server.store.series import SeriesData
from lionlab_server.views.style import SEVERITY_COLORS
from lionlab_server.views.traces import XAxis

# Which metric a flag kind is about; a flag goes to the first chart showing one of these.
FLAG_METRICS: dict[str, tuple[str, ...]] = {
    "divergence": ("train_loss", "loss", "eval_loss"),
    "loss_step": ("train_loss", "loss", "eval_loss"),
    "grad_norm_drift": ("grad_norm",),
    "layer_grad_drift": ("grad_norm",),  # about one layer: drawn on the global norm's chart
    "update_ratio": ("update_rms", "grad_norm"),
    "mode_collapse": ("eval_entropy", "eval_distinct_2", "eval_loss"),
}
DEFAULT_FLAG_METRICS = ("train_loss", "loss")


def flag_metric_keys(kind: str) -> tuple[str, ...]:
    return FLAG_METRICS.get(kind, DEFAULT_FLAG_METRICS)


def _severity_color(severity: str) -> str:
    return SEVERITY_COLORS.get(severity, SEVERITY_COLORS["warning"])


def _hover_text(flag: FlagOut) -> str:
    lines = textwrap.wrap(html.escape(flag.message), 64) or [""]
    span = (
        f"step {flag.start_step}"
        if flag.start_step == flag.end_step
        else f"steps {flag.start_step}–{flag.end_step}"
    )
    head = f"<b>{html.escape(flag.kind.replace('_', ' '))}</b> · {html.escape(flag.severity)}"
    return "<br>".join([head, span, *lines])


def _to_x(steps: np.ndarray, axis: XAxis, ref: SeriesData | None) -> np.ndarray | None:
    """Flag steps on the x axis; time axes interpolate the chart's own series."""
    if axis.mode == "step":
        return steps.astype(np.float64)
    if ref is None or len(ref.steps) == 0:
        return None
    walls = np.interp(steps, ref.steps, ref.walls)
    return axis.values(ref.run_id, steps, walls)


def flag_shapes(flags: Sequence[FlagOut], axis: XAxis, ref: SeriesData | None) -> list[dict]:
    """One shaded span (or a dashed line for a single step) per flag, below the data."""
    if not flags:
        return []
    x0 = _to_x(np.array([f.start_step for f in flags]), axis, ref)
    x1 = _to_x(np.array([f.end_step for f in flags]), axis, ref)
    if x0 is None or x1 is None:
        return []
    shapes = []
    for flag, a, b in zip(flags, x0.tolist(), x1.tolist(), strict=True):
        color = _severity_color(flag.severity)
        shape: dict[str, Any] = {"xref": "x", "yref": "paper", "x0": a, "x1": b, "y0": 0, "y1": 1}
        shape["name"] = f"flag:{flag.kind}:{flag.id}"
        shape["layer"] = "below"
        if flag.end_step > flag.start_step:
            shape |= {"type": "rect", "fillcolor": color, "opacity": 0.14, "line": {"width": 0}}
        else:
            shape |= {"type": "line", "opacity": 0.8, "line": {"color": color, "dash": "dot"}}
        shapes.append(shape)
    return shapes


def flag_marker_trace(flags: Sequence[FlagOut], axis: XAxis, ref: SeriesData | None) -> dict:
    """Markers at each flag's span centre on the top edge; hover shows the message."""
    centres = np.array([(f.start_step + f.end_step) / 2 for f in flags], dtype=np.float64)
    x = _to_x(centres, axis, ref) if flags else None
    keep = flags if x is not None else []
    return {
        "type": "scatter",
        "mode": "markers",
        "x": x if x is not None else [],
        "y": [1.0] * len(keep),
        "yaxis": "y2",
        "text": [_hover_text(f) for f in keep],
        "marker": {
            "symbol": "triangle-down",
            "size": 12,
            "color": [_severity_color(f.severity) for f in keep],
            "line": {"color": "#ffffff", "width": 1},
        },
        "cliponaxis": False,
        "showlegend": False,
        "hovertemplate": "%{text}<extra></extra>",
        "meta": {"role": "flags", "flags": [f.id for f in keep]},
    }
