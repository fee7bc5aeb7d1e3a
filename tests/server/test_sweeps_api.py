"""Sweeps over the API: spec validation, scheduling within max_parallel, ASHA stops passed on
to the worker, divergence, cancel, scope. Trials are driven by hand (claim, log, finish), the
way a worker drives them."""

import time

import pytest

STEPS = 90


def spec(**over) -> dict:
    s = {
        "name": "lr-sweep",
        "base": {"task": "char_lm", "steps": STEPS, "eval_interval": 10},
        "optimizers": ["adamw", "lion"],
        "seeds": 2,
        "space": {"adamw": {"optimizer.lr": [1e-3, 3e-3]}},
        "paired": {"factors": [3, 10]},
        "limits": {"max_parallel": 3},
    }
    s.update(over)
    return s


@pytest.fixture
def project(api) -> int:
    return api.project("sweeps")["id"]


def create(api, project, **over) -> dict:
    r = api.post("/sweeps", json={"project_id": project, "spec": spec(**over)})
    assert r.status_code == 201, r.text
    return r.json()


def detail(api, sweep_id) -> dict:
    r = api.get(f"/sweeps/{sweep_id}")
    assert r.status_code == 200, r.text
    return r.json()


def active(d: dict) -> list[dict]:
    return [t for t in d["trials"] if t["status"] in ("queued", "running")]


def drive(api, trial: dict, losses: list[float], end: str | None = "succeeded") -> dict:
    """Claim the trial's run, log eval losses every 10 steps, then finish it (as a worker)."""
    rid, worker = trial["run_id"], f"w{trial['index']}"
    claim = api.post(f"/runs/{rid}/claim", json={"worker": worker})
    assert claim.status_code == 200
    me = {"worker": worker, "attempt": claim.json()["attempts"]}
    steps = [10 * (i + 1) for i in range(len(losses))]
    api.log(rid, steps, {"eval_loss": losses, "train_loss": losses}, attempt=me["attempt"])
    beat = api.post(f"/runs/{rid}/heartbeat", json=me).json()
    if end is not None:
        r = api.post(f"/runs/{rid}/finish", json={**me, "status": end})
        assert r.status_code == 200, r.text
    return beat


def test_a_sweep_queues_no_more_trials_than_max_parallel(api, project):
    sweep = create(api, project)
    # AdamW 2 lrs; Lion 2 x 2 factors = 4; 6 configurations x 2 seeds
    assert sweep["trials_total"] == 12 and sweep["status"] == "running"
    d = detail(api, sweep["id"])
    assert [t["index"] for t in active(d)] == [0, 1, 2]
    assert sweep["counts"] == {"queued": 3, "pending": 9}
    lion = [t for t in d["trials"] if t["optimizer"] == "lion"]
    lrs = sorted({t["params"]["optimizer.lr"] for t in lion})  # AdamW lr / 3 and / 10
    assert lrs == pytest.approx([1e-4, 3e-4, 1e-3 / 3, 1e-3], rel=1e-9)
    runs = api.get("/runs", params={"project_id": project}).json()
    assert runs["total"] == 3  # the other trials have no run yet


def test_each_ended_trial_frees_one_slot_until_the_sweep_finishes(api, project):
    sid = create(api, project)["id"]
    seen_runs = set()
    while True:
        d = detail(api, sid)
        running = active(d)
        assert len(running) <= 3
        if not running:
            break
        seen_runs.update(t["run_id"] for t in running)
        drive(api, running[0], [3.0, 2.5, 2.2])
    assert d["status"] == "finished" and d["finished_at"]
    assert len(seen_runs) == 12  # one run per trial, none twice
    assert all(t["status"] == "succeeded" for t in d["trials"])


def test_invalid_specs_are_422_naming_the_field_and_store_nothing(api, project):
    cases = [
        ({"seeds": 0}, "seeds"),
        (
            {"space": {"adamw": {"optimizer.lr": {"dist": "log_uniform", "low": -1, "high": 1}}}},
            "space.adamw.optimizer.lr",
        ),
        ({"limits": {"max_trials": 5}}, "limits.max_trials"),
        ({"asha": {"min_steps": 15}}, "asha.min_steps"),  # not an eval step
    ]
    for over, field in cases:
        r = api.post("/sweeps", json={"project_id": project, "spec": spec(**over)})
        assert r.status_code == 422, (over, r.text)
        locs = [e["loc"] for e in r.json()["detail"]]
        assert any(loc[:2] == ["body", "spec"] and loc[2].startswith(field) for loc in locs), locs
        assert all(e["msg"] for e in r.json()["detail"])
    assert api.get("/sweeps", params={"project_id": project}).json()["total"] == 0
    assert api.get("/runs", params={"project_id": project}).json()["total"] == 0


def test_a_yaml_spec_is_accepted_as_text(api, project):
    text = (
        "name: yaml-sweep\n"
        "base: {task: char_lm, steps: 50, eval_interval: 10}\n"
        "optimizers: [lion]\nseeds: 1\n"
        "space:\n  lion:\n    optimizer.lr: [1.0e-4, 3.0e-4]\n"
    )
    r = api.post("/sweeps", json={"project_id": project, "spec": text})
    assert r.status_code == 201, r.text
    assert r.json()["trials_total"] == 2 and r.json()["spec"]["name"] == "yaml-sweep"
    r = api.post("/sweeps", json={"project_id": project, "spec": "name: [unclosed"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "spec"]


def test_asha_stops_a_bad_trial_at_its_rung_and_the_worker_is_told(api, project):
    # one optimizer, one seed, 3 lrs, eta 3 with min_reports 3: the rung at step 10 stops the
    # worst two once all three have reported there
    over = {
        "optimizers": ["adamw"],
        "seeds": 1,
        "space": {"adamw": {"optimizer.lr": [1e-3, 3e-3, 1e-2]}},
        "asha": {"eta": 3, "min_steps": 10},
    }
    sid = create(api, project, **over)["id"]
    t0, t1, t2 = detail(api, sid)["trials"]
    assert drive(api, t0, [2.0], end=None)["stop"] is None
    assert drive(api, t1, [3.0], end=None)["stop"] is None  # 2 results: too few to stop
    assert drive(api, t2, [4.0], end=None)["stop"] == "stopped_early"
    r = api.post(
        f"/runs/{t2['run_id']}/finish",
        json={"worker": "w2", "attempt": 1, "status": "stopped_early"},
    )
    assert r.status_code == 200 and r.json()["status"] == "stopped_early"
    trial = detail(api, sid)["trials"][2]
    assert trial["status"] == "stopped_early"
    assert trial["stop_reason"].startswith("stopped at step 10: rung 0, eval loss 4")
    analysis = api.get(f"/sweeps/{sid}/analysis").json()
    assert [d["action"] for d in analysis["decisions"]] == ["continue", "continue", "stop"]
    assert analysis["compute"]["saved_by_early_stopping"] == STEPS - 10


def test_a_diverged_trial_counts_as_the_worst_result_at_its_next_rung(api, project):
    over = {
        "optimizers": ["adamw"],
        "seeds": 1,
        "space": {"adamw": {"optimizer.lr": [1e-3, 1.0]}},
        "asha": {"eta": 2, "min_steps": 30, "min_reports": 2},
    }
    sid = create(api, project, **over)["id"]
    good, bad = detail(api, sid)["trials"]
    drive(api, bad, [2.0, float("nan")], end="diverged")
    assert drive(api, good, [2.0, 1.9, 1.8], end=None)["stop"] is None
    analysis = api.get(f"/sweeps/{sid}/analysis").json()
    diverged = [d for d in analysis["decisions"] if d["trial"] == bad["index"]]
    assert diverged[0]["rung"] == 0 and "diverged" in diverged[0]["reason"]
    assert detail(api, sid)["trials"][1]["status"] == "diverged"


def test_cancel_stops_the_sweep_and_queues_nothing_more(api, project):
    sid = create(api, project)["id"]
    first = active(detail(api, sid))
    drive(api, first[0], [2.0], end=None)  # running
    r = api.post(f"/sweeps/{sid}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    d = detail(api, sid)
    assert d["trials"][1]["status"] == "cancelled"  # queued: ended at once
    assert api.get(f"/runs/{first[0]['run_id']}").json()["stop_requested"] == "cancelled"
    r = api.post(
        f"/runs/{first[0]['run_id']}/finish",
        json={"worker": "w0", "attempt": 1, "status": "cancelled"},
    )
    assert r.status_code == 200
    d = detail(api, sid)
    assert d["counts"] == {"cancelled": 3, "pending": 9}  # nothing new was scheduled


def test_a_project_token_sees_only_its_projects_sweeps(api, project):
    sid = create(api, project)["id"]
    other = api.project("other")["id"]
    r = api.post("/tokens", json={"name": "t", "project_id": other})
    assert r.status_code == 201, r.text
    headers = {"Authorization": f"Bearer {r.json()['token']}"}
    assert api.get(f"/sweeps/{sid}", headers=headers).status_code == 404
    assert api.get("/sweeps", headers=headers).json()["total"] == 0
    r = api.post("/sweeps", headers=headers, json={"project_id": project, "spec": spec()})
    assert r.status_code == 404


def test_a_trial_whose_worker_is_lost_frees_its_slot_in_the_reapers_round(api, app, project):
    from lionlab_server.services.dispatch import Dispatcher

    over = {"optimizers": ["adamw"], "seeds": 1, "limits": {"max_parallel": 1}}
    sid = create(api, project, **over)["id"]
    (first,) = active(detail(api, sid))
    api.post(f"/runs/{first['run_id']}/claim", json={"worker": "w"})  # then the worker dies
    settings = app.state.settings.model_copy(update={"lost_after": 0.2, "max_attempts": 1})
    time.sleep(0.3)
    assert Dispatcher(settings, app.state.sessionmaker).reap() == [first["run_id"]]
    trials = detail(api, sid)["trials"]
    assert trials[0]["status"] == "lost"
    assert trials[1]["status"] == "queued" and trials[1]["run_id"] is not None
