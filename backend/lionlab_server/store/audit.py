"""The audit log in SQL: who (a user or a token, and from which address) changed what, when.

`record` writes into the caller's own write transaction, so an event exists if and only if
the change it describes committed: a write that fails (404, 409, 422) or rolls back leaves
no event. The address is the one the write session was opened with (`set_address`, called
by `api/deps.get_write_session` with the connection's peer address; no proxy header is
trusted, so behind a reverse proxy it is the proxy's).

Every action recorded is listed in ACTIONS, here and nowhere else: a module that records a
new kind of change adds its name (`<object>.<verb in the past>`, at most 32 characters).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lionlab_server.models import AuditEvent, Project
from lionlab_server.store.scope import Scope
from lionlab_server.store.tokens import caller_name

ACTIONS: frozenset[str] = frozenset(
    {
        # runs and jobs
        "run.created",
        "run.cancelled",
        "run.rerun",  # the new run; detail.from_run is the one re-run
        "note.edited",  # a run's note (detail.chars 0: removed)
        "run.deleted",  # through the MLflow-compatible API: kept until restored
        "run.restored",
        # sweeps
        "sweep.created",
        "sweep.cancelled",
        # saved comparisons
        "comparison.created",
        "comparison.deleted",
        # alerts
        "webhook.created",
        "webhook.deleted",
        # projects, tokens, users
        "project.created",
        "project.deleted",
        "project.restored",  # an MLflow experiment deleted, then restored
        "project.renamed",
        "token.created",
        "token.revoked",
        "password.changed",
        "user.created",
        "user.updated",  # display name, email or admin; detail lists the fields changed
        "user.disabled",
        "user.enabled",
        # sharing and roles
        "grant.added",
        "grant.changed",
        "grant.removed",
        "share.created",
        "share.revoked",
        "team.created",
        "team.deleted",
        "team.member_added",
        "team.member_removed",
    }
)
OBJECT_KINDS: frozenset[str] = frozenset(
    {"run", "sweep", "comparison", "webhook", "project", "token", "user", "grant", "share", "team"}
)

_ADDRESS = "lionlab_address"  # Session.info key: the address of the request writing
MAX_DETAIL_TEXT = 200  # characters kept of each string in `detail`


@dataclass(frozen=True)
class Event:
    id: int
    at: datetime
    project_id: int | None
    actor: str
    actor_user_id: int | None
    actor_token_id: int | None
    address: str | None
    action: str
    object_kind: str
    object_id: str
    detail: dict[str, Any]


def _event(row: AuditEvent) -> Event:
    return Event(
        row.id,
        row.at,
        row.project_id,
        row.actor,
        row.actor_user_id,
        row.actor_token_id,
        row.address,
        row.action,
        row.object_kind,
        row.object_id,
        dict(row.detail or {}),
    )


def set_address(session: Session, address: str | None) -> None:
    """The address the writes of `session` come from (its request's peer)."""
    session.info[_ADDRESS] = address[:64] if address else None


def _small(value: Any) -> Any:
    if isinstance(value, str):
        return value[:MAX_DETAIL_TEXT]
    if isinstance(value, (list, tuple)):
        return [_small(v) for v in value[:50]]
    return value


def record(
    session: Session,
    scope: Scope,
    action: str,
    object_kind: str,
    object_id: int | str,
    project_id: int | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Record that `scope`'s caller did `action` to the object, in `session`'s transaction.

    `detail` is a small dict of what a reader needs to recognise the object (its name);
    never a secret (a webhook's URL can hold one: record its host)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}: add it to store/audit.py ACTIONS")
    if object_kind not in OBJECT_KINDS:
        raise ValueError(f"unknown audit object kind {object_kind!r}: add it to OBJECT_KINDS")
    session.add(
        AuditEvent(
            project_id=project_id,
            actor=caller_name(session, scope)[:200],
            actor_user_id=scope.user_id,
            actor_token_id=scope.token_id,
            address=session.info.get(_ADDRESS),
            action=action,
            object_kind=object_kind,
            object_id=str(object_id)[:64],
            detail={k: _small(v) for k, v in (detail or {}).items()},
        )
    )
    session.flush()


def list_events(
    session: Session,
    scope: Scope,
    project_id: int | None = None,
    action: str | None = None,
    actor: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Event], int]:
    """Events newest first, and how many match: of one project or (None) all, optionally of
    one action and one actor (exact names). `scope` limits the projects as everywhere; a
    project-less event (a token or a password) is listed only unfiltered by project."""
    query = select(AuditEvent).where(scope.filter(AuditEvent.project_id))
    if project_id is not None:
        query = query.where(AuditEvent.project_id == project_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit).offset(offset)
    )
    return [_event(r) for r in rows], total or 0


def project_names(session: Session, project_ids: set[int]) -> dict[int, str]:
    """Names of the projects that still exist among `project_ids` (events outlive them)."""
    if not project_ids:
        return {}
    query = select(Project.id, Project.name).where(Project.id.in_(project_ids))
    return {project_id: name for project_id, name in session.execute(query)}
