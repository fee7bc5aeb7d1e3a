"""The audit log pages: a project's (`/projects/{id}/audit`) and every project's (`/audit`).

Server-rendered (no script fills them in; the template autoescapes every name and detail),
admins only for now, as `GET /api/v1/audit`; anyone else who may see the project gets 403.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lionlab_server.api.deps import SessionDep
from lionlab_server.api.validation import IdPath, Offset
from lionlab_server.errors import NotFound
from lionlab_server.store import audit, projects
from lionlab_server.store.audit import Event
from lionlab_server.web.paths import templates
from lionlab_server.web.render import not_found
from lionlab_server.web.session import PageScopeDep

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 100
# Where an event's object has a page; a deleted one keeps its row but loses its link.
_PAGES = {"run": "/runs/{}", "sweep": "/sweeps/{}", "project": "/projects/{}"}
_PAGES["comparison"] = "/compare?comparison={}"


def object_href(event: Event) -> str | None:
    """The page of the event's object, if it has one and is not what the event deleted."""
    page = _PAGES.get(event.object_kind)
    if page is None or event.action.endswith((".deleted", ".revoked", ".removed")):
        return None
    return page.format(event.object_id)


def _page(request: Request, session, scope, offset: int, project=None) -> Response:
    context = {"scope": scope, "active": "audit" if project is None else "projects"}
    context["project"] = project
    if not scope.is_admin:
        context["forbidden"] = True
        return templates.TemplateResponse(request, "audit.html", context, status_code=403)
    project_id = None if project is None else project.id
    events, total = audit.list_events(session, scope, project_id, limit=PAGE_SIZE, offset=offset)
    names = audit.project_names(session, {e.project_id for e in events} - {None})
    context.update(
        events=[(e, object_href(e)) for e in events],
        project_names=names,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
    )
    return templates.TemplateResponse(request, "audit.html", context)


@router.get("/audit")
def audit_page(
    request: Request, session: SessionDep, scope: PageScopeDep, offset: Offset = 0
) -> Response:
    return _page(request, session, scope, offset)


@router.get("/projects/{project_id}/audit")
def project_audit_page(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    scope: PageScopeDep,
    offset: Offset = 0,
) -> Response:
    try:
        project = projects.get_project(session, scope, project_id)
    except NotFound as error:
        return not_found(request, scope, error)
    return _page(request, session, scope, offset, project)
