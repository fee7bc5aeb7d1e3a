"""`lionlab backup` / `lionlab restore` as a user runs them, against real server processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from support.live import start_server
from support.local_servers import create_database, drop_database

pytestmark = pytest.mark.slow

TOKEN = "llk_backup_" + uuid.uuid4().hex
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
STEPS = 50  # per batch


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lionlab", *args],
        env={**os.environ, "LIONLAB_ADMIN_TOKEN": TOKEN, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def _server(data_dir: Path, database_url: str = ""):
    env = {"LIONLAB_ADMIN_TOKEN": TOKEN, "LIONLAB_DATABASE_URL": database_url}
    return start_server(data_dir, env=env)


def _runs(url: str, n: int) -> list[int]:
    pid = httpx.post(f"{url}/api/v1/projects", json={"name": "b"}, headers=HEADERS).json()["id"]
    return [
        httpx.post(f"{url}/api/v1/runs", json={"project_id": pid}, headers=HEADERS).json()["id"]
        for _ in range(n)
    ]


def _value(step: int) -> float:
    return step / 7.0


class Writer(threading.Thread):
    """Logs batch after batch to one run; `acked` counts the steps the server answered for."""

    def __init__(self, url: str, run_id: int):
        super().__init__(daemon=True)
        self.url, self.run_id, self.acked = url, run_id, 0
        self.stopped = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, headers=HEADERS, timeout=60) as c:
            while not self.stopped.is_set():
                steps = list(range(self.acked, self.acked + STEPS))
                body = {"steps": steps, "metrics": {"loss": [_value(s) for s in steps]}}
                c.post(f"/api/v1/runs/{self.run_id}/metrics", json=body).raise_for_status()
                self.acked += STEPS


def _stored(url: str, run_id: int) -> tuple[list, list]:
    params = {"run": run_id, "key": "loss", "max_points": 100_000}
    r = httpx.get(f"{url}/api/v1/series", params=params, headers=HEADERS, timeout=60)
    series = r.raise_for_status().json()["series"][0]
    return series["steps"], series["values"]


def test_a_sqlite_backup_taken_while_ingesting_restores_every_point_acked_before_it(tmp_path):
    server = _server(tmp_path / "live")
    try:
        writers = [Writer(server.url, run) for run in _runs(server.url, 3)]
        for w in writers:
            w.start()
        while min(w.acked for w in writers) < 10 * STEPS:
            time.sleep(0.1)
        before = [w.acked for w in writers]
        backup = _cli("backup", str(tmp_path / "lionlab.bak"), "--data-dir", str(server.data_dir))
        after = [w.acked for w in writers]
        for w in writers:
            w.stopped.set()
            w.join(60)
    finally:
        server.stop()
    assert backup.returncode == 0, backup.stderr
    assert any(a > b for a, b in zip(after, before, strict=True))  # ingest went on meanwhile
    restore = _cli("restore", str(tmp_path / "lionlab.bak"), "--data-dir", str(tmp_path / "new"))
    assert restore.returncode == 0, restore.stderr
    restored = _server(tmp_path / "new")
    try:
        for w, lo, hi in zip(writers, before, after, strict=True):
            steps, values = _stored(restored.url, w.run_id)
            # A consistent snapshot: a prefix of what was sent, holding all acked before it.
            assert lo <= len(steps) <= hi + STEPS
            assert steps == list(range(len(steps)))
            assert values == [_value(s) for s in steps]
            view = httpx.get(f"{restored.url}/api/v1/views/runs/{w.run_id}", headers=HEADERS)
            assert view.status_code == 200
            assert view.json()["metrics"][0]["count"] == len(steps)
        listed = httpx.get(f"{restored.url}/api/v1/runs", headers=HEADERS).json()["items"]
        assert sorted(r["id"] for r in listed) == sorted(w.run_id for w in writers)
    finally:
        restored.stop()


def test_restore_refuses_the_database_of_a_running_server(tmp_path):
    server = _server(tmp_path / "live")
    try:
        _runs(server.url, 1)  # the server now holds open connections to its database
        backup = _cli("backup", str(tmp_path / "b.db"), LIONLAB_DATA_DIR=str(server.data_dir))
        assert backup.returncode == 0, backup.stderr
        refused = _cli("restore", str(tmp_path / "b.db"), LIONLAB_DATA_DIR=str(server.data_dir))
    finally:
        server.stop()
    assert refused.returncode == 2
    assert "running LionLab server" in refused.stderr and "--force" in refused.stderr
    stopped = _cli("restore", str(tmp_path / "b.db"), LIONLAB_DATA_DIR=str(server.data_dir))
    assert stopped.returncode == 2 and "already exists" in stopped.stderr
    forced = _cli("restore", str(tmp_path / "b.db"), "--force", "--data-dir", str(server.data_dir))
    assert forced.returncode == 0, forced.stderr


def test_restore_refuses_a_file_that_is_not_a_lionlab_database(tmp_path):
    (tmp_path / "notes.txt").write_text("not a database " * 100)
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    for name, expected in (("notes.txt", "not a readable SQLite"), ("other.db", "not a LionLab")):
        done = _cli("restore", str(tmp_path / name), "--data-dir", str(tmp_path / "new"))
        assert done.returncode == 2 and expected in done.stderr
    assert not (tmp_path / "new" / "lionlab.db").exists()


@pytest.mark.postgres
def test_a_postgres_dump_restored_into_a_new_database_serves_the_same_runs_and_points(
    postgres_server, tmp_path
):
    names = [f"lionlab_backup_{os.getpid()}_{uuid.uuid4().hex[:6]}_{i}" for i in range(2)]
    source, target = (create_database(postgres_server, n) for n in names)
    try:
        server = _server(tmp_path / "a", source)
        try:
            runs = _runs(server.url, 2)
            for run in runs:
                steps = list(range(300))
                body = {"steps": steps, "metrics": {"loss": [_value(s) for s in steps]}}
                url = f"{server.url}/api/v1/runs/{run}/metrics"
                httpx.post(url, json=body, headers=HEADERS).raise_for_status()
            listed = httpx.get(f"{server.url}/api/v1/runs", headers=HEADERS).json()["items"]
            points = {run: _stored(server.url, run) for run in runs}
        finally:
            server.stop()
        dump = str(tmp_path / "lionlab.dump")
        assert (done := _cli("backup", dump, LIONLAB_DATABASE_URL=source)).returncode == 0, done
        assert (done := _cli("restore", dump, LIONLAB_DATABASE_URL=target)).returncode == 0, done
        again = _cli("restore", dump, LIONLAB_DATABASE_URL=target)
        assert again.returncode == 2 and "already holds a LionLab database" in again.stderr
        restored = _server(tmp_path / "b", target)
        try:
            got = httpx.get(f"{restored.url}/api/v1/runs", headers=HEADERS).json()["items"]
            assert got == listed
            assert {run: _stored(restored.url, run) for run in runs} == points
        finally:
            restored.stop()
    finally:
        for n in names:
            drop_database(postgres_server, n)
