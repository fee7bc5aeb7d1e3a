"""Worker reports come from the process that trains, so their name is the one claims carry."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest
from support.live import start_server

from lionlab_worker.reporting import gather_facts


def test_the_facts_name_this_process_and_the_lion_path_it_would_take():
    facts = gather_facts(["cpu"], 30.0)
    assert facts["pid"] == os.getpid() and facts["name"].split(":")[1] == str(os.getpid())
    assert facts["lion_kernel"] in ("cpu", "foreach")  # foreach: no C compiler here
    assert facts["devices"][-1].startswith("cpu: ")
    assert facts["queues"] == ["cpu"] and facts["interval_s"] == 30.0


@pytest.mark.slow
def test_with_the_prefork_pool_the_pool_child_reports_and_says_when_it_stops(tmp_path):
    """The prefork parent must not touch CUDA before it forks, and it does not train: its
    child reports, under the pid its claims would carry."""
    server = start_server(tmp_path / "data")
    env = {
        **os.environ,
        "LIONLAB_DATA_DIR": str(tmp_path / "data"),
        "LIONLAB_API_URL": server.url,
        "LIONLAB_API_TOKEN": server.token,
        "CUDA_VISIBLE_DEVICES": "",
        "LIONLAB_WORKER_DEVICE": "cpu",
    }
    command = [sys.executable, "-m", "celery", "-A", "lionlab_worker.celery_app", "worker"]
    command += ["-P", "prefork", "-c", "1", "-Q", "cpu", "-n", "prefork@%h", "-l", "warning"]
    worker = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        reports = []
        deadline = time.monotonic() + 180
        while not reports and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()
            reports = httpx.get(f"{server.url}/api/v1/workers", headers=server.headers).json()
            time.sleep(0.5)
        (report,) = reports
        assert report["pid"] != worker.pid and report["alive"] and report["queues"] == ["cpu"]
        worker.terminate()
        worker.wait(60)
        (report,) = httpx.get(f"{server.url}/api/v1/workers", headers=server.headers).json()
        assert report["stopped_at"] is not None
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        server.stop()
