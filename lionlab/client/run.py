"""The SDK: `run = lionlab.init(project=...)`, `run.log({...}, step=...)`, `run.finish()`.

Training never waits for the server: `init` returns at once and the run is created in the
background when the server answers; points wait in memory, then in the run's spool on disk
(`lionlab.client.spool`), which `lionlab sync` uploads if the script ends first.
"""

from __future__ import annotations

import atexit
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from lionlab.client.batching import BatchSender
from lionlab.client.http import ApiClient, ApiError, transient
from lionlab.client.spool import RunSpool
from lionlab.json_values import check_json_value
from lionlab.settings import Settings

# Longest a finish waits for the server to take the end status once the points are stored.
FINISH_RETRY_S = 10.0
MAX_ERROR_CHARS = 100_000  # runs.error as the API takes it


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


def project_id(api: ApiClient, name: str, retry_for: float | None = None) -> int:
    """The id of project `name`, creating it when the token may."""
    found = api.request("GET", "/projects", params={"name": name}, retry_for=retry_for)
    if found["items"]:
        return found["items"][0]["id"]
    try:
        return api.post("/projects", {"name": name}, retry_for=retry_for)["id"]
    except ApiError as exc:
        if exc.transient:
            raise
        raise RuntimeError(
            f"project {name!r} does not exist and this token cannot create it ({exc})"
        ) from exc


def create_run(api: ApiClient, spec: dict[str, Any], retry_for: float | None = None) -> dict:
    """Create the run `spec` describes (project name, client_key, config, ...). A repeat with
    the same client_key answers the run created the first time, so creating is idempotent."""
    body = {k: v for k, v in spec.items() if k != "project"}
    body["project_id"] = project_id(api, spec["project"], retry_for)
    return api.post("/runs", body, retry_for=retry_for)


class Run:
    """A run being logged. `log` only buffers; points travel in the background."""

    def __init__(
        self,
        api: ApiClient | None,
        spool: RunSpool,
        *,
        offline: bool = False,
        interval: float = 1.0,
        batch_points: int = 20_000,
        memory_points: int | None = None,
        stop_on_divergence: bool = False,
        watch_stop: float | None = 5.0,
    ):
        self.api, self.spool = api, spool
        self.info: dict | None = None  # the server's Run object, once created
        self.stop_on_divergence = stop_on_divergence
        self._sender = BatchSender(
            api,
            self._create,
            interval=interval,
            batch_points=batch_points,
            spool=spool,
            memory_points=memory_points,
            offline=offline,
            watch_stop=None if offline else watch_stop,
        )
        self._step = -1
        self._finished = False
        atexit.register(self._at_exit)

    @property
    def id(self) -> int | None:
        """The run's id on the server; None until the server has created it."""
        return self._sender.run_id

    def _create(self) -> int:
        self.info = create_run(self.api, self.spool.header(), retry_for=0)
        return self.info["id"]

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Record metric values at `step` (default: the step after the last one logged).
        Raises the server's refusal (ApiError) once it has refused this run's points."""
        self._raise_refusal()
        step = self._step + 1 if step is None else int(step)
        self._step = max(self._step, step)
        self._sender.log({k: float(v) for k, v in metrics.items()}, step)

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        """Record per-layer statistics at `step`: for each statistic (grad_norm, param_norm,
        update_ratio, update_rms) one value per name (NaN: not logged). `lionlab.watch` calls it."""
        self._raise_refusal()
        self._sender.log_layers(step, names, stats)

    @property
    def stop_reason(self) -> str | None:
        """Why LionLab asks this run to stop, else None: "cancelled" (from the dashboard or
        the API), "diverged" (a divergence flag, with `stop_on_divergence`), "stopped_early"
        (a sweep's ASHA). Training loops and the integrations poll it; it costs nothing."""
        stop = self._sender.stop
        if stop is None and self.stop_on_divergence and self._sender.diverged:
            return "diverged"
        return stop

    @property
    def should_stop(self) -> bool:
        return self.stop_reason is not None

    def flush(self, timeout: float | None = None) -> bool:
        """True once the server has every point logged so far (offline: the spool has)."""
        stored = self._sender.flush(timeout)
        self._raise_refusal()
        return stored

    def _raise_refusal(self) -> None:
        if self._sender.error is not None:
            raise self._sender.error

    def finish(
        self, status: str = "succeeded", error: str | None = None, timeout: float | None = 300.0
    ) -> Path | None:
        """Deliver every point, then mark the run finished. Waits at most `timeout` s, and
        only while the server answers; what it has not got then, the end status included,
        stays in the spool directory returned (`lionlab sync` delivers it; nothing is lost)."""
        if self._finished:
            return None
        self._finished = True
        if error is not None and len(error) > MAX_ERROR_CHARS:  # keep a traceback's end
            error = "...\n" + error[-(MAX_ERROR_CHARS - 4) :]
        end = {"status": status, "error": error}
        spooled = self._sender.close(timeout)
        self._raise_refusal()
        if spooled is None and self._sender.stop not in (None, "diverged", "stopped_early"):
            return None  # ended on the server already (cancelled there): nothing to send
        if spooled is None:
            body = {k: v for k, v in end.items() if v is not None}
            retry_for = FINISH_RETRY_S if timeout is None else min(timeout, FINISH_RETRY_S)
            try:
                self.api.patch(f"/runs/{self.id}", body, retry_for=retry_for)
            except Exception as exc:
                if not transient(exc):
                    raise
            else:
                if self.spool.exists:
                    self.spool.mark(ended=True)
                return None
        self.spool.append({"end": end})
        return self.spool.path

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
    mode: Literal["online", "offline"] = "online",
    stop_on_divergence: bool = False,
) -> Run:
    """Start a run in `project` and return it at once, ready to log; the run is created
    in the background when the server answers. `mode="offline"` only writes the run's spool
    (upload it later with `lionlab sync`). `run.stop_reason` says when LionLab asks the
    script to stop (a cancel; with `stop_on_divergence`, a divergence flag)."""
    if mode not in ("online", "offline"):
        raise ValueError(f"mode must be 'online' or 'offline', not {mode!r}")
    settings = Settings()
    spec: dict[str, Any] = {
        "project": project,
        "client_key": uuid.uuid4().hex,
        "config": config or {},
        "tags": tags or [],
    }
    if name:
        spec["name"] = name
    if optimizer:
        spec["optimizer"] = optimizer
    # A config the server would refuse (NaN, Infinity, too deep, NUL) fails here, with the
    # same rule and message, not later in the background.
    check_json_value(spec["config"], "config")
    folder = f"{time.strftime('%Y%m%d-%H%M%S')}-{spec['client_key']}"
    spool = RunSpool(settings.resolved_spool_dir / folder, {"run": spec})
    api = None if mode == "offline" else connect(api_url, token, settings)
    if mode == "offline":
        spool.create()  # the run is synced even if it logs nothing
    return Run(
        api,
        spool,
        offline=mode == "offline",
        memory_points=settings.sdk_memory_points,
        stop_on_divergence=stop_on_divergence,
    )
