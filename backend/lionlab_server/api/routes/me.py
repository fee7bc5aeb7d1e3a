"""/api/v1/me: who the credential is, for clients and `lionlab doctor` (any caller)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lionlab_server.api.access import REPORT, VIEWER, Needs

router = APIRouter(tags=["tokens"])


class Me(BaseModel):
    kind: str = Field(description="user (a session or a personal token), worker or share.")
    username: str | None
    token_id: int | None
    admin: bool = Field(description="Manages users, teams and every project.")
    read_only: bool
    projects: dict[int, str] | None = Field(
        description="Role per visible project; null: every project (an admin)."
    )


@router.get("/me", response_model=Me)
def who_am_i(access: Needs(VIEWER, worker=REPORT, share=True)):
    caller = access.caller
    kind = "worker" if caller.worker else "share" if caller.share is not None else "user"
    visible = None if caller.admin and kind == "user" else {}
    if visible is not None and kind == "user":
        visible = {p: caller.role_on(p).label for p in sorted(caller.roles)}
    return Me(
        kind=kind,
        username=caller.username,
        token_id=caller.token_id,
        admin=caller.is_admin,
        read_only=caller.cap == VIEWER,
        projects=visible,
    )
