"""The API server SIGKILLed while a worker trains a job and a user's script logs.

SQLite and the embedded broker (the default install), where the server process itself holds
the database file: a kill -9 mid-transaction must lose nothing that was acknowledged.
"""

from __future__ import annotations

import signal
import time

import pytest
from support import sdk_logger
from support.ledger import (
    assert_ended,
    assert_job_stored_once,
    assert_script_stored_once,
    char_lm_job,
    last_step,
)
from support.live import start_server

JOB_STEPS = 300  # long enough to be mid-run when the script has logged 3000 steps
SCRIPT_STEPS = 30_000
# Longer than the outage: the worker keeps its run (no requeue), as it should when only the
# server restarted.
LOST_AFTER = 60.0


@pytest.mark.slow
def test_sigkilled_server_restarts_and_both_writers_store_every_point_once(stacks):
    stack = stacks(lost_after=LOST_AFTER)
    job = stack.submit(char_lm_job(JOB_STEPS))
    stack.wait(job, lambda r: last_step(stack, r["id"]) >= 5)
    script, run = sdk_logger.start(stack.server.url, stack.server.token, SCRIPT_STEPS, 0.3)
    stack.wait(run, lambda r: last_step(stack, r["id"], "loss") >= 3000)

    port = stack.server.url.rsplit(":", 1)[1]
    job_step_at_kill = last_step(stack, job)
    stack.server.proc.send_signal(signal.SIGKILL)
    stack.server.proc.wait()
    # The fault lands mid-run: both writers still have points to send.
    assert script.poll() is None and job_step_at_kill < JOB_STEPS
    time.sleep(1.0)  # both writers hit a closed port for a while
    stack.server = start_server(stack.server.data_dir, env=stack.env, port=int(port))

    assert script.wait(timeout=240) == 0, script.stdout.read()
    assert_ended(stack.run(run))
    assert_script_stored_once(stack, run, SCRIPT_STEPS)
    finished = stack.wait_done(job)
    assert_ended(finished)
    assert finished["attempts"] == 1, finished  # trained once, by the worker that claimed it
    assert_job_stored_once(stack, job, JOB_STEPS)
