"""The runs table at scale: a project of 10,000 runs against one of 100, on Postgres.

- `page_ms_1e4`, `page_ms_1e2`: server time (Server-Timing) of the dashboard's runs-table read
  (`GET /api/v1/views/projects/{id}/runs`) for a page of 100 rows sorted by best loss
  (`metric.loss.min`) and filtered by a config value (`params.lr <= 0.003`, which every seeded
  run passes, so that both projects fill a page of 100 rows and the 10,000-run project
  filters and sorts all of its runs), the median of 30 reads after a warm-up;
  `page_ms_1e4_selective`: the same with a filter that keeps a quarter of the runs
  (`params.weight_decay = '0.1'`); `api_page_ms_*`: the same page of the REST list
  (`GET /api/v1/runs`). The database is ANALYZEd after seeding, as autovacuum does for runs
  that have been there a while;
- `drawn_ms_1e4` (and `drawn_ms_1e2`): headless Chromium, from navigation start to the table
  drawn with that page (the page's `lionlab:table-drawn` performance mark), the median of
  several loads.
Prints one JSON object. LIONLAB_BENCH_RUNS_LOADS sets the number of page loads.
"""

from __future__ import annotations

import json
import os
import statistics

import httpx
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import text

from bench.common import bench_postgres, bench_server
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.many_runs import seed_project

LOADS = int(os.environ.get("LIONLAB_BENCH_RUNS_LOADS", "7"))
READS = 30
SORT = "metric.loss.min"  # the table's "Best loss" column: the seeded runs log `loss`
FILTER = "params.lr <= 0.003"
SELECTIVE = "params.weight_decay = '0.1'"
DRAWN_MS = """() => {
    const [mark] = performance.getEntriesByName('lionlab:table-drawn');
    return mark ? mark.startTime : null;
}"""


def _server_ms(client: httpx.Client, url: str, params: dict) -> tuple[float, int]:
    """(median server ms, rows on the page)."""
    client.get(url, params=params).raise_for_status()  # warm-up
    times, rows = [], 0
    for _ in range(READS):
        r = client.get(url, params=params)
        r.raise_for_status()
        times.append(float(r.headers["server-timing"].split("dur=")[1]))
        rows = len(r.json()["items"])
    return statistics.median(times), rows


def _drawn_ms(base: str, token: str, project_id: int) -> list[float]:
    query = httpx.QueryParams({"sort": "best_loss", "dir": "asc", "filter": FILTER})
    url = f"{base}/projects/{project_id}?{query}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        context.add_cookies([{"name": "lionlab_token", "value": token, "url": base}])
        page: Page = context.new_page()
        page.goto(f"{base}/projects")  # warm-up: the browser's first start
        times = []
        for _ in range(LOADS):
            page.goto(url)
            page.wait_for_function(DRAWN_MS, timeout=30_000)
            times.append(float(page.evaluate(DRAWN_MS)))
        browser.close()
    return times


def _analyze(url: str) -> None:
    from lionlab_server.db import make_engine

    engine = make_engine(url)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))
    engine.dispose()


def measure(runs: int) -> dict:
    with bench_postgres() as url, bench_server(url) as (server, admin):  # the server migrates
        project_id = seed_project(url, runs)
        _analyze(url)
        params = {"project_id": project_id, "limit": 100, "sort": SORT, "filter": FILTER}
        view_url = f"{server.url}/api/v1/views/projects/{project_id}/runs"
        with httpx.Client(headers=admin, timeout=60) as c:
            view, rows = _server_ms(c, view_url, params)
            selective, _ = _server_ms(c, view_url, {**params, "filter": SELECTIVE})
            api, _ = _server_ms(c, f"{server.url}/api/v1/runs", params)
        drawn = _drawn_ms(server.url, admin["Authorization"].split(" ", 1)[1], project_id)
    return {"page_ms": view, "selective_ms": selective, "api_page_ms": api, "rows": rows,
            "drawn_ms": drawn}  # fmt: skip


def main() -> None:
    big, small = measure(10_000), measure(100)
    out = {
        "page_ms_1e4": round(big["page_ms"], 2),
        "page_ms_1e2": round(small["page_ms"], 2),
        "page_ratio": round(big["page_ms"] / small["page_ms"], 2),
        "page_ms_1e4_selective": round(big["selective_ms"], 2),
        "api_page_ms_1e4": round(big["api_page_ms"], 2),
        "api_page_ms_1e2": round(small["api_page_ms"], 2),
        "drawn_ms_1e4": round(statistics.median(big["drawn_ms"]), 1),
        "drawn_ms_1e2": round(statistics.median(small["drawn_ms"]), 1),
        "loads_ms_1e4": [round(t) for t in big["drawn_ms"]],
        "rows_on_page_1e4": big["rows"],
        "rows_on_page_1e2": small["rows"],
        "sort": SORT,
        "filter": FILTER,
        "selective_filter": SELECTIVE,
        "loads": LOADS,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
