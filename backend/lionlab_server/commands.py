"""The server's `lionlab` commands: up, server, migrate, token create, backup, restore.

`lionlab.cli` finds this module through the `lionlab.commands` entry point and calls
`register`; the shared library never imports the server. Importing this module loads nothing
beyond the standard library and `lionlab.settings`, so `lionlab --help` stays fast and works
without the server's extra installed.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from lionlab.settings import Settings

if TYPE_CHECKING:
    from lionlab_server.services.bootstrap import FirstStart


def describe_database(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database} (WAL mode)"
    return "PostgreSQL " + url.render_as_string(hide_password=True)


def _prepare(settings: Settings, sign_in_link: bool = False) -> FirstStart:
    """Migrate and bootstrap; returns a FirstStart (a new admin token, a sign-in link)."""
    from lionlab_server.db import make_engine
    from lionlab_server.services.bootstrap import prepare

    engine = make_engine(settings.resolved_database_url)
    try:
        return prepare(engine, settings, sign_in_link=sign_in_link)
    finally:
        engine.dispose()


def _banner(settings: Settings, first: FirstStart, parts: list[str]) -> str:
    url = settings.resolved_api_url
    new_token = first.admin_token
    lines = [
        "LionLab is starting",
        f"  running:   {', '.join(parts)}",
        f"  URL:       {url}   (API docs: {url}/docs)",
        f"  database:  {describe_database(settings)}",
        f"  data dir:  {settings.data_dir}",
    ]
    if new_token:
        lines += [
            f"  admin token (created now, saved to {settings.admin_token_file}):",
            f"    {new_token}",
            "  use it as a bearer token, e.g.:",
            f"    curl -H 'Authorization: Bearer {new_token}' {url}/api/v1/projects",
        ]
    elif settings.admin_token_file.exists():
        lines.append(f"  admin token: in {settings.admin_token_file}")
    if first.sign_in_path:
        lines += [
            "  sign in as admin (one-time link, then set a password):",
            f"    {url}{first.sign_in_path}",
        ]
    return "\n".join(lines)


def _serve(settings: Settings, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        "lionlab_server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level="warning",
    )


def _apply_overrides(args: argparse.Namespace) -> Settings:
    # Environment, so that uvicorn worker processes read the same settings.
    for name in ("host", "port", "data_dir", "database_url"):
        value = getattr(args, name, None)
        if value is not None:
            os.environ[f"LIONLAB_{name.upper()}"] = str(value)
    return Settings()


def cmd_server(args: argparse.Namespace) -> int:
    settings = _apply_overrides(args)
    first = _prepare(settings, sign_in_link=True)
    print(_banner(settings, first, ["API server"]), flush=True)
    _serve(settings, args.workers)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Server, a local worker and (with --demo) a queued Lion-vs-AdamW sweep."""
    from lionlab import worker_processes
    from lionlab_server.services import bootstrap

    settings = _apply_overrides(args)
    first = _prepare(settings, sign_in_link=True)
    plans = worker_processes.plan_workers(None, None)
    print(_banner(settings, first, ["API server"] + [p.describe() for p in plans]), flush=True)
    # The local worker stops with `up` (Ctrl-C, or however `up` ends); a job it was running
    # is requeued by the next `up` and resumes from its last checkpoint.
    token = None if settings.api_token else bootstrap.local_worker_token(settings)
    workers = worker_processes.start_workers(
        plans, loglevel="error", quiet=True, parent_death_signal=signal.SIGKILL, token=token
    )
    if args.demo:
        threading.Thread(target=_demo, args=(settings,), daemon=True).start()
    try:
        _serve(settings, 1)
    finally:
        worker_processes.stop_processes(workers, sig=signal.SIGKILL)
    return 0


def _demo(settings: Settings) -> None:
    from lionlab import demo, sweep_progress
    from lionlab.client import connect

    demo.wait_until_up(settings.resolved_api_url)
    api = connect(settings.resolved_api_url)
    sweep = demo.queue_demo(api)
    url = f"{settings.resolved_api_url}/sweeps/{sweep['id']}"
    print(
        f"demo: queued a paired Lion-vs-AdamW sweep on the character LM "
        f"({sweep['trials_total']} trials, up to {sweep['max_parallel']} queued or running at "
        f"once); follow it at {url}",
        flush=True,
    )
    analysis = sweep_progress.follow(api, sweep["id"])
    print(sweep_progress.summary(analysis, url), flush=True)


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _apply_overrides(args)
    _prepare(settings)
    print(f"database is at the newest schema: {describe_database(settings)}")
    return 0


def create_token(settings: Settings, name: str, project: str | None, worker: bool = False) -> str:
    """A new token (for `project`, by name; admin without one), or a worker token (claims
    jobs of `project`, or of every project); returns its secret. Raises NotFound when no
    project has that name."""
    from lionlab_server.db import make_engine, make_sessionmaker, session_scope
    from lionlab_server.errors import NotFound
    from lionlab_server.store import projects, tokens

    engine = make_engine(settings.resolved_database_url)
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            project_id = None
            if project is not None:
                project_id = projects.project_id_named(session, project)
                if project_id is None:
                    raise NotFound("project", project, "project")
            kind = tokens.WORKER if worker else tokens.PERSONAL
            secret, _ = tokens.create_token(session, name, project_id, kind=kind)
    finally:
        engine.dispose()
    return secret


def cmd_token_create(args: argparse.Namespace) -> int:
    from lionlab_server.errors import NotFound

    settings = _apply_overrides(args)
    _prepare(settings)
    try:
        secret = create_token(settings, args.name, args.project, args.worker)
    except NotFound:
        print(f"error: no project named {args.project!r}", file=sys.stderr)
        return 2
    where = f"project {args.project}" if args.project else "every project"
    if args.worker:
        scope = f"worker token: claims jobs of {where}, reads nothing"
    else:
        scope = f"project {args.project}" if args.project else "admin (every project)"
    print(f"{secret}\n# {scope}; shown once. Send it as 'Authorization: Bearer <token>'.")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from lionlab_server import backup

    settings = _apply_overrides(args)
    force = getattr(args, "force", False)
    return backup.command(args.command, settings.resolved_database_url, args.path, force)


def cmd_doctor(args: argparse.Namespace) -> int:
    """Check the database, broker, workers, data dir, server and token; 1 if any fails."""
    from lionlab_server.services import health

    checks = health.doctor(_apply_overrides(args), api_url=args.api_url)
    print(health.table(checks), flush=True)
    return 1 if health.failed(checks) else 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data folder (LIONLAB_DATA_DIR); default ~/.lionlab")
    p.add_argument("--database-url", help="SQLAlchemy URL (LIONLAB_DATABASE_URL)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the server's commands to the `lionlab` parser's subcommands."""
    for name, func, text in (
        ("up", cmd_up, "start LionLab on this machine (server and local worker)"),
        ("server", cmd_server, "migrate the database, then serve the API and dashboard"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        _common(p)
        p.add_argument("--host", help="bind address (LIONLAB_HOST); default 127.0.0.1")
        p.add_argument("--port", type=int, help="port (LIONLAB_PORT); default 8765")
        if name == "server":
            p.add_argument("--workers", type=int, default=1, help="server processes")
        else:
            p.add_argument(
                "--demo",
                action="store_true",
                help="queue a paired Lion-vs-AdamW sweep on the built-in LM and follow it",
            )
        p.set_defaults(func=func)
    p = sub.add_parser(
        "doctor",
        help="check this setup: database, broker, workers, disk, server, token",
        description="Print one line per check with a verdict (ok / warn / FAIL); exit 1 when "
        "any check fails (docs/doctor.md).",
    )
    _common(p)
    p.add_argument("--api-url", help="server URL (default: LIONLAB_API_URL or the local one)")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("migrate", help="bring the database schema up to date")
    _common(p)
    p.set_defaults(func=cmd_migrate)
    token = sub.add_parser("token", help="API tokens").add_subparsers(
        dest="token_cmd", required=True
    )
    p = token.add_parser("create", help="create an API token (talks to the database directly)")
    _common(p)
    p.add_argument("--project", help="project name; without it the token is an admin token")
    p.add_argument("--name", default="cli", help="a label for the token")
    p.add_argument(
        "--worker",
        action="store_true",
        help="a worker token: it may only claim queued jobs (of --project, else of every "
        "project) and heartbeat, log and finish the ones it claimed; give it to GPU nodes",
    )
    p.set_defaults(func=cmd_token_create)
    for name, text in (
        ("backup", "copy the database to PATH (consistent while the server runs)"),
        ("restore", "replace the database with the backup at PATH"),
    ):
        p = sub.add_parser(name, help=text, description=f"{text} (docs/backups.md)")
        _common(p)
        p.add_argument("path", type=Path, help="the backup file")
        if name == "restore":
            p.add_argument("--force", action="store_true", help="replace an existing database")
        p.set_defaults(func=cmd_backup)
