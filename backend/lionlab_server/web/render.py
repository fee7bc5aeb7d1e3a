"""Filling a page shell: the template with the caller's scope, or the 404 page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from lionlab_server.errors import NotFound
from lionlab_server.store import projects
from lionlab_server.store.scope import Scope
from lionlab_server.web.paths import templates


def render(request: Request, scope: Scope, template: str, **context: Any) -> Response:
    context = {"scope": scope, "active": "", **context}
    return templates.TemplateResponse(request, template, context)


def not_found(request: Request, scope: Scope, error: NotFound) -> Response:
    context = {"scope": scope, "active": "", "what": error.what, "ident": error.ident}
    return templates.TemplateResponse(request, "not_found.html", context, status_code=404)


def render_found(
    request: Request, scope: Scope, template: str, find: Callable[[], dict[str, Any]]
) -> Response:
    """`template` with the context `find` reads, or the 404 page naming what it did not find."""
    try:
        context = find()
    except NotFound as error:
        return not_found(request, scope, error)
    return render(request, scope, template, active="projects", **context)


def project_page(
    request: Request, session: Session, scope: Scope, project_id: int, template: str, **extra: Any
) -> Response:
    """A page of one project (its runs, the job form, its sweeps), or the 404 page."""

    def find() -> dict[str, Any]:
        return {"project": projects.get_project(session, scope, project_id), **extra}

    return render_found(request, scope, template, find)
