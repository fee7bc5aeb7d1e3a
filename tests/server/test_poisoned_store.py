"""A stored object can never make a later read fail: after input that is hostile but within
the rules (the deepest config allowed, the largest integers and steps, odd Unicode, names and
tags at their column's length), every list, view and page of the project answers 200.

Regression: a run config holding NaN, Infinity, a 2**64 integer or 260 levels of nesting
was once stored and broke the runs list, the run page and compare for every user.
"""

from __future__ import annotations

import pytest

from lionlab.json_values import MAX_DEPTH

INT64_MAX, INT64_MIN = 2**63 - 1, -(2**63)
UNICODE = "Lïön ✓ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 שָׁלוֹם 🦁 \u200b\u202e"


def deepest_config() -> dict:
    value: dict | list = [INT64_MAX]
    for level in range(MAX_DEPTH - 1):
        value = {f"l{level}": value}
    return value  # MAX_DEPTH levels of objects and arrays


HOSTILE_CONFIGS = {
    "deepest": deepest_config(),
    "big_ints": {"max": INT64_MAX, "min": INT64_MIN, "floats": [1.7976931348623157e308, 5e-324]},
    "unicode": {UNICODE: UNICODE, "emoji": "🦁" * 200, "escapes": "\t\n\r\\\"'<script>"},
    "empty_and_odd_keys": {"": None, " ": [], "a.b": {"c[0]": True}, "$ref": "#/x"},
}


def hostile_runs(api, project: int) -> list[int]:
    """Runs with every hostile-but-allowed config, names and tags at their limits, and
    metrics at the edges of what a batch may hold."""
    ids = []
    for i, config in enumerate(HOSTILE_CONFIGS.values()):
        tags = [f"{i}{UNICODE}"[:100], "t" * 100, UNICODE]
        run = api.run(project, name=(f"{i}-" + "n" * 200)[:200], config=config, tags=tags)
        ids.append(run["id"])
    top = 2**53 - 1
    values = {
        "loss": [1.7976931348623157e308, float("nan"), float("inf"), -float("inf")],
        "k" * 250: [5e-324, -1.7976931348623157e308, 0.0, -0.0],
        UNICODE.strip("\u200b\u202e "): [1.0, 2.0, 3.0, 4.0],  # keys: printable only
    }
    walls = [0.0, 1.0, 2.0e9, 253_402_300_799.0]
    api.log(ids[0], [0, 1, top - 1, top], values, wall_time=walls)
    return ids


def hostile_sweep(api, project: int) -> int:
    spec = {
        "name": ("s" + UNICODE * 10)[:200],
        "description": UNICODE * 100,
        "base": {"task": "char_lm", "steps": 20, "eval_interval": 10},
        "optimizers": ["adamw"],
        "seeds": [0, 2**31 - 1],
        "space": {"adamw": {"optimizer.lr": [1e-3]}},
        "search": {"seed": 2**31 - 1},
        "limits": {"max_trials": 10_000, "max_parallel": 1_000, "max_total_steps": 2**53 - 1},
    }
    r = api.post("/sweeps", json={"project_id": project, "spec": spec})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def read_paths(project: int, runs: list[int], sweep: int) -> list[str]:
    each_run = [
        p
        for rid in runs
        for p in (
            f"/api/v1/runs/{rid}",
            f"/api/v1/runs/{rid}/metrics",
            f"/api/v1/runs/{rid}/flags",
            f"/api/v1/views/runs/{rid}",
            f"/api/v1/views/runs/{rid}/charts",
            f"/api/v1/views/runs/{rid}/charts?x=wall",
            f"/api/v1/views/runs/{rid}/charts?x=relative",
            f"/runs/{rid}",
        )
    ]
    compared = "&".join(f"run={rid}" for rid in runs)
    return [
        "/api/v1/projects",
        f"/api/v1/projects/{project}",
        f"/api/v1/projects/{project}/overview",
        f"/api/v1/projects/{project}/overview?metric={'k' * 250}&mode=max",
        "/api/v1/runs",
        f"/api/v1/runs?project_id={project}",
        f"/api/v1/runs?project_id={project}&sort=name",
        f"/api/v1/series?run={runs[0]}&key=loss&key={'k' * 250}",
        f"/api/v1/series?run={runs[0]}&key=loss&start=0&end={2**53 - 1}",
        f"/api/v1/views/projects/{project}/runs",
        f"/api/v1/views/compare?{compared}",
        f"/api/v1/views/compare?{compared}&x=wall",
        "/api/v1/sweeps",
        f"/api/v1/sweeps/{sweep}",
        f"/api/v1/sweeps/{sweep}/analysis",
        f"/api/v1/views/sweeps/{sweep}",
        "/projects",
        f"/projects/{project}",
        f"/projects/{project}/submit",
        f"/projects/{project}/sweeps",
        f"/projects/{project}/overview",
        f"/compare?{compared}",
        f"/sweeps/{sweep}",
        f"/sweeps/{sweep}/report",
        *each_run,
    ]


@pytest.mark.slow
def test_every_read_of_a_project_holding_hostile_objects_answers_200(api):
    project = api.project("poisoned")["id"]
    runs = hostile_runs(api, project)
    sweep = hostile_sweep(api, project)
    client = api.client
    client.cookies.set("lionlab_token", api.token)  # the pages sign in by cookie
    failed = {}
    for path in read_paths(project, runs, sweep):
        r = client.get(path, headers=api.headers, follow_redirects=False)
        if r.status_code != 200:
            failed[path] = (r.status_code, r.text[:200])
    assert not failed
    stored = client.get(f"/api/v1/runs/{runs[1]}", headers=api.headers).json()
    assert stored["config"] == HOSTILE_CONFIGS["big_ints"]  # returned exactly
    assert (
        client.get(f"/api/v1/runs/{runs[0]}", headers=api.headers).json()["config"]
        == (HOSTILE_CONFIGS["deepest"])
    )
