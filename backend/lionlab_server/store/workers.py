"""Worker reports: what each worker process last said about itself, and whether it is alive.

A worker reports on start and then every `interval_s` seconds; it counts as alive while its
latest report is younger than MISSED_REPORTS intervals and it has not said it stopped.
Reports of workers silent for FORGET_AFTER are deleted when another report arrives.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lionlab_server.models import WorkerReport, utcnow
from lionlab_server.schemas import Worker, WorkerFacts

MISSED_REPORTS = 3
FORGET_AFTER = timedelta(days=7)


def record_report(session: Session, facts: WorkerFacts) -> Worker:
    """Store `facts` as the worker's latest report (the first one creates its row)."""
    now = utcnow()
    session.execute(delete(WorkerReport).where(WorkerReport.last_seen < now - FORGET_AFTER))
    row = session.scalar(select(WorkerReport).where(WorkerReport.name == facts.name))
    if row is None:
        row = WorkerReport(name=facts.name, started_at=now)
        session.add(row)
    for field, value in facts.model_dump(exclude={"name", "stopped"}).items():
        setattr(row, field, value)
    row.last_seen = now
    row.stopped_at = now if facts.stopped else None
    session.flush()
    return _worker(row, now)


def list_workers(session: Session, seen_since: datetime | None = None) -> list[Worker]:
    """Workers that reported since `seen_since` (default: all kept), newest report first."""
    query = select(WorkerReport).order_by(WorkerReport.last_seen.desc(), WorkerReport.id)
    if seen_since is not None:
        query = query.where(WorkerReport.last_seen >= seen_since)
    now = utcnow()
    return [_worker(row, now) for row in session.scalars(query)]


def _worker(row: WorkerReport, now: datetime) -> Worker:
    stored = {name: getattr(row, name) for name in Worker.model_fields if hasattr(row, name)}
    window = timedelta(seconds=MISSED_REPORTS * row.interval_s)
    alive = row.stopped_at is None and now - row.last_seen <= window
    return Worker(**stored, stopped=row.stopped_at is not None, alive=alive)
