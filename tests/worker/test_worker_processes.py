"""`lionlab worker` process planning: one pinned process per GPU, or one CPU process."""

import socket

from celery.utils.nodenames import host_format

from lionlab.worker_processes import celery_command, plan_workers
from lionlab_worker.executor import worker_name


def test_one_process_per_gpu_each_pinned_and_consuming_the_gpu_queue():
    plans = plan_workers(["0", "1"], None)
    assert [p.env["CUDA_VISIBLE_DEVICES"] for p in plans] == ["0", "1"]
    assert all(p.queues == ("gpu",) and p.env["LIONLAB_WORKER_DEVICE"] == "cuda" for p in plans)
    assert len({p.name for p in plans}) == 2
    assert "GPU 1 (CUDA_VISIBLE_DEVICES=1)" in plans[1].describe()


def test_without_gpus_one_cpu_process_takes_both_queues():
    (plan,) = plan_workers([], None)
    assert plan.queues == ("cpu", "gpu") and plan.env["CUDA_VISIBLE_DEVICES"] == ""
    assert plan.describe().startswith(f"worker cpu@{socket.gethostname()}: CPU")


def test_the_printed_node_name_is_the_one_celery_gives_the_worker():
    """Celery expands %h in `-n` to the host name; what `lionlab up` prints must match."""
    (plan,) = plan_workers(["0"], None)
    cmd = celery_command(plan)
    assert cmd[cmd.index("-n") + 1] == "gpu0@%h"
    assert plan.node_name == host_format("gpu0@%h") == f"gpu0@{socket.gethostname()}"
    assert "%" not in plan.describe()


def test_each_process_runs_one_job_at_a_time():
    cmd = celery_command(plan_workers(["3"], ["gpu", "cpu"])[0])
    assert cmd[cmd.index("-P") + 1] == "solo" and cmd[cmd.index("-c") + 1] == "1"
    assert cmd[cmd.index("--prefetch-multiplier") + 1] == "1"
    assert cmd[cmd.index("-Q") + 1] == "gpu,cpu" and "lionlab_worker.celery_app" in cmd


def test_a_worker_reports_the_gpu_it_is_pinned_to(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert worker_name("cuda").endswith(":cuda:1")
    assert worker_name("cpu").endswith(":cpu")
