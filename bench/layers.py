"""Per-layer statistics at scale: 1,000 layers x 100,000 logged steps of one statistic
(1e8 values) into a LionLab server, on Postgres (LIONLAB_BENCH_LAYERS_DATABASES=postgres,sqlite
for both).

- `ingest_values_per_s`: values stored per second, POSTed from one client as the SDK sends
  them (bodies of 150 steps x 1,000 layers, encoded beforehand), each answered once stored;
- `bytes_per_value`: the database's size of the run's vectors and their LOD buckets (with
  indexes) over the values stored, against 4 bytes of a float32;
- `view_ms`: server time (Server-Timing) of the distribution view of the whole run (320 band
  columns, 160 heatmap columns), the median of 20; `view_zoom_ms`: a 5,000-step zoom.
Prints one JSON object. LIONLAB_BENCH_LAYER_STEPS and LIONLAB_BENCH_LAYERS change the size.
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
from sqlalchemy import text

from bench.common import bench_postgres, bench_server, make_run

LAYERS = int(os.environ.get("LIONLAB_BENCH_LAYERS", "1000"))
STEPS = int(os.environ.get("LIONLAB_BENCH_LAYER_STEPS", "100000"))
PER_BODY = 150  # steps per body: 150,000 values, under the server's default batch limit


def _bodies(names: list[str]):
    rng = np.random.default_rng(0)
    scale = np.exp(rng.normal(size=LAYERS)).astype(np.float32)
    for start in range(0, STEPS, PER_BODY):
        steps = list(range(start, min(start + PER_BODY, STEPS)))
        noise = np.exp(0.3 * rng.standard_normal((len(steps), LAYERS), dtype=np.float32))
        rows = (scale * noise).tolist()
        yield (
            len(steps) * LAYERS,
            orjson.dumps({"names": names, "steps": steps, "stats": {"grad_norm": rows}}),
        )


def _server_ms(client: httpx.Client, url: str, params: dict, n: int = 20) -> float:
    times = []
    for _ in range(n):
        r = client.get(url, params=params)
        r.raise_for_status()
        times.append(float(r.headers["server-timing"].split("dur=")[1]))
    return statistics.median(times)


def _bytes(database_url: str) -> int:
    from lionlab_server.db import make_engine

    engine = make_engine(database_url)
    with engine.connect() as c:
        if engine.dialect.name == "postgresql":
            q = "SELECT pg_total_relation_size('layer_stats') + pg_total_relation_size('layer_lod')"
            size = c.execute(text(q)).scalar_one()
        else:
            q = "SELECT SUM(pgsize) FROM dbstat WHERE name IN ('layer_stats', 'layer_lod')"
            size = c.execute(text(q)).scalar_one()
    engine.dispose()
    return int(size)


def measure(database_url: str) -> dict:
    names = [f"blocks.{i // 8}.layer_{i % 8}.weight" for i in range(LAYERS)]
    with bench_server(database_url) as (server, admin):
        run = make_run(server, admin, "bench-layers")
        url = f"{server.url}/api/v1/runs/{run}/layers"
        headers = {**admin, "content-type": "application/json"}
        values, elapsed = 0, 0.0
        with httpx.Client(headers=headers, timeout=120) as c:
            for count, body in _bodies(names):
                t0 = time.perf_counter()
                c.post(url, content=body).raise_for_status()
                elapsed += time.perf_counter() - t0
                values += count
            view = _server_ms(c, f"{url}/grad_norm", {"points": 320, "heat_points": 160})
            mid = STEPS // 2
            zoom = {"start": mid, "end": mid + 4999, "points": 320, "heat_points": 160}
            zoom_ms = _server_ms(c, f"{url}/grad_norm", zoom)
            check = c.get(f"{url}/grad_norm").json()
        size = _bytes(database_url)
    return {
        "values": values,
        "ingest_values_per_s": round(values / elapsed),
        "bytes_per_value": round(size / values, 3),
        "view_ms": round(view, 1),
        "view_level": check["level"],
        "view_rows": check["rows"],
        "view_zoom_ms": round(zoom_ms, 1),
    }


def main() -> None:
    kinds = os.environ.get("LIONLAB_BENCH_LAYERS_DATABASES", "postgres").split(",")
    out: dict = {"layers": LAYERS, "steps": STEPS}
    for kind in kinds:
        if kind == "postgres":
            with bench_postgres() as url:
                out["postgres"] = measure(url)
        else:
            with tempfile.TemporaryDirectory(prefix="lionlab-bench-") as tmp:
                out["sqlite"] = measure(f"sqlite:///{Path(tmp) / 'lionlab.db'}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
