"""Where metric batches are written: group commit on SQLite, a transaction each on Postgres.

SQLite has one writer at a time. With every batch its own transaction, concurrent batches
wait for the lock in SQLite's busy handler, which sleeps and retries (up to 100 ms a try) in
no particular order: with 16 writers the slowest batches waited seconds (bench/load.py). On
SQLite the batches therefore wait in a FIFO queue instead, and one writer thread per server
process takes every batch waiting, stores each under a SAVEPOINT of one BEGIN IMMEDIATE
transaction, commits once and then answers them all (group commit).

What each batch keeps: its answer comes after the commit that holds its points; a batch
that fails rolls back to its savepoint, so it stores nothing and the rest of its group is
stored; if the shared commit fails, each batch of the group is written again alone, so one
batch cannot fail the others. Each batch's own work (points, summaries, detectors, ASHA)
runs unchanged inside its savepoint.

Postgres locks rows, not the database, so batches of different runs commit concurrently
there; each keeps its own transaction, in a worker thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from queue import Empty, SimpleQueue
from typing import Any

from anyio import to_thread
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lionlab_server.db import GROUP_WRITE, begin_write, is_postgres
from lionlab_server.store.metrics import forget_key_ids

Work = Callable[[Session], Any]  # stores one batch in the session's transaction
# Bounds one transaction's length, so other writers (heartbeats, claims) wait less for the lock.
MAX_GROUP_POINTS = 200_000
IDLE_SECONDS = 5.0  # the writer thread ends after this long idle; the next batch starts one
_WAKE: Any = object()  # put by close(): wakes an idle writer so it sees it is closing


@dataclass
class _Pending:
    work: Work
    points: int
    future: Future = field(default_factory=Future)
    outcome: tuple[bool, Any] | None = None  # (ok, result or exception), set before the commit


class DirectWrites:
    """Each batch in its own transaction, in a worker thread (Postgres)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def _write(self, work: Work) -> Any:
        with self.sessions() as session:
            result = work(session)
            session.commit()
        return result

    async def write(self, work: Work, points: int) -> Any:
        return await to_thread.run_sync(self._write, work)

    def close(self) -> None:
        pass


class GroupCommit:
    """Batches queued FIFO and written by one thread, many per transaction (SQLite)."""

    def __init__(self, sessions: sessionmaker[Session], max_points: int = MAX_GROUP_POINTS):
        self.sessions, self.max_points = sessions, max_points
        self._queue: SimpleQueue[_Pending] = SimpleQueue()
        self._lock = threading.Lock()  # guards starting and ending the writer thread
        self._thread: threading.Thread | None = None
        self._closing = False

    async def write(self, work: Work, points: int) -> Any:
        """Store a batch with `work`; returns its result once the batch is committed."""
        return await asyncio.wrap_future(self.submit(work, points))

    def submit(self, work: Work, points: int) -> Future:
        item = _Pending(work, points)
        with self._lock:
            self._queue.put(item)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lionlab-group-commit", daemon=True
                )
                self._thread.start()
        return item.future

    def close(self) -> None:
        """Wait until the batches queued so far are written."""
        self._closing = True
        self._queue.put(_WAKE)  # an idle writer waits on the queue: end its wait now
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join()

    def _next_group(self) -> list[_Pending] | None:
        first = _WAKE
        while first is _WAKE:
            try:
                first = self._queue.get(timeout=0.05 if self._closing else IDLE_SECONDS)
            except Empty:
                with self._lock:  # a submit either saw this thread alive or starts a new one
                    if self._queue.empty():
                        self._thread = None
                        return None
                first = self._queue.get()
        group, points = [first], first.points
        while points < self.max_points:
            try:
                item = self._queue.get_nowait()
            except Empty:
                break
            if item is not _WAKE:
                group.append(item)
                points += item.points
        return group

    def _run(self) -> None:
        group: list[_Pending] | None = []
        try:
            while (group := self._next_group()) is not None:
                self._commit(group)
                for item in group:
                    ok, value = item.outcome
                    if ok:
                        item.future.set_result(value)
                    else:
                        item.future.set_exception(value)
        except BaseException as exc:  # no batch may wait forever on a writer that died
            with self._lock:
                self._thread = None
            for item in group or []:
                if not item.future.done():
                    item.future.set_exception(exc)
            raise

    def _commit(self, group: list[_Pending]) -> None:
        try:
            self._write_group(group)
        except Exception as exc:
            # BEGIN or COMMIT failed: nothing of the group is stored. Key ids read in it may be
            # ones an earlier batch of the group inserted, so forget them.
            forget_key_ids(self.sessions.kw["bind"])
            if len(group) == 1:
                group[0].outcome = (False, exc)
                return
            for item in group:
                self._commit([item])

    def _write_group(self, group: list[_Pending]) -> None:
        with self.sessions() as session:
            session.info[GROUP_WRITE] = True
            begin_write(session)
            driver = session.connection().connection.driver_connection
            for item in group:
                item.outcome = _in_savepoint(session, item.work)
            try:
                session.commit()
            except Exception:
                # SQLite can refuse a COMMIT (a deferred constraint, a full disk) and keep the
                # transaction open, while SQLAlchemy counts it ended and would pool the
                # connection as it is.
                if driver.in_transaction:
                    driver.rollback()
                raise


def _in_savepoint(session: Session, work: Work) -> tuple[bool, Any]:
    try:
        with session.begin_nested():
            return True, work(session)
    except Exception as exc:  # this batch stores nothing; the others of the group go on
        return False, exc


def metric_writes(engine: Engine, sessions: sessionmaker[Session]) -> DirectWrites | GroupCommit:
    """The writer for metric batches on `engine`'s database."""
    return DirectWrites(sessions) if is_postgres(engine) else GroupCommit(sessions)
