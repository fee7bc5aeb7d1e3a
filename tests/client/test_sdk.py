"""The SDK against a real server process: batching, NaN, outages, spooling."""

import math
import time

import httpx
import pytest
from support.live import start_server
from support.local_servers import free_port

import lionlab
from lionlab.client import ApiClient, ApiError, BatchSender, connect
from lionlab.client.batching import columnar
from lionlab.client.spool import RunSpool
from lionlab.client.sync import sync_path


def _series(server, run_id, key):
    r = httpx.get(
        f"{server.url}/api/v1/series",
        headers=server.headers,
        params={"run": run_id, "key": key, "max_points": 100_000},
    )
    return r.json()["series"][0]


def test_columnar_body_marks_keys_missing_at_a_step_as_null():
    body = columnar({0: {"loss": 1.0}, 5: {"loss": 0.5, "eval_loss": 0.7}})
    assert body == {"steps": [0, 5], "metrics": {"loss": [1.0, 0.5], "eval_loss": [None, 0.7]}}


@pytest.mark.parametrize("config", [{"lr": math.nan}, {"wd": math.inf}, {"a": "x\x00"}])
def test_a_config_the_server_would_refuse_fails_at_init(config, tmp_path, monkeypatch):
    """The server answers a NaN/Infinity/NUL config with 422; init says so at once, before
    anything is spooled or sent in the background."""
    monkeypatch.setenv("LIONLAB_DATA_DIR", str(tmp_path))
    with pytest.raises(ValueError, match="config"):
        lionlab.init(project="p", config=config, mode="offline")
    assert not any(tmp_path.rglob("spool.jsonl"))


@pytest.mark.slow
def test_init_log_finish(server):
    run = lionlab.init(project="sdk", config={"lr": 3e-4}, optimizer="lion", tags=["t"])
    for step in range(500):
        run.log({"loss": 1 / (step + 1), "lr": 3e-4}, step=step)
    run.log({"eval_loss": 0.9}, step=499)
    run.log({"loss": math.nan, "grad_norm": math.inf})  # step 500 by default
    run.finish()
    loss = _series(server, run.id, "loss")
    assert loss["steps"] == list(range(501)) and loss["values"][-1] == "NaN"
    assert _series(server, run.id, "eval_loss")["steps"] == [499]
    assert _series(server, run.id, "grad_norm")["values"] == ["Infinity"]
    info = httpx.get(f"{server.url}/api/v1/runs/{run.id}", headers=server.headers).json()
    assert info["status"] == "succeeded" and info["optimizer"] == "lion"
    assert info["config"] == {"lr": 3e-4} and info["tags"] == ["t"]


@pytest.mark.slow
def test_points_survive_a_server_outage_without_duplicates(tmp_path, monkeypatch):
    port = free_port()
    srv = start_server(tmp_path / "data", port=port)
    monkeypatch.setenv("LIONLAB_API_URL", srv.url)
    monkeypatch.setenv("LIONLAB_API_TOKEN", srv.token)
    run = lionlab.init(project="outage")
    run._sender.interval = 0.1
    for step in range(300):
        run.log({"loss": float(step)}, step=step)
    assert run.flush(timeout=30)
    srv.stop()
    for step in range(300, 600):  # logged while the server is down
        run.log({"loss": float(step)}, step=step)
    time.sleep(1.0)  # the sender fails and keeps the points
    srv = start_server(tmp_path / "data", port=port)
    try:
        run.finish(timeout=60)
        s = _series(srv, run.id, "loss")
        assert s["steps"] == list(range(600)) and s["points_in_range"] == 600
        assert s["values"] == [float(i) for i in range(600)]
    finally:
        srv.stop()


@pytest.mark.slow
def test_a_finish_that_cannot_reach_the_server_spools_and_sync_delivers(server):
    run = lionlab.init(project="spool")
    assert run.flush(timeout=60)  # the run exists on the server
    server.proc.send_signal(19)  # SIGSTOP: the server hangs, requests time out
    try:
        run.api._http.timeout = httpx.Timeout(0.5)
        for step in range(50):
            run.log({"loss": 0.5}, step=step)
        spool = run.finish(timeout=30)  # gives up at the first try that times out
    finally:
        server.proc.send_signal(18)  # SIGCONT
    assert spool is not None and [e.keys() for e in RunSpool(spool).entries()][-1] == {"end"}
    totals = sync_path(connect(), spool, echo=lambda line: None)
    assert (totals.runs, totals.points) == (1, 50)
    assert _series(server, run.id, "loss")["steps"] == list(range(50))
    info = httpx.get(f"{server.url}/api/v1/runs/{run.id}", headers=server.headers).json()
    assert info["status"] == "succeeded"


def test_a_4xx_on_a_batch_stops_the_sender(server):
    sender = BatchSender(connect(), 999999, interval=0.05)
    sender.log({"loss": 1.0}, step=0)
    assert sender.flush(timeout=30) is False
    assert sender.error.status_code == 404 and "run 999999" in str(sender.error)


@pytest.mark.slow
def test_a_refused_batch_is_raised_to_the_script(tmp_path, monkeypatch):
    srv = start_server(tmp_path / "data", env={"LIONLAB_MAX_BATCH_POINTS": "50"})
    monkeypatch.setenv("LIONLAB_API_URL", srv.url)
    monkeypatch.setenv("LIONLAB_API_TOKEN", srv.token)
    try:
        run = lionlab.init(project="refused")
        for step in range(100):  # one batch of 100 points: over the server's limit
            run.log({"loss": 1.0}, step=step)
        with pytest.raises(ApiError, match="over the limit of 50") as err:
            run.flush(timeout=60)
        assert err.value.status_code == 413
        with pytest.raises(ApiError):
            run.log({"loss": 1.0}, step=100)
        with pytest.raises(ApiError):
            run.finish()
    finally:
        srv.stop()


JOB = {"task": "char_lm", "steps": 10, "optimizer": {"name": "adamw"}}


def _claim(api, run_id, worker, timeout=60.0) -> int:
    """Claim the job as `worker` once it is queued; returns the attempt number."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return api.post(f"/runs/{run_id}/claim", {"worker": worker})["attempts"]
        except ApiError as exc:
            if exc.status_code != 409 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.slow
def test_batches_of_a_stale_attempt_are_fenced_off_and_stop_its_sender(tmp_path):
    # The server requeues a job whose worker is silent for a second (no heartbeats here).
    srv = start_server(tmp_path / "data", env={"LIONLAB_LOST_AFTER": "1"})
    try:
        api = ApiClient(srv.url, srv.token)
        project = api.post("/projects", {"name": "fenced"})["id"]
        run_id = api.post("/runs", {"project_id": project, "job": JOB})["id"]
        first = BatchSender(api, run_id, interval=0.05, attempt=_claim(api, run_id, "w1"))
        first.log({"train_loss": 1.0}, step=1)
        assert first.flush(timeout=30)
        second = BatchSender(api, run_id, interval=0.05, attempt=_claim(api, run_id, "w2"))
        assert second.headers == {"X-LionLab-Attempt": "2"}
        first.log({"train_loss": 9.0}, step=2)  # late: the run is attempt 2's now
        assert first.flush(timeout=30) is False
        assert first.error.status_code == 409 and "attempt" in str(first.error)
        second.log({"train_loss": 2.0}, step=2)
        assert second.close() is None and first.close() is None
        assert _series(srv, run_id, "train_loss")["values"] == [1.0, 2.0]
    finally:
        srv.stop()


def test_api_errors_carry_the_servers_message(server):
    api = ApiClient(server.url, server.token)
    with pytest.raises(lionlab.client.ApiError) as err:
        api.post("/runs/999999/metrics", {"steps": [0], "metrics": {"x": [1.0]}})
    assert err.value.status_code == 404 and "run 999999" in str(err.value)
