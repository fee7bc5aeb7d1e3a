"""Time to the target eval loss: every trial's steps (or wall seconds) per configuration, and
the challenger/baseline speedup of the best configurations with its bootstrap interval.

Left panel: one row per configuration, one point per seed. A seed that ended without reaching
the target is drawn where it stopped with an open marker: its true time is longer (censored).
Right panel: the speedup (log axis, 1 = parity) in steps and, where wall times exist, seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lionlab.sweeps import GroupSummary, Speedup, SweepAnalysis, TrialStatus
from lionlab.sweeps.analysis import SeedPoint
from lionlab_server.views.figure import figure
from lionlab_server.views.style import AXIS_LINE, GRID, MUTED, base_layout
from lionlab_server.views.sweep_labels import (
    config_label,
    optimizer_name,
    optimizer_order,
    sweep_color,
    swept_paths,
)

SPLIT = 0.76  # the seeds' panel takes the left 76% of the width, the speedup panel the rest
# How a seed that did not reach the target is drawn: at the step where it stopped.
MISSED = {
    TrialStatus.SUCCEEDED: ("triangle-right-open", "ran all {n} steps without reaching it"),
    TrialStatus.STOPPED_EARLY: ("square-open", "stopped early at step {n} before reaching it"),
    TrialStatus.DIVERGED: ("x-thin-open", "diverged at step {n} before reaching it"),
}
UNITS = {"steps": "steps", "seconds": "wall-clock s"}


def _rows(analysis: SweepAnalysis) -> list[GroupSummary]:
    """Configurations with a seed that reached the target or ended, baseline first, by lr."""
    order = optimizer_order(analysis)

    def shown(g: GroupSummary) -> bool:
        return any(_reached(analysis, p) or p.status.finished for p in g.seeds)

    rows = [g for g in analysis.groups if shown(g)]
    return sorted(rows, key=lambda g: (order.index(g.optimizer), g.lr or 0.0, g.group))


def _reached(analysis: SweepAnalysis, p: SeedPoint) -> bool:
    hit = analysis.hits.get(p.trial)
    return bool(hit and hit.reached)


def _row_label(analysis: SweepAnalysis, g: GroupSummary, paths: Sequence[str]) -> str:
    star = "★ " if analysis.best.get(g.optimizer) is g else ""
    return f"{star}{optimizer_name(g.optimizer)} {config_label(g.params, paths)}"


def _seed_points(analysis, groups, labels, unit: str) -> tuple[list, list, list, list, list]:
    """x, y, symbols, hover texts, trial ids of one optimizer's seeds in `unit`."""
    xs, ys, symbols, texts, trials = [], [], [], [], []
    for g in groups:
        for p in g.seeds:
            hit = analysis.hits.get(p.trial)
            if hit and hit.reached:
                x = hit.step if unit == "steps" else hit.seconds
                symbol = "circle"
                seconds = "" if hit.seconds is None else f" · {hit.seconds:,.0f} s"
                text = f"seed {p.seed}: reached it at step {hit.step:,}{seconds}"
            elif p.status in MISSED and unit == "steps":
                x = p.steps_run
                symbol, words = MISSED[p.status]
                text = f"seed {p.seed}: {words.format(n=f'{p.steps_run:,}')}"
            else:
                continue  # still running, or no wall time to place it by
            if x is None:
                continue
            xs.append(x)
            ys.append(labels[g.group])
            symbols.append(symbol)
            texts.append(text)
            trials.append(p.trial)
    return xs, ys, symbols, texts, trials


def _seed_trace(analysis, optimizer, groups, labels, unit: str) -> dict[str, Any]:
    xs, ys, symbols, texts, trials = _seed_points(analysis, groups, labels, unit)
    color = sweep_color(optimizer)
    return {
        "type": "scatter",
        "mode": "markers",
        "name": optimizer_name(optimizer),
        "legendgroup": optimizer,
        "showlegend": unit == "steps",
        "visible": unit == "steps",
        "x": xs,
        "y": ys,
        "marker": {
            "color": color,
            "symbol": symbols,
            "size": 9,
            "opacity": 0.85,
            "line": {"color": color, "width": 1.5},
        },
        "text": texts,
        "hovertemplate": "%{y}<br>%{text}<extra></extra>",
        "meta": {"role": "seeds", "unit": unit, "optimizer": optimizer, "trials": trials},
    }


def _speedup_trace(analysis: SweepAnalysis, sp: Speedup, label: str) -> dict[str, Any]:
    chal, base = optimizer_name(analysis.challenger), optimizer_name(analysis.baseline)
    has_ci = sp.low is not None and sp.high is not None
    ci = f"{sp.confidence:.0%} CI {sp.low:.3g} to {sp.high:.3g}" if has_ci else "no interval"
    seeds = f"{len(sp.challenger_times)} {chal} / {len(sp.baseline_times)} {base} seeds"
    return {
        "type": "scatter",
        "mode": "markers+text",
        "name": f"{chal}/{base} speedup ({sp.unit})",
        "showlegend": False,
        "xaxis": "x2",
        "yaxis": "y2",
        "x": [sp.ratio],
        "y": [label],
        "error_x": {
            "type": "data",
            "symmetric": False,
            "array": [sp.high - sp.ratio if has_ci else 0.0],
            "arrayminus": [sp.ratio - sp.low if has_ci else 0.0],
            "color": sweep_color(analysis.challenger),
            "thickness": 2,
            "width": 6,
        },
        "marker": {"color": sweep_color(analysis.challenger), "size": 11, "symbol": "diamond"},
        "text": [f"{label} {sp.ratio:.2f}x"],
        "textposition": "top center",
        "textfont": {"size": 12, "color": sweep_color(analysis.challenger)},
        "customdata": [[ci, seeds, "paired by seed" if sp.paired else "unpaired"]],
        "hovertemplate": (
            f"{chal}/{base} %{{x:.3g}}x in {sp.unit}<br>%{{customdata[0]}}<br>"
            "%{customdata[1]}, %{customdata[2]}<extra></extra>"
        ),
        "meta": {
            "role": "speedup",
            "unit": sp.unit,
            "ratio": sp.ratio,
            "low": sp.low,
            "high": sp.high,
        },
    }


def _speedups(analysis: SweepAnalysis) -> list[tuple[Speedup, str]]:
    out = []
    for sp, label in ((analysis.speedup_steps, "steps"), (analysis.speedup_seconds, "wall-clock")):
        if sp is not None and sp.ratio is not None and math.isfinite(sp.ratio):
            out.append((sp, label))
    return out


def _speedup_axis_range(speedups: Sequence[tuple[Speedup, str]]) -> list[float]:
    """log10 range that always shows parity (1) and every interval, with some air."""
    values = [1.0] + [v for sp, _ in speedups for v in (sp.ratio, sp.low, sp.high) if v]
    lo, hi = min(values) / 1.3, max(values) * 1.3
    return [math.log10(lo), math.log10(hi)]


def _speedup_axes(analysis: SweepAnalysis, speedups) -> dict[str, Any]:
    """The right panel: a log ratio axis with parity (1) dotted, one row per unit."""
    x2 = {
        "domain": [SPLIT + 0.03, 1],
        "anchor": "y2",
        "type": "log",
        "range": _speedup_axis_range(speedups),
        "gridcolor": GRID,
        "linecolor": AXIS_LINE,
        "showline": True,
        "ticks": "outside",
        "tickcolor": AXIS_LINE,
        "title": {
            "text": f"> 1: {optimizer_name(analysis.challenger)} faster",
            "font": {"color": MUTED},
        },
    }
    y2 = {
        "anchor": "x2",
        "type": "category",
        "categoryarray": ["wall-clock", "steps"],  # steps on top
        "categoryorder": "array",
        "range": [-0.7, 1.7],
        "showticklabels": False,  # each point's text names its unit
        "showgrid": False,
        "fixedrange": True,
    }
    parity = {
        "type": "line",
        "xref": "x2",
        "yref": "y2 domain",
        "x0": 1,
        "x1": 1,
        "y0": 0,
        "y1": 1,
        "line": {"color": MUTED, "width": 1, "dash": "dot"},
        "name": "parity",
    }
    return {"xaxis2": x2, "yaxis2": y2, "shapes": [parity] if speedups else []}


def _speedup_title(analysis: SweepAnalysis) -> dict[str, Any]:
    chal, base = optimizer_name(analysis.challenger), optimizer_name(analysis.baseline)
    return {
        "xref": "x2 domain",
        "x": 0.5,
        "yref": "paper",
        "y": 1.0,
        "yanchor": "bottom",
        "text": f"<b>{chal}/{base} speedup</b>, best configurations",
        "showarrow": False,
        "font": {"size": 12},
    }


def _unit_switch(n_seed_traces: int, n_other: int) -> dict[str, Any]:
    """Buttons that show the seeds in steps or in wall-clock seconds."""

    def visible(unit_index: int) -> list[bool]:
        seeds = [i % 2 == unit_index for i in range(n_seed_traces)]
        return seeds + [True] * n_other

    buttons = [
        {
            "label": label,
            "method": "update",
            "args": [{"visible": visible(i)}, {"xaxis.title.text": title}],
        }
        for i, (label, title) in enumerate(
            (("Steps", "steps to target"), ("Wall clock", "seconds to target"))
        )
    ]
    return {
        "type": "buttons",
        "direction": "right",
        "buttons": buttons,
        "x": SPLIT - 0.04,
        "xanchor": "right",
        "y": 1.0,
        "yanchor": "bottom",
        "pad": {"b": 6},
        "showactive": True,
        "bgcolor": "#ffffff",
        "bordercolor": AXIS_LINE,
        "font": {"size": 11},
    }


def _empty_note(text: str) -> dict[str, Any]:
    return {
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
        "text": text,
        "showarrow": False,
        "font": {"size": 13, "color": MUTED},
    }


def _notes(analysis: SweepAnalysis, rows: Sequence[GroupSummary], speedups) -> list[dict]:
    """The speedup panel's title, and what is missing when a panel has nothing to show."""
    notes = [_speedup_title(analysis)]
    if analysis.target is None:
        base = optimizer_name(analysis.baseline)
        notes.append(_empty_note(f"No target yet: {base}'s best configuration has not finished."))
    elif not rows:
        notes.append(_empty_note("No trial has ended yet."))
    if not speedups:
        sp = analysis.speedup_steps
        never = (
            sp is not None
            and sp.ratio is None
            and sp.challenger_censored == len(sp.challenger_times)
        )
        text = (
            f"no speedup: {optimizer_name(analysis.challenger)}<br>never reached the target"
            if never
            else "no speedup measured yet"
        )
        notes.append({**_empty_note(text), "xref": "x2 domain"})
    return notes


def _panel_placeholder() -> dict[str, Any]:
    """An invisible point on the speedup axes: plotly draws an axis pair only when a trace
    uses it, and the panel (with its note saying why it is empty) must keep its place."""
    return {
        "type": "scatter",
        "x": [1],
        "y": ["steps"],
        "xaxis": "x2",
        "yaxis": "y2",
        "mode": "markers",
        "marker": {"opacity": 0},
        "hoverinfo": "skip",
        "showlegend": False,
        "meta": {"role": "placeholder"},
    }


def _seed_traces(analysis: SweepAnalysis, rows, labels: dict[str, str]) -> list[dict]:
    """Per optimizer a steps trace and a (hidden) seconds trace, in that order."""
    data = []
    for optimizer in optimizer_order(analysis):
        groups = [g for g in rows if g.optimizer == optimizer]
        if groups:
            for unit in ("steps", "seconds"):
                data.append(_seed_trace(analysis, optimizer, groups, labels, unit))
    return data


def time_to_target_figure(analysis: SweepAnalysis) -> dict[str, Any]:
    """Steps (or seconds) to `analysis.target` per seed and configuration, and the speedup."""
    title = "Time to target"
    if analysis.target is not None:
        title += f" (eval loss ≤ {analysis.target:.4g})"
    rows = _rows(analysis) if analysis.target is not None else []
    paths = swept_paths(g.params for g in analysis.groups)
    labels = {g.group: _row_label(analysis, g, paths) for g in rows}
    seeds = _seed_traces(analysis, rows, labels)
    has_seconds = any(t["meta"]["unit"] == "seconds" and t["x"] for t in seeds)
    speedups = _speedups(analysis) if rows else []
    panel = [_speedup_trace(analysis, sp, label) for sp, label in speedups]
    data = seeds + (panel or [_panel_placeholder()])

    layout = base_layout(title, "steps to target", show_legend=True, revision="sweep")
    layout["hovermode"] = "closest"
    layout["height"] = max(300, 120 + 26 * len(rows))
    layout["xaxis"] |= {"domain": [0, SPLIT - 0.04], "rangemode": "tozero"}
    layout["yaxis"] |= {
        "type": "category",
        "categoryorder": "array",
        "categoryarray": list(labels.values()),
        "autorange": "reversed",  # first configuration at the top
    }
    layout |= _speedup_axes(analysis, speedups)
    layout["annotations"] = _notes(analysis, rows, speedups)
    if has_seconds:
        layout["updatemenus"] = [_unit_switch(len(seeds), len(data) - len(seeds))]
    layout["meta"] = {
        "chart": "time_to_target",
        "empty": not rows,
        "target": analysis.target,
        "units": ["steps", "seconds"] if has_seconds else ["steps"],
    }
    return figure(data, layout)
