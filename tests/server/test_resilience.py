"""The server rides out a PostgreSQL restart; SQLite readers are not blocked by writers."""

import sqlite3
import threading

import httpx
import numpy as np
import pytest
from support.live import start_server
from support.local_servers import ThrowawayPostgres


@pytest.mark.slow
@pytest.mark.postgres
def test_server_survives_a_postgres_restart(tmp_path):
    pg = ThrowawayPostgres().start()  # its own cluster: the shared one is never restarted
    server = start_server(tmp_path / "data", env={"LIONLAB_DATABASE_URL": pg.url})
    try:
        h = server.headers
        pid = httpx.post(f"{server.url}/api/v1/projects", json={"name": "p"}, headers=h).json()
        run = httpx.post(
            f"{server.url}/api/v1/runs", json={"project_id": pid["id"]}, headers=h
        ).json()["id"]
        log = f"{server.url}/api/v1/runs/{run}/metrics"
        assert (
            httpx.post(log, json={"steps": [0], "metrics": {"loss": [1.0]}}, headers=h).status_code
            == 200
        )
        pg.stop_server()
        down = httpx.get(f"{server.url}/api/v1/runs/{run}", headers=h)
        assert down.status_code == 503 and down.headers["retry-after"]
        pg.start()
        # No retry needed: pooled connections are checked before use.
        assert httpx.get(f"{server.url}/api/v1/runs/{run}", headers=h).status_code == 200
        assert (
            httpx.post(log, json={"steps": [1], "metrics": {"loss": [0.5]}}, headers=h).status_code
            == 200
        )
        series = httpx.get(
            f"{server.url}/api/v1/series", params={"run": run, "key": "loss"}, headers=h
        ).json()["series"][0]
        assert series["steps"] == [0, 1]
    finally:
        server.stop()
        pg.stop()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_sqlite_runs_in_wal_mode_and_reads_during_a_write(api, settings):
    path = settings.resolved_database_url.removeprefix("sqlite:///")
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    run = api.run(api.project()["id"])["id"]
    api.log(run, range(10), {"loss": [1.0] * 10})
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a run's batch holding the write lock
    writer.execute("UPDATE runs SET name = 'being-written' WHERE id = ?", (run,))
    try:
        (s,) = api.series([run], ["loss"])  # a page reading at the same time
        assert s["steps"] == list(range(10))
        assert api.get(f"/runs/{run}").json()["name"] != "being-written"
    finally:
        writer.execute("ROLLBACK")


def test_concurrent_batches_lose_nothing(api):
    run = api.run(api.project()["id"])["id"]
    errors = []

    def client(offset):
        try:
            for i in range(5):
                steps = list(range(offset * 10_000 + i * 200, offset * 10_000 + (i + 1) * 200))
                api.log(run, steps, {"loss": np.ones(200).tolist(), "lr": [0.1] * 200})
        except AssertionError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    summaries = {s["key"]: s for s in api.get(f"/runs/{run}/metrics").json()}
    assert summaries["loss"]["count"] == summaries["lr"]["count"] == 4 * 5 * 200
