"""Share links: an editor makes a read-only link to one run, saved comparison or sweep; the
link (header X-LionLab-Share, no account) reads that object and what it shows, and nothing
else: a neighbouring run is 404, lists are refused, writes are refused; expired and revoked
links are 401. Owners list every link; the creator or an owner revokes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from lionlab_server.models import ShareLink, utcnow
from lionlab_server.store import grants, tokens, users
from lionlab_server.store.scope import Role


def share(api, kind: str, object_id: int, expect: int = 201, headers=None, **fields) -> dict:
    body = {"kind": kind, "object_id": object_id, **fields}
    r = api.post("/shares", json=body, headers=headers)
    assert r.status_code == expect, r.text
    return r.json()


def secret_of(created: dict) -> str:
    assert created["url"].startswith("/share/lsh_")
    return created["url"].removeprefix("/share/")


def via(secret: str) -> dict:
    return {"X-LionLab-Share": secret}


def member(app, project_id: int, name: str, role: Role) -> dict:
    """A user granted `role` on the project, and the bearer header of a token of theirs."""
    with app.state.sessionmaker() as session, session.begin():
        user = users.create_user(session, name, password="correct horse battery")
        grants.grant_project(session, project_id, role, user_id=user.id)
        secret, _ = tokens.create_token(session, f"{name}-token", user_id=user.id)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def clock(app):
    """The credential cache on a clock the test moves (a revoked link is refused within
    the cache time, like a revoked token)."""
    from lionlab_server.api.deps import TOKEN_TTL_S, token_cache

    now = [0.0]
    app.state.token_cache = token_cache(timer=lambda: now[0])

    def later() -> None:
        now[0] += TOKEN_TTL_S + 1

    return later


def test_a_run_link_reads_its_run_only_and_stops_when_revoked(api, app, clock):
    pid = api.project()["id"]
    shared, neighbour = api.run(pid, name="shared")["id"], api.run(pid, name="next")["id"]
    for rid in (shared, neighbour):
        api.log(rid, [0, 1, 2], {"train_loss": [3.0, 2.0, 1.0]})
    created = share(api, "run", shared)
    assert created["kind"] == "run" and created["live"] and created["created_by"] == "local admin"
    assert timedelta(days=29) < _expires_in(created) <= timedelta(days=30)
    link = via(secret_of(created))
    c = api.client

    for path in (
        f"/views/runs/{shared}",
        f"/views/runs/{shared}/charts",
        f"/runs/{shared}",
        f"/runs/{shared}/note",
        f"/runs/{shared}/flags",
        f"/series?run={shared}&key=train_loss",
        f"/views/compare?run={shared}",
    ):
        assert c.get(f"/api/v1{path}", headers=link).status_code == 200, path
    assert c.get(f"/api/v1/views/runs/{shared}/charts", headers=link).json()["charts"]

    for path in (
        f"/views/runs/{neighbour}",
        f"/runs/{neighbour}",
        f"/series?run={shared}&run={neighbour}&key=train_loss",
        f"/views/compare?run={shared}&run={neighbour}",
        f"/views/projects/{pid}/runs",
        f"/projects/{pid}",
    ):
        assert c.get(f"/api/v1{path}", headers=link).status_code == 404, path
    for path in ("/projects", f"/runs?project_id={pid}", f"/projects/{pid}/shares"):
        assert c.get(f"/api/v1{path}", headers=link).status_code in (403, 404), path
    # writes: the link's object as if it did not exist, anything else forbidden
    writes = [
        c.put(f"/api/v1/runs/{shared}/note", json={"text": "x"}, headers=link),
        c.post(f"/api/v1/runs/{shared}/cancel", headers={**link, "X-LionLab-CSRF": "1"}),
        c.post("/api/v1/shares", json={"kind": "run", "object_id": shared}, headers=link),
    ]
    assert [w.status_code for w in writes] == [404, 404, 403]
    assert api.get(f"/runs/{shared}/note").json()["text"] == ""

    page = c.get(created["url"])
    assert page.status_code == 200 and "Shared, read-only view of run" in page.text
    assert f'content="{secret_of(created)}"' in page.text and "set-cookie" not in page.headers
    assert page.headers["referrer-policy"] == "no-referrer"

    r = api.client.delete(f"/api/v1/shares/{created['id']}", headers=api.headers)
    assert r.status_code == 200 and r.json()["revoked_at"] and not r.json()["live"]
    clock()
    assert c.get(f"/api/v1/views/runs/{shared}", headers=link).status_code == 401
    assert c.get(created["url"]).status_code == 404
    events = api.get("/audit", params={"project_id": pid}).json()["items"]
    assert {"share.created", "share.revoked"} <= {e["action"] for e in events}


def _expires_in(created: dict) -> timedelta:
    from datetime import datetime

    return datetime.fromisoformat(created["expires_at"]) - utcnow()


def test_an_expired_or_unknown_link_is_refused_and_expiry_is_bounded(api, app):
    pid = api.project()["id"]
    rid = api.run(pid)["id"]
    for days in (0, 366):
        share(api, "run", rid, expect=422, expires_in_days=days)
    created = share(api, "run", rid, expires_in_days=1)
    with app.state.sessionmaker() as session, session.begin():
        session.execute(
            update(ShareLink)
            .where(ShareLink.id == created["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    c = api.client
    assert c.get(f"/api/v1/views/runs/{rid}", headers=via(secret_of(created))).status_code == 401
    assert c.get(f"/api/v1/views/runs/{rid}", headers=via("lsh_nope")).status_code == 401
    assert c.get(created["url"]).status_code == 404
    listed = api.get(f"/projects/{pid}/shares").json()
    assert [(s["id"], s["live"]) for s in listed] == [(created["id"], False)]


def test_a_comparison_link_reaches_the_comparison_and_its_runs_only(api):
    pid = api.project()["id"]
    a, b, other = (api.run(pid, name=n)["id"] for n in ("a", "b", "other"))
    body = {"name": "lion vs adamw", "state": {"runs": [a, b]}}
    cid = api.post(f"/projects/{pid}/comparisons", json=body).json()["id"]
    second = api.post(f"/projects/{pid}/comparisons", json={**body, "name": "2"}).json()["id"]
    link = via(secret_of(share(api, "comparison", cid)))
    c = api.client
    assert c.get(f"/api/v1/comparisons/{cid}", headers=link).json()["state"]["runs"] == [a, b]
    r = c.get(f"/api/v1/views/compare?run={a}&run={b}", headers=link)
    assert r.status_code == 200 and len(r.json()["runs"]) == 2
    assert c.get(f"/api/v1/views/runs/{a}", headers=link).status_code == 200
    for path in (
        f"/views/compare?run={a}&run={other}",
        f"/views/runs/{other}",
        f"/comparisons/{second}",
        f"/projects/{pid}/comparisons",
    ):
        assert c.get(f"/api/v1{path}", headers=link).status_code == 404, path


def test_a_sweep_link_reaches_the_sweep_and_its_trials_only(api):
    pid = api.project("sweeps")["id"]
    spec = {
        "name": "lr-sweep",
        "base": {"task": "char_lm", "steps": 90, "eval_interval": 10},
        "optimizers": ["adamw"],
        "seeds": 1,
        "space": {"adamw": {"optimizer.lr": [1e-3, 3e-3]}},
        "limits": {"max_parallel": 2},
    }
    sweep = api.post("/sweeps", json={"project_id": pid, "spec": spec}).json()
    trials = [t["run_id"] for t in api.get(f"/sweeps/{sweep['id']}").json()["trials"]]
    assert len(trials) == 2 and all(trials)
    loner = api.run(pid, name="not a trial")["id"]
    link = via(secret_of(share(api, "sweep", sweep["id"])))
    c = api.client
    assert c.get(f"/api/v1/views/sweeps/{sweep['id']}", headers=link).status_code == 200
    assert c.get(f"/api/v1/views/runs/{trials[0]}", headers=link).status_code == 200
    assert c.get(f"/api/v1/views/runs/{loner}", headers=link).status_code == 404
    assert c.get(f"/api/v1/sweeps?project_id={pid}", headers=link).status_code in (403, 404)
    page = c.get(f"/share/{secret_of(share(api, 'sweep', sweep['id']))}")
    assert page.status_code == 200 and "Shared, read-only view of sweep" in page.text


def test_editors_share_owners_list_and_the_creator_or_an_owner_revokes(api, app):
    pid, elsewhere = api.project("team")["id"], api.project("elsewhere")["id"]
    rid, hidden = api.run(pid)["id"], api.run(elsewhere)["id"]
    ann = member(app, pid, "ann", Role.EDITOR)
    bob = member(app, pid, "bob", Role.EDITOR)
    vic = member(app, pid, "vic", Role.VIEWER)
    own = member(app, pid, "olga", Role.OWNER)

    anns = share(api, "run", rid, headers=ann)
    assert anns["created_by"] == "ann"
    share(api, "run", rid, expect=403, headers=vic)
    share(api, "run", hidden, expect=404, headers=ann)  # not visible: as if it did not exist
    share(api, "run", 999_999, expect=404)
    share(api, "sweep", 999_999, expect=404)
    bobs = share(api, "run", rid, headers=bob)

    assert api.get(f"/projects/{pid}/shares", headers=ann).status_code == 403
    listed = api.get(f"/projects/{pid}/shares", headers=own).json()
    assert [s["id"] for s in listed] == [bobs["id"], anns["id"]]
    assert all("url" not in s for s in listed)  # the secret was shown once

    delete = api.client.delete
    assert delete(f"/api/v1/shares/{anns['id']}", headers=bob).status_code == 403
    assert delete(f"/api/v1/shares/{anns['id']}", headers=vic).status_code == 403
    assert delete(f"/api/v1/shares/{anns['id']}", headers=ann).status_code == 200
    assert delete(f"/api/v1/shares/{bobs['id']}", headers=own).status_code == 200
    assert delete("/api/v1/shares/999999", headers=own).status_code == 404
    assert not any(s["live"] for s in api.get(f"/projects/{pid}/shares", headers=own).json())
