"""A worker SIGKILLed while it trains, or before it could claim the job it took: the run is
requeued (re-dispatched) and trained by another worker, every step stored once."""

from __future__ import annotations

import signal
import time

import pytest
from support.ledger import (
    CHECKPOINT_INTERVAL,
    assert_ended,
    assert_job_stored_once,
    char_lm_job,
    last_step,
    resumed_from,
    worker_pid,
)
from support.proxy import TcpProxy
from support.stack import Stack

STEPS = 40
STEPS_AFTER_REDISPATCH = 20


def _killed_worker_run_resumes(stack: Stack) -> None:
    (first,) = stack.workers
    rid = stack.submit(char_lm_job(STEPS))
    stack.wait(rid, lambda r: r["status"] == "running")
    second = stack.start_worker()  # idle (no other job) until the run is requeued
    stack.wait(rid, lambda r: last_step(stack, r["id"]) >= 15)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = time.time()
    stored_at_kill = last_step(stack, rid)

    run = stack.wait_done(rid, timeout=180)
    assert_ended(run)
    assert run["attempts"] == 2 and worker_pid(run) == second.pid, run
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


def _unclaimed_message_is_sent_again(stack: Stack) -> None:
    proxy = TcpProxy.in_front_of(stack.server.url)
    try:
        proxy.partition()  # the worker's claim reaches nobody and is never answered
        doomed = stack.start_worker(api_url=proxy.url)
        rid = stack.submit(char_lm_job(STEPS_AFTER_REDISPATCH))
        claim = proxy.wait_for("POST", f"/api/v1/runs/{rid}/claim")
        second = stack.start_worker()  # the broker holds no message for it now
        doomed.send_signal(signal.SIGKILL)
        doomed.wait()
        assert not claim.forwarded and stack.run(rid)["status"] == "queued"
    finally:
        proxy.stop()

    run = stack.wait_done(rid, timeout=180)
    assert_ended(run)
    assert run["attempts"] == 1 and worker_pid(run) == second.pid, run
    assert_job_stored_once(stack, rid, STEPS_AFTER_REDISPATCH)


# The broker would hand the taken message out again only after its visibility timeout (12 h on
# Redis; never on the embedded broker): the run must be sent again within LOST_AFTER instead.
@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_worker_killed_between_taking_a_message_and_claiming_its_run(
    stacks, pg_database, redis_db_url
):
    _unclaimed_message_is_sent_again(
        stacks(database_url=pg_database, broker_url=redis_db_url, workers=0)
    )


@pytest.mark.slow
def test_worker_killed_before_its_claim_on_the_embedded_broker(stacks):
    _unclaimed_message_is_sent_again(stacks(workers=0))
