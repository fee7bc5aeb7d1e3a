"""Redis (the broker) killed and restarted empty while jobs run and others wait in its queue.

The restarted Redis has lost every message: the queued jobs' and the unacked ones of the
running jobs. The running jobs go on (workers talk to the API, not the broker, while they
train); the queued ones must still be trained, each once.
"""

from __future__ import annotations

import time

import pytest
from support.ledger import assert_ended, assert_job_stored_once, char_lm_job, last_step

STEPS = 20
WORKERS = 2
JOBS = 4


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_redis_restart_loses_no_queued_or_running_job(throwaway_redis, stacks, pg_database):
    redis = throwaway_redis
    stack = stacks(database_url=pg_database, broker_url=f"{redis.url}/0", workers=WORKERS)
    jobs = [stack.submit(char_lm_job(STEPS, seed=i)) for i in range(JOBS)]
    for rid in jobs[:WORKERS]:  # the first ones go to the idle workers
        stack.wait(rid, lambda r: last_step(stack, r["id"]) >= 5)
    assert [stack.run(rid)["status"] for rid in jobs[WORKERS:]] == ["queued"] * 2

    redis.proc.kill()  # no persistence: its queue and unacked messages are gone
    redis.proc.wait()
    time.sleep(1.0)
    redis.start()  # on the same port

    for rid in jobs:
        run = stack.wait_done(rid, timeout=120)
        assert_ended(run)
        assert run["attempts"] == 1, run  # claimed once: none requeued, none twice
        assert_job_stored_once(stack, rid, STEPS)
