"""A project of many runs (10,000 by default) in a few seconds, for the runs table's tests and
benchmark: runs through the ORM (`session.add_all`, so the models' hooks fire), their tags and
metric summaries bulk-inserted. What a run gets follows from its index and `seed`, so a test
checks a page against a direct query of the database.

Each run: optimizer lion or adamw; `config` {lr, weight_decay, seed, batch_size}; a status of
the finished ones (a few still running); tags from TAGS; a creator from CREATORS; created one
second after the previous run. Summaries for `loss` (every run) and `eval_loss` (most runs):
some runs' `eval_loss` is NaN only (no min or max, a NaN last value), some never logged it.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from sqlalchemy import insert, select

from lionlab_server.db import begin_write, make_engine, make_sessionmaker
from lionlab_server.models import MetricKey, MetricSummary, Project, Run, RunTag

KEYS = ("loss", "eval_loss")
TAGS = ("baseline", "ablation", "long", "sweep")
CREATORS = ("alice", "bob", "ci-token")
STATUSES = ("succeeded",) * 6 + ("failed", "diverged", "cancelled")
LRS = (1e-4, 3e-4, 1e-3, 3e-3)
WEIGHT_DECAYS = (0.0, 0.01, 0.1, 1.0)
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
CHUNK = 2000  # rows per bulk insert


def _key_ids(session) -> dict[str, int]:
    query = select(MetricKey.name, MetricKey.id).where(MetricKey.name.in_(KEYS))
    ids = {name: id_ for name, id_ in session.execute(query)}
    missing = [k for k in KEYS if k not in ids]
    if missing:
        session.add_all(MetricKey(name=k) for k in missing)
        session.flush()
        ids = {name: id_ for name, id_ in session.execute(query)}
    return ids


def _summary(run_id: int, key_id: int, steps: int, last: float, lo: float | None, hi=None):
    return dict(
        run_id=run_id,
        key_id=key_id,
        count=steps,
        first_step=1,
        last_step=steps,
        last_value=last,
        min_value=lo,
        max_value=hi if hi is not None else lo,
        nan_count=0 if lo is not None else steps,
        updated_at=T0,
    )


def seed_project(database_url: str, n: int = 10_000, name: str | None = None, seed: int = 0) -> int:
    """Create a project of `n` runs in the (migrated) database at `database_url`; returns
    its id. Run i is named `run-<seed>-<i:05d>`."""
    rng = random.Random(seed)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            begin_write(session)
            project = Project(name=name or f"many-{seed}-{n}", description=f"{n} seeded runs")
            session.add(project)
            session.flush()
            runs = []
            for i in range(n):
                status = "running" if i % 97 == 0 else rng.choice(STATUSES)
                created = T0 + timedelta(seconds=i)
                runs.append(
                    Run(
                        project_id=project.id,
                        name=f"run-{seed}-{i:05d}",
                        status=status,
                        optimizer="lion" if i % 2 else "adamw",
                        config={
                            "lr": rng.choice(LRS),
                            "weight_decay": rng.choice(WEIGHT_DECAYS),
                            "seed": i % 5,
                            "batch_size": rng.choice((32, 64)),
                        },
                        created_at=created,
                        created_by=CREATORS[i % len(CREATORS)],
                        started_at=created,
                        finished_at=None if status == "running" else created + timedelta(hours=1),
                    )
                )
            session.add_all(runs)
            session.flush()  # one INSERT .. RETURNING per batch: the ids come back
            keys = _key_ids(session)
            tags, summaries = [], []
            for i, run in enumerate(runs):
                tags.extend({"run_id": run.id, "tag": t} for t in TAGS if rng.random() < 0.3)
                loss = round(rng.uniform(0.5, 3.0), 4)
                summaries.append(_summary(run.id, keys["loss"], 100, loss, loss * 0.9, 4.0))
                if i % 10 == 3:
                    continue  # never logged eval_loss
                if i % 10 == 7:  # NaN only: no finite value, a NaN last value
                    summaries.append(_summary(run.id, keys["eval_loss"], 10, float("nan"), None))
                    continue
                ev = round(rng.uniform(0.6, 3.2), 4)
                summaries.append(_summary(run.id, keys["eval_loss"], 10, ev, ev * 0.95, 4.0))
            for table, rows in ((RunTag, tags), (MetricSummary, summaries)):
                for lo in range(0, len(rows), CHUNK):
                    session.execute(insert(table), rows[lo : lo + CHUNK])
            session.commit()
            return project.id
    finally:
        engine.dispose()
