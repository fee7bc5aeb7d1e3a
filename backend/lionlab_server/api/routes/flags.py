"""/api/v1/runs/{run_id}/flags: detector findings."""

from __future__ import annotations

from fastapi import APIRouter

from lionlab_server import schemas
from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import IdPath
from lionlab_server.store.flags import list_flags
from lionlab_server.store.runs import visible_run

router = APIRouter(tags=["flags"])


@router.get("/runs/{run_id}/flags", response_model=list[schemas.FlagOut], responses=responses(404))
def get_flags(run_id: IdPath, session: SessionDep, access: Needs(VIEWER, "run", share=True)):
    """Flags raised by the run's detectors (divergence, grad_norm_drift, loss_step)."""
    visible_run(session, access.scope, run_id)
    return list_flags(session, run_id)
