"""A user's training script for the fault tests: logs a known series through the SDK.

`python -m support.sdk_logger STEPS PAUSE` prints the run id, logs `loss` at every step and
`acc` at every third one (so batches hold nulls), sleeps PAUSE seconds after every 1000 steps
(so a fault can land mid-ingest), and finishes the run. `logged(STEPS)` is what it logs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

PROJECT = "faults"
PAUSE_EVERY = 1000


def row(step: int) -> dict[str, float]:
    """The metrics logged at `step`: exact binary fractions, so JSON round trips are exact."""
    metrics = {"loss": 1.0 + 1.0 / (1 + step % 1024)}
    if step % 3 == 0:
        metrics["acc"] = (step % 512) / 512
    return metrics


def logged(steps: int) -> dict[str, tuple[list[int], list[float]]]:
    """key -> (steps, values) as the script logs them."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    for step in range(steps):
        for key, value in row(step).items():
            out.setdefault(key, ([], []))
            out[key][0].append(step)
            out[key][1].append(value)
    return out


def start(api_url: str, token: str, steps: int, pause: float) -> tuple[subprocess.Popen, int]:
    """Run the script as its own process against `api_url`; returns it and its run id."""
    tests_dir = str(Path(__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (tests_dir, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "LIONLAB_API_URL": api_url}
    env["LIONLAB_API_TOKEN"] = token
    proc = subprocess.Popen(
        [sys.executable, "-m", "support.sdk_logger", str(steps), str(pause)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    first = proc.stdout.readline()
    if not first.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"the SDK script did not start: {first}{proc.stdout.read()}")
    return proc, int(first)


def main() -> None:
    import lionlab

    steps, pause = int(sys.argv[1]), float(sys.argv[2])
    run = lionlab.init(project=PROJECT, name=f"sdk-{steps}", config={"steps": steps})
    run.log(row(0), step=0)
    # init returns before the server has the run; its id is known once the first batch is in
    assert run.flush(timeout=120), "the server did not take the first batch"
    print(run.id, flush=True)
    for step in range(1, steps):
        run.log(row(step), step=step)
        if step % PAUSE_EVERY == PAUSE_EVERY - 1:
            time.sleep(pause)
    spool = run.finish(timeout=None)
    assert spool is None, f"points left in {spool}"


if __name__ == "__main__":
    main()
