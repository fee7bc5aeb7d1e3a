"""Run page load in headless Chromium: time from navigation to the first drawn chart for a
run of 1,000,000 steps and for one of 1,000 steps (medians over several loads).

The page marks `lionlab:chart-drawn` (performance.mark) once plotly.js has drawn its first
chart; its startTime is measured from the navigation start. The server (SQLite in a temp
folder) gets the runs through the REST API. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import tempfile
from pathlib import Path

import httpx
import numpy as np
import orjson
from playwright.sync_api import Page, sync_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.live import start_server

LOADS = int(os.environ.get("LIONLAB_BENCH_LOADS", "9"))
CHUNK = 50_000  # steps per batch: 3 keys x 50k = 150k points, under the 200k batch limit
DRAWN_MS = """() => {
    const [mark] = performance.getEntriesByName('lionlab:chart-drawn');
    return mark ? mark.startTime : null;
}"""


def _log_run(client: httpx.Client, project_id: int, steps: int) -> int:
    """A finished run with train_loss, grad_norm and lr at every step, eval_loss every 100."""
    body = {"project_id": project_id, "name": f"bench-{steps}", "optimizer": "lion"}
    run_id = client.post("/api/v1/runs", json=body).json()["id"]
    rng = np.random.default_rng(steps)
    for lo in range(0, steps, CHUNK):
        s = np.arange(lo, min(lo + CHUNK, steps))
        loss = 2.5 * np.exp(-s / (steps / 4)) + 0.3 + 0.05 * rng.standard_normal(len(s))
        metrics = {
            "train_loss": loss.tolist(),
            "grad_norm": (1 + 0.2 * rng.random(len(s))).tolist(),
            "lr": np.full(len(s), 1e-4).tolist(),
            "eval_loss": [float(v) if i % 100 == 0 else None for i, v in zip(s, loss, strict=True)],
        }
        batch = orjson.dumps({"steps": s.tolist(), "metrics": metrics})
        client.post(f"/api/v1/runs/{run_id}/metrics", content=batch).raise_for_status()
    client.patch(f"/api/v1/runs/{run_id}", json={"status": "succeeded"}).raise_for_status()
    return run_id


def _load_ms(page: Page, url: str) -> float:
    page.goto(url)
    page.wait_for_function(DRAWN_MS, timeout=30_000)
    return float(page.evaluate(DRAWN_MS))


def _measure(base: str, token: str, runs: dict[str, int]) -> dict[str, list[float]]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.add_cookies([{"name": "lionlab_token", "value": token, "url": base}])
        page = context.new_page()
        times: dict[str, list[float]] = {name: [] for name in runs}
        page.goto(f"{base}/projects")  # browser warm-up; plotly.js is not cached yet
        times["cold_1e6"] = [_load_ms(page, f"{base}/runs/{runs['1e6']}")]  # empty cache
        for _ in range(LOADS):
            for name, run_id in runs.items():  # interleaved: both see the same load
                times[name].append(_load_ms(page, f"{base}/runs/{run_id}"))
        browser.close()
    return times


def main() -> None:
    token = "llk_bench_" + secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="lionlab-bench-") as data_dir:
        server = start_server(Path(data_dir), env={"LIONLAB_ADMIN_TOKEN": token})
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        try:
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
                pid = client.post("/api/v1/projects", json={"name": "bench-page"}).json()["id"]
                runs = {"1e6": _log_run(client, pid, 1_000_000), "1e3": _log_run(client, pid, 1000)}
            times = _measure(server.url, token, runs)
        finally:
            server.stop()
    ms_1e6, ms_1e3 = statistics.median(times["1e6"]), statistics.median(times["1e3"])
    print(
        json.dumps(
            {
                "ms_1e6": round(ms_1e6, 1),
                "ms_1e3": round(ms_1e3, 1),
                "ratio_1e6_over_1e3": round(ms_1e6 / ms_1e3, 2),
                "loads_ms_1e6": [round(t) for t in times["1e6"]],
                "loads_ms_1e3": [round(t) for t in times["1e3"]],
                "cold_cache_ms_1e6": round(times["cold_1e6"][0], 1),
                "loads": LOADS,
            }
        )
    )


if __name__ == "__main__":
    main()
