"""Job lifecycle endpoints: workers claim, heartbeat and finish; users cancel."""

from __future__ import annotations

from fastapi import APIRouter

from lionlab.jobs import JobSpec, job_spec_schema
from lionlab.lifecycle import RunStatus, describe
from lionlab_server import schemas
from lionlab_server.api.access import CLAIM, EDITOR, HELD, VIEWER, Needs
from lionlab_server.api.deps import WriteSessionDep, dispatch_after_commit, run_ended
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import IdPath
from lionlab_server.errors import InputError
from lionlab_server.store import audit, lifecycle
from lionlab_server.store.runs import create_run, get_run

router = APIRouter(tags=["jobs"])


@router.get("/jobs/schema")
def job_schema(_: Needs(VIEWER)) -> dict:
    """JSON schema of a job spec, with each optimizer's defaults (for forms and clients)."""
    return job_spec_schema()


@router.get("/lifecycle")
def run_lifecycle(_: Needs(VIEWER)) -> dict:
    """Run statuses (display order, labels), stop reasons, and who may make each transition."""
    return describe()


@router.post("/runs/{run_id}/claim", response_model=schemas.Run, responses=responses(400, 404, 409))
def claim_run(
    run_id: IdPath,
    data: schemas.Claim,
    session: WriteSessionDep,
    access: Needs(EDITOR, "run", worker=CLAIM),
):
    """A worker takes a queued job; 409 if another worker has it or it ended. The answer's
    `attempts` is this claim's attempt number: heartbeats, metric batches and finish carry it."""
    lifecycle.claim(session, access.scope, run_id, data.worker)
    return get_run(session, access.scope, run_id)


@router.post(
    "/runs/{run_id}/heartbeat",
    response_model=schemas.Heartbeat,
    responses=responses(400, 404, 409),
)
def heartbeat(
    run_id: IdPath,
    data: schemas.Held,
    session: WriteSessionDep,
    access: Needs(EDITOR, "run", worker=HELD),
):
    """The worker is alive; the answer says whether to stop (cancelled, diverged). 409: the
    run is no longer this attempt's (it was requeued or ended); stop training it."""
    stop = lifecycle.heartbeat(session, access.scope, run_id, data.worker, data.attempt)
    return schemas.Heartbeat(stop=stop)


@router.post(
    "/runs/{run_id}/finish", response_model=schemas.Run, responses=responses(400, 404, 409)
)
def finish_run(
    run_id: IdPath,
    data: schemas.Finish,
    session: WriteSessionDep,
    access: Needs(EDITOR, "run", worker=HELD),
):
    scope = access.scope
    lifecycle.finish(session, scope, run_id, data.worker, data.attempt, data.status, data.error)
    run_ended(session, run_id)
    return get_run(session, scope, run_id)


@router.post(
    "/runs/{run_id}/rerun",
    status_code=201,
    response_model=schemas.RunCreated,
    responses=responses(404),
)
def rerun(run_id: IdPath, session: WriteSessionDep, access: Needs(EDITOR, "run")):
    """Queue a new run with the same job spec, project and tags (name gets a suffix)."""
    scope = access.scope
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
    audit.record(session, scope, "run.rerun", "run", run.id, run.project_id, {"from_run": run_id})
    dispatch_after_commit(session)
    return schemas.RunCreated(**run.model_dump())


@router.post("/runs/{run_id}/cancel", response_model=schemas.Run, responses=responses(404, 409))
def cancel_run(run_id: IdPath, session: WriteSessionDep, access: Needs(EDITOR, "run")):
    """Stop a run: a queued one at once, a running job at its worker's next heartbeat.
    Every metric logged so far is kept."""
    scope = access.scope
    lifecycle.request_stop(session, scope, run_id, RunStatus.CANCELLED)
    run_ended(session, run_id)
    run = get_run(session, scope, run_id)
    audit.record(session, scope, "run.cancelled", "run", run_id, run.project_id, {"name": run.name})
    return run
