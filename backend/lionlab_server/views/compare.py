"""The compare view: runs overlaid per metric, coloured by optimizer, legend by parameters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lionlab_server.schemas import Run
from lionlab_server.store.series import SeriesData
from lionlab_server.views.chart_data import XAxis, chart_layout, chart_series
from lionlab_server.views.params import differing_keys, legend_labels, run_params
from lionlab_server.views.style import optimizer_color


@dataclass(frozen=True)
class RunStyle:
    """How a run appears in a comparison: its legend label and colour."""

    run_id: int
    label: str
    color: str


@dataclass(frozen=True)
class Comparison:
    """The runs being compared: styles, every run's parameters, and which ones differ."""

    styles: list[RunStyle]
    params: list[dict[str, Any]]
    differing: list[str]

    def table(self, runs: Sequence[Run]) -> dict[str, Any]:
        """Only the differing parameters: columns, then one row of values per run."""
        return {
            "columns": [{"key": k, "label": k} for k in self.differing],
            "rows": [
                {"run": run.id, "values": [p.get(k) for k in self.differing]}
                for run, p in zip(runs, self.params, strict=True)
            ],
        }


def compare_runs(runs: Sequence[Run]) -> Comparison:
    """Labels and colours for `runs`: each optimizer's runs get shades of its colour."""
    params = [run_params(r) for r in runs]
    differing = differing_keys(params)
    labels = legend_labels(runs, params, differing)
    seen: dict[str, int] = {}
    styles = []
    for run in runs:
        family = (run.optimizer or "").lower()
        index = seen.get(family, 0)
        seen[family] = index + 1
        styles.append(RunStyle(run.id, labels[run.id], optimizer_color(family, index)))
    return Comparison(styles, params, differing)


def compare_chart(
    key: str,
    styles: Sequence[RunStyle],
    series: Mapping[int, SeriesData],
    axis: XAxis,
) -> dict[str, Any]:
    """One metric of several runs: each run's series with its label and colour (the browser
    draws a faint raw curve without hover and a smoothed one per run)."""
    chart_id = f"key:{key}"
    return {
        "id": chart_id,
        "title": key,
        "keys": [key],
        "series": [
            chart_series(series[st.run_id], name=st.label, color=st.color, hover=False)
            for st in styles
        ],
        "flags": [],
        "layout": chart_layout(chart_id, key, [key], axis, show_legend=True),
    }
