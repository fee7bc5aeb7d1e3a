"""The audit log: each committed change records one event naming who (the token's name),
from where (the client's address) and what; a refused write records nothing; the list
filters and pages; the page escapes what callers typed."""

from __future__ import annotations

from lionlab_server.store import users

JOB = {"task": "char_lm", "steps": 10, "optimizer": {"name": "adamw"}}
CLIENT_HOST = "testclient"  # the address Starlette's TestClient connects from


def events(api, **params) -> dict:
    r = api.get("/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def as_token(api, project_id: int, name: str) -> dict[str, str]:
    r = api.post("/tokens", json={"name": name, "project_id": project_id})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def test_a_run_created_and_cancelled_and_a_comparison_deleted_each_record_one_event(api):
    pid = api.project("alpha")["id"]
    ci = as_token(api, pid, "nightly-ci")
    r = api.post("/runs", json={"project_id": pid, "name": "lion-3e-4", "job": JOB}, headers=ci)
    assert r.status_code == 201, r.text
    run = r.json()["id"]
    assert api.post(f"/runs/{run}/cancel", headers=ci).status_code == 200
    body = {"name": "lion vs adamw", "state": {"runs": [run]}}
    saved = api.post(f"/projects/{pid}/comparisons", json=body, headers=ci).json()
    gone = api.client.delete(f"/api/v1/comparisons/{saved['id']}", headers=ci)
    assert gone.status_code == 204

    page = events(api, project_id=pid)
    assert [e["action"] for e in page["items"]] == [
        "comparison.deleted",
        "comparison.created",
        "run.cancelled",
        "run.created",
        "token.created",
        "project.created",
    ]
    deleted, _, cancelled, created, token, project = page["items"]
    for event in (deleted, cancelled, created):
        assert event["actor"] == "nightly-ci" and event["address"] == CLIENT_HOST
        assert str(event["actor_token_id"]) == token["object_id"] and event["project_id"] == pid
    assert (created["object_kind"], created["object_id"]) == ("run", str(run))
    assert created["detail"] == {"name": "lion-3e-4"} and cancelled["object_id"] == str(run)
    assert (deleted["object_kind"], deleted["object_id"]) == ("comparison", str(saved["id"]))
    assert deleted["detail"] == {"name": "lion vs adamw"}
    assert token["actor"] == project["actor"] == "local admin"
    assert token["detail"] == {"name": "nightly-ci", "kind": "personal", "read_only": False}


def test_a_refused_write_records_nothing(api):
    pid = api.project()["id"]
    run = api.post("/runs", json={"project_id": pid, "job": JOB}).json()["id"]
    api.post(f"/runs/{run}/cancel")
    before = events(api)["total"]
    assert api.post(f"/runs/{run}/cancel").status_code == 409  # already cancelled
    assert api.post("/runs/4242/cancel").status_code == 404
    assert api.post("/runs", json={"project_id": pid, "name": "x" * 201}).status_code == 422
    assert api.client.delete("/api/v1/comparisons/4242", headers=api.headers).status_code == 404
    assert api.post("/projects", json={"name": "demo"}).status_code == 409  # name taken
    assert events(api)["total"] == before


def test_the_list_filters_by_project_action_and_actor_and_pages(api):
    a, b = api.project("a")["id"], api.project("b")["id"]
    ci = as_token(api, a, "ci")
    for i in range(3):
        api.post("/runs", json={"project_id": a, "name": f"r{i}"}, headers=ci)
    api.run(b)

    runs_of_a = events(api, project_id=a, action="run.created")
    assert runs_of_a["total"] == 3
    assert [e["detail"]["name"] for e in runs_of_a["items"]] == ["r2", "r1", "r0"]
    assert events(api, actor="ci")["total"] == 3
    assert events(api, project_id=b, actor="ci")["total"] == 0
    assert events(api, action="run.created")["total"] == 4

    first = events(api, action="run.created", limit=2)
    rest = events(api, action="run.created", limit=2, offset=2)
    assert len(first["items"]) == 2 and len(rest["items"]) == 2
    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True)

    assert api.get("/audit", params={"action": "run.exploded"}).status_code == 422
    # A project token owns its project: it reads that project's events, and only those.
    mine = api.get("/audit", headers=ci).json()  # project a's creation, its token, 3 runs
    assert mine["total"] == 5 and {e["project_id"] for e in mine["items"]} == {a}
    assert api.get("/audit", headers=ci, params={"project_id": b}).status_code == 404


def test_the_audit_page_lists_events_with_what_callers_typed_escaped(api):
    pid = api.project("alpha")["id"]
    run = api.run(pid, name="<script>alert(1)</script>")["id"]
    api.client.cookies.set("lionlab_token", api.token)
    for path in (f"/projects/{pid}/audit", "/audit"):
        r = api.client.get(path, follow_redirects=False)
        assert r.status_code == 200, (path, r.text)
        assert "run.created" in r.text and f'href="/runs/{run}"' in r.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
        assert "<script>alert(1)" not in r.text
    r = api.post("/tokens", json={"name": "ro", "project_id": pid, "read_only": True})
    api.client.cookies.set("lionlab_token", r.json()["token"])  # a viewer at most: not an owner
    assert api.client.get(f"/projects/{pid}/audit").status_code == 403
    assert api.client.get("/projects/4242/audit").status_code == 404


def test_a_signed_in_users_password_change_names_the_user(api, app):
    with app.state.sessionmaker() as session, session.begin():
        user = users.create_user(session, "root", password="correct horse", is_admin=True)
    client = api.client
    form = {"username": "root", "password": "correct horse", "next": "/projects"}
    assert client.post("/signin", data=form, follow_redirects=False).status_code == 303
    form = {"current_password": "wrong one", "new_password": "n" * 9, "new_password_again": "n" * 9}
    assert client.post("/account/password", data=form).status_code == 400
    form["current_password"] = "correct horse"
    r = client.post("/account/password", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text

    client.cookies.clear()
    [event] = events(api, action="password.changed")["items"]
    assert (event["actor"], event["actor_user_id"], event["actor_token_id"]) == (
        "root",
        user.id,
        None,
    )
    assert event["address"] == CLIENT_HOST and event["project_id"] is None
    assert (event["object_kind"], event["object_id"]) == ("user", str(user.id))
