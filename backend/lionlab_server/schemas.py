"""API request/response models; the store also returns these as its domain objects."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from lionlab.jobs import JobSpec
from lionlab.lifecycle import RunStatus
from lionlab_server.api.encoding import MetricValue
from lionlab_server.api.validation import (
    MAX_ID,
    DbId,
    Description,
    DeviceText,
    ErrorText,
    HostName,
    JsonObject,
    OptimizerLabel,
    RunName,
    ShortLabel,
    SpecText,
    Step,
    Tag,
    WorkerName,
)

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ProjectCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "nanogpt", "description": "Lion vs AdamW"}]},
    )
    name: str = Field(pattern=NAME_PATTERN, description="Letters, digits, '.', '_' or '-'.")
    description: Description = ""


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Omitted: unchanged. null is refused (a project always has a name and a description).
    name: str = Field(default=None, pattern=NAME_PATTERN)
    description: Description = None


class Project(BaseModel):
    id: int
    name: str
    description: str
    created_at: datetime


class RunCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"project_id": 1, "name": "lion-lr1e-4", "optimizer": "lion", "tags": ["v1"]},
                {"project_id": 1, "job": {"optimizer": {"name": "lion", "lr": 1e-4}}},
            ]
        },
    )
    project_id: DbId
    name: RunName | None = Field(default=None, description="Default: run-<id>.")
    optimizer: OptimizerLabel | None = None
    config: JsonObject = Field(
        default_factory=dict,
        description="Free-form JSON: at most 64 levels deep, integers within signed 64-bit, "
        "no NaN or Infinity (JSON has none), no NUL characters.",
    )
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    started_at: AwareDatetime | None = Field(
        default=None,
        description="When the run started, for a run imported from another tracker "
        "(`lionlab import`); default: now.",
    )
    status: Literal["running", "queued"] = Field(
        default="running",
        description="A run logged by a user's own script starts 'running'; a run with a "
        "job starts 'queued' whatever is given here.",
    )
    job: JobSpec | None = Field(
        default=None,
        description="Train this job on a worker. The run is queued, a worker claims it, and "
        "its metrics stream in. Omit it for a run your own script logs.",
    )
    client_key: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="The caller's own key for this run: creating a run again with a key "
        "already used in the project returns that run (200) instead of a new one (201).",
    )


class RunUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Omitted: unchanged. name and config cannot be null: a run always has both.
    name: RunName = None
    status: RunStatus | None = Field(
        default=None,
        description="Only for a run a script logs (no job): 'running' from 'queued', or an "
        "end (succeeded, failed, cancelled, diverged) from 'running'. A job's status "
        "changes through its worker and POST /runs/{id}/cancel (GET /lifecycle).",
    )
    tags: list[Tag] | None = Field(default=None, max_length=100)
    config: JsonObject = Field(default=None, description="Replaces the config.")
    error: ErrorText | None = None


class Run(BaseModel):
    id: int
    project_id: int
    name: str
    status: RunStatus
    optimizer: str | None
    config: dict[str, Any]
    job: dict[str, Any] | None = Field(
        default=None, description="The job spec of a run trained by a worker; null for scripts."
    )
    tags: list[str]
    created_at: datetime
    created_by: str | None = Field(
        default=None,
        description="Who created it: the signed-in username, else the token's name; null "
        "for runs created before this was recorded.",
    )
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    error: str | None
    attempts: int = Field(
        default=0, description="Claims so far: the current claim's attempt number."
    )
    stop_requested: str | None = None


class RunCreated(Run):
    warnings: list[str] = Field(
        default_factory=list,
        description="Advice about the submitted settings (e.g. a Lion lr above the AdamW "
        "baseline's); the run is created regardless.",
    )


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worker: WorkerName = Field(description="host:pid:device")


class Held(Claim):
    """A worker speaking for the attempt its claim got (heartbeat, finish)."""

    attempt: DbId = Field(
        description="The `attempts` value the claim answered; an older one gets 409."
    )


class Heartbeat(BaseModel):
    stop: str | None = Field(
        description="'cancelled', 'diverged' or 'stopped_early' when the worker must stop."
    )


class Finish(Held):
    status: RunStatus
    error: ErrorText | None = None


class MetricSummary(BaseModel):
    key: str
    count: int
    first_step: int | None
    last_step: int | None
    last: MetricValue | None = Field(description="Value at last_step; 'NaN'/'Infinity' as text.")
    min: MetricValue | None = Field(description="Smallest non-NaN value.")
    max: MetricValue | None = Field(description="Largest non-NaN value.")
    nan_count: int


class MetricBatch(BaseModel):
    """Columnar metric batch, documented for /docs (the route parses the body itself)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "steps": [0, 1, 2],
                    "metrics": {"loss": [2.3, 2.1, "NaN"], "lr": [1e-4, 1e-4, None]},
                }
            ]
        }
    )

    steps: list[Step] = Field(description="Training steps, integers 0 .. 2**53 - 1.")
    metrics: dict[str, list[float | str | None]] = Field(
        description="One array per metric key, each as long as `steps`. Values are numbers; "
        'NaN, Infinity and -Infinity may be sent as JSON literals or as the strings "NaN", '
        '"Infinity", "-Infinity". null means the key was not logged at that step.'
    )
    wall_time: list[float] | None = Field(
        default=None,
        description="Seconds since the Unix epoch per step; default: the time the server "
        "received the batch.",
    )


class IngestResult(BaseModel):
    run_id: int
    points: int = Field(description="Points written (new or overwritten).")
    keys: list[str]
    flags: list[dict] = Field(
        default_factory=list, description="Detector flags this batch raised (see /flags)."
    )
    stop: str | None = Field(
        default=None,
        description="Set when the logger should stop training: the run's stop request "
        "(cancelled, diverged, stopped_early), or the end someone else gave a script's run.",
    )


class Series(BaseModel):
    run_id: int
    key: str
    steps: list[int]
    values: list[MetricValue] = Field(description="Numbers; 'NaN', 'Infinity', '-Infinity'.")
    wall_time: list[float]
    points_in_range: int = Field(description="Stored points in the requested step range.")
    downsampled: bool


class SeriesResponse(BaseModel):
    series: list[Series]


class FlagOut(BaseModel):
    id: int
    run_id: int
    kind: str
    step: int
    start_step: int
    end_step: int
    severity: str
    message: str
    created_at: datetime


class TokenInfo(BaseModel):
    id: int
    name: str
    project_id: int | None = Field(description="The one project it acts in; null: all its user's.")
    prefix: str
    created_at: datetime
    kind: str = Field("personal", description="personal (acts as its user) or worker.")
    user_id: int | None = None
    username: str | None = Field(
        None, description="Its user; null: an admin token made by the server."
    )
    read_only: bool = False
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class SweepCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: DbId
    spec: dict[str, Any] | SpecText = Field(
        examples=[
            {
                "name": "lr-sweep",
                "base": {"task": "char_lm", "steps": 200, "eval_interval": 50},
                "optimizers": ["adamw", "lion"],
                "seeds": 2,
                "space": {"adamw": {"optimizer.lr": [1e-3, 3e-3]}},
            }
        ],
        description="The sweep spec (docs/sweeps.md): a JSON object, or YAML/JSON text.",
    )


class SweepTrial(BaseModel):
    """One trial of a sweep: its configuration and, once scheduled, its run."""

    index: int = Field(description="0-based launch order; stable id within the sweep.")
    optimizer: str
    seed: int
    group: str = Field(description="Optimizer + swept values (no seed): aggregates seeds.")
    params: dict[str, Any] = Field(description="Swept or derived values, dotted JobSpec paths.")
    paired_with: str | None = None
    transfer_factor: float | None = None
    planned_steps: int
    run_id: int | None = Field(default=None, description="None until the trial is scheduled.")
    status: str = Field(description="The run's status, or 'pending' before its run exists.")
    steps_run: int = 0
    best_loss: float | None = None
    final_loss: float | None = None
    flags: list[str] = Field(default_factory=list, description="Detector flag kinds raised.")
    stop_reason: str | None = Field(
        default=None, description="Why it stopped early (ASHA decision, divergence)."
    )


class Sweep(BaseModel):
    id: int
    project_id: int
    name: str
    description: str
    status: Literal["running", "finished", "cancelled"]
    spec: dict[str, Any]
    created_at: datetime
    created_by: str | None = Field(
        default=None,
        description="Who created it (its trials' runs carry the same): the signed-in "
        "username, else the token's name; null for sweeps created before this was recorded.",
    )
    finished_at: datetime | None
    trials_total: int
    max_parallel: int
    asha: bool
    counts: dict[str, int] = Field(description="Trials per status ('pending' not yet started).")


class SweepDetail(Sweep):
    trials: list[SweepTrial]


class SweepCreated(Sweep):
    warnings: list[str] = Field(default_factory=list)


class WorkerFacts(BaseModel):
    """What a worker process sees, as it reports it on start and then every `interval_s`."""

    model_config = ConfigDict(extra="forbid")
    name: WorkerName = Field(description="host:pid:device, the name its claims carry")
    hostname: HostName
    pid: int = Field(ge=1, le=MAX_ID)
    device: ShortLabel = Field(description="What it trains on: cpu or cuda.")
    queues: list[ShortLabel] = Field(max_length=32, description="Queues it consumes.")
    devices: list[DeviceText] = Field(max_length=64, description="Each device it sees.")
    torch_version: ShortLabel
    cuda_version: ShortLabel | None = Field(description="torch's CUDA; null: CPU-only torch.")
    lion_kernel: ShortLabel = Field(
        description="The path lionlab.optim.Lion takes for fp32 weights on its device: "
        "cpu (fused C kernel), triton, foreach or reference."
    )
    lionlab_version: ShortLabel
    interval_s: float = Field(gt=0, le=86_400, description="Seconds until its next report.")
    stopped: bool = Field(default=False, description="True in the last report, on shutdown.")


class Worker(WorkerFacts):
    started_at: datetime
    last_seen: datetime = Field(description="When the server received its latest report.")
    stopped_at: datetime | None
    alive: bool = Field(description="Not stopped, and reported within 3 of its intervals.")


class OverviewRun(BaseModel):
    """One of an optimizer's best runs on the project overview."""

    id: int
    name: str
    status: RunStatus
    value: MetricValue = Field(
        description="The run's best value of the metric: its smallest (mode min) or largest "
        "(mode max) value, NaN excluded; 'Infinity'/'-Infinity' as text."
    )
    last: MetricValue | None = Field(description="The metric's last logged value.")
    last_step: int | None = Field(description="The step of `last`.")
    lr: float | None = Field(
        description="The learning rate: the config's `lr`, else the job spec's optimizer lr; "
        "null when neither holds a number."
    )


class OptimizerBest(BaseModel):
    optimizer: str | None = Field(description="null: runs that name no optimizer.")
    runs: int = Field(description="The project's runs of this optimizer.")
    ranked: int = Field(description="Of those, runs with a non-NaN value of the metric.")
    best: list[OverviewRun] = Field(description="Best first; ties: the older run first.")


class OverviewFlag(BaseModel):
    id: int
    run_id: int
    run_name: str
    kind: str
    severity: str
    message: str
    step: int
    start_step: int
    end_step: int
    created_at: datetime


class SweepVerdict(BaseModel):
    status: str = Field(
        description="challenger_faster, baseline_faster, no_significant_difference, "
        "target_not_reached or insufficient_data."
    )
    text: str
    sentences: list[str]


class OverviewSweep(BaseModel):
    id: int
    name: str
    status: Literal["running", "finished", "cancelled"]
    created_at: datetime
    finished_at: datetime | None
    trials_total: int
    counts: dict[str, int] = Field(description="Trials per status ('pending' not yet started).")
    baseline: str
    challenger: str
    pending_trials: int = Field(description="Trials not ended: the verdict is preliminary.")
    verdict: SweepVerdict | None = Field(
        description="The sweep page's verdict (GET /sweeps/{id}/analysis), the same code."
    )


class ProjectOverview(BaseModel):
    """The project's landing view: runs per status, the best runs of each optimizer by one
    metric, the newest detector flags and the sweeps with their verdicts."""

    project: Project
    runs_total: int
    status_counts: dict[RunStatus, int] = Field(
        description="Every run status, in the lifecycle's display order, zeros included."
    )
    metric: str | None = Field(
        description="The metric ranked: the one asked for, else the project's default (an "
        "eval loss logged by the most runs, else a train loss, else the key most runs "
        "logged); null when no run logged anything."
    )
    mode: Literal["min", "max"] = Field(description="min: smaller is better.")
    metric_keys: dict[str, int] = Field(
        description="Every metric key the project's runs logged -> how many runs logged it."
    )
    optimizers: list[OptimizerBest] = Field(
        description="Every optimizer of the project's runs, by name (null last)."
    )
    flags: list[OverviewFlag] = Field(description="The newest detector flags, newest first.")
    flags_total: int
    sweeps: list[OverviewSweep] = Field(description="The newest sweeps first.")
    sweeps_total: int
