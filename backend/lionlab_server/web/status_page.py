"""The admins' status page: `lionlab doctor`'s checks as the running server sees them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lionlab_server.services import health
from lionlab_server.web.paths import templates
from lionlab_server.web.session import PageScopeDep

router = APIRouter(include_in_schema=False)


@router.get("/status")
def status_page(request: Request, scope: PageScopeDep) -> Response:
    """Server-rendered (no script fills it in). A project token gets 403, as from the
    admin-only API."""
    context = {"scope": scope, "active": "status"}
    if not scope.is_admin:
        context["forbidden"] = True
        return templates.TemplateResponse(request, "status.html", context, status_code=403)
    checks = health.server_status(request.app.state.settings, request.app.state.engine)
    context.update(checks=checks, summary=health.summary(checks))
    return templates.TemplateResponse(request, "status.html", context)
