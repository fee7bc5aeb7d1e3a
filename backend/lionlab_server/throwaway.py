"""Find the local PostgreSQL / Redis, or start throwaway ones from the installed binaries.

Used by the test suite and the benchmarks, which need real services on machines that may not
run them. A throwaway server lives in a temporary folder and is removed on stop().
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

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


def redis_url() -> tuple[str, ThrowawayRedis | None]:
    if port_open("127.0.0.1", 6379):
        return LOCAL_REDIS, None
    server = ThrowawayRedis().start()
    return server.url, server
