"""A whole LionLab on this machine (a server process and CPU Celery worker processes) for
end-to-end tests, the fault tests and the benchmarks."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lionlab.worker_processes import WorkerPlan, celery_command

from .live import LiveServer, start_server

CPU_WORKER = WorkerPlan(
    "cpu@%h", ("cpu", "gpu"), {"CUDA_VISIBLE_DEVICES": "", "LIONLAB_WORKER_DEVICE": "cpu"}
)


@dataclass
class Stack:
    """A whole LionLab on this machine: a server process and Celery worker processes."""

    server: LiveServer
    env: dict[str, str]
    workers: list[subprocess.Popen] = field(default_factory=list)
    _worker_token: str | None = None

    def worker_token(self) -> str:
        """A worker token (as a GPU node holds: it claims and serves jobs, reads nothing)."""
        if self._worker_token is None:
            r = self.api("POST", "/tokens", json={"name": "e2e workers", "kind": "worker"})
            r.raise_for_status()
            self._worker_token = r.json()["token"]
        return self._worker_token

    def start_worker(self, api_url: str | None = None) -> subprocess.Popen:
        """A CPU worker reaching the API at `api_url` (default: the server's own address)."""
        env = {
            **os.environ,
            **self.env,
            **CPU_WORKER.env,
            "LIONLAB_API_URL": api_url or self.server.url,
            "LIONLAB_API_TOKEN": self.worker_token(),
        }
        proc = subprocess.Popen(
            celery_command(CPU_WORKER, "warning"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.workers.append(proc)
        return proc

    def api(self, method: str, path: str, **kw) -> httpx.Response:
        return httpx.request(
            method, f"{self.server.url}/api/v1{path}", headers=self.server.headers, timeout=30, **kw
        )

    def submit(self, job: dict, project: str = "e2e") -> int:
        """Queue `job` in `project` (created when missing); returns the run id."""
        found = self.api("GET", "/projects", params={"name": project}).json()["items"]
        pid = (
            found[0]["id"]
            if found
            else self.api("POST", "/projects", json={"name": project}).json()["id"]
        )
        r = self.api("POST", "/runs", json={"project_id": pid, "job": job})
        if r.status_code != 201:
            raise RuntimeError(f"submit failed: {r.status_code} {r.text}")
        return r.json()["id"]

    def run(self, run_id: int) -> dict:
        return self.api("GET", f"/runs/{run_id}").json()

    def summaries(self, run_id: int) -> dict[str, dict]:
        return {s["key"]: s for s in self.api("GET", f"/runs/{run_id}/metrics").json()}

    def wait(self, run_id: int, until, timeout: float = 240) -> dict:
        """Poll the run until `until(run)` holds; fail with its state if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if until(run):
                return run
            time.sleep(0.25)
        raise TimeoutError(f"run {run_id} stayed {run['status']}: {run}")

    def wait_done(self, run_id: int, timeout: float = 240) -> dict:
        return self.wait(run_id, lambda r: r["status"] not in ("queued", "running"), timeout)

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(15)
                except subprocess.TimeoutExpired:
                    worker.kill()
        self.server.stop()


def start_stack(
    data_dir: Path,
    database_url: str = "",
    broker_url: str = "",
    lost_after: float = 30,
    workers: int = 1,
) -> Stack:
    """Server and `workers` CPU workers on the given database and broker (empty: embedded)."""
    env = {
        "LIONLAB_DATABASE_URL": database_url,
        "LIONLAB_BROKER_URL": broker_url,
        "LIONLAB_LOST_AFTER": str(lost_after),
        "LIONLAB_DATA_DIR": str(data_dir),
        "LIONLAB_CHECKPOINT_DIR": str(data_dir / "checkpoints"),
    }
    stack = Stack(start_server(data_dir, env=env), env)
    for _ in range(workers):
        stack.start_worker()
    return stack
