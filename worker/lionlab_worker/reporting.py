"""Telling the API what this worker sees: on start, every REPORT_INTERVAL_S, and on shutdown.

`lionlab doctor` and the dashboard's status page read these reports. They travel over HTTP
because a worker holds an API token, never database credentials, and because Celery's remote
control (inspect) does not work on the embedded broker.

The process that trains reports, so a report's name is the one its claims carry: the worker
itself with the solo pool `lionlab worker` uses, each pool child with prefork (whose parent
must not touch CUDA before it forks). Reporting runs on a thread of its own and never stops
training: a report that fails is logged and sent again at the next interval.
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import threading

from celery import signals
from celery.concurrency.prefork import TaskPool as PreforkPool

import lionlab
from lionlab.client import connect
from lionlab.settings import Settings
from lionlab_worker.executor import worker_device, worker_name

log = logging.getLogger("lionlab.worker")

REPORT_INTERVAL_S = 30.0
STOP_WAIT_S = 10.0


def describe_devices(device: str) -> list[str]:
    """One line per device this process can train on."""
    import torch

    threads = torch.get_num_threads()
    cpu = f"cpu: {os.cpu_count()} threads ({platform.machine()}), torch uses {threads}"
    if device != "cuda" or not torch.cuda.is_available():
        return [cpu]
    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append(
            f"cuda:{index}: {props.name}, {props.total_memory / 2**30:.1f} GiB, "
            f"compute capability {props.major}.{props.minor}"
        )
    return gpus + [cpu]


def lion_kernel(device: str) -> str:
    """The path lionlab.optim.Lion takes here for fp32 weights (the built-in tasks' dtype)."""
    import torch

    from lionlab.optim import Lion

    weight = torch.zeros(8, device=device, requires_grad=True)
    return Lion([weight]).path_for(weight)


def gather_facts(queues: list[str], interval_s: float) -> dict:
    """The report's body (schemas.WorkerFacts on the server)."""
    import torch

    device = worker_device()
    return {
        "name": worker_name(device),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "device": device,
        "queues": queues,
        "devices": describe_devices(device),
        "torch_version": torch.__version__,
        "cuda_version": torch.version.cuda,
        "lion_kernel": lion_kernel(device),
        "lionlab_version": lionlab.__version__,
        "interval_s": interval_s,
    }


class Reporter(threading.Thread):
    """Sends this process's facts now and every `interval_s` until stop()."""

    def __init__(self, queues: list[str], interval_s: float = REPORT_INTERVAL_S):
        super().__init__(name="lionlab-worker-report", daemon=True)
        self.queues, self.interval_s = queues, interval_s
        self.facts: dict | None = None
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            self.api = connect(settings=Settings(), retry_for=0)
            self.facts = gather_facts(self.queues, self.interval_s)
        except Exception:
            log.exception("worker report not sent: this worker will not show in `lionlab doctor`")
            return
        while True:
            self._send(self.facts)
            if self.stopped.wait(self.interval_s):
                return

    def _send(self, facts: dict) -> None:
        try:
            self.api.post("/workers/report", facts, retry_for=0)
        except Exception as exc:  # the server may be restarting: the next report goes on
            log.warning("worker report failed: %s", exc)

    def stop(self) -> None:
        """Stop reporting and say so, so the worker is shown stopped rather than lost."""
        self.stopped.set()
        self.join(STOP_WAIT_S)
        if self.facts is not None:
            self._send({**self.facts, "stopped": True})


_reporter: Reporter | None = None


def _consumed_queues(app) -> list[str]:
    return sorted(app.amqp.queues.consume_from or app.amqp.queues)


def _start(app) -> None:
    global _reporter
    _reporter = Reporter(_consumed_queues(app))
    _reporter.start()


def _stop(**_) -> None:
    if _reporter is not None:
        _reporter.stop()


def report_while_running(app) -> None:
    """Connect the reports to the worker's start and shutdown signals (see module docstring)."""

    def on_ready(sender=None, **_) -> None:
        if not isinstance(getattr(sender, "pool", None), PreforkPool):
            _start(app)

    def on_child_init(**_) -> None:
        _start(app)

    signals.worker_ready.connect(on_ready, weak=False)
    signals.worker_process_init.connect(on_child_init, weak=False)
    signals.worker_shutdown.connect(_stop, weak=False)
    signals.worker_process_shutdown.connect(_stop, weak=False)
