"""/api/v1/views: what the runs table and the run page draw (rows, chart data)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from lionlab_server import schemas
from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import Paging, RunFilterDep, paging
from lionlab_server.api.validation import IdPath, TableColumn
from lionlab_server.models import MetricKey, MetricSummary, Run
from lionlab_server.parameters import params_of
from lionlab_server.store import projects, runs
from lionlab_server.store.series import query_series, summaries
from lionlab_server.views.chart_data import x_axis
from lionlab_server.views.params import by_priority, format_param, run_params
from lionlab_server.views.run_charts import assign_flags, plan_charts, run_chart
from lionlab_server.views.runs_table import LOSS_KEYS, RunRow
from lionlab_server.web.chart_endpoints import (
    MaxPoints,
    TzOffset,
    XModeQuery,
    flags_of,
    json_response,
    rows_of,
)

router = APIRouter(prefix="/views", tags=["views"])

MAX_COLUMNS = 30  # chosen columns of the runs table
PARAM_SAMPLE = 200  # the newest runs whose parameters the column chooser offers


class RunView(BaseModel):
    row: RunRow
    project: schemas.Project
    flags: list[schemas.FlagOut]
    metrics: list[schemas.MetricSummary]
    params: dict[str, str] = Field(description="Every parameter of the run, flat, formatted.")


class TableColumns(BaseModel):
    """What the runs table's column chooser offers for a project."""

    params: list[str] = Field(
        description=f"Flat parameter keys of the project's {PARAM_SAMPLE} newest runs, the "
        "well-known hyper-parameters first (column id: param:<key>)."
    )
    metrics: list[str] = Field(
        description="Metric keys any run of the project logged (column ids: "
        "metric:<key>.last, .min, .max)."
    )
    loss_key: str | None = Field(
        description="The loss the table's loss columns sort by: the first of "
        f"{', '.join(LOSS_KEYS)} the project logged."
    )


Columns = Annotated[
    list[TableColumn],
    Query(
        max_length=MAX_COLUMNS,
        description="Extra columns, each param:<key> or metric:<key>.last|min|max; each row "
        "carries their values in `columns`.",
    ),
]


@router.get(
    "/projects/{project_id}/runs", response_model=schemas.Page[RunRow], responses=responses(404)
)
def runs_table(
    project_id: IdPath,
    session: SessionDep,
    access: Needs(VIEWER, "project"),
    which: RunFilterDep,
    page: Annotated[Paging, paging(200, 1000)],
    columns: Columns = [],  # noqa: B006 (FastAPI copies defaults)
):
    """The project's runs as table rows: progress, ETA, loss, flags, key hyper-parameters,
    and the chosen `columns` (read from the rows' runs and summaries: no statement more)."""
    scope = access.scope
    f = replace(which, project_id=project_id, limit=page.limit, offset=page.offset)
    listed = runs.list_runs(session, scope, f)
    now = datetime.now(timezone.utc)
    rows = rows_of(session, listed.items, now, list(dict.fromkeys(columns)))
    return schemas.Page(items=rows, total=listed.total, limit=listed.limit, offset=listed.offset)


@router.get("/projects/{project_id}/columns", response_model=TableColumns, responses=responses(404))
def table_columns(project_id: IdPath, session: SessionDep, access: Needs(VIEWER, "project")):
    """The columns the runs table can add: parameters and metric keys, in two statements."""
    visible = [Run.project_id == project_id, access.scope.filter(Run.project_id)]
    metrics = list(
        session.scalars(
            select(MetricKey.name)
            .where(
                MetricKey.id.in_(
                    select(MetricSummary.key_id)
                    .join(Run, Run.id == MetricSummary.run_id)
                    .where(*visible, MetricSummary.count > 0)
                )
            )
            .order_by(MetricKey.name)
        )
    )
    newest = session.execute(
        select(Run.optimizer, Run.job, Run.config)
        .where(*visible)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .limit(PARAM_SAMPLE)
    )
    keys: dict[str, None] = {}
    for optimizer, job, config in newest:
        keys |= dict.fromkeys(params_of(optimizer, job, config or {}))
    keys.pop("optimizer", None)  # a column of its own
    return TableColumns(
        params=by_priority(keys),
        metrics=metrics,
        loss_key=next((k for k in LOSS_KEYS if k in metrics), None),
    )


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
    tz: TzOffset = 0,
):
    """Per chart of the run (standard metrics first, then every other key): its series, flags
    and layout, which the browser draws (and smooths) as Plotly traces."""
    scope = access.scope
    runs.get_run(session, scope, run_id)
    charts = plan_charts(s.key for s in summaries(session, run_id))
    keys = [k for c in charts for k in c.keys]
    series = query_series(session, scope, [run_id], keys, max_points) if keys else []
    by_key = {s.key: s for s in series}
    axis = x_axis(x, series, tz * 60.0)
    flags = assign_flags(flags_of(session, scope, run_id), charts)
    body = [run_chart(c, [by_key[k] for k in c.keys], flags[c.id], axis) for c in charts]
    return json_response({"charts": body})
