"""The sweep page's content: its three figures, the best configuration per optimizer, the
speedup, compute saved and the verdict, from a `SweepReport` (JSON-ready, non-finite floats
left for `json_response` to turn into null)."""

from __future__ import annotations

import dataclasses
from typing import Any

from lionlab.sweeps import ComputeSaved, GroupSummary, Speedup, SweepAnalysis, TrialStatus
from lionlab_server.services.sweep_report import SweepReport
from lionlab_server.views.params import format_param
from lionlab_server.views.sweep_labels import (
    config_label,
    optimizer_name,
    optimizer_order,
    param_label,
    sweep_color,
    swept_paths,
)
from lionlab_server.views.sweep_parallel import parallel_figure
from lionlab_server.views.sweep_sensitivity import sensitivity_figure
from lionlab_server.views.sweep_target import time_to_target_figure


def sweep_figures(analysis: SweepAnalysis) -> dict[str, dict[str, Any]]:
    return {
        "sensitivity": sensitivity_figure(analysis),
        "parallel": parallel_figure(analysis),
        "time_to_target": time_to_target_figure(analysis),
    }


def best_configs(analysis: SweepAnalysis, runs: dict[int, int | None]) -> list[dict[str, Any]]:
    """Each optimizer's best configuration (docs/sweeps.md: eligible, lowest mean final loss)
    with its values formatted and the runs of its seeds; `runs` maps trial -> run id."""
    out = []
    for optimizer in optimizer_order(analysis):
        g = analysis.best.get(optimizer)
        if g is not None:
            out.append(_best_config(g, runs))
    return out


def _best_config(g: GroupSummary, runs: dict[int, int | None]) -> dict[str, Any]:
    return {
        "optimizer": g.optimizer,
        "name": optimizer_name(g.optimizer),
        "color": sweep_color(g.optimizer),
        "group": g.group,
        "label": config_label(g.params),
        "params": {param_label(k): format_param(v) for k, v in g.params.items()},
        "lr": g.lr,
        "final_mean": g.final_mean,
        "final_sd": g.final_sd,
        "best_mean": g.best_mean,
        "best_sd": g.best_sd,
        "seeds": g.count(TrialStatus.SUCCEEDED),
        "runs": [runs.get(p.trial) for p in g.seeds if runs.get(p.trial) is not None],
    }


def speedup_json(sp: Speedup | None) -> dict[str, Any] | None:
    if sp is None:
        return None
    return {**dataclasses.asdict(sp), "significant": sp.significant}


def compute_json(c: ComputeSaved) -> dict[str, Any]:
    return {
        **dataclasses.asdict(c),
        "fraction": c.fraction,
        "fraction_by_early_stopping": c.fraction_by_early_stopping,
    }


def trial_params(report: SweepReport) -> dict[str, Any]:
    """The trials table's parameter columns (what differs between trials) and cell values."""
    trials = report.sweep.trials
    paths = swept_paths(t.params for t in trials)
    return {
        "columns": [{"key": p, "label": param_label(p)} for p in paths],
        "values": {str(t.index): {p: format_param(t.params.get(p)) for p in paths} for t in trials},
    }


def sweep_page(report: SweepReport) -> dict[str, Any]:
    """Everything the sweep page and its read-only report draw."""
    a = report.analysis
    runs = {t.index: t.run_id for t in report.sweep.trials}
    return {
        "sweep": report.sweep.model_dump(mode="json"),
        "figures": sweep_figures(a),
        "verdict": None if a.verdict is None else a.verdict.to_dict(),
        "best": best_configs(a, runs),
        "baseline": a.baseline,
        "challenger": a.challenger,
        "target": {"value": a.target, "source": a.target_source},
        "speedup": {
            "steps": speedup_json(a.speedup_steps),
            "seconds": speedup_json(a.speedup_seconds),
        },
        "compute": compute_json(a.compute),
        "pending_trials": a.pending_trials,
        "params": trial_params(report),
        "decisions": [d.to_dict() for d in report.decisions],
    }
