"""A worker cut off from the API for longer than LOST_AFTER, through a proxy the test controls.

Its run is requeued and resumed by another worker (attempt 2). When the partition heals, the
stale worker, which trained on meanwhile, must be refused (409) on every heartbeat, metric
batch and finish of attempt 1, and stop: nothing it sent after the takeover is stored.
"""

from __future__ import annotations

import time

import pytest
from support.ledger import (
    CHECKPOINT_INTERVAL,
    STEP_KEYS,
    assert_ended,
    assert_job_stored_once,
    char_lm_job,
    last_step,
    raw_series,
    resumed_from,
    worker_pid,
)
from support.proxy import TcpProxy

STEPS = 40


@pytest.fixture
def proxied_stack(stacks, pg_database, redis_db_url):
    """(stack, proxy): a stack with no worker yet, and a proxy in front of its server."""
    stack = stacks(database_url=pg_database, broker_url=redis_db_url, workers=0)
    proxy = TcpProxy.in_front_of(stack.server.url)
    yield stack, proxy
    proxy.stop()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_partitioned_worker_is_fenced_off_and_another_finishes_its_run(proxied_stack):
    stack, proxy = proxied_stack
    stale = stack.start_worker(api_url=proxy.url)
    rid = stack.submit(char_lm_job(STEPS))
    stack.wait(rid, lambda r: last_step(stack, r["id"]) >= 15)
    assert worker_pid(stack.run(rid)) == stale.pid
    second = stack.start_worker()  # idle (no other job) until the run is requeued

    proxy.partition()
    cut_at = time.time()
    taken = stack.wait(rid, lambda r: r["attempts"] == 2 and r["status"] == "running")
    assert worker_pid(taken) == second.pid, taken
    healed_at = time.time()
    proxy.heal()  # while attempt 2 trains: attempt 1's calls must now be refused

    run = stack.wait_done(rid, timeout=180)
    assert_ended(run)
    assert run["attempts"] == 2 and worker_pid(run) == second.pid, run
    stored = {key: raw_series(stack, rid, key) for key in STEP_KEYS | {"eval_loss"}}
    # Only the stale worker is left: it trains the next job once it has dropped the fenced one.
    second.terminate()
    second.wait()
    probe = stack.submit(char_lm_job(5))
    probe_run = stack.wait_done(probe, timeout=180)
    assert_ended(probe_run)
    assert worker_pid(probe_run) == stale.pid

    late = [
        e
        for e in proxy.exchanges
        if e.forwarded and e.at >= healed_at and e.path.startswith(f"/api/v1/runs/{rid}/")
    ]
    assert late, "the stale worker never called the API about its run after the partition"
    assert all(e.status == 409 for e in late), late
    assert {key: raw_series(stack, rid, key) for key in stored} == stored  # nothing late stored
    assert_job_stored_once(stack, rid, STEPS)
    # attempt 2 rewrote every step after the checkpoint it resumed from
    assert resumed_from(stack, rid, cut_at) % CHECKPOINT_INTERVAL == 0
