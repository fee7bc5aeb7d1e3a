"""Seconds from submitting a job to its worker claiming it ("running"), on Redis and on the
embedded broker, from the server's own timestamps (created_at -> started_at). Also the time
from a cancel request to the run ending. Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

from tests.support.local_servers import claim_redis_db, redis_url
from tests.support.stack import start_stack

JOBS = int(os.environ.get("LIONLAB_BENCH_JOBS", "10"))
SHORT = {
    "task": "image_classifier",
    "steps": 2,
    "eval_interval": 2,
    "checkpoint_interval": 0,
    "device": "cpu",
    "optimizer": {"name": "lion"},
}


def _ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _dispatch_seconds(stack) -> list[float]:
    stack.wait_done(stack.submit(SHORT), timeout=300)  # warm-up: first job loads the task
    out = []
    for _ in range(JOBS):
        rid = stack.submit(SHORT)
        run = stack.wait_done(rid, timeout=120)
        out.append(_ts(run["started_at"]) - _ts(run["created_at"]))
    return out


def _cancel_seconds(stack, repeats: int = 3) -> list[float]:
    out = []
    for _ in range(repeats):
        rid = stack.submit({**SHORT, "steps": 1_000_000})
        stack.wait(rid, lambda r: bool(stack.summaries(r["id"]).get("train_loss")))
        t0 = time.monotonic()
        stack.api("POST", f"/runs/{rid}/cancel")
        stack.wait(rid, lambda r: r["status"] == "cancelled", timeout=60)
        out.append(time.monotonic() - t0)
    return out


def main() -> None:
    base, throwaway = redis_url()
    redis_db, release = claim_redis_db(base)
    figures = {}
    try:
        for name, broker in (("redis", redis_db), ("embedded", "")):
            with tempfile.TemporaryDirectory(prefix="lionlab-bench-") as tmp:
                stack = start_stack(Path(tmp) / "data", broker_url=broker)
                try:
                    figures[f"p50_s_{name}"] = round(statistics.median(_dispatch_seconds(stack)), 3)
                    figures[f"cancel_p50_s_{name}"] = round(
                        statistics.median(_cancel_seconds(stack)), 2
                    )
                finally:
                    stack.stop()
    finally:
        release()
        if throwaway is not None:
            throwaway.stop()
    print(json.dumps({**figures, "jobs": JOBS}))


if __name__ == "__main__":
    main()
