"""Worker reports (POST /workers/report), the admins' worker list, the checks built on them,
and the status page that shows those checks."""

from datetime import timedelta

import pytest
from sqlalchemy import update

from lionlab_server.models import WorkerReport, utcnow
from lionlab_server.services import health
from lionlab_server.store import workers as worker_store


def facts(worker: str = "gpu-node:4242:cuda", **changes) -> dict:
    host, pid, device = worker.split(":")
    body = {
        "name": worker,
        "hostname": host,
        "pid": int(pid),
        "device": device,
        "queues": ["gpu"],
        "devices": ["cuda:0: NVIDIA H200, 139.8 GiB, compute capability 9.0", "cpu: 16 threads"],
        "torch_version": "2.11.0+cu128",
        "cuda_version": "12.8",
        "lion_kernel": "triton",
        "lionlab_version": "0.1.0",
        "interval_s": 30.0,
    }
    return {**body, **changes}


def project_token(api) -> dict[str, str]:
    project = api.project("team")
    r = api.post("/tokens", json={"name": "node", "project_id": project["id"]})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def listed(api) -> dict[str, dict]:
    r = api.get("/workers")
    assert r.status_code == 200, r.text
    return {w["name"]: w for w in r.json()}


def test_a_report_is_stored_and_the_worker_listed_alive(api):
    r = api.post("/workers/report", json=facts())
    assert r.status_code == 200, r.text
    worker = listed(api)["gpu-node:4242:cuda"]
    assert worker["alive"] is True and worker["stopped_at"] is None
    assert worker["lion_kernel"] == "triton" and worker["cuda_version"] == "12.8"
    assert worker["devices"][0].startswith("cuda:0: NVIDIA H200")


def test_a_later_report_replaces_the_facts_and_a_stopped_worker_is_not_alive(api):
    api.post("/workers/report", json=facts())
    first = listed(api)["gpu-node:4242:cuda"]
    r = api.post("/workers/report", json=facts(lion_kernel="foreach", stopped=True))
    assert r.status_code == 200, r.text
    workers = listed(api)
    assert len(workers) == 1
    worker = workers["gpu-node:4242:cuda"]
    assert worker["lion_kernel"] == "foreach"
    assert worker["alive"] is False and worker["stopped_at"] is not None
    assert worker["started_at"] == first["started_at"]


def test_any_token_reports_but_only_an_admin_lists(api):
    scoped = project_token(api)
    assert api.post("/workers/report", json=facts(), headers=scoped).status_code == 200
    assert api.get("/workers", headers=scoped).status_code == 403
    bad = {"Authorization": "Bearer llk_wrong"}
    assert api.post("/workers/report", json=facts(), headers=bad).status_code == 401
    assert api.client.post("/api/v1/workers/report", json=facts()).status_code == 401


@pytest.mark.parametrize(
    "changes, loc",
    [
        ({"hostname": "node\x00"}, ["body", "hostname"]),
        ({"name": ""}, ["body", "name"]),
        ({"torch_version": "x" * 65}, ["body", "torch_version"]),
        ({"devices": ["cpu"] * 65}, ["body", "devices"]),
        ({"queues": ["gpu\x00"]}, ["body", "queues", 0]),
        ({"interval_s": 0}, ["body", "interval_s"]),
        ({"pid": 2**31}, ["body", "pid"]),
        ({"gpu_count": 8}, ["body", "gpu_count"]),
    ],
)
def test_a_report_outside_the_rules_is_422_naming_the_field_and_not_stored(api, changes, loc):
    r = api.post("/workers/report", json=facts(**changes))
    assert r.status_code == 422, r.text
    assert any(d["loc"] == loc for d in r.json()["detail"]), r.json()
    assert listed(api) == {}


def _worker_lines(session) -> dict[str, health.Check]:
    return {c.name: c for c in health.worker_checks(worker_store.list_workers(session))}


def test_worker_checks_say_who_is_alive_and_which_lion_kernel_it_uses(api, app):
    assert api.post("/workers/report", json=facts()).status_code == 200
    cpu = facts("laptop:7:cpu", queues=["cpu", "gpu"], lion_kernel="foreach", cuda_version=None)
    assert api.post("/workers/report", json=cpu).status_code == 200
    with app.state.sessionmaker() as session:
        lines = _worker_lines(session)
    assert lines["workers"].verdict is health.Verdict.OK and "2 alive" in lines["workers"].detail
    gpu = lines["worker gpu-node:4242:cuda"]
    assert gpu.verdict is health.Verdict.OK
    assert "Lion kernel: triton" in gpu.detail and "CUDA 12.8" in gpu.detail
    fallback = lines["worker laptop:7:cpu"]  # the C kernel did not build there
    assert fallback.verdict is health.Verdict.WARN
    assert "Lion kernel: foreach" in fallback.detail and "CPU-only" in fallback.detail


def test_a_silent_worker_is_a_warning_and_none_alive_fails(api, app):
    with app.state.sessionmaker() as session:
        assert _worker_lines(session)["workers"].verdict is health.Verdict.FAIL
    assert api.post("/workers/report", json=facts()).status_code == 200
    with app.state.sessionmaker() as session:
        # Four report intervals without a word: past the window of three.
        session.execute(update(WorkerReport).values(last_seen=utcnow() - timedelta(seconds=120)))
        session.commit()
        lines = _worker_lines(session)
    assert lines["workers"].verdict is health.Verdict.FAIL
    assert lines["worker gpu-node:4242:cuda"].verdict is health.Verdict.WARN


def _page(api, headers=None):
    return api.client.get("/status", follow_redirects=False, headers=headers or {})


def test_the_status_page_shows_the_checks_to_an_admin(api):
    api.post("/workers/report", json=facts())
    api.client.cookies.set("lionlab_token", api.token)
    r = _page(api)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    for name in ("database", "migrations", "broker", "workers", "data dir", "server"):
        assert f'<td class="mono">{name}</td>' in page
    assert '<td class="mono">worker gpu-node:4242:cuda</td>' in page
    assert "Lion kernel: triton" in page and 'href="/status"' in page


def test_the_status_page_is_403_for_a_project_token_and_asks_others_to_sign_in(api):
    scoped = project_token(api)["Authorization"].removeprefix("Bearer ")
    r = _page(api)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    api.client.cookies.set("lionlab_token", scoped)
    r = _page(api)
    assert r.status_code == 403 and "needs an admin" in r.text
    assert "status-checks" not in r.text and 'href="/status"' not in r.text


def test_a_report_with_every_text_at_its_longest_is_stored(api):
    # Each text field's limit is its column's: on Postgres a longer value would be a 500.
    label = "x" * 64
    body = facts(
        device=label,
        lion_kernel=label,
        torch_version=label,
        cuda_version=label,
        lionlab_version=label,
        queues=[label] * 32,
        devices=["d" * 200] * 64,
        hostname="h" * 200,
    )
    r = api.post("/workers/report", json=body)
    assert r.status_code == 200, r.text
    worker = listed(api)["gpu-node:4242:cuda"]
    assert worker["device"] == label and worker["lion_kernel"] == label
    assert api.post("/workers/report", json={**body, "device": label + "x"}).status_code == 422
