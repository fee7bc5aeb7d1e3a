"""Submitting a sweep from the command line and following it with a progress bar."""

from __future__ import annotations

import sys
import time
from typing import IO, Any

from lionlab.client import ApiClient, ApiError
from lionlab.lifecycle import RunStatus

ENDED = frozenset(s.value for s in RunStatus if s.finished)
BAR_WIDTH = 28


def submit(api: ApiClient, project_id: int, spec: dict | str) -> dict:
    """POST the spec; ApiError (422) names each field at fault."""
    return api.post("/sweeps", {"project_id": project_id, "spec": spec})


def progress_line(sweep: dict, elapsed: float) -> str:
    """'[#####.....] 7/18 trials ended | 2 running | 1 stopped early | 3m12s', with the share
    of trial-steps done inside the bar (a stopped trial's unrun steps count as done)."""
    trials = sweep["trials"]
    planned = sum(t["planned_steps"] for t in trials) or 1
    done = sum(t["planned_steps"] if t["status"] in ENDED else t["steps_run"] for t in trials)
    filled = round(BAR_WIDTH * done / planned)
    counts = sweep["counts"]
    ended = sum(counts.get(s, 0) for s in ENDED)
    parts = [
        f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {ended}/{len(trials)} trials ended",
        f"{counts.get('running', 0)} running",
    ]
    for status, label in (("stopped_early", "stopped early"), ("diverged", "diverged")):
        if counts.get(status):
            parts.append(f"{counts[status]} {label}")
    minutes, seconds = divmod(int(elapsed), 60)
    parts.append(f"{minutes}m{seconds:02d}s")
    return " | ".join(parts)


def follow(
    api: ApiClient, sweep_id: int, out: IO[str] = sys.stdout, every: float = 2.0
) -> dict[str, Any]:
    """Draw the progress bar until the sweep ends; returns its analysis (with the verdict).

    On a terminal the bar redraws in place; elsewhere (logs, CI) a line is printed when the
    count of ended trials changes, and at least once a minute."""
    tty = out.isatty()
    start, last_line, last_print = time.monotonic(), "", 0.0
    while True:
        sweep = api.get(f"/sweeps/{sweep_id}")
        now = time.monotonic()
        line = progress_line(sweep, now - start)
        key = line.split(" | ")[0]
        if tty:
            out.write("\r" + line.ljust(len(last_line)))
        elif key != last_line.split(" | ")[0] or now - last_print > 60:
            out.write(line + "\n")
            last_print = now
        out.flush()
        last_line = line
        if sweep["status"] != "running":
            break
        time.sleep(every)
    if tty:
        out.write("\n")
    return api.get(f"/sweeps/{sweep_id}/analysis")


def summary(analysis: dict, sweep_url: str) -> str:
    """The verdict and compute saved, as printed when a sweep ends."""
    verdict = (analysis.get("verdict") or {}).get("text") or "no verdict (no finished trials)"
    compute = analysis["compute"]
    saved = (
        f"early termination saved {compute['fraction']:.0%} of the grid's trial-steps "
        f"({compute['saved_by_early_stopping']} by ASHA, {compute['saved_by_divergence']} "
        f"by stopping diverged trials, of {compute['planned_steps']})"
    )
    return f"verdict: {verdict}\n{saved}\nsweep page: {sweep_url}"


def describe_error(exc: ApiError) -> str:
    """A 422 from the spec check, one line per field."""
    if isinstance(exc.detail, list):
        return "\n".join(f"  {d.get('msg')}" for d in exc.detail)
    return f"  {exc}"
