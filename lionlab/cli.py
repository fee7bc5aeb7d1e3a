"""`lionlab` command line: run the server (and a local worker), manage tokens."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from functools import partial
from importlib.metadata import entry_points
from typing import Any

from lionlab.settings import Settings

# Packages add commands through this entry point group: each names a `register(subparsers)`
# that adds its subcommands. The server's (up, server, migrate, token, backup, restore)
# come this way, so this library depends on the server only through the plugin seam.
COMMANDS_GROUP = "lionlab.commands"
BUILTIN_COMMANDS = ("lionlab_server.commands",)


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


def cmd_import(args: argparse.Namespace) -> int:
    """Copy runs from MLflow or TensorBoard into LionLab; running it again adds nothing."""
    from pathlib import Path

    import httpx

    from lionlab.client import connect
    from lionlab.importers import Writer

    try:
        writer = Writer(connect(args.api_url))
        if args.source == "mlflow":
            from lionlab.importers.mlflow_source import import_mlflow

            import_mlflow(writer, args.tracking_uri, args.experiment)
        else:
            from lionlab.importers.tensorboard_source import import_tensorboard

            import_tensorboard(writer, Path(args.logdir), args.project)
    except (RuntimeError, httpx.TransportError) as exc:  # ApiError is a RuntimeError
        print(f"error: {exc}\nrun the same import again to go on: it adds nothing twice",
              file=sys.stderr)  # fmt: skip
        return 1
    t = writer.totals
    print(
        f"imported {t.runs} run(s) ({t.created} new, {t.runs - t.created} already here) and "
        f"{t.points:,} points"
        + (
            f"; {t.folded:,} values shared a step with a later one and were folded"
            if t.folded
            else ""
        ),
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


def _command_registers() -> list[Callable[[Any], None]]:
    """`register` of every command plugin: the `lionlab.commands` entry points, then the
    built-in modules an install without those entry points (an older editable install) lacks.
    A plugin whose own package is not installed is left out."""
    loaders = {ep.module: ep.load for ep in entry_points(group=COMMANDS_GROUP)}
    for module in BUILTIN_COMMANDS:
        loaders.setdefault(module, partial(_import_register, module))
    registers = []
    for module, load in loaders.items():
        try:
            registers.append(load())
        except ModuleNotFoundError as exc:
            if not (exc.name and (module == exc.name or module.startswith(exc.name + "."))):
                raise  # the plugin is there but something it imports is missing: say so
    return registers


def _import_register(module: str) -> Callable[[Any], None]:
    return importlib.import_module(module).register


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lionlab", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _command_registers():
        register(sub)
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
        "import",
        help="copy runs from MLflow or TensorBoard (again: adds nothing twice)",
        description="Copy a history of runs into LionLab: experiments, runs, params, tags and "
        "full metric histories from an MLflow tracking server, or the scalars of TensorBoard "
        "event files (one run per folder). Each source run maps to one LionLab run, so an "
        "import run again (or after an interruption) adds nothing twice.",
    )
    sources = p.add_subparsers(dest="source", required=True)
    m = sources.add_parser("mlflow", help="from an MLflow tracking server")
    m.add_argument("--tracking-uri", required=True, help="e.g. http://mlflow:5000")
    m.add_argument("--experiment", help="only this experiment (default: every active one)")
    t = sources.add_parser("tensorboard", help="from TensorBoard event files")
    t.add_argument("logdir", help="the folder TensorBoard reads (runs are its sub-folders)")
    t.add_argument("--project", default="tensorboard", help="LionLab project (created if missing)")
    for q in (m, t):
        q.add_argument("--api-url", help="server URL (default: LIONLAB_API_URL or the local one)")
        q.set_defaults(func=cmd_import)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
