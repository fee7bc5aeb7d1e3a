"""Training never waits for the server: `init` returns at once, points wait in memory and then
in the run's spool, and `lionlab sync` uploads spooled runs exactly once."""

import json
import subprocess
import sys
import time

import httpx
import pytest
from support.live import start_server
from support.local_servers import free_port, port_open

import lionlab
from lionlab.client import connect
from lionlab.client.spool import RunSpool, find_spools
from lionlab.client.sync import sync_path

TOKEN = "ll-sync-test-admin-token"  # registered by the server when it starts at last

SCRIPT = """
import lionlab
run = lionlab.init(project="train-offline", config={"lr": 1e-4}, optimizer="lion")
assert run.id is None  # returned without the server
for step in range(2000):
    run.log({"loss": 1 / (step + 1), "lr": 1e-4, "grad_norm": float(step % 7)}, step=step)
print(run.finish())
"""


@pytest.fixture
def server_later(tmp_path, monkeypatch):
    """The SDK pointed at a port where nothing listens yet; call the fixture to start it."""
    port = free_port()
    monkeypatch.setenv("LIONLAB_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LIONLAB_API_TOKEN", TOKEN)
    started = []

    def start():
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / "admin-token").write_text(TOKEN)  # where LiveServer reads it
        started.append(
            start_server(tmp_path / "data", port=port, env={"LIONLAB_ADMIN_TOKEN": TOKEN})
        )
        return started[-1]

    start.port = port
    yield start
    for server in started:
        server.stop()


def _get(server, path, **params):
    r = httpx.get(f"{server.url}/api/v1{path}", headers=server.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _only_run(server) -> dict:
    runs = _get(server, "/runs", limit=100)["items"]
    assert len(runs) == 1, runs
    return runs[0]


def _stored(server, run_id) -> dict[str, int]:
    """Points stored per key, from the summaries and from the series itself."""
    counts = {m["key"]: m["count"] for m in _get(server, f"/runs/{run_id}/metrics")}
    for key in counts:
        series = _get(server, "/series", run=run_id, key=key, max_points=100_000)["series"][0]
        assert series["points_in_range"] == counts[key] == len(set(series["steps"]))
    return counts


def _sync() -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "lionlab", "sync"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.slow
def test_a_script_that_ends_before_the_server_starts_is_synced_exactly_once(
    server_later, spool_dir
):
    script = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert script.returncode == 0, script.stderr
    assert not port_open("127.0.0.1", server_later.port)  # it never had a server
    server = server_later()

    assert "uploaded 6000 points to 1 run(s)" in _sync().stdout
    run = _only_run(server)
    assert run["status"] == "succeeded" and run["optimizer"] == "lion"
    assert run["config"] == {"lr": 1e-4}
    every_point_once = {"loss": 2000, "lr": 2000, "grad_norm": 2000}
    assert _stored(server, run["id"]) == every_point_once

    assert "uploaded 0 points to 0 run(s)" in _sync().stdout  # nothing twice
    assert _only_run(server)["id"] == run["id"]
    assert _stored(server, run["id"]) == every_point_once

    # A sync that crashed after uploading, before recording it: the re-run sends the lines
    # again and finds the run again by its client_key; still each point once.
    (spool,) = find_spools(spool_dir)
    (spool.path / "progress.json").write_text(json.dumps({"run_id": None, "lines": 0}))
    assert "uploaded 6000 points to 1 run(s)" in _sync().stdout
    assert _only_run(server)["id"] == run["id"]
    assert _stored(server, run["id"]) == every_point_once


@pytest.mark.slow
def test_init_returns_without_the_server_and_the_run_is_created_when_it_answers(server_later):
    run = lionlab.init(project="late-server", tags=["late"])
    assert run.id is None and not port_open("127.0.0.1", server_later.port)
    for step in range(100):
        run.log({"loss": float(step)}, step=step)
    server = server_later()
    assert run.flush(timeout=120)  # the sender keeps trying with backoff until it answers
    assert run.finish() is None
    stored = _only_run(server)
    assert stored["id"] == run.id and stored["status"] == "succeeded"
    assert stored["tags"] == ["late"]
    assert _stored(server, run.id) == {"loss": 100}


def _spooled_points(spool: RunSpool) -> int:
    batches = [e["points"] for e in spool.entries() if "points" in e]
    return sum(len(b["steps"]) for b in batches)


@pytest.mark.slow
def test_past_the_memory_bound_points_wait_in_the_spool(server_later, monkeypatch):
    monkeypatch.setenv("LIONLAB_SDK_MEMORY_POINTS", "1000")
    run = lionlab.init(project="bounded")
    for step in range(3000):
        run.log({"loss": float(step)}, step=step)

    def spilled():
        memory, disk = run._sender.buffer.points, _spooled_points(run.spool)
        return memory < 1000 and memory + disk == 3000

    deadline = time.monotonic() + 60
    while not spilled() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spilled()  # beyond the bound the points went to disk
    spool = run.finish()
    assert spool == run.spool.path and _spooled_points(RunSpool(spool)) == 3000

    server = server_later()
    totals = sync_path(connect(), spool, echo=lambda line: None)
    assert (totals.runs, totals.points) == (1, 3000)
    assert _stored(server, _only_run(server)["id"]) == {"loss": 3000}


@pytest.mark.slow
def test_an_offline_run_only_writes_its_spool(server, monkeypatch):
    monkeypatch.setenv("LIONLAB_API_TOKEN", "")  # offline needs no token, no server
    run = lionlab.init(project="offline", mode="offline", config={"seed": 1})
    assert run.api is None
    for step in range(500):
        run.log({"loss": 1.0, "eval_loss": 2.0}, step=step)
    spool = run.finish(status="diverged")
    entries = RunSpool(spool).entries()
    assert entries[0]["run"]["project"] == "offline" and entries[-1] == {
        "end": {"status": "diverged", "error": None}
    }
    assert _get(server, "/runs")["items"] == []

    totals = sync_path(connect(server.url, server.token), spool, echo=lambda line: None)
    assert (totals.runs, totals.points) == (1, 1000)
    run_info = _only_run(server)
    assert run_info["status"] == "diverged" and run_info["config"] == {"seed": 1}
    assert _stored(server, run_info["id"]) == {"loss": 500, "eval_loss": 500}


@pytest.mark.slow
def test_a_sync_killed_midway_and_run_again_stores_each_point_once(server, spool_dir):
    spool = RunSpool(spool_dir / "run-a", {"run": {"project": "killed", "client_key": "k-1"}})
    for first in range(0, 2000, 10):  # 200 lines: the sync is killed somewhere among them
        steps = list(range(first, first + 10))
        spool.append({"points": {"steps": steps, "metrics": {"loss": [1.0] * 10}}})
    spool.append({"end": {"status": "succeeded", "error": None}})
    sync = subprocess.Popen(
        [sys.executable, "-m", "lionlab", "sync"], stdout=subprocess.PIPE, text=True
    )
    for line in sync.stdout:
        if line.startswith("  5/201:"):
            sync.kill()  # SIGKILL: no chance to record anything more
            break
    sync.wait()
    assert RunSpool(spool.path).progress.lines < 201  # it stopped midway

    assert "finished (succeeded)" in _sync().stdout
    run = _only_run(server)
    assert run["status"] == "succeeded"
    assert _stored(server, run["id"]) == {"loss": 2000}
    assert "uploaded 0 points to 0 run(s)" in _sync().stdout
