"""What a metric chart is drawn from: its series, flags, x axis and layout, as data.

The dashboard builds every trace of a metric chart (raw, smoothed, NaN/Inf marks, flags) in
frontend/static/js/traces.js, from what this module puts in the chart endpoints' answers, so
a server-loaded chart and a refetched (zoomed, live) one go through one path. The server
keeps what spans a whole page or needs the store: which x axis (per-run start times and a
time unit for every chart of the page), the series in the `/api/v1/series` format, each
series' legend name and colour, the flags, and the layout shared with the sweep figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lionlab_server.api.encoding import encode_floats
from lionlab_server.schemas import FlagOut
from lionlab_server.store.series import SeriesData
from lionlab_server.views.figure import expand_template
from lionlab_server.views.style import base_layout

XMode = Literal["step", "wall", "relative"]

# Relative-time units, picked so the longest run spans a readable number of them.
TIME_UNITS = ((7200.0, 3600.0, "h"), (120.0, 60.0, "min"), (0.0, 1.0, "s"))


@dataclass(frozen=True)
class XAxis:
    """What the x axis shows. `starts`: each run's first wall time (s), for relative time."""

    mode: XMode = "step"
    starts: Mapping[int, float] = field(default_factory=dict)
    unit_s: float = 1.0
    unit: str = "s"
    tz_offset_s: float = 0.0  # the viewer's UTC offset: wall-clock axes show local time

    @property
    def title(self) -> str:
        if self.mode == "wall":
            return "wall time"
        return "step" if self.mode == "step" else f"time since start ({self.unit})"

    def layout(self) -> dict[str, Any]:
        """Axis settings for layout.xaxis: a date axis for wall time, hover formats."""
        if self.mode == "wall":
            return {"type": "date", "hoverformat": "%Y-%m-%d %H:%M:%S"}
        return {"hoverformat": ",d" if self.mode == "step" else ",.2f"}

    def meta(self) -> dict[str, Any]:
        """What traces.js needs to place points on this axis (layout.meta carries it)."""
        return {
            "x_mode": self.mode,
            "x_unit_s": self.unit_s,
            "tz_offset_s": self.tz_offset_s,
            "starts": {str(k): v for k, v in self.starts.items()},
        }


def x_axis(mode: XMode, series: Iterable[SeriesData], tz_offset_s: float = 0.0) -> XAxis:
    """The x axis for `mode` over these series: per-run start times and a time unit."""
    starts: dict[int, float] = {}
    ends: dict[int, float] = {}
    for s in series:
        if len(s.walls):
            starts[s.run_id] = min(starts.get(s.run_id, np.inf), float(s.walls.min()))
            ends[s.run_id] = max(ends.get(s.run_id, -np.inf), float(s.walls.max()))
    span = max((ends[r] - starts[r] for r in starts), default=0.0)
    unit_s, unit = next((u, name) for above, u, name in TIME_UNITS if span >= above)
    return XAxis(mode, starts, unit_s, unit, tz_offset_s)


def series_json(s: SeriesData) -> dict[str, Any]:
    """One series as `/api/v1/series` sends it: the extremes-preserving downsample's points
    (each bucket's min and max, first and last), values with 'NaN'/'Infinity' kept apart."""
    return {
        "run_id": s.run_id,
        "key": s.key,
        "steps": s.steps.tolist(),
        "values": encode_floats(s.values),
        "wall_time": s.walls.tolist(),
        "points_in_range": s.points_in_range,
        "downsampled": s.downsampled,
    }


def chart_series(s: SeriesData, *, name: str, color: str, hover: bool = True) -> dict[str, Any]:
    """A series of a chart with its legend name and colour; `hover`: whether its raw curve
    shows in the hover (a compare chart's many faint curves do not)."""
    return {**series_json(s), "name": name, "color": color, "raw_hover": hover}


def flag_json(flag: FlagOut) -> dict[str, Any]:
    """What a flag's span and marker are drawn from."""
    return {
        "id": flag.id,
        "kind": flag.kind,
        "severity": flag.severity,
        "message": flag.message,
        "start_step": flag.start_step,
        "end_step": flag.end_step,
    }


def chart_layout(
    chart_id: str, title: str, keys: Sequence[str], axis: XAxis, *, show_legend: bool
) -> dict[str, Any]:
    """The layout of a metric chart: the shared base layout, the x axis, and in `meta` the
    chart's id, keys and axis (what the browser places points with)."""
    layout = base_layout(title, axis.title, show_legend=show_legend, revision=axis.mode)
    layout["xaxis"] |= axis.layout()
    layout["meta"] = {"chart": chart_id, "keys": list(keys), **axis.meta()}
    return expand_template(layout)
