"""Projects and runs over the API: create/list/get/update, filters, sort, pagination."""

from support.statements import count_statements, freeze_token_cache


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


NAN, INF = float("nan"), float("inf")
# each run's eval_loss history (None: never logged); checked against a sort done here
HISTORIES = {
    "a": [3.0, 1.5, 2.0],
    "b": [2.5, 0.5, 4.0],
    "c": [NAN, NAN],  # logged, no finite value
    "d": None,
    "e": [5.0, NAN],  # last value NaN, finite min/max
    "f": [1.5, 1.5],  # ties a's min: the id decides
    "g": [-INF, 9.0],
    "h": None,
}


def _expected(summary: str, descending: bool) -> list[str]:
    """The order the API must give: runs with the value by value (then id, the same way),
    then runs that logged the metric without such a value, then runs that never logged it."""
    ranked, no_value, missing = [], [], []
    for order, (name, history) in enumerate(HISTORIES.items()):
        if history is None:
            missing.append(name)
            continue
        finite = [v for v in history if v == v]
        value = {
            "last": history[-1],
            "min": min(finite, default=NAN),
            "max": max(finite, default=NAN),
        }[summary]
        (no_value if value != value else ranked).append((value, order, name))
    ranked.sort(reverse=descending)
    tail = [n for _, _, n in sorted(no_value, reverse=descending)]
    rest = sorted(missing, key=list(HISTORIES).index, reverse=descending)
    return [n for _, _, n in ranked] + tail + rest


def test_sort_by_a_metric_summary_with_nan_inf_and_missing_values(api):
    pid = api.project()["id"]
    for name, history in HISTORIES.items():
        run = api.run(pid, name=name)
        api.log(run["id"], [0], {"train_loss": [1.0]})
        if history is not None:
            api.log(run["id"], range(len(history)), {"eval_loss": history})
    for summary in ("last", "min", "max"):
        for descending in (False, True):
            sort = f"{'-' if descending else ''}metric.eval_loss.{summary}"
            got = api.get("/runs", params={"project_id": pid, "sort": sort, "limit": 20}).json()
            assert [r["name"] for r in got["items"]] == _expected(summary, descending), sort
            assert got["total"] == len(HISTORIES)
            paged = [
                r["name"]
                for offset in range(0, len(HISTORIES), 3)
                for r in api.get(
                    "/runs",
                    params={"project_id": pid, "sort": sort, "limit": 3, "offset": offset},
                ).json()["items"]
            ]
            assert paged == _expected(summary, descending), sort
    unknown = api.get("/runs", params={"project_id": pid, "sort": "metric.nope.min"}).json()
    assert [r["name"] for r in unknown["items"]] == list(HISTORIES)  # all missing: by id
    for bad in ("metric.eval_loss.median", "metric..min", "metric.a\x00b.min"):
        r = api.get("/runs", params={"sort": bad})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "sort"], bad


def test_name_search_is_case_insensitive_and_literal(api):
    pid = api.project()["id"]
    for name in ("Lion-lr1e-4", "lion_seed2", "adamw-LION-baseline", "sgd", "100%_done"):
        api.run(pid, name=name)

    def found(q: str) -> set[str]:
        items = api.get("/runs", params={"project_id": pid, "q": q, "limit": 50}).json()["items"]
        return {r["name"] for r in items}

    assert found("lion") == {"Lion-lr1e-4", "lion_seed2", "adamw-LION-baseline"}
    assert found("_seed") == {"lion_seed2"}  # _ and % are letters here, not wildcards
    assert found("%") == {"100%_done"}
    assert found("nothing") == set()


def test_a_page_sorted_by_a_metric_costs_the_same_statements_whatever_its_size(
    app, api, monkeypatch
):
    freeze_token_cache(monkeypatch, app)
    pid = api.project()["id"]
    for i in range(12):
        run = api.run(pid, name=f"r{i}", tags=["t"])
        api.log(run["id"], [0, 1], {"eval_loss": [2.0, 1.0 / (i + 1)]})
    params = {"project_id": pid, "sort": "metric.eval_loss.min", "q": "r", "tag": "t"}
    api.get("/runs", params=params)  # the token's lookup is cached from here on
    counts, pages = [], {}
    for limit in (2, 12):
        counts.append(
            count_statements(
                app,
                lambda n=limit: pages.update({n: api.get("/runs", params={**params, "limit": n})}),
            )
        )
        items = pages[limit].json()["items"]
        assert len(items) == limit and items[0]["name"] == "r11"
    assert counts[0] == counts[1], counts
