"""Health checks: the facts `lionlab doctor` prints and the admins' status page shows.

Each check is one line with a verdict (ok / warn / FAIL) and a detail saying what was found
and, when it is not ok, what to do. `doctor()` checks a setup from its settings, as the CLI
sees it (the database and broker directly, the server over HTTP); `server_status()` checks
the same from inside the running server. Workers are known from the reports they send
(store/workers.py), since they hold an API token and never database credentials.
"""

from __future__ import annotations

import enum
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
from kombu import Connection
from kombu.utils.url import maybe_sanitize_url
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

import lionlab
from lionlab.settings import Settings
from lionlab_server import migrate
from lionlab_server.models import utcnow
from lionlab_server.schemas import Worker
from lionlab_server.store import workers as worker_store

TIMEOUT_S = 5.0  # per database, broker or server connection attempt
GIB = 2**30
FREE_FAIL_BYTES = 1 * GIB  # below this a checkpoint or the SQLite database may not fit
FREE_WARN_BYTES = 5 * GIB
LOST_SHOWN_FOR = timedelta(days=1)  # workers gone silent longer ago are no longer listed

# The Lion path each training device should get (lionlab/optim/lion.py); anything else is a
# fallback: the C kernel did not build (no compiler), or Triton is missing.
FAST_KERNEL = {"cpu": "cpu", "cuda": "triton"}
KERNEL_NAMES = {
    "cpu": "fused C kernel",
    "triton": "fused Triton kernel",
    "foreach": "torch._foreach",
    "reference": "per-tensor reference",
}


class Verdict(str, enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    verdict: Verdict
    detail: str


def _error(exc: BaseException) -> str:
    message = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {message[0] if message else ''}".rstrip(": ")


# --- database -----------------------------------------------------------------------------


def database_checks(engine: Engine) -> list[Check]:
    """Reachable, migrations current, and SQLite's journal mode or Postgres's version."""
    where = engine.url.render_as_string(hide_password=True)
    sqlite = engine.dialect.name == "sqlite"
    try:
        with engine.connect() as conn:
            if sqlite:
                version = conn.exec_driver_sql("select sqlite_version()").scalar()
                journal = str(conn.exec_driver_sql("PRAGMA journal_mode").scalar()).lower()
            else:
                version = conn.exec_driver_sql("SHOW server_version").scalar()
    except Exception as exc:
        return [
            Check("database", Verdict.FAIL, f"cannot connect to {where}: {_error(exc)}"),
            Check("migrations", Verdict.WARN, "not checked: the database is unreachable"),
        ]
    checks = [Check("database", Verdict.OK, f"reachable: {where}"), _migrations(engine)]
    if not sqlite:
        return checks + [Check("postgres version", Verdict.OK, str(version))]
    if journal == "wal":
        return checks + [Check("sqlite journal", Verdict.OK, f"WAL (SQLite {version})")]
    detail = (
        f"{journal}, not WAL (SQLite {version}): pages wait while runs write; the server "
        "asks for WAL on start, which this file system refused (a network mount?)"
    )
    return checks + [Check("sqlite journal", Verdict.WARN, detail)]


def _migrations(engine: Engine) -> Check:
    try:
        current = migrate.is_current(engine)
    except Exception as exc:
        return Check("migrations", Verdict.FAIL, f"cannot read the schema version: {_error(exc)}")
    if current:
        return Check("migrations", Verdict.OK, "the schema is the newest")
    return Check(
        "migrations",
        Verdict.FAIL,
        "the schema is not the newest: run `lionlab migrate` (the server does on start)",
    )


def _doctor_engine(url: str) -> Engine | None:
    """An engine that fails fast and creates nothing; None when the SQLite file is missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or not Path(parsed.database).is_file():
            return None
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": TIMEOUT_S})


def _read_workers(engine: Engine) -> list[Worker]:
    with Session(engine) as session:
        return worker_store.list_workers(session, seen_since=utcnow() - LOST_SHOWN_FOR)


# --- broker -------------------------------------------------------------------------------


def broker_check(url: str, queues: list[str]) -> Check:
    """Connect to the broker and count the messages waiting in `queues`."""
    where = maybe_sanitize_url(url)  # hides a password
    if url.startswith("sqla+sqlite:///"):
        path = Path(url.removeprefix("sqla+sqlite:///"))
        where = f"embedded ({path})"
        if not path.is_file():
            detail = f"{where} does not exist yet: the server or a worker creates it on first use"
            return Check("broker", Verdict.WARN, detail)
    conn = Connection(url, connect_timeout=TIMEOUT_S)
    try:
        conn.ensure_connection(max_retries=0, timeout=TIMEOUT_S)
        channel = conn.channel()
        waiting = {q: channel.queue_declare(q).message_count for q in queues}
    except Exception as exc:
        return Check("broker", Verdict.FAIL, f"cannot reach {where}: {_error(exc)}")
    finally:
        conn.release()
    detail = f"reachable: {where}"
    if waiting:
        detail += "; waiting: " + ", ".join(f"{q} {n}" for q, n in waiting.items())
    return Check("broker", Verdict.OK, detail)


# --- workers ------------------------------------------------------------------------------


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def worker_check(worker: Worker, now: datetime) -> Check:
    """One worker: what it sees, and whether Lion runs on its device's fused kernel."""
    cuda = f"CUDA {worker.cuda_version}" if worker.cuda_version else "CPU-only"
    kernel = worker.lion_kernel
    detail = (
        f"{'; '.join(worker.devices)} | torch {worker.torch_version} ({cuda}) | Lion kernel: "
        f"{kernel} ({KERNEL_NAMES.get(kernel, 'unknown')}) | queues {','.join(worker.queues)} "
        f"| seen {_ago(worker.last_seen, now)}"
    )
    name = f"worker {worker.name}"
    if not worker.alive:
        return Check(name, Verdict.WARN, f"silent, lost? (stopped without saying so) | {detail}")
    fast = FAST_KERNEL.get(worker.device)
    if fast is not None and kernel != fast:
        why = "no C compiler?" if fast == "cpu" else "Triton missing or broken?"
        return Check(
            name, Verdict.WARN, f"Lion is not on the {KERNEL_NAMES[fast]} ({why}) | {detail}"
        )
    return Check(name, Verdict.OK, detail)


def worker_checks(workers: list[Worker]) -> list[Check]:
    """A summary line, then the live workers and the ones that went silent without stopping."""
    now = utcnow()
    shown = [w for w in workers if w.alive or not w.stopped]
    alive = sum(w.alive for w in shown)
    if alive:
        window = f"reported within {worker_store.MISSED_REPORTS} intervals"
        summary = Check("workers", Verdict.OK, f"{alive} alive ({window})")
    else:
        summary = Check(
            "workers",
            Verdict.FAIL,
            "no worker alive: queued jobs wait until one starts (`lionlab worker`, or "
            "`lionlab up` on this machine)",
        )
    return [summary] + [worker_check(w, now) for w in shown]


# --- data dir, server ---------------------------------------------------------------------


def data_dir_check(path: Path) -> Check:
    """Free space where checkpoints, the embedded database and broker live."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    usage = shutil.disk_usage(existing)
    share = usage.free / usage.total if usage.total else 0.0
    detail = f"{path}: {usage.free / GIB:.1f} GiB free of {usage.total / GIB:.1f} GiB ({share:.0%})"
    if not path.exists():
        detail += "; not created yet"
    if usage.free < FREE_FAIL_BYTES:
        return Check("data dir", Verdict.FAIL, detail + ": free some space")
    if usage.free < FREE_WARN_BYTES:
        return Check("data dir", Verdict.WARN, detail)
    return Check("data dir", Verdict.OK, detail)


def server_checks(settings: Settings, api_url: str | None = None) -> list[Check]:
    """The server answers at its URL, and the configured token is valid there."""
    url = (api_url or settings.resolved_api_url).rstrip("/")
    try:
        answer = httpx.get(f"{url}/healthz", timeout=TIMEOUT_S)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        detail = f"no answer at {url}: {_error(exc)}; start `lionlab server` or set LIONLAB_API_URL"
        return [
            Check("server", Verdict.FAIL, detail),
            Check("token", Verdict.WARN, "not checked: the server does not answer"),
        ]
    return [Check("server", Verdict.OK, f"answers at {url}"), _token_check(settings, url)]


def _token_check(settings: Settings, url: str) -> Check:
    """The token workers and the SDK would send (lionlab.client.connect's choice)."""
    from lionlab.client import ApiError, connect

    try:
        api = connect(url, settings=settings, retry_for=0)
    except RuntimeError as exc:  # no token configured
        return Check("token", Verdict.FAIL, str(exc))
    source = "LIONLAB_API_TOKEN" if settings.api_token else str(settings.admin_token_file)
    try:
        me = api.request("GET", "/me", retry_for=0)
    except ApiError as exc:
        said = exc.detail
        if isinstance(said, list):  # the API's error body: [{loc, msg, type}, ...]
            said = "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in said)
        return Check("token", Verdict.FAIL, f"{source}: refused ({exc.status_code}): {said}")
    except httpx.HTTPError as exc:
        return Check("token", Verdict.FAIL, f"not checked: {_error(exc)}")
    finally:
        api.close()
    if me["kind"] == "worker":
        what = "worker token (claims jobs, reads nothing)"
    elif me["admin"]:
        what = "admin token"
    else:
        who = f" of {me['username']}" if me["username"] else ""
        what = (
            f"token{who}, {len(me['projects'] or {})} project(s) (the status page needs an admin)"
        )
    return Check("token", Verdict.OK, f"valid {what}, from {source}")


# --- the whole setup ----------------------------------------------------------------------


def _setup_checks(settings: Settings, engine: Engine | None) -> list[Check]:
    """Database, broker, workers and data dir: what the CLI and the server check alike."""
    workers: list[Worker] = []
    if engine is None:
        where = settings.resolved_database_url
        detail = f"no database at {where}: start `lionlab server` (or run `lionlab migrate`)"
        checks = [Check("database", Verdict.FAIL, detail)]
    else:
        checks = database_checks(engine)
    if checks[0].verdict is not Verdict.OK:
        unread = Check("workers", Verdict.WARN, "not checked: the database is unreachable")
    else:
        try:
            workers, unread = _read_workers(engine), None
        except Exception as exc:  # e.g. a schema behind the newest: the migrations line says
            unread = Check("workers", Verdict.WARN, f"cannot read reports: {_error(exc)}")
    queues = sorted({q for w in workers if w.alive for q in w.queues})
    checks.append(broker_check(settings.resolved_broker_url, queues))
    checks += [unread] if unread else worker_checks(workers)
    checks.append(data_dir_check(settings.data_dir))
    return checks


def doctor(settings: Settings, api_url: str | None = None) -> list[Check]:
    """Every check of the setup `settings` describe, as the CLI on this machine sees it."""
    engine = _doctor_engine(settings.resolved_database_url)
    try:
        checks = _setup_checks(settings, engine)
    finally:
        if engine is not None:
            engine.dispose()
    return checks + server_checks(settings, api_url)


def server_status(settings: Settings, engine: Engine) -> list[Check]:
    """The same checks from inside the running server (its own engine; it is the server)."""
    served = Check("server", Verdict.OK, f"LionLab {lionlab.__version__} is serving this page")
    return _setup_checks(settings, engine) + [served]


def failed(checks: list[Check]) -> bool:
    return any(c.verdict is Verdict.FAIL for c in checks)


def summary(checks: list[Check]) -> str:
    """'all checks pass', or which failed; with the count of warnings."""
    bad = [c.name for c in checks if c.verdict is Verdict.FAIL]
    warned = sum(c.verdict is Verdict.WARN for c in checks)
    text = f"{len(bad)} failed: {', '.join(bad)}" if bad else "all checks pass"
    return text + (f"; {warned} warning(s)" if warned else "")


def table(checks: list[Check]) -> str:
    """The checks as a plain-text table, with the summary under it."""
    width = max(len("CHECK"), *(len(c.name) for c in checks))
    lines = [f"{'CHECK':<{width}}  VERDICT  DETAIL"]
    lines += [f"{c.name:<{width}}  {c.verdict.value:<7}  {c.detail}" for c in checks]
    return "\n".join(lines + ["", summary(checks)])
