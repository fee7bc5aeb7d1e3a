"""A real `mlflow server` process (the tracking server of the pinned mlflow package) for the
importer tests and bench/mlflow_compat.py."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .local_servers import free_port


@dataclass
class MlflowServer:
    proc: subprocess.Popen
    url: str
    output: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_mlflow_server(
    folder: Path, backend_uri: str | None = None, timeout: float = 120
) -> MlflowServer:
    """`mlflow server` on a free port with its store at `backend_uri` (default: a SQLite file
    in `folder`), serving artifacts from `folder`; returns once /health answers."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend_uri = backend_uri or f"sqlite:///{folder / 'mlflow.db'}"
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", backend_uri,
        "--artifacts-destination", str(folder / "artifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_TRACKING_URI": ""}
    proc = subprocess.Popen(
        cmd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    server = MlflowServer(proc, f"http://127.0.0.1:{port}")
    threading.Thread(
        target=lambda: [server.output.append(line) for line in proc.stdout], daemon=True
    ).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("mlflow server exited:\n" + "".join(server.output))
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"mlflow server did not answer in {timeout}s:\n" + "".join(server.output))
