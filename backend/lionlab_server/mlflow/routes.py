"""MLflow's tracking REST API (mlflow/protos/service.proto) over LionLab's runs, served under
/api/2.0/mlflow/ and /ajax-api/2.0/mlflow/, so `mlflow`, `MlflowClient` and the loggers
built on them (the Hugging Face Trainer's, Lightning's MLFlowLogger) log to LionLab when
MLFLOW_TRACKING_URI points at it.

Mapping: an experiment is a project (experiment "0" is the project named "Default"), an
MLflow run a run (its id as a string); params are its config (written once per key, as in
MLflow), MLflow's key/value tags its key tags (mlflow.runName is its name). Every route
declares its role like every other route (api/access.py); the run or experiment a request
names in its body or query is checked with `access.runs` / `access.project`. Metrics go
through the one ingestion path (`services/ingest.ingest` via the metric writer): stored
exactly (NaN and +/-Inf included), summarised, fed to the detectors. Errors are MLflow's body
`{"error_code", "message"}` (api/errors.py), never a 5xx for bad input.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import Required, TypedDict

from lionlab import known_keys
from lionlab.lifecycle import RunStatus
from lionlab_server import schemas, search
from lionlab_server.api.access import (
    ADMIN,
    EDITOR,
    OWNER,
    VIEWER,
    Access,
    Needs,
    Requirement,
    declared,
)
from lionlab_server.api.deps import (
    SessionDep,
    WriteSessionDep,
    bearer,
    caller_scope,
    is_writing,
    run_ended,
)
from lionlab_server.api.validation import MAX_STEP, _text
from lionlab_server.db import begin_write
from lionlab_server.errors import Conflict
from lionlab_server.mlflow import batch as batch_body
from lionlab_server.mlflow import protocol as p
from lionlab_server.services import ingest as ingest_service
from lionlab_server.services.ingest import MAX_WALL_TIME
from lionlab_server.store import audit, lifecycle
from lionlab_server.store import mlflow as store
from lionlab_server.store import runs as run_store
from lionlab_server.store.metrics import KeyPoints
from lionlab_server.store.scope import Scope
from lionlab_server.store.series import query_series

router = APIRouter(tags=["mlflow"])

# MLflow's own limits (mlflow/utils/validation.py).
MAX_BATCH_METRICS, MAX_BATCH_PARAMS, MAX_BATCH_TAGS = 1000, 100, 100
MAX_HISTORY_PAGE = 25_000  # the mlflow client asks for pages of this many
MAX_TIMESTAMP_MS = int(MAX_WALL_TIME * 1000)

Key = _text(250, min_length=1)
ParamValue = _text(6000)
TagValue = _text(8000)
IdText = _text(40)
ExperimentName = _text(100, min_length=1)
Timestamp = Annotated[int, Field(ge=0, le=MAX_TIMESTAMP_MS, description="Milliseconds.")]
MlflowStep = Annotated[
    int, Field(ge=0, le=MAX_STEP, description="LionLab keeps steps 0 .. 2**53 - 1.")
]
Filter = _text(20_000)
OrderItems = Annotated[list[_text(500)], Field(max_length=20)]
MaxResults = Annotated[int, Field(ge=1, le=50_000)]


class _Body(BaseModel):
    # MLflow clients send fields LionLab does not use (run_uuid, model_id, dataset_*).
    model_config = ConfigDict(extra="ignore")


class TagIn(_Body):
    key: Key
    value: TagValue = ""


class ParamIn(_Body):
    key: Key
    value: ParamValue = ""


class MetricIn(TypedDict, total=False):
    """One metric of a batch: a TypedDict, validated in about half the time of a model
    (a batch holds 1,000); `timestamp` and `step` default to 0, as in MLflow."""

    key: Required[Key]
    value: Required[float]
    timestamp: Timestamp
    step: MlflowStep


class CreateExperiment(_Body):
    name: ExperimentName
    artifact_location: _text(2000) | None = None
    tags: Annotated[list[TagIn], Field(max_length=100)] = []


class ExperimentRef(_Body):
    experiment_id: IdText


class UpdateExperiment(ExperimentRef):
    new_name: ExperimentName


class SetExperimentTag(ExperimentRef):
    key: Key
    value: TagValue = ""


class SearchExperiments(_Body):
    max_results: MaxResults = 1000
    page_token: _text(1000) | None = None
    filter: Filter | None = None
    order_by: OrderItems = []
    view_type: _text(20) | int | None = None


class CreateRun(_Body):
    experiment_id: IdText | None = None
    user_id: _text(200) | None = None
    run_name: _text(200) | None = None
    start_time: Timestamp | None = None
    tags: Annotated[list[TagIn], Field(max_length=100)] = []


class RunRef(_Body):
    run_id: IdText | None = None
    run_uuid: IdText | None = None  # MLflow's older name for run_id

    @property
    def id(self) -> int:
        return p.parse_id(self.run_id or self.run_uuid, "run", "run_id")


class UpdateRun(RunRef):
    status: _text(20) | int | None = None
    end_time: Timestamp | None = None
    run_name: _text(200) | None = None


class LogMetric(RunRef):
    key: Key
    value: float
    timestamp: Timestamp = 0
    step: MlflowStep = 0


class LogParam(RunRef):
    key: Key
    value: ParamValue = ""


class SetTag(RunRef):
    key: Key
    value: TagValue = ""


class DeleteTag(RunRef):
    key: Key


class LogBatch(RunRef):
    metrics: Annotated[list[MetricIn], Field(max_length=MAX_BATCH_METRICS)] = []
    params: Annotated[list[ParamIn], Field(max_length=MAX_BATCH_PARAMS)] = []
    tags: Annotated[list[TagIn], Field(max_length=MAX_BATCH_TAGS)] = []


class SearchRuns(_Body):
    experiment_ids: Annotated[list[IdText], Field(max_length=1000)] = []
    filter: Filter | None = None
    run_view_type: _text(20) | int | None = None
    max_results: MaxResults = 1000
    order_by: OrderItems = []
    page_token: _text(1000) | None = None


EMPTY: dict = {}
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
VIEWS = {None: "active", "": "active", 1: "active", 2: "deleted", 3: "all"}
VIEWS.update({"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": "all"})


def _view(value: Any, field: str) -> str:
    view = VIEWS.get(value.upper() if isinstance(value, str) else value)
    if view is None:
        raise p.invalid(f"{field} is {value!r}; use ACTIVE_ONLY, DELETED_ONLY or ALL")
    return view


# --- experiments -------------------------------------------------------------------------


def _experiment_id(session, access: Access, text: str | None, need=None) -> int:
    """The project an experiment id names, checked for the route's role (404 when it does
    not exist or the caller cannot see it). "0" is the project named Default; an admin's
    first use of it creates it."""
    raw = (text or "").strip()
    if raw == "0":
        project_id = store.default_project(session)
        if project_id is None:
            if not (access.caller.is_admin and is_writing(session)):
                raise p.MlflowError(
                    "RESOURCE_DOES_NOT_EXIST",
                    "experiment 0 (the project named Default) does not exist yet: an admin's "
                    "first run in it creates it, or set MLFLOW_EXPERIMENT_NAME to a project "
                    "of yours",
                )
            project_id = store.create_experiment(session, store.DEFAULT_EXPERIMENT, {})
            audit.record(session, access.caller, "project.created", "project", project_id,
                         project_id, {"name": store.DEFAULT_EXPERIMENT})  # fmt: skip
    else:
        project_id = p.parse_id(raw, "experiment", "experiment_id")
    access.project_with(project_id, need or access.need)
    return project_id


def _experiment_or_404(session, project_id: int) -> store.Experiment:
    found = store.get_experiment(session, project_id)
    if found is None:
        raise p.MlflowError("RESOURCE_DOES_NOT_EXIST", f"experiment {project_id} does not exist")
    return found


@router.post("/experiments/create")
def create_experiment(data: CreateExperiment, session: WriteSessionDep, access: Needs(ADMIN)):
    """A new project (creating projects needs an admin, as on /api/v1/projects)."""
    if data.name == store.DEFAULT_EXPERIMENT or store.experiment_named(session, data.name):
        raise p.MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"an experiment (project) named {data.name!r} exists"
        )
    try:
        schemas.ProjectCreate(name=data.name)
    except ValueError:
        raise p.invalid(
            f"experiment name {data.name!r}: LionLab project names are letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        ) from None
    tags = {t.key: t.value for t in data.tags}
    project_id = store.create_experiment(session, data.name, tags)
    audit.record(
        session, access.caller, "project.created", "project", project_id, project_id,
        {"name": data.name},
    )  # fmt: skip
    return {"experiment_id": str(project_id)}


@router.get("/experiments/get")
def get_experiment(
    session: SessionDep, access: Needs(VIEWER), experiment_id: Annotated[IdText, Query()]
):
    project_id = _experiment_id(session, access, experiment_id)
    return {"experiment": p.experiment_json(_experiment_or_404(session, project_id))}


@router.get("/experiments/get-by-name")
def get_experiment_by_name(
    session: SessionDep, access: Needs(VIEWER), experiment_name: Annotated[ExperimentName, Query()]
):
    project_id = store.experiment_named(session, experiment_name)
    if project_id is None or access.caller.role_on(project_id) is None:
        raise p.MlflowError(
            "RESOURCE_DOES_NOT_EXIST",
            "no experiment (project) of that name exists, or it is not visible to you",
        )
    access.project(project_id)
    return {"experiment": p.experiment_json(_experiment_or_404(session, project_id))}


def _experiment_view(e: store.Experiment) -> search.RunView:
    attributes = {
        "name": e.name,
        "creation_time": p.ms(e.created_at),
        "last_update_time": p.ms(e.deleted_at or e.created_at),
    }
    return search.RunView(tags=e.tags, attributes=attributes)


@router.post("/experiments/search")
def search_experiments(data: SearchExperiments, session: SessionDep, access: Needs(VIEWER)):
    view = _view(data.view_type, "view_type")
    found = store.list_experiments(session, access.scope, view)
    pairs = [(e, _experiment_view(e)) for e in found]
    page, token = _search_page(pairs, data, experiments=True)
    return {"experiments": [p.experiment_json(e) for e in page], **token}


def _search_page(pairs: list, data, experiments: bool = False) -> tuple[list, dict]:
    """The page of (object, view) pairs a search asks for: filtered, ordered, offset by its
    page token; and the next page's token ({} on the last page)."""
    try:
        clauses = search.parse_filter(data.filter, experiments=experiments)
        order = search.parse_order_by(data.order_by, experiments=experiments)
    except search.BadSearch as exc:
        raise p.invalid(str(exc)) from None
    kept = [(obj, view) for obj, view in pairs if search.matches(clauses, view)]
    by_view = {id(view): obj for obj, view in kept}
    ordered = [by_view[id(v)] for v in search.sort_runs([v for _, v in kept], order)]
    offset = p.token_int(p.read_token(data.page_token), "offset")
    end = offset + data.max_results
    return ordered[offset:end], ({"next_page_token": p.token({"offset": end})}
                                 if end < len(ordered) else {})  # fmt: skip


@router.post("/experiments/update")
def update_experiment(data: UpdateExperiment, session: WriteSessionDep, access: Needs(OWNER)):
    project_id = _experiment_id(session, access, data.experiment_id)
    try:
        store.rename_experiment(session, project_id, data.new_name)
        schemas.ProjectCreate(name=data.new_name)
    except Conflict:
        raise p.MlflowError(
            "RESOURCE_ALREADY_EXISTS", f"an experiment (project) named {data.new_name!r} exists"
        ) from None
    except ValueError:
        raise p.invalid(f"experiment name {data.new_name!r} is not a valid project name") from None
    audit.record(
        session, access.caller, "project.renamed", "project", project_id, project_id,
        {"name": data.new_name},
    )  # fmt: skip
    return EMPTY


def _set_experiment_deleted(session, access: Access, experiment_id: str, deleted: bool) -> dict:
    project_id = _experiment_id(session, access, experiment_id)
    if store.set_experiment_deleted(session, project_id, deleted):
        action = "project.deleted" if deleted else "project.restored"
        audit.record(session, access.caller, action, "project", project_id, project_id)
    return EMPTY


@router.post("/experiments/delete")
def delete_experiment(data: ExperimentRef, session: WriteSessionDep, access: Needs(OWNER)):
    """Marks the project deleted (MLflow's lifecycle_stage); its runs are kept until a
    restore."""
    return _set_experiment_deleted(session, access, data.experiment_id, True)


@router.post("/experiments/restore")
def restore_experiment(data: ExperimentRef, session: WriteSessionDep, access: Needs(OWNER)):
    return _set_experiment_deleted(session, access, data.experiment_id, False)


@router.post("/experiments/set-experiment-tag")
def set_experiment_tag(data: SetExperimentTag, session: WriteSessionDep, access: Needs(EDITOR)):
    project_id = _experiment_id(session, access, data.experiment_id)
    store.set_experiment_tag(session, project_id, data.key, data.value)
    return EMPTY


# --- runs --------------------------------------------------------------------------------


def _run(session, access: Access, run_id: int) -> store.RunRecord:
    """The run, after checking the route's role on it (404 when not visible)."""
    access.runs([run_id])
    found = store.run_records(session, [run_id])
    if not found:
        raise p.MlflowError("RESOURCE_DOES_NOT_EXIST", f"run {run_id} does not exist")
    return found[0]


def _apply_tags(session, run_id: int, tags: dict[str, str]) -> None:
    """MLflow tags of a run; mlflow.runName renames it, lionlab.status is LionLab's own."""
    name = tags.pop(p.RUN_NAME_TAG, None)
    tags.pop(p.STATUS_TAG, None)
    if name is not None:
        store.rename_run(session, run_id, name[:200] or f"run-{run_id}")
    if tags:
        store.set_key_tags(session, run_id, tags)


def _apply_params(session, run_id: int, params: dict[str, str]) -> None:
    store.set_params(session, run_id, params)
    optimizer = known_keys.optimizer_of(params)
    if optimizer is not None:
        store.set_optimizer(session, run_id, optimizer)


@router.post("/runs/create")
def create_run(data: CreateRun, session: WriteSessionDep, access: Needs(EDITOR)):
    project_id = _experiment_id(session, access, data.experiment_id or "0")
    if _experiment_or_404(session, project_id).deleted_at is not None:
        raise p.invalid(f"experiment {project_id} is deleted; restore it to add runs")
    tags = {t.key: t.value for t in data.tags}
    name = data.run_name or tags.get(p.RUN_NAME_TAG) or None
    created, _ = run_store.create_run(
        session, access.caller, schemas.RunCreate(project_id=project_id, name=name or None)
    )
    if data.start_time is not None:
        store.set_started(session, created.id, p.from_ms(data.start_time))
    tags.pop(p.RUN_NAME_TAG, None)
    if data.user_id:
        tags.setdefault(p.USER_TAG, data.user_id)
    _apply_tags(session, created.id, tags)
    audit.record(
        session, access.caller, "run.created", "run", created.id, project_id,
        {"name": created.name, "via": "mlflow"},
    )  # fmt: skip
    return {"run": p.run_json(store.run_records(session, [created.id])[0])}


@router.get("/runs/get")
def get_run(
    session: SessionDep,
    access: Needs(VIEWER),
    run_id: Annotated[IdText, Query()],
):
    rid = p.parse_id(run_id, "run", "run_id")
    return {"run": p.run_json(_run(session, access, rid))}


@router.post("/runs/update")
def update_run(data: UpdateRun, session: WriteSessionDep, access: Needs(EDITOR)):
    """Rename a run or end it (end_run): FINISHED, FAILED or KILLED end a script's run as
    succeeded, failed or cancelled; a job's status belongs to its worker (409)."""
    run = _run(session, access, data.id)
    if data.run_name:
        store.rename_run(session, run.id, data.run_name)
    if data.status is not None:
        status = _status(data.status)
        if status.value != run.status:
            store.check_active(store.lock_run(session, run.id))
            lifecycle.move_script(session, access.scope, run.id, status)
            if status.finished:
                run_ended(session, run.id)
        if data.end_time is not None and status.finished:
            store.set_finished_at(session, run.id, p.from_ms(data.end_time))
    record = store.run_records(session, [run.id])[0]
    return {"run_info": p.run_info_json(record)}


STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}


def _status(value: str | int) -> RunStatus:
    name = STATUS_NUMBERS.get(value) if isinstance(value, int) else value.upper()
    if name not in p.FROM_MLFLOW:
        raise p.invalid(f"status {value!r}: use RUNNING, FINISHED, FAILED or KILLED")
    return p.FROM_MLFLOW[name]


def _set_run_deleted(session, access: Access, run_id: int, deleted: bool) -> dict:
    run = _run(session, access, run_id)
    if store.set_run_deleted(session, run.id, deleted):
        action = "run.deleted" if deleted else "run.restored"
        audit.record(session, access.caller, action, "run", run.id, run.project_id)
    return EMPTY


@router.post("/runs/delete")
def delete_run(data: RunRef, session: WriteSessionDep, access: Needs(EDITOR)):
    """Marks the run deleted (lifecycle_stage); nothing is removed until a restore undoes it."""
    return _set_run_deleted(session, access, data.id, True)


@router.post("/runs/restore")
def restore_run(data: RunRef, session: WriteSessionDep, access: Needs(EDITOR)):
    return _set_run_deleted(session, access, data.id, False)


@router.post("/runs/log-parameter")
def log_param(data: LogParam, session: WriteSessionDep, access: Needs(EDITOR)):
    run = _run(session, access, data.id)
    _apply_params(session, run.id, {data.key: data.value})
    return EMPTY


@router.post("/runs/set-tag")
def set_tag(data: SetTag, session: WriteSessionDep, access: Needs(EDITOR)):
    run = _run(session, access, data.id)
    store.check_active(store.lock_run(session, run.id))
    _apply_tags(session, run.id, {data.key: data.value})
    return EMPTY


@router.post("/runs/delete-tag")
def delete_tag(data: DeleteTag, session: WriteSessionDep, access: Needs(EDITOR)):
    run = _run(session, access, data.id)
    store.check_active(store.lock_run(session, run.id))
    if not store.delete_key_tag(session, run.id, data.key):
        raise p.MlflowError(
            "RESOURCE_DOES_NOT_EXIST", f"run {run.id} has no tag {data.key!r} to delete"
        )
    return EMPTY


# The logging routes authenticate without a worker-thread hop when the token is cached and
# check the caller's role on the run inside the metric writer's transaction (one hop in all).
LOG = Requirement(EDITOR)


async def _log(
    request: Request,
    caller: Scope,
    run_id: int,
    batch: list[KeyPoints],
    params: dict[str, str],
    tags: dict[str, str],
) -> dict:
    """One write transaction through the metric writer (group commit on SQLite): the role
    check, params and tags first (a changed param refuses the whole request), then the
    metrics through the ingestion path, with detection."""

    def work(session):
        begin_write(session)
        scope = LOG.authorize(session, caller, None).runs([run_id])
        # params change the run's row: lock it; metrics alone need only its deleted mark
        row = store.lock_run(session, run_id) if params or tags else store.run_row(session, run_id)
        store.check_active(row)
        if params:
            _apply_params(session, run_id, params)
        if tags:
            _apply_tags(session, run_id, dict(tags))
        return ingest_service.ingest(session, scope, run_id, batch)

    await request.app.state.metric_writes.write(work, sum(len(kp.steps) for kp in batch))
    return EMPTY


def _schema(model: type[BaseModel]) -> dict:
    """`model`'s JSON schema with its definitions inlined (a request body of its own)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    return inline(schema)


def _body_doc(model: type[BaseModel]) -> dict:
    content = {"application/json": {"schema": _schema(model)}}
    return {"requestBody": {"required": True, "content": content}}


@router.post("/runs/log-metric", openapi_extra=_body_doc(LogMetric))
async def log_metric(request: Request, credentials: Credentials, _: Annotated[None, declared(LOG)]):
    caller = await caller_scope(request, credentials)
    data = batch_body.validated(LogMetric, batch_body.parse_json(await request.body()))
    stamp = np.array([data.timestamp or _now_ms()], dtype=np.int64)
    values = np.array([data.value], dtype=np.float64)
    points = batch_body.grouped([data.key], values, stamp, np.array([data.step], dtype=np.int64))
    return await _log(request, caller, data.id, points, {}, {})


@router.post("/runs/log-batch", openapi_extra=_body_doc(LogBatch))
async def log_batch(request: Request, credentials: Credentials, _: Annotated[None, declared(LOG)]):
    """At most 1000 metrics, 100 params and 100 tags per call (MLflow's limits). The body
    is read by mlflow/batch.py (the hot path), with the same rules as the model."""
    caller = await caller_scope(request, credentials)
    data, points = batch_body.parse_log_batch(
        await request.body(), LogBatch, MAX_BATCH_METRICS, MAX_TIMESTAMP_MS
    )
    params = {}
    for item in data.params:
        if params.get(item.key, item.value) != item.value:
            raise p.invalid(f"param {item.key!r} is given twice with different values")
        params[item.key] = item.value
    tags = {t.key: t.value for t in data.tags}
    return await _log(request, caller, data.id, points, params, tags)


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.post("/runs/search")
def search_runs(data: SearchRuns, session: SessionDep, access: Needs(VIEWER)):
    """MLflow's filter grammar (metrics., params., tags., attributes.; =, !=, <, <=, >, >=,
    LIKE, ILIKE, IN, NOT IN; AND) and order_by, newest first by default; paged. Filtered,
    ordered and paged in the database (store/run_search.py): a page costs what its size
    does, whatever the number of runs."""
    view = _view(data.run_view_type, "run_view_type")
    project_ids = [_experiment_id(session, access, e) for e in dict.fromkeys(data.experiment_ids)]
    try:
        clauses = search.parse_filter(data.filter)
        order = search.parse_order_by(data.order_by)
    except search.BadSearch as exc:
        raise p.invalid(str(exc)) from None
    offset = p.token_int(p.read_token(data.page_token), "offset")
    ids = store.search_run_ids(
        session, project_ids, view, clauses, order, offset, data.max_results + 1
    )
    records = store.run_records(session, ids[: data.max_results])
    end = offset + data.max_results
    token = {"next_page_token": p.token({"offset": end})} if len(ids) > data.max_results else {}
    return {"runs": [p.run_json(r) for r in records], **token}


# --- metric histories --------------------------------------------------------------------


@router.get("/metrics/get-history")
def get_metric_history(
    session: SessionDep,
    access: Needs(VIEWER),
    metric_key: Annotated[Key, Query()],
    run_id: Annotated[IdText, Query()],
    page_token: Annotated[_text(1000) | None, Query()] = None,
    max_results: Annotated[int | None, Query(ge=1, le=MAX_HISTORY_PAGE)] = None,
):
    """Every stored point of the metric, by step, exactly (NaN and +/-Infinity as strings),
    in pages of at most 25,000."""
    rid = p.parse_id(run_id, "run", "run_id")
    _run(session, access, rid)
    first = p.token_int(p.read_token(page_token), "step")
    limit = max_results or MAX_HISTORY_PAGE
    (steps, values, walls), next_step = store.history_page(session, rid, metric_key, first, limit)
    out: dict = {"metrics": _points_json(metric_key, steps, values, walls)}
    if next_step is not None:
        out["next_page_token"] = p.token({"step": next_step})
    return out


def _points_json(key, steps, values, walls, run_id: str | None = None) -> list[dict]:
    ms = np.rint(walls * 1000).astype(np.int64).tolist()
    out = []
    for s, v, t in zip(steps.tolist(), values.tolist(), ms, strict=True):
        point = {"key": key, "value": p.number(v), "timestamp": t, "step": s}
        if run_id is not None:
            point["run_id"] = run_id
        out.append(point)
    return out


@router.get("/metrics/get-history-bulk-interval")
def get_metric_history_bulk_interval(
    session: SessionDep,
    access: Needs(VIEWER),
    metric_key: Annotated[Key, Query()],
    run_ids: Annotated[list[IdText], Query(max_length=100)],
    start_step: Annotated[int | None, Query(ge=0, le=MAX_STEP)] = None,
    end_step: Annotated[int | None, Query(ge=0, le=MAX_STEP)] = None,
    max_results: Annotated[int | None, Query(ge=2, le=10_000)] = None,
):
    """Up to max_results points per run (default 320), chosen by LionLab's extremes-keeping
    downsampling: each bucket's minimum and maximum (and a NaN) stay, so spikes that MLflow's
    even-interval sampling drops are in the answer."""
    if start_step is not None and end_step is not None and end_step < start_step:
        raise p.invalid(f"end_step ({end_step}) is before start_step ({start_step})")
    ids = [p.parse_id(r, "run", "run_ids") for r in dict.fromkeys(run_ids)]
    if not ids:
        raise p.invalid("run_ids: name at least one run")
    scope = access.runs(ids)
    series = query_series(
        session, scope, ids, [metric_key], max_results or 320, start_step, end_step
    )
    out = []
    for s in series:
        out.extend(_points_json(metric_key, s.steps, s.values, s.walls, str(s.run_id)))
    return {"metrics": out}


def install(app) -> None:
    """Serve the API under both of MLflow's prefixes (the client's and its UI's)."""
    answers = p.responses(*p.COMMON)
    app.include_router(router, prefix="/api/2.0/mlflow", responses=answers)
    app.include_router(
        router, prefix="/ajax-api/2.0/mlflow", include_in_schema=False, responses=answers
    )
    _document_400_not_422(app)


def _document_400_not_422(app) -> None:
    """FastAPI documents a 422 for every route with parameters; these answer a 400 instead
    (api/errors.py), so the document drops it for them."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            for path, operations in build()["paths"].items():
                if path.startswith(p.PREFIXES):
                    for operation in operations.values():
                        operation["responses"].pop("422", None)
        return app.openapi_schema

    app.openapi = openapi
