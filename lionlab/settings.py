"""LionLab configuration: one settings class, read from `LIONLAB_*` environment variables.

With nothing set, LionLab runs embedded: a SQLite file and an embedded broker in a data folder
it creates. Setting `LIONLAB_DATABASE_URL` / `LIONLAB_BROKER_URL` switches to Postgres / Redis.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, NonNegativeFloat, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORT = 8765


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIONLAB_", extra="ignore")

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=lambda: Path.home() / ".lionlab",
        description="Folder for the embedded SQLite database, broker and admin token.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means a SQLite file in data_dir. "
        "Postgres: postgresql+psycopg://user:pass@host:5432/db",
    )
    broker_url: str = Field(
        default="",
        description="Celery broker; empty means the embedded broker (a SQLite file in data_dir). "
        "Redis: redis://host:6379/0",
    )

    # --- API server ----------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    admin_token: str = Field(
        default="",
        description="Bootstrap admin token (e.g. from a secret in docker-compose). When empty and "
        "no admin token exists, the server creates one on first start and prints it.",
    )
    worker_token: str = Field(
        default="",
        description="Bootstrap worker token (e.g. from a secret in docker-compose) that GPU "
        "workers send as their LIONLAB_API_TOKEN: it claims and serves jobs and reads nothing.",
    )
    session_days: float = Field(
        default=14,
        gt=0,
        description="Days a password sign-in lasts before the browser must sign in again "
        "(sign-out ends it at once).",
    )
    sign_in_link_hours: float = Field(
        default=24,
        gt=0,
        description="Hours the one-time sign-in URL printed on first start stays valid.",
    )
    max_batch_points: int = Field(
        default=200_000,
        description="Largest metric batch accepted: len(steps) x number of keys.",
    )
    max_body_bytes: int = Field(default=32 * 1024 * 1024, description="Largest request body.")
    artifacts_dir: Path | None = Field(
        default=None,
        description="Where runs' artifacts (files logged through the MLflow-compatible API) "
        "are kept, one folder per run. Default: data_dir/artifacts.",
    )
    max_artifact_bytes: int = Field(
        default=1024**3, ge=1, description="Largest artifact file one upload may store."
    )

    # --- jobs ----------------------------------------------------------------------------
    lost_after: float = Field(
        default=30.0,
        gt=0,
        description="Seconds without a heartbeat after which a running job's worker counts as "
        "lost; the job is requeued and resumes from its last checkpoint.",
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Claims a job gets before a lost worker marks it 'lost'."
    )
    checkpoint_dir: Path | None = Field(
        default=None,
        description="Where workers keep job checkpoints (default: data_dir/checkpoints). Share "
        "it between nodes so a requeued job resumes on any worker.",
    )

    # --- alerts (webhooks) ---------------------------------------------------------------
    public_url: str = Field(
        default="",
        description="The dashboard's address as people reach it, for the links in alerts; "
        "empty: the API URL (LIONLAB_API_URL, else host and port).",
    )
    webhook_retry_delays: list[NonNegativeFloat] = Field(
        default_factory=lambda: [10.0, 30.0, 90.0, 270.0],
        description="Seconds before each retry of a webhook delivery that got a 5xx, a 429, a "
        "timeout or no connection, as a JSON list; one attempt more than delays in all.",
    )
    webhook_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a webhook receiver gets to answer one send."
    )
    webhook_poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds between the delivery thread's looks for due sends."
    )

    # --- worker / SDK --------------------------------------------------------------------
    api_url: str = Field(default="", description="Where workers and the SDK reach the API.")
    api_token: str = Field(default="", description="Token workers and the SDK send.")
    project: str = Field(
        default="default",
        description="The project the Hugging Face and Lightning integrations log to when "
        "none is passed.",
    )
    spool_dir: Path | None = Field(
        default=None,
        description="Where the SDK keeps points the server does not have yet (offline runs, "
        "outages); `lionlab sync` uploads them. Default: data_dir/spool.",
    )
    sdk_memory_points: int = Field(
        default=500_000,
        ge=1,
        description="Points a run keeps in memory (about 100 bytes each) while the server is "
        "unreachable; beyond that they go to the run's spool on disk.",
    )
    allowed_task_modules: list[str] = Field(
        default_factory=list,
        description="Module prefixes a worker may import user tasks ('module:function') from, "
        'as a JSON list, e.g. ["myteam.tasks"]. Empty: only built-in tasks run.',
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _expand(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.database_url and not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError(
                "LIONLAB_DATABASE_URL must be sqlite:///path or postgresql+psycopg://...; "
                f"got {self.database_url.split(':', 1)[0]!r}"
            )
        if self.max_batch_points < 1:
            raise ValueError("LIONLAB_MAX_BATCH_POINTS must be >= 1")
        return self

    @property
    def embedded(self) -> bool:
        """True when the database is the embedded SQLite file (no URL given)."""
        return not self.database_url

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'lionlab.db'}"

    @property
    def resolved_broker_url(self) -> str:
        """Redis when configured, else the embedded broker: a SQLite file kombu polls."""
        return self.broker_url or f"sqla+sqlite:///{self.data_dir / 'broker.db'}"

    @property
    def resolved_checkpoint_dir(self) -> Path:
        return (self.checkpoint_dir or self.data_dir / "checkpoints").expanduser()

    @property
    def resolved_artifacts_dir(self) -> Path:
        return (self.artifacts_dir or self.data_dir / "artifacts").expanduser()

    @property
    def resolved_spool_dir(self) -> Path:
        return (self.spool_dir or self.data_dir / "spool").expanduser()

    @property
    def resolved_api_url(self) -> str:
        if self.api_url:
            return self.api_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def admin_token_file(self) -> Path:
        return self.data_dir / "admin-token"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (read once from the environment)."""
    return Settings()
