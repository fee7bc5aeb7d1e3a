"""Job lifecycle over the API: claim once, heartbeat, cancel, finish, reaping lost workers."""

import time

import pytest
from support.local_servers import free_port

from lionlab_server.db import begin_write, session_scope
from lionlab_server.services.dispatch import Dispatcher
from lionlab_server.store import lifecycle

JOB = {"task": "char_lm", "steps": 10, "optimizer": {"name": "adamw"}}


@pytest.fixture
def job(api):
    pid = api.project()["id"]
    r = api.post("/runs", json={"project_id": pid, "job": JOB})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_job_is_queued_with_its_spec(job):
    assert job["status"] == "queued" and job["optimizer"] == "adamw"
    assert job["job"]["optimizer"]["lr"] == 1e-3  # AdamW's default filled in
    assert job["config"] == {} and job["attempts"] == 0
    assert job["warnings"] == []


def test_invalid_job_fields_are_named(api):
    pid = api.project()["id"]
    for bad, field in [
        ({"optimizer": {"name": "lion", "lr": 0}}, "lr"),
        ({"optimizer": {"betas": [0.9, 1.0]}}, "betas"),
        ({"task": "imagenet"}, "task"),
        ({"steps": 0}, "steps"),
    ]:
        r = api.post("/runs", json={"project_id": pid, "job": bad})
        assert r.status_code == 422, bad
        assert field in r.json()["detail"][0]["loc"], r.json()


def test_lion_lr_above_the_adamw_baseline_draws_the_papers_warning(api):
    pid = api.project()["id"]
    api.post("/runs", json={"project_id": pid, "job": {"optimizer": {"name": "adamw", "lr": 3e-4}}})
    r = api.post(
        "/runs", json={"project_id": pid, "job": {"optimizer": {"name": "lion", "lr": 1e-3}}}
    )
    (warning,) = r.json()["warnings"]
    assert "3e-04" in warning or "0.0003" in warning
    assert "SMALLER" in warning and "Chen et al. 2023" in warning
    ok = api.post(
        "/runs", json={"project_id": pid, "job": {"optimizer": {"name": "lion", "lr": 3e-5}}}
    )
    assert ok.json()["warnings"] == []


def test_no_baseline_and_a_large_lion_lr_warns(api):
    pid = api.project()["id"]
    r = api.post(
        "/runs", json={"project_id": pid, "job": {"optimizer": {"name": "lion", "lr": 3e-3}}}
    )
    assert r.status_code == 201 and len(r.json()["warnings"]) == 1


def test_a_run_is_claimed_once(api, job):
    first = api.post(f"/runs/{job['id']}/claim", json={"worker": "a:1:cpu"})
    assert first.status_code == 200 and first.json()["status"] == "running"
    assert first.json()["attempts"] == 1
    second = api.post(f"/runs/{job['id']}/claim", json={"worker": "b:2:cpu"})
    assert second.status_code == 409 and "not a queued job" in second.json()["detail"][0]["msg"]
    assert api.get(f"/runs/{job['id']}").json()["attempts"] == 1


def test_cancel_reaches_the_worker_through_its_heartbeat(api, job):
    rid = job["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "a:1:cpu"})
    me = {"worker": "a:1:cpu", "attempt": 1}
    assert api.post(f"/runs/{rid}/heartbeat", json=me).json() == {"stop": None}
    assert api.post(f"/runs/{rid}/cancel").json()["stop_requested"] == "cancelled"
    assert api.post(f"/runs/{rid}/heartbeat", json=me).json() == {"stop": "cancelled"}
    r = api.post(f"/runs/{rid}/finish", json={**me, "status": "cancelled"})
    assert r.json()["status"] == "cancelled" and r.json()["finished_at"]
    assert api.post(f"/runs/{rid}/cancel").status_code == 409


def test_cancelling_a_queued_job_ends_it_and_no_worker_can_claim_it(api, job):
    assert api.post(f"/runs/{job['id']}/cancel").json()["status"] == "cancelled"
    assert api.post(f"/runs/{job['id']}/claim", json={"worker": "a"}).status_code == 409


def test_only_the_claiming_worker_heartbeats_or_finishes(api, job):
    rid = job["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "a"})
    assert api.post(f"/runs/{rid}/heartbeat", json={"worker": "b", "attempt": 1}).status_code == 409
    r = api.post(f"/runs/{rid}/finish", json={"worker": "b", "attempt": 1, "status": "succeeded"})
    assert r.status_code == 409
    r = api.post(f"/runs/{rid}/finish", json={"worker": "a", "attempt": 1, "status": "queued"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "status"]


def _reap(app, lost_after, max_attempts=3):
    with session_scope(app.state.sessionmaker) as session:
        begin_write(session)
        return lifecycle.reap_lost(session, lost_after, max_attempts)


def test_a_silent_worker_is_reaped_and_the_job_requeued_then_lost(api, app, job):
    rid = job["id"]
    for attempt in (1, 2):
        api.post(f"/runs/{rid}/claim", json={"worker": f"w{attempt}"})
        assert _reap(app, lost_after=60, max_attempts=2) == []  # it just beat
        time.sleep(0.3)
        assert _reap(app, lost_after=0.2, max_attempts=2) == [rid]
        run = api.get(f"/runs/{rid}").json()
        if attempt == 1:
            assert run["status"] == "queued" and run["worker"] is None
            assert "stopped answering" in run["error"]
    assert run["status"] == "lost" and run["attempts"] == 2 and run["finished_at"]
    # The old worker learns it lost the run at its next heartbeat.
    assert (
        api.post(f"/runs/{rid}/heartbeat", json={"worker": "w2", "attempt": 2}).status_code == 409
    )


def test_a_lost_worker_on_a_cancelled_run_ends_it_cancelled(api, app, job):
    rid = job["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    api.post(f"/runs/{rid}/cancel")
    time.sleep(0.3)
    assert _reap(app, lost_after=0.2) == [rid]
    assert api.get(f"/runs/{rid}").json()["status"] == "cancelled"


def test_runs_logged_by_scripts_are_never_reaped(api, app):
    run = api.run(api.project()["id"])
    time.sleep(0.3)
    assert _reap(app, lost_after=0.1) == []
    assert api.get(f"/runs/{run['id']}").json()["status"] == "running"


@pytest.mark.slow
def test_a_job_the_broker_refused_is_dispatched_later(api, app, settings):
    """Broker down (nothing listens on its port): the run stays queued and undispatched,
    and the next round with the broker back hands it over."""
    down = Dispatcher(
        settings.model_copy(update={"broker_url": f"redis://127.0.0.1:{free_port()}/0"}),
        app.state.sessionmaker,
    )
    down.celery.conf.broker_connection_max_retries = 1
    down.celery.conf.task_publish_retry = False
    app.state.dispatcher = down
    rid = api.post("/runs", json={"project_id": api.project()["id"], "job": JOB}).json()["id"]
    assert api.get(f"/runs/{rid}").json()["status"] == "queued"
    up = Dispatcher(settings, app.state.sessionmaker)  # the embedded broker: reachable
    assert up.dispatch_pending() == 1
    assert up.dispatch_pending() == 0  # sent once


def test_rerun_queues_a_copy_of_the_job(api, job):
    r = api.post(f"/runs/{job['id']}/rerun")
    assert r.status_code == 201
    copy = r.json()
    assert copy["id"] != job["id"] and copy["status"] == "queued"
    assert copy["job"] == job["job"]
    assert copy["name"] == f"{job['name']}-rerun"


def test_rerun_of_a_script_run_is_refused(api):
    run = api.run(api.project()["id"])
    r = api.post(f"/runs/{run['id']}/rerun")
    assert r.status_code == 422 and "nothing to re-run" in r.json()["detail"][0]["msg"]
