"""The MLflow-compatible API against a real `mlflow server` on the same kind of database (both
on Postgres, then both on SQLite), each called the way the pinned mlflow package calls it,
from one client thread.

- Logging, `log_batch` with 1,000 metrics per call (250 steps x 4 keys) to one run:
  - `lionlab_points_per_s`, `mlflow_points_per_s`, `ratio`: the request bodies exactly as
    `MlflowClient.log_batch` encodes them (mlflow's own `message_to_json` of its LogBatch
    message), encoded beforehand and sent one after another: what each server sustains;
  - `client_*`: through `MlflowClient.log_batch` itself, whose own encoding (about 90 ms per
    1,000 metrics on this machine) is the same work for both servers and bounds both rates.
- `get_metric_history` of a 100,000-step metric through `MlflowClient` (it pages: 25,000
  points a page on LionLab): the median of 3 reads on each server (`history_ms_*`).
- `get-history-bulk-interval` (the MLflow UI's chart read, answered with LionLab's
  extremes-keeping downsampling) on a 1,000,000-step run, 320 points: the median of 20
  reads, round trip and server time (Server-Timing).
LionLab is called with a non-admin editor's token, so every call passes the role check.
Prints one JSON object, the figures per database kind
(LIONLAB_BENCH_MLFLOW_DATABASES=postgres,sqlite).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench.common import bench_postgres, bench_server, make_run, user_token
from tests.support.local_servers import create_database, drop_database, postgres_url
from tests.support.mlflow_server import start_mlflow_server

KEYS = [f"key_{k}" for k in range(4)]
STEPS_PER_CALL = 250  # x 4 keys: 1,000 metrics, MLflow's limit per log_batch
LIONLAB_CALLS = int(os.environ.get("LIONLAB_BENCH_MLFLOW_LIONLAB_CALLS", "60"))
MLFLOW_CALLS = int(os.environ.get("LIONLAB_BENCH_MLFLOW_CALLS", "15"))
HISTORY_STEPS = 100_000
BULK_STEPS = 1_000_000


def _client(url: str, token: str | None):
    from mlflow import MlflowClient

    if token is None:
        os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
    else:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    return MlflowClient(tracking_uri=url)


def _batches(calls: int, start: int, rng: np.random.Generator) -> list[list]:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    out = []
    for c in range(calls):
        steps = range(start + c * STEPS_PER_CALL, start + (c + 1) * STEPS_PER_CALL)
        values = rng.normal(size=(STEPS_PER_CALL, len(KEYS))).tolist()
        rows = zip(steps, values, strict=True)
        out.append([Metric(k, row[j], now, s) for s, row in rows for j, k in enumerate(KEYS)])
    return out


def log_rate(client, run_id: str, calls: int, start: int = 0) -> float:
    """Points/s through MlflowClient.log_batch (the client's encoding included)."""
    batches = _batches(calls, start, np.random.default_rng(start))
    t0 = time.perf_counter()
    for metrics in batches:
        client.log_batch(run_id, metrics=metrics)
    return calls * STEPS_PER_CALL * len(KEYS) / (time.perf_counter() - t0)


def body_rate(url: str, headers: dict, run_id: str, calls: int, start: int = 0) -> float:
    """Points/s of the same requests, encoded by mlflow beforehand and sent one by one."""
    from mlflow.protos.service_pb2 import LogBatch
    from mlflow.utils.proto_json_utils import message_to_json

    bodies = [
        message_to_json(LogBatch(run_id=run_id, metrics=[m.to_proto() for m in metrics])).encode()
        for metrics in _batches(calls, start, np.random.default_rng(start))
    ]
    with httpx.Client(headers={**headers, "content-type": "application/json"}, timeout=120) as c:
        t0 = time.perf_counter()
        for body in bodies:
            c.post(f"{url}/api/2.0/mlflow/runs/log-batch", content=body).raise_for_status()
        elapsed = time.perf_counter() - t0
    return calls * STEPS_PER_CALL * len(KEYS) / elapsed


def logging_rates(client, url: str, headers: dict, experiment: str, calls: int) -> dict:
    """Both rates, each on a fresh run logged in step order (the append path), after a
    warm-up on a run of its own."""
    body_rate(url, headers, client.create_run(experiment).info.run_id, 3)
    raw = body_rate(url, headers, client.create_run(experiment).info.run_id, calls)
    through = log_rate(client, client.create_run(experiment).info.run_id, calls)
    return {"raw": raw, "client": through}


def fill_history(client, run_id: str) -> None:
    """100,000 points of `history` through log_batch (1,000 per call)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    for lo in range(0, HISTORY_STEPS, 1000):
        client.log_batch(run_id, metrics=[Metric("history", 1.0 / (1 + s), now, s)
                                          for s in range(lo, lo + 1000)])  # fmt: skip


def history_ms(client, run_id: str) -> float:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        points = client.get_metric_history(run_id, "history")
        times.append((time.perf_counter() - t0) * 1000)
        assert len(points) == HISTORY_STEPS, len(points)
    return statistics.median(times)


def bulk_interval(server, headers: dict, run_id: int) -> tuple[float, float, int]:
    """(round-trip ms, server ms, points) medians of 20 reads of 320 points."""
    url = f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval"
    params = {"run_ids": [str(run_id)], "metric_key": "loss", "max_results": 320}
    rtt, app, n = [], [], 0
    with httpx.Client(headers=headers, timeout=60) as c:
        c.get(url, params=params).raise_for_status()  # warm-up
        for _ in range(20):
            t0 = time.perf_counter()
            r = c.get(url, params=params)
            rtt.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
            app.append(float(r.headers["server-timing"].split("dur=")[1]))
            n = len(r.json()["metrics"])
    return statistics.median(rtt), statistics.median(app), n


def fill_bulk(server, headers: dict, run_id: int) -> None:
    """1,000,000 steps of `loss` with spikes, through the native API (200,000 per batch)."""
    rng = np.random.default_rng(7)
    with httpx.Client(headers={**headers, "content-type": "application/json"}, timeout=300) as c:
        for lo in range(0, BULK_STEPS, 200_000):
            steps = np.arange(lo, lo + 200_000)
            loss = 3.0 / np.sqrt(1 + steps) + rng.normal(0, 0.01, size=len(steps))
            loss[rng.integers(0, len(steps), 5)] *= 20  # spikes a sampled read would miss
            body = {"steps": steps.tolist(), "metrics": {"loss": loss.tolist()}}
            c.post(f"{server.url}/api/v1/runs/{run_id}/metrics", content=orjson.dumps(body))


def measure(server, admin: dict, headers: dict, mlflow_url: str) -> dict:
    """Every figure, against one LionLab server and one mlflow server on the same kind of
    database."""
    out: dict = {}
    ours = _client(server.url, headers["Authorization"].split(" ", 1)[1])
    exp = ours.get_experiment_by_name("bench-mlflow").experiment_id
    rates = logging_rates(ours, server.url, headers, exp, LIONLAB_CALLS)
    out["lionlab_points_per_s"] = round(rates["raw"])
    out["client_lionlab_points_per_s"] = round(rates["client"])
    hist_run = ours.create_run(exp).info.run_id
    fill_history(ours, hist_run)
    out["history_ms_lionlab"] = round(history_ms(ours, hist_run), 1)
    bulk_run = make_run(server, admin, "bench-mlflow")
    fill_bulk(server, admin, bulk_run)
    rtt, app, n = bulk_interval(server, headers, bulk_run)
    out["bulk_interval_ms"] = round(rtt, 2)
    out["bulk_interval_server_ms"] = round(app, 2)
    out["bulk_interval_points"] = n

    theirs = _client(mlflow_url, None)
    exp = theirs.create_experiment("bench-mlflow")
    rates = logging_rates(theirs, mlflow_url, {}, exp, MLFLOW_CALLS)
    out["mlflow_points_per_s"] = round(rates["raw"])
    out["client_mlflow_points_per_s"] = round(rates["client"])
    hist_run = theirs.create_run(exp).info.run_id
    fill_history(theirs, hist_run)
    out["history_ms_mlflow"] = round(history_ms(theirs, hist_run), 1)
    out["ratio"] = round(out["lionlab_points_per_s"] / out["mlflow_points_per_s"], 1)
    out["client_ratio"] = round(
        out["client_lionlab_points_per_s"] / out["client_mlflow_points_per_s"], 2
    )
    out["history_ratio"] = round(out["history_ms_mlflow"] / out["history_ms_lionlab"], 1)
    return out


def on_postgres() -> dict:
    """Each server its own database on the same Postgres cluster."""
    with bench_postgres() as url, tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        admin_url, throwaway = postgres_url()
        mlflow_db = f"mlflow_bench_{os.getpid()}"
        mlflow = start_mlflow_server(Path(tmp), backend_uri=create_database(admin_url, mlflow_db))
        try:
            with bench_server(url) as (server, admin):
                headers = user_token(url, server, admin, "bench-mlflow")  # makes the project
                return measure(server, admin, headers, mlflow.url)
        finally:
            mlflow.stop()
            drop_database(admin_url, mlflow_db)
            if throwaway is not None:
                throwaway.stop()


def on_sqlite() -> dict:
    """Each server its own SQLite file (LionLab's embedded default, mlflow's sqlite:///)."""
    with tempfile.TemporaryDirectory(prefix="mlflow-bench-") as tmp:
        mlflow = start_mlflow_server(Path(tmp) / "mlflow")
        db = f"sqlite:///{Path(tmp) / 'lionlab.db'}"
        try:
            with bench_server(db) as (server, admin):
                headers = user_token(db, server, admin, "bench-mlflow")
                return measure(server, admin, headers, mlflow.url)
        finally:
            mlflow.stop()


def main() -> None:
    kinds = os.environ.get("LIONLAB_BENCH_MLFLOW_DATABASES", "postgres,sqlite").split(",")
    out: dict = {"keys": len(KEYS), "metrics_per_call": STEPS_PER_CALL * len(KEYS)}
    out["lionlab_calls"], out["mlflow_calls"] = LIONLAB_CALLS, MLFLOW_CALLS
    for kind in kinds:
        out[kind] = {"postgres": on_postgres, "sqlite": on_sqlite}[kind]()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
