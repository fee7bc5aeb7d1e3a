"""Every /api/v1 call needs a token; project tokens see only their project."""

import pytest


def test_no_token_is_401_with_instructions(api):
    r = api.client.get("/api/v1/projects")
    assert r.status_code == 401 and "Authorization: Bearer" in r.json()["detail"][0]["msg"]
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", ["/runs", "/series?run=1&key=loss", "/runs/1/flags"])
def test_bad_token_is_401(api, path):
    r = api.client.get(f"/api/v1{path}", headers={"Authorization": "Bearer llk_nope"})
    assert r.status_code == 401


def test_project_token_is_scoped_to_its_project(api):
    mine, theirs = api.project("mine"), api.project("theirs")
    r = api.post("/tokens", json={"name": "ci", "project_id": mine["id"]})
    assert r.status_code == 201
    scoped = {"Authorization": f"Bearer {r.json()['token']}"}
    their_run = api.run(theirs["id"])["id"]
    my_run = api.run(mine["id"])["id"]
    api.log(their_run, [0], {"loss": [1.0]})

    listed = api.get("/projects", headers=scoped).json()
    assert [p["name"] for p in listed["items"]] == ["mine"]
    assert api.get(f"/runs/{their_run}", headers=scoped).status_code == 404
    assert api.get("/runs", headers=scoped).json()["total"] == 1
    assert (
        api.get("/series", headers=scoped, params={"run": their_run, "key": "loss"}).status_code
        == 404
    )
    r = api.post(
        f"/runs/{their_run}/metrics",
        headers=scoped,
        json={"steps": [1], "metrics": {"loss": [2.0]}},
    )
    assert r.status_code == 404
    r = api.post("/runs", headers=scoped, json={"project_id": theirs["id"]})
    assert r.status_code == 404
    assert api.post("/runs", headers=scoped, json={"project_id": mine["id"]}).status_code == 201
    assert (
        api.post(
            f"/runs/{my_run}/metrics",
            headers=scoped,
            json={"steps": [0], "metrics": {"loss": [1.0]}},
        ).status_code
        == 200
    )
    r = api.post("/projects", headers=scoped, json={"name": "new"})
    assert r.status_code == 403 and "admin token" in r.json()["detail"][0]["msg"]


def test_docs_are_public_and_list_the_api(api):
    assert api.client.get("/docs").status_code == 200
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "/api/v1/runs/{run_id}/metrics" in paths and "/api/v1/series" in paths


def test_the_dashboard_cookie_authenticates_and_writes_need_the_csrf_header(api):
    client = api.client
    client.cookies.set("lionlab_token", api.token)
    assert client.get("/api/v1/projects").status_code == 200
    r = client.post("/api/v1/projects", json={"name": "x"})
    assert r.status_code == 403 and "X-LionLab-CSRF" in r.json()["detail"][0]["msg"]
    r = client.post("/api/v1/projects", json={"name": "x"}, headers={"X-LionLab-CSRF": "1"})
    assert r.status_code == 201
    client.cookies.set("lionlab_token", "llk_wrong")
    assert client.get("/api/v1/projects").status_code == 401


def test_a_revoked_token_stops_working_once_its_cached_scope_expires(app, api):
    """The scope cache saves a lookup per request; revoking a token takes at most its ttl."""
    from datetime import datetime, timezone

    from sqlalchemy import update

    from lionlab_server.api.deps import TOKEN_TTL_S, token_cache
    from lionlab_server.models import ApiToken
    from lionlab_server.store.tokens import hash_token

    now = [0.0]
    app.state.token_cache = token_cache(timer=lambda: now[0])
    body = {"name": "soon-revoked", "project_id": api.project()["id"]}
    secret = api.post("/tokens", json=body).json()["token"]
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get("/projects", headers=headers).status_code == 200  # scope now cached

    with app.state.sessionmaker() as session, session.begin():
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == hash_token(secret))
            .values(revoked_at=datetime.now(timezone.utc))
        )
    now[0] = TOKEN_TTL_S / 2
    assert api.get("/projects", headers=headers).status_code == 200  # still the cached scope
    now[0] = TOKEN_TTL_S + 0.1
    r = api.get("/projects", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json()["detail"][0]["msg"]
