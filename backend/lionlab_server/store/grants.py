"""Teams and project grants: who holds which role on which project.

A user's role on a project is the highest of its own grant and the grants of its teams;
admin users hold every project. `user_scope` turns that into the `Scope` a session or a
personal token resolves to (cached per credential by api/deps.py for a few seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, union_all
from sqlalchemy.orm import Session

from lionlab_server.errors import Conflict, NotFound
from lionlab_server.models import Project, ProjectGrant, Team, TeamMember, User
from lionlab_server.store.scope import Role, Scope, parse_role


@dataclass(frozen=True)
class TeamInfo:
    id: int
    name: str
    description: str
    members: list[str]  # usernames
    created_at: datetime


@dataclass(frozen=True)
class GrantInfo:
    id: int
    project_id: int
    role: str
    user_id: int | None
    username: str | None
    team_id: int | None
    team: str | None
    created_at: datetime


def project_roles(session: Session, user_id: int) -> dict[int, Role]:
    """Every project the user is granted, directly or through a team, with its highest role."""
    direct = select(ProjectGrant.project_id, ProjectGrant.role).where(
        ProjectGrant.user_id == user_id
    )
    via_team = (
        select(ProjectGrant.project_id, ProjectGrant.role)
        .join(TeamMember, TeamMember.team_id == ProjectGrant.team_id)
        .where(TeamMember.user_id == user_id)
    )
    roles: dict[int, Role] = {}
    for project_id, role in session.execute(union_all(direct, via_team)):
        roles[project_id] = max(roles.get(project_id, Role.VIEWER), parse_role(role))
    return roles


def user_scope(session: Session, user_id: int, username: str, is_admin: bool) -> Scope:
    if is_admin:
        return Scope(user_id=user_id, username=username, admin=True)
    return Scope(user_id=user_id, username=username, roles=project_roles(session, user_id))


# --- teams -------------------------------------------------------------------------------


def _team_info(session: Session, row: Team) -> TeamInfo:
    members = session.scalars(
        select(User.username)
        .join(TeamMember, TeamMember.user_id == User.id)
        .where(TeamMember.team_id == row.id)
        .order_by(User.username)
    ).all()
    return TeamInfo(row.id, row.name, row.description, list(members), row.created_at)


def create_team(session: Session, name: str, description: str = "") -> TeamInfo:
    if session.scalar(select(Team.id).where(Team.name == name)) is not None:
        raise Conflict(f"a team named {name!r} exists", "name")
    row = Team(name=name, description=description)
    session.add(row)
    session.flush()
    return _team_info(session, row)


def get_team(session: Session, team_id: int) -> TeamInfo:
    row = session.get(Team, team_id)
    if row is None:
        raise NotFound("team", team_id, "team_id")
    return _team_info(session, row)


def find_team(session: Session, name: str) -> TeamInfo | None:
    row = session.scalar(select(Team).where(Team.name == name))
    return None if row is None else _team_info(session, row)


def list_teams(session: Session) -> list[TeamInfo]:
    rows = session.scalars(select(Team).order_by(Team.name)).all()
    return [_team_info(session, row) for row in rows]


def delete_team(session: Session, team_id: int) -> None:
    get_team(session, team_id)
    session.execute(delete(Team).where(Team.id == team_id))


def set_membership(session: Session, team_id: int, user_id: int, member: bool) -> None:
    get_team(session, team_id)
    if session.get(User, user_id) is None:
        raise NotFound("user", user_id, "user_id")
    exists = session.get(TeamMember, (team_id, user_id)) is not None
    if member and not exists:
        session.add(TeamMember(team_id=team_id, user_id=user_id))
        session.flush()
    elif not member and exists:
        session.execute(
            delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        )


def teams_of(session: Session, user_id: int) -> list[str]:
    return list(
        session.scalars(
            select(Team.name)
            .join(TeamMember, TeamMember.team_id == Team.id)
            .where(TeamMember.user_id == user_id)
            .order_by(Team.name)
        )
    )


# --- grants ------------------------------------------------------------------------------


def _grants(session: Session, *where) -> list[GrantInfo]:
    rows = session.execute(
        select(ProjectGrant, User.username, Team.name)
        .outerjoin(User, User.id == ProjectGrant.user_id)
        .outerjoin(Team, Team.id == ProjectGrant.team_id)
        .where(*where)
        .order_by(ProjectGrant.id)
    ).all()
    return [
        GrantInfo(g.id, g.project_id, g.role, g.user_id, username, g.team_id, team, g.created_at)
        for g, username, team in rows
    ]


def list_grants(session: Session, project_id: int) -> list[GrantInfo]:
    return _grants(session, ProjectGrant.project_id == project_id)


def get_grant(session: Session, grant_id: int) -> GrantInfo:
    found = _grants(session, ProjectGrant.id == grant_id)
    if not found:
        raise NotFound("grant", grant_id, "grant_id")
    return found[0]


def grant_project(
    session: Session,
    project_id: int,
    role: Role,
    *,
    user_id: int | None = None,
    team_id: int | None = None,
) -> GrantInfo:
    """Grant `role` to a user or a team (replacing the role it held there)."""
    if (user_id is None) == (team_id is None):
        raise ValueError("grant to exactly one of a user and a team")
    if session.get(Project, project_id) is None:
        raise NotFound("project", project_id, "project_id")
    if user_id is not None and session.get(User, user_id) is None:
        raise NotFound("user", user_id, "user_id")
    if team_id is not None and session.get(Team, team_id) is None:
        raise NotFound("team", team_id, "team_id")
    holder = (
        ProjectGrant.user_id == user_id if user_id is not None else ProjectGrant.team_id == team_id
    )
    row = session.scalar(
        select(ProjectGrant).where(ProjectGrant.project_id == project_id, holder).with_for_update()
    )
    if row is None:
        row = ProjectGrant(project_id=project_id, user_id=user_id, team_id=team_id, role=role.label)
        session.add(row)
        session.flush()
    else:
        row.role = role.label
        session.flush()
    return get_grant(session, row.id)


def revoke_grant(session: Session, grant_id: int) -> GrantInfo:
    grant = get_grant(session, grant_id)
    session.execute(delete(ProjectGrant).where(ProjectGrant.id == grant_id))
    return grant


def owners_left(session: Session, project_id: int, without_grant: int) -> int:
    """Owner grants the project keeps once `without_grant` is gone."""
    return session.scalar(
        select(func.count()).where(
            ProjectGrant.project_id == project_id,
            ProjectGrant.role == Role.OWNER.label,
            ProjectGrant.id != without_grant,
        )
    )
