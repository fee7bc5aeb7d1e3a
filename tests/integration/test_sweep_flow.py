"""A sweep end to end: API + real Redis + Postgres + a real Celery worker. A planted far too
large Lion lr diverges and is stopped early; the rest run to the end and the sweep reports
a verdict and the compute its early stops saved."""

import time

import pytest
from support.local_servers import create_database, drop_database
from support.stack import start_stack

STEPS = 160
PLANTED_LR = 0.33  # Lion moves every weight by lr each step: this blows up within ~100 steps

SPEC = {
    "name": "e2e-sweep",
    "base": {
        "task": "char_lm",
        "steps": STEPS,
        "eval_interval": 20,
        "checkpoint_interval": 0,
        "device": "cpu",
    },
    "optimizers": ["adamw", "lion"],
    "seeds": 1,
    "space": {
        "adamw": {"optimizer.lr": [1.0e-3]},
        "lion": {"optimizer.lr": [1.0e-4, PLANTED_LR], "optimizer.weight_decay": [0.1]},
    },
    "limits": {"max_parallel": 2},
}


@pytest.fixture
def stack(tmp_path, postgres_server, redis_db_url):
    name = f"lionlab_sweep_{tmp_path.name[-20:]}".replace("-", "_").lower()
    url = create_database(postgres_server, name)
    stack = start_stack(tmp_path / "data", database_url=url, broker_url=redis_db_url)
    yield stack
    stack.stop()
    drop_database(postgres_server, name)


def _wait_finished(stack, sweep_id: int, timeout: float = 450) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = stack.api("GET", f"/sweeps/{sweep_id}").json()
        active = [t for t in sweep["trials"] if t["status"] in ("queued", "running")]
        assert len(active) <= SPEC["limits"]["max_parallel"], sweep["counts"]
        if sweep["status"] != "running":
            return sweep
        time.sleep(0.5)
    raise TimeoutError(f"sweep {sweep_id} still running: {sweep['counts']}")


@pytest.mark.slow
@pytest.mark.timeout(500)
@pytest.mark.redis
@pytest.mark.postgres
def test_a_sweep_runs_its_trials_and_stops_the_planted_divergent_one_early(stack):
    project = stack.api("POST", "/projects", json={"name": "e2e-sweeps"}).json()["id"]
    r = stack.api("POST", "/sweeps", json={"project_id": project, "spec": SPEC})
    assert r.status_code == 201, r.text
    sweep = _wait_finished(stack, r.json()["id"])
    assert sweep["status"] == "finished"
    by_lr = {(t["optimizer"], t["params"]["optimizer.lr"]): t for t in sweep["trials"]}
    planted = by_lr[("lion", PLANTED_LR)]
    assert planted["status"] == "diverged", planted
    assert 0 < planted["steps_run"] < STEPS  # stopped early, not trained to the end
    assert "divergence" in planted["flags"] or planted["stop_reason"]
    for key in (("adamw", 1.0e-3), ("lion", 1.0e-4)):
        assert by_lr[key]["status"] == "succeeded", by_lr[key]
        assert by_lr[key]["final_loss"] is not None
    runs = stack.api("GET", "/runs", params={"project_id": project}).json()
    assert runs["total"] == 3  # one run per trial

    analysis = stack.api("GET", f"/sweeps/{sweep['id']}/analysis").json()
    compute = analysis["compute"]
    assert compute["saved_by_divergence"] == STEPS - planted["steps_run"]
    assert 0 < compute["fraction"] < 1 / 3
    assert analysis["verdict"]["text"]
    assert set(analysis["best"]) == {"adamw", "lion"}
    assert analysis["best"]["lion"]["lr"] == pytest.approx(1.0e-4)  # the diverged one is out
