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
    # a key missing at a row is masked there, not NaN: a logged NaN stays a NaN
    assert cols["grad_norm"].mask.tolist() == [True, False, False, False]
    assert cols["loss"].mask.tolist() == [False, False, False, True]
    assert cols["lr"].tolist() == [0.1] * 4


def test_train_loss_is_preferred_over_loss():
    _, cols = detector_rows([_kp("loss", [1], [9.0]), _kp("train_loss", [1], [1.0])])
    assert cols["loss"].tolist() == [1.0]


def _send(api, run_id, sr, lo, hi, chunk=2000):
    """Log rows lo..hi of a synthetic run in chunks, as a training loop would: a grad_norm
    the synthetic run left NaN beside a finite loss was not logged there, so it goes as null."""
    names = {"loss": "train_loss", "grad_norm": "grad_norm", "lr": "lr"}
    columns = dict(sr.metrics)
    gaps = np.isnan(columns["grad_norm"]) & np.isfinite(columns["loss"])
    columns["grad_norm"] = np.where(gaps, None, columns["grad_norm"])
    raised = []
    for a in range(lo, hi, chunk):
        b = min(a + chunk, hi)
        metrics = {names[k]: v[a:b].tolist() for k, v in columns.items()}
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


def test_a_nan_loss_next_to_a_finite_grad_norm_is_divergence(api):
    """Regression: in a row with a finite grad_norm, a NaN loss was read as "not logged"."""
    run = api.run(api.project()["id"])["id"]
    steps = list(range(1, 101))
    loss = [2.0 - 0.001 * s for s in steps]
    loss[59] = math.nan  # step 60
    r = api.log(run, steps, {"train_loss": loss, "grad_norm": [1.0] * 100})
    assert [(f["kind"], f["step"]) for f in r["flags"]] == [("divergence", 60)]
    assert "loss is nan at step 60" in r["flags"][0]["message"]


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
    me = {"worker": "w", "attempt": 1}
    metrics = {"train_loss": [2.0, math.inf], "grad_norm": [1.0, math.inf]}
    api.log(rid, [1, 2], metrics, attempt=1)
    assert api.post(f"/runs/{rid}/heartbeat", json=me).json() == {"stop": "diverged"}
    r = api.post(f"/runs/{rid}/finish", json={**me, "status": "diverged"})
    assert r.json()["status"] == "diverged"


def test_without_stop_on_divergence_the_job_goes_on(api):
    pid = api.project()["id"]
    rid = api.post("/runs", json={"project_id": pid, "job": {"steps": 100}}).json()["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    metrics = {"train_loss": [2.0, math.inf], "grad_norm": [1.0, math.inf]}
    api.log(rid, [1, 2], metrics, attempt=1)
    assert api.post(f"/runs/{rid}/heartbeat", json={"worker": "w", "attempt": 1}).json() == {
        "stop": None
    }
    assert len(api.get(f"/runs/{rid}/flags").json()) == 1


def test_each_runs_table_row_gets_its_own_runs_flags_and_loss(api):
    # The table reads every listed run's summaries and flags at once: rows must not mix them.
    project = api.project()["id"]
    diverged, healthy, silent = (api.run(project)["id"] for _ in range(3))
    api.log(diverged, range(5), {"loss": [2.0, 1.9, 1.8, math.nan, math.nan]})
    api.log(healthy, range(5), {"loss": [3.0, 2.0, 1.5, 1.2, 1.1]})
    rows = {r["run"]["id"]: r for r in api.get(f"/views/projects/{project}/runs").json()["items"]}
    assert rows[diverged]["flags"]["kinds"] == {"divergence": 1}
    assert rows[diverged]["last_loss"] == "NaN" and rows[diverged]["best_loss"] == 1.8
    assert rows[healthy]["flags"]["total"] == 0 and rows[healthy]["last_loss"] == 1.1
    assert rows[silent]["flags"]["total"] == 0 and rows[silent]["loss_key"] is None
