"""/api/v1/tokens: personal tokens (act as their user, optionally narrowed to one project
and/or read-only, with an expiry) and worker tokens (claim jobs, serve only their claims)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from lionlab_server import schemas
from lionlab_server.api.access import EDITOR, OWNER, VIEWER, Access, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import DbId, IdPath, TokenName
from lionlab_server.errors import Forbidden, InputError, NotFound
from lionlab_server.models import utcnow
from lionlab_server.store import audit, tokens
from lionlab_server.store.scope import Role

router = APIRouter(tags=["tokens"])

MAX_DAYS = 3650


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TokenName
    project_id: DbId | None = Field(
        None, description="Narrow it to this one project; null: every project its user sees."
    )
    kind: Literal["personal", "worker"] = Field(
        "personal",
        description="personal: acts as you. worker: may only claim queued jobs (of project_id, "
        "or of every project for an admin's) and heartbeat, log and finish the ones it claimed.",
    )
    read_only: bool = Field(False, description="At most the viewer role, wherever it acts.")
    expires_in_days: float | None = Field(
        None, gt=0, le=MAX_DAYS, description="Refused after this many days; null: never."
    )


class TokenCreated(schemas.TokenInfo):
    token: str = Field(description="The secret; shown once, store it now.")


@router.post(
    "/tokens", status_code=201, response_model=TokenCreated, responses=responses(400, 403, 404)
)
def create_token(data: TokenCreate, session: WriteSessionDep, access: Needs(VIEWER)):
    """A token for yourself: it can never do more than you (a read-only caller makes only
    read-only tokens). A worker token needs the owner role on its project (an admin for one
    serving every project)."""
    caller = access.caller
    if data.kind == "worker":
        if data.read_only:
            raise InputError(
                ("body", "read_only"), "a worker token logs metrics: it cannot be read-only"
            )
        if data.project_id is None:
            if not caller.is_admin:
                raise Forbidden("a worker token for every project needs an admin; give project_id")
        else:
            access.project_with(data.project_id, OWNER)
    elif data.project_id is not None:
        access.project_with(data.project_id, VIEWER)
    read_only = data.read_only or caller.cap < Role.EDITOR
    expires = utcnow() + timedelta(days=data.expires_in_days) if data.expires_in_days else None
    secret, info = tokens.create_token(
        session,
        data.name,
        data.project_id,
        user_id=caller.user_id,
        kind=data.kind,
        read_only=read_only,
        expires_at=expires,
    )
    detail = {"name": info.name, "kind": info.kind, "read_only": info.read_only}
    audit.record(session, caller, "token.created", "token", info.id, info.project_id, detail)
    return TokenCreated(token=secret, **info.model_dump())


@router.get("/tokens", response_model=list[schemas.TokenInfo])
def list_my_tokens(
    session: SessionDep,
    access: Needs(VIEWER),
    include_revoked: Annotated[bool, Query()] = False,
):
    """Your tokens (for an admin token made by the server: the other such tokens)."""
    found = tokens.list_tokens(session, user_id=access.caller.user_id)
    if access.caller.user_id is None:
        found = [t for t in found if t.user_id is None]
    return [t for t in found if include_revoked or t.revoked_at is None]


@router.get(
    "/projects/{project_id}/tokens",
    response_model=list[schemas.TokenInfo],
    responses=responses(404),
)
def list_project_tokens(
    project_id: IdPath,
    session: SessionDep,
    _: Needs(OWNER, "project"),
    include_revoked: Annotated[bool, Query()] = False,
):
    """Tokens narrowed to the project (personal and worker), for its owners."""
    found = tokens.list_tokens(session, project_id=project_id)
    return [t for t in found if include_revoked or t.revoked_at is None]


@router.delete("/tokens/{token_id}", status_code=204, responses=responses(404))
def revoke_token(token_id: IdPath, session: WriteSessionDep, access: Needs(EDITOR)):
    """Revoke a token: your own, one narrowed to a project you own, or (admins) any. Every
    server process refuses it within a few seconds (the credential cache's lifetime)."""
    info = tokens.get_token(session, token_id)
    if info is None or not may_manage(access, info):
        raise NotFound("token", token_id, "token_id")
    tokens.revoke_token(session, token_id)
    audit.record(
        session,
        access.caller,
        "token.revoked",
        "token",
        token_id,
        info.project_id,
        {"name": info.name},
    )
    return Response(status_code=204)


def may_manage(access: Access, info: schemas.TokenInfo) -> bool:
    caller = access.caller
    if caller.is_admin:
        return True
    if caller.user_id is not None and info.user_id == caller.user_id:
        return True
    return info.project_id is not None and (caller.role_on(info.project_id) or 0) >= OWNER
