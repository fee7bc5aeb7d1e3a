"""The README's demo, timed: `lionlab up --demo` in a fresh data folder (SQLite, the embedded
broker, one local worker), from the command's start until it prints the sweep's verdict.

Prints one JSON object: wall_s, trials, stopped_early (by ASHA), diverged, the verdict, and
the compute saved by early termination on this sweep, which plants a far too large lr
(trial-steps not run because ASHA or divergence stopped a trial / trial-steps of the full
grid). Run it on an otherwise idle machine: `python3 -m bench.sweep_demo`.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.live import LiveServer, start_server

TIMEOUT_S = 1800


def _verdict_line(server: LiveServer) -> str | None:
    return next((x.strip() for x in server.output if x.startswith("verdict:")), None)


def main() -> None:
    for name in ("LIONLAB_DATABASE_URL", "LIONLAB_BROKER_URL", "LIONLAB_API_URL"):
        os.environ.pop(name, None)  # the embedded defaults, as on a fresh machine
    with tempfile.TemporaryDirectory(prefix="lionlab-demo-") as tmp:
        start = time.monotonic()
        server = start_server(Path(tmp), command="up", args=("--demo",), timeout=120)
        try:
            while (line := _verdict_line(server)) is None:
                if time.monotonic() - start > TIMEOUT_S or server.proc.poll() is not None:
                    raise RuntimeError(f"no verdict within {TIMEOUT_S}s:\n{server.text()}")
                time.sleep(0.5)
            wall_s = time.monotonic() - start
            api, headers = f"{server.url}/api/v1", server.headers
            sweep = httpx.get(f"{api}/sweeps/1", headers=headers, timeout=60).json()
            analysis = httpx.get(f"{api}/sweeps/1/analysis", headers=headers, timeout=60).json()
        finally:
            server.stop()
    counts, compute = sweep["counts"], analysis["compute"]
    figures = {
        "wall_s": round(wall_s, 1),
        "trials": sweep["trials_total"],
        "stopped_early": counts.get("stopped_early", 0),
        "diverged": counts.get("diverged", 0),
        "succeeded": counts.get("succeeded", 0),
        "verdict": analysis["verdict"]["text"],
        "verdict_printed": line,
        "compute_saved_fraction": round(compute["fraction"], 4),
        "compute_saved_by_asha_fraction": round(compute["fraction_by_early_stopping"], 4),
        "trial_steps_full_grid": compute["planned_steps"],
        "trial_steps_run": compute["run_steps"],
        "saved_by_early_stopping": compute["saved_by_early_stopping"],
        "saved_by_divergence": compute["saved_by_divergence"],
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
