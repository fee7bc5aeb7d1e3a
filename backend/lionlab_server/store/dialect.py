"""The few statements that differ between PostgreSQL and SQLite."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lionlab_server.db import is_postgres


def dialect_insert(session: Session):
    """The dialect's insert(), which knows ON CONFLICT."""
    return postgresql.insert if is_postgres(session) else sqlite.insert


def is_nan(session: Session, column) -> ColumnElement[bool]:
    """True where a stored value is NaN (native on Postgres, NULL on SQLite)."""
    if is_postgres(session):
        return column == float("nan")
    return column.is_(None)
