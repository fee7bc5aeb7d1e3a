"""Query parameters several endpoints share: paging, and the runs list's filters and order."""

# No `from __future__ import annotations` here: `paging` builds its parameters from its
# arguments, and FastAPI reads them from annotations evaluated when the function is defined.

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query

from lionlab.json_values import text_problem
from lionlab.lifecycle import RunStatus
from lionlab_server.api.validation import CreatorName, Offset, OptimizerLabel, RunName, Tag
from lionlab_server.errors import InputError
from lionlab_server.search import BadSearch, parse_filter
from lionlab_server.store.runs import RunFilter

MAX_COMPARED = 24  # runs in one comparison (the compare view and saved comparisons)
MAX_GROUPED = 100  # runs pooled into groups in one grouped comparison (seeds x settings)
MAX_GROUP_BY = 4  # parameters a grouped comparison groups by
SORT_PATTERN = (
    r"^-?(created_at|created_by|name|status|optimizer|started_at|finished_at"
    r"|metric\..{1,250}\.(last|min|max))$"
)
SORT_HELP = (
    "A field, or metric.<key>.last|min|max (a metric's summary: its last value, or its least "
    "or largest finite value); '-' for descending. Runs without that value come last either way."
)

MAX_FILTER = 20_000  # as MLflow's runs/search
FILTER_HELP = (
    "Runs matching every clause of MLflow's search_runs grammar, joined by AND, e.g. "
    "`metrics.loss < 1.5 and params.optimizer = 'lion'`; also min(metrics.<key>) / "
    "max(metrics.<key>) and params compared with numbers (`params.lr < 1e-3`). "
    "attributes.status takes LionLab's statuses here; see docs/search.md."
)


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int


def paging(default: int, most: int) -> Any:
    """The `limit` (1..`most`, default `default`) and `offset` query parameters of a list,
    as a dependency: `page: Annotated[Paging, paging(50, 1000)]`."""

    def read_paging(
        limit: Annotated[int, Query(ge=1, le=most, description=f"Items: 1 .. {most}.")] = default,
        offset: Offset = 0,
    ) -> Paging:
        return Paging(limit, offset)

    return Depends(read_paging)


def runs_filter(
    status: Annotated[list[RunStatus], Query()] = [],  # noqa: B006 (FastAPI copies defaults)
    optimizer: Annotated[list[OptimizerLabel], Query()] = [],  # noqa: B006
    tag: Annotated[list[Tag], Query(description="Runs carrying every tag given.")] = [],  # noqa: B006
    created_by: Annotated[
        list[CreatorName],
        Query(description="Runs created by any of these (a username or a token name)."),
    ] = [],  # noqa: B006
    q: Annotated[
        RunName | None, Query(description="Runs whose name contains this (any letter case).")
    ] = None,
    sort: Annotated[str, Query(pattern=SORT_PATTERN, description=SORT_HELP)] = "-created_at",
    filter: Annotated[  # noqa: A002 (the parameter's public name)
        str | None, Query(max_length=MAX_FILTER, description=FILTER_HELP)
    ] = None,
) -> RunFilter:
    """Which runs a runs list shows and in which order (its project and page set apart)."""
    for name, text in (("sort", sort), ("filter", filter or "")):
        problem = text_problem(text)  # keys and values go into a query: stored text only
        if problem:
            raise InputError(("query", name), f"{name} {problem}")
    try:
        clauses = tuple(parse_filter(filter))
    except BadSearch as exc:
        raise InputError(("query", "filter"), f"filter: {exc}") from None
    return RunFilter(
        status=tuple(s.value for s in status),
        optimizer=tuple(optimizer),
        tag=tuple(tag),
        created_by=tuple(created_by),
        q=q or None,
        sort=sort,
        clauses=clauses,
    )


RunFilterDep = Annotated[RunFilter, Depends(runs_filter)]
