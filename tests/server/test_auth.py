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
