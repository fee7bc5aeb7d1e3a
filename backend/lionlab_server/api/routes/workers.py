"""/api/v1/workers: workers report what they see; admins list them."""

from __future__ import annotations

from fastapi import APIRouter

from lionlab_server import schemas
from lionlab_server.api.access import ADMIN, EDITOR, REPORT, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.store import workers

router = APIRouter(prefix="/workers", tags=["workers"])


@router.post("/report", response_model=schemas.Worker, responses=responses(400))
def report(data: schemas.WorkerFacts, session: WriteSessionDep, _: Needs(EDITOR, worker=REPORT)):
    """A worker's facts (devices, versions, Lion kernel path), sent on start, then every
    `interval_s` seconds, and once more with `stopped` on shutdown."""
    return workers.record_report(session, data)


@router.get("", response_model=list[schemas.Worker])
def list_workers(session: SessionDep, _: Needs(ADMIN)):
    """Every worker heard from in the last week, latest report first; `alive` says which
    still report."""
    return workers.list_workers(session)
