"""Engine and session factory. Built by the app factory, never at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# Execution option a write transaction sets so SQLite takes the write lock at BEGIN.
WRITE_OPTION = "lionlab_write"
# Session.info flag of a group commit's session (services/write_queue.py): its transaction is
# a writer already, and each batch in it runs in a savepoint.
GROUP_WRITE = "lionlab_group_write"


def make_engine(url: str) -> Engine:
    """Create the engine for `url` with the per-dialect settings LionLab relies on."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    # pre_ping replaces connections that died with a database restart, so the server rides
    # it out; requests made while the database is down fail with 503 (see api/errors.py).
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
    event.listen(engine, "connect", _create_stages)
    return engine


# Per-connection staging tables for binary COPY (store/pgbinary.py). Created on connect, in
# their own committed transaction, so no request's rollback can take them away.
STAGES = {"metric_points_stage": "metric_points", "metric_lod_stage": "metric_lod"}


def _create_stages(dbapi_conn, record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute(
        "SELECT to_regclass('metric_points') IS NOT NULL AND to_regclass('metric_lod') IS NOT NULL"
    )
    if cur.fetchone()[0]:  # the schema exists (a connection made before migrating has none)
        for stage, like in STAGES.items():
            cur.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {like}) ON COMMIT DELETE ROWS"
            )
        record.info["stages_ready"] = True
    dbapi_conn.commit()


def _sqlite_engine(url: str) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        # Take over transaction control from pysqlite so BEGIN can be IMMEDIATE for writers.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # WAL: pages read while runs write. NORMAL is durable across app crashes in WAL mode.
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:
        # A deferred transaction that reads and then writes can fail with SQLITE_BUSY when
        # another writer committed in between; writers therefore lock up front.
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    # Every session that writes runs keeps their run_params rows in step (a flush hook on
    # Session, registered by importing the module): a script that only imports db and models
    # gets it too.
    from lionlab_server.store import run_params  # noqa: F401

    return sessionmaker(engine, expire_on_commit=False)


def begin_write(session: Session) -> None:
    """Start `session`'s transaction as a writer (takes SQLite's write lock at BEGIN)."""
    if session.info.get(GROUP_WRITE) and session.in_transaction():
        return  # a batch in a group commit's savepoint: the transaction holds the lock
    if session.in_transaction() and session.connection().get_execution_options().get(WRITE_OPTION):
        return  # begun as a writer already (a route that checks before it ingests)
    session.connection(execution_options={WRITE_OPTION: True})


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success and rolled back on error (for CLI and services)."""
    with factory() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = (
        session_or_engine.get_bind()
        if isinstance(session_or_engine, Session)
        else (session_or_engine)
    )
    return bind.dialect.name == "postgresql"
