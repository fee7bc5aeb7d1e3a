"""Dashboard pages: each renders a shell that its ES module fills from the JSON API."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from lionlab_server.api.deps import SessionDep
from lionlab_server.api.validation import IdPath
from lionlab_server.errors import NotFound
from lionlab_server.store import projects, runs
from lionlab_server.store.scope import Scope
from lionlab_server.web.paths import templates
from lionlab_server.web.session import HOME, PageScopeDep

router = APIRouter(include_in_schema=False)


def render(request: Request, scope: Scope, template: str, **context: Any) -> Response:
    context = {"scope": scope, "active": "", **context}
    return templates.TemplateResponse(request, template, context)


def not_found(request: Request, scope: Scope, error: NotFound) -> Response:
    context = {"scope": scope, "active": "", "what": error.what, "ident": error.ident}
    return templates.TemplateResponse(request, "not_found.html", context, status_code=404)


@router.get("/")
def home() -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/projects")
def projects_page(request: Request, scope: PageScopeDep) -> Response:
    return render(request, scope, "projects.html", active="projects")


@router.get("/projects/{project_id}")
def runs_page(request: Request, project_id: IdPath, session: SessionDep, scope: PageScopeDep):
    try:
        project = projects.get_project(session, scope, project_id)
    except NotFound as error:
        return not_found(request, scope, error)
    return render(request, scope, "runs.html", active="projects", project=project)


@router.get("/projects/{project_id}/submit")
def submit_page(request: Request, project_id: IdPath, session: SessionDep, scope: PageScopeDep):
    try:
        project = projects.get_project(session, scope, project_id)
    except NotFound as error:
        return not_found(request, scope, error)
    return render(request, scope, "submit.html", active="projects", project=project)


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: IdPath, session: SessionDep, scope: PageScopeDep):
    try:
        run = runs.get_run(session, scope, run_id)
        project = projects.get_project(session, scope, run.project_id)
    except NotFound as error:
        return not_found(request, scope, error)
    return render(request, scope, "run.html", active="projects", run=run, project=project)


@router.get("/compare")
def compare_page(request: Request, scope: PageScopeDep) -> Response:
    return render(request, scope, "compare.html", active="compare")
