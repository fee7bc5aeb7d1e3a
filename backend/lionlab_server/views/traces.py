"""Series to Plotly traces: the x axis (step or time), raw and smoothed curves, NaN/Inf marks.

Each series becomes three traces, always in this order and always present (possibly empty),
so the dashboard can swap in refetched points trace by trace:
raw (faint), smoothed (the debiased EMA of raw), non-finite (NaN/+-Inf markers on the
overlay axis `y2`, at the plot's bottom or top edge).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lionlab_server.store.series import SeriesData
from lionlab_server.views.smoothing import debiased_ema
from lionlab_server.views.style import NONFINITE_COLOR, RAW_OPACITY

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

    def values(self, run_id: int, steps: np.ndarray, walls: np.ndarray) -> np.ndarray:
        """x coordinates of points: steps, epoch milliseconds (local), or elapsed units."""
        if self.mode == "step":
            return steps
        if self.mode == "wall":
            return (walls + self.tz_offset_s) * 1000.0
        return (walls - self.starts.get(run_id, 0.0)) / self.unit_s

    def layout(self) -> dict[str, Any]:
        """Axis settings for layout.xaxis: a date axis for wall time, hover formats."""
        if self.mode == "wall":
            return {"type": "date", "hoverformat": "%Y-%m-%d %H:%M:%S"}
        return {"hoverformat": ",d" if self.mode == "step" else ",.2f"}

    def meta(self) -> dict[str, Any]:
        """What chart.js needs to place refetched points on this axis."""
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


def _nonfinite_trace(s: SeriesData, x: np.ndarray, key_meta: dict) -> dict[str, Any]:
    bad = ~np.isfinite(s.values)
    v = s.values[bad]
    label = np.where(np.isnan(v), "NaN", np.where(v > 0, "+Inf", "-Inf")).tolist()
    return {
        "type": "scatter",
        "mode": "markers",
        "x": x[bad],
        "y": np.where(v > 0, 0.97, 0.03),  # +Inf at the top edge, NaN and -Inf at the bottom
        "yaxis": "y2",
        "text": label,
        "customdata": s.steps[bad],
        "marker": {
            "color": NONFINITE_COLOR,
            "size": 9,
            "symbol": np.where(
                np.isnan(v), "x", np.where(v > 0, "triangle-up", "triangle-down")
            ).tolist(),
        },
        "cliponaxis": False,
        "showlegend": False,
        "hovertemplate": f"%{{text}} at step %{{customdata}}<extra>{s.key}</extra>",
        "meta": {**key_meta, "role": "nonfinite"},
    }


def series_traces(
    s: SeriesData,
    axis: XAxis,
    *,
    name: str,
    color: str,
    smoothing: float,
    raw_hover: bool = True,
) -> list[dict[str, Any]]:
    """[raw, smoothed, non-finite] traces of one series (see the module docstring)."""
    x = axis.values(s.run_id, s.steps, s.walls)
    finite = np.where(np.isfinite(s.values), s.values, np.nan)  # gaps where NaN/Inf
    key_meta = {"key": s.key, "run": s.run_id}
    group = f"{s.run_id}:{s.key}"
    step_hover = "" if axis.mode == "step" else " · step %{customdata}"
    common: dict[str, Any] = {"type": "scatter", "mode": "lines", "x": x, "legendgroup": group}
    if axis.mode != "step":
        common["customdata"] = s.steps
    raw = {
        **common,
        "y": finite,
        "name": f"{name} (raw)",
        "showlegend": False,
        "opacity": RAW_OPACITY,
        "line": {"color": color, "width": 1},
        "hovertemplate": f"%{{y:.4g}}{step_hover}<extra>{name} raw</extra>",
        "meta": {**key_meta, "role": "raw"},
    }
    if not raw_hover:
        raw["hoverinfo"] = "skip"
        del raw["hovertemplate"]
    smoothed = {
        **common,
        "y": debiased_ema(finite, smoothing),
        "name": name,
        "line": {"color": color, "width": 2},
        "hovertemplate": f"%{{y:.4g}}{step_hover}<extra>{name}</extra>",
        "meta": {**key_meta, "role": "smoothed", "smoothing": smoothing},
    }
    return [raw, smoothed, _nonfinite_trace(s, x, key_meta)]
