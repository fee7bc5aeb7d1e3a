"""What authorization adds to a request, with 1,000 users, 200 teams and 2,000 projects.

The database holds 1,000 users, 200 teams of 10 members, 2,000 projects each granted to an
owner, a team (editor) and two viewers, and one run per project. The measured caller is a
signed-in user of three teams, with the most grants of anyone.

Per request, authorization is: the caller from the credential (this process's cache hits,
as it does for all but one request per credential every TOKEN_TTL_S seconds) and the route's
requirement checked on the target (one indexed lookup of the run's project, the role from
the caller's grants). That is timed by calling the very dependencies the routes declare
(`get_scope`, then `require(EDITOR, on="run")`), in-process, on SQLite and on Postgres.
`resolve_cold_us_p50` is the cache miss: the session's row and its user's grants (direct and
through teams) read from the database; `target_miss_us_p50` the first request for an object
in a process (an object's project is cached, as it never changes). Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert
from starlette.requests import Request

from bench.common import bench_postgres
from lionlab.settings import Settings
from lionlab_server import models
from lionlab_server.api import access as access_module
from lionlab_server.api.access import EDITOR, REQUIREMENT, require
from lionlab_server.api.deps import get_scope, token_cache
from lionlab_server.app import create_app
from lionlab_server.models import utcnow
from lionlab_server.services.bootstrap import prepare_database
from lionlab_server.store import users
from lionlab_server.store.scope import Role

USERS, TEAMS, PROJECTS, TEAM_SIZE = 1000, 200, 2000, 10
REQUESTS = int(os.environ.get("LIONLAB_BENCH_AUTHZ_REQUESTS", "3000"))


def seed(app) -> tuple[str, list[int]]:
    """The database above; returns the measured user's session secret and the runs it sees."""
    rng = random.Random(7)
    now = utcnow()
    with app.state.sessionmaker() as s, s.begin():
        s.execute(
            insert(models.User),
            [
                {
                    "username": f"user{i}",
                    "display_name": "",
                    "is_admin": False,
                    "disabled": False,
                    "created_at": now,
                }
                for i in range(USERS)
            ],
        )
        s.execute(
            insert(models.Team),
            [{"name": f"team{i}", "description": "", "created_at": now} for i in range(TEAMS)],
        )
        s.execute(
            insert(models.Project),
            [
                {"name": f"project{i}", "description": "", "created_at": now}
                for i in range(PROJECTS)
            ],
        )
        user_ids = list(range(1, USERS + 1))
        members = {(t, u) for t in range(1, TEAMS + 1) for u in rng.sample(user_ids, TEAM_SIZE)}
        me = 1
        members |= {(t, me) for t in (1, 2, 3)}
        s.execute(insert(models.TeamMember), [{"team_id": t, "user_id": u} for t, u in members])
        grants = []
        for p in range(1, PROJECTS + 1):
            holders = rng.sample(user_ids, 3)
            grants.append((p, holders[0], None, "owner"))
            grants.append((p, None, rng.randint(1, TEAMS), "editor"))
            grants += [(p, u, None, "viewer") for u in holders[1:]]
        seen = set()
        rows = []
        for p, u, t, role in grants:
            if (p, u, t) in seen:
                continue
            seen.add((p, u, t))
            rows.append(
                {"project_id": p, "user_id": u, "team_id": t, "role": role, "created_at": now}
            )
        s.execute(insert(models.ProjectGrant), rows)
        s.execute(
            insert(models.Run),
            [
                {
                    "project_id": p,
                    "name": f"run{p}",
                    "status": "running",
                    "config": {},
                    "attempts": 0,
                    "created_at": now,
                }
                for p in range(1, PROJECTS + 1)
            ],
        )
        secret = users.create_session(s, me, 1, "127.0.0.1")
    with app.state.sessionmaker() as s:
        from lionlab_server.store.grants import project_roles

        roles = project_roles(s, me)
    editable = sorted(p for p, r in roles.items() if r >= Role.EDITOR)  # run id == project id
    return secret, editable


def _request(app, secret: str) -> Request:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/runs/1/cancel",
        "headers": [(b"cookie", f"lionlab_session={secret}".encode()), (b"x-lionlab-csrf", b"1")],
        "app": app,
        "query_string": b"",
    }
    return Request(scope)


def measure(database_url: str, data_dir: Path) -> dict:
    settings = Settings(database_url=database_url, data_dir=data_dir)
    app = create_app(settings)
    prepare_database(app.state.engine, settings)
    secret, runs = seed(app)
    dependency = require(EDITOR, on="run").dependency
    assert getattr(dependency, REQUIREMENT).need == EDITOR
    request = _request(app, secret)
    rng = random.Random(11)
    warm, cold, miss = [], [], []
    with app.state.sessionmaker() as session:
        for i in range(REQUESTS):
            run_id = rng.choice(runs)
            if i % 10 == 0:  # a cache miss: the credential's scope read from the database
                app.state.token_cache = token_cache()
                t0 = time.perf_counter()
                get_scope(request, session, None)
                cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            caller = get_scope(request, session, None)
            access = dependency(session=session, caller=caller, run_id=run_id)
            warm.append(time.perf_counter() - t0)
            assert access.role is not None and access.role >= EDITOR
            if i % 10 == 5:  # the run's project not yet cached by this process
                cache = access_module.project_cache(session)
                known = dict(cache)
                cache.clear()
                t0 = time.perf_counter()
                dependency(session=session, caller=caller, run_id=run_id)
                miss.append(time.perf_counter() - t0)
                cache.update(known)
    roles = len(caller.roles)
    app.state.engine.dispose()
    us = sorted(x * 1e6 for x in warm)
    return {
        "authz_us_p50": round(statistics.median(us), 1),
        "authz_us_p99": round(us[int(len(us) * 0.99)], 1),
        "resolve_cold_us_p50": round(statistics.median(cold) * 1e6, 1),
        "target_miss_us_p50": round(statistics.median(miss) * 1e6, 1),
        "caller_projects": roles,
    }


def main() -> None:
    out: dict = {"users": USERS, "teams": TEAMS, "projects": PROJECTS, "requests": REQUESTS}
    with tempfile.TemporaryDirectory(prefix="lionlab-bench-authz-") as tmp:
        sqlite = measure(f"sqlite:///{Path(tmp) / 'authz.db'}", Path(tmp) / "data-sqlite")
        out.update({f"sqlite_{k}": v for k, v in sqlite.items()})
        with bench_postgres() as url:
            pg = measure(url, Path(tmp) / "data-pg")
        out.update({f"pg_{k}": v for k, v in pg.items()})
    out["authz_us_p50"] = max(out["sqlite_authz_us_p50"], out["pg_authz_us_p50"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
