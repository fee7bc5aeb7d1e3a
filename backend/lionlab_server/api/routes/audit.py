"""/api/v1/audit: the audit log, who (a user or a token, from which address) created,
cancelled, deleted, shared, granted or revoked what, and when. Admins only for now."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from lionlab_server import schemas
from lionlab_server.api.access import OWNER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.queries import Paging, paging
from lionlab_server.api.validation import ActorName, DbId
from lionlab_server.store import audit as store

router = APIRouter(prefix="/audit", tags=["audit"])

Action = Literal[tuple(sorted(store.ACTIONS))]  # type: ignore[valid-type]


class AuditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    project_id: int | None = Field(description="null: not a project's (a token, a password).")
    actor: str = Field(description="The signed-in username, else the token's name.")
    actor_user_id: int | None
    actor_token_id: int | None
    address: str | None = Field(description="The client's address as the server saw it.")
    action: str = Field(description="e.g. run.created, comparison.deleted, token.created.")
    object_kind: str
    object_id: str
    detail: dict[str, Any] = Field(description="What identifies the object, e.g. its name.")


@router.get("", response_model=schemas.Page[AuditEventOut])
def list_events(
    session: SessionDep,
    access: Needs(OWNER),
    *,
    project_id: Annotated[DbId | None, Query()] = None,
    action: Annotated[Action | None, Query()] = None,
    actor: Annotated[ActorName | None, Query(description="An exact name.")] = None,
    page: Annotated[Paging, paging(50, 500)],
):
    """Events newest first, of one project or of all the caller owns (admins: every
    project, and the events of no project: tokens, users, teams), of one action and one
    actor."""
    scope = access.project(project_id) if project_id is not None else access.scope.owned()
    items, total = store.list_events(
        session, scope, project_id, action, actor, page.limit, page.offset
    )
    return schemas.Page[AuditEventOut](
        items=[AuditEventOut.model_validate(e) for e in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
