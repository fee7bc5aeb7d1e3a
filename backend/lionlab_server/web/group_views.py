"""/api/v1/views/compare/groups: runs pooled by parameters, each group's mean and spread.

"Lion, 3 seeds" against "AdamW, 3 seeds": the compare view overlays single runs; this pools
up to MAX_GROUPED runs by their values of `by` and answers arrays (the browser draws them).
Its statements do not grow with the number of runs: the access check (cached per run), the
runs, their summaries of the key, and the batched series read (store/group_series.py).
How a run's value at a grid point is taken, and the band definitions: views/groups.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import MAX_GROUP_BY, MAX_GROUPED
from lionlab_server.api.validation import DbId, MetricKeyName, ParamKeyName
from lionlab_server.errors import InputError, NotFound
from lionlab_server.services.overview import default_metric, default_mode
from lionlab_server.store.group_series import read_group_series
from lionlab_server.store.runs import runs_by_ids
from lionlab_server.store.series import summaries_of_runs
from lionlab_server.views.groups import DEFAULT_BY, Band, GroupX, group_answer, group_runs
from lionlab_server.views.params import by_priority, run_params
from lionlab_server.web.chart_endpoints import json_response

router = APIRouter(prefix="/views", tags=["views"])

Points = Annotated[
    int, Query(ge=16, le=2000, description="Grid points per group (and series resolution).")
]
DEFINITIONS = {
    "value": "a run's value at a grid x is the linear interpolation of its downsampled "
    "(extremes-preserving) series, within the run's own first..last x only",
    "sd": "sample standard deviation (ddof=1); null where fewer than 2 runs contribute",
    "nonfinite": "runs whose value at that x is NaN or infinite: left out of n, mean, min, "
    "max and sd, and counted here",
    "wall": "x is seconds since each run's first point of the key",
}


def _checked(run: list[int], by: list[str]) -> tuple[list[int], list[str]]:
    run_ids = list(dict.fromkeys(run))
    if len(run_ids) > MAX_GROUPED:
        raise InputError(("query", "run"), f"group at most {MAX_GROUPED} runs at a time")
    by = list(dict.fromkeys(by)) or list(DEFAULT_BY)
    if len(by) > MAX_GROUP_BY:
        raise InputError(("query", "by"), f"group by at most {MAX_GROUP_BY} parameters")
    return run_ids, by


@router.get("/compare/groups", responses=responses(404))
def compare_groups_view(
    session: SessionDep,
    access: Needs(VIEWER, share=True),
    run: Annotated[list[DbId], Query(description=f"Run ids: 1 .. {MAX_GROUPED} of them.")],
    key: Annotated[
        MetricKeyName | None, Query(description="Metric; default: the runs' eval or train loss.")
    ] = None,
    by: Annotated[
        list[ParamKeyName],
        Query(description="Flat parameters to group by (default optimizer and lr)."),
    ] = [],  # noqa: B006 (FastAPI copies defaults)
    x: Annotated[GroupX, Query(description="step, or seconds since each run's first point.")] = (
        "step"
    ),
    band: Annotated[Band, Query(description="minmax: min..max; sd: mean -/+ sd.")] = "minmax",
    points: Points = 400,
):
    """Groups of runs (their values of `by`), each with its run ids, its curves on one x
    grid (mean, min, max, sd, n, nonfinite, and the band's lower/upper) and a table of its
    runs' final and best values (mean, sd, min, max, n)."""
    run_ids, by = _checked(run, by)
    scope = access.runs(run_ids)
    found = runs_by_ids(session, run_ids)
    readable = {r.id for r, _ in found if scope.allows(r.project_id)}
    missing = next((rid for rid in run_ids if rid not in readable), None)
    if missing is not None:  # deleted since the access check
        raise NotFound("run", missing, "run")
    params = {r.id: run_params(r) for r, _ in found}
    logged = summaries_of_runs(session, run_ids)
    counts: dict[str, int] = {}
    for rid in run_ids:
        for s in logged[rid]:
            counts[s.key] = counts.get(s.key, 0) + 1
    key = key or default_metric(counts)
    mode = default_mode(key) if key else "min"
    series = read_group_series(session, run_ids, key, points) if key else {}
    groups = group_runs(run_ids, params, by)
    param_keys = by_priority({k for p in params.values() for k in p})
    return json_response(
        {
            "key": key,
            "keys": sorted(counts),
            "params": param_keys,
            "by": by,
            "x": x,
            "band": band,
            "best": mode,
            "definitions": DEFINITIONS,
            "groups": group_answer(groups, series, x, band, points, mode),
        }
    )
