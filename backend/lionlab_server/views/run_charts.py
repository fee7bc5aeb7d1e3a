"""The run view: which charts a run gets, and one figure per chart."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lionlab_server.schemas import FlagOut
from lionlab_server.store.series import SeriesData
from lionlab_server.views.figure import figure
from lionlab_server.views.flags import flag_marker_trace, flag_metric_keys, flag_shapes
from lionlab_server.views.style import METRIC_COLORS, base_layout
from lionlab_server.views.traces import XAxis, series_traces


@dataclass(frozen=True)
class ChartSpec:
    """A chart on the run page: an id for the DOM and URL, a title and its metric keys."""

    id: str
    title: str
    keys: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "keys": list(self.keys)}


# The metrics LionLab's workers log, in page order; train and eval loss share a chart.
STANDARD_CHARTS = (
    ChartSpec("loss", "Loss", ("train_loss", "eval_loss")),
    ChartSpec("grad_norm", "Gradient norm", ("grad_norm",)),
    ChartSpec("lr", "Learning rate", ("lr",)),
    ChartSpec("update_rms", "Update RMS", ("update_rms",)),
    ChartSpec("param_norm", "Parameter norm", ("param_norm",)),
    ChartSpec("samples_per_s", "Throughput (samples/s)", ("samples_per_s",)),
    ChartSpec("step_time", "Step time (s)", ("step_time",)),
)
STANDARD_KEYS = frozenset(k for c in STANDARD_CHARTS for k in c.keys)


def plan_charts(logged_keys: Iterable[str]) -> list[ChartSpec]:
    """The standard charts that have data, then one chart per other logged key (by name)."""
    logged = set(logged_keys)
    charts = []
    for chart in STANDARD_CHARTS:
        keys = tuple(k for k in chart.keys if k in logged)
        if keys:
            charts.append(ChartSpec(chart.id, chart.title, keys))
    for key in sorted(logged - STANDARD_KEYS):
        charts.append(ChartSpec(f"key:{key}", key, (key,)))
    return charts


def assign_flags(flags: Sequence[FlagOut], charts: Sequence[ChartSpec]) -> dict[str, list]:
    """Chart id -> the flags drawn on it: each flag on the first chart of its metric."""
    out: dict[str, list[FlagOut]] = {c.id: [] for c in charts}
    if not charts:
        return out
    for flag in flags:
        wanted = flag_metric_keys(flag.kind)
        home = next(
            (c for k in wanted for c in charts if k in c.keys),
            charts[0],
        )
        out[home.id].append(flag)
    return out


def run_chart_figure(
    chart: ChartSpec,
    series: Sequence[SeriesData],
    flags: Sequence[FlagOut],
    axis: XAxis,
    smoothing: float,
) -> dict[str, Any]:
    """One chart of a run: raw + smoothed curve per key, NaN/Inf marks, flag spans."""
    data: list[dict] = []
    by_key = {s.key: s for s in series}
    for i, key in enumerate(chart.keys):
        s = by_key[key]
        color = METRIC_COLORS[i % len(METRIC_COLORS)]
        data += series_traces(s, axis, name=key, color=color, smoothing=smoothing)
    ref = next((by_key[k] for k in chart.keys if len(by_key[k].steps)), None)
    data.append(flag_marker_trace(flags, axis, ref))
    layout = base_layout(
        chart.title, axis.title, show_legend=len(chart.keys) > 1, revision=axis.mode
    )
    layout["shapes"] = flag_shapes(flags, axis, ref)
    layout["meta"] = {"chart": chart.id, "keys": list(chart.keys), **axis.meta()}
    layout["xaxis"] |= axis.layout()
    return figure(data, layout)
