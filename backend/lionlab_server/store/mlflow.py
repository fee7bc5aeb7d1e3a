"""SQL of the MLflow-compatible API (`lionlab_server/mlflow/`): an experiment is a project,
an MLflow run is a run. Params live in the run's `config` (written once per key), MLflow's
key/value tags in `run_key_tags` / `experiment_tags`, and MLflow's deletion is soft
(`deleted_at` on projects and runs, cleared by a restore)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import orjson
from sqlalchemy import and_, delete, select
from sqlalchemy.orm import Session

from lionlab_server import schemas
from lionlab_server.db import is_postgres
from lionlab_server.errors import InputError, NotFound
from lionlab_server.models import (
    ExperimentTag,
    MetricKey,
    MetricPoint,
    MetricSummary,
    Project,
    Run,
    RunKeyTag,
    RunTag,
    utcnow,
)
from lionlab_server.search import Clause, OrderBy
from lionlab_server.store import projects, run_search
from lionlab_server.store.dialect import dialect_insert
from lionlab_server.store.points import Arrays, read_points
from lionlab_server.store.scope import Scope

DEFAULT_EXPERIMENT = "Default"  # MLflow's experiment "0"


@dataclass(frozen=True)
class Experiment:
    id: int
    name: str
    created_at: datetime
    deleted_at: datetime | None
    tags: dict[str, str]


@dataclass(frozen=True)
class LatestMetric:
    value: float
    step: int
    wall_time: float


@dataclass
class RunRecord:
    """A run with everything MLflow's Run message holds."""

    id: int
    project_id: int
    name: str
    status: str
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    deleted_at: datetime | None
    is_job: bool
    config: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    metrics: dict[str, LatestMetric] = field(default_factory=dict)


# --- experiments -------------------------------------------------------------------------


def _experiment(row: Project, tags: dict[str, str]) -> Experiment:
    return Experiment(row.id, row.name, row.created_at, row.deleted_at, tags)


def _experiment_tags(session: Session, project_ids: list[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {p: {} for p in project_ids}
    if project_ids:
        rows = session.execute(
            select(ExperimentTag.project_id, ExperimentTag.key, ExperimentTag.value)
            .where(ExperimentTag.project_id.in_(project_ids))
            .order_by(ExperimentTag.key)
        )
        for pid, key, value in rows:
            out[pid][key] = value
    return out


def default_project(session: Session) -> int | None:
    return projects.project_id_named(session, DEFAULT_EXPERIMENT)


def get_experiment(session: Session, project_id: int) -> Experiment | None:
    row = session.get(Project, project_id)
    return None if row is None else _experiment(row, _experiment_tags(session, [row.id])[row.id])


def experiment_named(session: Session, name: str) -> int | None:
    return projects.project_id_named(session, name)


def list_experiments(session: Session, scope: Scope, view: str) -> list[Experiment]:
    """The visible projects; view: active, deleted or all (MLflow's ViewType)."""
    where = [scope.filter(Project.id)]
    if view == "active":
        where.append(Project.deleted_at.is_(None))
    elif view == "deleted":
        where.append(Project.deleted_at.is_not(None))
    rows = list(session.scalars(select(Project).where(*where).order_by(Project.id)))
    tags = _experiment_tags(session, [r.id for r in rows])
    return [_experiment(r, tags[r.id]) for r in rows]


def create_experiment(session: Session, name: str, tags: dict[str, str]) -> int:
    """A new project; Conflict when the name is taken."""
    project = projects.create_project(session, schemas.ProjectCreate(name=name))
    for key, value in tags.items():
        session.add(ExperimentTag(project_id=project.id, key=key, value=value))
    session.flush()
    return project.id


def rename_experiment(session: Session, project_id: int, name: str) -> None:
    row = session.get(Project, project_id, with_for_update=True)
    row.name = name
    projects._flush_unique_name(session, name)


def set_experiment_deleted(session: Session, project_id: int, deleted: bool) -> bool:
    """Mark the project deleted (or restore it); False when it already was."""
    row = session.get(Project, project_id, with_for_update=True)
    if (row.deleted_at is not None) == deleted:
        return False
    row.deleted_at = utcnow() if deleted else None
    session.flush()
    return True


def set_experiment_tag(session: Session, project_id: int, key: str, value: str) -> None:
    _upsert(session, ExperimentTag, {"project_id": project_id, "key": key, "value": value})


def _upsert(session: Session, model, values: dict) -> None:
    keys = [c.name for c in model.__table__.primary_key.columns]
    stmt = dialect_insert(session)(model).values(**values)
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_={"value": stmt.excluded.value})
    session.execute(stmt)


# --- runs --------------------------------------------------------------------------------


def run_records(session: Session, run_ids: list[int]) -> list[RunRecord]:
    """The runs (in the order given; missing ids skipped) with tags, labels and each key's
    latest metric, in four queries whatever the number of runs."""
    if not run_ids:
        return []
    rows = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(run_ids)))}
    out = {
        rid: RunRecord(
            id=r.id,
            project_id=r.project_id,
            name=r.name,
            status=r.status,
            created_by=r.created_by,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            deleted_at=r.deleted_at,
            is_job=r.job is not None,
            config=dict(r.config or {}),
        )
        for rid, r in rows.items()
    }
    ids = list(out)
    for rid, key, value in session.execute(
        select(RunKeyTag.run_id, RunKeyTag.key, RunKeyTag.value)
        .where(RunKeyTag.run_id.in_(ids))
        .order_by(RunKeyTag.key)
    ):
        out[rid].tags[key] = value
    for rid, tag in session.execute(
        select(RunTag.run_id, RunTag.tag).where(RunTag.run_id.in_(ids)).order_by(RunTag.tag)
    ):
        out[rid].labels.append(tag)
    s, p = MetricSummary, MetricPoint
    latest = session.execute(
        select(s.run_id, MetricKey.name, s.last_step, s.last_value, p.wall_time)
        .join(MetricKey, MetricKey.id == s.key_id)
        .join(p, and_(p.run_id == s.run_id, p.key_id == s.key_id, p.step == s.last_step))
        .where(s.run_id.in_(ids), s.count > 0)
    )
    for rid, name, step, value, wall in latest:
        # SQLite reads a stored NaN back as NULL
        out[rid].metrics[name] = LatestMetric(float("nan") if value is None else value, step, wall)
    return [out[rid] for rid in run_ids if rid in out]


def search_run_ids(
    session: Session,
    project_ids: list[int],
    view: str,
    clauses: list[Clause],
    order: list[OrderBy],
    offset: int,
    limit: int,
) -> list[int]:
    """One page of runs/search in the database: the projects' runs (view: active, deleted or
    all) matching `clauses`, in `order`, then newest first."""
    if not project_ids:
        return []
    where = [Run.project_id.in_(project_ids), *run_search.conditions(clauses, mlflow=True)]
    if view == "active":
        where.append(Run.deleted_at.is_(None))
    elif view == "deleted":
        where.append(Run.deleted_at.is_not(None))
    terms = run_search.order_terms(order, mlflow=True, postgres=is_postgres(session))
    statement = select(Run.id).where(*where).order_by(*terms, *run_search.newest_first())
    return list(session.scalars(statement.offset(offset).limit(limit)))


def run_row(session: Session, run_id: int) -> Run:
    return session.get(Run, run_id)


def lock_run(session: Session, run_id: int) -> Run:
    """The run's row, locked for this write transaction."""
    return session.get(Run, run_id, with_for_update=True, populate_existing=True)


def check_active(run: Run | None) -> None:
    if run is None:
        raise NotFound("run", None, "run_id")
    if run.deleted_at is not None:
        raise InputError(
            ("body", "run_id"),
            f"run {run.id} is deleted; restore it (runs/restore) before writing to it",
            status_code=400,
        )


def set_params(session: Session, run_id: int, params: dict[str, str]) -> None:
    """Add params to the run's config. A param is written once: logging a key again with
    another value is refused (400), as MLflow does; the same value again is a no-op."""
    row = lock_run(session, run_id)
    check_active(row)
    config = dict(row.config or {})
    for key, value in params.items():
        if key in config and param_text(config[key]) != value:
            raise InputError(
                ("body", "params", key),
                f"param {key!r} of run {run_id} was logged as {param_text(config[key])!r}; "
                f"params cannot change once logged (this request sent {value!r}): log "
                "another key, or start a new run",
                status_code=400,
            )
        config[key] = value
    if config != row.config:
        row.config = config
        session.flush()


def param_text(value: Any) -> str:
    """A config value as an MLflow param (a string)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def set_key_tags(session: Session, run_id: int, tags: dict[str, str]) -> None:
    for key, value in tags.items():
        _upsert(session, RunKeyTag, {"run_id": run_id, "key": key, "value": value})


def delete_key_tag(session: Session, run_id: int, key: str) -> bool:
    done = session.execute(
        delete(RunKeyTag).where(RunKeyTag.run_id == run_id, RunKeyTag.key == key)
    ).rowcount
    return bool(done)


def rename_run(session: Session, run_id: int, name: str) -> None:
    lock_run(session, run_id).name = name
    session.flush()


def set_started(session: Session, run_id: int, when: datetime) -> None:
    lock_run(session, run_id).started_at = when
    session.flush()


def set_finished_at(session: Session, run_id: int, when: datetime) -> None:
    lock_run(session, run_id).finished_at = when
    session.flush()


def set_optimizer(session: Session, run_id: int, optimizer: str) -> None:
    row = lock_run(session, run_id)
    if row.optimizer is None:
        row.optimizer = optimizer
        session.flush()


def set_run_deleted(session: Session, run_id: int, deleted: bool) -> bool:
    row = lock_run(session, run_id)
    if (row.deleted_at is not None) == deleted:
        return False
    row.deleted_at = utcnow() if deleted else None
    session.flush()
    return True


# --- metric histories --------------------------------------------------------------------


def key_id(session: Session, name: str) -> int | None:
    return session.scalar(select(MetricKey.id).where(MetricKey.name == name))


def history_page(
    session: Session, run_id: int, key: str, first_step: int, limit: int
) -> tuple[Arrays, int | None]:
    """Up to `limit` points of the run's metric from `first_step` on, by step, and the step
    the next page starts at (None: this was the last page)."""
    kid = key_id(session, key)
    if kid is None:
        return (np.zeros(0, np.int64), np.zeros(0), np.zeros(0)), None
    steps, values, walls = read_points(session, run_id, kid, first_step, 2**63 - 1, limit + 1)
    if len(steps) > limit:
        return (steps[:limit], values[:limit], walls[:limit]), int(steps[limit])
    return (steps, values, walls), None


def project_of_run(session: Session, run_id: int) -> int | None:
    return session.scalar(select(Run.project_id).where(Run.id == run_id))
