"""`lionlab import mlflow` against a real `mlflow server` the test starts, and `lionlab import
tensorboard` on event files written by torch.utils.tensorboard.SummaryWriter; running each
import a second time adds nothing."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import httpx
import pytest
from support.live import start_server
from support.mlflow_server import start_mlflow_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lionlab(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("import-target") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    srv = start_mlflow_server(tmp_path_factory.mktemp("mlflow-source"))
    yield srv
    srv.stop()


def _cli(lionlab, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LIONLAB_API_URL": lionlab.url, "LIONLAB_API_TOKEN": lionlab.token}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("MLFLOW_TRACKING_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "lionlab", "import", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _get(lionlab, path: str, **params):
    r = httpx.get(f"{lionlab.url}/api/v1{path}", headers=lionlab.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _runs(lionlab, project: str) -> dict[str, dict]:
    (p,) = _get(lionlab, "/projects", name=project)["items"]
    return {r["name"]: r for r in _get(lionlab, "/runs", project_id=p["id"], limit=1000)["items"]}


def _history(lionlab, run_id: int, key: str) -> tuple[list, list]:
    (s,) = _get(lionlab, "/series", run=run_id, key=key, max_points=100_000)["series"]
    values = [float(v) if isinstance(v, str) else v for v in s["values"]]
    return s["steps"], values


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        (math.isnan(x) and math.isnan(y)) or x == y for x, y in zip(a, b, strict=True)
    )


def test_import_mlflow_copies_runs_once(lionlab, mlflow_server, monkeypatch):
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN", raising=False)
    source = MlflowClient(tracking_uri=mlflow_server.url)
    exp = source.create_experiment("lion vs adamw/gpt")  # not a LionLab project name as it is
    losses = [3.0, 2.5, float("nan"), 2.0] + [2.0 - i / 1000 for i in range(2996)]
    wanted = {}
    for name, opt, status in (("lion-1", "lion", "FINISHED"), ("adamw-1", "adamw", "FAILED")):
        run = source.create_run(exp, run_name=name, tags={"team": "nlp"})
        rid = run.info.run_id
        metrics = [Metric("loss", v, 1_700_000_000_000 + i, i) for i, v in enumerate(losses)]
        for lo in range(0, len(metrics), 1000):
            source.log_batch(rid, metrics=metrics[lo : lo + 1000])
        source.log_batch(rid, params=[Param("optimizer", opt), Param("lr", "3e-4")],
                         tags=[RunTag("stage", "pretrain")])  # fmt: skip
        source.log_metric(rid, "epoch_time", 5.0, timestamp=1, step=0)  # twice at step 0:
        source.log_metric(rid, "epoch_time", 4.0, timestamp=2, step=0)  # the later one stays
        source.set_terminated(rid, status=status)
        wanted[name] = (rid, opt, status)

    first = _cli(lionlab, "mlflow", "--tracking-uri", mlflow_server.url)
    assert "2 run(s) (2 new, 0 already here)" in first.stdout, first.stdout
    assert "2/2 runs" in first.stderr  # the progress line
    runs = _runs(lionlab, "lion-vs-adamw-gpt")
    assert set(runs) == {"lion-1", "adamw-1"}
    for name, (rid, opt, status) in wanted.items():
        run = runs[name]
        assert run["config"] == {"optimizer": opt, "lr": "3e-4"} and run["optimizer"] == opt
        assert run["status"] == {"FINISHED": "succeeded", "FAILED": "failed"}[status]
        steps, values = _history(lionlab, run["id"], "loss")
        assert steps == list(range(len(losses))) and _same(values, losses)
        assert _history(lionlab, run["id"], "epoch_time") == ([0], [4.0])
        tags = _get_mlflow_tags(lionlab, run["id"])
        assert tags["team"] == "nlp" and tags["stage"] == "pretrain"
        assert tags["lionlab.import.source"] == f"mlflow run {rid}"

    again = _cli(lionlab, "mlflow", "--tracking-uri", mlflow_server.url)
    assert "2 run(s) (0 new, 2 already here)" in again.stdout, again.stdout
    assert _runs(lionlab, "lion-vs-adamw-gpt").keys() == runs.keys()
    for name in runs:
        counts = {m["key"]: m["count"] for m in _get(lionlab, f"/runs/{runs[name]['id']}/metrics")}
        assert counts == {"loss": len(losses), "epoch_time": 1}


def _get_mlflow_tags(lionlab, run_id: int) -> dict[str, str]:
    r = httpx.get(
        f"{lionlab.url}/api/2.0/mlflow/runs/get", params={"run_id": run_id}, headers=lionlab.headers
    )
    return {t["key"]: t["value"] for t in r.json()["run"]["data"]["tags"]}


def test_import_tensorboard_reads_summary_writer_logs_once(lionlab, tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    logdir = tmp_path / "tb"
    written = {}
    for name, scale in (("lion", 1.0), ("adamw/seed1", 1.2)):
        writer = SummaryWriter(log_dir=str(logdir / name))
        losses = [scale * 3.0 / (1 + s) for s in range(500)]
        losses[250] = float("nan")
        for step, value in enumerate(losses):
            writer.add_scalar("train/loss", value, step)
            if step % 50 == 0:
                writer.add_scalar("eval/loss", value * 1.1, step)
        writer.close()
        written[name] = losses

    first = _cli(lionlab, "tensorboard", str(logdir), "--project", "from-tb")
    assert "2 run(s) (2 new, 0 already here)" in first.stdout, first.stdout
    runs = _runs(lionlab, "from-tb")
    assert set(runs) == {"lion", "adamw/seed1"}
    for name, losses in written.items():
        steps, values = _history(lionlab, runs[name]["id"], "train/loss")
        # event files keep float32: compare with the values as TensorBoard stored them
        assert steps == list(range(500))
        assert all(
            (math.isnan(v) and math.isnan(w)) or abs(v - w) <= 1e-6 * abs(w)
            for v, w in zip(values, losses, strict=True)
        )
        assert len(_history(lionlab, runs[name]["id"], "eval/loss")[0]) == 10
        assert runs[name]["status"] == "succeeded"

    again = _cli(lionlab, "tensorboard", str(logdir), "--project", "from-tb")
    assert "2 run(s) (0 new, 2 already here)" in again.stdout, again.stdout
    assert _runs(lionlab, "from-tb").keys() == runs.keys()
