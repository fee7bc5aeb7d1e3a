"""Advice about a submitted job: warnings given by POST /runs and the form's dry run."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lionlab.jobs import LION_FAMILY, lion_lr_warning
from lionlab_server import schemas
from lionlab_server.store.runs import adamw_baseline_lr


def job_warnings(session: Session, data: schemas.RunCreate) -> list[str]:
    """A Lion lr above the project's AdamW baseline (or above 1e-3 without one) is warned
    about with the paper's rule; the run is created regardless."""
    if data.job is None or data.job.optimizer.name not in LION_FAMILY:
        return []
    baseline = adamw_baseline_lr(session, data.project_id)
    warning = lion_lr_warning(data.job.optimizer.lr, baseline)
    return [warning] if warning else []
