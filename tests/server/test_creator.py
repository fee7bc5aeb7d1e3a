"""Who created a run or sweep: the token's name or the signed-in username, kept on the row,
shown by the API and the runs table, filtered by; a sweep's trials carry its creator."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from alembic import command
from lionlab_server import migrate
from lionlab_server.db import make_engine
from lionlab_server.models import Project, Run, Sweep
from lionlab_server.store import users

CSRF = {"X-LionLab-CSRF": "1"}


def _token(api, name: str, project_id: int) -> dict[str, str]:
    r = api.post("/tokens", json={"name": name, "project_id": project_id})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _run(api, project_id: int, headers: dict[str, str], **fields) -> dict:
    r = api.post("/runs", json={"project_id": project_id, **fields}, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_run_made_with_a_token_carries_the_tokens_name(api):
    pid = api.project()["id"]
    run = _run(api, pid, _token(api, "nightly-ci", pid))
    assert run["created_by"] == "nightly-ci"
    assert api.get(f"/runs/{run['id']}").json()["created_by"] == "nightly-ci"
    # a re-run is the re-running caller's, not the original creator's
    job = _run(api, pid, _token(api, "ci", pid), job={"optimizer": {"name": "lion", "lr": 1e-4}})
    r = api.post(f"/runs/{job['id']}/rerun")
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "local admin"


def test_a_run_made_in_a_signed_in_session_carries_the_username(api, app):
    pid = api.project()["id"]
    with app.state.sessionmaker() as session, session.begin():
        users.create_user(session, "alice", password="correct horse battery", is_admin=True)
    form = {"username": "alice", "password": "correct horse battery", "next": "/projects"}
    assert api.client.post("/signin", data=form, follow_redirects=False).status_code == 303
    r = api.client.post("/api/v1/runs", json={"project_id": pid}, headers=CSRF)
    assert r.status_code == 201, r.text
    assert r.json()["created_by"] == "alice"


def test_the_runs_list_and_table_filter_by_creator(api):
    pid = api.project()["id"]
    bot, me = _token(api, "ci-bot", pid), _token(api, "<b>me</b>", pid)
    ours = {_run(api, pid, bot)["id"], _run(api, pid, bot)["id"]}
    _run(api, pid, me)
    r = api.get("/runs", params={"project_id": pid, "created_by": "ci-bot"})
    assert r.status_code == 200, r.text
    assert {run["id"] for run in r.json()["items"]} == ours and r.json()["total"] == 2
    assert api.get("/runs", params={"created_by": "ci"}).json()["total"] == 0  # exact names
    rows = api.get(f"/views/projects/{pid}/runs", params={"created_by": "<b>me</b>"}).json()
    assert [row["run"]["created_by"] for row in rows["items"]] == ["<b>me</b>"]
    r = api.get("/runs", params={"created_by": "x" * 201})
    assert r.status_code == 422 and "created_by" in r.text


def test_a_sweeps_trials_carry_its_creator_however_they_are_scheduled(api):
    pid = api.project()["id"]
    spec = {
        "name": "by-bot",
        "base": {"task": "char_lm", "steps": 20, "eval_interval": 10},
        "optimizers": ["lion"],
        "seeds": 2,
        "limits": {"max_parallel": 1},
    }
    r = api.post(
        "/sweeps", json={"project_id": pid, "spec": spec}, headers=_token(api, "sweeper", pid)
    )
    assert r.status_code == 201, r.text
    sweep = r.json()
    assert sweep["created_by"] == "sweeper"
    first = api.get("/runs", params={"project_id": pid}).json()["items"]
    assert [run["created_by"] for run in first] == ["sweeper"]
    # the admin token (a worker) ends the first trial; the scheduler then starts the second
    rid = first[0]["id"]
    claim = api.post(f"/runs/{rid}/claim", json={"worker": "w0"}).json()
    me = {"worker": "w0", "attempt": claim["attempts"]}
    assert api.post(f"/runs/{rid}/finish", json={**me, "status": "succeeded"}).status_code == 200
    trials = api.get("/runs", params={"project_id": pid}).json()["items"]
    assert len(trials) == 2 and {run["created_by"] for run in trials} == {"sweeper"}
    assert api.get(f"/sweeps/{sweep['id']}").json()["created_by"] == "sweeper"


def test_rows_from_before_the_migration_keep_null_creators(tmp_path):
    """Downgrading past 0012 and upgrading again keeps every run and sweep, creator unknown."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        project = Project(name="old")
        session.add(project)
        session.flush()
        session.add(Run(project_id=project.id, name="r", created_by="alice"))
        spec = {"limits": {"max_parallel": 1}}
        session.add(
            Sweep(
                project_id=project.id,
                name="s",
                spec=spec,
                trials=[],
                max_parallel=1,
                created_by="alice",
            )
        )
    command.downgrade(migrate.alembic_config(engine), "0010")  # before created_by
    migrate.upgrade(engine)
    with Session(engine) as session:
        assert session.execute(select(Run.name, Run.created_by)).all() == [("r", None)]
        assert session.execute(select(Sweep.name, Sweep.created_by)).all() == [("s", None)]
    engine.dispose()
