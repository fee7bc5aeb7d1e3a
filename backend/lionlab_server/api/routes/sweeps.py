"""/api/v1/sweeps: submit a sweep spec, follow its trials, read its analysis, cancel it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lionlab_server import schemas
from lionlab_server.api.access import EDITOR, VIEWER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep, dispatch_after_commit
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import Paging, paging
from lionlab_server.api.validation import DbId, IdPath
from lionlab_server.services import sweeps as service
from lionlab_server.services.sweep_report import sweep_report
from lionlab_server.store import audit
from lionlab_server.store import sweeps as store

router = APIRouter(prefix="/sweeps", tags=["sweeps"])


@router.post(
    "", status_code=201, response_model=schemas.SweepCreated, responses=responses(400, 404)
)
def create_sweep(data: schemas.SweepCreate, session: WriteSessionDep, access: Needs(EDITOR)):
    """Expand a sweep spec (JSON object, or YAML/JSON text) into trials and queue the first
    `limits.max_parallel` of them. An invalid spec is a 422 naming each field at fault."""
    sweep = service.create_sweep(session, access.project(data.project_id), data)
    audit.record(
        session,
        access.scope,
        "sweep.created",
        "sweep",
        sweep.id,
        sweep.project_id,
        {"name": sweep.name},
    )
    dispatch_after_commit(session)
    return schemas.SweepCreated(**sweep.model_dump())


@router.get("", response_model=schemas.Page[schemas.Sweep])
def list_sweeps(
    session: SessionDep,
    access: Needs(VIEWER),
    *,
    project_id: Annotated[DbId | None, Query()] = None,
    page: Annotated[Paging, paging(50, 1000)],
):
    return store.list_sweeps(session, access.scope, project_id, page.limit, page.offset)


@router.get("/{sweep_id}", response_model=schemas.SweepDetail, responses=responses(404))
def get_sweep(sweep_id: IdPath, session: SessionDep, access: Needs(VIEWER, "sweep", share=True)):
    """The sweep with every trial: its run, status, steps run, losses, flags, stop reason."""
    return sweep_report(session, access.scope, sweep_id).sweep


@router.get("/{sweep_id}/analysis", responses=responses(404))
def get_analysis(
    sweep_id: IdPath, session: SessionDep, access: Needs(VIEWER, "sweep", share=True)
) -> dict:
    """Best configuration per optimizer, lr sensitivity, time to target, the Lion/AdamW
    speedup with its bootstrap interval over seeds, compute saved, the verdict, and every
    ASHA decision. Non-finite numbers are null."""
    report = sweep_report(session, access.scope, sweep_id)
    return {
        "sweep_id": sweep_id,
        **report.analysis.to_dict(),
        "decisions": [d.to_dict() for d in report.decisions],
    }


@router.post("/{sweep_id}/cancel", response_model=schemas.Sweep, responses=responses(404))
def cancel_sweep(sweep_id: IdPath, session: WriteSessionDep, access: Needs(EDITOR, "sweep")):
    """Queue no more trials and stop the running ones; their metrics are kept."""
    sweep = service.cancel_sweep(session, access.scope, sweep_id)
    audit.record(
        session,
        access.scope,
        "sweep.cancelled",
        "sweep",
        sweep_id,
        sweep.project_id,
        {"name": sweep.name},
    )
    return sweep
