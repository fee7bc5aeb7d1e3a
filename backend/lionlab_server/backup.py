"""`lionlab backup PATH` and `lionlab restore PATH` (docs/backups.md).

SQLite: SQLite's online backup API copies the database from one read snapshot, so a backup
taken while the server ingests is consistent: every batch committed before it began is in it,
and a batch committing meanwhile is in whole or not at all. The copy is written next to PATH,
checked (a LionLab schema at a migration this version knows, SQLite's quick_check) and only
then renamed to PATH, so a PATH that exists is a complete backup.
Postgres: pg_dump's custom format, restored with pg_restore; without the client tools the
commands to run are printed instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from lionlab_server.db import make_engine
from lionlab_server.migrate import alembic_config

LIONLAB_TABLES = {"alembic_version", "runs", "metric_points"}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says what to do."""


def command(action: str, database_url: str, path: Path, force: bool = False) -> int:
    """The CLI's `backup` / `restore`: prints the outcome; returns the exit status."""
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    try:
        if action == "backup":
            message = (backup_postgres if postgres else backup_sqlite)(database_url, path)
        else:
            message = (restore_postgres if postgres else restore_sqlite)(database_url, path, force)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0


# --- SQLite --------------------------------------------------------------------------------


def _sqlite_file(database_url: str) -> Path:
    return Path(make_url(database_url).database or "").expanduser()


def backup_sqlite(database_url: str, dest: Path) -> str:
    source = _sqlite_file(database_url)
    if not source.is_file():
        raise BackupError(f"there is no database at {source}; check --data-dir")
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(partial)) as dst,
    ):
        src.backup(dst)  # all pages in one step: one read snapshot, writers go on
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    try:
        revision = check_sqlite_backup(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, dest)
    return f"backed up {source} (migration {revision}) to {dest}"


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def check_sqlite_backup(path: Path) -> str:
    """The migration revision of the LionLab database at `path`; BackupError if it is not one."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist")
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not tables >= LIONLAB_TABLES:
                raise BackupError(f"{path} is a SQLite database but not a LionLab one")
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            check = conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database ({exc})") from None
    if check != "ok":
        raise BackupError(f"{path} is damaged (SQLite quick_check: {check})")
    if revision is None or revision[0] not in known_revisions():
        raise BackupError(
            f"{path} is at migration {revision and revision[0]!r}, which this LionLab does "
            "not know (made by a newer version?); restore it with that version"
        )
    return revision[0]


def sqlite_in_use(path: Path) -> bool:
    """True when another connection (a running server) has the WAL-mode database open.

    Leaving WAL mode needs the database to itself, so trying it without waiting answers
    whether anyone else has the file open, idle connections included."""
    with closing(sqlite3.connect(path, timeout=0, isolation_level=None)) as conn:
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            return False
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            return True
        conn.execute("PRAGMA journal_mode=WAL")
        return False


def restore_sqlite(database_url: str, source: Path, force: bool) -> str:
    revision = check_sqlite_backup(source)
    target = _sqlite_file(database_url)
    if target.exists() and not force:
        if sqlite_in_use(target):
            raise BackupError(
                f"a running LionLab server uses {target}: stop it and run restore again, or "
                "pass --force to restore into it while it runs (then restart the server)"
            )
        raise BackupError(
            f"{target} already exists and would be replaced: pass --force, or restore into "
            "a new data folder (--data-dir)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # The backup API writes into the target under SQLite's locks, so even a forced restore
    # under a running server never leaves a half-written file.
    with (
        closing(sqlite3.connect(source)) as src,
        closing(sqlite3.connect(target, timeout=30)) as dst,
    ):
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=WAL")
    return (
        f"restored {source} (migration {revision}) into {target}; `lionlab server` brings "
        "it to the newest schema when it starts"
    )


# --- Postgres ------------------------------------------------------------------------------


def pg_tool(name: str) -> str | None:
    """A PostgreSQL client program: on PATH, else the newest under /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


def _libpq(database_url: str, hide_password: bool = False) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=hide_password)


def _run_tool(args: list[str]) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()}")


def backup_postgres(database_url: str, dest: Path) -> str:
    tool = pg_tool("pg_dump")
    if tool is None:
        raise BackupError(
            "pg_dump (PostgreSQL's client tools) is not installed here; install it, or run "
            f"on a machine that has it:\n  pg_dump --format=custom --file {dest} "
            f"'{_libpq(database_url, hide_password=True)}'"
        )
    partial = dest.with_name(dest.name + ".partial")
    _run_tool([tool, "--format=custom", "--file", str(partial), "--dbname", _libpq(database_url)])
    os.replace(partial, dest)
    return f"backed up {_libpq(database_url, hide_password=True)} to {dest} (pg_dump custom format)"


def _holds_lionlab(database_url: str) -> bool:
    engine = make_engine(database_url)
    try:
        return inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()


def restore_postgres(database_url: str, source: Path, force: bool) -> str:
    tool = pg_tool("pg_restore")
    shown = _libpq(database_url, hide_password=True)
    if tool is None:
        raise BackupError(
            "pg_restore (PostgreSQL's client tools) is not installed here; into a new, empty "
            f"database run:\n  pg_restore --no-owner --exit-on-error --dbname '{shown}' {source}"
        )
    listing = subprocess.run([tool, "--list", str(source)], capture_output=True, text=True)
    if listing.returncode != 0 or "TABLE public alembic_version" not in listing.stdout:
        raise BackupError(f"{source} is not a pg_dump backup of a LionLab database")
    if _holds_lionlab(database_url) and not force:
        raise BackupError(
            f"{shown} already holds a LionLab database: restore into a new, empty database "
            "(createdb, then point LIONLAB_DATABASE_URL at it), or pass --force to replace "
            "its contents (stop the server first)"
        )
    clean = ["--clean", "--if-exists"] if force else []
    _run_tool(
        [tool, "--no-owner", "--exit-on-error", *clean, "--dbname", _libpq(database_url)]
        + [str(source)]
    )
    return f"restored {source} into {shown}; `lionlab server` migrates it when it starts"
