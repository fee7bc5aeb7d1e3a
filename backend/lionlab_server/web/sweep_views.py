"""/api/v1/views/sweeps: what the sweep page and its report draw (figures, verdict, tables)."""

from __future__ import annotations

from fastapi import APIRouter

from lionlab_server.api.access import VIEWER, Needs
from lionlab_server.api.deps import SessionDep
from lionlab_server.api.errors import responses
from lionlab_server.api.validation import IdPath
from lionlab_server.services import sweep_report as reports
from lionlab_server.views.sweep import sweep_page
from lionlab_server.web.chart_endpoints import json_response

router = APIRouter(prefix="/views", tags=["views"])


@router.get("/sweeps/{sweep_id}", responses=responses(404))
def sweep_view(sweep_id: IdPath, session: SessionDep, access: Needs(VIEWER, "sweep", share=True)):
    """The sweep with its trials, the three figures (loss against lr, parallel coordinates,
    time to target), the best configuration per optimizer, speedup, compute saved, the
    verdict and ASHA's decisions."""
    report = reports.sweep_report(session, access.scope, sweep_id)
    return json_response(sweep_page(report))
