"""Bad batches get a 4xx naming the field and the fix, and change nothing stored."""

import pytest


@pytest.fixture
def run_with_data(api):
    run = api.run(api.project()["id"])["id"]
    api.log(run, [0, 1, 2], {"loss": [3.0, 2.0, 1.0]})
    return run


def _post(api, run, raw, **headers):
    return api.post(
        f"/runs/{run}/metrics",
        content=raw,
        headers={**api.headers, "content-type": "application/json", **headers},
    )


CASES = [
    (
        '{"steps": [0, 1], "metrics": {"loss": [1.0]}}',
        422,
        ["body", "metrics", "loss"],
        "has 1 values but steps has 2",
    ),
    (
        '{"steps": [0, 1], "metrics": {"loss": [1.0, "abc"]}}',
        422,
        ["body", "metrics", "loss", 1],
        "not a number",
    ),
    (
        '{"steps": [0, 1], "metrics": {"loss": [1.0, true]}}',
        422,
        ["body", "metrics", "loss", 1],
        "not a number",
    ),
    ('{"steps": [0, 1.5], "metrics": {"loss": [1.0, 2.0]}}', 422, ["body", "steps", 1], "integers"),
    ('{"steps": [0, -1], "metrics": {"loss": [1.0, 2.0]}}', 422, ["body", "steps", 1], ">= 0"),
    ('{"steps": [], "metrics": {"loss": []}}', 422, ["body", "steps"], "non-empty"),
    ('{"steps": [0], "metrics": {}}', 422, ["body", "metrics"], "non-empty"),
    ('{"steps": [0], "metric": {"loss": [1]}}', 422, ["body", "metric"], "unknown field"),
    (
        '{"steps": [0], "metrics": {"loss": [1]}, "wall_time": [1, 2]}',
        422,
        ["body", "wall_time"],
        "array of 1",
    ),
    ("this is not json", 400, ["body"], "not valid JSON"),
    ("[1, 2, 3]", 422, ["body"], "JSON object"),
]


@pytest.mark.parametrize(("raw", "status", "loc", "text"), CASES)
def test_bad_batch_is_refused_and_nothing_changes(api, run_with_data, raw, status, loc, text):
    r = _post(api, run_with_data, raw)
    assert r.status_code == status, r.text
    (err,) = r.json()["detail"]
    assert err["loc"] == loc and text in err["msg"]
    (s,) = api.series([run_with_data], ["loss"])
    assert s["steps"] == [0, 1, 2] and s["values"] == [3.0, 2.0, 1.0]


def test_batch_over_the_point_limit_is_413(api, run_with_data):
    limit = api.client.app.state.settings.max_batch_points
    steps = list(range(limit // 2 + 1))
    r = api.post(
        f"/runs/{run_with_data}/metrics",
        json={"steps": steps, "metrics": {"a": [1.0] * len(steps), "b": [1.0] * len(steps)}},
    )
    assert r.status_code == 413
    assert "split it into smaller batches" in r.json()["detail"][0]["msg"]


def test_body_over_the_byte_limit_is_413(api, run_with_data):
    api.client.app.state.settings.max_body_bytes = 1000
    r = _post(api, run_with_data, '{"steps": [0], "metrics": {"loss": [1.0]}}' + " " * 2000)
    assert r.status_code == 413 and "smaller batches" in r.json()["detail"][0]["msg"]


def test_unknown_run_is_404_naming_the_run(api):
    r = _post(api, 12345, '{"steps": [0], "metrics": {"loss": [1.0]}}')
    assert r.status_code == 404
    (err,) = r.json()["detail"]
    assert err["loc"] == ["path", "run_id"] and "12345" in err["msg"]
