"""/api/v1/users and /api/v1/teams: the admins' management of who can sign in and of the
named groups projects are granted to. Users and teams belong to no project, so only an
admin (an admin user or an unnarrowed admin token) may list or change them; anyone signed
in may read itself at /users/me."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from lionlab_server.api.access import ADMIN, VIEWER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import (
    Description,
    DisplayName,
    Email,
    IdPath,
    Password,
    TeamName,
    Username,
)
from lionlab_server.errors import NotFound
from lionlab_server.store import audit, grants, users

router = APIRouter(tags=["users and teams"])

LINK_HOURS = 72  # a new user's one-time sign-in link


class UserCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"username": "alice", "display_name": "Alice"}]},
    )

    username: Username
    email: Email | None = None
    display_name: DisplayName = ""
    password: Password | None = Field(
        None, description="Omit it and send the user a one-time sign-in link instead."
    )
    is_admin: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    email: Email | None = None
    is_admin: bool | None = None
    disabled: bool | None = Field(
        None, description="A disabled user's sessions and tokens stop working within seconds."
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    email: str | None
    display_name: str
    is_admin: bool
    disabled: bool
    has_password: bool
    created_at: datetime
    teams: list[str] = Field(default_factory=list, description="Names of its teams.")


class SignInLinkOut(BaseModel):
    path: str = Field(description="Signs the user in once, within the hours given.")
    expires_in_hours: float


class TeamCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: TeamName
    description: Description = ""


class TeamOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    members: list[str] = Field(description="Usernames.")
    created_at: datetime


def _out(session, user: users.UserInfo) -> UserOut:
    return UserOut(**vars(user), teams=grants.teams_of(session, user.id))


def _user(session, user_id: int) -> users.UserInfo:
    user = users.get_user(session, user_id)
    if user is None:
        raise NotFound("user", user_id, "user_id")
    return user


# --- users -------------------------------------------------------------------------------


@router.post("/users", status_code=201, response_model=UserOut, responses=responses(400, 409))
def create_user(data: UserCreate, session: WriteSessionDep, access: Needs(ADMIN)):
    """A new user; without a password, make it a one-time sign-in link (POST .../sign-in-link).
    (A password is hashed inside the write transaction: tens of ms, for a rare admin act.)"""
    user = users.create_user(
        session,
        data.username,
        email=data.email,
        display_name=data.display_name,
        is_admin=data.is_admin,
        password=data.password,
    )
    detail = {"username": user.username, "is_admin": user.is_admin}
    audit.record(session, access.caller, "user.created", "user", user.id, None, detail)
    return _out(session, user)


@router.get("/users", response_model=list[UserOut])
def list_users(session: SessionDep, _: Needs(ADMIN)):
    return [_out(session, u) for u in users.list_users(session)]


@router.get("/users/me", response_model=UserOut, responses=responses(404))
def whoami(session: SessionDep, access: Needs(VIEWER)):
    """The signed-in user, or the user whose token this is (404 for a server-made token)."""
    if access.caller.user_id is None:
        raise NotFound("user", "me", "user_id")
    return _out(session, _user(session, access.caller.user_id))


@router.patch("/users/{user_id}", response_model=UserOut, responses=responses(400, 404, 409))
def update_user(user_id: IdPath, data: UserUpdate, session: WriteSessionDep, access: Needs(ADMIN)):
    """Change a user; `disabled: true` ends its access within the credential cache's
    lifetime (a few seconds)."""
    before = _user(session, user_id)
    # null leaves a field as it is, except email, which null clears
    changes = {
        name: value
        for name, value in data.model_dump(exclude_unset=True).items()
        if value is not None or name == "email"
    }
    user = users.update_user(session, user_id, **changes)
    if "disabled" in changes and changes["disabled"] != before.disabled:
        action = "user.disabled" if user.disabled else "user.enabled"
        audit.record(
            session, access.caller, action, "user", user_id, None, {"username": user.username}
        )
    fields = sorted(
        name for name in changes if name != "disabled" and changes[name] != getattr(before, name)
    )
    if fields:
        detail = {"username": user.username, "fields": fields}
        audit.record(session, access.caller, "user.updated", "user", user_id, None, detail)
    return _out(session, user)


@router.post(
    "/users/{user_id}/sign-in-link",
    status_code=201,
    response_model=SignInLinkOut,
    responses=responses(404),
)
def sign_in_link(user_id: IdPath, session: WriteSessionDep, _: Needs(ADMIN)):
    """A one-time sign-in link for the user (e.g. a new one without a password): send it
    to them; it signs in once and asks for a password."""
    _user(session, user_id)
    secret = users.create_sign_in_link(session, user_id, LINK_HOURS)
    return SignInLinkOut(path=f"/signin/once/{secret}", expires_in_hours=LINK_HOURS)


# --- teams -------------------------------------------------------------------------------


@router.post("/teams", status_code=201, response_model=TeamOut, responses=responses(400, 409))
def create_team(data: TeamCreate, session: WriteSessionDep, access: Needs(ADMIN)):
    team = grants.create_team(session, data.name, data.description)
    audit.record(session, access.caller, "team.created", "team", team.id, None, {"name": team.name})
    return team


@router.get("/teams", response_model=list[TeamOut])
def list_teams(session: SessionDep, _: Needs(ADMIN)):
    return grants.list_teams(session)


@router.get("/teams/{team_id}", response_model=TeamOut, responses=responses(404))
def get_team(team_id: IdPath, session: SessionDep, _: Needs(ADMIN)):
    return grants.get_team(session, team_id)


@router.delete("/teams/{team_id}", status_code=204, responses=responses(404))
def delete_team(team_id: IdPath, session: WriteSessionDep, access: Needs(ADMIN)):
    """Delete the team and its grants: its members keep only their own grants."""
    team = grants.get_team(session, team_id)
    grants.delete_team(session, team_id)
    audit.record(session, access.caller, "team.deleted", "team", team_id, None, {"name": team.name})
    return Response(status_code=204)


@router.put("/teams/{team_id}/members/{user_id}", response_model=TeamOut, responses=responses(404))
def add_member(team_id: IdPath, user_id: IdPath, session: WriteSessionDep, access: Needs(ADMIN)):
    return _membership(session, access, team_id, user_id, True)


@router.delete(
    "/teams/{team_id}/members/{user_id}", response_model=TeamOut, responses=responses(404)
)
def remove_member(team_id: IdPath, user_id: IdPath, session: WriteSessionDep, access: Needs(ADMIN)):
    return _membership(session, access, team_id, user_id, False)


def _membership(session, access, team_id: int, user_id: int, member: bool) -> TeamOut:
    """Idempotent: adding a member twice (or removing a non-member) records nothing."""
    before = grants.get_team(session, team_id)
    user = _user(session, user_id)
    grants.set_membership(session, team_id, user_id, member)
    if (user.username in before.members) != member:
        action = "team.member_added" if member else "team.member_removed"
        detail = {"team": before.name, "username": user.username}
        audit.record(session, access.caller, action, "team", team_id, None, detail)
    return grants.get_team(session, team_id)
