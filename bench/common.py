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


def user_token(database_url: str, server: LiveServer, admin: dict, project: str) -> dict:
    """Auth headers of a personal token of a non-admin user who is an editor of `project`
    through a team (created when missing): requests carry a real role check."""
    from lionlab_server.db import make_engine, make_sessionmaker, session_scope
    from lionlab_server.store import grants, tokens, users
    from lionlab_server.store.scope import Role

    pid = project_id(server, admin, project)
    engine = make_engine(database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        user = users.create_user(session, f"bench-{secrets.token_hex(4)}")
        team = grants.create_team(session, f"bench-team-{secrets.token_hex(4)}")
        grants.set_membership(session, team.id, user.id, True)
        grants.grant_project(session, pid, Role.EDITOR, team_id=team.id)
        secret, _ = tokens.create_token(session, "bench", user_id=user.id)
    engine.dispose()
    return {"Authorization": f"Bearer {secret}"}


def project_id(server: LiveServer, headers: dict, project: str) -> int:
    """The id of `project`, created when missing (creating needs a caller who may)."""
    r = httpx.get(f"{server.url}/api/v1/projects", params={"name": project}, headers=headers)
    r.raise_for_status()
    if r.json()["items"]:
        return r.json()["items"][0]["id"]
    r = httpx.post(f"{server.url}/api/v1/projects", json={"name": project}, headers=headers)
    r.raise_for_status()
    return r.json()["id"]


def make_run(server: LiveServer, headers: dict, project: str, **fields) -> int:
    """A run in `project` (which must exist unless `headers` may create it); returns its id."""
    body = {"project_id": project_id(server, headers, project), **fields}
    return httpx.post(f"{server.url}/api/v1/runs", json=body, headers=headers).json()["id"]
