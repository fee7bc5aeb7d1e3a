"""Loss against learning rate: one line per optimizer (final and best eval loss, seeds' sd as
error bars), diverged and stopped-early configurations marked, each optimizer's best starred.

Several configurations can share an lr (other swept parameters); the line goes through the
best of them at each lr (the eligible one with the lowest mean), so it reads as "the loss this
lr can reach". The others appear as faint dots with their own hover.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from lionlab.sweeps import GroupSummary, SweepAnalysis, TrialStatus
from lionlab_server.views.figure import figure
from lionlab_server.views.params import format_param
from lionlab_server.views.style import MUTED, base_layout
from lionlab_server.views.sweep_labels import (
    config_label,
    optimizer_name,
    optimizer_order,
    spaced_log_ticks,
    sweep_color,
)

MAX_LR_TICKS = 8
EDGE = 0.97  # diverged configurations sit at the plot's top edge: their loss is off the chart
METRICS = {"final": ("final_mean", "final_sd", "solid"), "best": ("best_mean", "best_sd", "dash")}


def _n(g: GroupSummary, status: TrialStatus) -> int:
    return g.count(status)


def _value(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}"


def _describe(g: GroupSummary) -> str:
    """Hover text of a configuration: its values, losses and how its seeds ended."""
    seeds = len(g.seeds)
    lines = [
        f"<b>{optimizer_name(g.optimizer)}</b> {html.escape(config_label(g.params))}",
        f"final {_value(g.final_mean)}"
        + ("" if g.final_sd is None else f" ± {g.final_sd:.2g}")
        + f" · best {_value(g.best_mean)}"
        + ("" if g.best_sd is None else f" ± {g.best_sd:.2g}"),
        f"{_n(g, TrialStatus.SUCCEEDED)} of {seeds} seeds ran to the end",
    ]
    for status, words in (
        (TrialStatus.DIVERGED, "diverged"),
        (TrialStatus.STOPPED_EARLY, "stopped early by ASHA"),
    ):
        if _n(g, status):
            lines.append(f"{words} on {_n(g, status)} of {seeds} seeds")
    if g.pending:
        lines.append(f"{g.pending} seeds still to finish")
    return "<br>".join(lines)


def _per_lr(groups: Sequence[GroupSummary], metric: str) -> list[GroupSummary]:
    """At each lr, the configuration the line goes through: eligible first, then lowest mean."""
    mean = METRICS[metric][0]
    chosen: dict[float, GroupSummary] = {}
    for g in groups:
        if g.lr is None or getattr(g, mean) is None:
            continue
        key = (not g.eligible, getattr(g, mean))
        current = chosen.get(g.lr)
        if current is None or key < (not current.eligible, getattr(current, mean)):
            chosen[g.lr] = g
    return [chosen[lr] for lr in sorted(chosen)]


def _line(optimizer: str, groups: Sequence[GroupSummary], metric: str) -> dict[str, Any]:
    mean, sd, dash = METRICS[metric]
    rows = _per_lr(groups, metric)
    color = sweep_color(optimizer)
    return {
        "type": "scatter",
        "mode": "lines+markers",
        "name": f"{optimizer_name(optimizer)} {metric}",
        "legendgroup": optimizer,
        "x": [g.lr for g in rows],
        "y": [getattr(g, mean) for g in rows],
        "error_y": {
            "type": "data",
            "array": [getattr(g, sd) or 0.0 for g in rows],
            "visible": True,
            "color": color,
            "thickness": 1.5 if metric == "final" else 1,
            "width": 4,
        },
        "line": {"color": color, "width": 2 if metric == "final" else 1.5, "dash": dash},
        "marker": {
            "color": color if metric == "final" else "#ffffff",
            "size": 7,
            "line": {"color": color, "width": 1.5},
        },
        "text": [_describe(g) for g in rows],
        "hovertemplate": f"lr %{{x:.3g}} · {metric} %{{y:.4g}}<br>%{{text}}<extra></extra>",
        "meta": {"role": metric, "optimizer": optimizer, "groups": [g.group for g in rows]},
    }


def _others(optimizer: str, groups: Sequence[GroupSummary]) -> dict[str, Any] | None:
    """Configurations off the final-loss line (another at their lr did better)."""
    on_line = {g.group for g in _per_lr(groups, "final")}
    rest = [g for g in groups if g.group not in on_line and g.lr and g.final_mean is not None]
    if not rest:
        return None
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{optimizer_name(optimizer)} other configurations",
        "legendgroup": optimizer,
        "showlegend": False,
        "x": [g.lr for g in rest],
        "y": [g.final_mean for g in rest],
        "opacity": 0.45,
        "marker": {"color": sweep_color(optimizer), "size": 6},
        "text": [_describe(g) for g in rest],
        "hovertemplate": "%{text}<extra>other configuration</extra>",
        "meta": {"role": "other", "optimizer": optimizer, "groups": [g.group for g in rest]},
    }


def _diverged(optimizer: str, groups: Sequence[GroupSummary]) -> dict[str, Any] | None:
    """An x at the top edge above each lr where a configuration diverged on any seed."""
    rows = [g for g in groups if g.diverged and g.lr is not None]
    if not rows:
        return None
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{optimizer_name(optimizer)} diverged",
        "legendgroup": optimizer,
        "x": [g.lr for g in rows],
        "y": [EDGE] * len(rows),
        "yaxis": "y2",
        "cliponaxis": False,
        "marker": {
            "symbol": "x-thin",
            "size": 11,
            "line": {"color": sweep_color(optimizer), "width": 2.5},
        },
        "text": [
            f"<b>diverged on {g.diverged} of {len(g.seeds)} seed{'s' if len(g.seeds) > 1 else ''}"
            f"</b><br>{_describe(g)}"
            for g in rows
        ],
        "hovertemplate": "lr %{x:.3g}<br>%{text}<extra></extra>",
        "meta": {"role": "diverged", "optimizer": optimizer, "groups": [g.group for g in rows]},
    }


def _stopped(optimizer: str, groups: Sequence[GroupSummary]) -> dict[str, Any] | None:
    """Configurations ASHA stopped on some seed: at the mean of those seeds' best eval loss."""
    rows = []
    for g in groups:
        bests = [
            p.best for p in g.seeds if p.status == TrialStatus.STOPPED_EARLY and p.best is not None
        ]
        if bests and g.lr is not None:
            rows.append((g, sum(bests) / len(bests)))
    if not rows:
        return None
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{optimizer_name(optimizer)} stopped early",
        "legendgroup": optimizer,
        "x": [g.lr for g, _ in rows],
        "y": [y for _, y in rows],
        "marker": {
            "symbol": "triangle-down-open",
            "size": 9,
            "color": sweep_color(optimizer),
            "line": {"width": 1.5},
        },
        "text": [_describe(g) for g, _ in rows],
        "hovertemplate": "lr %{x:.3g} · best before stopping %{y:.4g}<br>%{text}<extra></extra>",
        "meta": {
            "role": "stopped_early",
            "optimizer": optimizer,
            "groups": [g.group for g, _ in rows],
        },
    }


def _best(analysis: SweepAnalysis, optimizer: str) -> dict[str, Any] | None:
    g = analysis.best.get(optimizer)
    if g is None or g.lr is None:
        return None
    return {
        "type": "scatter",
        "mode": "markers",
        "name": f"{optimizer_name(optimizer)} best configuration",
        "legendgroup": optimizer,
        "showlegend": False,
        "x": [g.lr],
        "y": [g.final_mean],
        "marker": {
            "symbol": "star",
            "size": 16,
            "color": sweep_color(optimizer),
            "line": {"color": "#ffffff", "width": 1},
        },
        "text": [f"<b>best {optimizer_name(optimizer)} configuration</b><br>{_describe(g)}"],
        "hovertemplate": "%{text}<extra></extra>",
        "meta": {"role": "best_config", "optimizer": optimizer, "groups": [g.group]},
    }


def _target_line(target: float | None) -> tuple[list[dict], list[dict]]:
    """(shapes, annotations): the target eval loss as a dotted horizontal line."""
    if target is None:
        return [], []
    line = {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "yref": "y",
        "y0": target,
        "y1": target,
        "layer": "below",
        "line": {"color": MUTED, "width": 1, "dash": "dot"},
        "name": "target",
    }
    note = {
        "xref": "paper",
        "x": 1,
        "xanchor": "right",
        "yref": "y",
        "y": target,
        "yanchor": "bottom",
        "text": f"target {format_param(float(f'{target:.4g}'))}",
        "showarrow": False,
        "font": {"size": 11, "color": MUTED},
    }
    return [line], [note]


def _lr_ticks(data: Sequence[dict]) -> dict[str, Any]:
    """Ticks at the swept learning rates when a grid has few, else one per decade."""
    lrs = sorted({x for t in data if t.get("yaxis") != "y2" for x in t["x"]})
    if 0 < len(lrs) <= MAX_LR_TICKS:
        ticks = spaced_log_ticks(lrs)
        return {"tickvals": ticks, "ticktext": [format_param(v) for v in ticks]}
    return {"dtick": 1, "exponentformat": "power"}


def sensitivity_figure(analysis: SweepAnalysis) -> dict[str, Any]:
    """Final and best eval loss against lr (log axis), one colour per optimizer."""
    data: list[dict] = []
    by_optimizer = analysis.sensitivity()
    for optimizer in optimizer_order(analysis):
        groups = by_optimizer[optimizer]
        data += [_line(optimizer, groups, "final"), _line(optimizer, groups, "best")]
        data += [
            t
            for t in (
                _others(optimizer, groups),
                _stopped(optimizer, groups),
                _diverged(optimizer, groups),
                _best(analysis, optimizer),
            )
            if t is not None
        ]
    layout = base_layout(
        "Loss against learning rate", "learning rate", show_legend=True, revision="sweep"
    )
    layout["height"] = 440
    layout["hovermode"] = "closest"
    layout["xaxis"] |= {"type": "log", **_lr_ticks(data)}
    # A vertical legend on the right: eight entries read better as a column than in rows.
    layout["legend"] = {
        "orientation": "v",
        "x": 1.02,
        "y": 1,
        "yanchor": "top",
        "font": {"size": 11},
    }
    layout["margin"] = {**layout["margin"], "r": 8}
    layout["yaxis"] |= {"title": {"text": "eval loss", "font": {"color": MUTED}}}
    layout["shapes"], layout["annotations"] = _target_line(analysis.target)
    has_points = any(len(t["x"]) for t in data)
    layout["meta"] = {"chart": "sensitivity", "empty": not has_points}
    return figure(data, layout)
