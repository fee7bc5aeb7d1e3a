"""Jobs end to end: API + broker (real Redis, or the embedded one) + real Celery workers.

Faults (a worker killed mid-run and others) are in tests/faults/."""

import pytest
from support.ledger import STEP_KEYS
from support.local_servers import create_database, drop_database
from support.stack import start_stack


def job(optimizer: str, steps: int = 20, **extra) -> dict:
    return {
        "task": "char_lm",
        "steps": steps,
        "eval_interval": 10,
        "checkpoint_interval": 10,
        "device": "cpu",
        "optimizer": {"name": optimizer},
        **extra,
    }


@pytest.fixture
def redis_stack(tmp_path, postgres_server, redis_db_url):
    name = f"lionlab_e2e_{tmp_path.name[-20:]}".replace("-", "_").lower()
    url = create_database(postgres_server, name)
    stack = start_stack(tmp_path / "data", database_url=url, broker_url=redis_db_url, lost_after=3)
    yield stack
    stack.stop()
    drop_database(postgres_server, name)


@pytest.fixture
def embedded_stack(tmp_path):
    stack = start_stack(tmp_path / "data")  # SQLite and the embedded broker
    yield stack
    stack.stop()


def _lion_and_adamw_succeed(stack):
    ids = [stack.submit(job("lion")), stack.submit(job("adamw"))]
    for rid in ids:
        run = stack.wait_done(rid)
        assert run["status"] == "succeeded", run["error"]
        assert run["worker"].endswith(":cpu") and run["attempts"] == 1
        s = stack.summaries(rid)
        assert set(s) >= STEP_KEYS and s["train_loss"]["count"] == 20
        assert (s["train_loss"]["first_step"], s["train_loss"]["last_step"]) == (1, 20)
        assert s["eval_loss"]["count"] == 2  # steps 10 and 20


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_lion_and_adamw_jobs_train_through_redis(redis_stack):
    _lion_and_adamw_succeed(redis_stack)


@pytest.mark.slow
def test_lion_and_adamw_jobs_train_through_the_embedded_broker(embedded_stack):
    _lion_and_adamw_succeed(embedded_stack)


def _cancel_keeps_metrics(stack):
    rid = stack.submit(job("lion", steps=100_000))
    stack.wait(
        rid, lambda r: (stack.summaries(r["id"]).get("train_loss") or {}).get("count", 0) >= 5
    )
    stack.api("POST", f"/runs/{rid}/cancel")
    logged = stack.summaries(rid)["train_loss"]["count"]
    run = stack.wait_done(rid, timeout=60)
    assert run["status"] == "cancelled" and run["finished_at"]
    s = stack.summaries(rid)["train_loss"]
    assert s["count"] >= logged and s["count"] == s["last_step"]  # every step kept, once


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.postgres
def test_cancel_stops_a_running_job_and_keeps_its_metrics(redis_stack):
    _cancel_keeps_metrics(redis_stack)


@pytest.mark.slow
def test_cancel_on_the_embedded_broker(embedded_stack):
    _cancel_keeps_metrics(embedded_stack)
