"""The project overview's reads: each one statement over the whole project, so a request
costs the same number of queries for 5 runs as for 5,000 (the overview is the landing view
and is opened often)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lionlab_server.models import Flag, MetricKey, MetricSummary, Run

Mode = Literal["min", "max"]


def run_counts(session: Session, project_id: int) -> dict[tuple[str, str | None], int]:
    """(status, optimizer) -> number of the project's runs: the status tiles and each
    optimizer's run count both come from this one grouped scan."""
    rows = session.execute(
        select(Run.status, Run.optimizer, func.count())
        .where(Run.project_id == project_id)
        .group_by(Run.status, Run.optimizer)
    ).all()
    return {(status, optimizer): n for status, optimizer, n in rows}


def logged_keys(session: Session, project_id: int) -> dict[str, int]:
    """Metric key -> how many of the project's runs logged it (from the summaries: one row
    per run and key, so no point is read)."""
    rows = session.execute(
        select(MetricKey.name, func.count())
        .select_from(MetricSummary)
        .join(Run, Run.id == MetricSummary.run_id)
        .join(MetricKey, MetricKey.id == MetricSummary.key_id)
        .where(Run.project_id == project_id)
        .group_by(MetricKey.name)
    ).all()
    return dict(rows)


@dataclass(frozen=True)
class RankedRun:
    """One of an optimizer's best runs by a key's summary."""

    optimizer: str | None
    rank: int  # 1 = best
    ranked: int  # runs of this optimizer with a value of the key (NaN-only ones have none)
    id: int
    name: str
    status: str
    value: float  # the run's min (mode min) or max (mode max) of the key, NaN excluded
    last: float | None  # the key's last logged value (NaN on SQLite reads as None)
    last_step: int | None
    config: dict[str, Any]
    job: dict[str, Any] | None


def best_runs(session: Session, project_id: int, key: str, mode: Mode, n: int) -> list[RankedRun]:
    """The `n` best runs of each optimizer by `key`'s stored summary, ordered by optimizer
    then rank, in one query: ROW_NUMBER() over each optimizer's runs (SQLite >= 3.25 and
    Postgres both have window functions).

    A run's value is its smallest (mode min) or largest (mode max) non-NaN value of the key;
    a run that logged only NaN has none (min/max are NULL in the summary) and is not ranked.
    Ties go to the older run (lower id), so the order is stable between requests.
    """
    value = MetricSummary.min_value if mode == "min" else MetricSummary.max_value
    order = value.asc() if mode == "min" else value.desc()
    inner = (
        select(
            Run.optimizer,
            func.row_number()
            .over(partition_by=Run.optimizer, order_by=(order, Run.id.asc()))
            .label("rank"),
            func.count().over(partition_by=Run.optimizer).label("ranked"),
            Run.id,
            Run.name,
            Run.status,
            value.label("value"),
            MetricSummary.last_value.label("last"),
            MetricSummary.last_step,
            Run.config,
            Run.job,
        )
        .join(MetricSummary, MetricSummary.run_id == Run.id)
        .join(MetricKey, MetricKey.id == MetricSummary.key_id)
        .where(Run.project_id == project_id, MetricKey.name == key, value.is_not(None))
        .subquery()
    )
    rows = session.execute(
        select(inner).where(inner.c.rank <= n).order_by(inner.c.optimizer, inner.c.rank)
    ).all()
    return [RankedRun(**r._mapping) for r in rows]


@dataclass(frozen=True)
class RecentFlag:
    id: int
    run_id: int
    run_name: str
    kind: str
    severity: str
    message: str
    step: int
    start_step: int
    end_step: int
    created_at: datetime
    total: int  # the project's flags in all (the same on every row)


def recent_flags(session: Session, project_id: int, n: int) -> list[RecentFlag]:
    """The project's `n` newest detector flags with their run's name, newest first (flags
    raised by one batch share a time: the later id first), and the project's flag count, in
    one query (COUNT(*) OVER () before the LIMIT)."""
    rows = session.execute(
        select(
            Flag.id,
            Flag.run_id,
            Run.name.label("run_name"),
            Flag.kind,
            Flag.severity,
            Flag.message,
            Flag.step,
            Flag.start_step,
            Flag.end_step,
            Flag.created_at,
            func.count().over().label("total"),
        )
        .join(Run, Run.id == Flag.run_id)
        .where(Run.project_id == project_id)
        .order_by(Flag.created_at.desc(), Flag.id.desc())
        .limit(n)
    ).all()
    return [RecentFlag(**r._mapping) for r in rows]
