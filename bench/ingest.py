"""Ingestion speed on Postgres: metric points/s over HTTP vs raw COPY on the same database.

HTTP: 4 concurrent clients, each logging 4 keys in batches of 1000 steps to its own run, with
a non-admin user's personal token (an editor through a team), so each batch passes the
role check.
COPY: the same rows, binary COPY into a table with the same columns and primary key as
metric_points, in the same shape (4 connections, one 4000-row COPY + commit per batch); a
single-stream COPY of all rows is reported too. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time

import httpx
import numpy as np
import orjson
import psycopg

from bench.common import bench_postgres, bench_server, make_run, user_token
from lionlab_server.store.pgbinary import encode_points

CLIENTS, KEYS, STEPS_PER_BATCH = 4, 4, 1000
BATCHES = int(os.environ.get("LIONLAB_BENCH_BATCHES", "40"))
KEY_NAMES = [f"key_{k}" for k in range(KEYS)]


def _body(batch: int, rng: np.random.Generator) -> bytes:
    steps = list(range(batch * STEPS_PER_BATCH, (batch + 1) * STEPS_PER_BATCH))
    metrics = {k: rng.normal(size=STEPS_PER_BATCH).tolist() for k in KEY_NAMES}
    return orjson.dumps({"steps": steps, "metrics": metrics})


def _parallel(target, args_list) -> float:
    """Run target(*args) in threads started together; wall seconds until all finish."""
    barrier = threading.Barrier(len(args_list) + 1)
    threads = [threading.Thread(target=lambda a=a: (barrier.wait(), target(*a))) for a in args_list]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0


def http_rate(server, headers) -> float:
    runs = [make_run(server, headers, "bench-ingest") for _ in range(CLIENTS)]

    def client(run_id: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        with httpx.Client(
            base_url=server.url, headers={**headers, "content-type": "application/json"}, timeout=60
        ) as c:
            for b in range(BATCHES):
                r = c.post(f"/api/v1/runs/{run_id}/metrics", content=_body(b, rng))
                r.raise_for_status()

    seconds = _parallel(client, [(r, i) for i, r in enumerate(runs)])
    return CLIENTS * BATCHES * STEPS_PER_BATCH * KEYS / seconds


def _copy_batch(conn, table: str, run_id: int, batch: int, rng) -> None:
    n = STEPS_PER_BATCH
    steps = np.tile(np.arange(batch * n, (batch + 1) * n), KEYS)
    keys = np.repeat(np.arange(1, KEYS + 1), n)
    data = encode_points(
        run_id, keys, steps, rng.normal(size=n * KEYS), np.full(n * KEYS, time.time())
    )
    with conn.cursor().copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
        copy.write(data)
    conn.commit()


def _copy_tables(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as admin:
        for table in ("bench_copy_batches", "bench_copy_stream"):
            admin.execute(f"DROP TABLE IF EXISTS {table}")
            admin.execute(f"CREATE TABLE {table} (LIKE metric_points INCLUDING ALL)")


def copy_rates(url: str, round_no: int) -> tuple[float, float]:
    """Raw COPY rows/s: 4 connections in batch-shaped transactions, and one stream."""
    dsn = url.replace("+psycopg", "")
    _copy_tables(dsn)

    def client(run_id: int) -> None:
        rng = np.random.default_rng(run_id)
        with psycopg.connect(dsn) as conn:
            for b in range(BATCHES):
                _copy_batch(conn, "bench_copy_batches", run_id, b, rng)

    total = CLIENTS * BATCHES * STEPS_PER_BATCH * KEYS
    batched = total / _parallel(client, [(r,) for r in range(1, CLIENTS + 1)])
    rng = np.random.default_rng(round_no)
    data = encode_points(
        1,
        np.repeat(np.arange(1, KEYS + 1), total // KEYS),
        np.tile(np.arange(total // KEYS), KEYS),
        rng.normal(size=total),
        np.full(total, time.time()),
    )
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY bench_copy_stream FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(data)
        conn.commit()
        stream = total / (time.perf_counter() - t0)
    _copy_tables(dsn)  # leave no rows behind between rounds
    return batched, stream


def storage(url: str) -> dict:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        points = conn.execute("SELECT count(*) FROM metric_points").fetchone()[0]
        size = conn.execute("SELECT pg_total_relation_size('metric_points')").fetchone()[0]
        lod = conn.execute("SELECT pg_total_relation_size('metric_lod')").fetchone()[0]
    return {
        "bytes_per_point": round(size / points, 1),
        "bytes_per_point_with_lod": round((size + lod) / points, 1),
        "points": points,
    }


ROUNDS = int(os.environ.get("LIONLAB_BENCH_ROUNDS", "3"))


def main() -> None:
    """Alternate HTTP and COPY rounds on the same database; medians of each."""
    workers = int(os.environ.get("LIONLAB_BENCH_SERVER_WORKERS", "2"))
    http, copy, stream = [], [], []
    with bench_postgres() as url:
        with bench_server(url, workers=workers) as (server, admin):
            headers = user_token(url, server, admin, "bench-ingest")
            http_rate(server, headers)  # warm-up: connections, caches, first pages
            for round_no in range(ROUNDS):
                http.append(http_rate(server, headers))
                batched, single = copy_rates(url, round_no)
                copy.append(batched)
                stream.append(single)
        store = storage(url)
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_copy_batches, bench_copy_stream")
    p, c, s = (statistics.median(x) for x in (http, copy, stream))
    print(
        json.dumps(
            {
                "points_per_s": round(p),
                "copy_rows_per_s": round(c),
                "ratio": round(p / c, 3),
                "copy_stream_rows_per_s": round(s),
                "ratio_vs_stream": round(p / s, 3),
                "ratios_by_round": [round(a / b, 3) for a, b in zip(http, copy, strict=True)],
                "bytes_per_point": store["bytes_per_point"],
                "bytes_per_point_with_lod": store["bytes_per_point_with_lod"],
                "clients": CLIENTS,
                "keys": KEYS,
                "steps_per_batch": STEPS_PER_BATCH,
                "batches_per_client": BATCHES,
                "rounds": ROUNDS,
                "server_workers": workers,
            }
        )
    )


if __name__ == "__main__":
    main()
