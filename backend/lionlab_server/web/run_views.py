"""/api/v1/views: what the runs table and the run page draw (rows, figures)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lionlab_server import schemas
from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import Paging, RunFilterDep, paging
from lionlab_server.api.validation import IdPath
from lionlab_server.store import projects, runs
from lionlab_server.store.series import query_series, summaries
from lionlab_server.views.params import format_param, run_params
from lionlab_server.views.run_charts import assign_flags, plan_charts, run_chart_figure
from lionlab_server.views.runs_table import RunRow
from lionlab_server.views.traces import x_axis
from lionlab_server.web.chart_endpoints import (
    MaxPoints,
    Smoothing,
    TzOffset,
    XModeQuery,
    flags_of,
    json_response,
    rows_of,
)

router = APIRouter(prefix="/views", tags=["views"])


class RunView(BaseModel):
    row: RunRow
    project: schemas.Project
    flags: list[schemas.FlagOut]
    metrics: list[schemas.MetricSummary]
    params: dict[str, str] = Field(description="Every parameter of the run, flat, formatted.")


@router.get(
    "/projects/{project_id}/runs", response_model=schemas.Page[RunRow], responses=responses(404)
)
def runs_table(
    project_id: IdPath,
    session: SessionDep,
    access: Needs(VIEWER, "project"),
    which: RunFilterDep,
    page: Annotated[Paging, paging(200, 1000)],
):
    """The project's runs as table rows: progress, ETA, loss, flags, key hyper-parameters."""
    scope = access.scope
    f = replace(which, project_id=project_id, limit=page.limit, offset=page.offset)
    listed = runs.list_runs(session, scope, f)
    now = datetime.now(timezone.utc)
    rows = rows_of(session, listed.items, now)
    return schemas.Page(items=rows, total=listed.total, limit=listed.limit, offset=listed.offset)


@router.get("/runs/{run_id}", response_model=RunView, responses=responses(404))
def run_view(run_id: IdPath, session: SessionDep, access: Needs(VIEWER, "run", share=True)):
    """The run page's header and panels: its row, project, flags and metric summaries."""
    scope = access.scope
    run = runs.get_run(session, scope, run_id)
    return RunView(
        row=rows_of(session, [run])[0],
        project=projects.get_project(session, scope, run.project_id),
        flags=flags_of(session, scope, run_id),
        metrics=summaries(session, run_id),
        params={k: format_param(v) for k, v in run_params(run).items()},
    )


@router.get("/runs/{run_id}/charts", responses=responses(404))
def run_charts(
    run_id: IdPath,
    session: SessionDep,
    access: Needs(VIEWER, "run", share=True),
    max_points: MaxPoints = 1000,
    x: XModeQuery = "step",
    smoothing: Smoothing = 0.6,
    tz: TzOffset = 0,
):
    """One Plotly figure per chart of the run: standard metrics first, then every other key."""
    scope = access.scope
    runs.get_run(session, scope, run_id)
    charts = plan_charts(s.key for s in summaries(session, run_id))
    keys = [k for c in charts for k in c.keys]
    series = query_series(session, scope, [run_id], keys, max_points) if keys else []
    by_key = {s.key: s for s in series}
    axis = x_axis(x, series, tz * 60.0)
    flags = assign_flags(flags_of(session, scope, run_id), charts)
    body = [
        {
            **c.as_json(),
            "figure": run_chart_figure(
                c, [by_key[k] for k in c.keys], flags[c.id], axis, smoothing
            ),
        }
        for c in charts
    ]
    return json_response({"charts": body})
