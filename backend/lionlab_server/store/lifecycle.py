"""The run lifecycle in SQL: every transition of `lionlab.lifecycle` is one conditional UPDATE.

The WHERE clause of each UPDATE holds the transition's rule (the statuses it may start from,
the kind of run, the worker's attempt), so two workers (a redelivered message), a worker and
the reaper, or two server processes can never both win: the loser changes nothing and
learns why from the row as it is now.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, case, select, update
from sqlalchemy.orm import Session

from lionlab.lifecycle import STOP_REASONS, WORKER_ENDS, Actor, RunStatus, sources
from lionlab_server.errors import Conflict, InputError
from lionlab_server.models import Run, utcnow
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope


def _now_is(session: Session, run_id: int) -> str:
    row = session.execute(select(Run.status, Run.attempts).where(Run.id == run_id)).first()
    return "missing" if row is None else f"{row.status} (attempt {row.attempts})"


def _from(is_job: bool, target: RunStatus, actor: Actor) -> ColumnElement[bool]:
    """The rule of a transition: the run's kind and the statuses it may start from."""
    kind = Run.job.is_not(None) if is_job else Run.job.is_(None)
    return kind & Run.status.in_([s.value for s in sources(is_job, target, actor)])


def _held(run_id: int, worker: str, attempt: int) -> ColumnElement[bool]:
    """The run is still running under this worker's attempt."""
    return (
        (Run.id == run_id)
        & (Run.status == RunStatus.RUNNING.value)
        & (Run.worker == worker)
        & (Run.attempts == attempt)
    )


def claim(session: Session, scope: Scope, run_id: int, worker: str) -> int:
    """Move a queued job to running for `worker`; returns the claim's attempt number.
    Conflict if anyone else got there first or the run ended."""
    visible_run(session, scope, run_id)
    now = utcnow()
    attempt = session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            _from(True, RunStatus.RUNNING, Actor.WORKER),
            Run.stop_requested.is_(None),
        )
        .values(
            status=RunStatus.RUNNING.value,
            worker=worker,
            heartbeat_at=now,
            started_at=now,
            attempts=Run.attempts + 1,
            claim_token_id=scope.token_id,
        )
        .returning(Run.attempts)
    ).scalar()
    if attempt is None:
        raise Conflict(
            f"run {run_id} is {_now_is(session, run_id)}, not a queued job: another "
            "worker claimed it or it ended; drop this message",
            "run_id",
        )
    return attempt


def _stale(session: Session, run_id: int, worker: str, attempt: int) -> Conflict:
    return Conflict(
        f"run {run_id} is no longer held by attempt {attempt} of worker {worker!r} (it is "
        f"{_now_is(session, run_id)}); stop training it",
        "attempt",
    )


def heartbeat(session: Session, scope: Scope, run_id: int, worker: str, attempt: int) -> str | None:
    """Record that `worker` is alive on the run; returns a requested stop reason, if any."""
    visible_run(session, scope, run_id)
    row = session.execute(
        update(Run)
        .where(_held(run_id, worker, attempt))
        .values(heartbeat_at=utcnow())
        .returning(Run.stop_requested)
    ).first()
    if row is None:
        raise _stale(session, run_id, worker, attempt)
    return row.stop_requested


def finish(
    session: Session,
    scope: Scope,
    run_id: int,
    worker: str,
    attempt: int,
    status: RunStatus,
    error: str | None,
) -> None:
    """The worker holding the run's current attempt ends it."""
    if status not in WORKER_ENDS:
        raise InputError(
            ("body", "status"),
            f"a worker ends a run as one of "
            f"{sorted(s.value for s in WORKER_ENDS)}, not {status.value!r}",
        )
    visible_run(session, scope, run_id)
    done = session.execute(
        update(Run)
        .where(_held(run_id, worker, attempt))
        .values(status=status.value, finished_at=utcnow(), error=error)
    ).rowcount
    if not done:
        raise _stale(session, run_id, worker, attempt)


def fence_writer(session: Session, run: Run, attempt: int | None) -> None:
    """Metric writes to a job come only from the worker of its current attempt; a script
    run is written by its script. Locks the run's row against a concurrent requeue until
    the batch commits (Postgres; SQLite writers are serialised already)."""
    if run.job is None:
        if attempt is not None:
            raise InputError(
                ("header", "x-lionlab-attempt"),
                f"run {run.id} was not submitted as a job: it has no attempts; "
                "leave out the X-LionLab-Attempt header",
            )
        return
    held = session.execute(
        select(Run.attempts, Run.status).where(Run.id == run.id).with_for_update(read=True)
    ).first()
    if attempt is None or held.status != RunStatus.RUNNING.value or held.attempts != attempt:
        raise Conflict(
            f"run {run.id} is a job at {held.status} (attempt {held.attempts}); only its "
            f"running worker's current attempt writes metrics, with the header "
            f"X-LionLab-Attempt (this batch had {attempt}); stop training it",
            "attempt",
        )


def move_script(
    session: Session, scope: Scope, run_id: int, status: RunStatus, error: str | None = None
) -> None:
    """A script starts or ends its own run (PATCH /runs/{id}); jobs are refused."""
    row = visible_run(session, scope, run_id)
    now = utcnow()
    values: dict = {"status": status.value}
    if status == RunStatus.RUNNING:
        values["started_at"] = now
    if status.finished:
        values["finished_at"] = now
        values["error"] = error
    done = session.execute(
        update(Run).where(Run.id == run_id, _from(False, status, Actor.USER)).values(**values)
    ).rowcount
    if done:
        return
    if row.job is not None:
        raise Conflict(
            f"run {run_id} is a job: its status changes only when a worker claims or "
            "finishes it, or when it is cancelled (POST /runs/{id}/cancel)",
            "status",
        )
    raise Conflict(
        f"run {run_id} is {_now_is(session, run_id)}; a script's run may move to "
        f"{status.value!r} only from "
        f"{[s.value for s in sources(False, status, Actor.USER)] or 'no status'}",
        "status",
    )


def request_stop(session: Session, scope: Scope, run_id: int, reason: RunStatus) -> None:
    """Cancel a run: at once if it is queued or a script's, via its worker if a running job."""
    visible_run(session, scope, run_id)
    at_once = session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            _from(True, reason, Actor.USER) | _from(False, reason, Actor.USER),
        )
        .values(status=reason.value, finished_at=utcnow())
    ).rowcount
    if not at_once and not ask_stop(session, run_id, reason):
        raise Conflict(f"run {run_id} already ended ({_now_is(session, run_id)})", "run_id")


def ask_stop(session: Session, run_id: int, reason: RunStatus) -> bool:
    """Ask a running job's worker to stop with `reason`; the first reason asked for wins.
    False if the run is not a running job."""
    assert reason in STOP_REASONS
    row = session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == RunStatus.RUNNING.value, Run.job.is_not(None))
        .values(
            stop_requested=case(
                (Run.stop_requested.is_(None), reason.value), else_=Run.stop_requested
            )
        )
        .returning(Run.id)
    ).first()
    return row is not None


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
        .where(
            Run.status == RunStatus.RUNNING.value,
            Run.job.is_not(None),
            Run.heartbeat_at < cutoff,
        )
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
        .where(
            Run.status == RunStatus.QUEUED.value,
            Run.job.is_not(None),
            Run.dispatched_at.is_(None),
        )
        .values(dispatched_at=utcnow())
        .returning(Run.id, Run.job)
    ).all()
    return [(r.id, r.job) for r in rows]


def undo_dispatch(session: Session, run_id: int) -> None:
    """The broker refused the message: leave the run for the next dispatch round."""
    session.execute(update(Run).where(Run.id == run_id).values(dispatched_at=None))


def dispatched_waiting(session: Session) -> list[tuple[int, dict, datetime]]:
    """Queued jobs handed to the broker and not claimed yet, oldest hand-over first."""
    rows = session.execute(
        select(Run.id, Run.job, Run.dispatched_at)
        .where(Run.status == RunStatus.QUEUED.value, Run.dispatched_at.is_not(None))
        .order_by(Run.dispatched_at, Run.id)
    ).all()
    return [(r.id, r.job, r.dispatched_at) for r in rows]


def redispatch(session: Session, run_ids: list[int]) -> None:
    """Send these queued jobs again at the next dispatch round (their message was lost)."""
    if run_ids:
        session.execute(
            update(Run)
            .where(Run.id.in_(run_ids), Run.status == RunStatus.QUEUED.value)
            .values(dispatched_at=None)
        )
