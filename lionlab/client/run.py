"""The SDK: `run = lionlab.init(project=...)`, `run.log({...}, step=...)`, `run.finish()`."""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any

from lionlab.client.batching import BatchSender
from lionlab.client.http import ApiClient, ApiError
from lionlab.settings import Settings


def connect(
    api_url: str | None = None,
    token: str | None = None,
    settings: Settings | None = None,
    retry_for: float = 60.0,
) -> ApiClient:
    """An API client from arguments, else LIONLAB_API_URL / LIONLAB_API_TOKEN, else the local
    server started by `lionlab up` and the admin token it saved (users' scripts and workers)."""
    settings = settings or Settings()
    token = token or settings.api_token
    if not token and settings.admin_token_file.exists():
        token = settings.admin_token_file.read_text().strip()
    if not token:
        raise RuntimeError(
            "no LionLab API token: pass token=..., set LIONLAB_API_TOKEN, or "
            "start a local server with `lionlab up` first"
        )
    return ApiClient(api_url or settings.resolved_api_url, token, retry_for=retry_for)


def project_id(api: ApiClient, name: str) -> int:
    """The id of project `name`, creating it when the token may."""
    found = api.get("/projects", name=name)["items"]
    if found:
        return found[0]["id"]
    try:
        return api.post("/projects", {"name": name})["id"]
    except ApiError as exc:
        raise RuntimeError(
            f"project {name!r} does not exist and this token cannot create it ({exc})"
        ) from exc


class Run:
    """A run being logged. `log` only buffers; points travel in the background."""

    def __init__(
        self, api: ApiClient, run: dict, interval: float = 1.0, batch_points: int = 20_000
    ):
        self.api, self.info = api, run
        self.id: int = run["id"]
        self._sender = BatchSender(api, self.id, interval=interval, batch_points=batch_points)
        self._step = -1
        self._finished = False
        atexit.register(self._at_exit)

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record metric values at `step` (default: the step after the last one logged)."""
        step = self._step + 1 if step is None else int(step)
        self._step = max(self._step, step)
        self._sender.log({k: float(v) for k, v in metrics.items()}, step)

    def flush(self, timeout: float | None = None) -> bool:
        return self._sender.flush(timeout)

    def finish(
        self, status: str = "succeeded", error: str | None = None, timeout: float | None = 300.0
    ) -> Path | None:
        """Deliver every point, then mark the run finished. Returns a spool file if the
        server could not be reached in `timeout` seconds (nothing is lost)."""
        if self._finished:
            return None
        self._finished = True
        spool = self._sender.close(timeout)
        body: dict[str, Any] = {"status": status}
        if error is not None:
            body["error"] = error
        if spool is None:
            self.api.patch(f"/runs/{self.id}", body)
        return spool

    def _at_exit(self) -> None:
        if not self._finished:
            self.finish(status="failed", error="the process exited without run.finish()")


def init(
    project: str,
    name: str | None = None,
    config: dict | None = None,
    tags: list[str] | None = None,
    optimizer: str | None = None,
    api_url: str | None = None,
    token: str | None = None,
) -> Run:
    """Start a run in `project` and return it, ready to log."""
    api = connect(api_url, token)
    body = {"project_id": project_id(api, project), "config": config or {}, "tags": tags or []}
    if name:
        body["name"] = name
    if optimizer:
        body["optimizer"] = optimizer
    return Run(api, api.post("/runs", body))


def attach(run_id: int, api: ApiClient, **kw) -> Run:
    """Log to an existing run (workers use this for the run they claimed)."""
    return Run(api, api.get(f"/runs/{run_id}"), **kw)
