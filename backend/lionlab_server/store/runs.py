"""Runs: create, read, list (filter/sort/paginate), update."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from lionlab.lifecycle import RunStatus
from lionlab_server import schemas
from lionlab_server.errors import NotFound
from lionlab_server.models import MetricKey, MetricSummary, Project, Run, RunTag, utcnow
from lionlab_server.search import Clause
from lionlab_server.store.run_search import conditions
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import caller_name


@dataclass(frozen=True)
class RunFilter:
    project_id: int | None = None
    status: tuple[str, ...] = ()
    optimizer: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()  # a run must carry every tag listed
    created_by: tuple[str, ...] = ()  # a run created by any of these (username or token name)
    q: str | None = None  # the name contains it, in any letter case
    clauses: tuple[Clause, ...] = ()  # a parsed `filter` (lionlab_server/search.py)
    sort: str = "-created_at"
    limit: int = 50
    offset: int = 0


def _tags(session: Session, run_ids: list[int]) -> dict[int, list[str]]:
    tags: dict[int, list[str]] = {rid: [] for rid in run_ids}
    if run_ids:
        rows = session.execute(
            select(RunTag.run_id, RunTag.tag).where(RunTag.run_id.in_(run_ids)).order_by(RunTag.tag)
        )
        for run_id, tag in rows:
            tags[run_id].append(tag)
    return tags


def _out(row: Run, tags: list[str]) -> schemas.Run:
    fields = {f: getattr(row, f) for f in schemas.Run.model_fields if f not in ("tags", "status")}
    return schemas.Run(**fields, tags=tags, status=RunStatus(row.status))


def visible_run(session: Session, scope: Scope, run_id: int) -> Run:
    """The run's ORM row when `scope` may see it; NotFound otherwise."""
    row = session.get(Run, run_id)
    if row is None or not scope.allows(row.project_id):
        raise NotFound("run", run_id, "run_id")
    return row


def _set_tags(session: Session, run_id: int, tags: list[str]) -> None:
    session.execute(delete(RunTag).where(RunTag.run_id == run_id))
    session.add_all(RunTag(run_id=run_id, tag=t) for t in dict.fromkeys(tags))


def create_run(session: Session, scope: Scope, data: schemas.RunCreate) -> tuple[schemas.Run, bool]:
    """A run logged by a script (running) or a job for a worker (queued, with its spec).
    Returns (run, created): a `client_key` seen before in the project returns that run."""
    project = session.get(Project, data.project_id)
    if project is None or not scope.allows(project.id):
        raise NotFound("project", data.project_id, "project_id")
    if data.client_key is not None:
        known = session.scalar(
            select(Run.id).where(Run.project_id == project.id, Run.client_key == data.client_key)
        )
        if known is not None:
            return get_run(session, scope, known), False
    status, optimizer, job = data.status, data.optimizer, None
    if data.job is not None:
        status, optimizer = RunStatus.QUEUED.value, data.job.optimizer.name
        job = data.job.model_dump(mode="json")
    row = Run(
        project_id=project.id,
        name=data.name or "",
        status=status,
        optimizer=optimizer,
        config=data.config,
        job=job,
        client_key=data.client_key,
        created_by=caller_name(session, scope),
        started_at=(data.started_at or utcnow()) if status == RunStatus.RUNNING.value else None,
    )
    session.add(row)
    session.flush()
    if not row.name:
        row.name = f"run-{row.id}"
    _set_tags(session, row.id, data.tags)
    session.flush()
    return _out(row, list(dict.fromkeys(data.tags))), True


def get_run(session: Session, scope: Scope, run_id: int) -> schemas.Run:
    row = visible_run(session, scope, run_id)
    return _out(row, _tags(session, [row.id])[row.id])


SUMMARY_COLUMNS = {"last": "last_value", "min": "min_value", "max": "max_value"}


def _ordered(statement, sort: str):
    """`statement` (selecting from runs) in the order `sort` names: a run column, or
    metric.<key>.last|min|max, a metric summary joined once (never a query per run). Runs
    without that value come after those with one, either way: first those that logged the
    metric but have no such value (no finite one; a NaN last value), then those without it."""
    descending, field = sort.startswith("-"), sort.lstrip("-")
    if not field.startswith("metric."):
        column = getattr(Run, field)
        return statement.order_by(
            *((column.desc(), Run.id.desc()) if descending else (column.asc(), Run.id))
        )
    key, summary = field.removeprefix("metric.").rsplit(".", 1)
    key_id = select(MetricKey.id).where(MetricKey.name == key).scalar_subquery()
    value = getattr(MetricSummary, SUMMARY_COLUMNS[summary])
    absent = case(
        (MetricSummary.run_id.is_(None), 2),
        # a NaN: NULL on SQLite (see models.py), NaN on Postgres (where NaN = NaN)
        (or_(value.is_(None), value == float("nan")), 1),
        else_=0,
    )
    joined = statement.outerjoin(
        MetricSummary, and_(MetricSummary.run_id == Run.id, MetricSummary.key_id == key_id)
    )
    if descending:
        return joined.order_by(absent, value.desc(), Run.id.desc())
    return joined.order_by(absent, value.asc(), Run.id)


def _where(scope: Scope, f: RunFilter) -> list:
    """The conditions of the runs `f` selects among those `scope` may see."""
    where = [scope.filter(Run.project_id)]
    if f.project_id is not None:
        where.append(Run.project_id == f.project_id)
    if f.status:
        where.append(Run.status.in_(f.status))
    if f.optimizer:
        where.append(Run.optimizer.in_(f.optimizer))
    if f.created_by:
        where.append(Run.created_by.in_(f.created_by))
    for tag in f.tag:
        where.append(exists().where(RunTag.run_id == Run.id, RunTag.tag == tag))
    if f.q:
        where.append(func.lower(Run.name).contains(f.q.lower(), autoescape=True))
    where.extend(conditions(f.clauses))
    return where


def list_runs(session: Session, scope: Scope, f: RunFilter) -> schemas.Page[schemas.Run]:
    where = _where(scope, f)
    # The page's ids first, with the count of every matching run (a window over the same
    # scan, not a second one), then its rows: sorting carries only the id and the sort key,
    # not every run's config and job (3x faster at 10,000 matching runs).
    page = _ordered(select(Run.id, func.count().over()).where(*where), f.sort)
    listed = session.execute(page.limit(f.limit).offset(f.offset)).all()
    ids = [rid for rid, _ in listed]
    if listed:
        total = listed[0][1]
    else:  # an offset past the end: the count on its own
        total = session.scalar(select(func.count()).select_from(Run).where(*where)) or 0
    found = {r.id: r for r in session.scalars(select(Run).where(Run.id.in_(ids)))} if ids else {}
    rows = [found[i] for i in ids if i in found]
    tags = _tags(session, [r.id for r in rows])
    items = [_out(r, tags[r.id]) for r in rows]
    return schemas.Page(items=items, total=total, limit=f.limit, offset=f.offset)


def ordered_run_ids(session: Session, scope: Scope, f: RunFilter) -> list[int]:
    """The ids of every run `list_runs` pages through for `f`, in its order (`limit` and
    `offset` ignored). An export reads the runs by these ids page by page (`runs_by_ids`):
    one snapshot of which runs and in which order, without OFFSET, and without a keyset over
    nullable sort columns, whose NULLs each dialect orders differently."""
    return list(session.scalars(_ordered(select(Run.id).where(*_where(scope, f)), f.sort)))


def runs_by_ids(session: Session, run_ids: list[int]) -> list[tuple[schemas.Run, str]]:
    """(run, its project's name) for each id, in the order given, in two statements whatever
    the number of ids (runs with their projects, then their tags). Ids that name no run (any
    more) are left out; visibility is the caller's: pass ids from `ordered_run_ids`."""
    if not run_ids:
        return []
    rows = {
        run.id: (run, name)
        for run, name in session.execute(
            select(Run, Project.name)
            .join(Project, Project.id == Run.project_id)
            .where(Run.id.in_(run_ids))
        )
    }
    tags = _tags(session, list(rows))
    return [(_out(rows[rid][0], tags[rid]), rows[rid][1]) for rid in run_ids if rid in rows]


def update_run(session: Session, scope: Scope, run_id: int, data: schemas.RunUpdate) -> None:
    """Rename, retag or reconfigure a run (its status is the lifecycle's: see lifecycle.py)."""
    row = visible_run(session, scope, run_id)
    changes = data.model_dump(exclude_unset=True, exclude={"status", "error"})
    if "tags" in changes:
        _set_tags(session, row.id, changes.pop("tags") or [])
    for field, value in changes.items():
        setattr(row, field, value)
    session.flush()


def adamw_baseline_lr(session: Session, project_id: int) -> float | None:
    """The lr of the project's AdamW baseline: the AdamW job with the lowest final eval loss,
    else the newest AdamW job; None when the project has none."""
    rows = session.execute(
        select(Run.id, Run.job)
        .where(Run.project_id == project_id, Run.optimizer == "adamw", Run.job.is_not(None))
        .order_by(Run.created_at.desc())
        .limit(500)
    ).all()
    jobs = [(r.id, r.job["optimizer"]["lr"]) for r in rows]
    if not jobs:
        return None
    final = dict(
        session.execute(
            select(MetricSummary.run_id, MetricSummary.last_value)
            .join(MetricKey, MetricKey.id == MetricSummary.key_id)
            .where(MetricKey.name == "eval_loss", MetricSummary.run_id.in_([j[0] for j in jobs]))
        ).all()
    )
    scored = [(final[rid], lr) for rid, lr in jobs if final.get(rid) is not None]
    return min(scored)[1] if scored else jobs[0][1]
