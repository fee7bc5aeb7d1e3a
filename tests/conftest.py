"""Fixtures: real PostgreSQL and Redis (local, or throwaway ones started here), per-test
databases on SQLite and Postgres, and an API client bound to them."""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import pytest
from support.local_servers import (
    claim_redis_db,
    create_database,
    drop_database,
    postgres_url,
    redis_url,
)

from lionlab.settings import Settings
from lionlab_server.db import make_engine
from lionlab_server.migrate import upgrade

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """Admin URL of a PostgreSQL server: the local one, else a throwaway cluster."""
    url, throwaway = postgres_url()
    yield url
    if throwaway is not None:
        throwaway.stop()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> str:
    """A migrated database of this test session's own, dropped at the end."""
    name = f"lionlab_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = create_database(postgres_server, name)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    drop_database(postgres_server, name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "lionlab.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


def _truncate_all(url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    from lionlab_server.models import Base

    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    try:
        for attempt in range(5):
            try:
                with engine.begin() as conn:
                    conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
                return
            except OperationalError as exc:
                # a server thread of the test that is still winding down can hold a lock the
                # TRUNCATE needs while waiting for one it holds: Postgres breaks the deadlock
                # by failing one side; the thread's work ends, so a second try goes through
                if "deadlock detected" not in str(exc) or attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """A clean, migrated database for one test, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "lionlab.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_database")
    yield url
    _truncate_all(url)


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    return Settings(database_url=db_url, data_dir=tmp_path / "data")


@pytest.fixture
def app(settings):
    from lionlab_server.app import create_app
    from lionlab_server.services.bootstrap import prepare_database

    app = create_app(settings)
    app.state.admin_token = prepare_database(app.state.engine, settings)
    yield app
    app.state.engine.dispose()


@pytest.fixture
def api(app):
    from fastapi.testclient import TestClient
    from support.api import Api

    with TestClient(app) as client:
        yield Api(client, app.state.admin_token)


@pytest.fixture(scope="session")
def redis_server() -> str:
    """Base URL (no DB number) of a Redis server: the local one, else a throwaway one."""
    url, throwaway = redis_url()
    yield url
    if throwaway is not None:
        throwaway.stop()


@pytest.fixture
def redis_db_url(redis_server) -> str:
    """A Redis DB number of this test's own, emptied afterwards."""
    url, release = claim_redis_db(redis_server)
    yield url
    release()
