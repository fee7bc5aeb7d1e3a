"""Who is asking, and with which role on each project: the scope every store query is
filtered by, and the roles routes require (api/access.py checks them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from sqlalchemy import ColumnElement, false, true


class Role(IntEnum):
    """What a caller may do in a project; each role includes the ones below it."""

    VIEWER = 1  # read everything in the project
    EDITOR = 2  # also submit, cancel, re-run, log, edit notes, create sweeps and share links
    OWNER = 3  # also members, tokens, webhooks, delete
    ADMIN = 4  # every project, and users and teams; held by admin users, never granted

    @property
    def label(self) -> str:
        return self.name.lower()


GRANTABLE = (Role.VIEWER, Role.EDITOR, Role.OWNER)


def parse_role(value: str) -> Role:
    return Role[value.upper()]


@dataclass(frozen=True)
class Share:
    """What a share link opens: one run, one saved comparison or one sweep's report."""

    id: int
    kind: str  # run / comparison / sweep
    object_id: int
    project_id: int


@dataclass(frozen=True)
class Scope:
    """A caller: a signed-in user, a token (personal or worker) or a share link.

    `admin`: every project (an admin user, an admin's unnarrowed token, a pre-users admin
    token). Otherwise `roles` maps the projects it may see to its role there. `cap` bounds
    every role (VIEWER for a read-only token). A worker token sees no project: it may only
    claim queued jobs of `roles`' projects (every project when `admin`) and serve the jobs
    it claimed. A share link sees nothing either but its one object (api/access.py).
    """

    token_id: int | None = None
    user_id: int | None = None
    username: str | None = None
    admin: bool = False
    roles: Mapping[int, Role] = field(default_factory=dict)
    cap: Role = Role.ADMIN
    worker: bool = False
    share: Share | None = None

    @property
    def is_admin(self) -> bool:
        """May manage users, teams and projects (not a read-only or worker token)."""
        return self.admin and not self.worker and self.share is None and self.cap == Role.ADMIN

    @property
    def sees_projects(self) -> bool:
        return not self.worker and self.share is None

    def role_on(self, project_id: int) -> Role | None:
        """The caller's role on a project, None when the project is not visible to it."""
        if not self.sees_projects:
            return None
        role = Role.ADMIN if self.admin else self.roles.get(project_id)
        return None if role is None else min(role, self.cap)

    def may_claim(self, project_id: int) -> bool:
        """A worker token may claim this project's queued jobs."""
        return self.worker and (self.admin or project_id in self.roles)

    def allows(self, project_id: int) -> bool:
        """The project is visible (read access)."""
        return self.role_on(project_id) is not None

    def filter(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting `column` (a project id column) to visible projects."""
        if not self.sees_projects:
            return false()
        if self.admin:
            return true()
        return column.in_(sorted(self.roles)) if self.roles else false()

    def owned(self) -> Scope:
        """This scope limited to the projects it owns (an admin keeps every project)."""
        if self.admin and self.cap >= Role.OWNER:
            return self
        roles = {p: r for p, r in self.roles.items() if min(r, self.cap) >= Role.OWNER}
        return Scope(self.token_id, self.user_id, self.username, False, roles, self.cap)

    def narrowed(self, project_id: int | None, read_only: bool) -> Scope:
        """This user's scope as one of its tokens holds it: one project only (an admin's
        token keeps owner there), and at most viewer when read-only."""
        scope = self
        if project_id is not None:
            role = self.role_on(project_id)
            if self.admin and role is not None:
                role = min(role, Role.OWNER)
            roles = {} if role is None else {project_id: role}
            scope = Scope(self.token_id, self.user_id, self.username, False, roles, self.cap)
        if read_only:
            scope = Scope(
                scope.token_id, scope.user_id, scope.username, scope.admin, scope.roles, Role.VIEWER
            )
        return scope


SERVER = Scope(admin=True)  # the server's own lookups and scheduling rounds
