"""Starting LionLab's Celery worker processes on this machine.

`lionlab worker --gpus 0,1` runs one Celery worker process per GPU, each pinned with
CUDA_VISIBLE_DEVICES and consuming the `gpu` queue one job at a time. Without GPUs one
process consumes both queues, so jobs asking for 'auto' still run on a CPU-only machine.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerPlan:
    name: str  # Celery node name, with Celery's %h (this host's name) still in it
    queues: tuple[str, ...]
    env: dict[str, str]

    @property
    def node_name(self) -> str:
        """The name the worker will have: %h expanded to the host name, as Celery does."""
        return self.name.replace("%h", socket.gethostname())

    def describe(self) -> str:
        pin = self.env.get("CUDA_VISIBLE_DEVICES")
        where = f"GPU {pin} (CUDA_VISIBLE_DEVICES={pin})" if pin else "CPU"
        return f"worker {self.node_name}: {where}, queues {','.join(self.queues)}"


def plan_workers(gpus: list[str] | None, queues: list[str] | None) -> list[WorkerPlan]:
    """One process per GPU given (or per visible GPU when none is named), else one on CPU."""
    if gpus is None:
        gpus = _visible_gpus()
    if gpus:
        return [
            WorkerPlan(
                f"gpu{g}@%h",
                tuple(queues or ["gpu"]),
                {"CUDA_VISIBLE_DEVICES": g, "LIONLAB_WORKER_DEVICE": "cuda"},
            )
            for g in gpus
        ]
    return [
        WorkerPlan(
            "cpu@%h",
            tuple(queues or ["cpu", "gpu"]),
            {"CUDA_VISIBLE_DEVICES": "", "LIONLAB_WORKER_DEVICE": "cpu"},
        )
    ]


def _visible_gpus() -> list[str]:
    try:
        import torch
    except ImportError:
        return []
    return [str(i) for i in range(torch.cuda.device_count())]


def celery_command(plan: WorkerPlan, loglevel: str = "info", quiet: bool = False) -> list[str]:
    # solo pool: the job runs in this process (one GPU, one job); no gossip/mingle chatter.
    worker = "worker -P solo -c 1 --prefetch-multiplier 1 --without-gossip --without-mingle"
    return [
        sys.executable, "-m", "celery", *(["--quiet"] if quiet else []),
        "-A", "lionlab_worker.celery_app", *worker.split(),
        "-Q", ",".join(plan.queues), "-n", plan.name, "-l", loglevel,
    ]  # fmt: skip


def _die_with_parent(sig: int):
    """A preexec_fn making the child receive `sig` when its parent dies (Linux), so no worker
    outlives the command that started it, however that command ends."""
    if not sys.platform.startswith("linux"):
        return None

    def set_pdeathsig() -> None:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # 1 = PR_SET_PDEATHSIG

    return set_pdeathsig


def start_workers(
    plans: list[WorkerPlan],
    loglevel: str = "info",
    quiet: bool = False,
    parent_death_signal: int = signal.SIGTERM,
    token: str | None = None,
) -> list[subprocess.Popen]:
    """Celery worker processes. SIGTERM lets a worker finish its job first (draining a
    node); SIGKILL stops it at once (its job is requeued and resumes from a checkpoint).
    `token`: the API token they send, unless LIONLAB_API_TOKEN names one already."""
    env = dict(os.environ)
    if token and not env.get("LIONLAB_API_TOKEN"):
        env["LIONLAB_API_TOKEN"] = token
    if quiet:  # `lionlab up` on a developer's machine or in a container running as root
        env["PYTHONWARNINGS"] = "ignore:You're running the worker with superuser privileges"
    return [
        subprocess.Popen(
            celery_command(p, loglevel, quiet),
            env={**env, **p.env},
            preexec_fn=_die_with_parent(parent_death_signal),
        )
        for p in plans
    ]


def stop_processes(
    procs: list[subprocess.Popen], timeout: float = 30, sig: int = signal.SIGTERM
) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(sig)
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()


def wait_all(procs: list[subprocess.Popen]) -> int:
    """Wait for every process; on Ctrl-C or SIGTERM stop them all. Returns the worst code."""
    signal.signal(signal.SIGTERM, lambda *_: stop_processes(procs))
    try:
        return max(p.wait() for p in procs)
    except KeyboardInterrupt:
        stop_processes(procs)
        return 130
