"""/api/v1/runs/export (the runs table as CSV) and /api/v1/runs/{run_id}/export (a run's
stored metric points as CSV or Parquet), streamed; the formats are services/export.py's.

This router is included before the runs router: `/runs/{run_id}` would otherwise take
`/runs/export` and refuse "export" as a run id.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep, end_read
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import RunFilterDep
from lionlab_server.api.validation import DbId, IdPath, MetricKeyName
from lionlab_server.services import export
from lionlab_server.store.runs import visible_run
from lionlab_server.store.series import logged_keys

router = APIRouter(prefix="/runs", tags=["export"])

MAX_KEYS = 200  # keys named in one export (like /series' pairs)
# On every export: no content sniffing (names and config values in it are user text).
HEADERS = {"X-Content-Type-Options": "nosniff"}
_BYTES = {"schema": {"type": "string", "format": "binary"}}


def _answers(*types: str, what: str) -> dict:
    return {200: {"description": what, "content": {t: _BYTES for t in types}}}


def _attachment(body, media_type: str, filename: str) -> StreamingResponse:
    headers = {**HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
    return StreamingResponse(body, media_type=media_type, headers=headers)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        **responses(404),
        **_answers(
            export.CSV_TYPE,
            what="One row per run: id, name, project, status, optimizer, creator, times, "
            "tags (JSON), then config.<path> and job.<path> for every parameter, then "
            "metric.<key>.last|min|max. Floats exact (repr: nan, inf, -inf).",
        ),
    },
)
def export_runs(
    request: Request,
    access: Needs(VIEWER),
    *,
    project_id: Annotated[DbId | None, Query()] = None,
    which: RunFilterDep,
    fmt: Annotated[Literal["csv"], Query(alias="format", description="csv")] = "csv",
):
    """The runs GET /runs lists for the same filters and sort (every page of them), as CSV,
    streamed. A project the caller cannot see contributes no rows, as in GET /runs."""
    f = replace(which, project_id=project_id)
    body = export.runs_csv(request.app.state.sessionmaker, access.scope, f)
    name = f"project-{project_id}-runs.csv" if project_id is not None else "runs.csv"
    return _attachment(body, export.CSV_TYPE, name)


@router.get(
    "/{run_id}/export",
    response_class=StreamingResponse,
    responses={
        **responses(404),
        **_answers(
            export.CSV_TYPE,
            export.PARQUET_TYPE,
            what="Every stored point, by key then step: key, step, value, wall_time "
            "(seconds since the Unix epoch). CSV floats are exact (repr: nan, inf, -inf); "
            "Parquet holds float64.",
        ),
    },
)
def export_run(
    run_id: IdPath,
    request: Request,
    session: SessionDep,
    access: Needs(VIEWER, "run", share=True),
    fmt: Annotated[
        Literal["csv", "parquet"], Query(alias="format", description="csv or parquet")
    ] = "csv",
    key: Annotated[
        list[MetricKeyName],
        Query(
            max_length=MAX_KEYS,
            description="Metric keys to export (repeat for several); none: every key.",
        ),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
):
    """A run's metric points at full resolution, streamed (read a page at a time)."""
    visible_run(session, access.scope, run_id)
    keys = logged_keys(session, run_id, list(dict.fromkeys(key)) or None)
    end_read(session)  # the stream reads through its own session, a page at a time
    pages = export.point_pages(request.app.state.sessionmaker, run_id, keys)
    if fmt == "parquet":
        return _attachment(
            export.points_parquet(pages), export.PARQUET_TYPE, f"run-{run_id}-metrics.parquet"
        )
    return _attachment(export.points_csv(pages), export.CSV_TYPE, f"run-{run_id}-metrics.csv")
