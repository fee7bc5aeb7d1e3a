"""PostgreSQL and Redis for the tests and the benchmarks: the local servers on their standard
ports, else throwaway ones started from the installed binaries (in a temporary folder, removed
on stop()); a database or Redis DB number of the caller's own on either.

Not pytest-postgresql / pytest-redis: initdb refuses to run as root (CI runs as root), so the
cluster is started as the 'postgres' user; the fault tests crash and restart these servers
(`pg_ctl -m immediate`); and the benchmarks start them outside pytest.
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

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the cluster, keeping its data; mode "immediate" is a crash (recovery on start)."""
        self._ctl("-m", mode, "stop")

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


def claim_redis_db(base_url: str) -> tuple[str, object]:
    """A Redis DB number nobody uses (claimed with a marker key): (url, release function).

    release() empties the DB; Redis servers are shared, so each user takes its own number.
    """
    import redis

    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base_url}/{db}")
        if client.set("lionlab:claim", os.getpid(), nx=True, ex=6 * 3600):
            if client.dbsize() == 1:  # nobody else keeps data in this DB
                return f"{base_url}/{db}", lambda c=client: (c.flushdb(), c.close())
            client.delete("lionlab:claim")
        client.close()
    raise RuntimeError("no free Redis database number (1-15)")


def redis_url() -> tuple[str, ThrowawayRedis | None]:
    if port_open("127.0.0.1", 6379):
        return LOCAL_REDIS, None
    server = ThrowawayRedis().start()
    return server.url, server
