"""Celery tasks: thin wrappers over `executor` (the delivery contract is in the decorator)."""

from __future__ import annotations

import torch  # noqa: F401  (loaded when the worker starts, so a job does not wait for it)

from lionlab.queues import TRAIN_TASK
from lionlab_worker import executor, reporting
from lionlab_worker.celery_app import app


@app.task(
    name=TRAIN_TASK,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    # Only an unreachable API is retried; a job that fails while training is reported.
    autoretry_for=(executor.ServerUnavailable,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=None,
)
def train_run(run_id: int) -> str:
    return executor.execute(run_id)


reporting.report_while_running(app)  # what this worker sees, for `lionlab doctor`
