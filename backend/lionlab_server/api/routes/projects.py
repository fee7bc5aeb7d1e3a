"""/api/v1/projects"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from lionlab_server import schemas
from lionlab_server.api.access import ADMIN, OWNER, VIEWER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import Paging, paging
from lionlab_server.api.validation import IdPath, MetricKeyName, ProjectNameFilter
from lionlab_server.services.overview import project_overview
from lionlab_server.store import audit, grants
from lionlab_server.store import projects as store

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=schemas.Project, responses=responses(400, 409))
def create_project(data: schemas.ProjectCreate, session: WriteSessionDep, access: Needs(ADMIN)):
    project = store.create_project(session, data)
    if access.caller.user_id is not None:  # an admin user owns what it creates
        grants.grant_project(session, project.id, OWNER, user_id=access.caller.user_id)
    audit.record(
        session,
        access.scope,
        "project.created",
        "project",
        project.id,
        project.id,
        {"name": project.name},
    )
    return project


@router.get("", response_model=schemas.Page[schemas.Project])
def list_projects(
    session: SessionDep,
    access: Needs(VIEWER),
    *,
    name: ProjectNameFilter | None = None,
    page: Annotated[Paging, paging(100, 500)],
):
    return store.list_projects(session, access.scope, name, page.limit, page.offset)


@router.get("/{project_id}", response_model=schemas.Project, responses=responses(404))
def get_project(project_id: IdPath, session: SessionDep, access: Needs(VIEWER, "project")):
    return store.get_project(session, access.scope, project_id)


@router.patch("/{project_id}", response_model=schemas.Project, responses=responses(400, 404, 409))
def update_project(
    project_id: IdPath,
    data: schemas.ProjectUpdate,
    session: WriteSessionDep,
    access: Needs(OWNER, "project"),
):
    return store.update_project(session, access.scope, project_id, data)


@router.get(
    "/{project_id}/overview", response_model=schemas.ProjectOverview, responses=responses(404)
)
def get_overview(
    project_id: IdPath,
    session: SessionDep,
    access: Needs(VIEWER, "project"),
    metric: Annotated[
        MetricKeyName | None,
        Query(description="The metric to rank by; default: the project's main loss key."),
    ] = None,
    mode: Annotated[
        Literal["min", "max"] | None,
        Query(description="min: smaller is better (default for losses); max: larger is."),
    ] = None,
    best: Annotated[int, Query(ge=1, le=50, description="Best runs per optimizer: 1 .. 50.")] = 5,
    flags: Annotated[int, Query(ge=1, le=100, description="Newest flags: 1 .. 100.")] = 10,
    sweeps: Annotated[int, Query(ge=1, le=50, description="Newest sweeps: 1 .. 50.")] = 10,
):
    """The project's landing view: runs per status (every status, zeros included), each
    optimizer's best runs by the metric's stored summary (NaN-only runs are not ranked), the
    newest detector flags, and the newest sweeps with the sweep page's verdicts. A fixed
    number of queries whatever the number of runs."""
    return project_overview(session, access.scope, project_id, metric, mode, best, flags, sweeps)
