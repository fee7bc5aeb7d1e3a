"""Queue names and routing: which queue a job goes to (one place, used by API and workers)."""

from __future__ import annotations

import enum


class Queue(str, enum.Enum):
    GPU = "gpu"
    CPU = "cpu"


TRAIN_TASK = "lionlab.train_run"


def queue_for(device: str) -> Queue:
    """Jobs that ask for cuda, or for any device ('auto'), go to GPU workers first.

    A machine without a GPU (the local `lionlab up` worker) consumes both queues.
    """
    return Queue.CPU if device == "cpu" else Queue.GPU
