"""POST /api/v1/jobs/check: validate a submission and return its warnings, creating nothing."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lionlab_server import schemas
from lionlab_server.api.access import EDITOR, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.services.job_checks import job_warnings
from lionlab_server.store.projects import get_project

router = APIRouter(tags=["jobs"])


class JobCheck(BaseModel):
    warnings: list[str] = Field(
        description="What POST /runs would warn about for this body (e.g. a Lion lr above "
        "the project's AdamW baseline)."
    )


@router.post("/jobs/check", response_model=JobCheck, responses=responses(400, 404))
def check_job(data: schemas.RunCreate, session: SessionDep, access: Needs(EDITOR)) -> JobCheck:
    """Validate a run body as POST /runs would (422 naming each field) and return its
    warnings, without creating a run: the submit form asks before it submits."""
    get_project(session, access.project(data.project_id), data.project_id)  # as POST /runs
    return JobCheck(warnings=job_warnings(session, data))
