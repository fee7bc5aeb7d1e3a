"""/api/v1/runs/{run_id}/layers: per-layer statistics (ingest) and the distribution view."""

from __future__ import annotations

import functools
from typing import Annotated, Literal

import numpy as np
import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from lionlab_server.api.access import VIEWER, Needs, declared
from lionlab_server.api.deps import SessionDep, bearer
from lionlab_server.api.errors import responses
from lionlab_server.api.routes.metrics import LOG, _attempt, authorized_batch
from lionlab_server.api.validation import IdPath, Step
from lionlab_server.errors import InputError
from lionlab_server.services import layers as layer_service
from lionlab_server.store import layers as layer_store
from lionlab_server.store.runs import visible_run

router = APIRouter(tags=["layers"])

StatName = Literal["grad_norm", "param_norm", "update_ratio", "update_rms"]


class LayerBatchIn(BaseModel):
    names: list[str] = Field(description="Layer (parameter tensor or group) names.")
    steps: list[int] = Field(description="Steps, one row of each statistic per step.")
    stats: dict[StatName, list[list[float | None]]] = Field(
        description="Each statistic's rows: one value per name (null: not logged)."
    )


class LayerIngestResult(BaseModel):
    run_id: int
    values: int = Field(description="Values written (new or overwritten).")
    layers: int = Field(description="Layers in this batch.")
    flags: list[dict] = Field(
        default_factory=list, description="Per-layer detector flags this batch raised."
    )


class LayerIndex(BaseModel):
    names: list[str]
    stats: list[StatName] = Field(description="Statistics the run has logged.")


class LayerViewOut(BaseModel):
    stat: StatName
    names: list[str]
    percentiles: list[int] = Field(description="The bands' percentiles across layers.")
    level: int = Field(description="0: stored vectors; n: buckets of 16**n steps.")
    rows: int = Field(description="Stored steps the view covers.")
    band_first_step: list[int]
    band_last_step: list[int]
    band_lo: list[list[float | None]] = Field(
        description="Per column, each percentile's lowest value in it (null: no data)."
    )
    band_hi: list[list[float | None]] = Field(description="... and its highest.")
    heat_first_step: list[int]
    heat_last_step: list[int]
    heat: list[list[float | None]] = Field(
        description="Per column, each layer's largest value in it (spikes stay visible)."
    )


BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": LayerBatchIn.model_json_schema()}},
        "description": "Per-layer statistics of some steps (lionlab.watch sends them). "
        "At most LIONLAB_MAX_BATCH_POINTS values (steps x names x stats).",
    }
}


@router.post(
    "/runs/{run_id}/layers",
    response_model=LayerIngestResult,
    openapi_extra=BATCH_DOC,
    responses=responses(400, 404, 413),
)
async def log_layers(
    run_id: IdPath,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    _: Annotated[None, declared(LOG)],
):
    """Store per-layer statistics (one write transaction, through the metric writer)."""
    attempt = _attempt(request)
    parse = layer_service.parse_layers
    scope, batch = await authorized_batch(request, credentials, run_id, parse)
    store = functools.partial(
        layer_service.ingest, scope=scope, run_id=run_id, batch=batch, attempt=attempt
    )
    written, flags = await request.app.state.metric_writes.write(store, batch.values)
    return LayerIngestResult(run_id=run_id, values=written, layers=len(batch.names), flags=flags)


@router.get("/runs/{run_id}/layers", response_model=LayerIndex, responses=responses(404))
def layer_index(
    run_id: IdPath, session: SessionDep, access: Needs(VIEWER, "run", share=True)
) -> LayerIndex:
    """The run's layers and the statistics it has logged for them."""
    visible_run(session, access.scope, run_id)
    return LayerIndex(
        names=layer_store.names(session, run_id), stats=layer_store.logged_stats(session, run_id)
    )


def _rows(a: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(a), a, np.nan)  # orjson writes NaN as null


@router.get(
    "/runs/{run_id}/layers/{stat}", response_model=LayerViewOut, responses=responses(400, 404)
)
def layer_view(
    run_id: IdPath,
    stat: StatName,
    session: SessionDep,
    access: Needs(VIEWER, "run", share=True),
    start: Annotated[Step | None, Query(description="First step (zoom).")] = None,
    end: Annotated[Step | None, Query(description="Last step (zoom).")] = None,
    points: Annotated[int, Query(ge=2, le=5000, description="Band columns, at most.")] = 320,
    heat_points: Annotated[
        int, Query(ge=2, le=1000, description="Heatmap columns, at most.")
    ] = 160,
):
    """Percentile bands across layers over steps, and a layers x steps heatmap, downsampled
    on the server keeping each column's extremes."""
    if start is not None and end is not None and end < start:
        raise InputError(("query", "end"), f"end ({end}) is before start ({start})")
    visible_run(session, access.scope, run_id)
    v = layer_store.view(session, run_id, stat, start, end, points, heat_points)
    body = {
        "stat": stat,
        "names": v.names,
        "percentiles": list(layer_store.PERCENTILES),
        "level": v.level,
        "rows": v.rows,
        "band_first_step": v.band_first,
        "band_last_step": v.band_last,
        "band_lo": _rows(v.pct_lo),
        "band_hi": _rows(v.pct_hi),
        "heat_first_step": v.heat_first,
        "heat_last_step": v.heat_last,
        "heat": _rows(v.heat),
    }
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )
