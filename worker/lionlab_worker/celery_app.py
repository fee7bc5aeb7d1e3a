"""The Celery app: `celery -A lionlab_worker.celery_app worker`.

Importing this module loads no torch: the API server imports it only to send tasks by name.
The broker is Redis when LIONLAB_BROKER_URL is set, else an embedded one (kombu's SQLAlchemy
transport on a SQLite file in the data folder) that needs no server.
"""

from __future__ import annotations

import logging

from celery import Celery

from lionlab.settings import Settings
from lionlab_worker.queues import Queue


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or Settings()
    if not settings.broker_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = Celery("lionlab", broker=settings.resolved_broker_url, include=["lionlab_worker.tasks"])
    app.conf.update(
        task_acks_late=True,  # a job's message is acked when it ends, not when it starts
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # one job at a time per worker process
        task_default_queue=Queue.GPU.value,
        task_ignore_result=True,  # results live in LionLab's database, not Celery's
        broker_connection_retry_on_startup=True,
        # Redis: an unacked job is redelivered after this; the claim makes that harmless.
        # (The embedded broker hands its transport options to create_engine: none there.)
        broker_transport_options={"visibility_timeout": 12 * 3600} if settings.broker_url else {},
        worker_hijack_root_logger=False,
    )
    return app


# One line per HTTP request would drown the worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)

app = make_celery()
