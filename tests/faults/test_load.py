"""Load: 16 writers and 4 dashboard readers for 30 s against a real server process, on SQLite
and on Postgres. No answer may be an error, and every run stores exactly what it was sent."""

from __future__ import annotations

import os
import uuid

import pytest
from support.live import start_server
from support.local_servers import create_database, drop_database

from bench.load import KEYS, WRITERS, mismatches, run_load

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'lionlab.db'}"
        return
    admin = request.getfixturevalue("postgres_server")
    name = f"lionlab_load_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    yield create_database(admin, name)
    drop_database(admin, name)


def test_writers_and_readers_get_no_error_and_stored_equals_sent(database_url, tmp_path):
    server = start_server(tmp_path / "data", env={"LIONLAB_DATABASE_URL": database_url})
    try:
        result = run_load(server.url, server.headers, seconds=30)
        stored, problems = mismatches(server.url, server.headers, result)
    finally:
        server.stop()
    assert result.errors == []
    assert len(result.sent) == WRITERS and all(s.steps > 0 for s in result.sent)
    assert all(result.reader_ms[name] for name in ("series", "runs_table", "run_charts"))
    assert problems == []
    assert stored == result.points_sent == sum(s.steps for s in result.sent) * len(KEYS)
