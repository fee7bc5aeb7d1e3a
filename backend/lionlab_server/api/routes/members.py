"""/api/v1/projects/{id}/members: who holds which role on a project, for its owners.

A grant gives a user or a team viewer, editor or owner; a user's role is the highest of its
own grant and its teams'. A project keeps at least one owner grant: removing or downgrading
the last one is refused (409) unless an admin does it, so a project is never left without
someone who may manage it but the admins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lionlab_server.api.access import OWNER, Access, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import DbId, IdPath, TeamName, Username
from lionlab_server.errors import Conflict, NotFound
from lionlab_server.store import audit, grants, users
from lionlab_server.store.scope import Role, parse_role

router = APIRouter(tags=["members"])

ManageProject = Needs(OWNER, "project")


class MemberGrant(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"team": "ml-infra", "role": "editor"}]},
    )

    user_id: DbId | None = None
    username: Username | None = Field(None, description="Instead of user_id.")
    team_id: DbId | None = None
    team: TeamName | None = Field(None, description="A team's name, instead of team_id.")
    role: Literal["viewer", "editor", "owner"]

    @model_validator(mode="after")
    def _one_holder(self) -> MemberGrant:
        given = [self.user_id, self.username, self.team_id, self.team]
        if sum(v is not None for v in given) != 1:
            raise ValueError("name exactly one of user_id, username, team_id and team")
        return self


class MemberOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int = Field(description="The grant's id (DELETE .../members/{id} revokes it).")
    project_id: int
    role: str
    user_id: int | None
    username: str | None
    team_id: int | None
    team: str | None
    created_at: datetime


def _holder(session, data: MemberGrant) -> tuple[int | None, int | None]:
    """(user_id, team_id) of the body's holder; a name that matches nobody is a 404."""
    if data.username is not None:
        user = users.find_user(session, data.username)
        if user is None:
            raise NotFound("user", data.username, "username")
        return user.id, None
    if data.team is not None:
        team = grants.find_team(session, data.team)
        if team is None:
            raise NotFound("team", data.team, "team")
        return None, team.id
    return data.user_id, data.team_id


def _keep_an_owner(session, access: Access, project_id: int, grant: grants.GrantInfo) -> None:
    if grant.role != Role.OWNER.label or access.caller.is_admin:
        return
    if grants.owners_left(session, project_id, without_grant=grant.id) == 0:
        raise Conflict(
            "this is the project's last owner grant: grant another user or team owner "
            "first (an admin may remove it anyway)",
            "role",
        )


def _detail(grant: grants.GrantInfo) -> dict:
    holder = {"user": grant.username} if grant.user_id is not None else {"team": grant.team}
    return {**holder, "role": grant.role}


@router.get(
    "/projects/{project_id}/members", response_model=list[MemberOut], responses=responses(404)
)
def list_members(project_id: IdPath, session: SessionDep, _: ManageProject):
    """The project's grants, oldest first, with the user's or team's name."""
    return grants.list_grants(session, project_id)


@router.put(
    "/projects/{project_id}/members",
    response_model=MemberOut,
    responses=responses(400, 404, 409),
)
def grant_member(
    project_id: IdPath, data: MemberGrant, session: WriteSessionDep, access: ManageProject
):
    """Grant a user or a team a role on the project, replacing the role it held there."""
    user_id, team_id = _holder(session, data)
    role = parse_role(data.role)
    held = [
        g
        for g in grants.list_grants(session, project_id)
        if (user_id is not None and g.user_id == user_id)
        or (team_id is not None and g.team_id == team_id)
    ]
    if held and role < Role.OWNER:
        _keep_an_owner(session, access, project_id, held[0])
    grant = grants.grant_project(session, project_id, role, user_id=user_id, team_id=team_id)
    if not held or held[0].role != grant.role:
        action = "grant.changed" if held else "grant.added"
        detail = _detail(grant) if not held else {**_detail(grant), "was": held[0].role}
        audit.record(session, access.caller, action, "grant", grant.id, project_id, detail)
    return grant


@router.delete(
    "/projects/{project_id}/members/{grant_id}",
    status_code=204,
    responses=responses(404, 409),
)
def revoke_member(
    project_id: IdPath, grant_id: IdPath, session: WriteSessionDep, access: ManageProject
):
    """Revoke a grant; its holder keeps what its other grants give (a team's, its own).
    Signed-in sessions and tokens see the change within seconds (the credential cache)."""
    grant = grants.get_grant(session, grant_id)
    if grant.project_id != project_id:
        raise NotFound("grant", grant_id, "grant_id")
    _keep_an_owner(session, access, project_id, grant)
    grants.revoke_grant(session, grant_id)
    audit.record(
        session, access.caller, "grant.removed", "grant", grant_id, project_id, _detail(grant)
    )
    return Response(status_code=204)
