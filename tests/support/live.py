"""Real `lionlab` server processes (`lionlab server`, `lionlab up`) for end-to-end tests and the
benchmarks."""

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
class LiveServer:
    proc: subprocess.Popen
    url: str
    data_dir: Path
    output: list[str] = field(default_factory=list)

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def text(self) -> str:
        return "".join(self.output)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _pump(proc: subprocess.Popen, sink: list[str]) -> None:
    for line in proc.stdout:
        sink.append(line)


def start_server(
    data_dir: Path,
    command: str = "server",
    env: dict | None = None,
    args: tuple[str, ...] = (),
    timeout: float = 60,
    port: int | None = None,
) -> LiveServer:
    """Run `python -m lionlab <command>` on `port` (default: a free one) until it answers."""
    port = port or free_port()
    full_env = {
        **os.environ,
        **(env or {}),
        "LIONLAB_DATA_DIR": str(data_dir),
        "LIONLAB_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "lionlab", command, *args],
        env=full_env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(proc, f"http://127.0.0.1:{port}", data_dir)
    threading.Thread(target=_pump, args=(proc, server.output), daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lionlab {command} exited:\n{server.text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"lionlab {command} did not answer in {timeout}s:\n{server.text()}")
