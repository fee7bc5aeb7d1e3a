"""MLflow's wire format: error codes, statuses, ids, paging tokens and the JSON of its
messages (mlflow/protos/service.proto), built from LionLab's domain objects."""

from __future__ import annotations

import base64
import math
from datetime import datetime, timezone
from typing import Any

import orjson

from lionlab.lifecycle import RunStatus
from lionlab_server.mlflow.errors import (  # noqa: F401 (the wire format's errors)
    COMMON,
    PREFIXES,
    MlflowError,
    error_json,
    invalid,
    responses,
)
from lionlab_server.store.mlflow import Experiment, RunRecord, param_text

# --- statuses ----------------------------------------------------------------------------

# LionLab status -> MLflow RunStatus. MLflow has no diverged, lost or stopped-early: they
# read as FAILED, FAILED and FINISHED, and the LionLab status is in the tag lionlab.status.
TO_MLFLOW = {
    RunStatus.QUEUED: "SCHEDULED",
    RunStatus.RUNNING: "RUNNING",
    RunStatus.SUCCEEDED: "FINISHED",
    RunStatus.STOPPED_EARLY: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.DIVERGED: "FAILED",
    RunStatus.LOST: "FAILED",
    RunStatus.CANCELLED: "KILLED",
}
# What an MLflow client's end_run(status) asks for.
FROM_MLFLOW = {
    "RUNNING": RunStatus.RUNNING,
    "FINISHED": RunStatus.SUCCEEDED,
    "FAILED": RunStatus.FAILED,
    "KILLED": RunStatus.CANCELLED,
    "SCHEDULED": RunStatus.QUEUED,
}
STATUS_TAG = "lionlab.status"
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"


# --- ids, times, numbers -----------------------------------------------------------------

MAX_ID = 2**31 - 1


def parse_id(text: str | int | None, what: str, field: str) -> int:
    """An experiment or run id as MLflow sends it (a string of digits)."""
    raw = "" if text is None else str(text).strip()
    if not raw:
        raise invalid(f"missing value for required parameter {field!r}")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"{what} {raw[:80]!r} does not exist (ids are integers)"
        )
    return int(raw)


def ms(when: datetime | None) -> int | None:
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(round(when.timestamp() * 1000))


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def number(value: float) -> float | str:
    """A double in protobuf's JSON: NaN and +/-Infinity as strings, exactly."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def wall_ms(wall: float) -> int:
    return int(round(wall * 1000))


# --- paging tokens -----------------------------------------------------------------------


def token(payload: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode()


def read_token(text: str | None, field: str = "page_token") -> dict:
    if not text:
        return {}
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(text.encode() + b"=="))
    except (ValueError, TypeError, UnicodeEncodeError):
        payload = None
    if not isinstance(payload, dict):
        raise invalid(f"{field} is not a token this server gave out: pass next_page_token")
    return payload


def token_int(payload: dict, key: str, field: str = "page_token") -> int:
    value = payload.get(key, 0)
    if type(value) is not int or not 0 <= value <= 2**53:
        raise invalid(f"{field} is not a token this server gave out: pass next_page_token")
    return value


# --- messages ----------------------------------------------------------------------------


def experiment_json(e: Experiment) -> dict:
    return {
        "experiment_id": str(e.id),
        "name": e.name,
        "artifact_location": f"mlflow-artifacts:/{e.id}",
        "lifecycle_stage": "active" if e.deleted_at is None else "deleted",
        "creation_time": ms(e.created_at),
        "last_update_time": ms(e.deleted_at or e.created_at),
        "tags": [{"key": k, "value": v} for k, v in e.tags.items()],
    }


def run_tags(r: RunRecord) -> dict[str, str]:
    """The run's MLflow tags: its key/value tags, plus its name, creator and LionLab status
    (and its LionLab labels, as lionlab.labels)."""
    tags = dict(r.tags)
    tags[RUN_NAME_TAG] = r.name
    if r.created_by and USER_TAG not in tags:
        tags[USER_TAG] = r.created_by
    tags[STATUS_TAG] = r.status
    if r.labels:
        tags["lionlab.labels"] = ",".join(r.labels)
    return tags


def run_info_json(r: RunRecord) -> dict:
    info: dict[str, Any] = {
        "run_id": str(r.id),
        "run_uuid": str(r.id),
        "run_name": r.name,
        "experiment_id": str(r.project_id),
        "user_id": r.created_by or "",
        "status": TO_MLFLOW[RunStatus(r.status)],
        "start_time": ms(r.started_at or r.created_at),
        "artifact_uri": f"mlflow-artifacts:/{r.project_id}/{r.id}/artifacts",
        "lifecycle_stage": "active" if r.deleted_at is None else "deleted",
    }
    if r.finished_at is not None:
        info["end_time"] = ms(r.finished_at)
    return info


def run_json(r: RunRecord) -> dict:
    metrics = [
        {"key": k, "value": number(m.value), "timestamp": wall_ms(m.wall_time), "step": m.step}
        for k, m in sorted(r.metrics.items())
    ]
    params = [{"key": k, "value": param_text(v)} for k, v in sorted(r.config.items())]
    tags = [{"key": k, "value": v} for k, v in sorted(run_tags(r).items())]
    return {
        "info": run_info_json(r),
        "data": {"metrics": metrics, "params": params, "tags": tags},
        "inputs": {},
    }
