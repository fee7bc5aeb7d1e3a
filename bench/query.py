"""Series query speed on Postgres: a downsampled query (max_points 2000) of one series from a
run of 1,000,000 steps and from one of 10,000 steps, timed on the server (Server-Timing).

Also reports the client round trip and random zoom windows on the long run. Prints one JSON
object.
"""

from __future__ import annotations

import json
import os
import statistics

import httpx
import numpy as np
import orjson

from bench.common import bench_postgres, bench_server, make_run

REPEATS = int(os.environ.get("LIONLAB_BENCH_REPEATS", "60"))
MAX_POINTS = 2000


def _log(client: httpx.Client, run_id: int, n: int, chunk: int = 50_000) -> None:
    rng = np.random.default_rng(run_id)
    loss = np.exp(-np.arange(n) / (n / 5)) + 0.05 * rng.standard_t(3, size=n)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        body = {"steps": list(range(start, stop)), "metrics": {"loss": loss[start:stop].tolist()}}
        client.post(
            f"/api/v1/runs/{run_id}/metrics",
            content=orjson.dumps(body),
            headers={"content-type": "application/json"},
        ).raise_for_status()


def _timed(client: httpx.Client, params: dict) -> tuple[float, float, int]:
    """(server ms, round-trip ms, points returned) of one series query."""
    r = client.get("/api/v1/series", params=params)
    r.raise_for_status()
    server_ms = float(r.headers["server-timing"].split("dur=")[1])
    points = len(r.json()["series"][0]["steps"])
    return server_ms, r.elapsed.total_seconds() * 1000, points


def _p50(client: httpx.Client, param_list: list[dict]) -> dict:
    for params in param_list[:5]:
        _timed(client, params)  # warm-up
    results = [_timed(client, p) for p in param_list]
    return {
        "server": statistics.median(r[0] for r in results),
        "round_trip": statistics.median(r[1] for r in results),
        "points": int(statistics.median(r[2] for r in results)),
    }


def _measure(client: httpx.Client, server, headers) -> dict:
    long_run = make_run(server, headers, "bench-query")
    short_run = make_run(server, headers, "bench-query")
    _log(client, long_run, 1_000_000)
    _log(client, short_run, 10_000)
    base = {"key": "loss", "max_points": MAX_POINTS}
    rng = np.random.default_rng(0)
    zooms = []
    for _ in range(REPEATS):
        width = int(10 ** rng.uniform(3, 5.7))  # 1e3 .. 5e5 steps
        start = int(rng.integers(0, 1_000_000 - width))
        zooms.append({**base, "run": long_run, "start": start, "end": start + width})
    return {
        "long": _p50(client, [{**base, "run": long_run}] * REPEATS),
        "short": _p50(client, [{**base, "run": short_run}] * REPEATS),
        "zoom": _p50(client, zooms),
    }


def main() -> None:
    with (
        bench_postgres() as url,
        bench_server(url) as (server, headers),
        httpx.Client(base_url=server.url, headers=headers, timeout=120) as client,
    ):
        m = _measure(client, server, headers)
    long, short = m["long"], m["short"]
    print(
        json.dumps(
            {
                "p50_ms_1e6": round(long["server"], 2),
                "p50_ms_1e4": round(short["server"], 2),
                "ratio_1e6_over_1e4": round(long["server"] / short["server"], 2),
                "p50_round_trip_ms_1e6": round(long["round_trip"], 2),
                "p50_round_trip_ms_1e4": round(short["round_trip"], 2),
                "p50_ms_zoom_1e6": round(m["zoom"]["server"], 2),
                "points_returned_1e6": long["points"],
                "points_returned_1e4": short["points"],
                "max_points": MAX_POINTS,
                "repeats": REPEATS,
            }
        )
    )


if __name__ == "__main__":
    main()
