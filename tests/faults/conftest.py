"""Fixtures of the fault-injection tests: whole LionLab stacks on databases of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from support.local_servers import ThrowawayRedis, create_database, drop_database
from support.stack import Stack, start_stack

# Small, so a lost worker's job is requeued within seconds; the reaper runs every third of it.
LOST_AFTER = 3.0


@pytest.fixture
def pg_database(postgres_server: str) -> Iterator[str]:
    """A database of this test's own on the shared PostgreSQL (the stack's server migrates it)."""
    name = f"lionlab_faults_{uuid.uuid4().hex[:10]}"
    url = create_database(postgres_server, name)
    yield url
    drop_database(postgres_server, name)


@pytest.fixture
def stacks(tmp_path) -> Iterator[Callable[..., Stack]]:
    """`stacks(**start_stack_kwargs)`: a server and its workers, stopped after the test."""
    started: list[Stack] = []

    def make(**kw) -> Stack:
        kw.setdefault("lost_after", LOST_AFTER)
        stack = start_stack(tmp_path / f"data-{len(started)}", **kw)
        started.append(stack)
        return stack

    yield make
    for stack in started:
        stack.stop()


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A redis-server of this test's own, which it may kill (the shared one is never touched).

    Request it before `stacks`, so that the workers stop before their broker does.
    """
    redis = ThrowawayRedis().start()
    yield redis
    redis.stop()
