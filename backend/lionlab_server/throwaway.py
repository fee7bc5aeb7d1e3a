"""Local processes for the test suite and the benchmarks.

Finds the local PostgreSQL / Redis or starts throwaway ones from the installed binaries (in a
temporary folder, removed on stop()), and runs `lionlab server` / `lionlab up` as a real process.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _postgres_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found; install postgresql")
    return Path(candidates[-1]).parent


def _as_postgres_user() -> dict:
    """subprocess kwargs that drop root to the 'postgres' user (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster in a temp folder: `start()`, `restart()`, `stop()`."""

    port: int = field(default_factory=free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="lionlab-pg-")))

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, cwd=self.root, **_as_postgres_user())

    def _ctl(self, *args: str) -> None:
        bindir = _postgres_bindir()
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(self.root / "data"),
            "-o",
            opts,
            "-l",
            str(self.root / "log"),
            "-w",
            *args,
        )

    def start(self) -> ThrowawayPostgres:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        if not (self.root / "data").exists():
            self._run(
                str(_postgres_bindir() / "initdb"),
                "-D",
                str(self.root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            )
        self._ctl("start")
        return self

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop_server(self) -> None:
        self._ctl("-m", "fast", "stop")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class ThrowawayRedis:
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> ThrowawayRedis:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server not found; install redis")
        self.proc = subprocess.Popen(
            [
                server,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("throwaway redis-server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


def postgres_url() -> tuple[str, ThrowawayPostgres | None]:
    """(admin URL, throwaway to stop or None): the local server if reachable, else a new one."""
    if port_open("127.0.0.1", 5432):
        return LOCAL_POSTGRES, None
    pg = ThrowawayPostgres().start()
    return pg.url, pg


def _admin_exec(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(sql)


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` on the server of `admin_url`; returns its URL."""
    _admin_exec(admin_url, f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def drop_database(admin_url: str, name: str) -> None:
    _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_url() -> tuple[str, ThrowawayRedis | None]:
    if port_open("127.0.0.1", 6379):
        return LOCAL_REDIS, None
    server = ThrowawayRedis().start()
    return server.url, server


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
