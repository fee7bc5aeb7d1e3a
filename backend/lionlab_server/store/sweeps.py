"""Sweeps: the sweep row, its trial runs, and the reads the sweep page needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lionlab import lifecycle
from lionlab.lifecycle import RunStatus
from lionlab_server import schemas
from lionlab_server.db import is_postgres
from lionlab_server.errors import NotFound
from lionlab_server.models import (
    Flag,
    MetricKey,
    MetricPoint,
    MetricSummary,
    Project,
    Run,
    Sweep,
)
from lionlab_server.store.pgbinary import fetch_packed
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import caller_name

ACTIVE = tuple(s.value for s in lifecycle.ACTIVE)
PENDING = "pending"  # a trial whose run does not exist yet
RUN_NAME_LENGTH = Run.name.type.length


def sweep_row(session: Session, scope: Scope, sweep_id: int, lock: bool = False) -> Sweep:
    """The sweep's ORM row (locked until commit with `lock`); NotFound outside the scope."""
    stmt = select(Sweep).where(Sweep.id == sweep_id)
    if lock:  # and reload: a copy read earlier in this session may be stale by now
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.scalar(stmt)
    if row is None or not scope.allows(row.project_id):
        raise NotFound("sweep", sweep_id, "sweep_id")
    return row


def add_sweep(
    session: Session,
    scope: Scope,
    project_id: int,
    spec: dict,
    trials: list[dict],
    asha_state: dict | None,
) -> Sweep:
    project = session.get(Project, project_id)
    if project is None or not scope.allows(project.id):
        raise NotFound("project", project_id, "project_id")
    row = Sweep(
        project_id=project.id,
        name=spec["name"],
        description=spec.get("description") or "",
        status="running",
        spec=spec,
        trials=trials,
        max_parallel=spec["limits"]["max_parallel"],
        asha_state=asha_state,
        created_by=caller_name(session, scope),
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class TrialRun:
    """What the sweep reads of one trial's run."""

    run_id: int
    trial_index: int
    status: str
    stop_requested: str | None
    started_at: datetime | None


def trial_runs(session: Session, sweep_id: int) -> dict[int, TrialRun]:
    """trial index -> its run, for the trials scheduled so far."""
    return trial_runs_of(session, [sweep_id])[sweep_id]


def trial_runs_of(session: Session, sweep_ids: list[int]) -> dict[int, dict[int, TrialRun]]:
    """sweep id -> (trial index -> its run), for several sweeps in one query (the project
    overview reads a page of sweeps; one query per sweep would grow with the project)."""
    out: dict[int, dict[int, TrialRun]] = {sid: {} for sid in sweep_ids}
    if not sweep_ids:
        return out
    rows = session.execute(
        select(
            Run.sweep_id, Run.id, Run.trial_index, Run.status, Run.stop_requested, Run.started_at
        ).where(Run.sweep_id.in_(sweep_ids))
    ).all()
    for r in rows:
        out[r.sweep_id][r.trial_index] = TrialRun(r.id, r.trial_index, *r[3:])
    return out


def project_sweeps(session: Session, project_id: int, limit: int) -> tuple[list[Sweep], int]:
    """The project's `limit` newest sweeps (ORM rows) and how many it has. The caller has
    checked the project is visible (the route's Needs)."""
    where = Sweep.project_id == project_id
    total = session.scalar(select(func.count()).select_from(Sweep).where(where)) or 0
    rows = list(session.scalars(select(Sweep).where(where).order_by(Sweep.id.desc()).limit(limit)))
    return rows, total


def trial_run_name(sweep_name: str, index: int) -> str:
    """<sweep name>-t<index>, the sweep name shortened to fit runs.name (200 characters)."""
    suffix = f"-t{index}"
    return sweep_name[: RUN_NAME_LENGTH - len(suffix)] + suffix


def add_trial_runs(session: Session, sweep: Sweep, trials: list[dict]) -> list[int]:
    """One queued run per trial (the unique (sweep, trial) key makes a second one fail),
    created by whoever created the sweep (the scheduler only carries it out)."""
    rows = [
        Run(
            project_id=sweep.project_id,
            name=trial_run_name(sweep.name, t["index"]),
            status=RunStatus.QUEUED.value,
            optimizer=t["optimizer"],
            config={"sweep": {"id": sweep.id, "trial": t["index"]}},
            job=t["job"],
            sweep_id=sweep.id,
            trial_index=t["index"],
            created_by=sweep.created_by,
        )
        for t in trials
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def sweep_out(row: Sweep, runs: dict[int, TrialRun]) -> schemas.Sweep:
    counts: dict[str, int] = {}
    for t in row.trials:
        run = runs.get(t["index"])
        status = run.status if run else PENDING
        counts[status] = counts.get(status, 0) + 1
    return schemas.Sweep(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        description=row.description,
        status=row.status,
        spec=row.spec,
        created_at=row.created_at,
        created_by=row.created_by,
        finished_at=row.finished_at,
        trials_total=len(row.trials),
        max_parallel=row.max_parallel,
        asha=row.asha_state is not None,
        counts=counts,
    )


def list_sweeps(
    session: Session, scope: Scope, project_id: int | None, limit: int, offset: int
) -> schemas.Page[schemas.Sweep]:
    where = [scope.filter(Sweep.project_id)]
    if project_id is not None:
        where.append(Sweep.project_id == project_id)
    total = session.scalar(select(func.count()).select_from(Sweep).where(*where)) or 0
    rows = session.scalars(
        select(Sweep).where(*where).order_by(Sweep.id.desc()).limit(limit).offset(offset)
    )
    items = [sweep_out(r, trial_runs(session, r.id)) for r in rows]
    return schemas.Page(items=items, total=total, limit=limit, offset=offset)


def last_steps(session: Session, run_ids: list[int], key: str) -> dict[int, int]:
    """run id -> last logged step of `key`."""
    if not run_ids:
        return {}
    rows = session.execute(
        select(MetricSummary.run_id, MetricSummary.last_step)
        .join(MetricKey, MetricKey.id == MetricSummary.key_id)
        .where(MetricKey.name == key, MetricSummary.run_id.in_(run_ids))
    ).all()
    return {r.run_id: int(r.last_step or 0) for r in rows}


def flag_kinds(session: Session, run_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {rid: [] for rid in run_ids}
    if run_ids:
        rows = session.execute(
            select(Flag.run_id, Flag.kind).where(Flag.run_id.in_(run_ids)).distinct()
        ).all()
        for run_id, kind in sorted(rows):
            out[run_id].append(kind)
    return out


def eval_curves(
    session: Session, run_ids: list[int], key: str = "eval_loss"
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """run id -> (steps, values, walls) of every stored point of `key` (eval: a few hundred
    per run), for all the runs in one query: a sweep page's cost, and the project
    overview's over several sweeps, stays one statement whatever the number of trials.
    Runs without a point of `key` are absent."""
    if not run_ids:
        return {}
    ids = sorted(set(run_ids))
    if is_postgres(session):
        run, steps, values, walls = fetch_packed(
            session,
            "SELECT p.run_id, p.step, p.value, p.wall_time FROM metric_points p"
            " JOIN metric_keys k ON k.id = p.key_id"
            " WHERE k.name = :key AND p.run_id = ANY(:ids) ORDER BY p.run_id, p.step",
            {"key": key, "ids": ids},
            [("run_id", "i8"), ("step", "i8"), ("value", "f8"), ("wall_time", "f8")],
        )
        # the packed aggregate keeps the subquery's order in practice, not by promise
        order = np.lexsort((steps, run))
        run, steps, values, walls = run[order], steps[order], values[order], walls[order]
    else:
        rows = session.execute(
            select(MetricPoint.run_id, MetricPoint.step, MetricPoint.value, MetricPoint.wall_time)
            .join(MetricKey, MetricKey.id == MetricPoint.key_id)
            .where(MetricKey.name == key, MetricPoint.run_id.in_(ids))
            .order_by(MetricPoint.run_id, MetricPoint.step)
        ).all()
        if not rows:
            return {}
        arr = np.array(rows, dtype=np.float64)  # NULL (NaN on SQLite) becomes nan here
        run, steps = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
        values, walls = arr[:, 2], arr[:, 3]
    if not len(run):
        return {}
    starts = np.flatnonzero(np.r_[True, run[1:] != run[:-1]]).tolist()
    ends = [*starts[1:], len(run)]
    return {
        int(run[lo]): (steps[lo:hi], values[lo:hi], walls[lo:hi])
        for lo, hi in zip(starts, ends, strict=True)
    }
