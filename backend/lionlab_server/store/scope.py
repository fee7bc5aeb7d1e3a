"""Who is asking: the project scope every store query is filtered by."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, true


@dataclass(frozen=True)
class Scope:
    """Projects a token may see. project_id None means an admin token: every project."""

    token_id: int
    project_id: int | None

    @property
    def is_admin(self) -> bool:
        return self.project_id is None

    def allows(self, project_id: int) -> bool:
        return self.project_id is None or self.project_id == project_id

    def filter(self, column) -> ColumnElement[bool]:
        """A WHERE clause restricting `column` (a project id column) to this scope."""
        return true() if self.project_id is None else column == self.project_id
