"""Detectors on the ingestion path: flags stored and served, state kept across restarts."""

import math

import numpy as np
import pytest

from lionlab.detect import analyze
from lionlab.detect.synthetic import planted_run, staircase_run
from lionlab_server.services.detection import detector_rows
from lionlab_server.store.metrics import KeyPoints


def _kp(name, steps, values):
    steps = np.asarray(steps, dtype=np.int64)
    return KeyPoints(name, steps, np.asarray(values, dtype=float), np.zeros(len(steps)))


def test_rows_follow_loss_and_grad_norm_and_leave_lr_only_steps_out():
    steps, cols = detector_rows(
        [
            _kp("train_loss", [1, 2, 3], [3.0, 2.0, 1.0]),
            _kp("grad_norm", [2, 3, 4], [1.0, 1.0, 1.0]),
            _kp("lr", [1, 2, 3, 4, 5], [0.1] * 5),
            _kp("eval_loss", [3], [2.5]),
        ]
    )
    assert steps.tolist() == [1, 2, 3, 4]  # step 5 logged only lr
    assert np.isnan(cols["grad_norm"][0]) and np.isnan(cols["loss"][3])
    assert cols["lr"].tolist() == [0.1] * 4


def test_train_loss_is_preferred_over_loss():
    _, cols = detector_rows([_kp("loss", [1], [9.0]), _kp("train_loss", [1], [1.0])])
    assert cols["loss"].tolist() == [1.0]


def _send(api, run_id, sr, lo, hi, chunk=2000):
    """Log rows lo..hi of a synthetic run in chunks, as a training loop would."""
    names = {"loss": "train_loss", "grad_norm": "grad_norm", "lr": "lr"}
    raised = []
    for a in range(lo, hi, chunk):
        b = min(a + chunk, hi)
        metrics = {names[k]: v[a:b].tolist() for k, v in sr.metrics.items()}
        raised += api.log(run_id, sr.steps[a:b].tolist(), metrics)["flags"]
    return raised


def test_a_nan_loss_is_flagged_at_once_and_served(api):
    run = api.run(api.project()["id"])["id"]
    r = api.log(
        run, [1, 2, 3], {"train_loss": [2.0, 1.9, math.nan], "grad_norm": [1.0, 1.0, math.nan]}
    )
    (flag,) = r["flags"]
    assert flag["kind"] == "divergence" and flag["step"] == 3 and flag["severity"] == "critical"
    (served,) = api.get(f"/runs/{run}/flags").json()
    assert served["kind"] == "divergence" and served["message"]


@pytest.mark.parametrize("seed", [3])
def test_flags_match_analyze_across_a_server_restart_and_resends(app, api, settings, seed):
    sr = staircase_run(np.random.default_rng(seed), "stairs")
    expected = analyze(sr.steps, sr.metrics)
    assert len(expected) >= 3
    run = api.run(api.project()["id"])["id"]
    half = len(sr.steps) // 2
    _send(api, run, sr, 0, half)
    _send(api, run, sr, half - 3000, half)  # a re-sent stretch changes nothing
    # A new server process state: a fresh app on the same database.
    from fastapi.testclient import TestClient
    from support.api import Api

    from lionlab_server.app import create_app

    fresh = create_app(settings)
    with TestClient(fresh) as client:
        _send(Api(client, api.token), run, sr, half, len(sr.steps))
    fresh.state.engine.dispose()
    got = api.get(f"/runs/{run}/flags").json()
    assert [(f["kind"], f["start_step"], f["end_step"], f["step"]) for f in got] == [
        (f.kind, f.start_step, f.end_step, f.step) for f in expected
    ]


def test_a_planted_blowup_is_flagged_once(api):
    sr = planted_run(np.random.default_rng(5), "blow", "blowup_50")
    run = api.run(api.project()["id"])["id"]
    _send(api, run, sr, 0, len(sr.steps))
    divergence = [f for f in api.get(f"/runs/{run}/flags").json() if f["kind"] == "divergence"]
    assert len(divergence) == 1
    (event,) = sr.events
    assert event.step <= divergence[0]["step"] <= event.until


def test_stop_on_divergence_tells_the_worker_to_stop(api):
    pid = api.project()["id"]
    job = {"steps": 100, "stop_on_divergence": True}
    rid = api.post("/runs", json={"project_id": pid, "job": job}).json()["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    api.log(rid, [1, 2], {"train_loss": [2.0, math.inf], "grad_norm": [1.0, math.inf]})
    assert api.post(f"/runs/{rid}/heartbeat", json={"worker": "w"}).json() == {"stop": "diverged"}
    r = api.post(f"/runs/{rid}/finish", json={"worker": "w", "status": "diverged"})
    assert r.json()["status"] == "diverged"


def test_without_stop_on_divergence_the_job_goes_on(api):
    pid = api.project()["id"]
    rid = api.post("/runs", json={"project_id": pid, "job": {"steps": 100}}).json()["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    api.log(rid, [1, 2], {"train_loss": [2.0, math.inf], "grad_norm": [1.0, math.inf]})
    assert api.post(f"/runs/{rid}/heartbeat", json={"worker": "w"}).json() == {"stop": None}
    assert len(api.get(f"/runs/{rid}/flags").json()) == 1
