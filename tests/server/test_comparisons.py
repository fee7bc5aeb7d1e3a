"""Saved comparisons over the API: saved to a project with who and when, listed in pages,
restored as saved, deleted; other projects' comparisons answer 404; bad input is 422 naming
the field and stores nothing."""

from __future__ import annotations

import pytest

STATE = {
    "runs": [0],
    "metrics": ["loss", "val_loss"],
    "x": "wall",
    "smoothing": 0.85,
    "log_y": True,
}


def save(api, project_id: int, run_ids: list[int], expect: int = 201, headers=None, **fields):
    body = {"name": "lion vs adamw", "state": {**STATE, "runs": run_ids}, **fields}
    r = api.post(f"/projects/{project_id}/comparisons", json=body, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


def listed(api, project_id: int, **params) -> dict:
    r = api.get(f"/projects/{project_id}/comparisons", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_comparison_is_saved_listed_restored_and_deleted(api):
    pid = api.project()["id"]
    a, b = api.run(pid, name="a")["id"], api.run(pid, name="b")["id"]
    saved = save(api, pid, [b, a, b], description="Lion needs half the steps.")
    assert saved["project_id"] == pid and saved["name"] == "lion vs adamw"
    assert saved["description"] == "Lion needs half the steps."
    assert saved["state"] == {**STATE, "runs": [b, a]}  # legend order kept, repeats dropped
    assert saved["created_by"] == "local admin" and saved["created_at"]
    assert api.get(f"/comparisons/{saved['id']}").json() == saved

    second = save(api, pid, [a], name="just a", state={"runs": [a]})
    assert second["state"] == {
        "runs": [a],
        "metrics": None,
        "x": "step",
        "smoothing": 0.6,
        "log_y": False,
    }
    page = listed(api, pid, limit=1)
    assert page["total"] == 2 and [c["id"] for c in page["items"]] == [second["id"]]
    assert [c["id"] for c in listed(api, pid, limit=1, offset=1)["items"]] == [saved["id"]]

    assert (
        api.client.delete(f"/api/v1/comparisons/{saved['id']}", headers=api.headers).status_code
        == 204
    )
    assert api.get(f"/comparisons/{saved['id']}").status_code == 404
    assert [c["id"] for c in listed(api, pid)["items"]] == [second["id"]]


def test_the_creator_is_the_tokens_name_for_a_project_token(api):
    pid = api.project()["id"]
    run = api.run(pid)["id"]
    token = api.post("/tokens", json={"name": "nightly-ci", "project_id": pid}).json()["token"]
    saved = save(api, pid, [run], headers={"Authorization": f"Bearer {token}"})
    assert saved["created_by"] == "nightly-ci"


def test_comparisons_of_another_project_answer_404_to_a_project_token(api):
    mine, theirs = api.project("mine")["id"], api.project("theirs")["id"]
    my_run, their_run = api.run(mine)["id"], api.run(theirs)["id"]
    token = api.post("/tokens", json={"name": "ci", "project_id": mine}).json()["token"]
    as_mine = {"Authorization": f"Bearer {token}"}
    own = save(api, mine, [my_run], headers=as_mine)
    other = save(api, theirs, [their_run])
    body = {"json": {"name": "x", "state": {"runs": [their_run]}}}
    for method, path, kw in [
        ("get", f"/projects/{theirs}/comparisons", {}),
        ("post", f"/projects/{theirs}/comparisons", body),
        ("get", f"/comparisons/{other['id']}", {}),
        ("delete", f"/comparisons/{other['id']}", {}),
    ]:
        r = api.client.request(method, f"/api/v1{path}", headers=as_mine, **kw)
        assert r.status_code == 404, (method, path, r.text)
    assert [c["id"] for c in listed(api, theirs)["items"]] == [other["id"]]
    r = api.get(f"/projects/{mine}/comparisons", headers=as_mine)
    assert [c["id"] for c in r.json()["items"]] == [own["id"]]


def test_a_run_of_another_project_is_422_naming_it_and_nothing_is_stored(api):
    mine, theirs = api.project("mine")["id"], api.project("theirs")["id"]
    my_run, their_run = api.run(mine)["id"], api.run(theirs)["id"]
    for runs, bad in [([my_run, their_run], their_run), ([my_run, 99999], 99999)]:
        r = api.post(f"/projects/{mine}/comparisons", json={"name": "x", "state": {"runs": runs}})
        assert r.status_code == 422, r.text
        detail = r.json()["detail"][0]
        assert detail["loc"] == ["body", "state", "runs", 1]
        assert f"run {bad} " in detail["msg"]
    assert listed(api, mine)["total"] == 0


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"name": "", "state": {"runs": [1]}}, ["body", "name"]),
        ({"name": "x" * 201, "state": {"runs": [1]}}, ["body", "name"]),
        ({"name": "nul\x00name", "state": {"runs": [1]}}, ["body", "name"]),
        (
            {"name": "x", "description": "d" * 10_001, "state": {"runs": [1]}},
            ["body", "description"],
        ),
        ({"name": "x", "state": {"runs": []}}, ["body", "state", "runs"]),
        ({"name": "x", "state": {"runs": list(range(1, 26))}}, ["body", "state", "runs"]),
        ({"name": "x", "state": {"runs": [0]}}, ["body", "state", "runs", 0]),
        ({"name": "x", "state": {"runs": [1], "x": "epoch"}}, ["body", "state", "x"]),
        ({"name": "x", "state": {"runs": [1], "smoothing": 1.0}}, ["body", "state", "smoothing"]),
        ({"name": "x", "state": {"runs": [1], "colour": "red"}}, ["body", "state", "colour"]),
        ({"name": "x", "state": {"runs": [1], "metrics": ["bad\x00key"]}}, ["body", "state"]),
        ({"name": "x", "state": "runs=1,2"}, ["body", "state"]),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(api, body, loc):
    pid = api.project()["id"]
    api.run(pid)
    r = api.post(f"/projects/{pid}/comparisons", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][: len(loc)] == loc, r.text
    assert listed(api, pid)["total"] == 0
