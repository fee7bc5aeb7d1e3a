"""/api/v1/runs/{run_id}/flags: detector findings."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from lionlab_server import schemas
from lionlab_server.api.deps import ScopeDep, SessionDep
from lionlab_server.models import Flag
from lionlab_server.store.runs import run_row

router = APIRouter(tags=["flags"])


@router.get("/runs/{run_id}/flags", response_model=list[schemas.FlagOut])
def list_flags(run_id: int, session: SessionDep, scope: ScopeDep):
    run_row(session, scope, run_id)
    rows = session.scalars(select(Flag).where(Flag.run_id == run_id).order_by(Flag.step, Flag.id))
    return [schemas.FlagOut.model_validate(r, from_attributes=True) for r in rows]
