"""/api/v1/shares: read-only links to one run, one saved comparison or one sweep's report.

An editor of the object's project creates a link (its secret shown once, in the answer's
`url`); opening /share/<secret> needs no account and shows that object only. The page's
calls carry the secret in the X-LionLab-Share header (api/deps.request_credential), which
resolves to a share caller whose reach is `store.shares.permits`. Owners list every link of
their project; the link's creator or an owner revokes it.

Importing this module registers the share credential and its policy with the one
authorization dependency (api/access.py), so app.py's import of the routes turns them on.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lionlab_server.api import access as authz
from lionlab_server.api import deps
from lionlab_server.api.access import EDITOR, OWNER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import DbId, IdPath
from lionlab_server.errors import Forbidden
from lionlab_server.store import audit, shares
from lionlab_server.store.scope import Role
from lionlab_server.store.tokens import caller_name

router = APIRouter(tags=["shares"])

deps.RESOLVERS["share"] = shares.resolve
authz.set_share_policy(shares.permits)

SHARE_PATH = "/share/"  # the public page of a link: SHARE_PATH + secret


class ShareCreate(BaseModel):
    kind: Literal["run", "comparison", "sweep"] = Field(
        description="run, comparison (a saved one) or sweep (its report)."
    )
    object_id: DbId = Field(description="The run's, saved comparison's or sweep's id.")
    expires_in_days: int = Field(
        shares.DEFAULT_DAYS,
        ge=1,
        le=shares.MAX_DAYS,
        description=f"The link is refused after this many days (at most {shares.MAX_DAYS}).",
    )


class ShareOut(BaseModel):
    id: int
    project_id: int
    kind: str
    object_id: int
    prefix: str = Field(description="The secret's first characters, to recognise a link.")
    created_by: str = Field(description="The username, or the token's name, that created it.")
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    live: bool = Field(description="Neither revoked nor expired: the link opens.")


class ShareCreated(ShareOut):
    url: str = Field(description="The link's path (/share/<secret>); shown once, copy it now.")


def _out(info: shares.ShareInfo) -> dict:
    return {
        "id": info.id,
        "project_id": info.project_id,
        "kind": info.kind,
        "object_id": info.object_id,
        "prefix": info.prefix,
        "created_by": info.created_by,
        "created_at": info.created_at,
        "expires_at": info.expires_at,
        "revoked_at": info.revoked_at,
        "live": info.live,
    }


@router.post(
    "/shares", status_code=201, response_model=ShareCreated, responses=responses(400, 403, 404)
)
def create_share(data: ShareCreate, session: WriteSessionDep, access: Needs(EDITOR)):
    """A read-only link to the object, for whoever holds it, until it expires or is revoked.
    Needs the editor role on the object's project; an object not visible answers 404."""
    project_id = shares.project_of_object(session, data.kind, data.object_id)
    scope = access.on(project_id, data.kind, data.object_id, "object_id")
    assert project_id is not None  # access.on answered 404 otherwise
    secret, info = shares.create_share(
        session,
        project_id,
        data.kind,
        data.object_id,
        caller_name(session, scope),
        scope.user_id,
        days=data.expires_in_days,
    )
    detail = {
        "kind": info.kind,
        "object_id": info.object_id,
        "expires_at": info.expires_at.isoformat(),
    }
    audit.record(session, scope, "share.created", "share", info.id, info.project_id, detail)
    return {**_out(info), "url": SHARE_PATH + secret}


@router.get(
    "/projects/{project_id}/shares", response_model=list[ShareOut], responses=responses(403, 404)
)
def list_shares(project_id: IdPath, session: SessionDep, _: Needs(OWNER, "project")):
    """Every share link of the project, newest first (revoked and expired ones too)."""
    return [_out(info) for info in shares.list_shares(session, project_id)]


@router.delete("/shares/{share_id}", response_model=ShareOut, responses=responses(403, 404))
def revoke_share(share_id: IdPath, session: WriteSessionDep, access: Needs(EDITOR)):
    """Revoke the link: it is refused from now on (by every server process within a few
    seconds). Its creator (an editor of the project) or a project owner may; a link of a
    project the caller cannot see answers 404."""
    project_id = shares.project_of_share(session, share_id)
    scope = access.on(project_id, "share", share_id, "share_id")
    info = shares.get_share(session, share_id)
    mine = scope.user_id is not None and scope.user_id == info.created_by_user_id
    role = scope.role_on(info.project_id)
    if not mine and (role is None or role < Role.OWNER):
        raise Forbidden("only the link's creator or a project owner can revoke it")
    was_live = info.revoked_at is None
    info = shares.revoke_share(session, share_id)
    if was_live:
        detail = {"kind": info.kind, "object_id": info.object_id}
        audit.record(session, scope, "share.revoked", "share", info.id, info.project_id, detail)
    return _out(info)
