"""Run artifacts through the native API: the files a run logged through the MLflow artifact
endpoints are listed (sorted, sized, with the kind the dashboard may preview) and served
with content types that never let an uploaded page or SVG run in the dashboard's origin;
paths stay inside their run; callers that cannot see the run get 404."""

from __future__ import annotations

import pytest
from support.png import png

from lionlab_server.store import grants, tokens, users
from lionlab_server.store.scope import Role

HTML = b"<html><script>fetch('/api/v1/tokens', {method: 'POST'})</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
FILES = {
    "plots/loss.png": png(3, 2),
    "notes.txt": "Lion at 3e-4: stable, ünïcode kept".encode(),
    "config.yaml": b"lr: 0.0003\n",
    "report.html": HTML,
    "logo.svg": SVG,
    "weights/model.bin": b"\x00\x01\x02" * 10,
}
SAFE = {"x-content-type-options": "nosniff", "content-security-policy": "sandbox"}


def upload(api, project_id: int, run_id: int, path: str, data: bytes, headers=None) -> None:
    r = api.client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{project_id}/{run_id}/artifacts/{path}",
        content=data,
        headers=headers or api.headers,
    )
    assert r.status_code == 200, r.text


def fetch(api, run_id: int, path: str, headers=None, **params):
    return api.client.get(
        f"/api/v1/runs/{run_id}/artifacts/{path}", headers=headers or api.headers, params=params
    )


def member(app, project_id: int, name: str, role: Role) -> dict:
    with app.state.sessionmaker() as session, session.begin():
        user = users.create_user(session, name)
        grants.grant_project(session, project_id, role, user_id=user.id)
        secret, _ = tokens.create_token(session, f"{name}-token", user_id=user.id)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def logged(api):
    project = api.project("artifacts")["id"]
    run = api.run(project, name="with-files")["id"]
    for path, data in FILES.items():
        upload(api, project, run, path, data)
    return project, run


def test_the_list_is_sorted_sized_and_says_what_can_be_previewed(api, logged):
    _, run = logged
    r = api.get(f"/runs/{run}/artifacts")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["run_id"] == run and body["truncated"] is False
    assert [f["path"] for f in body["files"]] == [
        "config.yaml",
        "logo.svg",
        "notes.txt",
        "plots/loss.png",
        "report.html",
        "weights/model.bin",
    ]
    by_path = {f["path"]: f for f in body["files"]}
    assert {p: f["size"] for p, f in by_path.items()} == {p: len(d) for p, d in FILES.items()}
    assert {p: f["preview"] for p, f in by_path.items()} == {
        "config.yaml": "text",
        "logo.svg": None,
        "notes.txt": "text",
        "plots/loss.png": "image",
        "report.html": None,
        "weights/model.bin": None,
    }
    empty = api.get(f"/runs/{api.run(logged[0])['id']}/artifacts").json()
    assert empty["files"] == [] and empty["truncated"] is False


def test_images_and_text_are_inline_everything_else_an_attachment(api, logged):
    _, run = logged
    png = fetch(api, run, "plots/loss.png")
    assert png.status_code == 200 and png.content == FILES["plots/loss.png"]
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].startswith("inline")
    text = fetch(api, run, "notes.txt")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == FILES["notes.txt"].decode()
    assert text.headers["content-disposition"].startswith("inline")
    assert fetch(api, run, "config.yaml").headers["content-type"] == "text/plain; charset=utf-8"
    for path in ("report.html", "logo.svg", "weights/model.bin"):
        r = fetch(api, run, path)
        assert r.status_code == 200 and r.content == FILES[path], path
        assert r.headers["content-type"] == "application/octet-stream", path
        assert r.headers["content-disposition"].startswith("attachment;"), path
        assert path.rsplit("/", 1)[-1] in r.headers["content-disposition"]
    for path in FILES:
        assert SAFE.items() <= fetch(api, run, path).headers.items(), path


def test_download_makes_any_file_an_attachment(api, logged):
    _, run = logged
    for path in ("plots/loss.png", "notes.txt"):
        r = fetch(api, run, path, download=1)
        assert r.status_code == 200 and r.content == FILES[path]
        assert r.headers["content-disposition"].startswith("attachment;"), path
        assert SAFE.items() <= r.headers.items()


def test_the_start_of_a_text_file_can_be_read_by_range(api, logged):
    _, run = logged
    r = fetch(api, run, "config.yaml", headers={**api.headers, "Range": "bytes=0-2"})
    assert r.status_code == 206 and r.content == b"lr:"
    assert SAFE.items() <= r.headers.items()


def test_the_mlflow_download_is_always_an_attachment(api, logged):
    project, run = logged
    base = f"/api/2.0/mlflow-artifacts/artifacts/{project}/{run}/artifacts"
    for path in ("report.html", "logo.svg", "plots/loss.png", "notes.txt"):
        r = api.client.get(f"{base}/{path}", headers=api.headers)
        assert r.status_code == 200 and r.content == FILES[path], path
        assert r.headers["content-type"] == "application/octet-stream", path
        assert r.headers["content-disposition"].startswith("attachment;"), path
        assert SAFE.items() <= r.headers.items(), path


def test_a_path_never_leaves_its_run(api, logged):
    project, run = logged
    neighbour = api.run(project, name="neighbour")["id"]
    upload(api, project, neighbour, "secret.txt", b"the neighbour's")
    escapes = [
        f"%2E%2E/{neighbour}/secret.txt",
        f"a/%2E%2E/%2E%2E/{neighbour}/secret.txt",
        f"..%2F{neighbour}%2Fsecret.txt",
        "notes.txt%00",
        "a%5C..%5Cnotes.txt",
        "x" * 256,
    ]
    for path in escapes:
        r = fetch(api, run, path)
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert b"the neighbour's" not in r.content
    assert fetch(api, run, "missing.txt").status_code == 404
    assert fetch(api, run, "plots").status_code == 404  # a folder is not a file
    assert fetch(api, neighbour, "secret.txt").content == b"the neighbour's"


def test_callers_that_cannot_see_the_run_get_404(api, app, logged):
    project, run = logged
    other = api.project("other")["id"]
    outsider = member(app, other, "outsider", Role.VIEWER)
    insider = member(app, project, "insider", Role.VIEWER)
    assert api.get(f"/runs/{run}/artifacts", headers=outsider).status_code == 404
    r = fetch(api, run, "notes.txt", headers=outsider)
    assert r.status_code == 404 and b"Lion at" not in r.content
    assert fetch(api, run, "missing.txt", headers=outsider).status_code == 404
    assert api.get(f"/runs/{run}/artifacts", headers=insider).status_code == 200
    assert fetch(api, run, "notes.txt", headers=insider).status_code == 200
    assert api.get(f"/runs/{2**31 - 1}/artifacts").status_code == 404
    assert api.client.get(f"/api/v1/runs/{run}/artifacts").status_code == 401


def test_a_share_link_reads_its_runs_files_only(api, logged):
    project, run = logged
    neighbour = api.run(project, name="neighbour")["id"]
    upload(api, project, neighbour, "secret.txt", b"the neighbour's")
    created = api.post("/shares", json={"kind": "run", "object_id": run})
    assert created.status_code == 201, created.text
    link = {"X-LionLab-Share": created.json()["url"].removeprefix("/share/")}
    assert len(api.get(f"/runs/{run}/artifacts", headers=link).json()["files"]) == len(FILES)
    assert fetch(api, run, "plots/loss.png", headers=link).content == FILES["plots/loss.png"]
    assert api.get(f"/runs/{neighbour}/artifacts", headers=link).status_code == 404
    assert fetch(api, neighbour, "secret.txt", headers=link).status_code == 404


def test_the_list_stops_at_1000_files_and_says_so(api, app):
    project = api.project("many")["id"]
    run = api.run(project)["id"]
    folder = app.state.settings.resolved_artifacts_dir / str(run) / "steps"
    folder.mkdir(parents=True)
    for i in range(1001):
        (folder / f"{i:04d}.txt").write_bytes(b"x")
    body = api.get(f"/runs/{run}/artifacts").json()
    assert body["truncated"] is True and len(body["files"]) == 1000
    assert body["files"][0]["path"] == "steps/0000.txt"
    assert body["files"][-1]["path"] == "steps/0999.txt"
    (folder / "1000.txt").unlink()
    body = api.get(f"/runs/{run}/artifacts").json()
    assert body["truncated"] is False and len(body["files"]) == 1000
