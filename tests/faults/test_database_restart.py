"""PostgreSQL stopped and started (a crash, then recovery) while a script logs 100k+ points."""

from __future__ import annotations

import time

import pytest
from support import sdk_logger
from support.ledger import assert_ended, assert_script_stored_once, last_step
from support.live import start_server
from support.local_servers import ThrowawayPostgres
from support.stack import Stack

SCRIPT_STEPS = 80_000  # 80,000 loss + 26,667 acc points


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_restart_mid_ingest_loses_and_duplicates_nothing(tmp_path):
    pg = ThrowawayPostgres().start()  # its own cluster: the shared one is never restarted
    server = start_server(tmp_path / "data", env={"LIONLAB_DATABASE_URL": pg.url})
    stack = Stack(server, {})
    try:
        script, run = sdk_logger.start(server.url, server.token, SCRIPT_STEPS, 0.1)
        stack.wait(run, lambda r: last_step(stack, r["id"], "loss") >= 20_000)
        pg.stop_server(mode="immediate")  # as if the database host lost power
        assert script.poll() is None  # the script goes on logging into its buffer
        time.sleep(2.0)
        pg.start()
        assert script.wait(timeout=240) == 0, script.stdout.read()
        assert_ended(stack.run(run))
        assert_script_stored_once(stack, run, SCRIPT_STEPS)
    finally:
        server.stop()
        pg.stop()
