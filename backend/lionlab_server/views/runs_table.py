"""Rows of the runs table: progress, ETA, loss summary, flags and key hyper-parameters."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from lionlab.lifecycle import RunStatus
from lionlab_server.api.encoding import MetricValue
from lionlab_server.schemas import FlagOut, MetricSummary, Run
from lionlab_server.views.params import format_param, run_params

LOSS_KEYS = ("train_loss", "loss", "eval_loss")  # the first one logged is the run's loss
HPARAM_KEYS = ("lr", "weight_decay", "wd", "betas", "momentum", "batch_size")
SEVERITY_ORDER = ("info", "warning", "critical")


class FlagCounts(BaseModel):
    total: int = 0
    worst: str | None = Field(default=None, description="info < warning < critical")
    kinds: dict[str, int] = Field(default_factory=dict)


class RunRow(BaseModel):
    """One run as the runs table and the run page header show it."""

    run: Run
    step: int | None = Field(
        description="Last step logged (any key). A job's steps count from 1 (the worker logs "
        "1..total_steps), so for a job this is the number of steps done."
    )
    total_steps: int | None = Field(description="The job's steps; None for script runs.")
    progress: float | None = Field(description="Fraction done, 0..1, when total_steps is known.")
    eta_s: float | None = Field(description="Seconds left at the pace so far (running jobs).")
    duration_s: float | None = Field(description="Started to finished (or to now).")
    loss_key: str | None
    last_loss: MetricValue | None
    best_loss: MetricValue | None
    hparams: dict[str, str] = Field(description="Key hyper-parameters, formatted.")
    flags: FlagCounts
    can_cancel: bool
    can_rerun: bool
    columns: dict[str, str | MetricValue | None] = Field(
        default_factory=dict,
        description="The chosen extra columns (`columns=`), by column id: a parameter "
        "formatted as text, a metric summary as a number ('NaN' as text); None where the run "
        "has no such value.",
    )


def _loss(summaries: Sequence[MetricSummary]) -> MetricSummary | None:
    by_key = {s.key: s for s in summaries}
    return next((by_key[k] for k in LOSS_KEYS if k in by_key), None)


def _flag_counts(flags: Sequence[FlagOut]) -> FlagCounts:
    kinds: dict[str, int] = {}
    for f in flags:
        kinds[f.kind] = kinds.get(f.kind, 0) + 1
    ranks = [SEVERITY_ORDER.index(f.severity) for f in flags if f.severity in SEVERITY_ORDER]
    worst = SEVERITY_ORDER[max(ranks)] if ranks else None
    return FlagCounts(total=len(flags), worst=worst, kinds=kinds)


def _timing(run: Run, step: int | None, total: int | None, now: datetime):
    """(duration_s, eta_s): elapsed time, and time left at the average pace so far."""
    if run.started_at is None:
        return None, None
    end = run.finished_at or now
    duration = max(0.0, (end - run.started_at).total_seconds())
    eta = None
    if run.status == RunStatus.RUNNING and total and step and step < total:
        eta = duration / step * (total - step)
    return duration, eta


def column_values(
    columns: Sequence[str], params: dict[str, Any], summaries: Sequence[MetricSummary]
) -> dict[str, str | MetricValue | None]:
    """The values of the chosen columns (`param:<key>`, `metric:<key>.last|min|max`) from a
    run's flat parameters and metric summaries: no query of their own."""
    by_key = {s.key: s for s in summaries}
    out: dict[str, str | MetricValue | None] = {}
    for column in columns:
        kind, name = column.split(":", 1)
        if kind == "param":
            out[column] = format_param(params[name]) if params.get(name) is not None else None
            continue
        key, summary = name.rsplit(".", 1)
        found = by_key.get(key)
        out[column] = getattr(found, summary) if found is not None else None
    return out


def table_row(
    run: Run,
    summaries: Sequence[MetricSummary],
    flags: Sequence[FlagOut],
    now: datetime,
    columns: Sequence[str] = (),
) -> RunRow:
    """The table row of `run` from its metric summaries and flags, as of `now`, with the
    values of the chosen `columns`."""
    params = run_params(run)
    total = int(params["steps"]) if run.job and isinstance(params.get("steps"), int) else None
    steps = [s.last_step for s in summaries if s.last_step is not None]
    step = max(steps) if steps else None
    progress = None
    if total:
        progress = 1.0 if run.status == RunStatus.SUCCEEDED else min(1.0, (step or 0) / total)
    duration, eta = _timing(run, step, total, now)
    loss = _loss(summaries)
    return RunRow(
        run=run,
        step=step,
        total_steps=total,
        progress=progress,
        eta_s=eta,
        duration_s=duration,
        loss_key=loss.key if loss else None,
        last_loss=loss.last if loss else None,
        best_loss=loss.min if loss else None,
        hparams={k: format_param(params[k]) for k in HPARAM_KEYS if k in params},
        flags=_flag_counts(flags),
        can_cancel=not run.status.finished and not run.stop_requested,
        can_rerun=run.job is not None,
        columns=column_values(columns, params, summaries),
    )
