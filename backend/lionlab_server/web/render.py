"""Filling a page shell: the template with the caller (its scope, and its role on the page's
project), or the 404 / 403 page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from lionlab_server.api.access import Access, PageRefused
from lionlab_server.errors import NotFound
from lionlab_server.store import projects
from lionlab_server.store.scope import Role, Scope
from lionlab_server.web.paths import templates


def _caller(scope: Scope, role: Role | None) -> dict[str, Any]:
    """What every page shell knows of the caller: `scope` (signed in as, admin links) and
    `role` on the page's project (None off a project), which write controls check."""
    return {
        "scope": scope,
        "role": role,
        "can_edit": role is not None and role >= Role.EDITOR,
        "can_own": role is not None and role >= Role.OWNER,
    }


def editable_projects(scope: Scope) -> str:
    """The projects the caller may write to, for a page spanning projects (compare):
    "*" for every project, else their ids joined by commas."""
    if scope.admin and scope.sees_projects and scope.cap >= Role.EDITOR:
        return "*"
    return ",".join(str(p) for p in sorted(scope.roles) if (scope.role_on(p) or 0) >= Role.EDITOR)


def render(request: Request, access: Access, template: str, **context: Any) -> Response:
    context = {**_caller(access.caller, access.role), "active": "", **context}
    return templates.TemplateResponse(request, template, context)


def not_found(request: Request, scope: Scope, error: NotFound) -> Response:
    context = {**_caller(scope, None), "active": "", "what": error.what, "ident": error.ident}
    return templates.TemplateResponse(request, "not_found.html", context, status_code=404)


def refused(request: Request, exc: PageRefused) -> Response:
    """The exception handler of pages' authorization: the 404 page, or the 403 page."""
    if isinstance(exc.error, NotFound):
        return not_found(request, exc.caller, exc.error)
    context = {**_caller(exc.caller, None), "active": "", "message": str(exc.error)}
    return templates.TemplateResponse(request, "forbidden.html", context, status_code=403)


def render_found(
    request: Request, access: Access, template: str, find: Callable[[], dict[str, Any]]
) -> Response:
    """`template` with the context `find` reads, or the 404 page naming what it did not find."""
    try:
        context = find()
    except NotFound as error:
        return not_found(request, access.caller, error)
    return render(request, access, template, active="projects", **context)


def project_page(
    request: Request, session: Session, access: Access, project_id: int, template: str, **extra: Any
) -> Response:
    """A page of one project (its runs, the job form, its sweeps), or the 404 page."""

    def find() -> dict[str, Any]:
        return {"project": projects.get_project(session, access.scope, project_id), **extra}

    return render_found(request, access, template, find)
