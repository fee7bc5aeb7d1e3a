"""The job queue contract between the API server (which sends) and the workers (which consume).

Both sides build their own Celery app from this module and `lionlab.settings`: the task's name,
the queues and which job goes to which, and the broker settings they must agree on. Neither
imports the other, and this module imports no Celery.
"""

from __future__ import annotations

import enum
from typing import Any

from lionlab.settings import Settings

TRAIN_TASK = "lionlab.train_run"
"""The one task: `train_run(run_id: int)`; the worker claims the run over HTTP."""

# Redis: a message taken but not acked is handed out again after this long. The claim makes
# the redelivery harmless; the server's reaper resends lost messages much sooner.
REDIS_VISIBILITY_TIMEOUT_S = 12 * 3600


class Queue(str, enum.Enum):
    GPU = "gpu"
    CPU = "cpu"


def queue_for(device: str) -> Queue:
    """Jobs that ask for cuda, or for any device ('auto'), go to GPU workers first.

    A machine without a GPU (the local `lionlab up` worker) consumes both queues.
    """
    return Queue.CPU if device == "cpu" else Queue.GPU


def broker_config(settings: Settings) -> dict[str, Any]:
    """Celery settings the sender and the workers share (keys of `celery.Celery.conf`).

    The transport options decide how a queue is laid out on the broker (Redis: its lists), so
    the server's count of waiting messages is only right when both sides use the same ones.
    The embedded broker (kombu's SQLAlchemy transport) hands its options to `create_engine`,
    which takes none of Redis's. Creates the data folder the embedded broker's file lives in.
    """
    if not settings.broker_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    redis_options = {"visibility_timeout": REDIS_VISIBILITY_TIMEOUT_S}
    return {
        "broker_url": settings.resolved_broker_url,
        "broker_transport_options": redis_options if settings.broker_url else {},
        "broker_connection_retry_on_startup": True,
        "task_default_queue": Queue.GPU.value,
        "task_ignore_result": True,  # results live in LionLab's database, not Celery's
    }
