"""Saved comparisons in SQL: a project's named compare views and who saved them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from lionlab_server.errors import InputError, NotFound
from lionlab_server.models import Run, SavedComparison
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import caller_name


@dataclass(frozen=True)
class ComparisonInfo:
    id: int
    project_id: int
    name: str
    description: str
    state: dict[str, Any]
    created_by: str
    created_at: datetime


def _info(row: SavedComparison) -> ComparisonInfo:
    return ComparisonInfo(
        row.id,
        row.project_id,
        row.name,
        row.description,
        dict(row.state),
        row.created_by,
        row.created_at,
    )


def check_runs_in_project(session: Session, project_id: int, run_ids: list[int]) -> None:
    """InputError (422) naming the first run that is not one of the project's."""
    found = set(
        session.scalars(select(Run.id).where(Run.id.in_(run_ids), Run.project_id == project_id))
    )
    for i, run_id in enumerate(run_ids):
        if run_id not in found:
            raise InputError(
                ("body", "state", "runs", i),
                f"run {run_id} is not a run of project {project_id}; "
                "save a comparison of this project's runs only",
            )


def add_comparison(
    session: Session,
    scope: Scope,
    project_id: int,
    name: str,
    description: str,
    state: dict[str, Any],
) -> ComparisonInfo:
    check_runs_in_project(session, project_id, state["runs"])
    row = SavedComparison(
        project_id=project_id,
        name=name,
        description=description,
        state=state,
        created_by=caller_name(session, scope),
    )
    session.add(row)
    session.flush()
    return _info(row)


def _row(session: Session, scope: Scope, comparison_id: int) -> SavedComparison:
    row = session.get(SavedComparison, comparison_id)
    if row is None or not scope.allows(row.project_id):
        raise NotFound("comparison", comparison_id, "comparison_id")
    return row


def get_comparison(session: Session, scope: Scope, comparison_id: int) -> ComparisonInfo:
    return _info(_row(session, scope, comparison_id))


def list_comparisons(
    session: Session, project_id: int, limit: int, offset: int
) -> tuple[list[ComparisonInfo], int]:
    """The project's saved comparisons, newest first, and how many it has."""
    where = SavedComparison.project_id == project_id
    total = session.scalar(select(func.count()).select_from(SavedComparison).where(where))
    rows = session.scalars(
        select(SavedComparison)
        .where(where)
        .order_by(SavedComparison.created_at.desc(), SavedComparison.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_info(r) for r in rows], total or 0


def delete_comparison(session: Session, scope: Scope, comparison_id: int) -> ComparisonInfo:
    """Delete it; answers what it was (for the audit log)."""
    gone = _info(_row(session, scope, comparison_id))
    session.execute(delete(SavedComparison).where(SavedComparison.id == comparison_id))
    return gone
