"""Share links' pages: /share/<secret> (no account: the shared run, comparison or sweep
report, read-only) and a project's list of links for its owners.

The shared page is the object's own page (run.html, compare.html, sweep.html as a report)
in its read-only mode: no project navigation, no write controls, a banner saying what it is
and when it expires. Its ES module sends the secret in the X-LionLab-Share header with each
API call (static/js/api.js reads it from <body data-share>), so the link is the only
credential: no cookie is set, and a signed-in visitor sees what the link shows, no more.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from lionlab_server.api.access import OWNER, TARGETS, VIEWER, PageNeeds, authorize, public
from lionlab_server.api.deps import SessionDep, end_read
from lionlab_server.api.validation import IdPath
from lionlab_server.errors import NotFound
from lionlab_server.services import sweeps
from lionlab_server.store import comparisons, projects, runs, shares
from lionlab_server.store.scope import Scope, Share
from lionlab_server.web.paths import templates
from lionlab_server.web.render import project_page, render

router = APIRouter(include_in_schema=False)

Secret = Annotated[str, Path(min_length=1, max_length=200)]
# The page's address holds the secret: keep it out of Referer headers and shared caches.
PRIVATE = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _gone(request: Request) -> Response:
    context = {"scope": Scope(), "role": None, "can_edit": False, "can_own": False}
    response = templates.TemplateResponse(request, "share_gone.html", context, status_code=404)
    response.headers.update(PRIVATE)
    return response


def _object(session, scope: Scope, kind: str, object_id: int) -> tuple[dict, str, str]:
    """The template, its context and the banner's name of the shared object."""
    if kind == "run":
        run = runs.get_run(session, scope, object_id)
        project = projects.get_project(session, scope, run.project_id)
        return {"run": run, "project": project}, "run.html", f"run “{run.name}”"
    if kind == "sweep":
        sweep = sweeps.get_sweep(session, scope, object_id)
        project = projects.get_project(session, scope, sweep.project_id)
        context = {"sweep": sweep, "project": project, "report": True}
        return context, "sweep.html", f"sweep “{sweep.name}”"
    saved = comparisons.get_comparison(session, scope, object_id)
    return {"comparison": saved}, "compare.html", f"comparison “{saved.name}”"


@router.get("/share/{secret}", dependencies=[public()])
def shared_page(request: Request, secret: Secret, session: SessionDep) -> Response:
    """The shared object's page, or a page saying the link is unknown, expired or revoked."""
    info = shares.find_live(session, secret)
    if info is None:
        end_read(session)
        return _gone(request)
    caller = Scope(share=Share(info.id, info.kind, info.object_id, info.project_id))
    try:
        access = authorize(session, caller, VIEWER, TARGETS[info.kind], info.object_id, share=True)
        context, template, name = _object(session, access.scope, info.kind, info.object_id)
    except NotFound:  # the object was deleted since
        return _gone(request)
    finally:
        end_read(session)
    shared = {"kind": info.kind, "name": name, "expires_at": info.expires_at}
    response = render(request, access, template, shared=shared, share_secret=secret, **context)
    response.headers.update(PRIVATE)
    return response


@router.get("/projects/{project_id}/shares")
def shares_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(OWNER, "project")
):
    return project_page(request, session, access, project_id, "shares.html")
