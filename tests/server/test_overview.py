"""The project overview (GET /projects/{id}/overview): status counts, the best runs per
optimizer against a direct computation over the logged values (NaN and ties included), the
newest flags, the sweeps' verdicts against the sweeps API's, authorization, input rules, and
a statement count that does not grow with the number of runs."""

from __future__ import annotations

import math
import random

import pytest
from support.api import as_float
from support.statements import count_statements

from lionlab.lifecycle import ORDER
from lionlab_server.store import flags as flag_store
from lionlab_server.store import grants, tokens, users
from lionlab_server.store.scope import Role

JOB = {"task": "char_lm", "optimizer": {"name": "adamw", "lr": 3e-4}, "steps": 10}


def overview(api, project_id: int, headers: dict | None = None, **params) -> dict:
    r = api.get(f"/projects/{project_id}/overview", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def by_optimizer(body: dict) -> dict:
    return {o["optimizer"]: o for o in body["optimizers"]}


def test_an_empty_project_has_every_status_at_zero_and_no_metric(api):
    pid = api.project()["id"]
    body = overview(api, pid)
    assert list(body["status_counts"]) == [s.value for s in ORDER]
    assert set(body["status_counts"].values()) == {0}
    assert body["runs_total"] == 0 and body["metric"] is None and body["mode"] == "min"
    assert body["optimizers"] == [] and body["flags"] == [] and body["sweeps"] == []
    assert body["flags_total"] == 0 and body["sweeps_total"] == 0 and body["metric_keys"] == {}


def test_status_counts_and_runs_per_optimizer(api):
    pid = api.project()["id"]
    other = api.project("other")["id"]
    ends = ["succeeded", "succeeded", "failed", "diverged", "cancelled", None, None]
    for i, end in enumerate(ends):
        run = api.run(pid, optimizer="lion" if i % 2 else "adamw")
        if end:
            assert api.patch(f"/runs/{run['id']}", json={"status": end}).status_code == 200
    api.run(pid)  # no optimizer named
    assert api.post("/runs", json={"project_id": pid, "job": JOB}).status_code == 201  # queued
    api.run(other, optimizer="lion")  # another project's run counts nowhere here
    body = overview(api, pid)
    expected = {s.value: 0 for s in ORDER}
    expected.update(succeeded=2, failed=1, diverged=1, cancelled=1, running=3, queued=1)
    assert body["status_counts"] == expected and body["runs_total"] == 9
    runs = {o["optimizer"]: o["runs"] for o in body["optimizers"]}
    assert runs == {"adamw": 5, "lion": 3, None: 1}
    assert [o["optimizer"] for o in body["optimizers"]] == ["adamw", "lion", None]  # null last


def _expected_best(logged: dict[int, tuple[str, list[float]]], mode: str, n: int):
    """optimizer -> [(run id, value)] best first, computed from the values sent: a run's
    value is its min (max) over non-NaN values, NaN-only runs are out, ties: lower id."""
    ranked: dict[str, list[tuple[float, int]]] = {}
    for rid, (optimizer, values) in logged.items():
        real = [v for v in values if not math.isnan(v)]
        if real:
            value = min(real) if mode == "min" else max(real)
            ranked.setdefault(optimizer, []).append((value, rid))
    sign = 1 if mode == "min" else -1
    return {
        o: [(rid, v) for v, rid in sorted(rows, key=lambda t: (sign * t[0], t[1]))[:n]]
        for o, rows in ranked.items()
    }


def test_best_runs_per_optimizer_match_a_direct_computation(api):
    pid = api.project()["id"]
    rng = random.Random(7)
    logged: dict[int, tuple[str, list[float]]] = {}
    for i in range(24):
        optimizer = ("lion", "adamw", "sgd")[i % 3]
        lr = rng.choice([1e-4, 3e-4, 1e-3])
        run = api.run(pid, name=f"r{i}", optimizer=optimizer, config={"lr": lr})
        values = [round(rng.uniform(1.0, 3.0), 1) for _ in range(6)]  # one decimal: ties
        if i % 7 == 0:
            values[2] = math.nan  # a NaN among numbers is skipped
        if i in (4, 5):
            values = [math.nan] * 6  # NaN only: not ranked
        api.log(run["id"], range(1, 7), {"eval_loss": values})
        logged[run["id"]] = (optimizer, values)
    lrs = {
        r["id"]: r["config"]["lr"]
        for r in api.get("/runs", params={"project_id": pid, "limit": 100}).json()["items"]
    }
    for mode, n in (("min", 5), ("max", 3)):
        body = overview(api, pid, metric="eval_loss", mode=mode, best=n)
        assert body["metric"] == "eval_loss" and body["mode"] == mode
        expected = _expected_best(logged, mode, n)
        got = by_optimizer(body)
        assert set(got) == {"lion", "adamw", "sgd"}
        for optimizer, rows in expected.items():
            best = got[optimizer]["best"]
            assert [(b["id"], as_float(b["value"])) for b in best] == rows, (mode, optimizer)
            assert all(b["lr"] == lrs[b["id"]] for b in best)
            nan_only = sum(
                1 for o, v in logged.values() if o == optimizer and all(map(math.isnan, v))
            )
            assert got[optimizer]["ranked"] == 8 - nan_only and got[optimizer]["runs"] == 8
    # a tie on the best value goes to the older run
    body = overview(api, pid, metric="eval_loss", best=50)
    for o in body["optimizers"]:
        pairs = [(as_float(b["value"]), b["id"]) for b in o["best"]]
        assert pairs == sorted(pairs)


def test_the_default_metric_prefers_eval_loss_and_mode_follows_the_key(api):
    pid = api.project()["id"]
    a = api.run(pid, optimizer="lion")["id"]
    api.log(a, [1, 2], {"train_loss": [2.0, 1.0], "accuracy": [0.5, 0.7]})
    body = overview(api, pid)
    assert body["metric"] == "train_loss" and body["mode"] == "min"
    assert body["metric_keys"] == {"accuracy": 1, "train_loss": 1}
    assert by_optimizer(body)["lion"]["best"][0]["value"] == 1.0
    b = api.run(pid, optimizer="adamw")["id"]
    api.log(b, [1, 2], {"eval_loss": [2.5, 2.2]})
    body = overview(api, pid)
    assert body["metric"] == "eval_loss"  # judged on eval loss once any run logs it
    assert by_optimizer(body)["lion"]["best"] == [] and by_optimizer(body)["lion"]["ranked"] == 0
    body = overview(api, pid, metric="accuracy")
    assert body["mode"] == "max" and by_optimizer(body)["lion"]["best"][0]["value"] == 0.7
    body = overview(api, pid, metric="never_logged")
    assert body["metric"] == "never_logged" and all(o["best"] == [] for o in body["optimizers"])


def test_the_job_specs_lr_is_shown_and_a_nonfinite_value_is_text(api):
    pid = api.project()["id"]
    job = api.post("/runs", json={"project_id": pid, "job": JOB}).json()["id"]
    api.post(f"/runs/{job}/claim", json={"worker": "w"})
    api.log(job, [1, 2], {"loss": [2.0, -math.inf]}, attempt=1)
    body = overview(api, pid)
    (best,) = by_optimizer(body)["adamw"]["best"]
    assert best["lr"] == 3e-4 and best["value"] == "-Infinity" and best["last"] == "-Infinity"
    assert body["metric"] == "loss"


def test_flags_newest_first_with_their_runs(app, api):
    pid = api.project()["id"]
    other = api.project("other")["id"]
    hostile = api.run(pid, name="<img src=x onerror=alert(1)>")["id"]
    plain = api.run(pid, name="plain")["id"]
    elsewhere = api.run(other)["id"]
    raised = api.log(hostile, [1, 2], {"train_loss": [1.0, math.nan]})["flags"]
    assert raised  # the divergence detector's flag, as ingestion stores it
    with app.state.sessionmaker() as s, s.begin():
        for i, rid in enumerate([plain, hostile, plain, elsewhere] * 4):
            flag_store.add_flags(
                s,
                rid,
                [
                    {
                        "kind": "grad_norm_drift",
                        "step": 100 + i,
                        "start_step": 100 + i,
                        "end_step": 100 + i,
                        "severity": "warning",
                        "message": f"drift {i}",
                    }
                ],
            )
    every = [
        f | {"run_name": name}
        for rid, name in ((hostile, "<img src=x onerror=alert(1)>"), (plain, "plain"))
        for f in api.get(f"/runs/{rid}/flags").json()
    ]
    every.sort(key=lambda f: (f["created_at"], f["id"]), reverse=True)
    body = overview(api, pid, flags=5)
    assert body["flags_total"] == len(every) == 13
    assert [f["id"] for f in body["flags"]] == [f["id"] for f in every[:5]]
    first = body["flags"][0]
    assert {k: first[k] for k in ("run_id", "run_name", "kind", "severity", "message", "step")} == {
        k: every[0][k] for k in ("run_id", "run_name", "kind", "severity", "message", "step")
    }
    assert all(f["run_id"] != elsewhere for f in overview(api, pid, flags=100)["flags"])


def _sweep(api, project_id: int) -> int:
    spec = {
        "name": "lr-sweep",
        "base": {"task": "char_lm", "steps": 30, "eval_interval": 10},
        "optimizers": ["adamw", "lion"],
        "seeds": 1,
        "space": {"adamw": {"optimizer.lr": [1e-3]}},
        "paired": {"factors": [3]},
        "limits": {"max_parallel": 4},
    }
    r = api.post("/sweeps", json={"project_id": project_id, "spec": spec})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _drive(api, run_id: int, losses: list[float]) -> None:
    attempt = api.post(f"/runs/{run_id}/claim", json={"worker": f"w{run_id}"}).json()["attempts"]
    steps = [10 * (i + 1) for i in range(len(losses))]
    api.log(run_id, steps, {"eval_loss": losses, "train_loss": losses}, attempt=attempt)
    me = {"worker": f"w{run_id}", "attempt": attempt, "status": "succeeded"}
    assert api.post(f"/runs/{run_id}/finish", json=me).status_code == 200


def test_sweeps_carry_the_sweep_pages_verdict(api):
    pid = api.project()["id"]
    waiting = _sweep(api, pid)
    done = _sweep(api, pid)
    trials = api.get(f"/sweeps/{done}").json()["trials"]
    for t in trials:
        fast = t["optimizer"] == "lion"
        _drive(api, t["run_id"], [2.0, 1.0, 0.5] if fast else [2.0, 1.6, 1.2])
    body = overview(api, pid)
    assert [s["id"] for s in body["sweeps"]] == [done, waiting] and body["sweeps_total"] == 2
    for item in body["sweeps"]:
        analysis = api.get(f"/sweeps/{item['id']}/analysis").json()
        sweep = api.get(f"/sweeps/{item['id']}").json()
        assert item["verdict"] == analysis["verdict"]
        assert item["pending_trials"] == analysis["pending_trials"]
        assert (item["baseline"], item["challenger"]) == (
            analysis["baseline"],
            analysis["challenger"],
        )
        assert item["counts"] == sweep["counts"] and item["status"] == sweep["status"]
    assert body["sweeps"][0]["status"] == "finished" and body["sweeps"][0]["verdict"]
    assert [s["id"] for s in overview(api, pid, sweeps=1)["sweeps"]] == [done]


def test_another_teams_project_is_404_and_its_own_is_served(app, api):
    mine = api.project("mine")["id"]
    theirs = api.project("theirs")["id"]
    api.run(theirs, name="secret-run", optimizer="lion")
    with app.state.sessionmaker() as s, s.begin():
        user = users.create_user(s, "outsider")
        team = grants.create_team(s, "outsiders")
        grants.set_membership(s, team.id, user.id, True)
        grants.grant_project(s, mine, Role.VIEWER, team_id=team.id)
        secret, _ = tokens.create_token(s, "outsider-token", user_id=user.id)
    headers = {"Authorization": f"Bearer {secret}"}
    r = api.get(f"/projects/{theirs}/overview", headers=headers)
    assert r.status_code == 404 and "secret-run" not in r.text
    assert r.json()["detail"][0]["loc"] == ["path", "project_id"]
    assert api.get(f"/projects/{mine}/overview", headers=headers).status_code == 200
    assert api.client.get(f"/api/v1/projects/{theirs}/overview").status_code == 401
    assert api.get("/projects/999/overview").status_code == 404


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"metric": ""}, "metric"),
        ({"metric": "k" * 251}, "metric"),
        ({"mode": "median"}, "mode"),
        ({"best": 0}, "best"),
        ({"best": 51}, "best"),
        ({"best": "many"}, "best"),
        ({"flags": 0}, "flags"),
        ({"flags": 101}, "flags"),
        ({"sweeps": 51}, "sweeps"),
    ],
)
def test_bad_input_is_422_naming_the_parameter(api, params, where):
    pid = api.project()["id"]
    r = api.get(f"/projects/{pid}/overview", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", where]


def test_bad_ids_and_nul_are_4xx(api):
    for path in ("/projects/0/overview", f"/projects/{2**31}/overview", "/projects/x/overview"):
        r = api.get(path)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][0] == "path", path
    pid = api.project()["id"]
    r = api.get(f"/projects/{pid}/overview", params={"metric": "a\x00b"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "metric"]


def _populate(app, api, project_id: int, n: int) -> None:
    for i in range(n):
        rid = api.run(project_id, optimizer=("lion", "adamw")[i % 2], config={"lr": 1e-4})["id"]
        api.log(rid, [1, 2, 3], {"eval_loss": [3.0, 2.0 - i / 100, math.nan]})
        if i % 5 == 0:
            api.log(rid, [4, 5], {"train_loss": [1.0, math.nan]})  # a divergence flag
        if i % 3 == 0:
            api.patch(f"/runs/{rid}", json={"status": "succeeded"})
    _sweep(api, project_id)


def _statements(app, api, project_id: int) -> int:
    overview(api, project_id)  # warm: token and project caches, metric key ids
    return count_statements(app, lambda: overview(api, project_id))


def test_the_number_of_statements_does_not_grow_with_the_runs(app, api):
    small, large = api.project("small")["id"], api.project("large")["id"]
    _populate(app, api, small, 5)
    _populate(app, api, large, 60)
    body = overview(api, large)
    assert body["runs_total"] > 60 and body["flags_total"] == 12  # trials are runs too
    n_small, n_large = _statements(app, api, small), _statements(app, api, large)
    assert n_small == n_large and n_large <= 16, (n_small, n_large)
