"""/api/v1/views/compare: several runs overlaid per metric, and their differing parameters."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Query

from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import MAX_COMPARED
from lionlab_server.api.validation import DbId
from lionlab_server.errors import InputError
from lionlab_server.store import runs
from lionlab_server.store.notes import notes_of_runs
from lionlab_server.store.series import query_series, summaries_of_runs
from lionlab_server.views.chart_data import x_axis
from lionlab_server.views.compare import compare_chart, compare_runs
from lionlab_server.views.markdown import excerpt
from lionlab_server.views.run_charts import STANDARD_CHARTS
from lionlab_server.web.chart_endpoints import (
    MaxPoints,
    TzOffset,
    XModeQuery,
    json_response,
    rows_of,
)

router = APIRouter(prefix="/views", tags=["views"])

KEY_ORDER = [k for chart in STANDARD_CHARTS for k in chart.keys]


def _keys(logged: set[str]) -> list[str]:
    """Standard metrics in page order, then the others by name."""
    return [k for k in KEY_ORDER if k in logged] + sorted(logged - set(KEY_ORDER))


def _charts(keys, run_ids, series, comparison, axis) -> list[dict]:
    by_pair = {(s.run_id, s.key): s for s in series}
    return [
        compare_chart(key, comparison.styles, {rid: by_pair[(rid, key)] for rid in run_ids}, axis)
        for key in keys
    ]


@router.get("/compare", responses=responses(404))
def compare_view(
    session: SessionDep,
    access: Needs(VIEWER, share=True),
    run: Annotated[list[DbId], Query(description="Run ids, in legend order.")],
    max_points: MaxPoints = 1000,
    x: XModeQuery = "step",
    tz: TzOffset = 0,
):
    """Runs' rows with colours and labels, the table of differing parameters, and per metric
    any of them logged the runs' series the browser overlays (it smooths them too)."""
    run_ids = list(dict.fromkeys(run))
    if len(run_ids) > MAX_COMPARED:
        raise InputError(("query", "run"), f"compare at most {MAX_COMPARED} runs at a time")
    scope = access.runs(run_ids)
    selected = [runs.get_run(session, scope, rid) for rid in run_ids]
    comparison = compare_runs(selected)
    logged = summaries_of_runs(session, run_ids)
    keys = _keys({s.key for rid in run_ids for s in logged[rid]})
    series = query_series(session, scope, run_ids, keys, max_points) if keys else []
    axis = x_axis(x, series, tz * 60.0)
    now = datetime.now(timezone.utc)
    styles = {s.run_id: s for s in comparison.styles}
    notes = notes_of_runs(session, run_ids)
    rows = [
        {
            "row": row.model_dump(mode="json"),
            "label": styles[r.id].label,
            "color": styles[r.id].color,
            "note": excerpt(notes.get(r.id, "")),  # plain text: the note's first line
        }
        for r, row in zip(selected, rows_of(session, selected, now), strict=True)
    ]
    return json_response(
        {
            "runs": rows,
            "table": comparison.table(selected),
            "charts": _charts(keys, run_ids, series, comparison, axis),
        }
    )
