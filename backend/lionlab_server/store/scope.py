"""Who is asking: the project scope every store query is filtered by."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, true

# Ids start at 1: a scope on this project sees none (a user who holds no admin flag, until
# projects can be granted to users).
NO_PROJECT = 0


@dataclass(frozen=True)
class Scope:
    """Projects a caller may see. project_id None means an admin (an admin token, or a
    signed-in admin user): every project. user_id is set for a signed-in user."""

    token_id: int | None
    project_id: int | None
    user_id: int | None = None
    username: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.project_id is None

    def allows(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id

    def filter(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting `column` (a project id column) to this scope."""
        return true() if self.project_id is None else column == self.project_id
