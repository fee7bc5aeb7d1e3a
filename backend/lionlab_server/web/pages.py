"""Dashboard pages: each renders a shell that its ES module fills from the JSON API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from lionlab_server.api.access import EDITOR, VIEWER, PageNeeds, Public
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.validation import IdPath
from lionlab_server.store import projects, runs
from lionlab_server.web.render import editable_projects, project_page, render, render_found
from lionlab_server.web.session import HOME

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(_: Public) -> Response:
    return RedirectResponse(HOME, status_code=303)


@router.get("/projects")
def projects_page(request: Request, access: PageNeeds(VIEWER)) -> Response:
    return render(request, access, "projects.html", active="projects")


@router.get("/projects/{project_id}")
def runs_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "project")
):
    return project_page(request, session, access, project_id, "runs.html")


@router.get("/projects/{project_id}/overview")
def overview_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "project")
):
    """The project's landing page (the projects list links here): status tiles, each
    optimizer's best runs, recent flags and sweep verdicts, from GET .../overview."""
    return project_page(request, session, access, project_id, "overview.html")


@router.get("/projects/{project_id}/submit")
def submit_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(EDITOR, "project")
):
    return project_page(request, session, access, project_id, "submit.html")


@router.get("/projects/{project_id}/comparisons")
def comparisons_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "project")
):
    return project_page(request, session, access, project_id, "comparisons.html")


@router.get("/runs/{run_id}")
def run_page(
    request: Request, run_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "run")
):
    def find() -> dict:
        run = runs.get_run(session, access.scope, run_id)
        project = projects.get_project(session, access.scope, run.project_id)
        return {"run": run, "project": project}

    return render_found(request, access, "run.html", find)


@router.get("/compare")
def compare_page(request: Request, access: PageNeeds(VIEWER)) -> Response:
    edit = editable_projects(access.caller)
    return render(request, access, "compare.html", active="compare", edit_projects=edit)
