"""`lionlab import mlflow|tensorboard`: bring a history of runs into LionLab.

Each source is read with its own package (mlflow's client, TensorBoard's event reader) and
written through LionLab's API with a token, like any other client:
- every imported run gets a `client_key` derived from where it came from (the MLflow run id,
  the event folder's path), so importing again finds the run made the first time instead of
  making another, and re-sent points overwrite the same (key, step): a second import adds
  nothing;
- LionLab keeps one value per (key, step): when a source holds several at one step (an
  MLflow metric logged without a step is at step 0 each time), the latest by time is kept,
  and the import says how many it folded;
- points go in batches of at most 20,000, with a progress line per run.
"""

from __future__ import annotations

import hashlib
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from lionlab import known_keys
from lionlab.client.http import ApiClient, ApiError
from lionlab.client.run import project_id

BATCH_POINTS = 20_000
MAX_STEP = 2**53 - 1
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def project_name(name: str) -> str:
    """A source's experiment name as a LionLab project name (letters, digits, . _ -)."""
    cleaned = _NAME_CHARS.sub("-", name).strip("-._")[:100]
    return cleaned or "imported"


def client_key(source: str, ident: str) -> str:
    """The run's key from its origin: the same source run always maps to one LionLab run."""
    return f"{source}-" + hashlib.sha256(ident.encode()).hexdigest()[:48]


@dataclass
class Totals:
    runs: int = 0
    created: int = 0
    points: int = 0
    folded: int = 0  # values at a step that already had a later one
    skipped: list[str] = field(default_factory=list)


@dataclass
class Series:
    """One metric of one run: (step, value, wall time in seconds) per point."""

    key: str
    steps: list[int]
    values: list[float]
    walls: list[float]


def one_per_step(key: str, points: Iterable[tuple[int, float, float]]) -> tuple[Series, int]:
    """Sorted by step, the latest (by time, then order) value of each step; steps outside
    LionLab's range (negative) are dropped. Returns the series and how many were folded."""
    latest: dict[int, tuple[float, float, int]] = {}
    n = 0
    for i, (step, value, wall) in enumerate(points):
        n += 1
        if not 0 <= step <= MAX_STEP:
            continue
        if step not in latest or (wall, i) >= (latest[step][1], latest[step][2]):
            latest[step] = (value, wall, i)
    steps = sorted(latest)
    kept = Series(key, steps, [latest[s][0] for s in steps], [latest[s][1] for s in steps])
    return kept, n - len(steps)


class Writer:
    """Writes imported runs through LionLab's API."""

    def __init__(self, api: ApiClient, echo: Callable[[str], None] | None = None):
        self.api = api
        self.echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
        self._projects: dict[str, int] = {}
        self.totals = Totals()

    def project(self, name: str) -> int:
        name = project_name(name)
        if name not in self._projects:
            self._projects[name] = project_id(self.api, name)
        return self._projects[name]

    def run(
        self,
        project: str,
        key: str,
        name: str,
        config: dict,
        started: float | None = None,
    ) -> tuple[dict, bool]:
        """The run for `key`, created the first time (True) or found again (False)."""
        body: dict = {
            "project_id": self.project(project),
            "client_key": key,
            "name": name[:200] or None,
            "config": config,
        }
        if started:
            body["started_at"] = datetime.fromtimestamp(started, tz=timezone.utc).isoformat()
        optimizer = known_keys.optimizer_of({k: str(v) for k, v in config.items()})
        if optimizer:
            body["optimizer"] = optimizer
        status, run = self.api.request("POST", "/runs", body, with_status=True)
        self.totals.runs += 1
        self.totals.created += status == 201
        return run, status == 201

    def series(self, run_id: int, series: Series) -> int:
        sent = 0
        for lo in range(0, len(series.steps), BATCH_POINTS):
            hi = lo + BATCH_POINTS
            body = {
                "steps": series.steps[lo:hi],
                "metrics": {series.key: series.values[lo:hi]},
                "wall_time": series.walls[lo:hi],
            }
            self.api.request("POST", f"/runs/{run_id}/metrics", body)
            sent += len(body["steps"])
        self.totals.points += sent
        return sent

    def tags(self, run_id: int, tags: dict[str, str]) -> None:
        """Key/value tags, 100 per call (the MLflow-compatible API's log-batch)."""
        items = [{"key": k, "value": v} for k, v in tags.items()]
        for lo in range(0, len(items), 100):
            body = {"run_id": str(run_id), "tags": items[lo : lo + 100]}
            self.api.request("POST", "/runs/log-batch", body, prefix="/api/2.0/mlflow")

    def end(self, run: dict, mlflow_status: str, end_ms: int | None) -> None:
        """End the run as its source did (FINISHED, FAILED, KILLED); a run still RUNNING
        there stays running here. Done once: a re-import finds it ended."""
        if mlflow_status == "RUNNING" or run["status"] != "running":
            return
        body: dict = {"run_id": str(run["id"]), "status": mlflow_status}
        if end_ms:
            body["end_time"] = end_ms
        try:
            self.api.request("POST", "/runs/update", body, prefix="/api/2.0/mlflow")
        except ApiError as exc:
            if exc.status != 409:
                raise


class Progress:
    """'[#####.....] 3/10 runs | 45,000 points | <what>' on one line (a TTY) or per run."""

    WIDTH = 20

    def __init__(self, total: int, echo: Callable[[str], None], tty: bool | None = None):
        self.total, self.done, self.echo = total, 0, echo
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.started = time.monotonic()

    def step(self, what: str, points: int) -> None:
        self.done += 1
        filled = round(self.WIDTH * self.done / max(self.total, 1))
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"[{bar}] {self.done}/{self.total} runs | {points:,} points | {what}"
        if self.tty:
            print("\r" + line[:150].ljust(150), end="", file=sys.stderr, flush=True)
            if self.done == self.total:
                print(file=sys.stderr)
        else:
            self.echo(line)
