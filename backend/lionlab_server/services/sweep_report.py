"""What the sweep page and the CLI read about a sweep: its trials, the analysis and ASHA's
decisions, assembled from the sweep row, its runs and their eval-loss points."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy.orm import Session

from lionlab.sweeps import (
    AshaDecider,
    Curve,
    Decision,
    SweepAnalysis,
    TrialResult,
    TrialStatus,
    analyze,
)
from lionlab_server import schemas
from lionlab_server.models import Sweep
from lionlab_server.store import sweeps as store
from lionlab_server.store.scope import Scope


@dataclass(frozen=True)
class SweepReport:
    sweep: schemas.SweepDetail
    analysis: SweepAnalysis
    decisions: list[Decision]  # every ASHA decision, in the order it was made


_TRIAL_STATUS = {
    "succeeded": TrialStatus.SUCCEEDED,
    "diverged": TrialStatus.DIVERGED,
    "stopped_early": TrialStatus.STOPPED_EARLY,
    "failed": TrialStatus.FAILED,
    "lost": TrialStatus.FAILED,  # the worker vanished too often: infrastructure, not the config
    "cancelled": TrialStatus.CANCELLED,
    "running": TrialStatus.RUNNING,
    "queued": TrialStatus.QUEUED,
    store.PENDING: TrialStatus.QUEUED,
}


def sweep_report(session: Session, scope: Scope, sweep_id: int) -> SweepReport:
    """The sweep, every trial with its run's state and losses, the analysis and ASHA's log."""
    return sweep_reports(session, [store.sweep_row(session, scope, sweep_id)])[0]


def sweep_reports(session: Session, rows: list[Sweep]) -> list[SweepReport]:
    """The reports of several sweeps (rows the caller may see), in the order given, from a
    fixed number of queries whatever the number of sweeps or trials: the project overview
    shows a page of sweeps with their verdicts, computed by this same code as the sweep
    page's."""
    runs_of = store.trial_runs_of(session, [row.id for row in rows])
    run_ids = [r.run_id for runs in runs_of.values() for r in runs.values()]
    curves = store.eval_curves(session, run_ids)
    last = store.last_steps(session, run_ids, "train_loss")
    flags = store.flag_kinds(session, run_ids)
    return [_report(row, runs_of[row.id], curves, last, flags) for row in rows]


def _report(
    row: Sweep,
    runs: dict[int, store.TrialRun],
    curves: dict[int, tuple],
    last: dict[int, int],
    flags: dict[int, list[str]],
) -> SweepReport:
    decider = None if row.asha_state is None else AshaDecider.from_state(row.asha_state)
    results, trials = [], []
    for t in row.trials:
        run = runs.get(t["index"])
        steps_run = last.get(run.run_id, 0) if run else 0
        result = _result(t, run, curves.get(run.run_id) if run else None, steps_run)
        results.append(result)
        stop = decider.stop_decision(t["index"]) if decider else None
        trials.append(
            schemas.SweepTrial(
                index=t["index"],
                optimizer=t["optimizer"],
                seed=t["seed"],
                group=t["group"],
                params=t["params"],
                paired_with=t.get("paired_with"),
                transfer_factor=t.get("transfer_factor"),
                planned_steps=t["job"]["steps"],
                run_id=run.run_id if run else None,
                status=run.status if run else store.PENDING,
                steps_run=steps_run,
                best_loss=_finite(result.best),
                final_loss=_finite(result.final),
                flags=flags.get(run.run_id, []) if run else [],
                stop_reason=_stop_reason(run, stop),
            )
        )
    sweep = schemas.SweepDetail(**store.sweep_out(row, runs).model_dump(), trials=trials)
    decisions = decider.decisions() if decider else []
    return SweepReport(sweep, analyze(results), decisions)


def _result(trial: dict, run: store.TrialRun | None, curve, steps_run: int) -> TrialResult:
    status = _TRIAL_STATUS.get(run.status if run else store.PENDING, TrialStatus.FAILED)
    steps, values, walls = curve if curve is not None else ([], [], None)
    start = run.started_at.timestamp() if run and run.started_at else None
    return TrialResult(
        trial=trial["index"],
        optimizer=trial["optimizer"],
        group=trial["group"],
        seed=trial["seed"],
        status=status,
        curve=Curve(steps, values, walls, start),
        planned_steps=trial["job"]["steps"],
        params=trial["params"],
        lr=trial["job"]["optimizer"]["lr"],
        last_step=steps_run,
    )


def _stop_reason(run: store.TrialRun | None, stop) -> str | None:
    if stop is not None:
        return stop.reason
    if run is not None and run.status == "diverged":
        return "stopped: diverged (non-finite or blown-up loss)"
    return None


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None
