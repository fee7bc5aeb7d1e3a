"""First-start setup: the schema and an admin token."""

from __future__ import annotations

import os

from sqlalchemy import Engine

from lionlab.settings import Settings
from lionlab_server import migrate
from lionlab_server.db import make_sessionmaker, session_scope
from lionlab_server.store import tokens


def prepare_database(engine: Engine, settings: Settings) -> str | None:
    """Migrate, then make sure an admin token exists; returns a newly created secret."""
    migrate.upgrade(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        if settings.admin_token:
            tokens.ensure_token(session, settings.admin_token, name="admin (environment)")
            return None
        if tokens.has_admin_token(session):
            return None
        secret, _ = tokens.create_token(session, name="local admin")
    _save_secret(settings, secret)
    return secret


def _save_secret(settings: Settings, secret: str) -> None:
    """Keep the first admin token where local tools (CLI, local worker) can read it."""
    path = settings.admin_token_file
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
