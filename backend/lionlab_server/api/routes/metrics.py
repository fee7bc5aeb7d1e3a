"""/api/v1/runs/{run_id}/metrics (ingest, summaries) and /api/v1/series (queries)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, TypeVar

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials

from lionlab.settings import Settings
from lionlab_server import schemas
from lionlab_server.api.access import EDITOR, HELD, VIEWER, Needs, Requirement, declared
from lionlab_server.api.deps import SessionDep, authenticate, bearer
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import DbId, IdPath, MetricKeyName, Step
from lionlab_server.errors import InputError
from lionlab_server.services import ingest as ingest_service
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope
from lionlab_server.store.series import query_series, summaries
from lionlab_server.views.chart_data import series_json

router = APIRouter(tags=["metrics"])
T = TypeVar("T")

BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": schemas.MetricBatch.model_json_schema()}},
        "description": "Columnar batch. Re-sending a (key, step) overwrites its value. "
        "At most LIONLAB_MAX_BATCH_POINTS points (steps x keys), default 200000.",
    }
}


ATTEMPT_HEADER = "x-lionlab-attempt"


def _attempt(request: Request) -> int | None:
    """The worker attempt a job's batch comes from (header X-LionLab-Attempt)."""
    raw = request.headers.get(ATTEMPT_HEADER)
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) < 2**31:
        raise InputError(
            ("header", ATTEMPT_HEADER),
            f"X-LionLab-Attempt is {raw!r}; send the attempt number the claim answered",
        )
    return int(raw)


LOG = Requirement(EDITOR, "run", worker=HELD)  # checked in _parse_batch's thread hop


async def authorized_batch(
    request: Request, credentials, run_id: int, parse: Callable[[bytes, int], T]
) -> tuple[Scope, T]:
    """The ingest routes' one worker-thread hop (sync dependencies would each take a hop of
    their own): authenticate, check LOG on the run, and parse the body with `parse(raw,
    LIONLAB_MAX_BATCH_POINTS)`."""
    raw = await request.body()

    def hop() -> tuple[Scope, T]:
        settings: Settings = request.app.state.settings
        with request.app.state.sessionmaker() as session:
            caller = authenticate(request, session, credentials)
            scope = LOG.authorize(session, caller, run_id).scope
        return scope, parse(raw, settings.max_batch_points)

    return await run_in_threadpool(hop)


@router.post(
    "/runs/{run_id}/metrics",
    response_model=schemas.IngestResult,
    openapi_extra=BATCH_DOC,
    responses=responses(400, 404),
)
async def log_metrics(
    run_id: IdPath,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    _: Annotated[None, declared(LOG)],
):
    # The hot path: authentication and parsing run in one worker-thread hop; storing goes
    # through the server's
    # metric writer (services/write_queue.py: group commit on SQLite). The body's size was
    # checked by api/validation.RequestLimits, as for every route.
    attempt = _attempt(request)
    scope, batch = await authorized_batch(request, credentials, run_id, ingest_service.parse_batch)
    store = functools.partial(
        ingest_service.ingest, scope=scope, run_id=run_id, batch=batch, attempt=attempt
    )
    written, flags, stop = await request.app.state.metric_writes.write(
        store, sum(len(kp.steps) for kp in batch)
    )
    keys = [kp.name for kp in batch]
    return schemas.IngestResult(run_id=run_id, points=written, keys=keys, flags=flags, stop=stop)


@router.get(
    "/runs/{run_id}/metrics", response_model=list[schemas.MetricSummary], responses=responses(404)
)
def list_metrics(run_id: IdPath, session: SessionDep, access: Needs(VIEWER, "run", share=True)):
    """Every metric key logged for the run, with its summary."""
    visible_run(session, access.scope, run_id)
    return summaries(session, run_id)


@router.get("/series", response_model=schemas.SeriesResponse, responses=responses(404))
def get_series(
    session: SessionDep,
    access: Needs(VIEWER, share=True),
    run: Annotated[list[DbId], Query(description="Run ids (repeat for several).")],
    key: Annotated[list[MetricKeyName], Query(description="Metric keys (repeat for several).")],
    max_points: Annotated[int, Query(ge=2, le=100_000)] = 1000,
    start: Annotated[Step | None, Query(description="First step (zoom).")] = None,
    end: Annotated[Step | None, Query(description="Last step (zoom).")] = None,
):
    """Series downsampled on the server: min and max per bucket, first and last points kept."""
    if start is not None and end is not None and end < start:
        raise InputError(("query", "end"), f"end ({end}) is before start ({start})")
    if len(run) * len(key) > 200:
        raise InputError(("query", "key"), "at most 200 (run, key) pairs per query")
    data = query_series(session, access.runs(run), run, key, max_points, start, end)
    body = {"series": [series_json(s) for s in data]}
    return Response(orjson.dumps(body), media_type="application/json")
