"""Alerts by webhook: events written with the change that causes them, delivered by the
server's thread to a real HTTP receiver, signed, retried after 5xx, logged with status codes."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from lionlab.settings import Settings
from lionlab_server.db import begin_write, session_scope
from lionlab_server.models import WebhookDelivery, utcnow
from lionlab_server.schemas import ProjectCreate
from lionlab_server.services.dispatch import Dispatcher
from lionlab_server.services.webhooks import outcome
from lionlab_server.store import projects
from lionlab_server.store import webhooks as store

PUBLIC = "http://lionlab.example"
JOB = {"task": "char_lm", "steps": 10, "optimizer": {"name": "adamw"}}


@pytest.fixture
def settings(db_url, tmp_path) -> Settings:
    # retries within a fraction of a second, so a test sees all five attempts
    return Settings(
        database_url=db_url,
        data_dir=tmp_path / "data",
        public_url=PUBLIC,
        webhook_retry_delays=[0.05, 0.05, 0.05, 0.05],
        webhook_poll_interval=0.05,
        webhook_timeout=5,
    )


class Receiver:
    """A local HTTP endpoint answering each POST with the next scripted status (then 200)."""

    def __init__(self, answers: list[int] | None = None):
        self.answers = list(answers or [])
        self.requests: list[tuple[dict, bytes]] = []
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    code = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.lock.notify_all()
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 30.0) -> list[tuple[dict, bytes]]:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.requests) >= n, timeout), self.requests
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def hook(api, project_id: int, url: str, events: list[str], fmt: str = "json", **kw) -> dict:
    r = api.post(
        f"/projects/{project_id}/webhooks",
        json={"url": url, "events": events, "format": fmt},
        **kw,
    )
    assert r.status_code == 201, r.text
    return r.json()


def deliveries(api, webhook_id: int) -> list[dict]:
    r = api.get(f"/webhooks/{webhook_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()["items"]


def settled(api, webhook_id: int, n: int = 1, timeout: float = 30.0) -> list[dict]:
    """The webhook's deliveries once `n` exist and none is pending any more."""
    deadline = time.monotonic() + timeout
    while True:
        items = deliveries(api, webhook_id)
        if len(items) >= n and all(d["status"] != "pending" for d in items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.05)


def signed(secret: str, headers: dict, body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["X-LionLab-Signature"], expected)


def outbox_rows(app) -> int:
    with session_scope(app.state.sessionmaker) as session:
        return session.scalar(select(func.count()).select_from(WebhookDelivery))


def test_a_test_ping_arrives_signed_with_its_event(api, receiver):
    project = api.project()
    h = hook(api, project["id"], receiver.url, ["run.failed"])
    assert h["secret"].startswith("whsec_") and h["events"] == ["run.failed"]
    assert api.post(f"/webhooks/{h['id']}/test").status_code == 202
    ((headers, body),) = receiver.wait_for(1)
    assert signed(h["secret"], headers, body)
    assert not signed("whsec_other", headers, body)
    assert headers["X-LionLab-Event"] == "ping"
    sent = json.loads(body)
    assert sent["event"] == "ping" and sent["project"] == {"id": project["id"], "name": "demo"}
    assert sent["webhook"] == {"id": h["id"]} and sent["sent_at"]
    (d,) = settled(api, h["id"])
    assert sent["delivery"] == d["id"] and headers["X-LionLab-Delivery"] == str(d["id"])
    assert d["status"] == "delivered" and d["last_status_code"] == 200 and d["delivered_at"]


def test_a_nan_loss_batch_sends_exactly_one_divergence_alert(api, app, receiver):
    pid = api.project()["id"]
    h = hook(api, pid, receiver.url, ["flag.divergence", "flag.grad_norm_drift"])
    run = api.run(pid, name="lion-3e-4")["id"]
    batch = ([1, 2, 3], {"train_loss": [2.0, 1.9, math.nan], "grad_norm": [1.0, 1.0, 1.0]})
    assert [f["kind"] for f in api.log(run, *batch)["flags"]] == ["divergence"]
    api.log(run, *batch)  # re-sent: no new flag, no new alert
    api.log(run, [4, 5], {"train_loss": [1.8, 1.7]})
    ((headers, body),) = receiver.wait_for(1)
    sent = json.loads(body)
    assert signed(h["secret"], headers, body) and headers["X-LionLab-Event"] == "flag.divergence"
    assert sent["event"] == "flag.divergence"
    assert sent["run"]["id"] == run and sent["run"]["name"] == "lion-3e-4"
    assert sent["run"]["url"] == f"{PUBLIC}/runs/{run}"
    assert sent["flag"]["kind"] == "divergence" and sent["flag"]["step"] == 3
    assert len(settled(api, h["id"])) == 1 and outbox_rows(app) == 1


def test_a_run_ended_failed_sends_one_slack_text(api, receiver):
    pid = api.project("vision")["id"]
    h = hook(api, pid, receiver.url, ["run.failed", "run.diverged"], fmt="slack")
    run = api.run(pid, name="adamw-base")["id"]
    other = api.run(pid, name="fine")["id"]
    r = api.patch(f"/runs/{run}", json={"status": "failed", "error": "Traceback\nOOM on cuda:0"})
    assert r.status_code == 200, r.text
    assert api.patch(f"/runs/{other}", json={"status": "succeeded"}).status_code == 200
    ((headers, body),) = receiver.wait_for(1)
    assert signed(h["secret"], headers, body) and headers["X-LionLab-Event"] == "run.failed"
    text = json.loads(body)["text"]
    assert (
        text == f"[vision] run {run} 'adamw-base' ended failed: OOM on cuda:0 {PUBLIC}/runs/{run}"
    )
    (d,) = settled(api, h["id"])
    assert d["event"] == "run.failed" and d["payload"]["run"]["status"] == "failed"


def test_a_receiver_failing_twice_gets_the_delivery_on_the_third_attempt(api, app):
    receiver = Receiver([500, 503])
    try:
        pid = api.project()["id"]
        h = hook(api, pid, receiver.url, ["run.failed"])
        run = api.run(pid)["id"]
        api.patch(f"/runs/{run}", json={"status": "failed"})
        sent = receiver.wait_for(3)
        assert all(json.loads(b)["run"]["id"] == run for _, b in sent)
        assert len({h["X-LionLab-Delivery"] for h, _ in sent}) == 1  # one delivery, resent
        (d,) = settled(api, h["id"])
    finally:
        receiver.close()
    assert d["status"] == "delivered" and d["attempts"] == 3
    assert [a["status_code"] for a in d["attempt_log"]] == [500, 503, 200]
    assert d["last_status_code"] == 200 and d["last_error"] is None
    assert len(sent) == 3 and outbox_rows(app) == 1


def test_a_4xx_fails_at_once_and_an_unreachable_receiver_after_every_attempt(api):
    pid = api.project()["id"]
    refusing = Receiver([404])
    try:
        gone = hook(api, pid, refusing.url, ["run.failed"])
        api.post(f"/webhooks/{gone['id']}/test")
        (d,) = settled(api, gone["id"])
        assert d["status"] == "failed" and d["attempts"] == 1 and d["last_status_code"] == 404
        assert len(refusing.requests) == 1
        closed = refusing.url
    finally:
        refusing.close()
    down = hook(api, pid, closed, ["run.failed"])  # nothing listens there any more
    api.post(f"/webhooks/{down['id']}/test")
    (d,) = settled(api, down["id"])
    assert d["status"] == "failed" and d["attempts"] == 5
    assert [a["status_code"] for a in d["attempt_log"]] == [None] * 5
    assert "Connect" in d["last_error"]


def test_a_lost_run_and_a_finished_sweep_are_events(api, app, settings, receiver):
    pid = api.project()["id"]
    hook(api, pid, receiver.url, ["run.lost", "sweep.finished"])
    rid = api.post("/runs", json={"project_id": pid, "job": JOB}).json()["id"]
    api.post(f"/runs/{rid}/claim", json={"worker": "w"})
    time.sleep(0.3)
    quick = settings.model_copy(update={"lost_after": 0.2, "max_attempts": 1})
    reaper = Dispatcher(quick, app.state.sessionmaker)
    assert reaper._requeue_lost() == [rid]
    spec = {
        "name": "tiny",
        "base": {"task": "char_lm", "steps": 20, "eval_interval": 10},
        "optimizers": ["adamw", "lion"],
        "space": {"adamw": {"optimizer.lr": [1e-3]}},
        "paired": {"factors": [3]},
    }
    sweep = api.post("/sweeps", json={"project_id": pid, "spec": spec}).json()
    while queued := [
        t for t in api.get(f"/sweeps/{sweep['id']}").json()["trials"] if t["status"] == "queued"
    ]:
        finish_trial(api, queued[0]["run_id"])
    sent = [json.loads(b) for _, b in receiver.wait_for(2)]
    assert [s["event"] for s in sent] == ["run.lost", "sweep.finished"]
    assert sent[0]["run"]["id"] == rid and sent[0]["run"]["status"] == "lost"
    verdict = api.get(f"/sweeps/{sweep['id']}/analysis").json()["verdict"]
    assert sent[1]["sweep"]["id"] == sweep["id"] and sent[1]["sweep"]["status"] == "finished"
    assert sent[1]["verdict"]["text"] == verdict["text"] and verdict["text"]


def finish_trial(api, run: int) -> None:
    """Claim, log and finish a trial's run, as its worker would."""
    attempt = api.post(f"/runs/{run}/claim", json={"worker": "w"}).json()["attempts"]
    losses = {"eval_loss": [2.0, 1.5], "train_loss": [2.0, 1.5]}
    api.log(run, [10, 20], losses, attempt=attempt)
    r = api.post(
        f"/runs/{run}/finish", json={"worker": "w", "attempt": attempt, "status": "succeeded"}
    )
    assert r.status_code == 200, r.text


def test_a_project_without_webhooks_writes_no_delivery_rows(api, app, receiver):
    quiet, loud = api.project("quiet")["id"], api.project("loud")["id"]
    hook(api, loud, receiver.url, ["flag.divergence", "run.failed"])
    run = api.run(quiet)["id"]
    assert api.log(run, [1, 2], {"train_loss": [1.0, math.nan]})["flags"]
    api.patch(f"/runs/{run}", json={"status": "failed"})
    assert outbox_rows(app) == 0 and receiver.requests == []


def test_webhooks_are_managed_within_the_tokens_project(api):
    mine, theirs = api.project("mine")["id"], api.project("theirs")["id"]
    token = api.post("/tokens", json={"name": "ci", "project_id": mine}).json()["token"]
    as_mine = {"Authorization": f"Bearer {token}"}
    own = hook(api, mine, "https://hooks.example.com/a", ["run.failed"], headers=as_mine)
    other = hook(api, theirs, "https://hooks.example.com/b", ["run.failed"])
    listed = api.get(f"/projects/{mine}/webhooks", headers=as_mine).json()
    assert [w["id"] for w in listed] == [own["id"]] and "secret" not in listed[0]
    for method, path in [
        ("get", f"/projects/{theirs}/webhooks"),
        ("post", f"/projects/{theirs}/webhooks"),
        ("get", f"/webhooks/{other['id']}/deliveries"),
        ("post", f"/webhooks/{other['id']}/test"),
        ("delete", f"/webhooks/{other['id']}"),
    ]:
        body = {"json": {"url": "https://x.example", "events": ["run.failed"]}}
        r = api.client.request(method, f"/api/v1{path}", headers=as_mine, **body)
        assert r.status_code == 404, (method, path, r.text)
    assert api.client.delete(f"/api/v1/webhooks/{own['id']}", headers=as_mine).status_code == 204
    assert api.get(f"/projects/{mine}/webhooks").json() == []
    assert api.get(f"/webhooks/{own['id']}/deliveries").status_code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "ftp://hooks.example.com/x", "events": ["run.failed"]}, "url"),
        ({"url": "javascript:alert(1)", "events": ["run.failed"]}, "url"),
        ({"url": "https://", "events": ["run.failed"]}, "url"),
        ({"url": "https://ex ample.com", "events": ["run.failed"]}, "url"),
        ({"url": "https://example.com/" + "x" * 2000, "events": ["run.failed"]}, "url"),
        ({"url": "https://example.com", "events": []}, "events"),
        ({"url": "https://example.com", "events": ["ping"]}, "events"),
        ({"url": "https://example.com", "events": ["run.failed"], "format": "xml"}, "format"),
    ],
)
def test_invalid_webhooks_are_422_naming_the_field_and_store_nothing(api, body, field):
    pid = api.project()["id"]
    r = api.post(f"/projects/{pid}/webhooks", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] == ["body", field]
    assert api.get(f"/projects/{pid}/webhooks").json() == []


def test_a_claimed_delivery_is_sent_by_one_process_and_recorded_once(app, db_url):
    sessions = app.state.sessionmaker
    with session_scope(sessions) as session:
        begin_write(session)
        pid = projects.create_project(session, ProjectCreate(name="p")).id
        _, h = store.add_webhook(session, pid, "https://example.com", ["run.failed"], "json")
        (did,) = store.add_deliveries(session, [h.id], "run.failed", {"event": "run.failed"})
    now = utcnow()
    with session_scope(sessions) as session:
        begin_write(session)
        (first,) = store.claim_due(session, now, lease_s=60, limit=10)
    with session_scope(sessions) as session:
        begin_write(session)
        assert store.claim_due(session, now, lease_s=60, limit=10) == []  # leased
    assert first.attempt == 1 and first.url == "https://example.com"
    later = now + timedelta(seconds=61)
    with session_scope(sessions) as session:
        begin_write(session)  # the lease ran out (the first sender died): due again
        (second,) = store.claim_due(session, later, lease_s=60, limit=10)
    assert second.attempt == 2
    with session_scope(sessions) as session:
        begin_write(session)
        # the first sender's late answer no longer counts; the current attempt's does
        assert not store.record_attempt(session, did, 1, "delivered", 200, None, None)
        assert store.record_attempt(session, did, 2, "failed", 410, "HTTP 410: gone", None)
    with session_scope(sessions) as session:
        d = store.get_delivery(session, did)
    assert d.status == "failed" and [a["status_code"] for a in d.attempt_log] == [410]


# SQLite has one writer at a time (a second sender waits for the first): Postgres only.
@pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_senders_on_postgres_claim_different_deliveries_without_waiting(app, db_url):
    sessions = app.state.sessionmaker
    with session_scope(sessions) as session:
        pid = projects.create_project(session, ProjectCreate(name="p")).id
        _, h = store.add_webhook(session, pid, "https://example.com", ["run.failed"], "json")
        ids = store.add_deliveries(session, [h.id] * 3, "run.failed", {"event": "run.failed"})
    now = utcnow()
    with session_scope(sessions) as first, session_scope(sessions) as second:
        a = store.claim_due(first, now, lease_s=60, limit=2)  # its rows stay locked
        b = store.claim_due(second, now, lease_s=60, limit=10)  # skips them, does not wait
    assert [d.id for d in a] == ids[:2] and [d.id for d in b] == ids[2:]


def test_backoff_retries_transient_answers_only_while_delays_last():
    delays = [10.0, 30.0, 90.0, 270.0]
    assert outcome(204, 1, delays) == ("delivered", None)
    assert outcome(500, 1, delays) == ("pending", 10.0)
    assert outcome(None, 2, delays) == ("pending", 30.0)  # no answer: timeout, refused
    assert outcome(429, 3, delays, retry_after=120) == ("pending", 120.0)
    assert outcome(503, 4, delays, retry_after=10_000) == ("pending", 270.0)
    assert outcome(502, 5, delays) == ("failed", None)  # the fifth attempt was the last
    for code in (301, 400, 401, 404, 410):
        assert outcome(code, 1, delays) == ("failed", None)
