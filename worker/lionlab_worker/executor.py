"""Running one job on this worker: claim, train, report. Talks to the API over HTTP only.

A claim answers with an attempt number that every later write carries (heartbeat, metric
batches, finish). A claimed run is heartbeated once a second; the answer carries stop requests
(cancel, divergence), and a 409 to any of those writes means the run belongs to a later
attempt now (this worker was presumed lost and the run requeued), so training stops without
reporting and nothing more of this attempt is stored. Metrics are flushed before each
checkpoint is saved (a retried run resumes after its checkpoint, so no step before it may be
still unsent) and before the run is finished, so a run marked succeeded has all its points
stored.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import traceback

import httpx

from lionlab.client import ApiClient, ApiError, connect
from lionlab.client.batching import BatchSender
from lionlab.jobs import JobSpec
from lionlab.lifecycle import STOP_REASONS
from lionlab.settings import Settings

log = logging.getLogger("lionlab.worker")

LOST = "lost"  # stop reason when another worker took the run over
# How long a checkpoint waits for the run's metrics to be stored before it is skipped (the
# previous checkpoint stays; training goes on and the next checkpoint tries again).
SYNC_TIMEOUT_S = 10.0


class ServerUnavailable(RuntimeError):
    """The API could not be reached to claim a job; the task retries later."""


def worker_device() -> str:
    """The device this worker process trains on (one GPU per process, or the CPU)."""
    return os.environ.get("LIONLAB_WORKER_DEVICE") or _detect_device()


def _detect_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def worker_name(device: str) -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    where = f"cuda:{visible}" if device == "cuda" and visible else device
    return f"{socket.gethostname()}:{os.getpid()}:{where}"


class ApiSink:
    """The training loop's RunSink: buffered metrics out, stop requests in."""

    def __init__(self, api: ApiClient, run_id: int, worker: str, attempt: int, interval: float):
        self.api, self.run_id = api, run_id
        self.held = {"worker": worker, "attempt": attempt}  # who speaks for the run
        self.sender = BatchSender(api, run_id, attempt=attempt)
        self._stop: str | None = None
        self._done = threading.Event()
        self._beat = threading.Thread(
            target=self._heartbeat,
            args=(interval,),
            daemon=True,
            name=f"lionlab-heartbeat-{run_id}",
        )
        self._beat.start()

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.sender.log(metrics, step)

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        self.sender.log_layers(step, names, stats)

    def should_stop(self) -> str | None:
        if getattr(self.sender.error, "status_code", None) == 409:
            return LOST  # the run was requeued: a later attempt owns it now
        if self.sender.error is not None:
            raise self.sender.error  # its points are refused: the run cannot be recorded
        return self._stop

    def sync(self) -> bool:
        return self.sender.flush(timeout=SYNC_TIMEOUT_S)

    def _heartbeat(self, interval: float) -> None:
        while not self._done.wait(interval):
            try:
                answer = self.api.post(f"/runs/{self.run_id}/heartbeat", self.held, retry_for=0)
            except ApiError as exc:
                if exc.status_code == 409:
                    self._stop = LOST
                    return
                log.warning("heartbeat of run %s refused: %s", self.run_id, exc)
                continue
            except Exception as exc:  # server unreachable: keep training, keep trying
                log.warning("heartbeat of run %s failed: %s", self.run_id, exc)
                continue
            if answer.get("stop"):
                self._stop = self._stop or answer["stop"]

    def close(self) -> None:
        self._done.set()
        self._beat.join()
        self.sender.close(timeout=None)  # the points must reach the server before "finished"


def _end_status(result) -> str:
    if result.status == "completed":
        return "succeeded"
    stopped = {s.value for s in STOP_REASONS}  # the stop reasons the API sends
    return result.stop_reason if result.stop_reason in stopped else "failed"


def execute(run_id: int, settings: Settings | None = None) -> str:
    """Claim and train run `run_id`; returns how it ended ('skipped' if not claimed)."""
    from lionlab_worker.training import run_training

    settings = settings or Settings()
    api = connect(settings=settings, retry_for=300)
    device = worker_device()
    me = worker_name(device)
    try:
        run = api.post(f"/runs/{run_id}/claim", {"worker": me})
    except ApiError as exc:
        if exc.status_code in (404, 409):
            log.info("run %s not claimed: %s", run_id, exc)
            return "skipped"
        if exc.status_code < 500:
            raise
        raise ServerUnavailable(str(exc)) from exc
    except httpx.TransportError as exc:
        raise ServerUnavailable(str(exc)) from exc
    spec = JobSpec.model_validate(run["job"])
    checkpoints = settings.resolved_checkpoint_dir / f"run-{run_id}"
    sink = ApiSink(api, run_id, me, run["attempts"], interval=min(1.0, settings.lost_after / 5))
    status, error = "failed", None
    try:
        result = run_training(
            spec,
            sink,
            checkpoints,
            device=device if spec.device == "auto" else spec.device,
            allowed_task_modules=settings.allowed_task_modules,
        )
        status = LOST if result.stop_reason == LOST else _end_status(result)
        log.info("run %s ended: %s after %s steps", run_id, status, result.steps_done)
    except Exception:
        error = traceback.format_exc()
        log.exception("run %s failed", run_id)
    finally:
        sink.close()
    if status == LOST:
        return status  # another worker owns the run; it reports
    try:
        api.post(f"/runs/{run_id}/finish", {**sink.held, "status": status, "error": error})
    except ApiError as exc:
        if exc.status_code != 409:
            raise
        log.warning("run %s was requeued while this worker ended it: %s", run_id, exc)
        return LOST
    if status == "succeeded":
        shutil.rmtree(checkpoints, ignore_errors=True)
    return status
