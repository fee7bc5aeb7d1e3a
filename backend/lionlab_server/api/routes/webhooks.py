"""/api/v1 webhooks: a project's alert endpoints, a test send, and each one's delivery log.

Every route passes through `_managed_project`, the one permission check here: today any
token that may write to the project (an admin token, or that project's token); objects of
projects outside it answer 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from lionlab_server import schemas
from lionlab_server.api.access import OWNER, Needs
from lionlab_server.api.deps import SessionDep, WriteSessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.queries import Paging, paging
from lionlab_server.api.validation import IdPath, WebhookUrl
from lionlab_server.services import webhooks
from lionlab_server.services.webhooks import SUBSCRIBABLE
from lionlab_server.store import audit
from lionlab_server.store import webhooks as store

router = APIRouter(tags=["webhooks"])

SubscribableEvent = Literal[tuple(e.value for e in SUBSCRIBABLE)]  # type: ignore[valid-type]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://hooks.example.com/lionlab",
                    "events": ["flag.divergence", "run.failed", "sweep.finished"],
                    "format": "json",
                }
            ]
        }
    )

    url: WebhookUrl
    events: list[SubscribableEvent] = Field(min_length=1, description="Events it is sent.")
    format: Literal["json", "slack"] = Field(
        default="json",
        description='"json": the event as JSON, signed; "slack": {"text": one line} for '
        "Slack-compatible incoming webhooks (signed too).",
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    project_id: int
    url: str
    events: list[str]
    format: str
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (X-LionLab-Signature: sha256=<HMAC-SHA256 of the "
        "body>); shown once, store it now."
    )


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    webhook_id: int
    event: str
    payload: dict[str, Any]
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[dict[str, Any]] = Field(
        description="One entry per send: attempt, at, status_code (null: no answer), error."
    )
    created_at: datetime
    delivered_at: datetime | None


ManageProject = Needs(OWNER, "project")  # webhooks are the project owners'
ManageWebhook = Needs(OWNER, "webhook")


@router.post(
    "/projects/{project_id}/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses=responses(400, 404),
)
def create_webhook(
    project_id: IdPath, data: WebhookCreate, session: WriteSessionDep, access: ManageProject
):
    """Send the project's chosen events to `url`; the answer holds the signing secret."""
    events = list(dict.fromkeys(data.events))
    secret, hook = store.add_webhook(session, project_id, data.url, events, data.format)
    audit.record(
        session,
        access.scope,
        "webhook.created",
        "webhook",
        hook.id,
        project_id,
        {"host": urlsplit(data.url).hostname},
    )
    return WebhookCreated(secret=secret, **WebhookOut.model_validate(hook).model_dump())


@router.get(
    "/projects/{project_id}/webhooks", response_model=list[WebhookOut], responses=responses(404)
)
def list_webhooks(project_id: IdPath, session: SessionDep, _: ManageProject):
    return store.list_webhooks(session, project_id)


@router.delete("/webhooks/{webhook_id}", status_code=204, responses=responses(404))
def delete_webhook(webhook_id: IdPath, session: WriteSessionDep, access: ManageWebhook):
    """Delete the webhook and its delivery log; nothing more is sent to it."""
    hook = store.get_webhook(session, access.scope, webhook_id)
    store.delete_webhook(session, access.scope, webhook_id)
    audit.record(
        session,
        access.scope,
        "webhook.deleted",
        "webhook",
        webhook_id,
        hook.project_id,
        {"host": urlsplit(hook.url).hostname},
    )
    return Response(status_code=204)


@router.post(
    "/webhooks/{webhook_id}/test",
    status_code=202,
    response_model=DeliveryOut,
    responses=responses(404),
)
def test_webhook(webhook_id: IdPath, session: WriteSessionDep, access: ManageWebhook):
    """Queue a `ping` delivery (sent within a second or so); follow it in the delivery log."""
    return webhooks.ping(session, store.get_webhook(session, access.scope, webhook_id))


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    response_model=schemas.Page[DeliveryOut],
    responses=responses(404),
)
def list_deliveries(
    webhook_id: IdPath,
    session: SessionDep,
    _: ManageWebhook,
    page: Annotated[Paging, paging(50, 500)],
):
    """The webhook's deliveries, newest first, with each attempt's status code."""
    items, total = store.list_deliveries(session, webhook_id, page.limit, page.offset)
    return schemas.Page[DeliveryOut](
        items=[DeliveryOut.model_validate(i) for i in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
    )
