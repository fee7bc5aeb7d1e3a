"""Job lifecycle endpoints: workers claim, heartbeat and finish; users cancel."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from lionlab.jobs import JobSpec, job_spec_schema
from lionlab.lifecycle import RunStatus, describe
from lionlab_server import schemas
from lionlab_server.api.deps import ScopeDep, SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import IdPath
from lionlab_server.db import begin_write
from lionlab_server.errors import InputError
from lionlab_server.services import sweeps
from lionlab_server.store import lifecycle
from lionlab_server.store.runs import create_run, get_run

router = APIRouter(tags=["jobs"])


def ended(request: Request, session: Session, run_id: int) -> None:
    """Commit a run's end; a sweep's trial frees its slot for the next trial."""
    scheduled = sweeps.run_ended(session, run_id)
    session.commit()
    if scheduled:
        request.app.state.dispatcher.dispatch_pending()


@router.get("/jobs/schema")
def job_schema(_: ScopeDep) -> dict:
    """JSON schema of a job spec, with each optimizer's defaults (for forms and clients)."""
    return job_spec_schema()


@router.get("/lifecycle")
def run_lifecycle(_: ScopeDep) -> dict:
    """Run statuses (display order, labels), stop reasons, and who may make each transition."""
    return describe()


@router.post("/runs/{run_id}/claim", response_model=schemas.Run, responses=responses(400, 404, 409))
def claim_run(run_id: IdPath, data: schemas.Claim, session: SessionDep, scope: ScopeDep):
    """A worker takes a queued job; 409 if another worker has it or it ended. The answer's
    `attempts` is this claim's attempt number: heartbeats, metric batches and finish carry it."""
    begin_write(session)
    lifecycle.claim(session, scope, run_id, data.worker)
    session.commit()
    return get_run(session, scope, run_id)


@router.post(
    "/runs/{run_id}/heartbeat",
    response_model=schemas.Heartbeat,
    responses=responses(400, 404, 409),
)
def heartbeat(run_id: IdPath, data: schemas.Held, session: SessionDep, scope: ScopeDep):
    """The worker is alive; the answer says whether to stop (cancelled, diverged). 409: the
    run is no longer this attempt's (it was requeued or ended); stop training it."""
    begin_write(session)
    stop = lifecycle.heartbeat(session, scope, run_id, data.worker, data.attempt)
    session.commit()
    return schemas.Heartbeat(stop=stop)


@router.post(
    "/runs/{run_id}/finish", response_model=schemas.Run, responses=responses(400, 404, 409)
)
def finish_run(
    run_id: IdPath, data: schemas.Finish, request: Request, session: SessionDep, scope: ScopeDep
):
    begin_write(session)
    lifecycle.finish(session, scope, run_id, data.worker, data.attempt, data.status, data.error)
    ended(request, session, run_id)
    return get_run(session, scope, run_id)


@router.post(
    "/runs/{run_id}/rerun",
    status_code=201,
    response_model=schemas.RunCreated,
    responses=responses(404),
)
def rerun(run_id: IdPath, request: Request, session: SessionDep, scope: ScopeDep):
    """Queue a new run with the same job spec, project and tags (name gets a suffix)."""
    begin_write(session)
    old = get_run(session, scope, run_id)
    if old.job is None:
        raise InputError(
            ("path", "run_id"),
            f"run {run_id} was logged by a script, not "
            "submitted as a job: there is nothing to re-run",
        )
    data = schemas.RunCreate(
        project_id=old.project_id,
        name=f"{old.name}-rerun",
        tags=old.tags,
        job=JobSpec.model_validate(old.job),
    )
    run, _ = create_run(session, scope, data)
    session.commit()
    request.app.state.dispatcher.dispatch_pending()
    return schemas.RunCreated(**run.model_dump())


@router.post("/runs/{run_id}/cancel", response_model=schemas.Run, responses=responses(404, 409))
def cancel_run(run_id: IdPath, request: Request, session: SessionDep, scope: ScopeDep):
    """Stop a run: a queued one at once, a running job at its worker's next heartbeat.
    Every metric logged so far is kept."""
    begin_write(session)
    lifecycle.request_stop(session, scope, run_id, RunStatus.CANCELLED)
    ended(request, session, run_id)
    return get_run(session, scope, run_id)
