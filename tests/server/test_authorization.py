"""Authorization is one mechanism: every route the app registers declares what it needs
(api/access.py), and every route answers every kind of caller by the same rules.

The route list comes from `app.routes`, so a new route cannot escape: it fails the first test
until it declares a requirement, and the matrix then checks it for callers {admin, owner,
editor, viewer, a user of another project, a narrowed token of another project, a read-only
token, a worker token, a share link of another object, no credentials, a revoked token}:
- objects of project A that the caller cannot see answer 404 (never 403: ids do not leak);
- writes without the role answer 403;
- a caller that cannot see A never reads anything of A (its objects carry a marker name
  that must not appear in any answer), and refused requests change nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from sqlalchemy import func, select

from lionlab_server import models
from lionlab_server.api.access import CLAIM, REPORT, REQUIREMENT, Requirement
from lionlab_server.store import grants, tokens, users
from lionlab_server.store.scope import Role

MARKER = "zq-project-a-marker"  # in the names of A's objects
CSRF = {"X-LionLab-CSRF": "1"}
JOB = {"task": "char_lm", "optimizer": {"name": "lion"}, "steps": 10}
# Framework routes that are not APIRoutes: FastAPI's docs and the static files.
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/static"}


def _requirements(route: APIRoute) -> list[Requirement]:
    found: list[Requirement] = []

    def walk(dependant) -> None:
        req = getattr(dependant.call, REQUIREMENT, None)
        if req is not None:
            found.append(req)
        for sub in dependant.dependencies:
            walk(sub)

    walk(route.dependant)
    return found


def _routes(app) -> list[tuple[str, str, Requirement]]:
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.route
        if not isinstance(route, APIRoute):
            assert ctx.path in FRAMEWORK, f"{ctx.path}: a route that is not an APIRoute"
            continue
        reqs = _requirements(route)
        assert len(reqs) == 1, (
            f"{sorted(route.methods)} {ctx.path}: declares {len(reqs)} requirements"
        )
        for method in sorted(route.methods - {"HEAD"}):
            out.append((method, ctx.path, reqs[0]))
    return out


def test_every_route_declares_one_requirement(app):
    routes = _routes(app)
    assert len(routes) > 60
    api_routes = [r for r in routes if r[1].startswith("/api/")]
    assert all(req.where == "api" for _, _, req in api_routes)


# --- the world: project A with one of each object, project B next to it ----------------


@dataclass
class Caller:
    name: str
    role: Role | None  # its role on project A; None: A is invisible to it
    bearer: str | None = None
    session: str | None = None
    share: str | None = None
    kind: str = "user"  # user / worker / share / anonymous

    def headers(self, api: bool, method: str) -> tuple[dict, dict]:
        """(headers, cookies) for a request."""
        if self.kind == "anonymous":
            return {}, {}
        if self.share is not None:
            return ({"X-LionLab-Share": self.share} if api else {}), {}
        if self.session is not None:
            return (CSRF if method != "GET" else {}), {"lionlab_session": self.session}
        if api:
            return {"Authorization": f"Bearer {self.bearer}"}, {}
        return {}, {"lionlab_token": self.bearer}


@dataclass
class World:
    ids: dict[str, object] = field(default_factory=dict)
    callers: list[Caller] = field(default_factory=list)


def _world(app, api) -> World:
    w = World()
    a = api.project(f"{MARKER}-project")
    b = api.project("project-b")
    run = api.post(
        "/runs",
        json={
            "project_id": a["id"],
            "name": f"{MARKER}-run",
            "job": JOB,
        },
    ).json()
    attempt = api.post(f"/runs/{run['id']}/claim", json={"worker": "w"}).json()["attempts"]
    api.log(run["id"], [0, 1], {"loss": [1.0, 0.5]}, attempt=attempt)
    b_run = api.run(b["id"], name="b-run")
    comparison = api.post(
        f"/projects/{a['id']}/comparisons",
        json={"name": f"{MARKER}-cmp", "state": {"runs": [run["id"]]}},
    ).json()
    hook = api.post(
        f"/projects/{a['id']}/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["run.failed"]},
    ).json()
    sweep_id = _sweep(api, a["id"])
    uploaded = api.client.put(
        f"/api/2.0/mlflow-artifacts/artifacts/{a['id']}/{run['id']}/artifacts/matrix.txt",
        content=f"{MARKER} artifact",
        headers=api.headers,
    )
    assert uploaded.status_code == 200, uploaded.text
    with app.state.sessionmaker() as s, s.begin():
        admin = users.create_user(s, "matrix-admin", is_admin=True)
        owner = users.create_user(s, "matrix-owner")
        editor = users.create_user(s, "matrix-editor")
        viewer = users.create_user(s, "matrix-viewer")
        other = users.create_user(s, "matrix-other")
        team = grants.create_team(s, f"{MARKER}-team")
        grants.set_membership(s, team.id, editor.id, True)
        grants.grant_project(s, a["id"], Role.OWNER, user_id=owner.id)
        grants.grant_project(s, a["id"], Role.EDITOR, team_id=team.id)
        grant = grants.grant_project(s, a["id"], Role.VIEWER, user_id=viewer.id)
        grants.grant_project(s, b["id"], Role.OWNER, user_id=other.id)
        sessions = {
            u.username: users.create_session(s, u.id, 1, "127.0.0.1")
            for u in (admin, owner, editor, viewer, other)
        }
        narrowed, _ = tokens.create_token(s, "narrowed-b", b["id"], user_id=admin.id)
        read_only, _ = tokens.create_token(s, "read-only", user_id=owner.id, read_only=True)
        worker, _ = tokens.create_token(s, "worker", kind=tokens.WORKER, user_id=admin.id)
        revoked, revoked_info = tokens.create_token(s, "revoked", user_id=admin.id)
        tokens.revoke_token(s, revoked_info.id)
        _, a_token = tokens.create_token(s, f"{MARKER}-token", a["id"], user_id=owner.id)
        share = _share_of_other_object(s, b_run["id"], b["id"])
    w.ids = {
        "project_id": a["id"],
        "run_id": run["id"],
        "sweep_id": sweep_id,
        "comparison_id": comparison["id"],
        "webhook_id": hook["id"],
        "token_id": a_token.id,
        "grant_id": grant.id,
        "team_id": team.id,
        "user_id": viewer.id,
        "run": run["id"],
        "key": "loss",
        "secret": "lll_not-a-link",
        # the MLflow-compatible API's names for A's objects
        "experiment_id": a["id"],
        "experiment_name": a["name"],
        "metric_key": "loss",
        "run_ids": run["id"],
        "path": f"{a['id']}/{run['id']}/artifacts",
        "artifact_path": f"{a['id']}/{run['id']}/artifacts/matrix.txt",
        # the native API's path of a file inside the run's artifacts
        "file_path": "matrix.txt",
        "stat": "grad_norm",  # a per-layer statistic
    }
    w.ids.update(_extra_ids(app, a["id"]))
    w.callers = [
        Caller("admin", Role.ADMIN, session=sessions["matrix-admin"]),
        Caller("owner", Role.OWNER, session=sessions["matrix-owner"]),
        Caller("editor (via team)", Role.EDITOR, session=sessions["matrix-editor"]),
        Caller("viewer", Role.VIEWER, session=sessions["matrix-viewer"]),
        Caller("user of another project", None, session=sessions["matrix-other"]),
        Caller("token narrowed to another project", None, bearer=narrowed),
        Caller("read-only token of the owner", Role.VIEWER, bearer=read_only),
        Caller("worker token", None, bearer=worker, kind="worker"),
        *(
            [Caller("share link of another object", None, share=share, kind="share")]
            if share
            else []
        ),
        Caller("no credentials", None, kind="anonymous"),
        Caller("revoked token", None, bearer=revoked, kind="anonymous"),
    ]
    return w


def _sweep(api, project_id: int) -> int:
    spec = (
        f"name: {MARKER}-sweep\n"
        "base: {task: char_lm, steps: 50, eval_interval: 10}\n"
        "optimizers: [lion]\nseeds: 1\n"
        "space:\n  lion:\n    optimizer.lr: [1.0e-4]\n"
    )
    r = api.post("/sweeps", json={"project_id": project_id, "spec": spec})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _share_of_other_object(session, run_id: int, project_id: int) -> str:
    """A share link of project B's run."""
    from lionlab_server.store import shares

    secret, _ = shares.create_share(session, project_id, "run", run_id, "matrix", None, days=30)
    return secret


def _extra_ids(app, project_id: int) -> dict:
    """Path parameters of objects other modules own (share links)."""
    from lionlab_server.store import shares

    with app.state.sessionmaker() as s, s.begin():
        run_id = s.scalar(select(models.Run.id).where(models.Run.project_id == project_id))
        _, info = shares.create_share(s, project_id, "run", run_id, "matrix", None, days=30)
    return {"share_id": info.id}


# Bodies that name project A, for the routes that take the project from the body (their
# authorization runs after the body is read). A route of that kind without one here fails.
def _bodies(w: World) -> dict[tuple[str, str], dict]:
    a = w.ids["project_id"]
    job = JOB
    return {
        **_mlflow_bodies(w),
        ("POST", "/api/v1/runs"): {"project_id": a, "name": "m"},
        ("POST", "/api/v1/sweeps"): {"project_id": a, "spec": "not: [a valid spec"},
        ("POST", "/api/v1/jobs/check"): {"project_id": a, "name": "m", "job": job},
        ("POST", "/api/v1/tokens"): {"name": "m", "project_id": a},
        ("POST", "/api/v1/shares"): {"kind": "run", "object_id": w.ids["run_id"]},
    }


MLFLOW_PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")


def _mlflow_bodies(w: World) -> dict[tuple[str, str], dict]:
    """The MLflow-compatible API names its experiment or run in the body: A's."""
    a, run = str(w.ids["project_id"]), str(w.ids["run_id"])
    bodies = {
        "experiments/delete": {"experiment_id": a},
        "experiments/restore": {"experiment_id": a},
        "experiments/update": {"experiment_id": a, "new_name": f"{MARKER}-project"},
        "experiments/set-experiment-tag": {"experiment_id": a, "key": "k", "value": "v"},
        "runs/create": {"experiment_id": a},
        "runs/update": {"run_id": run, "run_name": f"{MARKER}-run"},
        "runs/delete": {"run_id": run},
        "runs/restore": {"run_id": run},
        "runs/log-metric": {"run_id": run, "key": "loss", "value": 1.0, "step": 5},
        "runs/log-parameter": {"run_id": run, "key": "p", "value": "1"},
        "runs/set-tag": {"run_id": run, "key": "k", "value": "v"},
        "runs/delete-tag": {"run_id": run, "key": "k"},
        "runs/log-batch": {"run_id": run, "params": [{"key": "p", "value": "1"}]},
    }
    out = {}
    for prefix in MLFLOW_PREFIXES:
        for route, body in bodies.items():
            out[("POST", f"{prefix}/{route}")] = body
        for method in ("PUT", "DELETE"):
            out[(method, f"{prefix}-artifacts/artifacts/{{artifact_path:path}}")] = {}
    return out


# Query parameters and path parts that name one of project A's objects.
NAMES_A = {"run", "run_id", "run_ids", "experiment_id", "experiment_name", "path"}


# Routes whose handler looks up the object it names itself (not a project object): a caller
# that may not act on it gets 403 or 404.
OWN_LOOKUP = {("DELETE", "/api/v1/tokens/{token_id}"), ("DELETE", "/api/v1/shares/{share_id}")}
ALLOWED = "allowed"


def _expect(method: str, path: str, req: Requirement, caller: Caller, names_a: bool):
    """The answer the rules give: a status, a set of statuses, or ALLOWED."""
    api = req.where == "api"
    if req.where == "public":
        return "public"
    if caller.kind == "anonymous" or (caller.kind == "share" and not api):
        return 401 if api else 303
    if req.on is not None:
        if caller.kind == "worker":
            return ALLOWED if req.worker == CLAIM else 404
        if caller.role is None or caller.kind == "share":
            return 404
        return ALLOWED if caller.role >= req.need else 403
    if caller.kind == "worker":
        return ALLOWED if req.worker == REPORT else 403
    if caller.kind == "share":
        if not req.share:
            return 403
        return 404 if names_a else ALLOWED
    if req.need == Role.ADMIN and caller.role != Role.ADMIN:
        return 403
    if caller.name.startswith("read-only") and req.need > Role.VIEWER:
        return 403
    if (method, path) in OWN_LOOKUP:
        return ALLOWED if caller.role is not None and caller.role >= Role.OWNER else {403, 404}
    if names_a:
        if caller.role is None:
            return 404
        return ALLOWED if caller.role >= req.need else 403
    return ALLOWED


def _request(client, w: World, method: str, path: str, caller: Caller, req: Requirement):
    url = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: str(w.ids[m.group(1)]), path)
    api = req.where == "api"
    headers, cookies = caller.headers(api, method)
    body = _bodies(w).get((method, path))
    params = {}
    route_params = _query_params(client.app, method, path)
    for name in route_params:
        assert name in w.ids, f"{method} {path}: add a value for its required query {name!r}"
        params[name] = w.ids[name]
    client.cookies.clear()
    for k, v in cookies.items():
        client.cookies.set(k, v)
    kw = {"headers": headers, "params": params, "follow_redirects": False}
    if method in ("POST", "PUT", "PATCH"):
        kw["json"] = body if body is not None else {}
    r = client.request(method, url, **kw)
    names_a = body is not None or bool(NAMES_A & set(params))
    return r, names_a


def _query_params(app, method: str, path: str) -> list[str]:
    def required(dependant) -> list[str]:
        names = [p.alias for p in dependant.query_params if p.field_info.is_required()]
        return names + [n for sub in dependant.dependencies for n in required(sub)]

    for ctx in iter_route_contexts(app.routes):
        if ctx.path == path and isinstance(ctx.route, APIRoute) and method in ctx.route.methods:
            return list(dict.fromkeys(required(ctx.route.dependant)))
    raise AssertionError(path)


def _state(app) -> dict[str, int]:
    """Row counts and statuses that a refused request must leave as they were."""
    tables = [
        models.Run,
        models.SavedComparison,
        models.Webhook,
        models.WebhookDelivery,
        models.RunNote,
        models.ProjectGrant,
        models.ApiToken,
        models.Team,
        models.TeamMember,
        models.User,
        models.Project,
        models.MetricPoint,
    ]
    with app.state.sessionmaker() as s:
        out = {m.__tablename__: s.scalar(select(func.count()).select_from(m)) for m in tables}
        out["runs running"] = s.scalar(
            select(func.count()).where(models.Run.status.in_(("queued", "running")))
        )
        out["revoked"] = s.scalar(
            select(func.count()).where(models.ApiToken.revoked_at.is_not(None))
        )
        out["sweeps running"] = s.scalar(
            select(func.count()).where(models.Sweep.status == "running")
        )
    return out


def test_every_route_answers_every_caller_by_the_rules(app, api):
    w = _world(app, api)
    routes = _routes(app)
    body_project = {
        (m, p)
        for m, p, req in routes
        if req.where == "api" and req.on is None and m != "GET" and req.need > Role.VIEWER
    }
    missing = body_project - set(_bodies(w)) - {("POST", "/api/v1/workers/report")}
    missing = {mp for mp in missing if not _admin_only(routes, mp) and mp not in OWN_LOOKUP}
    assert not missing, f"routes taking a project from the body need a sample body: {missing}"

    client = api.client
    before = _state(app)
    allowed: list[tuple[str, str, Requirement, Caller]] = []
    problems = []
    for method, path, req in routes:
        for caller in w.callers:
            expected = _expect(method, path, req, caller, _names_a(w, method, path, app))
            if expected == "public":  # it needs no caller: asked once, without one
                if caller.kind == "anonymous" and caller.bearer is None:
                    r, _ = _request(client, w, method, path, caller, req)
                    if r.status_code >= 500:
                        problems.append(f"{method} {path}: {r.status_code}")
                continue
            if expected == ALLOWED:
                allowed.append((method, path, req, caller))
                continue
            r, _ = _request(client, w, method, path, caller, req)
            ok = (
                r.status_code in expected
                if isinstance(expected, set)
                else r.status_code == expected
            )
            if not ok:
                problems.append(
                    f"{method} {path} as {caller.name}: {r.status_code}, expected {expected}"
                )
            if caller.role is None and MARKER in r.text:
                problems.append(f"{method} {path} as {caller.name}: the answer shows project A")
    assert not problems, "\n".join(problems)
    assert _state(app) == before, "a refused request changed something"

    # Allowed requests pass authorization (their bodies may still be invalid: 4xx other
    # than 401/403/404 is fine). Destructive ones run once, as the least-privileged caller
    # allowed, after every other request to that route.
    done_destructive = set()
    for method, path, req, caller in sorted(
        # deletes last, of objects inside others first (a team's member before the team)
        allowed,
        key=lambda x: (x[0] == "DELETE", -x[1].count("/"), _rank(x[3])),
    ):
        if method == "DELETE":
            if (method, path) in done_destructive:
                continue
            done_destructive.add((method, path))
        r, _ = _request(client, w, method, path, caller, req)
        if r.status_code in (401, 403, 404) or r.status_code >= 500:
            problems.append(
                f"{method} {path} as {caller.name}: refused with {r.status_code}: {r.text[:200]}"
            )
        if caller.role is None and MARKER in r.text:
            problems.append(f"{method} {path} as {caller.name}: the answer shows project A")
    assert not problems, "\n".join(problems)


def _rank(caller: Caller) -> int:
    return int(caller.role or 0)


def _names_a(w: World, method: str, path: str, app=None) -> bool:
    if (method, path) in _bodies(w) or path in ("/api/v1/series", "/api/v1/views/compare"):
        return True
    if "{artifact_path" in path:
        return True
    return app is not None and bool(NAMES_A & set(_query_params(app, method, path)))


def _admin_only(routes, mp) -> bool:
    return any((m, p) == mp and req.need == Role.ADMIN for m, p, req in routes)


@pytest.mark.parametrize("narrowed", [True, False])
def test_a_worker_token_serves_only_the_jobs_it_claimed(app, api, narrowed):
    a = api.project("a")["id"]
    b = api.project("b")["id"]
    job = JOB
    mine = api.post("/runs", json={"project_id": a, "name": "x", "job": job}).json()["id"]
    other = api.post("/runs", json={"project_id": b, "name": "y", "job": job}).json()["id"]
    r = api.post(
        "/tokens", json={"name": "gpu-1", "kind": "worker", "project_id": a if narrowed else None}
    )
    assert r.status_code == 201, r.text
    worker = {"Authorization": f"Bearer {r.json()['token']}"}
    claim = api.post(f"/runs/{mine}/claim", headers=worker, json={"worker": "gpu-1"})
    assert claim.status_code == 200, claim.text
    attempt = claim.json()["attempts"]
    held = {"worker": "gpu-1", "attempt": attempt}
    assert api.post(f"/runs/{mine}/heartbeat", headers=worker, json=held).status_code == 200
    batch = {"steps": [0], "metrics": {"loss": [1.0]}}
    logged = api.post(
        f"/runs/{mine}/metrics",
        headers={**worker, "X-LionLab-Attempt": str(attempt)},
        json=batch,
    )
    assert logged.status_code == 200, logged.text
    # It reads nothing, not even the run it holds, nor another project's jobs.
    assert api.get(f"/runs/{mine}", headers=worker).status_code == 404
    assert api.get("/runs", headers=worker).status_code == 403
    assert api.get("/projects", headers=worker).status_code == 403
    other_claim = api.post(f"/runs/{other}/claim", headers=worker, json={"worker": "gpu-1"})
    assert other_claim.status_code == (404 if narrowed else 200)
    if not narrowed:  # claimed, so held: but only by this token
        r = api.post("/tokens", json={"name": "gpu-2", "kind": "worker"})
        second = {"Authorization": f"Bearer {r.json()['token']}"}
        held2 = {"worker": "gpu-1", "attempt": other_claim.json()["attempts"]}
        assert api.post(f"/runs/{other}/heartbeat", headers=second, json=held2).status_code == 404
    done = {**held, "status": "succeeded"}
    assert api.post(f"/runs/{mine}/finish", headers=worker, json=done).status_code == 200


def test_tokens_are_narrowed_read_only_and_expire(app, api):
    a = api.project("a")["id"]
    b = api.project("b")["id"]
    run_b = api.run(b)["id"]
    narrowed = api.post("/tokens", json={"name": "n", "project_id": a}).json()["token"]
    read_only = api.post("/tokens", json={"name": "r", "read_only": True}).json()["token"]
    h_n = {"Authorization": f"Bearer {narrowed}"}
    h_r = {"Authorization": f"Bearer {read_only}"}
    assert api.get(f"/runs/{run_b}", headers=h_n).status_code == 404
    assert api.post("/runs", headers=h_n, json={"project_id": a}).status_code == 201
    assert api.post("/projects", headers=h_n, json={"name": "c"}).status_code == 403
    assert api.get(f"/runs/{run_b}", headers=h_r).status_code == 200
    r = api.post("/runs", headers=h_r, json={"project_id": b})
    assert r.status_code == 403 and "read-only" in r.text
    # A read-only token mints only read-only ones.
    minted = api.post("/tokens", headers=h_r, json={"name": "escalate"})
    assert minted.status_code == 201 and minted.json()["read_only"] is True
    h_m = {"Authorization": f"Bearer {minted.json()['token']}"}
    assert api.post("/runs", headers=h_m, json={"project_id": b}).status_code == 403
    expiring = api.post("/tokens", json={"name": "e", "expires_in_days": 1}).json()
    with app.state.sessionmaker() as s, s.begin():
        s.execute(
            models.ApiToken.__table__.update()
            .where(models.ApiToken.id == expiring["id"])
            .values(expires_at=models.utcnow().replace(year=2000))
        )
    assert (
        api.get("/projects", headers={"Authorization": f"Bearer {expiring['token']}"}).status_code
        == 401
    )


def test_a_revoked_token_is_refused_by_every_process_within_the_cache_time(app, api, settings):
    """Two app instances over one database stand for two server processes: the one that
    did not revoke the token refuses it once its cache entry expires (TOKEN_TTL_S)."""
    from fastapi.testclient import TestClient

    from lionlab_server.api.deps import TOKEN_TTL_S, token_cache
    from lionlab_server.app import create_app

    assert TOKEN_TTL_S <= 5
    created = api.post("/tokens", json={"name": "short-lived"}).json()
    headers = {"Authorization": f"Bearer {created['token']}"}
    now = [0.0]
    second = create_app(settings)
    second.state.token_cache = token_cache(timer=lambda: now[0])
    with TestClient(second) as other:
        assert other.get("/api/v1/projects", headers=headers).status_code == 200
        assert (
            api.client.delete(f"/api/v1/tokens/{created['id']}", headers=api.headers).status_code
            == 204
        )
        assert api.get("/projects", headers=headers).status_code == 401  # this process: now
        now[0] += TOKEN_TTL_S + 0.01
        assert other.get("/api/v1/projects", headers=headers).status_code == 401
    second.state.engine.dispose()


def test_legacy_tokens_keep_working_after_the_migration(app, api):
    """A token made before users existed has no user: an admin token stays an admin, a
    project token acts as its project's owner (and sees nothing else)."""
    a = api.project("a")["id"]
    b = api.project("b")["id"]
    with app.state.sessionmaker() as s, s.begin():
        legacy, _ = tokens.create_token(s, "legacy project token", a)
    h = {"Authorization": f"Bearer {legacy}"}
    assert api.get("/projects", headers=h).json()["total"] == 1
    assert (
        api.post(
            f"/projects/{a}/webhooks",
            headers=h,
            json={"url": "http://127.0.0.1:9/x", "events": ["run.failed"]},
        ).status_code
        == 201
    )
    assert api.get(f"/projects/{b}", headers=h).status_code == 404
    assert api.get("/workers").status_code == 200  # the bootstrap admin token


def test_tokens_made_before_the_users_migration_keep_working(tmp_path):
    """Tokens stored at revision 0010 (admin, and project tokens) resolve after the upgrade:
    the admin token as an admin, the project token as its project's owner only."""
    from sqlalchemy import text

    from alembic import command
    from lionlab_server import migrate
    from lionlab_server.db import make_engine, make_sessionmaker

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(migrate.alembic_config(engine), "0010")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, name, description, created_at) "
                "VALUES (7, 'p', '', '2026-01-01')"
            )
        )
        for name, project, secret in (
            ("old admin", None, "llk_old_admin"),
            ("old project", 7, "llk_old_project"),
        ):
            conn.execute(
                text(
                    "INSERT INTO api_tokens (name, project_id, token_hash, prefix, created_at) "
                    "VALUES (:n, :p, :h, :x, '2026-01-01')"
                ),
                {"n": name, "p": project, "h": tokens.hash_token(secret), "x": secret[:8]},
            )
    migrate.upgrade(engine)
    with make_sessionmaker(engine)() as session:
        admin = tokens.resolve_token(session, "llk_old_admin")
        project = tokens.resolve_token(session, "llk_old_project")
    engine.dispose()
    assert admin.is_admin
    assert not project.is_admin and project.role_on(7) == Role.OWNER and project.role_on(8) is None


def test_a_disabled_users_sessions_and_tokens_are_refused(app, api):
    with app.state.sessionmaker() as s, s.begin():
        user = users.create_user(s, "leaver", is_admin=True)
        session_secret = users.create_session(s, user.id, 1, None)
        token, _ = tokens.create_token(s, "leaver's", user_id=user.id)
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.get("/projects", headers=bearer).status_code == 200
    with app.state.sessionmaker() as s, s.begin():
        users.set_disabled(s, user.id)
    app.state.token_cache.clear()  # as it is after TOKEN_TTL_S in every process
    assert api.get("/projects", headers=bearer).status_code == 401
    api.client.cookies.set("lionlab_session", session_secret)
    assert api.client.get("/api/v1/projects").status_code == 401


def test_me_says_what_kind_of_caller_a_credential_is(api):
    a = api.project("a")["id"]
    assert api.get("/me").json()["admin"] is True
    worker = api.post("/tokens", json={"name": "w", "kind": "worker"}).json()["token"]
    me = api.get("/me", headers={"Authorization": f"Bearer {worker}"}).json()
    assert me["kind"] == "worker" and me["admin"] is False
    narrowed = api.post("/tokens", json={"name": "n", "project_id": a, "read_only": True}).json()
    me = api.get("/me", headers={"Authorization": f"Bearer {narrowed['token']}"}).json()
    assert me == {**me, "kind": "user", "read_only": True, "projects": {str(a): "viewer"}}


def test_a_project_named_in_the_body_must_exist_for_an_admin_too(api):
    for body in (
        {"name": "t", "project_id": 4242},
        {"name": "w", "kind": "worker", "project_id": 4242},
    ):
        r = api.post("/tokens", json=body)
        assert r.status_code == 404 and r.json()["detail"][0]["loc"] == ["path", "project_id"]
    assert api.post("/runs", json={"project_id": 4242}).status_code == 404
