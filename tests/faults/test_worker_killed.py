"""A worker SIGKILLed while it trains: its run is requeued and resumed by another worker."""

from __future__ import annotations

import signal
import time

import pytest
from support.ledger import (
    assert_ended,
    assert_job_stored_once,
    char_lm_job,
    last_step,
    resumed_from,
)

from lionlab_server.throwaway import Stack

STEPS = 60
CHECKPOINT_INTERVAL = 10


def _killed_worker_run_resumes(stack: Stack) -> None:
    rid = stack.submit(char_lm_job(STEPS, checkpoint_interval=CHECKPOINT_INTERVAL))
    stack.wait(rid, lambda r: last_step(stack, r["id"]) >= 25)
    (worker,) = stack.workers
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    killed_at = time.time()
    stored_at_kill = last_step(stack, rid)
    second = stack.start_worker()

    run = stack.wait_done(rid, timeout=180)
    assert_ended(run)
    assert run["attempts"] == 2 and run["worker"].split(":")[1] == str(second.pid), run
    assert_job_stored_once(stack, rid, STEPS)
    # The second attempt resumed from a checkpoint the first had stored every point up to,
    # and rewrote every step after it.
    resumed = resumed_from(stack, rid, killed_at)
    assert resumed % CHECKPOINT_INTERVAL == 0 and resumed <= stored_at_kill, resumed


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_sigkilled_worker_run_is_requeued_and_resumes_without_duplicates(
    stacks, pg_database, redis_db_url
):
    _killed_worker_run_resumes(stacks(database_url=pg_database, broker_url=redis_db_url))


@pytest.mark.slow
def test_sigkilled_worker_on_the_embedded_broker(stacks):
    _killed_worker_run_resumes(stacks())  # SQLite and the embedded broker
