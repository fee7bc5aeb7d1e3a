"""Alerts by webhook: which changes are events, the body each sends, and the server thread
that delivers them (signed, retried with backoff).

The hooks (`flags_raised`, `run_ended`, `sweep_finished`) run in the transaction of the change
they report and only write outbox rows (`store/webhooks.py`); a project without a webhook for
the event costs one indexed lookup, and only when the event happens (a batch that raises no
flag does not look). The `Deliverer` thread sends due rows outside any transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import httpx
from sqlalchemy.orm import Session, sessionmaker

from lionlab.detect.flags import DIVERGENCE, GRAD_NORM_DRIFT
from lionlab.lifecycle import RunStatus
from lionlab.settings import Settings
from lionlab_server.db import begin_write, session_scope
from lionlab_server.models import Run, Sweep, utcnow
from lionlab_server.services.sweep_report import sweep_report
from lionlab_server.store import projects
from lionlab_server.store import webhooks as store
from lionlab_server.store.scope import SERVER

log = logging.getLogger("lionlab.webhooks")

SIGNATURE_HEADER = "X-LionLab-Signature"
EVENT_HEADER = "X-LionLab-Event"
DELIVERY_HEADER = "X-LionLab-Delivery"  # the same on every attempt: receivers dedupe by it
SEND_BATCH = 8  # deliveries claimed, and sent concurrently, per round
MAX_ERROR_CHARS = 500  # of a run's error in a body, of a receiver's answer in the log


class Event(StrEnum):
    FLAG_DIVERGENCE = "flag.divergence"
    FLAG_GRAD_NORM_DRIFT = "flag.grad_norm_drift"
    RUN_FAILED = "run.failed"
    RUN_DIVERGED = "run.diverged"
    RUN_LOST = "run.lost"
    SWEEP_FINISHED = "sweep.finished"
    PING = "ping"  # sent only by POST /webhooks/{id}/test


FLAG_EVENTS = {DIVERGENCE: Event.FLAG_DIVERGENCE, GRAD_NORM_DRIFT: Event.FLAG_GRAD_NORM_DRIFT}
RUN_EVENTS = {
    RunStatus.FAILED.value: Event.RUN_FAILED,
    RunStatus.DIVERGED.value: Event.RUN_DIVERGED,
    RunStatus.LOST.value: Event.RUN_LOST,
}
SUBSCRIBABLE = [e for e in Event if e is not Event.PING]


# --- the hooks: outbox rows in the caller's transaction ------------------------------------


def _project(session: Session, project_id: int) -> dict[str, Any]:
    p = projects.get_project(session, SERVER, project_id)
    return {"id": p.id, "name": p.name}


def _run(run: Run) -> dict[str, Any]:
    error = run.error[-MAX_ERROR_CHARS:] if run.error else None  # a traceback's end says most
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "optimizer": run.optimizer,
        "sweep_id": run.sweep_id,
        "error": error,
        "url": f"/runs/{run.id}",  # made absolute when sent (Settings.public_url)
    }


def _queue(session: Session, project_id: int, events: list[tuple[Event, dict[str, Any]]]) -> None:
    """Write a delivery of each (event, body) for every webhook of the project that wants it."""
    subscribed = store.subscriptions(session, project_id)
    project = None
    for event, body in events:
        hooks = [h for h, wanted in subscribed.items() if event.value in wanted]
        if hooks:
            project = project or _project(session, project_id)
            payload = {"event": event.value, "project": project, **body}
            store.add_deliveries(session, hooks, event.value, payload)


def flags_raised(session: Session, run: Run, flags: list[dict]) -> None:
    """New detector flags on `run`: a divergence or grad-norm drift is an event."""
    events = [
        (FLAG_EVENTS[f["kind"]], {"run": _run(run), "flag": dict(f)})
        for f in flags
        if f["kind"] in FLAG_EVENTS
    ]
    if events:
        _queue(session, run.project_id, events)


def run_ended(session: Session, run: Run) -> None:
    """`run` ended in this transaction: failed, diverged and lost are events."""
    event = RUN_EVENTS.get(run.status)
    if event is not None:
        _queue(session, run.project_id, [(event, {"run": _run(run)})])


def sweep_finished(session: Session, sweep: Sweep) -> None:
    """Every trial of `sweep` has ended: the event carries the sweep's verdict."""
    subscribed = store.subscriptions(session, sweep.project_id)
    if not any(Event.SWEEP_FINISHED.value in wanted for wanted in subscribed.values()):
        return  # the report reads every trial's losses: only when someone listens
    verdict = sweep_report(session, SERVER, sweep.id).analysis.verdict
    body = {
        "sweep": {
            "id": sweep.id,
            "name": sweep.name,
            "status": sweep.status,
            "trials": len(sweep.trials),
            "url": f"/sweeps/{sweep.id}",
        },
        "verdict": None if verdict is None else verdict.to_dict(),
    }
    _queue(session, sweep.project_id, [(Event.SWEEP_FINISHED, body)])


def ping(session: Session, webhook: store.WebhookInfo) -> store.DeliveryInfo:
    """Queue a test delivery to `webhook`, whatever events it wants."""
    payload = {
        "event": Event.PING.value,
        "project": _project(session, webhook.project_id),
        "webhook": {"id": webhook.id},
    }
    (delivery_id,) = store.add_deliveries(session, [webhook.id], Event.PING.value, payload)
    return store.get_delivery(session, delivery_id)


# --- bodies, signatures and outcomes (pure) -------------------------------------------------


def signature(secret: str, body: bytes) -> str:
    """The X-LionLab-Signature value: HMAC-SHA256 of the raw body with the webhook's secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _absolute(payload: dict[str, Any], base: str) -> dict[str, Any]:
    out = dict(payload)
    for key in ("run", "sweep"):
        if isinstance(out.get(key), dict) and "url" in out[key]:
            out[key] = {**out[key], "url": base + out[key]["url"]}
    return out


def summary(payload: dict[str, Any]) -> str:
    """The one-line text of a delivery (the "slack" format's body)."""
    project = payload["project"]["name"]
    event = payload["event"]
    run, sweep = payload.get("run"), payload.get("sweep")
    if event == Event.PING:
        return f"[{project}] LionLab test delivery for webhook {payload['webhook']['id']}"
    if sweep is not None:
        verdict = (payload.get("verdict") or {}).get("text") or "no verdict"
        name = f"sweep {sweep['id']} {sweep['name']!r}"
        return f"[{project}] {name} finished: {verdict} {sweep['url']}"
    flag = payload.get("flag")
    if flag is not None:
        what = f"{flag['kind']} at step {flag['step']} ({flag['severity']}): {flag['message']}"
    else:
        last_line = run["error"].strip().splitlines()[-1] if run["error"] else ""
        what = f"ended {run['status']}" + (f": {last_line}" if last_line else "")
    return f"[{project}] run {run['id']} {run['name']!r} {what} {run['url']}"


def request_body(
    payload: dict[str, Any], fmt: str, base: str, delivery_id: int, sent_at: datetime
) -> bytes:
    """The bytes sent: the event as JSON with its delivery id and `sent_at`, or Slack's
    {"text": ...}."""
    full = _absolute(payload, base)
    if fmt == "slack":
        return json.dumps({"text": summary(full)}).encode()
    return json.dumps({**full, "delivery": delivery_id, "sent_at": sent_at.isoformat()}).encode()


def outcome(
    status_code: int | None, attempt: int, delays: list[float], retry_after: float | None = None
) -> tuple[str, float | None]:
    """(delivery status, seconds to the next attempt) after attempt number `attempt`.
    2xx delivers; 429, 5xx and no answer (None) retry while delays last; any other fails."""
    if status_code is not None and 200 <= status_code < 300:
        return store.DELIVERED, None
    transient = status_code is None or status_code == 429 or status_code >= 500
    if not transient or attempt > len(delays):
        return store.FAILED, None
    delay = delays[attempt - 1]
    if retry_after is not None:  # the receiver's own wish, within the last delay
        delay = min(max(delay, retry_after), max(delays))
    return store.PENDING, delay


# --- sending ----------------------------------------------------------------------------------


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers.get("retry-after", ""))
    except ValueError:
        return None


class Deliverer(threading.Thread):
    """Background loop of the API server: send due deliveries, record each attempt.

    Several server processes may run it on one database: each claims its own rows (see
    `store/webhooks.py`), so a delivery is sent by one of them at a time."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        super().__init__(name="lionlab-webhooks", daemon=True)
        self.settings, self.sessions = settings, sessions
        self.base = (settings.public_url or settings.resolved_api_url).rstrip("/")
        self.lease_s = settings.webhook_timeout + 30.0
        self.stopped = threading.Event()
        self.client = httpx.Client(timeout=settings.webhook_timeout, follow_redirects=False)

    def run(self) -> None:
        with ThreadPoolExecutor(SEND_BATCH, thread_name_prefix="lionlab-webhook-send") as pool:
            while not self.stopped.wait(self.settings.webhook_poll_interval):
                try:
                    while self.deliver_due(pool) == SEND_BATCH and not self.stopped.is_set():
                        pass  # a full batch: more may be due
                except Exception:  # the database may be restarting: try again next round
                    log.exception("webhook delivery round failed")
        self.client.close()

    def deliver_due(self, pool: ThreadPoolExecutor | None = None) -> int:
        """Claim and send the due deliveries (up to one batch); returns how many were sent."""
        now = utcnow()
        with session_scope(self.sessions) as session:
            if not store.any_due(session, now):
                return 0
        with session_scope(self.sessions) as session:
            begin_write(session)
            due = store.claim_due(session, now, self.lease_s, SEND_BATCH)
        results = list(pool.map(self._send, due) if pool else map(self._send, due))
        with session_scope(self.sessions) as session:
            begin_write(session)
            for delivery, (code, error, retry_after) in zip(due, results, strict=True):
                status, delay = outcome(
                    code, delivery.attempt, self.settings.webhook_retry_delays, retry_after
                )
                retry_at = None if delay is None else utcnow() + timedelta(seconds=delay)
                store.record_attempt(
                    session, delivery.id, delivery.attempt, status, code, error, retry_at
                )
        return len(due)

    def _send(self, d: store.DueDelivery) -> tuple[int | None, str | None, float | None]:
        """(status code or None, error text or None, Retry-After seconds or None)."""
        body = request_body(d.payload, d.format, self.base, d.id, utcnow())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "LionLab-Webhooks",
            SIGNATURE_HEADER: signature(d.secret, body),
            EVENT_HEADER: d.event,
            DELIVERY_HEADER: str(d.id),
        }
        try:
            response = self.client.post(d.url, content=body, headers=headers)
        except httpx.HTTPError as exc:  # no answer: connection refused, timeout, bad TLS
            return None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS], None
        if response.is_success:
            return response.status_code, None, None
        error = f"HTTP {response.status_code}: {response.text[:MAX_ERROR_CHARS]}"
        return response.status_code, error, _retry_after(response)
