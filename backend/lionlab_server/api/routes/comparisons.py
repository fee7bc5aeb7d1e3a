"""/api/v1 saved comparisons: a project's named compare views (runs, metrics, x axis,
smoothing, log scale), listed on its Comparisons tab and restored by the compare page.

Writes need write access to the project, reads read access (today both: a token or user whose
scope holds the project); a comparison of a project outside the scope answers 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from lionlab_server import schemas
from lionlab_server.api.access import EDITOR, VIEWER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import MAX_COMPARED, Paging, paging
from lionlab_server.api.validation import (
    BoundedJson,
    ComparisonName,
    DbId,
    Description,
    IdPath,
    MetricKeyName,
)
from lionlab_server.store import audit
from lionlab_server.store import comparisons as store

router = APIRouter(tags=["comparisons"])

MAX_METRICS = 500


class ComparisonState(BaseModel):
    """What the compare page shows, as its address holds it."""

    model_config = ConfigDict(extra="forbid")

    runs: list[DbId] = Field(
        min_length=1, max_length=MAX_COMPARED, description="Run ids, in legend order."
    )
    metrics: list[MetricKeyName] | None = Field(
        default=None, max_length=MAX_METRICS, description="Metric keys charted; null: all."
    )
    x: Literal["step", "wall", "relative"] = "step"
    smoothing: float = Field(default=0.6, ge=0, lt=1, description="EMA weight: 0 .. <1.")
    log_y: bool = False


# Bounded as every stored JSON value is (lionlab.json_values), then read as a compare state.
StateBody = Annotated[ComparisonState, BoundedJson]


class ComparisonCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Lion vs AdamW, lr 3e-4",
                    "description": "Lion converges in half the steps.",
                    "state": {"runs": [12, 14], "x": "step", "smoothing": 0.8, "log_y": True},
                }
            ]
        }
    )

    name: ComparisonName
    description: Description = ""
    state: StateBody


class ComparisonOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    name: str
    description: str
    state: ComparisonState
    created_by: str = Field(description="The username, or the name of the token, that saved it.")
    created_at: datetime


@router.post(
    "/projects/{project_id}/comparisons",
    status_code=201,
    response_model=ComparisonOut,
    responses=responses(400, 404),
)
def create_comparison(
    project_id: IdPath,
    data: ComparisonCreate,
    session: WriteSessionDep,
    access: Needs(EDITOR, "project"),
):
    """Save a compare view to the project; every run in it must be one of the project's."""
    scope = access.scope
    state = data.state.model_dump(mode="json")
    state["runs"] = list(dict.fromkeys(state["runs"]))
    saved = store.add_comparison(session, scope, project_id, data.name, data.description, state)
    audit.record(
        session,
        scope,
        "comparison.created",
        "comparison",
        saved.id,
        project_id,
        {"name": saved.name},
    )
    return saved


@router.get(
    "/projects/{project_id}/comparisons",
    response_model=schemas.Page[ComparisonOut],
    responses=responses(404),
)
def list_comparisons(
    project_id: IdPath,
    session: SessionDep,
    _: Needs(VIEWER, "project"),
    page: Annotated[Paging, paging(50, 500)],
):
    """The project's saved comparisons, newest first."""
    items, total = store.list_comparisons(session, project_id, page.limit, page.offset)
    return schemas.Page[ComparisonOut](
        items=[ComparisonOut.model_validate(i) for i in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/comparisons/{comparison_id}", response_model=ComparisonOut, responses=responses(404))
def get_comparison(
    comparison_id: IdPath, session: SessionDep, access: Needs(VIEWER, "comparison", share=True)
):
    return store.get_comparison(session, access.scope, comparison_id)


@router.delete("/comparisons/{comparison_id}", status_code=204, responses=responses(404))
def delete_comparison(
    comparison_id: IdPath, session: WriteSessionDep, access: Needs(EDITOR, "comparison")
):
    """Delete the saved comparison (its runs stay)."""
    gone = store.delete_comparison(session, access.scope, comparison_id)
    audit.record(
        session,
        access.scope,
        "comparison.deleted",
        "comparison",
        comparison_id,
        gone.project_id,
        {"name": gone.name},
    )
    return Response(status_code=204)
