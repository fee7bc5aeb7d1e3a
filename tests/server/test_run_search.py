"""The runs filter grammar in SQL (store/run_search.py) against its Python reference
(`search.matches` / `search.sort_runs`): a seeded project of a few hundred runs with params of
every JSON kind, metrics ending in NaN or +/-Inf, tags and labels; hundreds of random filters
on the runs list and on MLflow's runs/search, on Postgres and SQLite."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from support.statements import count_statements, freeze_token_cache

from lionlab_server import search
from lionlab_server.db import make_sessionmaker
from lionlab_server.models import MetricKey, MetricPoint, MetricSummary, Run, RunKeyTag, RunTag
from lionlab_server.parameters import params_of

NAN, INF = float("nan"), float("inf")
RUNS = 240
STATUSES = ["queued", "running", "succeeded", "failed", "diverged", "cancelled", "lost"]
TO_MLFLOW = {"queued": "SCHEDULED", "running": "RUNNING", "succeeded": "FINISHED",
             "stopped_early": "FINISHED", "failed": "FAILED", "diverged": "FAILED",
             "lost": "FAILED", "cancelled": "KILLED"}  # fmt: skip
TEXTS = ["lion", "Lion", "LION", "adamw", "a%b", "a_b", "axb", "x\\y", "[x]*?", "it's", "ü",
         "Ünï", "", " sp ace", "0.001", "1e-10"]  # fmt: skip
NUMBERS = [1e-10, 0.1, 0.001, 3e-4, 0.0, 1.0, -2.0, 64, 128, 2**53 + 1]
METRIC_VALUES = [NAN, INF, -INF, 0.5, 1.5, -2.0, 1e-10, 0.1, 0.0]
METRICS = ["loss", "acc", "eval.loss"]
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
MS = timedelta(milliseconds=1)


def _config(rng: random.Random) -> dict:
    pool = {
        "lr": lambda: rng.choice(NUMBERS),
        "batch": lambda: rng.choice([32, 64, 128]),
        "name": lambda: rng.choice(TEXTS),
        "flag": lambda: rng.choice([True, False]),
        "lr_text": lambda: rng.choice(["0.001", "1e-3", "0.1"]),
        "betas": lambda: [0.9, rng.choice([0.99, 0.999])],
        "none": lambda: None,
        "model": lambda: {"dim": rng.choice([64, 128]), "act": rng.choice(TEXTS)},
        "empty": lambda: {},
    }
    return {k: make() for k, make in pool.items() if rng.random() < 0.6}


def _seed(app, rng: random.Random, project_id: int) -> list[search.RunView]:
    """Runs written through the ORM (the flush hook fills run_params) and, for each, the
    RunView the reference evaluates: built from the seed, not read back."""
    sessions = make_sessionmaker(app.state.engine)
    views = []
    with sessions() as session, session.begin():
        keys = {}
        for name in METRICS:
            keys[name] = MetricKey(name=name)
            session.add(keys[name])
        session.flush()
        for i in range(RUNS):
            created = T0 + rng.randrange(0, 10**6) * MS
            started = None if rng.random() < 0.3 else created + rng.randrange(0, 5000) * MS
            finished = None if rng.random() < 0.4 else created + rng.randrange(5000, 10**5) * MS
            run = Run(
                project_id=project_id,
                name=rng.choice(TEXTS) or f"run-{i}",
                status=rng.choice(STATUSES),
                optimizer=rng.choice(["lion", "adamw", None]),
                config=_config(rng),
                created_by=rng.choice(["ada", "bob", None]),
                created_at=created,
                started_at=started,
                finished_at=finished,
            )
            session.add(run)
            session.flush()
            tags = {k: rng.choice(TEXTS) for k in ("team", "mlflow.user") if rng.random() < 0.5}
            session.add_all(RunKeyTag(run_id=run.id, key=k, value=v) for k, v in tags.items())
            labels = sorted(rng.sample(["a", "b", "c"], rng.randrange(0, 3)))
            session.add_all(RunTag(run_id=run.id, tag=t) for t in labels)
            last, low, high = {}, {}, {}
            for name in METRICS:
                if rng.random() < 0.25:
                    continue
                values = [rng.choice(METRIC_VALUES) for _ in range(rng.randrange(1, 4))]
                numbers = [v for v in values if not math.isnan(v)]
                session.add_all(
                    MetricPoint(
                        run_id=run.id, key_id=keys[name].id, step=s, value=v, wall_time=float(s)
                    )  # fmt: skip
                    for s, v in enumerate(values)
                )
                session.add(
                    MetricSummary(
                        run_id=run.id,
                        key_id=keys[name].id,
                        count=len(values),
                        first_step=0,
                        last_step=len(values) - 1,
                        last_value=values[-1],
                        min_value=min(numbers) if numbers else None,
                        max_value=max(numbers) if numbers else None,
                        nan_count=len(values) - len(numbers),
                    )  # fmt: skip
                )
                last[name] = values[-1]
                if numbers:
                    low[name], high[name] = min(numbers), max(numbers)
            views.append(_view(run, tags, labels, last, low, high))
    return views


def _expected_params(run: Run) -> dict:
    """What the brief says the rows are: params_of's flat parameters, less an absent
    optimizer, plus each top-level config key holding a non-empty object."""
    out = params_of(run.optimizer, run.job, run.config)
    if run.optimizer is None and "optimizer" not in run.config:
        out.pop("optimizer")
    out |= {k: v for k, v in run.config.items() if isinstance(v, dict) and v}
    return out


def _ms(when: datetime | None) -> int | None:
    return None if when is None else round(when.timestamp() * 1000)


def _view(run: Run, tags, labels, last, low, high) -> search.RunView:
    params = _expected_params(run)
    text = {k: v if isinstance(v, str) else orjson.dumps(v).decode() for k, v in params.items()}
    numbers = {
        k: float(v) for k, v in params.items() if type(v) in (int, float) and math.isfinite(v)
    }
    all_tags = dict(tags) | {"mlflow.runName": run.name, "lionlab.status": run.status}
    if run.created_by and "mlflow.user" not in tags:
        all_tags["mlflow.user"] = run.created_by
    if labels:
        all_tags["lionlab.labels"] = ",".join(labels)
    start, end = _ms(run.started_at or run.created_at), _ms(run.finished_at)
    attributes = {
        "run_id": str(run.id), "run_name": run.name, "status": run.status,
        "optimizer": run.optimizer, "created_by": run.created_by,
        "user_id": run.created_by or "", "lifecycle_stage": "active",
        "artifact_uri": f"mlflow-artifacts:/{run.project_id}/{run.id}/artifacts",
        "start_time": start, "end_time": end, "duration": None if end is None else end - start,
    }  # fmt: skip
    return search.RunView(last, text, all_tags, attributes, low, high, numbers)


def _mlflow_view(view: search.RunView) -> search.RunView:
    status = TO_MLFLOW[view.attributes["status"]]
    return search.RunView(**{**vars(view), "attributes": {**view.attributes, "status": status}})


# --- random filters --------------------------------------------------------------------


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _number(value: float) -> str:
    return "1e999" if value == INF else "-1e999" if value == -INF else repr(float(value))


def _pattern(rng: random.Random, text: str, ignore_case: bool) -> str:
    out = []
    for c in text:
        roll = rng.random()
        out.append("%" if roll < 0.2 else "_" if roll < 0.3 else c)
    if rng.random() < 0.3:
        out.append("%")
    pattern = "".join(out)
    if ignore_case:  # ASCII letters only: SQLite's LIKE folds no others (docs/search.md)
        pattern = "".join(c.swapcase() if c.isascii() and rng.random() < 0.5 else c
                          for c in pattern)  # fmt: skip
    return pattern


def _string_clause(rng: random.Random, subject: str, seen: list[str]) -> str:
    op = rng.choice(["=", "!=", "LIKE", "ILIKE", "IN", "NOT IN"])
    pick = lambda: rng.choice(seen + TEXTS)  # noqa: E731
    if op in ("IN", "NOT IN"):
        return f"{subject} {op} ({', '.join(_quoted(pick()) for _ in range(rng.randrange(1, 4)))})"
    if op in ("LIKE", "ILIKE"):
        return f"{subject} {op} {_quoted(_pattern(rng, pick(), op == 'ILIKE'))}"
    return f"{subject} {op} {_quoted(pick())}"


def _clause(rng: random.Random, views: list[search.RunView], mlflow: bool) -> str:
    numeric_op = rng.choice(["=", "!=", "<", "<=", ">", ">="])
    kind = rng.choice(["metric", "metric", "param", "param", "tag", "attribute"])
    sample = rng.choice(views)
    if kind == "metric":
        key = rng.choice(METRICS + ["absent"])
        subject = f"metrics.`{key}`" if rng.random() < 0.2 else f"metrics.{key}"
        subject = rng.choice([subject, subject, f"min({subject})", f"max({subject})"])
        value = rng.choice([v for v in METRIC_VALUES if not math.isnan(v)] + [1.0])
        return f"{subject} {numeric_op} {_number(value)}"
    if kind == "param":
        key = rng.choice(["lr", "batch", "name", "flag", "lr_text", "betas", "none", "model",
                          "model.dim", "model.act", "empty", "optimizer", "absent"])  # fmt: skip
        if rng.random() < 0.5:
            value = rng.choice(NUMBERS + [sample.param_numbers.get(key, 1.0)])
            return f"params.{key} {numeric_op} {_number(value)}"
        seen = [v for v in (r.params.get(key) for r in views[:30]) if v is not None]
        return _string_clause(rng, f"params.{key}", seen)
    if kind == "tag":
        key = rng.choice(["team", "mlflow.runName", "mlflow.user", "lionlab.status",
                          "lionlab.labels", "absent"])  # fmt: skip
        seen = [v for v in (r.tags.get(key) for r in views[:30]) if v is not None]
        return _string_clause(rng, f'tags."{key}"', seen)
    key = rng.choice(sorted(search.STRING_ATTRIBUTES | search.NUMERIC_ATTRIBUTES))
    if key in search.NUMERIC_ATTRIBUTES:
        value = sample.attributes[key] if sample.attributes[key] is not None else 5000
        return f"attributes.{key} {numeric_op} {value + rng.choice([-1, 0, 0, 1])}"
    seen = [str(v) for v in (r.attributes.get(key) for r in views[:30]) if v is not None]
    return _string_clause(rng, f"attributes.{key}", seen)


def _filter(rng: random.Random, views, mlflow: bool) -> str:
    return " and ".join(_clause(rng, views, mlflow) for _ in range(rng.randrange(1, 3)))


@pytest.fixture
def seeded(app, api):
    project_id = api.project()["id"]
    return project_id, _seed(app, random.Random(7), project_id)


def _native_ids(api, project_id: int, text: str) -> set[str]:
    r = api.get("/runs", params={"project_id": project_id, "filter": text, "limit": 1000})
    assert r.status_code == 200, (text, r.text)
    return {str(run["id"]) for run in r.json()["items"]}


def test_random_filters_on_the_runs_list_keep_what_the_reference_keeps(api, seeded):
    project_id, views = seeded
    rng = random.Random(11)
    matched = 0
    for _ in range(300):
        text = _filter(rng, views, mlflow=False)
        clauses = search.parse_filter(text)
        want = {v.attributes["run_id"] for v in views if search.matches(clauses, v)}
        assert _native_ids(api, project_id, text) == want, text
        matched += bool(want)
    assert matched > 100  # the generator asks questions with answers, not only empty ones


def _mlflow_search(api, project_id: int, **body) -> dict:
    body = {"experiment_ids": [str(project_id)], **body}
    r = api.client.post("/api/2.0/mlflow/runs/search", headers=api.headers, json=body)
    assert r.status_code == 200, (body, r.text)
    return r.json()


def _order(rng: random.Random) -> list[str]:
    items = []
    for _ in range(rng.randrange(1, 3)):
        subject = rng.choice([
            "metrics.loss", "min(metrics.acc)", "max(metrics.`eval.loss`)", "params.name",
            "params.lr", "tags.team", "attributes.start_time", "attributes.end_time",
            "attributes.run_name", "attributes.status", "attributes.run_id",
        ])  # fmt: skip
        items.append(f"{subject} {rng.choice(['ASC', 'DESC', ''])}".strip())
    return items


def test_random_filters_and_orders_on_mlflow_search_runs(api, seeded):
    project_id, views = seeded
    views = [_mlflow_view(v) for v in views]
    newest = sorted(views, key=lambda v: (v.attributes["start_time"], int(v.attributes["run_id"])),
                    reverse=True)  # fmt: skip
    rng = random.Random(13)
    for i in range(120):
        text = _filter(rng, views, mlflow=True) if i % 4 else ""
        order = _order(rng) if i % 3 else []
        clauses, parsed = search.parse_filter(text), search.parse_order_by(order)
        want = [v.attributes["run_id"] for v in search.sort_runs(
            [v for v in newest if search.matches(clauses, v)], parsed)]  # fmt: skip
        got = _mlflow_search(api, project_id, filter=text, order_by=order, max_results=1000)
        assert [r["info"]["run_id"] for r in got.get("runs", [])] == want, (text, order)


def test_mlflow_pages_follow_the_sql_order(api, seeded):
    project_id, views = seeded
    seen, token = [], None
    while True:
        body = {"order_by": ["metrics.loss DESC"], "max_results": 50}
        got = _mlflow_search(api, project_id, **body, **({"page_token": token} if token else {}))
        seen += [r["info"]["run_id"] for r in got["runs"]]
        token = got.get("next_page_token")
        if token is None:
            break
    newest = sorted(views, key=lambda v: (v.attributes["start_time"], int(v.attributes["run_id"])),
                    reverse=True)  # fmt: skip
    want = search.sort_runs(newest, search.parse_order_by(["metrics.loss DESC"]))
    assert seen == [v.attributes["run_id"] for v in want]
    losses = [views_by(views)[rid].metrics.get("loss") for rid in seen]
    first_nan = next(i for i, v in enumerate(losses) if v is not None and math.isnan(v))
    assert all(v is not None and not math.isnan(v) for v in losses[:first_nan])
    assert losses[0] == INF and losses[-1] is None  # +Inf is the largest; missing comes last


def views_by(views) -> dict[str, search.RunView]:
    return {v.attributes["run_id"]: v for v in views}


def test_nan_and_infinity_follow_ieee(api, seeded):
    project_id, views = seeded
    by_last = lambda pred: {v.attributes["run_id"] for v in views  # noqa: E731
                            if "loss" in v.metrics and pred(v.metrics["loss"])}  # fmt: skip
    assert _native_ids(api, project_id, "metrics.loss > -1e999") == by_last(lambda x: x > -INF)
    nan_runs = by_last(math.isnan)
    assert nan_runs  # the seed has some
    assert not nan_runs & _native_ids(api, project_id, "metrics.loss >= -1e999")
    assert not nan_runs & _native_ids(api, project_id, "metrics.loss = 0")
    assert nan_runs <= _native_ids(api, project_id, "metrics.loss != 0")
    assert _native_ids(api, project_id, "metrics.loss = 1e999") == by_last(lambda x: x == INF)


def test_like_is_case_sensitive_and_ilike_is_not_on_both_backends(api, seeded):
    project_id, views = seeded
    names = lambda pred: {v.attributes["run_id"] for v in views  # noqa: E731
                          if pred(v.attributes["run_name"])}  # fmt: skip
    assert _native_ids(api, project_id, "attributes.name LIKE 'lion'") == names(
        lambda n: n == "lion"
    )
    assert _native_ids(api, project_id, "attributes.name ILIKE 'lion'") == names(
        lambda n: n.lower() == "lion"
    )
    assert _native_ids(api, project_id, "attributes.name LIKE '[x]*?'") == names(
        lambda n: n == "[x]*?"
    )  # GLOB's own wildcards are literal
    assert _native_ids(api, project_id, r"attributes.name LIKE 'x\\y'") == names(
        lambda n: n == "x\\y"
    )


def test_bad_filters_are_a_422_with_the_parsers_message(api, seeded):
    project_id, _ = seeded
    for path in ("/runs", f"/views/projects/{project_id}/runs", "/runs/export"):
        r = api.get(path, params={"project_id": project_id, "filter": "metrics.loss < 'a'"})
        assert r.status_code == 422, (path, r.text)
        assert "compares with a number" in r.text
    r = api.client.post(
        "/api/2.0/mlflow/runs/search", headers=api.headers,
        json={"experiment_ids": [str(project_id)], "filter": "params.x > 'a'"},
    )  # fmt: skip
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_dashboard_and_the_export_take_the_filter(api, seeded):
    project_id, views = seeded
    text = "params.lr < 0.01 and metrics.loss < 1"
    clauses = search.parse_filter(text)
    want = {int(v.attributes["run_id"]) for v in views if search.matches(clauses, v)}
    assert want
    r = api.get(f"/views/projects/{project_id}/runs", params={"filter": text, "limit": 1000})
    assert r.status_code == 200, r.text
    assert {row["run"]["id"] for row in r.json()["items"]} == want
    r = api.get("/runs/export", params={"project_id": project_id, "filter": text,
                                        "format": "csv"})  # fmt: skip
    assert r.status_code == 200, r.text
    assert len(r.text.strip().splitlines()) - 1 == len(want)


def test_a_filtered_page_costs_the_same_statements_whatever_its_size(app, api, seeded, monkeypatch):
    project_id, _ = seeded
    text = "params.lr > 0 and min(metrics.loss) < 1 and tags.team LIKE '%a%'"
    freeze_token_cache(monkeypatch, app)
    api.get("/runs", params={"project_id": project_id})  # the token's lookup is cached

    def page(limit: int) -> None:
        r = api.get("/runs", params={"project_id": project_id, "filter": text, "limit": limit})
        assert r.status_code == 200 and r.json()["total"] > 10, r.text

    counts = {n: count_statements(app, lambda n=n: page(n)) for n in (10, 100)}
    assert counts[10] == counts[100], counts


# --- run_params follows every write -----------------------------------------------------


def _param_rows(app, run_id: int) -> dict[str, tuple[str, float | None]]:
    from lionlab_server.models import RunParam

    with make_sessionmaker(app.state.engine)() as session:
        rows = session.query(RunParam).filter(RunParam.run_id == run_id).all()
        return {r.key: (r.text, r.number) for r in rows}


def test_run_params_follow_creation_patch_and_mlflow_params(app, api):
    pid = api.project()["id"]
    run = api.run(pid, config={"lr": 1e-10, "flag": True, "model": {"dim": 64}})
    assert _param_rows(app, run["id"]) == {
        "lr": ("1e-10", 1e-10), "flag": ("true", None),
        "model.dim": ("64", 64.0), "model": ('{"dim":64}', None),
    }  # fmt: skip
    assert api.patch(f"/runs/{run['id']}", json={"config": {"lr": 0.1}}).status_code == 200
    assert _param_rows(app, run["id"]) == {"lr": ("0.1", 0.1)}
    # an MLflow client's param is a string: found by its text, not as a number
    created = api.client.post("/api/2.0/mlflow/runs/create", headers=api.headers,
                              json={"experiment_id": str(pid)}).json()["run"]["info"]  # fmt: skip
    body = {"run_id": created["run_id"], "key": "lr", "value": "0.001"}
    r = api.client.post("/api/2.0/mlflow/runs/log-parameter", headers=api.headers, json=body)
    assert r.status_code == 200, r.text
    body = {"run_id": created["run_id"], "params": [{"key": "optimizer", "value": "lion"}]}
    r = api.client.post("/api/2.0/mlflow/runs/log-batch", headers=api.headers, json=body)
    assert r.status_code == 200, r.text
    found = _mlflow_search(api, pid, filter="params.lr = '0.001' and params.optimizer = 'lion'")
    assert [x["info"]["run_id"] for x in found["runs"]] == [created["run_id"]]
    assert _native_ids(api, pid, "params.lr < 0.01") == set()  # '0.001' is text, 0.1 too big
    assert _native_ids(api, pid, "params.lr <= 0.1") == {str(run["id"])}


def test_the_migration_backfills_existing_runs_and_downgrades(db_url):
    from sqlalchemy import insert, inspect, select

    from alembic import command
    from lionlab_server import migrate
    from lionlab_server.db import make_engine
    from lionlab_server.models import Project, RunParam

    engine = make_engine(db_url)
    cfg = migrate.alembic_config(engine)
    command.downgrade(cfg, "0016")
    assert "run_params" not in inspect(engine).get_table_names()
    with engine.begin() as conn:
        conn.execute(insert(Project).values(id=1, name="p", description="", created_at=T0))
        conn.execute(
            insert(Run.__table__).values(
                id=1, project_id=1, name="r", status="running", optimizer="lion",
                config={"lr": 3e-4, "model": {"act": "gelu"}}, created_at=T0, attempts=0,
            )
        )  # fmt: skip
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = {r.key: (r.text, r.number) for r in conn.execute(select(RunParam))}
    assert rows == {
        "optimizer": ("lion", None), "lr": ("0.0003", 3e-4),
        "model.act": ("gelu", None), "model": ('{"act":"gelu"}', None),
    }  # fmt: skip
    engine.dispose()


def test_a_script_with_only_db_and_models_keeps_run_params(db_url, tmp_path):
    """The flush hook comes with make_sessionmaker: a process that never imports the store
    (a seed script, a one-off fix) still writes the rows a filter reads."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import sys
        from lionlab_server.db import make_engine, make_sessionmaker
        from lionlab_server.models import Project, Run
        engine = make_engine({db_url!r})
        with make_sessionmaker(engine)() as session:
            project = Project(name="script-only")
            session.add(project)
            session.flush()
            session.add(Run(project_id=project.id, name="r", optimizer="lion",
                            config={{"lr": 0.001}}))
            session.commit()
        assert "lionlab_server.store.runs" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=tmp_path)
    from lionlab_server.db import make_engine
    from lionlab_server.models import RunParam

    engine = make_engine(db_url)
    with make_sessionmaker(engine)() as session:
        rows = {(p.key, p.text, p.number) for p in session.query(RunParam)}
    engine.dispose()
    assert rows == {("optimizer", "lion", None), ("lr", "0.001", 0.001)}
