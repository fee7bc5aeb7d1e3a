"""The real `mlflow` client (fluent API and MlflowClient, pinned in the dev extra) against a
LionLab server process: everything an existing training script does through mlflow lands in
LionLab's runs, exactly, with MLflow's errors where MLflow would raise them."""

from __future__ import annotations

import json
import math
import os
import uuid

import httpx
import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from support.live import start_server
from support.local_servers import create_database, drop_database


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(request, tmp_path_factory):
    """A LionLab server process on SQLite, and on a Postgres database of its own."""
    env, database = {}, None
    if request.param == "postgres":
        admin = request.getfixturevalue("postgres_server")
        database = f"lionlab_mlflow_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        env["LIONLAB_DATABASE_URL"] = create_database(admin, database)
    srv = start_server(tmp_path_factory.mktemp("mlflow-api") / "data", env=env)
    yield srv
    srv.stop()
    if database is not None:
        drop_database(admin, database)


@pytest.fixture(scope="module")
def people(server):
    """An editor (password, for Basic auth) and a viewer (a token) on project `shared`."""
    h = server.headers
    project = httpx.post(f"{server.url}/api/v1/projects", json={"name": "shared"}, headers=h)
    pid = project.json()["id"]
    for name, role in (("ed", "editor"), ("vi", "viewer")):
        r = httpx.post(
            f"{server.url}/api/v1/users",
            json={"username": name, "password": f"{name}-password-1"},
            headers=h,
        )
        assert r.status_code == 201, r.text
        r = httpx.put(
            f"{server.url}/api/v1/projects/{pid}/members",
            json={"username": name, "role": role},
            headers=h,
        )
        assert r.status_code == 200, r.text
    return {"project_id": pid}


@pytest.fixture
def as_admin(server, monkeypatch):
    """mlflow pointed at the server by the environment alone, with the admin token."""
    for var in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_EXPERIMENT_ID",  # set_experiment() sets it
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # mlflow keeps a process-wide tracking URI; restored after the test, so tests of other
    # modules that run later in this process read MLFLOW_TRACKING_URI as a script would
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", server.url)
    # mlflow caches artifact repositories by run id, and LionLab's run ids (small integers)
    # repeat across this module's two servers
    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_artifact_repos_cache", {})
    yield MlflowClient(server.url)
    while mlflow.active_run():
        mlflow.end_run()


def _native(server, path: str, **params):
    r = httpx.get(f"{server.url}/api/v1{path}", headers=server.headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def test_fluent_run_lands_in_lionlab(server, as_admin):
    mlflow.set_experiment("fluent")
    with mlflow.start_run(run_name="lion-a") as run:
        mlflow.log_param("lr", "0.0003")
        mlflow.log_params({"optim": "lion", "batch_size": 32})
        mlflow.log_metric("loss", 2.5, step=0)
        mlflow.log_metrics({"loss": 2.25, "accuracy": 0.5}, step=1)
        mlflow.set_tag("team", "vision")
    run_id = run.info.run_id

    got = as_admin.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "lion-a"
    assert got.data.params == {"lr": "0.0003", "optim": "lion", "batch_size": "32"}
    assert got.data.metrics == {"loss": 2.25, "accuracy": 0.5}
    assert got.data.tags["team"] == "vision"
    assert got.data.tags["mlflow.runName"] == "lion-a"

    # the same run through LionLab's own API: name, config, optimizer read from `optim`
    native = _native(server, f"/runs/{run_id}")
    assert native["name"] == "lion-a" and native["status"] == "succeeded"
    assert native["config"]["lr"] == "0.0003" and native["optimizer"] == "lion"
    experiment = mlflow.get_experiment_by_name("fluent")
    assert native["project_id"] == int(experiment.experiment_id)
    summaries = {m["key"]: m for m in _native(server, f"/runs/{run_id}/metrics")}
    assert summaries["loss"]["count"] == 2 and summaries["loss"]["last"] == 2.25


@pytest.mark.parametrize(
    ("status", "lionlab"),
    [("FINISHED", "succeeded"), ("FAILED", "failed"), ("KILLED", "cancelled")],
)
def test_end_run_maps_each_status(server, as_admin, status, lionlab):
    mlflow.set_experiment("statuses")
    run = mlflow.start_run()
    mlflow.end_run(status=status)
    assert as_admin.get_run(run.info.run_id).info.status == status
    assert _native(server, f"/runs/{run.info.run_id}")["status"] == lionlab
    assert as_admin.get_run(run.info.run_id).info.end_time is not None


def test_log_batch_keeps_nan_and_infinities_exactly(server, as_admin):
    """MLflow's own server clamps +/-Inf to +/-DBL_MAX; LionLab stores what was logged."""
    exp = as_admin.create_experiment("exact")
    run = as_admin.create_run(exp)
    values = [1.5, float("nan"), float("inf"), float("-inf"), 1e-300, -0.0, 123456.789]
    metrics = [Metric("loss", v, 1_700_000_000_000 + i, i) for i, v in enumerate(values)]
    as_admin.log_batch(
        run.info.run_id,
        metrics=metrics,
        params=[Param("seed", "3")],
        tags=[RunTag("stage", "probe")],
    )
    history = as_admin.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == list(range(len(values)))
    assert all(_same(m.value, v) for m, v in zip(history, values, strict=True))
    assert [m.timestamp for m in history] == [m.timestamp for m in metrics]
    native = _native(server, "/series", run=run.info.run_id, key="loss", max_points=100)
    stored = native["series"][0]["values"]
    assert stored[1] == "NaN" and stored[2] == "Infinity" and stored[3] == "-Infinity"
    # a logged NaN loss is divergence for LionLab's detectors
    flags = _native(server, f"/runs/{run.info.run_id}/flags")
    assert any(f["kind"] == "divergence" for f in flags)


def test_metric_history_pages_through_long_runs(server, as_admin):
    """The client asks for pages of 25,000; a 30,000-step metric comes back whole."""
    exp = as_admin.create_experiment("long")
    run = as_admin.create_run(exp)
    steps = list(range(30_000))
    body = {"steps": steps, "metrics": {"loss": [1.0 / (1 + s) for s in steps]}}
    r = httpx.post(
        f"{server.url}/api/v1/runs/{run.info.run_id}/metrics", json=body, headers=server.headers
    )
    assert r.status_code == 200, r.text
    history = as_admin.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in history] == steps
    assert all(m.value == 1.0 / (1 + m.step) for m in history)


def test_bulk_interval_keeps_a_spike(server, as_admin):
    """get-history-bulk-interval downsamples keeping each bucket's extremes."""
    exp = as_admin.create_experiment("spiky")
    run = as_admin.create_run(exp)
    steps = list(range(20_000))
    loss = [2.0] * len(steps)
    loss[12_345] = 50.0
    body = {"steps": steps, "metrics": {"loss": loss}}
    r = httpx.post(
        f"{server.url}/api/v1/runs/{run.info.run_id}/metrics", json=body, headers=server.headers
    )
    assert r.status_code == 200
    r = httpx.get(
        f"{server.url}/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
        params={"run_ids": [run.info.run_id], "metric_key": "loss", "max_results": 100},
        headers=server.headers,
    )
    assert r.status_code == 200, r.text
    points = r.json()["metrics"]
    assert 50 <= len(points) <= 100
    assert {"step": 12_345, "value": 50.0} in [
        {"step": p["step"], "value": p["value"]} for p in points
    ]
    assert {p["run_id"] for p in points} == {run.info.run_id}


def test_search_runs_filters_and_orders(as_admin):
    exp = as_admin.create_experiment("search")
    ids = {}
    for name, opt, lr, loss in [
        ("l1", "lion", "1e-4", 1.9),
        ("l2", "lion", "3e-4", 1.7),
        ("a1", "adamw", "1e-3", 1.8),
    ]:
        run = as_admin.create_run(exp, run_name=name, tags={"family": "gpt"})
        as_admin.log_batch(
            run.info.run_id,
            metrics=[Metric("eval_loss", loss, 0, 10)],
            params=[Param("optimizer", opt), Param("lr", lr)],
        )
        as_admin.set_terminated(run.info.run_id)
        ids[name] = run.info.run_id

    def names(**kw):
        runs = as_admin.search_runs([exp], **kw)
        return [r.info.run_name for r in runs]

    assert names(filter_string="params.optimizer = 'lion'", order_by=["metrics.eval_loss"]) == [
        "l2",
        "l1",
    ]
    assert names(filter_string="metrics.eval_loss < 1.85", order_by=["metrics.eval_loss DESC"]) == [
        "a1",
        "l2",
    ]
    assert names(filter_string="tags.family LIKE 'g%' and params.lr IN ('1e-3', '1e-4')",
                 order_by=["attributes.run_name"]) == ["a1", "l1"]  # fmt: skip
    assert names(
        filter_string="attributes.run_name ILIKE 'L%'", order_by=["attributes.run_name DESC"]
    ) == [
        "l2",
        "l1",
    ]
    assert names(filter_string="attributes.status = 'FINISHED'", max_results=2) == ["a1", "l2"]
    page = as_admin.search_runs([exp], max_results=2, order_by=["attributes.run_name"])
    rest = as_admin.search_runs(
        [exp], max_results=2, page_token=page.token, order_by=["attributes.run_name"]
    )
    assert [r.info.run_name for r in page] + [r.info.run_name for r in rest] == ["a1", "l1", "l2"]
    with pytest.raises(MlflowException) as bad:
        as_admin.search_runs([exp], filter_string="metrics.eval_loss <<< 2")
    assert bad.value.error_code == "INVALID_PARAMETER_VALUE"
    # pandas output of the fluent API too
    frame = mlflow.search_runs([exp], filter_string="params.optimizer = 'adamw'")
    assert list(frame["run_id"]) == [ids["a1"]]


def test_errors_are_mlflow_errors(as_admin):
    with pytest.raises(MlflowException) as missing:
        as_admin.get_run("987654")
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    exp = as_admin.create_experiment("errors")
    run = as_admin.create_run(exp)
    as_admin.log_param(run.info.run_id, "lr", "0.001")
    as_admin.log_param(run.info.run_id, "lr", "0.001")  # the same value again is fine
    with pytest.raises(MlflowException) as changed:
        as_admin.log_param(run.info.run_id, "lr", "0.01")
    assert changed.value.error_code == "INVALID_PARAMETER_VALUE"
    assert "cannot change" in changed.value.message
    assert as_admin.get_run(run.info.run_id).data.params == {"lr": "0.001"}
    with pytest.raises(MlflowException) as dup:
        as_admin.create_experiment("errors")
    assert dup.value.error_code == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as neg:
        as_admin.log_metric(run.info.run_id, "loss", 1.0, step=-1)
    assert neg.value.error_code == "INVALID_PARAMETER_VALUE"


def test_batch_limits_are_mlflows(server, as_admin):
    """The client splits its batches at MLflow's limits; a raw request over them is a 400."""
    run = as_admin.create_run(as_admin.create_experiment("limits"))
    too_many = [{"key": "m", "value": 1.0, "timestamp": 0, "step": i} for i in range(1001)]
    r = httpx.post(
        f"{server.url}/api/2.0/mlflow/runs/log-batch",
        json={"run_id": run.info.run_id, "metrics": too_many},
        headers=server.headers,
    )
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    as_admin.log_batch(run.info.run_id, metrics=[Metric(**m) for m in too_many])  # split: fine
    assert len(as_admin.get_metric_history(run.info.run_id, "m")) == 1001


def test_delete_restore_and_tags(as_admin):
    exp = as_admin.create_experiment("lifecycle")
    run = as_admin.create_run(exp)
    rid = run.info.run_id
    as_admin.set_tag(rid, "note", "keep")
    as_admin.delete_tag(rid, "note")
    assert "note" not in as_admin.get_run(rid).data.tags
    as_admin.delete_run(rid)
    assert as_admin.get_run(rid).info.lifecycle_stage == "deleted"
    assert as_admin.search_runs([exp]) == []
    with pytest.raises(MlflowException) as deleted:
        as_admin.log_metric(rid, "loss", 1.0)
    assert deleted.value.error_code == "INVALID_PARAMETER_VALUE"
    as_admin.restore_run(rid)
    assert [r.info.run_id for r in as_admin.search_runs([exp])] == [rid]
    as_admin.rename_experiment(exp, "lifecycle-2")
    assert as_admin.get_experiment(exp).name == "lifecycle-2"
    as_admin.delete_experiment(exp)
    assert as_admin.get_experiment(exp).lifecycle_stage == "deleted"
    names = [e.name for e in as_admin.search_experiments(filter_string="name LIKE 'lifecycle%'")]
    assert names == []
    as_admin.restore_experiment(exp)
    names = [e.name for e in as_admin.search_experiments(filter_string="name LIKE 'lifecycle%'")]
    assert names == ["lifecycle-2"]


def test_artifacts_round_trip(server, as_admin, tmp_path):
    mlflow.set_experiment("artifacts")
    source = tmp_path / "notes.txt"
    source.write_text("lion vs adamw\n")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(source))
        mlflow.log_artifact(str(source), artifact_path="nested/deeper")
        mlflow.log_dict({"lr": 3e-4}, "config.json")
        mlflow.log_text("plain text", "texts/a.txt")
    listed = sorted(a.path for a in as_admin.list_artifacts(run.info.run_id))
    assert listed == ["config.json", "nested", "notes.txt", "texts"]
    out = mlflow.artifacts.download_artifacts(run_id=run.info.run_id, dst_path=str(tmp_path / "d"))
    assert (tmp_path / "d" / "nested" / "deeper" / "notes.txt").read_text() == "lion vs adamw\n"
    assert json.loads((tmp_path / "d" / "config.json").read_text()) == {"lr": 3e-4}
    assert os.path.isdir(out)
    where = f"{run.info.experiment_id}/{run.info.run_id}/artifacts"
    base = f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{where}"
    for bad in ("../../../etc/passwd", "%2e%2e/x", "a\\b"):
        r = httpx.put(f"{base}/{bad}", content=b"x", headers=server.headers)
        assert r.status_code in (400, 404), (bad, r.status_code)
        assert "error_code" in r.json()
    assert not (server.data_dir / "etc").exists()


def test_roles_hold_for_mlflow_clients(server, people, monkeypatch, as_admin):
    """A user's name and password (Basic) and a read-only caller get the roles they hold."""
    invisible = as_admin.create_experiment("admins-only")
    monkeypatch.delenv("MLFLOW_TRACKING_TOKEN")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "ed")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "ed-password-1")
    editor = MlflowClient(server.url)
    pid = str(people["project_id"])
    run = editor.create_run(pid)
    editor.log_metric(run.info.run_id, "loss", 1.0, step=0)
    editor.set_terminated(run.info.run_id, status=RunStatus.to_string(RunStatus.FINISHED))
    with pytest.raises(MlflowException) as no_admin:
        editor.create_experiment("not-mine")
    assert no_admin.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException) as hidden:
        editor.get_experiment(invisible)
    assert hidden.value.error_code == "RESOURCE_DOES_NOT_EXIST"

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "vi")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "vi-password-1")
    viewer = MlflowClient(server.url)
    assert viewer.get_run(run.info.run_id).data.metrics == {"loss": 1.0}
    with pytest.raises(MlflowException) as read_only:
        viewer.log_metric(run.info.run_id, "loss", 2.0, step=1)
    assert read_only.value.error_code == "PERMISSION_DENIED"

    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    with pytest.raises(MlflowException) as wrong:
        MlflowClient(server.url).get_run(run.info.run_id)
    assert wrong.value.error_code == "UNAUTHENTICATED"


def test_default_experiment_is_created_by_an_admins_first_run(server, as_admin, monkeypatch):
    """mlflow.start_run() without an experiment logs to experiment "0": the Default project."""
    # as in a fresh process: no experiment set by an earlier test
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)
    with mlflow.start_run() as run:
        mlflow.log_metric("loss", 1.0)
    assert run.info.experiment_id == str(mlflow.get_experiment_by_name("Default").experiment_id)
    assert as_admin.get_experiment("0").name == "Default"
