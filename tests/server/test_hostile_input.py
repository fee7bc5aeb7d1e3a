"""Hostile input at the API edge: each case answered with a 4xx naming the field, nothing
stored, on SQLite and Postgres alike. Regressions: each of these answered 500, or was stored
and broke later reads, before the validation layer (api/validation.py)."""

from __future__ import annotations

import json

import pytest

DEEP = 260  # levels: orjson and pydantic refuse to serialise past ~254


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def post_raw(api, path: str, text: str):
    headers = {**api.headers, "content-type": "application/json"}
    return api.post(path, content=text.encode(), headers=headers)


def assert_refused(r, status: int, loc: list) -> None:
    assert r.status_code == status, r.text
    assert any(e["loc"][: len(loc)] == loc and e["msg"] for e in r.json()["detail"]), r.text


def assert_no_runs(api) -> None:
    r = api.get("/runs")
    assert r.status_code == 200 and r.json()["total"] == 0, r.text


@pytest.fixture
def project(api) -> int:
    return api.project("hostile")["id"]


# Run configs that were stored (or answered 500) and then broke the runs list or a view.
BAD_CONFIGS = {
    "nested_260_deep": json.dumps({"project_id": "{pid}", "config": nested(DEEP)}),
    "nan": '{"project_id": "{pid}", "config": {"lr": NaN}}',
    "infinity": '{"project_id": "{pid}", "config": {"lr": Infinity}}',
    "int_above_2_64": '{"project_id": "{pid}", "config": {"n": ' + str(2**64 + 1) + "}}",
    "400_digit_int": '{"project_id": "{pid}", "config": {"n": ' + "9" * 400 + "}}",
    "nul_in_value": '{"project_id": "{pid}", "config": {"note": "a\\u0000b"}}',
    "nul_in_key": '{"project_id": "{pid}", "config": {"a\\u0000b": 1}}',
    "lone_surrogate": '{"project_id": "{pid}", "config": {"note": "\\ud800"}}',
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_a_config_that_cannot_round_trip_is_422_and_not_stored(api, project, case):
    body = BAD_CONFIGS[case].replace('"{pid}"', str(project))
    r = post_raw(api, "/runs", body)
    assert r.status_code in (400, 422), r.text
    loc = ["body"] if case == "nested_260_deep" else ["body", "config"]
    assert_refused(r, r.status_code, loc)
    assert_no_runs(api)
    assert api.get(f"/views/projects/{project}/runs").status_code == 200


def test_a_config_over_the_body_limit_is_413_and_not_stored(api, project):
    config = {"blob": "x" * (40 * 1024 * 1024)}  # 40 MB, over the 32 MiB default
    r = api.post("/runs", json={"project_id": project, "config": config})
    assert_refused(r, 413, ["body"])
    assert_no_runs(api)


@pytest.mark.parametrize("field", ["name", "config"])
def test_patch_with_null_name_or_config_is_422(api, project, field):
    run = api.run(project, name="keep", config={"lr": 1e-3})
    r = api.patch(f"/runs/{run['id']}", json={field: None})
    assert_refused(r, 422, ["body", field])
    after = api.get(f"/runs/{run['id']}").json()
    assert after["name"] == "keep" and after["config"] == {"lr": 1e-3}


BIG = [2**31, 2**63, 2**64 + 5]


@pytest.mark.parametrize("big", BIG)
@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/runs/{big}", ["path", "run_id"]),
        ("/projects/{big}", ["path", "project_id"]),
        ("/projects/{big}/overview", ["path", "project_id"]),
        ("/sweeps/{big}", ["path", "sweep_id"]),
        ("/runs/{big}/flags", ["path", "run_id"]),
        ("/runs/{big}/metrics", ["path", "run_id"]),
        ("/views/runs/{big}", ["path", "run_id"]),
        ("/views/sweeps/{big}", ["path", "sweep_id"]),
        ("/runs?project_id={big}", ["query", "project_id"]),
        ("/sweeps?project_id={big}", ["query", "project_id"]),
        ("/series?run={big}&key=loss", ["query", "run"]),
        ("/views/compare?run={big}", ["query", "run"]),
    ],
)
def test_an_id_beyond_the_column_is_422_naming_it(api, path, loc, big):
    assert_refused(api.get(path.format(big=big)), 422, loc)


@pytest.mark.parametrize("big", BIG)
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/runs", {"project_id": "{big}"}),
        ("/tokens", {"name": "t", "project_id": "{big}"}),
        ("/sweeps", {"project_id": "{big}", "spec": {"name": "s"}}),
        ("/jobs/check", {"project_id": "{big}"}),
    ],
)
def test_an_id_beyond_the_column_in_a_body_is_422(api, path, body, big):
    text = json.dumps(body).replace('"{big}"', str(big))
    assert_refused(post_raw(api, path, text), 422, ["body", "project_id"])


def test_an_id_beyond_the_column_in_a_page_path_is_not_a_500(api):
    api.client.cookies.set("lionlab_token", api.token)
    for path in (
        "/runs/{big}",
        "/projects/{big}",
        "/sweeps/{big}",
        "/projects/{big}/sweeps",
        "/projects/{big}/overview",
    ):
        r = api.client.get(path.format(big=2**63), follow_redirects=False)
        assert r.status_code == 422, (path, r.text)


@pytest.mark.parametrize(
    ("batch", "loc"),
    [
        ('{"steps": [0, 1], "metrics": {"loss": [[1.0, 2.0], [3.0, 4.0]]}}', ["loss", 0]),
        ('{"steps": [0, 1], "metrics": {"loss": [[1.0], [2.0, 3.0]]}}', ["loss", 0]),
        ('{"steps": [0, 1], "metrics": {"loss": [1.0, ' + "9" * 400 + "]}}", ["loss", 1]),
        ('{"steps": [0, 1], "metrics": {"loss": [1.0, [true]]}}', ["loss", 1]),
    ],
)
def test_a_metric_value_that_is_not_a_float_is_422_naming_it(api, project, batch, loc):
    run = api.run(project)
    r = post_raw(api, f"/runs/{run['id']}/metrics", batch)
    assert_refused(r, 422, ["body", "metrics", *loc])
    assert api.get(f"/runs/{run['id']}/metrics").json() == []


@pytest.mark.parametrize(
    "steps", ["[[0, 1], [2, 3]]", "[[0], [1, 2]]", f"[0, {2**63 - 1}]", f"[0, {2**53}]"]
)
def test_a_step_that_is_not_a_safe_integer_is_422(api, project, steps):
    run = api.run(project)
    batch = '{"steps": ' + steps + ', "metrics": {"loss": [1.0, 2.0]}}'
    r = post_raw(api, f"/runs/{run['id']}/metrics", batch)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:2] in (["body", "steps"], ["body", "metrics"])
    assert api.get(f"/runs/{run['id']}/metrics").json() == []


def test_the_largest_step_is_stored_and_read_back_exactly(api, project):
    run = api.run(project)
    top = 2**53 - 1
    api.log(run["id"], [0, top], {"loss": [1.0, 2.0]})
    (summary,) = api.get(f"/runs/{run['id']}/metrics").json()
    assert summary["last_step"] == top and summary["count"] == 2
    (series,) = api.series([run["id"]], ["loss"])
    assert series["steps"] == [0, top]


def test_wall_time_beyond_year_9999_is_422(api, project):
    run = api.run(project)
    batch = '{"steps": [0], "metrics": {"loss": [1.0]}, "wall_time": [1e300]}'
    assert_refused(post_raw(api, f"/runs/{run['id']}/metrics", batch), 422, ["body", "wall_time"])


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"name": "a\x00b"}, ["body", "name"]),
        ({"tags": ["ok", "a\x00b"]}, ["body", "tags", 1]),
        ({"tags": ["t" * 101]}, ["body", "tags", 0]),
        ({"optimizer": "lion\x00"}, ["body", "optimizer"]),
    ],
)
def test_nul_and_over_long_strings_are_422_on_both_backends(api, project, body, loc):
    r = api.post("/runs", json={"project_id": project, **body})
    assert_refused(r, 422, loc)
    assert_no_runs(api)


@pytest.mark.parametrize(
    ("path", "loc"),
    [
        ("/runs?tag=a%00b", ["query", "tag"]),
        ("/projects?name=a%00", ["query", "name"]),
        ("/series?run=1&key=lo%00ss", ["query", "key"]),
        ("/runs?tag=" + "t" * 101, ["query", "tag"]),
    ],
)
def test_nul_and_over_long_query_strings_are_422(api, path, loc):
    assert_refused(api.get(path), 422, loc)


def test_nul_in_a_project_description_or_token_name_is_422(api, project):
    r = api.patch(f"/projects/{project}", json={"description": "a\x00"})
    assert_refused(r, 422, ["body", "description"])
    assert_refused(api.post("/tokens", json={"name": "a\x00", "project_id": None}), 422, ["body"])


SWEEP = {
    "name": "s",
    "base": {"task": "char_lm", "steps": 20, "eval_interval": 10},
    "optimizers": ["adamw"],
    "seeds": 1,
    "space": {"adamw": {"optimizer.lr": [1e-3]}},
}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"limits": {"max_trials": 2**70}}, "limits.max_trials"),
        ({"limits": {"max_parallel": 2**40}}, "limits.max_parallel"),
        ({"search": {"method": "random", "seed": 2**70}}, "search.seed"),
        ({"name": "a\x00b"}, "name"),
        ({"description": "a\x00b"}, "description"),
    ],
)
def test_a_sweep_spec_with_unstorable_numbers_or_text_is_422(api, project, over, field):
    r = api.post("/sweeps", json={"project_id": project, "spec": {**SWEEP, **over}})
    assert r.status_code == 422, r.text
    assert any(field in ".".join(map(str, e["loc"])) for e in r.json()["detail"]), r.text
    assert api.get("/sweeps").json()["total"] == 0
    assert_no_runs(api)


def _alias_bomb() -> str:
    """Nine lines of YAML whose aliases hold 10**9 values once expanded."""
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(8):
        name, inner = chr(98 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{inner}"] * 10) + "]")
    return "\n".join([*lines, "name: s"])


SPEC_TEXTS = {
    "json_nested_5000_deep": "[" * 5000 + "]" * 5000,
    "unclosed_100000_braces": "{" * 100_000,
    "yaml_5000_digit_int": "name: " + "9" * 5000,
    "yaml_alias_bomb": _alias_bomb(),
}


@pytest.mark.parametrize("case", SPEC_TEXTS)
def test_a_sweep_spec_text_that_cannot_be_a_spec_is_422(api, project, case):
    r = api.post("/sweeps", json={"project_id": project, "spec": SPEC_TEXTS[case]})
    assert_refused(r, 422, ["body", "spec"])
    assert api.get("/sweeps").json()["total"] == 0


def test_a_body_nested_too_deep_is_422_on_every_route(api, project):
    run = api.run(project, name="keep")
    deep = nested(DEEP)
    writes = [
        ("post", "/projects", {"name": "deep", "description": deep}),
        ("post", "/runs", {"project_id": project, "config": deep}),
        ("post", "/jobs/check", {"project_id": project, "config": deep}),
        ("patch", f"/runs/{run['id']}", {"config": deep}),
        ("post", "/sweeps", {"project_id": project, "spec": {**SWEEP, "base": deep}}),
        ("post", f"/runs/{run['id']}/metrics", {"steps": [0], "metrics": {"loss": deep}}),
    ]
    for method, path, body in writes:
        r = getattr(api, method)(path, json=body)
        assert r.status_code == 422, (path, r.text)
        assert r.json()["detail"][0]["type"] == "json_too_deep", (path, r.text)
    assert api.get("/runs").json()["total"] == 1
    assert api.get(f"/runs/{run['id']}").json()["config"] == {}
