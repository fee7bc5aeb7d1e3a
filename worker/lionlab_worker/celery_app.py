"""The Celery app: `celery -A lionlab_worker.celery_app worker`.

Importing this module loads no torch. The broker is Redis when LIONLAB_BROKER_URL is set, else
an embedded one (kombu's SQLAlchemy transport on a SQLite file in the data folder) that needs no
server; the broker settings and queues come from `lionlab.queues`, the contract the API server
sends by.
"""

from __future__ import annotations

import logging

from celery import Celery

from lionlab import queues
from lionlab.settings import Settings


def make_celery(settings: Settings | None = None) -> Celery:
    app = Celery("lionlab", include=["lionlab_worker.tasks"])
    app.conf.update(
        queues.broker_config(settings or Settings()),
        task_acks_late=True,  # a job's message is acked when it ends, not when it starts
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # one job at a time per worker process
        worker_hijack_root_logger=False,
    )
    return app


# One line per HTTP request would drown the worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)

app = make_celery()
