"""Shared setup for the benchmarks: a Postgres database and a running LionLab server."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.live import LiveServer, start_server
from tests.support.local_servers import create_database, drop_database, postgres_url


@contextlib.contextmanager
def bench_postgres() -> Iterator[str]:
    """LIONLAB_BENCH_DATABASE_URL, else a fresh database on localhost:5432 or a throwaway."""
    given = os.environ.get("LIONLAB_BENCH_DATABASE_URL")
    if given:
        yield given
        return
    admin, throwaway = postgres_url()
    name = f"lionlab_bench_{os.getpid()}"
    try:
        yield create_database(admin, name)
    finally:
        drop_database(admin, name)
        if throwaway is not None:
            throwaway.stop()


@contextlib.contextmanager
def bench_server(database_url: str, workers: int = 1) -> Iterator[tuple[LiveServer, dict]]:
    """A `lionlab server` process on `database_url`; yields (server, auth headers)."""
    token = "llk_bench_" + secrets.token_urlsafe(16)
    env = {"LIONLAB_DATABASE_URL": database_url, "LIONLAB_ADMIN_TOKEN": token}
    with tempfile.TemporaryDirectory(prefix="lionlab-bench-") as data_dir:
        server = start_server(Path(data_dir), env=env, args=("--workers", str(workers)))
        try:
            yield server, {"Authorization": f"Bearer {token}"}
        finally:
            server.stop()


def make_run(server: LiveServer, headers: dict, project: str, **fields) -> int:
    """A run in `project` (created when missing); returns its id."""
    r = httpx.post(f"{server.url}/api/v1/projects", json={"name": project}, headers=headers)
    if r.status_code == 409:
        r = httpx.get(f"{server.url}/api/v1/projects", params={"name": project}, headers=headers)
        pid = r.json()["items"][0]["id"]
    else:
        pid = r.json()["id"]
    body = {"project_id": pid, **fields}
    return httpx.post(f"{server.url}/api/v1/runs", json=body, headers=headers).json()["id"]
