"""Ingest latency under load: 16 writers and 4 dashboard readers on SQLite and on Postgres.

Each writer logs to its own run through a real `lionlab server` process, batch after batch
with no pause (16 training jobs whose buffers are always full: the worst case for SQLite's
single writer). Each reader cycles through what the dashboard pages fetch: the runs table,
a run page, its charts, the runs list and chart series. Afterwards every run's stored points
are read back through the API and compared with what was sent, value by value.
Prints one JSON object.
"""

from __future__ import annotations

import itertools
import json
import os
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench.common import bench_postgres, bench_server

WRITERS, READERS = 16, 4
SECONDS = float(os.environ.get("LIONLAB_BENCH_SECONDS", "30"))
STEPS_PER_BATCH = int(os.environ.get("LIONLAB_BENCH_STEPS", "100"))
# What a training job logs; train_loss and grad_norm go through the detectors.
KEYS = ("train_loss", "grad_norm", "lr", "tokens_per_s")
PAGE = 50_000  # steps read back per series request when checking


@dataclass
class Sent:
    """What one writer sent to its run: every key's values, step 0 onwards."""

    run_id: int
    values: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def steps(self) -> int:
        return len(self.values[KEYS[0]])


@dataclass
class LoadResult:
    ingest_ms: list[float]
    reader_ms: dict[str, list[float]]
    errors: list[str]
    sent: list[Sent]
    seconds: float

    @property
    def points_sent(self) -> int:
        return sum(s.steps * len(KEYS) for s in self.sent)


def _batch(rng: np.random.Generator, first: int) -> dict[str, list[float]]:
    n = STEPS_PER_BATCH
    steps = np.arange(first, first + n)
    return {
        "train_loss": (2.5 * np.exp(-steps / 5e4) + rng.normal(0, 0.02, n)).tolist(),
        "grad_norm": np.abs(rng.normal(1.0, 0.1, n)).tolist(),
        "lr": np.full(n, 3e-4).tolist(),
        "tokens_per_s": rng.uniform(9e4, 1.1e5, n).tolist(),
    }


def _writer(c: httpx.Client, sent: Sent, until: float, out: LoadResult, seed: int) -> None:
    rng = np.random.default_rng(seed)
    while time.monotonic() < until:
        first = sent.steps
        metrics = _batch(rng, first)
        steps = list(range(first, first + STEPS_PER_BATCH))
        body = orjson.dumps({"steps": steps, "metrics": metrics})
        t0 = time.perf_counter()
        try:
            r = c.post(f"/api/v1/runs/{sent.run_id}/metrics", content=body)
        except httpx.HTTPError as exc:
            out.errors.append(f"run {sent.run_id}: {exc!r}")
            continue
        out.ingest_ms.append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            out.errors.append(f"run {sent.run_id}: {r.status_code} {r.text[:200]}")
            return  # this writer's run no longer matches what it sent; stop it
        for key, values in metrics.items():
            sent.values[key].extend(values)


def _reader_requests(project_id: int, runs: list[int], seed: int):
    """(name, path, params) of dashboard requests, cycling forever."""
    rng = np.random.default_rng(seed)
    while True:
        run = int(rng.choice(runs))
        yield "runs_table", f"/api/v1/views/projects/{project_id}/runs", {}
        yield "runs_list", "/api/v1/runs", {"project_id": project_id}
        yield "run_view", f"/api/v1/views/runs/{run}", {}
        yield "run_charts", f"/api/v1/views/runs/{run}/charts", {}
        series = {"run": run, "key": ["train_loss", "grad_norm"], "max_points": 1000}
        yield "series", "/api/v1/series", series


def _reader(c: httpx.Client, requests, until: float, out: LoadResult) -> None:
    for name, path, params in requests:
        if time.monotonic() >= until:
            return
        t0 = time.perf_counter()
        try:
            r = c.get(path, params=params)
        except httpx.HTTPError as exc:
            out.errors.append(f"{name}: {exc!r}")
            continue
        out.reader_ms[name].append((time.perf_counter() - t0) * 1000)
        if r.status_code != 200:
            out.errors.append(f"{name}: {r.status_code} {r.text[:200]}")


def _client(url: str, headers: dict) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={**headers, "content-type": "application/json"}, timeout=120
    )


def _setup(url: str, headers: dict, project: str) -> tuple[int, list[int]]:
    with _client(url, headers) as c:
        pid = c.post("/api/v1/projects", json={"name": project}).raise_for_status().json()["id"]
        runs = [
            c.post("/api/v1/runs", json={"project_id": pid, "name": f"writer-{i}"})
            .raise_for_status()
            .json()["id"]
            for i in range(WRITERS)
        ]
    return pid, runs


def run_load(
    url: str, headers: dict, seconds: float = SECONDS, project: str = "load"
) -> LoadResult:
    """WRITERS writers and READERS readers against the server at `url` for `seconds`."""
    pid, runs = _setup(url, headers, project)
    out = LoadResult([], defaultdict(list), [], [Sent(r) for r in runs], seconds)
    until = time.monotonic() + seconds
    clients = [_client(url, headers) for _ in range(WRITERS + READERS)]
    jobs = [(_writer, (clients[i], out.sent[i], until, out, i)) for i in range(WRITERS)] + [
        (_reader, (clients[WRITERS + i], _reader_requests(pid, runs, i), until, out))
        for i in range(READERS)
    ]
    threads = [threading.Thread(target=f, args=a) for f, a in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    return out


def _stored_key(c: httpx.Client, run_id: int, key: str, steps: int) -> tuple[list, list]:
    got_steps, got_values = [], []
    for lo in range(0, max(steps, 1), PAGE):
        params = {"run": run_id, "key": key, "max_points": PAGE, "start": lo, "end": lo + PAGE - 1}
        series = c.get("/api/v1/series", params=params).raise_for_status().json()["series"][0]
        if series["downsampled"]:
            raise AssertionError(f"run {run_id} {key}: a {PAGE}-step page came back downsampled")
        got_steps += series["steps"]
        got_values += series["values"]
    return got_steps, got_values


def mismatches(url: str, headers: dict, result: LoadResult) -> tuple[int, list[str]]:
    """(points stored, every (run, key) whose stored steps or values differ from the sent)."""
    stored, problems = 0, []
    with _client(url, headers) as c:
        for sent in result.sent:
            for key in KEYS:
                steps, values = _stored_key(c, sent.run_id, key, sent.steps)
                stored += len(steps)
                if steps != list(range(sent.steps)) or values != sent.values[key]:
                    problems.append(
                        f"run {sent.run_id} {key}: {len(steps)} points stored, {sent.steps} sent"
                    )
    return stored, problems


def _ms(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 1) if xs else 0.0


def figures(prefix: str, result: LoadResult, stored: int, problems: list[str]) -> dict:
    readers = list(itertools.chain.from_iterable(result.reader_ms.values()))
    return {
        f"{prefix}_p50_ms": _ms(result.ingest_ms, 50),
        f"{prefix}_p99_ms": _ms(result.ingest_ms, 99),
        f"{prefix}_max_ms": _ms(result.ingest_ms, 100),
        f"{prefix}_batches": len(result.ingest_ms),
        f"{prefix}_points_per_s": round(result.points_sent / result.seconds),
        f"{prefix}_reader_p50_ms": _ms(readers, 50),
        f"{prefix}_reader_p99_ms": _ms(readers, 99),
        f"{prefix}_readers": {
            name: {"n": len(xs), "p50_ms": _ms(xs, 50), "p99_ms": _ms(xs, 99)}
            for name, xs in sorted(result.reader_ms.items())
        },
        f"{prefix}_errors": len(result.errors),
        f"{prefix}_error_samples": result.errors[:3],
        f"{prefix}_points_sent": result.points_sent,
        f"{prefix}_points_stored": stored,
        f"{prefix}_mismatched_series": len(problems),
    }


def measure(prefix: str, database_url: str) -> dict:
    workers = int(os.environ.get("LIONLAB_BENCH_SERVER_WORKERS", "1"))
    with bench_server(database_url, workers=workers) as (server, headers):
        result = run_load(server.url, headers)
        stored, problems = mismatches(server.url, headers, result)
    return figures(prefix, result, stored, problems)


def main() -> None:
    backends = os.environ.get("LIONLAB_BENCH_BACKENDS", "sqlite,pg").split(",")
    out: dict = {}
    if "sqlite" in backends:
        with tempfile.TemporaryDirectory(prefix="lionlab-load-") as folder:
            out.update(measure("sqlite", f"sqlite:///{Path(folder) / 'lionlab.db'}"))
    if "pg" in backends:
        with bench_postgres() as url:
            out.update(measure("pg", url))
    out["errors"] = sum(out.get(f"{b}_errors", 0) for b in backends)
    out.update(
        writers=WRITERS,
        readers=READERS,
        seconds=SECONDS,
        steps_per_batch=STEPS_PER_BATCH,
        keys=len(KEYS),
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
