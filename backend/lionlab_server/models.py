"""SQLAlchemy 2.0 ORM: the database schema. ORM objects never leave `store/`.

Metric storage is built for long runs:
- `metric_points` is narrow (run_id int4, key_id int4, step int8, value float8, wall_time
  float8) with primary key (run_id, key_id, step). It carries no foreign keys on purpose: a
  per-row FK check would cost more than the insert itself; integrity comes from ingestion,
  which only writes points for a (run, key) whose summary row it holds locked.
- `metric_summaries` is the per-(run, key) summary, updated in the same transaction.
- `metric_lod` is a level-of-detail store: per bucket of 64, 512, 4096, ... steps, the min and
  max point (and the first NaN), so a chart of a 1e6-step run reads about as many rows as one
  of 1e4 steps.
NaN is data: Postgres stores it natively; SQLite turns a bound NaN into NULL, so a NULL
`value` means NaN on both (values are never missing otherwise).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lionlab.lifecycle import RunStatus

# SQLite auto-increments only an "INTEGER PRIMARY KEY"; BIGINT would not be a rowid alias.
BigIntId = BigInteger().with_variant(Integer, "sqlite")

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Deleted through the MLflow-compatible API (an experiment's lifecycle_stage "deleted"):
    # kept, with its runs, until restored.
    deleted_at: Mapped[datetime | None]


class ExperimentTag(Base):
    """A key/value tag of a project, as MLflow clients set them on experiments."""

    __tablename__ = "experiment_tags"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class ApiToken(Base):
    """A bearer token. A personal token acts as its user (user_id), optionally narrowed to
    one project and/or read-only; a worker token may only claim jobs and heartbeat, log and
    finish the ones it claimed. user_id NULL: a token made before users existed, or the
    bootstrap admin token: it acts as an admin (narrowed to project_id when set)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16), default="personal")  # personal / worker
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 of the secret; the secret itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class User(Base):
    """A person who signs in to the dashboard. Usernames are stored lower-case."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    # argon2id (pwdlib); NULL until the user sets one (the first admin signs in by link)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UserSession(Base):
    """A signed-in browser. The cookie holds a secret; the id is its sha256, so a copy of
    the table signs nobody in."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_address: Mapped[str | None] = mapped_column(String(64))  # where it signed in from


class SignInLink(Base):
    """A one-time sign-in URL (/signin/once/<secret>); the id is the secret's sha256."""

    __tablename__ = "sign_in_links"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SignInFailure(Base):
    """Failed password sign-ins per (username, address), kept in the database so every
    server process and a restart see the same count."""

    __tablename__ = "sign_in_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_until: Mapped[datetime | None]


class Sweep(Base):
    """A sweep: its spec, its expanded trials (runs are created as slots free up) and the
    state of its early-termination rule."""

    __tablename__ = "sweeps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)  # the validated spec, as JSON
    # [{index, optimizer, seed, params, group, job, paired_with, transfer_factor}], launch order
    trials: Mapped[list[Any]] = mapped_column(JSON)
    max_parallel: Mapped[int] = mapped_column(Integer)
    asha_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # AshaDecider.state_dict()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The username, else the token name, that created it (its trials' runs get the same);
    # NULL for sweeps from before it was recorded.
    created_by: Mapped[str | None] = mapped_column(String(200))
    finished_at: Mapped[datetime | None]


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index(None, "project_id", "created_at"),
        # a trial gets one run, however often the scheduler runs concurrently
        UniqueConstraint("sweep_id", "trial_index"),
        # a script that re-sends its create (after a lost answer, or from `lionlab sync`)
        # gets the run it made the first time
        UniqueConstraint("project_id", "client_key"),
        Index(None, "project_id", "created_by"),  # the runs list's "created by" filter
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.RUNNING.value, index=True)
    optimizer: Mapped[str | None] = mapped_column(String(32), index=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The job spec (lionlab.jobs.JobSpec as JSON) of a run trained by a worker; NULL for a run
    # logged by a user's script. Kept apart from `config`, which the user may replace.
    job: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    client_key: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Who created it: the username, else the token name (a sweep's trials: the sweep's
    # creator); NULL for runs from before it was recorded.
    created_by: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    # Job lifecycle (runs submitted as jobs; SDK-logged runs leave these empty).
    dispatched_at: Mapped[datetime | None]  # handed to the broker; NULL: dispatch pending
    heartbeat_at: Mapped[datetime | None]  # the claiming worker's last sign of life
    # Claims so far; the current claim's attempt number, which fences off late writes from
    # the worker of an earlier attempt (one presumed lost and requeued).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    stop_requested: Mapped[str | None] = mapped_column(String(16))  # cancelled / diverged
    # the worker token that holds the current claim (it alone may heartbeat, log and finish)
    claim_token_id: Mapped[int | None] = mapped_column(Integer)
    # A sweep's trial (NULL for runs submitted on their own).
    sweep_id: Mapped[int | None] = mapped_column(
        ForeignKey("sweeps.id", ondelete="CASCADE"), index=True
    )
    trial_index: Mapped[int | None] = mapped_column(Integer)
    # Deleted through the MLflow-compatible API (lifecycle_stage "deleted"), until restored.
    deleted_at: Mapped[datetime | None]


class RunParam(Base):
    """One parameter of a run, derived from its optimizer, job spec and config so a filter
    on params is an index lookup (store/run_params.py keeps it in step with every write).
    `text` is the MLflow param text; `number` the value when it is a JSON number (not a bool)."""

    __tablename__ = "run_params"
    # no index on (key, text): a btree entry holds at most ~2.7 kB and texts may be longer
    __table_args__ = (Index(None, "key", "number"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    number: Mapped[float | None] = mapped_column(Double)


class RunKeyTag(Base):
    """A key/value tag of a run, as MLflow clients set them (`mlflow.source.name`, ...);
    the run's labels are `run_tags`."""

    __tablename__ = "run_key_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class MetricKey(Base):
    """Dictionary of metric names ("train_loss", "grad_norm", ...) shared by all runs."""

    __tablename__ = "metric_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(250), unique=True)


class MetricPoint(Base):
    __tablename__ = "metric_points"
    __table_args__ = {"sqlite_with_rowid": False}

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Double)  # NULL = NaN (see module docstring)
    wall_time: Mapped[float] = mapped_column(Double)  # seconds since the Unix epoch


class MetricSummary(Base):
    """Per-(run, key) summary; min/max ignore NaN, which is counted in nan_count."""

    __tablename__ = "metric_summaries"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(ForeignKey("metric_keys.id"), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    first_step: Mapped[int | None] = mapped_column(BigInteger)
    last_step: Mapped[int | None] = mapped_column(BigInteger)
    last_value: Mapped[float | None] = mapped_column(Double)
    min_value: Mapped[float | None] = mapped_column(Double)
    max_value: Mapped[float | None] = mapped_column(Double)
    nan_count: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricLod(Base):
    """Level-of-detail bucket: steps [bucket * width, (bucket + 1) * width), width = 8**level."""

    __tablename__ = "metric_lod"
    __table_args__ = {"sqlite_with_rowid": False}

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    min_step: Mapped[int | None] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Double)
    min_wall: Mapped[float | None] = mapped_column(Double)
    max_step: Mapped[int | None] = mapped_column(BigInteger)
    max_value: Mapped[float | None] = mapped_column(Double)
    max_wall: Mapped[float | None] = mapped_column(Double)
    nan_step: Mapped[int | None] = mapped_column(BigInteger)  # first NaN in the bucket
    nan_wall: Mapped[float | None] = mapped_column(Double)


class LayerName(Base):
    """A run's per-layer statistics columns: layer `idx` of every vector in `layer_stats`."""

    __tablename__ = "layer_names"
    __table_args__ = (UniqueConstraint("run_id", "name"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(250))


class LayerStat(Base):
    """One step of one per-layer statistic: every layer's value as one float32 vector.

    A row per (run, stat, step) rather than per layer: 1,000 layers x 100,000 steps is 1e5
    rows of 4 KB, not 1e8 rows of ~40 bytes (store/layers.py). `pcts` holds the percentiles
    across layers (store/layers.PERCENTILES) of this step, for the distribution bands."""

    __tablename__ = "layer_stats"
    __table_args__ = {"sqlite_with_rowid": False}

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stat: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    vals: Mapped[bytes] = mapped_column(LargeBinary)  # float32 little-endian, NaN: not logged
    pcts: Mapped[bytes] = mapped_column(LargeBinary)


class LayerLod(Base):
    """Level-of-detail bucket of a per-layer statistic: steps [bucket * w, (bucket + 1) * w),
    w = 16**level; each layer's min and max there, and each percentile band's min and max."""

    __tablename__ = "layer_lod"
    __table_args__ = {"sqlite_with_rowid": False}

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stat: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    first_step: Mapped[int] = mapped_column(BigInteger)
    last_step: Mapped[int] = mapped_column(BigInteger)
    lo: Mapped[bytes] = mapped_column(LargeBinary)
    hi: Mapped[bytes] = mapped_column(LargeBinary)
    pct_lo: Mapped[bytes] = mapped_column(LargeBinary)
    pct_hi: Mapped[bytes] = mapped_column(LargeBinary)


class Flag(Base):
    """A detector finding on a run (divergence, grad-norm drift, loss step)."""

    __tablename__ = "flags"
    __table_args__ = (UniqueConstraint("run_id", "kind", "start_step"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[int] = mapped_column(BigInteger)
    start_step: Mapped[int] = mapped_column(BigInteger)
    end_step: Mapped[int] = mapped_column(BigInteger)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LayerDetectorState(Base):
    """A run's per-layer detector state (lionlab.detect.LayerDetectors, JSON), saved with
    every per-layer batch: apart from `detector_states`, which metric batches replace."""

    __tablename__ = "layer_detector_states"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DetectorState(Base):
    """A run's online detector state (JSON), saved with every batch it has seen, so a server
    restart mid-run neither loses nor repeats flags."""

    __tablename__ = "detector_states"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WorkerReport(Base):
    """What a worker process last reported about itself (devices, versions, the Lion kernel
    path it uses); `last_seen` is stamped by the server, so worker clocks do not matter."""

    __tablename__ = "worker_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)  # host:pid:device, as claims
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(64))  # what it trains on: cpu / cuda
    queues: Mapped[list[Any]] = mapped_column(JSON)  # queue names it consumes
    devices: Mapped[list[Any]] = mapped_column(JSON)  # one description per device it sees
    torch_version: Mapped[str] = mapped_column(String(64))
    cuda_version: Mapped[str | None] = mapped_column(String(64))  # None: a CPU-only torch
    lion_kernel: Mapped[str] = mapped_column(String(64))  # lionlab.optim.Lion's path
    lionlab_version: Mapped[str] = mapped_column(String(64))
    interval_s: Mapped[float] = mapped_column(Double)  # seconds between its reports
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None]  # it said goodbye (a killed worker just goes silent)


class Webhook(Base):
    """A project's alert endpoint: the events it wants, how its body is shaped ("json" or
    "slack") and the secret its deliveries are signed with (kept: every send signs with it)."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[Any]] = mapped_column(JSON)  # event names, e.g. ["run.failed"]
    secret: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8), default="json")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One event for one webhook (the outbox): written in the transaction of the change that
    caused it, sent and retried by the server's delivery thread."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body, less sent_at
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered / failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # sends claimed so far
    # due (pending), or the end of the lease of the process sending it now
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    # [{"attempt", "at", "status_code", "error"}], one per send
    attempt_log: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]


class RunNote(Base):
    """A run's markdown note, and who last wrote it (a username, or a token's name)."""

    __tablename__ = "run_notes"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))


class SavedComparison(Base):
    """A named compare view of a project: its runs, the metrics shown, x axis, smoothing
    and log scale (`state`, as the compare page's address holds them) and who saved it."""

    __tablename__ = "saved_comparisons"
    __table_args__ = (Index(None, "project_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    # {"runs": [ids], "metrics": [keys] | null (all), "x": "step", "smoothing": 0.6, "log_y": false}
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(100))  # a username or a token's name
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Team(Base):
    """A named group of users; a project granted to a team is granted to each member."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ProjectGrant(Base):
    """A role on a project for one user or one team (exactly one of the two is set). A
    caller's role is the highest of its own grant and its teams' grants."""

    __tablename__ = "project_grants"
    __table_args__ = (
        UniqueConstraint("project_id", "user_id"),
        UniqueConstraint("project_id", "team_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(8))  # viewer / editor / owner
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """Who (a user or a token, and from which address) changed what, and when: one row per
    create, cancel, delete, share, grant or revoke, written in the change's own transaction.

    `project_id` carries no foreign key on purpose: a project's events outlive the project
    (the log must still say who deleted it). The actor's name is copied, not joined, for the
    same reason: a renamed or deleted user or token keeps its past events as they were."""

    __tablename__ = "audit_events"
    __table_args__ = (Index(None, "project_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    project_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))  # a username, else a token's name
    actor_user_id: Mapped[int | None] = mapped_column(Integer)
    actor_token_id: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str | None] = mapped_column(String(64))  # the client's IP (no proxy header)
    action: Mapped[str] = mapped_column(String(32))  # one of store/audit.py ACTIONS
    object_kind: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # small: e.g. the name


class ShareLink(Base):
    """A read-only link to one run, one saved comparison or one sweep's report: whoever holds
    the secret sees that object (and what it shows: a comparison's runs, a sweep's trials)
    and nothing else, until it expires or is revoked. Like a token's, the secret is shown
    once and stored as its sha256 hash."""

    __tablename__ = "share_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # run / comparison / sweep
    object_id: Mapped[int] = mapped_column(Integer)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(200))  # a username, else a token's name
    created_by_user_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
