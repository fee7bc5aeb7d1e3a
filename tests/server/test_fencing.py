"""The run lifecycle's rules over the API: attempt fencing, allowed status changes, the
job spec kept apart from the config, idempotent creation, and lost messages sent again."""

import time

import pytest

from lionlab.lifecycle import TRANSITIONS, Actor, RunStatus, allowed
from lionlab_server.db import begin_write, session_scope
from lionlab_server.services.dispatch import Dispatcher
from lionlab_server.store import lifecycle

JOB = {"task": "char_lm", "steps": 10, "optimizer": {"name": "adamw"}}


@pytest.fixture
def pid(api):
    return api.project()["id"]


def _job(api, pid) -> int:
    r = api.post("/runs", json={"project_id": pid, "job": JOB})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _requeue(app, run_id):
    time.sleep(0.25)
    with session_scope(app.state.sessionmaker) as session:
        begin_write(session)
        assert lifecycle.reap_lost(session, lost_after=0.2, max_attempts=5) == [run_id]


def _batch(api, run_id, steps, attempt=None):
    headers = {**api.headers}
    if attempt is not None:
        headers["X-LionLab-Attempt"] = str(attempt)
    body = {"steps": list(steps), "metrics": {"train_loss": [1.0] * len(steps)}}
    return api.post(f"/runs/{run_id}/metrics", json=body, headers=headers)


def test_a_stale_attempt_is_fenced_off_everywhere(api, app, pid):
    """A partitioned worker (attempt 1) whose run was requeued and claimed again (attempt 2)
    can no longer heartbeat, log or finish; the new attempt can."""
    rid = _job(api, pid)
    assert api.post(f"/runs/{rid}/claim", json={"worker": "w1"}).json()["attempts"] == 1
    assert _batch(api, rid, range(0, 5), attempt=1).status_code == 200
    _requeue(app, rid)
    assert api.post(f"/runs/{rid}/claim", json={"worker": "w2"}).json()["attempts"] == 2
    old = {"worker": "w1", "attempt": 1}
    assert api.post(f"/runs/{rid}/heartbeat", json=old).status_code == 409
    late = _batch(api, rid, range(5, 10), attempt=1)
    assert late.status_code == 409 and "attempt" in late.json()["detail"][0]["msg"]
    assert api.post(f"/runs/{rid}/finish", json={**old, "status": "failed"}).status_code == 409
    # the same worker name on a new claim is no excuse: the attempt decides
    same_name = {"worker": "w2", "attempt": 1}
    assert api.post(f"/runs/{rid}/heartbeat", json=same_name).status_code == 409

    assert _batch(api, rid, range(5, 8), attempt=2).status_code == 200
    (summary,) = api.get(f"/runs/{rid}/metrics").json()
    assert summary["count"] == 8 and summary["last_step"] == 7  # nothing of the late batch
    done = api.post(
        f"/runs/{rid}/finish", json={"worker": "w2", "attempt": 2, "status": "succeeded"}
    )
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
    assert _batch(api, rid, [8], attempt=2).status_code == 409  # ended: no more writes


def test_job_metrics_need_the_attempt_and_script_runs_refuse_one(api, pid):
    rid = _job(api, pid)
    assert _batch(api, rid, [0]).status_code == 409  # queued: nobody may write yet
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    assert _batch(api, rid, [0]).status_code == 409  # no header: not the worker
    bad = _batch(api, rid, [0], attempt="x")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == [
        "header",
        "x-lionlab-attempt",
    ]
    script = api.run(pid)["id"]
    assert _batch(api, script, [0]).status_code == 200
    assert _batch(api, script, [1], attempt=1).status_code == 422


@pytest.mark.parametrize(
    "path",
    [("running", "lost"), ("running", "queued"), ("succeeded", "running")],
)
def test_a_script_run_moves_only_along_its_transitions(api, pid, path):
    run = api.run(pid)
    for status in path:
        r = api.patch(f"/runs/{run['id']}", json={"status": status})
        ok = allowed(False, RunStatus(run["status"]), RunStatus(status), Actor.USER)
        assert r.status_code == (200 if ok else 409), (status, r.text)
        run = api.get(f"/runs/{run['id']}").json()
    assert run["status"] == ("succeeded" if path[0] == "succeeded" else "running")


def test_a_script_ends_its_run_with_an_error(api, pid):
    rid = api.run(pid)["id"]
    r = api.patch(f"/runs/{rid}", json={"status": "failed", "error": "OOM at step 7"})
    assert r.status_code == 200
    assert r.json()["status"] == "failed" and r.json()["error"] == "OOM at step 7"
    assert r.json()["finished_at"]
    lone = api.patch(f"/runs/{api.run(pid)['id']}", json={"error": "x"})
    assert lone.status_code == 422 and lone.json()["detail"][0]["loc"] == ["body", "error"]


def test_a_jobs_status_cannot_be_patched_and_its_spec_survives_a_new_config(api, pid):
    """Regression: PATCH could move a job to any status (a job set back to queued was never
    dispatched again), and replacing the config erased the job spec."""
    rid = _job(api, pid)
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    for status in ("lost", "queued", "succeeded", "running"):
        r = api.patch(f"/runs/{rid}", json={"status": status})
        assert r.status_code == 409 and "is a job" in r.json()["detail"][0]["msg"], r.text
    r = api.patch(f"/runs/{rid}", json={"config": {"note": "baseline"}, "name": "renamed"})
    assert r.status_code == 200
    run = r.json()
    assert run["status"] == "running" and run["config"] == {"note": "baseline"}
    assert run["job"]["optimizer"]["name"] == "adamw" and run["name"] == "renamed"


def test_a_failed_status_change_changes_nothing_else(api, pid):
    rid = _job(api, pid)
    r = api.patch(f"/runs/{rid}", json={"status": "succeeded", "name": "should-not-stick"})
    assert r.status_code == 409
    assert api.get(f"/runs/{rid}").json()["name"] != "should-not-stick"


def test_the_lifecycle_is_served_to_clients_and_the_dashboard(api, client_raw):
    body = api.get("/lifecycle").json()
    assert [s["name"] for s in body["statuses"]] == sorted(
        (s.value for s in RunStatus), key=[s["name"] for s in body["statuses"]].index
    )
    assert {s["name"] for s in body["statuses"]} == {s.value for s in RunStatus}
    assert len(body["transitions"]) == len(TRANSITIONS)
    module = client_raw.get("/lifecycle.js")
    assert module.status_code == 200 and module.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "export const LIFECYCLE" in module.text and '"stopped_early"' in module.text


@pytest.fixture
def client_raw(api):
    return api.client


def test_a_client_key_creates_a_run_once(api, pid):
    body = {"project_id": pid, "name": "offline-1", "client_key": "host-42-0001"}
    first = api.post("/runs", json=body)
    again = api.post("/runs", json={**body, "name": "other"})
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["id"] == first.json()["id"] and again.json()["name"] == "offline-1"
    other = api.post("/runs", json={**body, "project_id": api.project("second")["id"]})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    bad = api.post("/runs", json={**body, "client_key": "has space"})
    assert bad.status_code == 422


def _take_message(dispatcher: Dispatcher, queue: str) -> list:
    """Consume one message as a worker that dies before claiming would: it leaves the queue."""
    with dispatcher.celery.connection_for_write() as conn:
        simple = conn.SimpleQueue(queue)
        message = simple.get(timeout=10)
        message.ack()
        simple.close()
        return message.payload[0]  # Celery's protocol 2 body: (args, kwargs, embed)


def test_a_message_taken_but_never_claimed_is_sent_again(api, app, settings, pid):
    dispatcher = Dispatcher(settings.model_copy(update={"lost_after": 0.3}), app.state.sessionmaker)
    rid = _job(api, pid)
    waiting = _job(api, pid)
    assert dispatcher.queue_sizes()["gpu"] == 2
    time.sleep(0.4)
    dispatcher.reap()
    assert dispatcher.queue_sizes()["gpu"] == 2  # both still in the queue: nothing resent

    assert _take_message(dispatcher, "gpu") == [rid]  # FIFO: the older job's message
    assert dispatcher.queue_sizes()["gpu"] == 1
    dispatcher.reap()  # dispatched 0.4 s ago, over LOST_AFTER, and gone from the queue
    assert dispatcher.queue_sizes()["gpu"] == 2
    assert _take_message(dispatcher, "gpu") == [waiting]
    assert _take_message(dispatcher, "gpu") == [rid]  # the resent one

    for run_id in (rid, waiting):
        api.post(f"/runs/{run_id}/claim", json={"worker": "w"})
        end = {"worker": "w", "attempt": 1, "status": "succeeded"}
        assert api.post(f"/runs/{run_id}/finish", json=end).status_code == 200
    time.sleep(0.4)
    dispatcher.reap()
    assert dispatcher.queue_sizes()["gpu"] == 0  # claimed runs are never resent


def test_a_restarted_servers_reaper_gives_workers_lost_after_to_be_heard(api, app, settings, pid):
    """While the server was down no worker could heartbeat; a reaper that started just now
    must not take every running job for lost, only those still silent after LOST_AFTER."""
    from lionlab_server.services.dispatch import Reaper

    rid = _job(api, pid)
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    time.sleep(1.1)  # its heartbeat is now older than LOST_AFTER (1 s)
    reaper = Reaper(
        Dispatcher(settings.model_copy(update={"lost_after": 1.0}), app.state.sessionmaker)
    )
    reaper.start()
    try:
        time.sleep(0.7)  # one round (every 0.5 s) inside the grace period
        assert api.get(f"/runs/{rid}").json()["status"] == "running"
        deadline = time.monotonic() + 15
        while api.get(f"/runs/{rid}").json()["status"] == "running":
            assert time.monotonic() < deadline, "still silent after the grace: must be requeued"
            time.sleep(0.1)
        assert api.get(f"/runs/{rid}").json()["status"] == "queued"
    finally:
        reaper.stopped.set()
        reaper.join()
