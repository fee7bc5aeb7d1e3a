"""Projects: the unit every run, token and query is scoped by."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lionlab_server import schemas
from lionlab_server.errors import Conflict, NotFound
from lionlab_server.models import Project
from lionlab_server.store.scope import Scope


def _out(row: Project) -> schemas.Project:
    return schemas.Project(
        id=row.id, name=row.name, description=row.description, created_at=row.created_at
    )


def _row(session: Session, scope: Scope, project_id: int) -> Project:
    row = session.get(Project, project_id)
    if row is None or not scope.allows(row.id):
        raise NotFound("project", project_id, "project_id")
    return row


def _flush_unique_name(session: Session, name: str) -> None:
    """Flush a new or renamed project; a taken name is a Conflict naming the field."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a project named {name!r} exists; choose another name", "name") from None


def create_project(session: Session, data: schemas.ProjectCreate) -> schemas.Project:
    row = Project(name=data.name, description=data.description)
    session.add(row)
    _flush_unique_name(session, row.name)
    return _out(row)


def get_project(session: Session, scope: Scope, project_id: int) -> schemas.Project:
    return _out(_row(session, scope, project_id))


def project_id_named(session: Session, name: str) -> int | None:
    """The id of the project called `name`, in any scope (the server's own commands)."""
    return session.scalar(select(Project.id).where(Project.name == name))


def list_projects(
    session: Session, scope: Scope, name: str | None, limit: int, offset: int
) -> schemas.Page[schemas.Project]:
    where = [scope.filter(Project.id)]
    if name is not None:
        where.append(Project.name == name)
    total = session.scalar(select(func.count()).select_from(Project).where(*where))
    rows = session.scalars(
        select(Project).where(*where).order_by(Project.name).limit(limit).offset(offset)
    )
    return schemas.Page(items=[_out(r) for r in rows], total=total or 0, limit=limit, offset=offset)


def update_project(
    session: Session, scope: Scope, project_id: int, data: schemas.ProjectUpdate
) -> schemas.Project:
    row = _row(session, scope, project_id)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(row, field, value)
    _flush_unique_name(session, row.name)
    return _out(row)
