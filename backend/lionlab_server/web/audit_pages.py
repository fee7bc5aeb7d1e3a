"""The audit log pages: a project's (`/projects/{id}/audit`) and every project's (`/audit`).

Server-rendered (no script fills them in; the template autoescapes every name and detail),
for a project's owners and for admins (every project's), as `GET /api/v1/audit`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lionlab_server.api.access import ADMIN, OWNER, Access, PageNeeds
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.validation import IdPath, Offset
from lionlab_server.store import audit, projects
from lionlab_server.store.audit import Event
from lionlab_server.web.paths import templates

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


def _page(request: Request, session, access: Access, offset: int, project=None) -> Response:
    scope = access.scope
    context = {"scope": access.caller, "role": access.role, "can_own": True}
    context.update(active="audit" if project is None else "projects", project=project)
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
    request: Request, session: SessionDep, access: PageNeeds(ADMIN), offset: Offset = 0
) -> Response:
    return _page(request, session, access, offset)


@router.get("/projects/{project_id}/audit")
def project_audit_page(
    request: Request,
    project_id: IdPath,
    session: SessionDep,
    access: PageNeeds(OWNER, "project"),
    offset: Offset = 0,
) -> Response:
    project = projects.get_project(session, access.scope, project_id)
    return _page(request, session, access, offset, project)
