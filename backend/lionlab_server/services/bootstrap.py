"""First-start setup: the schema, an admin token and, embedded, the `admin` user's one-time
sign-in link."""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy import Engine

from lionlab.settings import Settings
from lionlab_server import migrate
from lionlab_server.db import make_engine, make_sessionmaker, session_scope
from lionlab_server.store import tokens, users


@dataclass(frozen=True)
class FirstStart:
    admin_token: str | None  # created just now (also saved to settings.admin_token_file)
    sign_in_path: str | None  # /signin/once/<secret>, while the admin has no password


def prepare(engine: Engine, settings: Settings, sign_in_link: bool = False) -> FirstStart:
    """Migrate and make sure an admin token exists. With `sign_in_link` (a starting server)
    in embedded mode, make sure the `admin` user exists and, while it has no password, give
    it a fresh one-time sign-in link (the earlier one expires)."""
    migrate.upgrade(engine)
    with session_scope(make_sessionmaker(engine)) as session:
        secret = _admin_token(session, settings)
        link = None
        if sign_in_link and settings.embedded:
            link = users.first_admin_link(session, settings.sign_in_link_hours)
    if secret is not None:
        _save_secret(settings, secret)
    return FirstStart(secret, f"/signin/once/{link}" if link else None)


def prepare_database(engine: Engine, settings: Settings) -> str | None:
    """`prepare`, returning only a newly created admin token."""
    return prepare(engine, settings).admin_token


def _admin_token(session, settings: Settings) -> str | None:
    if settings.worker_token:
        tokens.ensure_token(
            session, settings.worker_token, name="workers (environment)", kind=tokens.WORKER
        )
    if settings.admin_token:
        tokens.ensure_token(session, settings.admin_token, name="admin (environment)")
        return None
    if tokens.has_admin_token(session):
        return None
    secret, _ = tokens.create_token(session, name="local admin")
    return secret


def _save_secret(settings: Settings, secret: str) -> None:
    """Keep the first admin token where local tools (the CLI, scripts) can read it."""
    _write_private(settings.admin_token_file, secret)


def _write_private(path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")


def local_worker_token(settings: Settings) -> str:
    """The worker token of `lionlab up`'s local worker (data dir/worker-token): it claims and
    serves jobs and can read nothing, as on a GPU node. Made on first use, and again if the
    saved one was revoked."""
    path = settings.data_dir / "worker-token"
    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            if path.exists():
                secret = path.read_text().strip()
                if tokens.resolve_token(session, secret) is not None:
                    return secret
            secret, _ = tokens.create_token(session, "local worker", kind=tokens.WORKER)
    finally:
        engine.dispose()
    _write_private(path, secret)
    return secret
