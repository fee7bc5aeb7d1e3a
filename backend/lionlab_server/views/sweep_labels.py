"""How a sweep's optimizers, parameters and configurations are named on its charts and tables."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from lionlab.sweeps import SweepAnalysis
from lionlab.sweeps.verdict import NAMES
from lionlab_server.views.params import PRIORITY, differing_keys, format_param, short_name
from lionlab_server.views.style import optimizer_color

LR = "optimizer.lr"
MIN_TICK_GAP = 0.1  # decades between labelled values on a log axis


def optimizer_name(optimizer: str) -> str:
    """Lion, AdamW: the spelling the verdict uses."""
    return NAMES.get(optimizer, optimizer)


def sweep_color(optimizer: str) -> str:
    """An optimizer's colour on every sweep chart: the first shade of its dashboard family."""
    return optimizer_color(optimizer, 0)


def param_label(path: str) -> str:
    """A dotted JobSpec path as a column or axis name: optimizer.weight_decay -> wd."""
    return short_name(path.removeprefix("optimizer."))


def swept_paths(configs: Iterable[Mapping[str, Any]]) -> list[str]:
    """The parameters whose values differ between configurations, lr and wd first."""
    paths = differing_keys(list(configs) or [{}])
    return sorted(paths, key=_rank)


def _rank(path: str) -> int:
    name = path.removeprefix("optimizer.")
    return PRIORITY.index(name) if name in PRIORITY else len(PRIORITY)


def config_label(params: Mapping[str, Any], paths: Iterable[str] | None = None) -> str:
    """lr=3e-4 wd=0.1: a configuration by its swept values (all of them when `paths` is None)."""
    keys = list(params) if paths is None else [p for p in paths if p in params]
    return " ".join(f"{param_label(k)}={format_param(params[k])}" for k in keys) or "default"


def optimizer_order(analysis: SweepAnalysis) -> list[str]:
    """Baseline, challenger, then any other optimizer in the order the sweep lists them."""
    seen = [analysis.baseline, analysis.challenger] + [g.optimizer for g in analysis.groups]
    present = {g.optimizer for g in analysis.groups}
    return [o for o in dict.fromkeys(seen) if o in present]


def spaced_log_ticks(values: Iterable[float]) -> list[float]:
    """The distinct values, minus any within MIN_TICK_GAP decades of the previous one kept:
    3e-4 next to 3.33e-4 would overprint, so only the first is labelled."""
    ticks: list[float] = []
    for v in sorted(set(values)):
        if not ticks or math.log10(v / ticks[-1]) >= MIN_TICK_GAP:
            ticks.append(v)
    return ticks
