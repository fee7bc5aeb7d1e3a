"""/api/v1/runs"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Query, Response

from lionlab_server import schemas
from lionlab_server.api.access import EDITOR, VIEWER, Needs
from lionlab_server.api.deps import (
    SessionDep,
    WriteSessionDep,
    dispatch_after_commit,
    run_ended,
)
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import Paging, RunFilterDep, paging
from lionlab_server.api.validation import DbId, IdPath
from lionlab_server.errors import InputError
from lionlab_server.services.job_checks import job_warnings
from lionlab_server.store import audit, lifecycle
from lionlab_server.store import runs as store

router = APIRouter(prefix="/runs", tags=["runs"])


@router.post("", status_code=201, response_model=schemas.RunCreated, responses=responses(400, 404))
def create_run(
    data: schemas.RunCreate,
    response: Response,
    session: WriteSessionDep,
    access: Needs(EDITOR),
):
    """Create a run. With `job`, the run is queued for a worker and the answer may carry
    warnings about the settings (e.g. a Lion lr above this project's AdamW baseline).
    With a `client_key` used before in the project, the answer is that run, with 200."""
    scope = access.project(data.project_id)
    run, created = store.create_run(session, scope, data)
    if not created:
        response.status_code = 200
        return schemas.RunCreated(**run.model_dump())
    audit.record(session, scope, "run.created", "run", run.id, run.project_id, {"name": run.name})
    warnings = job_warnings(session, data)
    if data.job is not None:
        dispatch_after_commit(session)
    return schemas.RunCreated(**run.model_dump(), warnings=warnings)


@router.get("", response_model=schemas.Page[schemas.Run])
def list_runs(
    session: SessionDep,
    access: Needs(VIEWER),
    *,
    project_id: Annotated[DbId | None, Query()] = None,
    which: RunFilterDep,
    page: Annotated[Paging, paging(50, 1000)],
):
    f = replace(which, project_id=project_id, limit=page.limit, offset=page.offset)
    return store.list_runs(session, access.scope, f)


@router.get("/{run_id}", response_model=schemas.Run, responses=responses(404))
def get_run(run_id: IdPath, session: SessionDep, access: Needs(VIEWER, "run", share=True)):
    return store.get_run(session, access.scope, run_id)


@router.patch("/{run_id}", response_model=schemas.Run, responses=responses(400, 404))
def update_run(
    run_id: IdPath, data: schemas.RunUpdate, session: WriteSessionDep, access: Needs(EDITOR, "run")
):
    """Rename, retag or replace the config of any run; a script's run may also change its
    status (see the `status` field). 409 when the status change is not a transition the
    run's lifecycle allows (GET /lifecycle)."""
    scope = access.scope
    store.update_run(session, scope, run_id, data)
    if data.status is not None:
        lifecycle.move_script(session, scope, run_id, data.status, data.error)
    elif data.error is not None:
        raise InputError(("body", "error"), "error goes with a status that ends the run")
    if data.status is not None and data.status.finished:
        run_ended(session, run_id)
    return store.get_run(session, scope, run_id)
