"""Webhooks and their delivery outbox in SQL.

A delivery row is written in the transaction of the change it reports, so a rolled-back
change sends nothing and a committed one is sent even if the server dies right after. A
sending process claims due rows (picked with FOR UPDATE SKIP LOCKED on Postgres, so senders
never wait for each other) with one conditional UPDATE that moves `next_attempt_at` past a
lease and counts the attempt; the result is recorded only while the row is still at that
attempt, so a process whose lease ran out cannot overwrite a later send's outcome.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from lionlab_server.errors import NotFound
from lionlab_server.models import Webhook, WebhookDelivery, utcnow
from lionlab_server.store.scope import Scope

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True)
class WebhookInfo:
    id: int
    project_id: int
    url: str
    events: list[str]
    format: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class DeliveryInfo:
    id: int
    webhook_id: int
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None  # None once delivered or failed
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[dict[str, Any]]
    created_at: datetime
    delivered_at: datetime | None


@dataclass(frozen=True)
class DueDelivery:
    """A claimed send: the delivery, its attempt number and where and how to send it."""

    id: int
    attempt: int
    event: str
    payload: dict[str, Any]
    url: str
    secret: str
    format: str


def _info(row: Webhook) -> WebhookInfo:
    return WebhookInfo(
        row.id, row.project_id, row.url, list(row.events), row.format, row.active, row.created_at
    )


def _delivery(row: WebhookDelivery) -> DeliveryInfo:
    return DeliveryInfo(
        id=row.id,
        webhook_id=row.webhook_id,
        event=row.event,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at if row.status == PENDING else None,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        attempt_log=list(row.attempt_log),
        created_at=row.created_at,
        delivered_at=row.delivered_at,
    )


def add_webhook(
    session: Session, project_id: int, url: str, events: list[str], fmt: str
) -> tuple[str, WebhookInfo]:
    """Create a webhook; returns (its signing secret, shown once, and the webhook)."""
    secret = "whsec_" + secrets.token_hex(24)
    row = Webhook(project_id=project_id, url=url, events=events, secret=secret, format=fmt)
    session.add(row)
    session.flush()
    return secret, _info(row)


def _row(session: Session, scope: Scope, webhook_id: int) -> Webhook:
    row = session.get(Webhook, webhook_id)
    if row is None or not scope.allows(row.project_id):
        raise NotFound("webhook", webhook_id, "webhook_id")
    return row


def get_webhook(session: Session, scope: Scope, webhook_id: int) -> WebhookInfo:
    return _info(_row(session, scope, webhook_id))


def list_webhooks(session: Session, project_id: int) -> list[WebhookInfo]:
    rows = session.scalars(
        select(Webhook).where(Webhook.project_id == project_id).order_by(Webhook.id)
    )
    return [_info(r) for r in rows]


def delete_webhook(session: Session, scope: Scope, webhook_id: int) -> None:
    """Delete a webhook with its delivery log (unsent deliveries are dropped)."""
    _row(session, scope, webhook_id)
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
    session.execute(delete(Webhook).where(Webhook.id == webhook_id))


def subscriptions(session: Session, project_id: int) -> dict[int, frozenset[str]]:
    """The project's active webhooks and the events each wants (one indexed lookup)."""
    rows = session.execute(
        select(Webhook.id, Webhook.events).where(
            Webhook.project_id == project_id, Webhook.active.is_(True)
        )
    ).all()
    return {r.id: frozenset(r.events) for r in rows}


def add_deliveries(
    session: Session, webhook_ids: list[int], event: str, payload: dict[str, Any]
) -> list[int]:
    """Queue `payload` for each webhook, due now, in the caller's transaction."""
    rows = [
        WebhookDelivery(webhook_id=w, event=event, payload=payload, attempt_log=[])
        for w in webhook_ids
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def any_due(session: Session, now: datetime) -> bool:
    """Whether a pending delivery is due (a read, so an idle poll takes no write lock)."""
    query = select(WebhookDelivery.id).where(
        WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now
    )
    return session.execute(query.limit(1)).first() is not None


def claim_due(session: Session, now: datetime, lease_s: float, limit: int) -> list[DueDelivery]:
    """Take up to `limit` due deliveries for this process: each attempt counted and hidden
    from other senders until `lease_s` from now (then due again, should this one die)."""
    due = (WebhookDelivery.status == PENDING) & (WebhookDelivery.next_attempt_at <= now)
    # Picked and locked first, then updated: Postgres may run an IN (... SKIP LOCKED)
    # subquery again per row, past its LIMIT.
    picked = session.scalars(
        select(WebhookDelivery.id)
        .where(due)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # Postgres; SQLite writers are serialised
    ).all()
    if not picked:
        return []
    claimed = session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(picked), due)
        .values(
            next_attempt_at=now + timedelta(seconds=lease_s),
            attempts=WebhookDelivery.attempts + 1,
        )
        .returning(
            WebhookDelivery.id,
            WebhookDelivery.webhook_id,
            WebhookDelivery.attempts,
            WebhookDelivery.event,
            WebhookDelivery.payload,
        )
    ).all()
    if not claimed:
        return []
    hooks = {
        h.id: h
        for h in session.execute(
            select(Webhook.id, Webhook.url, Webhook.secret, Webhook.format).where(
                Webhook.id.in_({c.webhook_id for c in claimed})
            )
        )
    }
    return [
        DueDelivery(c.id, c.attempts, c.event, c.payload, *_target(hooks[c.webhook_id]))
        for c in sorted(claimed, key=lambda c: c.id)
    ]


def _target(hook) -> tuple[str, str, str]:
    return hook.url, hook.secret, hook.format


def record_attempt(
    session: Session,
    delivery_id: int,
    attempt: int,
    status: str,
    status_code: int | None,
    error: str | None,
    retry_at: datetime | None,
) -> bool:
    """Record one send's outcome (status: pending with `retry_at`, delivered or failed);
    False if another sender has claimed the delivery since (this outcome is dropped)."""
    row = session.execute(
        select(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.attempts == attempt,
            WebhookDelivery.status == PENDING,
        )
        .with_for_update()
    ).scalar_one_or_none()
    if row is None:
        return False
    now = utcnow()
    row.attempt_log = [
        *row.attempt_log,
        {"attempt": attempt, "at": now.isoformat(), "status_code": status_code, "error": error},
    ]
    row.status, row.last_status_code, row.last_error = status, status_code, error
    if retry_at is not None:
        row.next_attempt_at = retry_at
    if status == DELIVERED:
        row.delivered_at = now
    return True


def list_deliveries(
    session: Session, webhook_id: int, limit: int, offset: int
) -> tuple[list[DeliveryInfo], int]:
    """A webhook's deliveries, newest first, and how many it has."""
    where = WebhookDelivery.webhook_id == webhook_id
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(where))
    rows = session.scalars(
        select(WebhookDelivery)
        .where(where)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_delivery(r) for r in rows], total


def get_delivery(session: Session, delivery_id: int) -> DeliveryInfo:
    row = session.get(WebhookDelivery, delivery_id)
    if row is None:
        raise NotFound("delivery", delivery_id, "delivery_id")
    return _delivery(row)
