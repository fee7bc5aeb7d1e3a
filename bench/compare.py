"""Grouped comparison in headless Chromium: time from navigation to the drawn grouped chart
of 50 runs x 100,000 steps in 2 groups (Lion and AdamW, 25 seeds each), and the groups
endpoint's own time (its Server-Timing header), both medians over several loads.

The page marks `lionlab:groups-drawn` (performance.mark) once plotly.js has drawn the
grouped chart; its startTime is measured from the navigation start. The runs go through the
REST API into a Postgres database (bench/common.py). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import re
import statistics
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import orjson
from playwright.sync_api import sync_playwright

from bench.common import bench_postgres, bench_server
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

RUNS = int(os.environ.get("LIONLAB_BENCH_RUNS", "50"))
STEPS = int(os.environ.get("LIONLAB_BENCH_STEPS", "100000"))
LOADS = int(os.environ.get("LIONLAB_BENCH_LOADS", "7"))
CHUNK = 100_000  # points per batch: one key, under the 200k batch limit
DRAWN_MS = """() => {
    const [mark] = performance.getEntriesByName('lionlab:groups-drawn');
    return mark ? mark.startTime : null;
}"""


def _log_run(client: httpx.Client, project_id: int, i: int) -> int:
    """A finished run logging train_loss at every step; even runs Lion, odd ones AdamW."""
    optimizer, lr = ("lion", 1e-4) if i % 2 == 0 else ("adamw", 1e-3)
    body = {"project_id": project_id, "name": f"bench-{optimizer}-{i}", "optimizer": optimizer}
    body["config"] = {"lr": lr, "seed": i}
    run_id = client.post("/api/v1/runs", json=body).json()["id"]
    rng = np.random.default_rng(i)
    for lo in range(0, STEPS, CHUNK):
        s = np.arange(lo, min(lo + CHUNK, STEPS))
        loss = 2.5 * np.exp(-s / (STEPS / 4)) + 0.3 + 0.05 * rng.standard_normal(len(s))
        batch = orjson.dumps({"steps": s.tolist(), "metrics": {"train_loss": loss.tolist()}})
        client.post(f"/api/v1/runs/{run_id}/metrics", content=batch).raise_for_status()
    client.patch(f"/api/v1/runs/{run_id}", json={"status": "succeeded"}).raise_for_status()
    return run_id


def _server_ms(client: httpx.Client, ids: list[int]) -> list[float]:
    times = []
    for _ in range(LOADS):
        params = {"run": ids, "by": "optimizer", "points": 600}
        r = client.get("/api/v1/views/compare/groups", params=params)
        r.raise_for_status()
        assert len(r.json()["groups"]) == 2
        times.append(float(re.search(r"dur=([\d.]+)", r.headers["server-timing"]).group(1)))
    return times


def _page_ms(base: str, token: str, ids: list[int]) -> list[float]:
    url = f"{base}/compare?runs={','.join(map(str, ids))}&view=groups&by=optimizer"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.add_cookies([{"name": "lionlab_token", "value": token, "url": base}])
        page = context.new_page()
        page.goto(f"{base}/projects")  # browser warm-up
        times = []
        for _ in range(LOADS + 1):  # the first load fills the cache (plotly.js): left out
            page.goto(url)
            page.wait_for_function(DRAWN_MS, timeout=60_000)
            times.append(float(page.evaluate(DRAWN_MS)))
        browser.close()
    return times[1:]


def main() -> None:
    with bench_postgres() as url, bench_server(url, workers=2) as (server, headers):
        headers = {**headers, "content-type": "application/json"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300) as client:
            pid = client.post("/api/v1/projects", json={"name": "bench-groups"}).json()["id"]
            with ThreadPoolExecutor(4) as pool:
                ids = list(pool.map(lambda i: _log_run(client, pid, i), range(RUNS)))
            server_ms = _server_ms(client, ids)
        token = headers["Authorization"].removeprefix("Bearer ")
        page_ms = _page_ms(server.url, token, ids)
    print(
        json.dumps(
            {
                "grouped_ms": round(statistics.median(page_ms), 1),
                "groups_server_ms": round(statistics.median(server_ms), 1),
                "loads_ms": [round(t) for t in page_ms],
                "server_loads_ms": [round(t, 1) for t in server_ms],
                "runs": RUNS,
                "steps": STEPS,
                "loads": LOADS,
            }
        )
    )


if __name__ == "__main__":
    main()
