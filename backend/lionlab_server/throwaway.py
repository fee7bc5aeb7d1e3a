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

from lionlab.launch import WorkerPlan, celery_command

LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
# Debian's Chromium, headless, for the browser tests and bench/page_load.py. Without the
# networking flags it stalls on connection attempts where the network is closed.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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


CPU_WORKER = WorkerPlan(
    "cpu@%h", ("cpu", "gpu"), {"CUDA_VISIBLE_DEVICES": "", "LIONLAB_WORKER_DEVICE": "cpu"}
)


@dataclass
class Stack:
    """A whole LionLab on this machine: a server process and Celery worker processes."""

    server: LiveServer
    env: dict[str, str]
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self, api_url: str | None = None) -> subprocess.Popen:
        """A CPU worker reaching the API at `api_url` (default: the server's own address)."""
        env = {
            **os.environ,
            **self.env,
            **CPU_WORKER.env,
            "LIONLAB_API_URL": api_url or self.server.url,
            "LIONLAB_API_TOKEN": self.server.token,
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
