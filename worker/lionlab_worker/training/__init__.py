"""Plain-PyTorch training for LionLab jobs: built-in and user tasks driven through a RunSink.

No Celery, database or HTTP here: the worker's task wraps `run_training` with a sink that
buffers metrics to the API and relays cancellation and divergence.
"""

from lionlab_worker.training.run import run_training
from lionlab_worker.training.sink import STEP_METRICS, RunSink, TrainResult
from lionlab_worker.training.task import TrainingTask
from lionlab_worker.training.user_task import TaskNotAllowedError

__all__ = [
    "STEP_METRICS",
    "RunSink",
    "TaskNotAllowedError",
    "TrainResult",
    "TrainingTask",
    "run_training",
]
