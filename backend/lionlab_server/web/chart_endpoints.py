"""What the dashboard's chart endpoints share: their query parameters, a run's flags and table
row, and the JSON response."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Annotated, Any

import orjson
from fastapi import Query, Response
from sqlalchemy.orm import Session

from lionlab_server.schemas import FlagOut, Run
from lionlab_server.store.flags import flags_of_runs, list_flags
from lionlab_server.store.runs import visible_run
from lionlab_server.store.scope import Scope
from lionlab_server.store.series import summaries_of_runs
from lionlab_server.views.chart_data import XMode
from lionlab_server.views.runs_table import RunRow, table_row

# Query parameters every chart endpoint takes.
MaxPoints = Annotated[
    int, Query(ge=16, le=20_000, description="Points per series: about the chart's width in px.")
]
XModeQuery = Annotated[XMode, Query(description="x axis: step, wall (clock) or relative time.")]
TzOffset = Annotated[
    int, Query(ge=-900, le=900, description="Viewer's UTC offset in minutes (wall-clock axis).")
]


def flags_of(session: Session, scope: Scope, run_id: int) -> list[FlagOut]:
    visible_run(session, scope, run_id)  # NotFound outside the scope
    return list_flags(session, run_id)


def rows_of(
    session: Session, runs: list[Run], now: datetime | None = None, columns: Sequence[str] = ()
) -> list[RunRow]:
    """Table rows of runs the caller may see (read through its scope), with two queries for
    all their summaries and flags (which the chosen `columns` read too)."""
    now = now or datetime.now(timezone.utc)
    ids = [r.id for r in runs]
    summaries, flags = summaries_of_runs(session, ids), flags_of_runs(session, ids)
    return [table_row(r, summaries[r.id], flags[r.id], now, columns) for r in runs]


def json_response(body: Any) -> Response:
    """orjson: numpy arrays serialize natively; NaN becomes null (series values come as
    'NaN'/'Infinity' strings, so none are lost)."""
    raw = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
    return Response(raw, media_type="application/json")
