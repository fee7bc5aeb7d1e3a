"""`lionlab sync`: upload spooled runs (`lionlab.client.spool`) to the server, exactly once.

Each line delivered is recorded in the spool's progress file, so a second sync uploads
nothing; a line whose upload a crash left unrecorded is sent again, which stores nothing
twice (the run is found again by its client_key, a re-sent (key, step) overwrites itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lionlab.client.http import ApiClient, ApiError
from lionlab.client.run import create_run
from lionlab.client.spool import RunSpool, find_spools


@dataclass
class SyncTotals:
    runs: int = 0  # runs that received something
    points: int = 0
    up_to_date: int = 0  # spools with nothing left to upload


def sync_path(api: ApiClient, path: Path, echo: Callable[[str], None] = print) -> SyncTotals:
    """Upload every spool at `path` (one run's spool directory, or a folder of them)."""
    totals = SyncTotals()
    for spool in find_spools(path):
        if _up_to_date(spool):
            totals.up_to_date += 1
            continue
        points = sync_spool(api, spool, echo)
        totals.runs += 1
        totals.points += points
    return totals


def sync_spool(api: ApiClient, spool: RunSpool, echo: Callable[[str], None] = print) -> int:
    """Upload what `spool` holds that the server does not have; returns points uploaded."""
    header = spool.header()
    run_id = spool.progress.run_id or header.get("id") or create_run(api, header)["id"]
    spool.mark(run_id=run_id)
    where = f"run {run_id} ({header.get('project', 'existing run')}, {spool.path})"
    echo(f"{where}: {spool.backlog} line(s) to upload")
    points, end = 0, None
    for line, entry in spool.unsent():
        if "points" in entry:
            api.post(f"/runs/{run_id}/metrics", entry["points"])
            points += _count(entry["points"])
            echo(f"  {line}/{spool.body_lines}: {points} points so far")
        elif "layers" in entry:
            api.post(f"/runs/{run_id}/layers", entry["layers"])
        elif "end" in entry:
            end = entry["end"]
            _finish(api, run_id, end, echo)
        spool.mark(lines=line, ended=end is not None)
    state = f"finished ({end['status']})" if end else "still open (no end status in the spool)"
    echo(f"run {run_id}: {points} points uploaded; {state}")
    return points


def _up_to_date(spool: RunSpool) -> bool:
    """Finished on the server, or open with every line delivered (nothing to do)."""
    return spool.progress.ended or (spool.backlog == 0 and spool.progress.run_id is not None)


def _finish(api: ApiClient, run_id: int, end: dict[str, Any], echo: Callable) -> None:
    """Set the end status recorded by run.finish(), unless a previous sync already did."""
    status = api.get(f"/runs/{run_id}")["status"]
    if status == end["status"]:
        return
    try:
        api.patch(f"/runs/{run_id}", {k: v for k, v in end.items() if v is not None})
    except ApiError as exc:
        if exc.status_code != 409:  # 409: the run has ended otherwise meanwhile; keep that
            raise
        echo(f"run {run_id} stays {status}: the server refused {end['status']!r} ({exc})")


def _count(batch: dict) -> int:
    return sum(v is not None for values in batch["metrics"].values() for v in values)
