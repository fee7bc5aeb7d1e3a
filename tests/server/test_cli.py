"""`lionlab server` / `lionlab token create` as a user runs them."""

import subprocess
import sys

import httpx
import pytest
from support.live import start_server

from lionlab.settings import Settings
from lionlab_server.commands import describe_database


@pytest.mark.slow
def test_server_migrates_prints_where_things_are_and_serves_docs(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        banner = server.text()
        assert server.url in banner and str(tmp_path / "data") in banner
        assert "SQLite" in banner and "WAL" in banner
        assert server.token in banner and "Authorization: Bearer" in banner
        assert httpx.get(f"{server.url}/docs").status_code == 200
        r = httpx.get(f"{server.url}/api/v1/projects", headers=server.headers)
        assert r.status_code == 200
    finally:
        server.stop()
    # A second start reuses the database and does not mint another admin token.
    again = start_server(tmp_path / "data")
    try:
        assert "created now" not in again.text()
        assert httpx.get(f"{again.url}/api/v1/projects", headers=again.headers).status_code == 200
    finally:
        again.stop()


def test_token_create_for_a_project(tmp_path, api, settings):
    api.project("team")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "lionlab",
            "token",
            "create",
            "--project",
            "team",
            "--database-url",
            settings.resolved_database_url,
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    secret = out.split()[0]
    assert secret.startswith("llk_") and "project team" in out
    r = api.get("/projects", headers={"Authorization": f"Bearer {secret}"})
    assert [p["name"] for p in r.json()["items"]] == ["team"]


def test_token_create_for_an_unknown_project_fails_clearly(tmp_path, settings):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lionlab",
            "token",
            "create",
            "--project",
            "nope",
            "--database-url",
            settings.resolved_database_url,
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2 and "no project named 'nope'" in r.stderr


def test_the_startup_banner_names_the_database_it_uses(tmp_path):
    embedded = Settings(data_dir=tmp_path)
    assert describe_database(embedded) == f"SQLite {tmp_path / 'lionlab.db'} (WAL mode)"
    other_file = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/other.db")
    assert describe_database(other_file) == f"SQLite {tmp_path}/other.db (WAL mode)"
    pg = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://u:secret@db:5432/ll")
    assert describe_database(pg) == "PostgreSQL postgresql+psycopg://u:***@db:5432/ll"


def test_token_create_worker_and_the_local_workers_token(tmp_path, api, settings):
    """`lionlab token create --worker` makes a token that claims jobs and reads nothing; the
    token `lionlab up` gives its local worker is one, reused across starts until revoked."""
    from lionlab_server.services.bootstrap import local_worker_token

    pid = api.project("team")["id"]
    job = {"task": "char_lm", "optimizer": {"name": "lion"}, "steps": 10}
    run = api.post("/runs", json={"project_id": pid, "name": "j", "job": job}).json()["id"]
    out = subprocess.run(
        [sys.executable, "-m", "lionlab", "token", "create", "--worker", "--name", "gpu-7"]
        + ["--database-url", settings.resolved_database_url, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "worker token" in out
    headers = {"Authorization": f"Bearer {out.split()[0]}"}
    assert api.get("/projects", headers=headers).status_code == 403
    assert api.post(f"/runs/{run}/claim", headers=headers, json={"worker": "w"}).status_code == 200

    local = local_worker_token(settings)
    assert local_worker_token(settings) == local  # kept in the data dir
    assert api.get(f"/runs/{run}", headers={"Authorization": f"Bearer {local}"}).status_code == 404
    listed = api.get("/tokens", params={"include_revoked": True}).json()
    local_id = next(t["id"] for t in listed if t["name"] == "local worker")
    assert api.client.delete(f"/api/v1/tokens/{local_id}", headers=api.headers).status_code == 204
    assert local_worker_token(settings) != local  # a revoked one is replaced


def test_a_worker_token_from_the_environment_is_registered_as_one(settings):
    from lionlab_server.db import make_engine, make_sessionmaker
    from lionlab_server.services.bootstrap import prepare_database
    from lionlab_server.store.tokens import resolve_token

    settings = settings.model_copy(update={"worker_token": "llk_env_worker_secret"})
    engine = make_engine(settings.resolved_database_url)
    prepare_database(engine, settings)
    with make_sessionmaker(engine)() as session:
        scope = resolve_token(session, "llk_env_worker_secret")
    engine.dispose()
    assert scope.worker and scope.may_claim(1) and not scope.allows(1)
