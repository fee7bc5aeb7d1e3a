"""Group commit on SQLite: batches share transactions yet keep their own outcomes."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable

import orjson
import pytest
from sqlalchemy import event, func, select, text

from lionlab_server import schemas
from lionlab_server.db import make_engine, make_sessionmaker
from lionlab_server.models import MetricPoint
from lionlab_server.services.ingest import ingest, parse_batch
from lionlab_server.services.sweeps import ADMIN
from lionlab_server.services.write_queue import GroupCommit
from lionlab_server.store import projects, runs


@pytest.fixture
def sqlite(sqlite_template, tmp_path):
    path = tmp_path / "lionlab.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    yield engine, make_sessionmaker(engine)
    engine.dispose()


def _runs(sessions, n: int) -> list[int]:
    with sessions() as session:
        project = projects.create_project(session, schemas.ProjectCreate(name="p"))
        ids = [
            runs.create_run(session, ADMIN, schemas.RunCreate(project_id=project.id))[0].id
            for _ in range(n)
        ]
        session.commit()
    return ids


def _store(run_id: int, fail: Callable | None = None) -> Callable:
    """Work storing 10 loss points of `run_id`; `fail(session)` runs after they are written."""
    body = {"steps": list(range(10)), "metrics": {"loss": [float(i) for i in range(10)]}}
    batch = parse_batch(orjson.dumps(body), 10**6)

    def work(session):
        result = ingest(session, ADMIN, run_id, batch)
        if fail is not None:
            fail(session)
        return result

    return work


def _hold(writes: GroupCommit) -> threading.Event:
    """Keep the writer busy until the returned event is set, so later batches form one group."""
    started, gate = threading.Event(), threading.Event()

    def work(session):
        started.set()
        gate.wait(30)

    writes.submit(work, 1)
    assert started.wait(30)
    return gate


def _points(engine, run_id: int) -> int:
    with engine.connect() as conn:
        return conn.scalar(
            select(func.count()).select_from(MetricPoint).where(MetricPoint.run_id == run_id)
        )


def _raise(session):
    raise RuntimeError("this batch fails after writing its points")


def test_a_failing_batch_stores_nothing_and_the_rest_of_its_group_is_stored(sqlite):
    engine, sessions = sqlite
    first, bad, last = _runs(sessions, 3)
    commits = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    writes = GroupCommit(sessions)
    gate = _hold(writes)
    futures = [
        writes.submit(_store(r, _raise if r == bad else None), 10) for r in (first, bad, last)
    ]
    gate.set()
    assert futures[0].result(30) == (10, [], None)
    with pytest.raises(RuntimeError, match="fails after writing"):
        futures[1].result(30)
    assert futures[2].result(30) == (10, [], None)
    writes.close()
    assert [_points(engine, r) for r in (first, bad, last)] == [10, 0, 10]
    assert len(commits) == 2  # the held batch's transaction, then one for the three


def _violate_at_commit(session):
    # A deferred foreign key is checked at COMMIT: the shared commit itself fails.
    session.execute(text("PRAGMA defer_foreign_keys = ON"))
    session.execute(text("INSERT INTO run_tags (run_id, tag) VALUES (999999, 'orphan')"))


def test_a_failed_commit_writes_each_batch_of_the_group_again_alone(sqlite):
    engine, sessions = sqlite
    first, bad, last = _runs(sessions, 3)
    writes = GroupCommit(sessions)
    gate = _hold(writes)
    futures = [
        writes.submit(_store(r, _violate_at_commit if r == bad else None), 10)
        for r in (first, bad, last)
    ]
    gate.set()
    assert futures[0].result(30) == (10, [], None)
    with pytest.raises(Exception, match="FOREIGN KEY"):
        futures[1].result(30)
    assert futures[2].result(30) == (10, [], None)
    writes.close()
    assert [_points(engine, r) for r in (first, bad, last)] == [10, 0, 10]


def test_a_batch_is_answered_only_once_its_points_are_committed(sqlite):
    engine, sessions = sqlite
    (run,) = _runs(sessions, 1)
    reader = make_engine(engine.url)
    writes = GroupCommit(sessions)
    gate = _hold(writes)
    future = writes.submit(_store(run), 10)
    seen = []
    future.add_done_callback(lambda _: seen.append(_points(reader, run)))
    gate.set()
    future.result(30)
    writes.close()
    reader.dispose()
    assert seen == [10]
