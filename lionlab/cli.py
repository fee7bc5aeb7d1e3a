"""`lionlab` command line: run the server (and a local worker), manage tokens."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from lionlab.settings import Settings


def _describe_database(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return f"SQLite {url.database} (WAL mode)"
    return "PostgreSQL " + url.render_as_string(hide_password=True)


def _prepare(settings: Settings) -> str | None:
    """Migrate and bootstrap; returns an admin token created just now, if any."""
    from lionlab_server.db import make_engine
    from lionlab_server.services.bootstrap import prepare_database

    engine = make_engine(settings.resolved_database_url)
    try:
        return prepare_database(engine, settings)
    finally:
        engine.dispose()


def _banner(settings: Settings, new_token: str | None, parts: list[str]) -> str:
    url = settings.resolved_api_url
    lines = [
        "LionLab is starting",
        f"  running:   {', '.join(parts)}",
        f"  URL:       {url}   (API docs: {url}/docs)",
        f"  database:  {_describe_database(settings)}",
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
    token = _prepare(settings)
    print(_banner(settings, token, ["API server"]), flush=True)
    _serve(settings, args.workers)
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    """Server, a local worker and (with --demo) a queued Lion-vs-AdamW sweep."""
    from lionlab import worker_processes

    settings = _apply_overrides(args)
    token = _prepare(settings)
    plans = worker_processes.plan_workers(None, None)
    print(_banner(settings, token, ["API server"] + [p.describe() for p in plans]), flush=True)
    # The local worker stops with `up` (Ctrl-C, or however `up` ends); a job it was running
    # is requeued by the next `up` and resumes from its last checkpoint.
    workers = worker_processes.start_workers(
        plans, loglevel="error", quiet=True, parent_death_signal=signal.SIGKILL
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
        f"({sweep['trials_total']} trials, {sweep['max_parallel']} at a time); follow it at {url}",
        flush=True,
    )
    analysis = sweep_progress.follow(api, sweep["id"])
    print(sweep_progress.summary(analysis, url), flush=True)


def cmd_sweep(args: argparse.Namespace) -> int:
    """Submit a sweep spec to the server and follow it to its verdict."""
    from pathlib import Path

    from lionlab import sweep_progress
    from lionlab.client import ApiError, connect
    from lionlab.client.run import project_id

    text = sys.stdin.read() if args.spec == "-" else Path(args.spec).read_text(encoding="utf-8")
    api = connect(args.api_url)
    try:
        sweep = sweep_progress.submit(api, project_id(api, args.project), text)
    except ApiError as exc:
        print(
            f"error: the sweep spec was refused:\n{sweep_progress.describe_error(exc)}",
            file=sys.stderr,
        )
        return 2
    url = f"{api.base_url}/sweeps/{sweep['id']}"
    print(
        f"sweep {sweep['id']} ({sweep['name']}): {sweep['trials_total']} trials, "
        f"{sweep['max_parallel']} at a time; page: {url}",
        flush=True,
    )
    if args.no_follow:
        return 0
    try:
        analysis = sweep_progress.follow(api, sweep["id"])
    except KeyboardInterrupt:
        print(f"\nstopped following; the sweep goes on at {url}")
        return 130
    print(sweep_progress.summary(analysis, url), flush=True)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    """Upload spooled runs (offline runs, runs that ended while the server was down)."""
    from pathlib import Path

    import httpx

    from lionlab.client import connect
    from lionlab.client.sync import sync_path

    path = Path(args.path) if args.path else Settings().resolved_spool_dir
    try:
        api = connect(args.api_url)
        totals = sync_path(api, path, echo=lambda line: print(line, flush=True))
    except (RuntimeError, httpx.TransportError) as exc:  # ApiError is a RuntimeError
        print(f"error: {exc}\nnothing is lost: run `lionlab sync` again to go on", file=sys.stderr)
        return 1
    print(
        f"uploaded {totals.points} points to {totals.runs} run(s) from {path}; "
        f"{totals.up_to_date} spool(s) had nothing left to upload",
        flush=True,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from lionlab import worker_processes

    gpus = args.gpus.split(",") if args.gpus else None
    queues = args.queues.split(",") if args.queues else None
    plans = worker_processes.plan_workers(gpus, queues)
    settings = Settings()
    print(
        f"LionLab worker(s) -> API {settings.resolved_api_url}, broker "
        f"{'Redis' if settings.broker_url else 'embedded'}",
        flush=True,
    )
    for plan in plans:
        print("  " + plan.describe(), flush=True)
    return worker_processes.wait_all(worker_processes.start_workers(plans, args.loglevel))


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _apply_overrides(args)
    _prepare(settings)
    print(f"database is at the newest schema: {_describe_database(settings)}")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from lionlab_server.db import make_engine, make_sessionmaker, session_scope
    from lionlab_server.models import Project
    from lionlab_server.store import tokens

    settings = _apply_overrides(args)
    _prepare(settings)
    engine = make_engine(settings.resolved_database_url)
    with session_scope(make_sessionmaker(engine)) as session:
        project_id = None
        if args.project:
            project_id = session.scalar(select(Project.id).where(Project.name == args.project))
            if project_id is None:
                print(f"error: no project named {args.project!r}", file=sys.stderr)
                return 2
        secret, _ = tokens.create_token(session, args.name, project_id)
    engine.dispose()
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lionlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
    p = sub.add_parser("worker", help="run training workers (one process per GPU)")
    p.add_argument(
        "--gpus",
        help="comma-separated GPU indices, e.g. 0,1 (default: all "
        "visible GPUs; none: one CPU worker)",
    )
    p.add_argument("--queues", help="queues to consume (default: gpu, or cpu,gpu without GPUs)")
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=cmd_worker)
    p = sub.add_parser(
        "sweep",
        help="submit a sweep spec (YAML or JSON) and follow it to its verdict",
        description="Submit a sweep spec (docs/sweeps.md) to the LionLab server "
        "(LIONLAB_API_URL / LIONLAB_API_TOKEN, or the local `lionlab up`) and show a "
        "progress bar until it ends, then the verdict.",
    )
    p.add_argument("spec", help="path of the spec file, or - for standard input")
    p.add_argument("--project", default="sweeps", help="project name (created if missing)")
    p.add_argument("--api-url", help="server URL (default: LIONLAB_API_URL or the local one)")
    p.add_argument("--no-follow", action="store_true", help="submit and return at once")
    p.set_defaults(func=cmd_sweep)
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
    p = sub.add_parser(
        "sync",
        help="upload spooled runs (offline, or logged while the server was down)",
        description="Upload the runs spooled on this machine (lionlab.init(mode='offline'), or "
        "runs that ended while the server was unreachable) exactly once: a second sync uploads "
        "nothing, and a sync interrupted midway goes on where it stopped.",
    )
    p.add_argument(
        "path", nargs="?", help="a run's spool directory, or a folder of them (LIONLAB_SPOOL_DIR)"
    )
    p.add_argument("--api-url", help="server URL (default: LIONLAB_API_URL or the local one)")
    p.set_defaults(func=cmd_sync)
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
    p.set_defaults(func=cmd_token_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
