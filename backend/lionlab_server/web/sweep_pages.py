"""Sweep pages: a project's sweeps, the new-sweep form, a sweep and its read-only report.

Each renders a shell that `static/js/pages/sweep*.js` fills from the JSON API. The report is
the sweep page without its controls, for anyone whose token sees the project.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lionlab_server.api.access import EDITOR, VIEWER, PageNeeds
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.validation import IdPath
from lionlab_server.services import sweeps
from lionlab_server.store import projects
from lionlab_server.web.render import project_page, render_found

router = APIRouter(include_in_schema=False)

# The new-sweep form starts from this: a paired Lion-vs-AdamW grid small enough to run on one
# GPU in an afternoon (6 configurations x 3 seeds), with ASHA cutting the hopeless ones.
EXAMPLE_SPEC = """\
name: charlm-lion-vs-adamw
description: Tiny char LM, Lion against a tuned AdamW
base:                          # JobSpec fields every trial starts from
  task: char_lm
  model_size: tiny
  steps: 2000
  eval_interval: 100
  batch_size: 64
  optimizer:
    weight_decay: 0.01
optimizers: [adamw, lion]
seeds: 3                       # a count (seeds 0, 1, 2) or a list: [0, 7, 42]
search:
  method: grid                 # grid | random (then: samples: 20)
space:
  adamw:
    optimizer.lr: [1.0e-3, 3.0e-3]
  # lion: left out, so paired mode derives it from AdamW's grid:
  # lr / f and weight decay x f for each factor f
paired:
  factors: [3, 10]
limits:
  max_parallel: 4
asha:                          # optional early termination
  eta: 3
  min_steps: 200               # rungs at 200, 600 and 1800 steps
"""


@router.get("/projects/{project_id}/sweeps")
def sweeps_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "project")
):
    return project_page(request, session, access, project_id, "sweeps.html")


@router.get("/projects/{project_id}/sweeps/new")
def new_sweep_page(
    request: Request, project_id: IdPath, session: SessionDep, access: PageNeeds(EDITOR, "project")
):
    return project_page(
        request, session, access, project_id, "sweep_new.html", example=EXAMPLE_SPEC
    )


def _sweep_page(request: Request, access, session, sweep_id: int, *, report: bool) -> Response:
    def find() -> dict:
        sweep = sweeps.get_sweep(session, access.scope, sweep_id)
        project = projects.get_project(session, access.scope, sweep.project_id)
        return {"sweep": sweep, "project": project, "report": report}

    return render_found(request, access, "sweep.html", find)


@router.get("/sweeps/{sweep_id}")
def sweep_page(
    request: Request, sweep_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "sweep")
):
    return _sweep_page(request, access, session, sweep_id, report=False)


@router.get("/sweeps/{sweep_id}/report")
def sweep_report_page(
    request: Request, sweep_id: IdPath, session: SessionDep, access: PageNeeds(VIEWER, "sweep")
):
    """The same content without controls: a link to share with the project's team."""
    return _sweep_page(request, access, session, sweep_id, report=True)
