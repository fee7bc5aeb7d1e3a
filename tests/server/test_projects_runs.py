"""Projects and runs over the API: create/list/get/update, filters, sort, pagination."""


def test_project_crud_and_unique_name(api):
    p = api.project("alpha")
    assert api.get(f"/projects/{p['id']}").json()["name"] == "alpha"
    r = api.post("/projects", json={"name": "alpha"})
    assert r.status_code == 409 and r.json()["detail"][0]["loc"] == ["body", "name"]
    r = api.patch(f"/projects/{p['id']}", json={"description": "Lion sweeps"})
    assert r.json()["description"] == "Lion sweeps"
    assert api.get("/projects", params={"name": "alpha"}).json()["total"] == 1


def test_invalid_project_name_names_the_field(api):
    r = api.post("/projects", json={"name": "has space"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "name"]


def test_run_create_defaults_and_update(api):
    pid = api.project()["id"]
    run = api.run(pid, optimizer="lion", config={"lr": 1e-4}, tags=["sweep-1"])
    assert run["name"] == f"run-{run['id']}" and run["status"] == "running"
    assert run["started_at"] is not None and run["tags"] == ["sweep-1"]
    r = api.patch(f"/runs/{run['id']}", json={"status": "succeeded", "tags": ["best"]})
    body = r.json()
    assert body["status"] == "succeeded" and body["finished_at"] and body["tags"] == ["best"]


def test_a_refused_update_stores_none_of_it(api):
    run = api.run(api.project()["id"], name="kept", tags=["a"])
    # The rename is written before the route finds the error: the transaction is rolled back.
    r = api.patch(f"/runs/{run['id']}", json={"name": "renamed", "error": "boom"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "error"]
    after = api.get(f"/runs/{run['id']}").json()
    assert (after["name"], after["tags"], after["status"]) == ("kept", ["a"], "running")


def test_run_in_unknown_project_is_404(api):
    r = api.post("/runs", json={"project_id": 4242})
    assert r.status_code == 404 and "4242" in r.json()["detail"][0]["msg"]


def test_list_filters_sort_and_pagination(api):
    pid = api.project()["id"]
    other = api.project("other")["id"]
    for i in range(7):
        api.run(
            pid,
            name=f"r{i}",
            optimizer="lion" if i % 2 else "adamw",
            tags=["even"] if i % 2 == 0 else [],
        )
    api.run(other, name="elsewhere", optimizer="lion")
    lion = api.get("/runs", params={"project_id": pid, "optimizer": "lion"}).json()
    assert lion["total"] == 3 and {r["name"] for r in lion["items"]} == {"r1", "r3", "r5"}
    even = api.get("/runs", params={"tag": "even"}).json()
    assert even["total"] == 4
    page = api.get(
        "/runs", params={"project_id": pid, "sort": "name", "limit": 3, "offset": 3}
    ).json()
    assert [r["name"] for r in page["items"]] == ["r3", "r4", "r5"] and page["total"] == 7
    newest = api.get("/runs", params={"sort": "-created_at", "limit": 1}).json()
    assert newest["items"][0]["name"] == "elsewhere"
    api.patch(f"/runs/{lion['items'][0]['id']}", json={"status": "failed"})
    assert api.get("/runs", params={"status": "failed"}).json()["total"] == 1


def test_bad_sort_field_is_422(api):
    r = api.get("/runs", params={"sort": "password"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "sort"]
