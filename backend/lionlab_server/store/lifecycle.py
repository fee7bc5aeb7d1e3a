"""Job lifecycle: queued -> running -> succeeded | failed | cancelled | diverged | stopped_early
(| lost).

Every transition is one conditional UPDATE, so two workers (a redelivered message) or two
server processes (two reapers) can never both win: the loser changes nothing and learns why.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from lionlab_server.errors import Conflict, InputError
from lionlab_server.models import Run, RunStatus, utcnow
from lionlab_server.store.runs import run_row
from lionlab_server.store.scope import Scope

WORKER_END_STATES = {
    RunStatus.SUCCEEDED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
    RunStatus.DIVERGED,
    RunStatus.STOPPED_EARLY,
}


def _status(session: Session, run_id: int) -> str:
    return session.scalar(select(Run.status).where(Run.id == run_id)) or "missing"


def claim(session: Session, scope: Scope, run_id: int, worker: str) -> None:
    """Move a queued run to running for `worker`; Conflict if anyone else got there first."""
    run_row(session, scope, run_id)
    now = utcnow()
    done = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.QUEUED.value, Run.stop_requested.is_(None))
        .values(
            status=RunStatus.RUNNING.value,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
            attempts=Run.attempts + 1,
        )
    ).rowcount
    if not done:
        raise Conflict(
            f"run {run_id} is {_status(session, run_id)}, not queued: another "
            "worker claimed it or it ended; drop this message",
            "run_id",
        )


def heartbeat(session: Session, scope: Scope, run_id: int, worker: str) -> str | None:
    """Record that `worker` is alive on the run; returns a requested stop reason, if any."""
    run_row(session, scope, run_id)
    row = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.worker == worker, Run.status == RunStatus.RUNNING.value)
        .values(heartbeat_at=utcnow())
        .returning(Run.stop_requested)
    ).first()
    if row is None:
        raise Conflict(
            f"run {run_id} is no longer held by worker {worker!r} (it is "
            f"{_status(session, run_id)}); stop training it",
            "worker",
        )
    return row.stop_requested


def finish(
    session: Session, scope: Scope, run_id: int, worker: str, status: RunStatus, error: str | None
) -> None:
    """The claiming worker ends its run."""
    if status not in WORKER_END_STATES:
        raise InputError(
            ("body", "status"),
            f"a worker ends a run as one of "
            f"{sorted(s.value for s in WORKER_END_STATES)}, not {status.value!r}",
        )
    run_row(session, scope, run_id)
    done = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.worker == worker, Run.status == RunStatus.RUNNING.value)
        .values(status=status.value, finished_at=utcnow(), error=error)
    ).rowcount
    if not done:
        raise Conflict(
            f"run {run_id} is not running on worker {worker!r} (it is {_status(session, run_id)})",
            "worker",
        )


def request_stop(session: Session, scope: Scope, run_id: int, reason: RunStatus) -> None:
    """Cancel (or mark diverged) a run: at once if queued, via its worker if running."""
    row = run_row(session, scope, run_id)
    status = RunStatus(row.status)
    if status == RunStatus.QUEUED:
        row.status, row.finished_at = reason.value, utcnow()
    elif status == RunStatus.RUNNING:
        if not row.config.get("job"):  # logged by a user's script: nothing to stop
            row.status, row.finished_at = reason.value, utcnow()
        else:
            row.stop_requested = row.stop_requested or reason.value
    else:
        raise Conflict(f"run {run_id} already ended ({status.value})", "run_id")
    session.flush()


def reap_lost(session: Session, lost_after: float, max_attempts: int) -> list[int]:
    """Requeue running jobs whose worker went silent; returns the ids changed."""
    cutoff: datetime = utcnow() - timedelta(seconds=lost_after)
    new_status = case(
        (Run.stop_requested.is_not(None), Run.stop_requested),
        (Run.attempts >= max_attempts, RunStatus.LOST.value),
        else_=RunStatus.QUEUED.value,
    )
    ended = case((new_status == RunStatus.QUEUED.value, None), else_=utcnow())
    rows = session.execute(
        update(Run)
        # Only claimed jobs have a heartbeat: runs logged by scripts are never reaped.
        .where(Run.status == RunStatus.RUNNING.value, Run.heartbeat_at < cutoff)
        .values(
            status=new_status,
            finished_at=ended,
            dispatched_at=None,
            heartbeat_at=None,
            error="worker " + Run.worker + " stopped answering; requeued to resume from "
            "its last checkpoint",
            worker=None,
        )
        .returning(Run.id)
    ).all()
    return [r.id for r in rows]


def take_undispatched(session: Session) -> list[tuple[int, dict]]:
    """Queued jobs not yet handed to the broker, marked as handed (caller sends them)."""
    rows = session.execute(
        update(Run)
        .where(Run.status == RunStatus.QUEUED.value, Run.dispatched_at.is_(None))
        .values(dispatched_at=utcnow())
        .returning(Run.id, Run.config)
    ).all()
    return [(r.id, r.config.get("job") or {}) for r in rows]


def undo_dispatch(session: Session, run_id: int) -> None:
    """The broker refused the message: leave the run for the next dispatch round."""
    session.execute(update(Run).where(Run.id == run_id).values(dispatched_at=None))
