"""The admins' status page: `lionlab doctor`'s checks as the running server sees them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lionlab_server.api.access import ADMIN, PageNeeds
from lionlab_server.services import health
from lionlab_server.web.paths import templates

router = APIRouter(include_in_schema=False)


@router.get("/status")
def status_page(request: Request, access: PageNeeds(ADMIN)) -> Response:
    """Server-rendered (no script fills it in); admins only (others get the 403 page)."""
    context = {"scope": access.caller, "role": access.role, "active": "status"}
    checks = health.server_status(request.app.state.settings, request.app.state.engine)
    context.update(checks=checks, summary=health.summary(checks))
    return templates.TemplateResponse(request, "status.html", context)
