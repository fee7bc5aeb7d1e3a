"""Teams and project members: admins create users and teams, a project's owners grant them
roles, a user's role is the highest of its grants, a revoked grant ends access, a project
keeps its last owner, and the pages show write controls only to those who may write."""

from __future__ import annotations

import pytest

from lionlab_server.store import users

PASSWORD = "correct horse battery"
CSRF = {"X-LionLab-CSRF": "1"}
JOB = {"task": "char_lm", "steps": 10, "optimizer": {"name": "adamw"}}


def signed_in(app, user_id: int) -> dict[str, str]:
    """Headers of a browser signed in as the user (its session cookie, and the CSRF header
    cookie-authenticated writes need)."""
    with app.state.sessionmaker() as session, session.begin():
        secret = users.create_session(session, user_id, days=1, address=None)
    return {"Cookie": f"lionlab_session={secret}", **CSRF}


def new_user(api, username: str, **fields) -> dict:
    r = api.post("/users", json={"username": username, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def grant(api, project_id: int, headers: dict, expect: int = 200, **body) -> dict:
    r = api.client.put(f"/api/v1/projects/{project_id}/members", json=body, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


def actions(api, project_id: int) -> list[str]:
    return [
        e["action"] for e in api.get("/audit", params={"project_id": project_id}).json()["items"]
    ]


@pytest.fixture
def team_setup(api, app):
    """alice owns the project; bob is in team 'ml-infra'; carol has no grant."""
    pid = api.project("alpha")["id"]
    people = {name: new_user(api, name, password=PASSWORD) for name in ("alice", "bob", "carol")}
    team = api.post("/teams", json={"name": "ml-infra", "description": "GPU people"}).json()
    r = api.client.put(
        f"/api/v1/teams/{team['id']}/members/{people['bob']['id']}", headers=api.headers
    )
    assert r.status_code == 200 and r.json()["members"] == ["bob"]
    grant(api, pid, api.headers, username="alice", role="owner")
    heads = {name: signed_in(app, u["id"]) for name, u in people.items()}
    return pid, people, team, heads


def test_the_highest_grant_wins_and_a_revoked_grant_ends_access(api, app, team_setup):
    pid, people, team, heads = team_setup
    alice, bob = heads["alice"], heads["bob"]
    by_team = grant(api, pid, alice, team="ml-infra", role="editor")
    own = grant(api, pid, alice, user_id=people["bob"]["id"], role="viewer")
    members = api.client.get(f"/api/v1/projects/{pid}/members", headers=alice).json()
    assert [(m["username"], m["team"], m["role"]) for m in members] == [
        ("alice", None, "owner"),
        (None, "ml-infra", "editor"),
        ("bob", None, "viewer"),
    ]
    # bob: editor through his team beats his own viewer grant
    body = {"project_id": pid, "name": "by-bob", "job": JOB}
    assert api.client.post("/api/v1/runs", json=body, headers=bob).status_code == 201
    # carol sees nothing; bob cannot manage members
    assert api.client.get(f"/api/v1/projects/{pid}", headers=heads["carol"]).status_code == 404
    r = api.client.get(f"/api/v1/projects/{pid}/members", headers=bob)
    assert r.status_code == 403

    r = api.client.delete(f"/api/v1/projects/{pid}/members/{by_team['id']}", headers=alice)
    assert r.status_code == 204
    # Scopes are cached per credential for a few seconds; clearing the cache stands for
    # waiting that long (another process would see the change within the ttl).
    app.state.token_cache.clear()
    r = api.client.post("/api/v1/runs", json=body, headers=bob)
    assert r.status_code == 403 and "viewer" in r.json()["detail"][0]["msg"]
    assert api.client.get(f"/api/v1/projects/{pid}", headers=bob).status_code == 200
    api.client.delete(f"/api/v1/projects/{pid}/members/{own['id']}", headers=alice)
    app.state.token_cache.clear()
    assert api.client.get(f"/api/v1/projects/{pid}", headers=bob).status_code == 404
    assert actions(api, pid)[:5] == [
        "grant.removed",
        "grant.removed",
        "run.created",
        "grant.added",
        "grant.added",
    ]


def test_the_last_owner_stays_unless_an_admin_removes_it(api, app, team_setup):
    pid, people, _, heads = team_setup
    alice = heads["alice"]
    (owner,) = api.client.get(f"/api/v1/projects/{pid}/members", headers=alice).json()
    r = api.client.delete(f"/api/v1/projects/{pid}/members/{owner['id']}", headers=alice)
    assert r.status_code == 409 and "last owner" in r.json()["detail"][0]["msg"]
    grant(api, pid, alice, expect=409, username="alice", role="editor")
    # with a second owner, alice may step down
    grant(api, pid, alice, team="ml-infra", role="owner")
    assert grant(api, pid, alice, username="alice", role="editor")["role"] == "editor"
    assert "grant.changed" in actions(api, pid)
    # an admin may remove the last one
    team_grant = [m for m in api.get(f"/projects/{pid}/members").json() if m["team"]][0]
    r = api.client.delete(f"/api/v1/projects/{pid}/members/{team_grant['id']}", headers=api.headers)
    assert r.status_code == 204


def test_users_and_teams_are_for_admins(api, app, team_setup):
    pid, people, team, heads = team_setup
    bob = heads["bob"]
    for method, path in (
        ("GET", "/users"),
        ("POST", "/users"),
        ("PATCH", f"/users/{people['carol']['id']}"),
        ("GET", "/teams"),
        ("POST", "/teams"),
        ("DELETE", f"/teams/{team['id']}"),
        ("PUT", f"/teams/{team['id']}/members/{people['carol']['id']}"),
    ):
        r = api.client.request(method, f"/api/v1{path}", json={}, headers=bob)
        assert r.status_code == 403, (method, path, r.text)
    me = api.client.get("/api/v1/users/me", headers=bob).json()
    assert (me["username"], me["teams"]) == ("bob", ["ml-infra"])

    assert api.post("/users", json={"username": "Alice"}).status_code == 409  # case-insensitive
    assert api.post("/users", json={"username": "no spaces"}).status_code == 422
    assert api.post("/teams", json={"name": "ml-infra"}).status_code == 409
    # a new user without a password signs in through its one-time link
    dave = new_user(api, "Dave", display_name="Dave", email="dave@example.com")
    assert (dave["username"], dave["has_password"]) == ("dave", False)
    link = api.post(f"/users/{dave['id']}/sign-in-link").json()["path"]
    r = api.client.get(link, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account?welcome=1"
    # disabling ends bob's session (once the cache forgets it)
    r = api.patch(f"/users/{people['bob']['id']}", json={"disabled": True, "display_name": None})
    assert r.status_code == 200 and r.json()["disabled"] is True
    app.state.token_cache.clear()
    assert api.client.get("/api/v1/users/me", headers=bob).status_code == 401
    listed = {u["username"]: u for u in api.get("/users").json()}
    assert listed["bob"]["disabled"] and listed["bob"]["teams"] == ["ml-infra"]
    assert {"user.created", "user.disabled", "team.created", "team.member_added"} <= {
        e["action"] for e in api.get("/audit").json()["items"]
    }


def test_an_admin_user_owns_the_projects_it_creates(api, app):
    boss = new_user(api, "boss", is_admin=True)
    r = api.client.post(
        "/api/v1/projects", json={"name": "beta"}, headers=signed_in(app, boss["id"])
    )
    assert r.status_code == 201, r.text
    (owner,) = api.get(f"/projects/{r.json()['id']}/members").json()
    assert (owner["username"], owner["role"]) == ("boss", "owner")


def test_pages_show_write_controls_only_to_those_who_may_write(api, app, team_setup):
    pid, people, _, heads = team_setup
    grant(api, pid, heads["alice"], username="bob", role="editor")
    grant(api, pid, heads["alice"], username="carol", role="viewer")
    run = api.run(pid, name="seen", job=JOB)["id"]
    get = api.client.get
    settings = get(f"/projects/{pid}/settings", headers=heads["alice"])
    assert settings.status_code == 200 and 'id="members"' in settings.text
    assert "bob" in settings.text and f"/projects/{pid}/shares" in settings.text
    assert get(f"/projects/{pid}/settings", headers=heads["bob"]).status_code == 403
    assert get("/admin/users", headers=heads["alice"]).status_code == 403

    editor = get(f"/projects/{pid}", headers=heads["bob"]).text
    assert "Submit job" in editor and 'data-can-edit="true"' in editor
    for path in (f"/projects/{pid}", f"/runs/{run}", f"/projects/{pid}/sweeps"):
        html = get(path, headers=heads["carol"]).text
        assert 'data-can-edit="false"' in html, path
        for control in ("Submit job", "New sweep", 'id="note-edit"', "/settings"):
            assert control not in html, (path, control)
    account = get("/account", headers=heads["carol"]).text
    assert 'id="token-form"' in account and "Signed in as carol" in account
    admin = {"Cookie": f"lionlab_token={api.token}"}
    admin_pages = [get(p, headers=admin) for p in ("/admin/users", "/admin/teams")]
    assert all(p.status_code == 200 for p in admin_pages) and "carol" in admin_pages[0].text
