"""Parallel coordinates of a sweep's trials: optimizer, the swept parameters (lr on a log10
axis), how each trial ended, its best and final eval loss, each line coloured by best loss.

plotly.js parallel coordinates take numbers only, so categories (optimizer, status, tuple
values such as betas) become 0..n-1 with their names as tick labels, and a trial without a
final loss (it diverged, was stopped or is still running) sits at a "none" tick above the rest.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lionlab.sweeps import GroupSummary, SweepAnalysis
from lionlab.sweeps.analysis import SeedPoint
from lionlab_server.views.figure import figure
from lionlab_server.views.params import format_param
from lionlab_server.views.style import INK, MUTED, base_layout
from lionlab_server.views.sweep_labels import (
    LR,
    optimizer_name,
    optimizer_order,
    param_label,
    spaced_log_ticks,
    swept_paths,
)

# Best loss: low is good, so the best trials are drawn in the strongest colour.
LOSS_COLORSCALE = [[0.0, "#0b7285"], [0.35, "#3bc9db"], [0.7, "#a5d8ff"], [1.0, "#dee2e6"]]
STATUS_LABELS = {"stopped_early": "stopped early"}
LOSS_TICKS = 4


@dataclass(frozen=True)
class TrialLine:
    """One trial as a line across the axes."""

    group: GroupSummary
    seed: SeedPoint


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _categorical(label: str, names: Sequence[str]) -> dict[str, Any]:
    order = list(dict.fromkeys(names))
    return {
        "label": label,
        "values": [order.index(n) for n in names],
        "tickvals": list(range(len(order))),
        "ticktext": order,
        "range": [-0.5, len(order) - 0.5] if len(order) > 1 else [-1, 1],
    }


def _log_ticks(values: Sequence[float]) -> dict[str, Any]:
    """Ticks at the swept values themselves (a grid has few), else at powers of ten."""
    unique = sorted(set(values))
    if len(unique) <= 8:
        ticks = spaced_log_ticks(unique)
    else:
        lo, hi = math.floor(math.log10(unique[0])), math.ceil(math.log10(unique[-1]))
        ticks = [10.0**e for e in range(lo, hi + 1)]
    return {
        "tickvals": [math.log10(v) for v in ticks],
        "ticktext": [format_param(v) for v in ticks],
    }


def _param_dimension(path: str, values: Sequence[Any]) -> dict[str, Any]:
    label = param_label(path)
    if not _numeric(values):  # None: an optimizer that does not sweep it takes its default
        names = ["default" if v is None else format_param(v) for v in values]
        return _categorical(label, names)
    floats = [float(v) for v in values]
    positive = all(v > 0 for v in floats)
    if positive and (path == LR or max(floats) / min(floats) >= 10):
        return {
            "label": f"{label} (log)",
            "values": [math.log10(v) for v in floats],
            **_log_ticks(floats),
        }
    return {"label": label, "values": floats}


def _loss_dimension(label: str, values: Sequence[float | None]) -> dict[str, Any] | None:
    """A loss axis; a trial without a value sits at a "none" tick just above the highest.

    Losses spanning a decade or more (a blown-up trial next to good ones) go on a log10 axis,
    so the good trials do not collapse into one line at the bottom."""
    present = [v for v in values if v is not None and math.isfinite(v)]
    if not present:
        return None
    log = min(present) > 0 and max(present) / min(present) >= 10
    scale = math.log10 if log else float
    shown = [scale(v) if v is not None and math.isfinite(v) else None for v in values]
    lo, hi = scale(min(present)), scale(max(present))
    ticks = list(np.linspace(lo, hi, LOSS_TICKS)) if hi > lo else [lo]
    text = [f"{10**t if log else t:.3g}" for t in ticks]
    name = f"{label} (log)" if log else label
    if len(present) == len(values):
        return {"label": name, "values": shown, "tickvals": ticks, "ticktext": text}
    gap = (hi - lo) * 0.15 or abs(hi) * 0.1 or 1.0
    return {
        "label": name,
        "values": [hi + gap if v is None else v for v in shown],
        "range": [lo, hi + gap],
        "tickvals": [*ticks, hi + gap],
        "ticktext": [*text, "none"],
    }


def _lines(analysis: SweepAnalysis) -> list[TrialLine]:
    """Trials with at least one finite eval loss, optimizers in the sweep's order."""
    order = optimizer_order(analysis)
    lines = [TrialLine(g, p) for g in analysis.groups for p in g.seeds if p.best is not None]
    return sorted(lines, key=lambda t: order.index(t.group.optimizer))


def _dimensions(analysis: SweepAnalysis, lines: Sequence[TrialLine]) -> list[dict[str, Any]]:
    """optimizer, each swept parameter, status, best and final loss (when any trial has one)."""
    if not lines:
        return []
    dims = [_categorical("optimizer", [optimizer_name(t.group.optimizer) for t in lines])]
    for path in swept_paths(g.params for g in analysis.groups):
        dims.append(_param_dimension(path, [t.group.params.get(path) for t in lines]))
    statuses = [STATUS_LABELS.get(t.seed.status.value, t.seed.status.value) for t in lines]
    dims.append(_categorical("status", statuses))
    losses = (
        _loss_dimension("best eval loss", [t.seed.best for t in lines]),
        _loss_dimension("final eval loss", [t.seed.final for t in lines]),
    )
    return dims + [d for d in losses if d is not None]


def _line_colors(best: Sequence[float]) -> dict[str, Any]:
    """Lines coloured by best loss; the scale stops at the 90th percentile so that one blown-up
    trial does not wash out the differences between the good ones."""
    return {
        "color": list(best),
        "colorscale": LOSS_COLORSCALE,
        "showscale": bool(best),
        "cmin": min(best, default=0.0),
        "cmax": float(np.percentile(best, 90)) if len(best) >= 5 else max(best, default=1.0),
        "colorbar": {"title": {"text": "best loss", "side": "right"}, "thickness": 12},
    }


def parallel_figure(analysis: SweepAnalysis) -> dict[str, Any]:
    """One line per trial across optimizer, swept parameters, status and losses."""
    lines = _lines(analysis)
    trace = {
        "type": "parcoords",
        "dimensions": _dimensions(analysis, lines),
        "line": _line_colors([t.seed.best for t in lines]),
        "labelfont": {"size": 12, "color": INK},
        "tickfont": {"size": 11, "color": MUTED},
        "rangefont": {"size": 10, "color": MUTED},
        "meta": {"role": "trials", "trials": [t.seed.trial for t in lines]},
    }
    layout = base_layout(
        "Trials across the swept parameters", "", show_legend=False, revision="sweep"
    )
    for key in ("xaxis", "yaxis", "yaxis2", "hovermode"):  # no cartesian axes here
        layout.pop(key)
    layout["height"] = 380
    layout["margin"] = {"l": 64, "r": 48, "t": 84, "b": 28}
    layout["meta"] = {"chart": "parallel", "empty": not lines}
    return figure([trace], layout)
