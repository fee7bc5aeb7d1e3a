"""`lionlab doctor` against whole stacks: healthy ones pass, and with the broker and the
database stopped it exits non-zero naming those lines.

The worker is a real Celery process; doctor knows it only from the report it sends over HTTP.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from support.local_servers import ThrowawayPostgres, create_database

from lionlab_server.api.deps import TOKEN_TTL_S

REPORT_WAIT_S = 180  # a CPU worker imports torch and builds the C kernel before it reports


def wait_for_worker_report(stack) -> dict:
    """The stack's worker, once it has reported itself alive."""
    deadline = time.monotonic() + REPORT_WAIT_S
    while time.monotonic() < deadline:
        alive = [w for w in stack.api("GET", "/workers").json() if w["alive"]]
        if alive:
            return alive[0]
        assert all(p.poll() is None for p in stack.workers), "the worker exited"
        time.sleep(0.5)
    raise TimeoutError("the worker never reported")


def doctor(stack) -> tuple[int, dict[str, tuple[str, str]]]:
    """Run `lionlab doctor` with the stack's settings: (exit code, {check: (verdict, detail)})."""
    env = {**os.environ, **stack.env, "LIONLAB_API_URL": stack.server.url}
    env.pop("LIONLAB_API_TOKEN", None)  # the admin token the server saved in the data dir
    done = subprocess.run(
        [sys.executable, "-m", "lionlab", "doctor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    header, *rows = done.stdout.split("\n\n")[0].splitlines()
    assert header.split() == ["CHECK", "VERDICT", "DETAIL"], done.stdout + done.stderr
    width = header.index("VERDICT")
    lines = {}
    for row in rows:
        verdict, _, detail = row[width:].partition("  ")
        lines[row[:width].strip()] = (verdict.strip(), detail.strip())
    return done.returncode, lines


def verdicts(lines: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: verdict for name, (verdict, _) in lines.items()}


def assert_healthy(stack, worker: dict) -> dict[str, tuple[str, str]]:
    code, lines = doctor(stack)
    assert code == 0, lines
    assert "FAIL" not in verdicts(lines).values(), lines
    for name in ("database", "migrations", "broker", "workers", "data dir", "server", "token"):
        assert lines[name][0] == "ok", (name, lines)
    verdict, detail = lines[f"worker {worker['name']}"]
    assert f"Lion kernel: {worker['lion_kernel']}" in detail and "CPU-only" in detail
    return lines


@pytest.mark.slow
@pytest.mark.redis
def test_doctor_passes_on_sqlite_with_redis_and_a_reporting_worker(stacks, redis_db_url):
    stack = stacks(broker_url=redis_db_url)
    worker = wait_for_worker_report(stack)
    assert worker["device"] == "cpu" and set(worker["queues"]) == {"cpu", "gpu"}
    lines = assert_healthy(stack, worker)
    assert lines["sqlite journal"][0] == "ok" and "WAL" in lines["sqlite journal"][1]
    assert "waiting: cpu 0, gpu 0" in lines["broker"][1]

    # The admins' page shows the same worker, as the server sees it.
    page = httpx.get(
        f"{stack.server.url}/status", cookies={"lionlab_token": stack.server.token}, timeout=30
    )
    assert page.status_code == 200
    assert f'<td class="mono">worker {worker["name"]}</td>' in page.text

    # A worker that shuts down says so: it is shown stopped, and doctor misses it.
    stack.workers[0].terminate()
    stack.workers[0].wait(60)
    (stopped,) = [w for w in stack.api("GET", "/workers").json() if w["name"] == worker["name"]]
    assert stopped["stopped_at"] is not None and not stopped["alive"]
    code, lines = doctor(stack)
    assert code == 1 and lines["workers"][0] == "FAIL"
    assert f"worker {worker['name']}" not in lines


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_doctor_fails_naming_the_broker_and_the_database_when_they_stop(
    throwaway_redis, stacks, tmp_path
):
    pg = ThrowawayPostgres().start()  # its own cluster: the shared one is never stopped
    try:
        database = create_database(pg.url, "lionlab_doctor")
        stack = stacks(database_url=database, broker_url=f"{throwaway_redis.url}/0")
        worker = wait_for_worker_report(stack)
        lines = assert_healthy(stack, worker)
        assert lines["postgres version"][0] == "ok"

        throwaway_redis.stop()
        pg.stop_server()
        time.sleep(TOKEN_TTL_S + 0.5)  # the server vouches for a cached token until then
        code, lines = doctor(stack)
        assert code != 0, lines
        failing = {name for name, verdict in verdicts(lines).items() if verdict == "FAIL"}
        assert {"database", "broker"} <= failing, lines
        assert "cannot connect" in lines["database"][1]
        assert str(throwaway_redis.port) in lines["broker"][1]
        assert lines["server"][0] == "ok"  # it answers; its token check needs the database
        assert lines["token"][0] == "FAIL"
    finally:
        pg.stop()
