"""Colours and the base layout every dashboard figure shares."""

from __future__ import annotations

from typing import Any

FONT = "Inter, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"
INK, MUTED, GRID, AXIS_LINE = "#212529", "#6c757d", "#eef0f3", "#ced4da"

# Compare views colour a run by its optimizer; runs sharing one get shades of its family.
OPTIMIZER_COLORS: dict[str, tuple[str, ...]] = {
    "lion": ("#e8590c", "#f59f00", "#9c3d06", "#ffa94d", "#c77700"),
    "distributed_lion": ("#d6336c", "#f06595", "#a61e4d", "#faa2c1", "#c2255c"),
    "adamw": ("#1c7ed6", "#4dabf7", "#1864ab", "#3b5bdb", "#74c0fc"),
    "adam": ("#0ca678", "#38d9a9", "#087f5b", "#2b8a3e", "#63e6be"),
    "sgd": ("#7048e8", "#b197fc", "#5f3dc4", "#9c36b5", "#9775fa"),
}
OTHER_COLORS = ("#495057", "#868e96", "#343a40", "#adb5bd", "#212529")

# One run's page colours its metrics (train vs eval loss share a chart).
METRIC_COLORS = ("#1c7ed6", "#e8590c", "#0ca678", "#7048e8", "#c2255c", "#495057")

# Flag, NaN/Inf and raw-curve styles live with the traces they style: frontend/static/js/traces.js.


def optimizer_color(optimizer: str | None, index: int) -> str:
    """The `index`-th shade of the optimizer's colour family."""
    family = OPTIMIZER_COLORS.get((optimizer or "").lower(), OTHER_COLORS)
    return family[index % len(family)]


def base_layout(title: str, x_title: str, *, show_legend: bool, revision: str) -> dict[str, Any]:
    """Layout shared by metric charts: compact margins, light grid, unified hover."""
    axis = {
        "gridcolor": GRID,
        "linecolor": AXIS_LINE,
        "showline": True,
        "zeroline": False,
        "ticks": "outside",
        "tickcolor": AXIS_LINE,
        "automargin": True,
    }
    return {
        "template": "none",
        # The title sits at the top left; a legend goes between it and the plot, pushing the
        # top margin as far as its entries wrap.
        "title": {
            "text": title,
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 0.98,
            "yanchor": "top",
            "automargin": True,
            "font": {"size": 14, "color": INK},
        },
        "font": {"family": FONT, "size": 12, "color": INK},
        "height": 300,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 44},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "hoverlabel": {
            "bgcolor": "rgba(255,255,255,0.95)",
            "bordercolor": AXIS_LINE,
            "font": {"family": FONT, "size": 12, "color": INK},
        },
        "modebar": {"bgcolor": "rgba(255,255,255,0.8)", "color": MUTED, "activecolor": INK},
        "showlegend": show_legend,
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": 1.02,
            "yanchor": "bottom",
            "font": {"size": 11},
        },
        "xaxis": {**axis, "title": {"text": x_title, "font": {"color": MUTED}}},
        "yaxis": {**axis, "exponentformat": "power"},
        # Overlay axis fixed to [0, 1]: flag and NaN markers sit at the plot's edges whatever
        # the data's range or log scale.
        "yaxis2": {"overlaying": "y", "range": [0, 1], "visible": False, "fixedrange": True},
        # Keeps the user's zoom and legend choices when fresh data is swapped in; a new
        # revision (another x axis) starts afresh.
        "uirevision": revision,
    }
