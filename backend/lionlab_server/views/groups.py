"""Grouped comparisons: runs pooled by their values of chosen parameters ("lion lr=1e-4",
seeds pooled), each group's curves on one common x grid, and its final and best values.

A run's value at a grid point is the linear interpolation of its downsampled series (the
extremes-preserving series `store/group_series.py` reads: raw points for a short run, LOD
bucket extremes for a long one) at that x, and only within the run's own first..last x: a
run does not contribute past its end. A grid point whose bracketing points include a NaN
(or an infinity) gets a non-finite value there; non-finite values are left out of every
statistic and counted (`nonfinite`). sd is the sample standard deviation (ddof=1: seeds
are a sample of what the setting does), null where fewer than two runs contribute.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lionlab_server.store.group_series import RunSeries
from lionlab_server.views.params import MISSING, format_param, short_name
from lionlab_server.views.style import optimizer_color

Band = Literal["minmax", "sd"]
GroupX = Literal["step", "wall"]
DEFAULT_BY = ("optimizer", "lr")


@dataclass
class Group:
    values: dict[str, str]  # by-parameter -> its formatted value ("—" where a run lacks it)
    run_ids: list[int]

    def label(self) -> str:
        """ "lion lr=1e-4": the optimizer's value alone, the others as name=value."""
        parts = [v if k == "optimizer" else f"{short_name(k)}={v}" for k, v in self.values.items()]
        return " ".join(parts) or "all runs"


def group_runs(
    run_ids: Sequence[int], params: Mapping[int, Mapping[str, Any]], by: Sequence[str]
) -> list[Group]:
    """Runs grouped by their formatted values of `by`, groups in order of those values
    (missing last), runs in the order given."""
    groups: dict[tuple[str, ...], Group] = {}
    for rid in run_ids:
        values = {k: format_param(params[rid].get(k)) for k in by}
        groups.setdefault(tuple(values.values()), Group(values, [])).run_ids.append(rid)
    order = sorted(groups, key=lambda t: [(v == MISSING, _numeric(v), v) for v in t])
    return [groups[t] for t in order]


def _numeric(text: str) -> float:
    try:
        return float(text)  # lr=3e-4 before lr=1e-3: numbers in their order, not as text
    except ValueError:
        return float("inf")


def _x_of(series: RunSeries, x: GroupX) -> tuple[np.ndarray, np.ndarray]:
    """The run's x (steps, or seconds since its first point) and values, sorted by x."""
    if x == "step":
        return series.steps.astype(np.float64), series.values
    secs = series.walls - series.walls[0]
    order = np.argsort(secs, kind="stable")
    return secs[order], series.values[order]


def grid_of(ranges: list[tuple[float, float]], x: GroupX, points: int) -> np.ndarray:
    """`points` evenly spaced x over the group's range; every step when the range holds
    fewer steps than that (so runs logged at every step are read at their own points)."""
    if not ranges:
        return np.zeros(0)
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if x == "step" and hi - lo + 1 <= points:
        return np.arange(lo, hi + 1, dtype=np.float64)
    return np.linspace(lo, hi, points) if hi > lo else np.array([lo])


def _spread(matrix: np.ndarray, covered: np.ndarray) -> dict[str, np.ndarray]:
    """Per column of a runs x points matrix: n, nonfinite, mean, min, max, sd (sample)."""
    finite = covered & np.isfinite(matrix)
    n = finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        kept = np.where(finite, matrix, 0.0)
        mean = kept.sum(axis=0) / n
        dev = np.where(finite, matrix - mean, 0.0)
        sd = np.sqrt((dev**2).sum(axis=0) / (n - 1))
    none = n == 0
    return {
        "n": n,
        "nonfinite": (covered & ~np.isfinite(matrix)).sum(axis=0),
        "mean": np.where(none, np.nan, mean),
        "min": np.where(none, np.nan, np.where(finite, matrix, np.inf).min(axis=0, initial=np.inf)),
        "max": np.where(
            none, np.nan, np.where(finite, matrix, -np.inf).max(axis=0, initial=-np.inf)
        ),
        "sd": np.where(n < 2, np.nan, sd),
    }


def group_curve(series: list[RunSeries], x: GroupX, band: Band, points: int) -> dict[str, Any]:
    """The group's curves on its grid: mean, min, max, sd, n and nonfinite per point, and the
    band drawn (`lower`, `upper`: min..max, or mean -/+ sd)."""
    runs = [_x_of(s, x) for s in series if len(s.steps)]
    grid = grid_of([(float(rx[0]), float(rx[-1])) for rx, _ in runs], x, points)
    matrix = np.full((len(runs), len(grid)), np.nan)
    covered = np.zeros((len(runs), len(grid)), bool)
    for i, (rx, rv) in enumerate(runs):
        covered[i] = (grid >= rx[0]) & (grid <= rx[-1])
        matrix[i] = np.interp(grid, rx, rv)
    stats = _spread(matrix, covered)
    if band == "sd":
        lower, upper = stats["mean"] - stats["sd"], stats["mean"] + stats["sd"]
    else:
        lower, upper = stats["min"], stats["max"]
    return {"x": grid, **stats, "lower": lower, "upper": upper}


def summary_stats(values: Sequence[float | None]) -> dict[str, Any]:
    """mean, sd (sample), min, max over the finite values; n of them, nonfinite the rest."""
    arr = np.array([np.nan if v is None else v for v in values], np.float64)
    finite = arr[np.isfinite(arr)]
    n = len(finite)
    return {
        "mean": float(finite.mean()) if n else None,
        "sd": float(finite.std(ddof=1)) if n > 1 else None,
        "min": float(finite.min()) if n else None,
        "max": float(finite.max()) if n else None,
        "n": n,
        "nonfinite": len(arr) - n,
    }


def group_answer(
    groups: list[Group],
    series: Mapping[int, RunSeries],
    x: GroupX,
    band: Band,
    points: int,
    best_mode: Literal["min", "max"],
) -> list[dict[str, Any]]:
    """Each group as the endpoint answers it: runs, label, colour, curve and table."""
    shades: dict[str, int] = {}
    out = []
    for g in groups:
        optimizer = g.values.get("optimizer")
        shade = shades[optimizer or ""] = shades.get(optimizer or "", -1) + 1
        logged = [series[r] for r in g.run_ids if r in series]
        best = [s.low if best_mode == "min" else s.high for s in logged]
        out.append(
            {
                "values": g.values,
                "label": g.label(),
                "color": optimizer_color(optimizer, shade),
                "runs": g.run_ids,
                "count": len(g.run_ids),
                "without_key": [r for r in g.run_ids if r not in series],
                "curve": group_curve(logged, x, band, points),
                "final": summary_stats([s.last for s in logged]),
                "best": summary_stats(best),
            }
        )
    return out
