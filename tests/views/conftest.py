"""Builders for the figure-builder tests: series, runs and flags shaped as the store returns
them, and a decoder for the figures' base64 arrays."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from lionlab.jobs import JobSpec
from lionlab_server.schemas import FlagOut, Run
from lionlab_server.store.series import SeriesData

T0 = 1_700_000_000.0  # wall time of step 0, seconds since the epoch
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


class Build:
    now = NOW
    t0 = T0

    @staticmethod
    def array(value) -> np.ndarray:
        """A figure array as numpy (Python plotly sends numpy data as base64 typed arrays)."""
        if isinstance(value, dict) and "bdata" in value:
            raw = base64.b64decode(value["bdata"])
            return np.frombuffer(raw, dtype=np.dtype(value["dtype"]))
        return np.asarray(value)

    @staticmethod
    def series(key: str, values, run_id: int = 1, dt: float = 0.5) -> SeriesData:
        values = np.asarray(values, dtype=np.float64)
        steps = np.arange(len(values), dtype=np.int64)
        return SeriesData(run_id, key, steps, values, T0 + steps * dt, len(values), False)

    @staticmethod
    def flag(
        kind: str,
        start: int,
        end: int,
        severity: str = "warning",
        flag_id: int = 1,
        message: str = "loss dropped",
    ) -> FlagOut:
        return FlagOut(
            id=flag_id,
            run_id=1,
            kind=kind,
            step=end,
            start_step=start,
            end_step=end,
            severity=severity,
            message=message,
            created_at=NOW,
        )

    @staticmethod
    def run(
        run_id: int = 1,
        status: str = "running",
        job: dict | None = None,
        config: dict | None = None,
        optimizer: str | None = "lion",
        started_s_ago: float | None = 100.0,
        name: str | None = None,
    ) -> Run:
        spec = None
        if job is not None:
            spec = JobSpec.model_validate(job).model_dump(mode="json")
            optimizer = spec["optimizer"]["name"]
        started = None if started_s_ago is None else NOW - timedelta(seconds=started_s_ago)
        return Run(
            id=run_id,
            project_id=1,
            name=name or f"run-{run_id}",
            status=status,
            optimizer=optimizer,
            config=dict(config or {}),
            job=spec,
            tags=[],
            created_at=NOW - timedelta(hours=1),
            started_at=started,
            finished_at=None,
            worker=None,
            error=None,
        )


@pytest.fixture
def build() -> type[Build]:
    return Build
