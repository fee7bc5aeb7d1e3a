"""The run view: which charts a run gets, and what each is drawn from (the browser builds
its traces: frontend/static/js/traces.js)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lionlab_server.schemas import FlagOut
from lionlab_server.store.series import SeriesData
from lionlab_server.views.chart_data import XAxis, chart_layout, chart_series, flag_json
from lionlab_server.views.flags import flag_metric_keys
from lionlab_server.views.style import METRIC_COLORS


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


def run_chart(
    chart: ChartSpec,
    series: Sequence[SeriesData],
    flags: Sequence[FlagOut],
    axis: XAxis,
) -> dict[str, Any]:
    """One chart of a run: each key's series with its colour, the chart's flags, the layout."""
    by_key = {s.key: s for s in series}
    return {
        **chart.as_json(),
        "series": [
            chart_series(by_key[key], name=key, color=METRIC_COLORS[i % len(METRIC_COLORS)])
            for i, key in enumerate(chart.keys)
        ],
        "flags": [flag_json(f) for f in flags],
        "layout": chart_layout(
            chart.id, chart.title, chart.keys, axis, show_legend=len(chart.keys) > 1
        ),
    }
