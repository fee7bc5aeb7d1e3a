"""The runs table's view (GET /views/projects/{id}/runs) on a seeded project: chosen columns
(parameters and metric summaries) against a direct query, paging to the last page, the server
sort by a metric summary, the input rules of `columns`, and statement counts that grow with
neither the page size nor the columns; and the column chooser's GET /views/.../columns."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import select
from support.api import as_float
from support.many_runs import seed_project
from support.statements import count_statements, freeze_token_cache

from lionlab_server.db import make_engine, make_sessionmaker
from lionlab_server.models import MetricKey, MetricSummary, Run

N = 240
COLUMNS = ["param:lr", "param:seed", "param:absent", "metric:eval_loss.min", "metric:loss.last"]


@pytest.fixture
def seeded(api, db_url) -> int:
    return seed_project(db_url, N, name="many")


def view(api, pid: int, **params) -> dict:
    r = api.get(f"/views/projects/{pid}/runs", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _direct(db_url: str, pid: int):
    """(config by run id, {(run id, key): (last, min)}) straight from the tables."""
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            configs = dict(
                session.execute(select(Run.id, Run.config).where(Run.project_id == pid)).all()
            )
            rows = session.execute(
                select(MetricSummary.run_id, MetricKey.name, MetricSummary.last_value)
                .add_columns(MetricSummary.min_value)
                .join(MetricKey, MetricKey.id == MetricSummary.key_id)
                .join(Run, Run.id == MetricSummary.run_id)
                .where(Run.project_id == pid)
            )
            summaries = {(rid, key): (last, lo) for rid, key, last, lo in rows}
    finally:
        engine.dispose()
    return configs, summaries


def _same(got, want) -> bool:
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got is None or (got == "NaN")
    return got is not None and math.isclose(as_float(got), want)


def test_chosen_columns_carry_parameters_and_summaries(api, db_url, seeded):
    body = view(api, seeded, limit=100, columns=COLUMNS)
    assert body["total"] == N and len(body["items"]) == 100
    configs, summaries = _direct(db_url, seeded)
    kinds = set()
    for row in body["items"]:
        rid, cols = row["run"]["id"], row["columns"]
        assert list(cols) == COLUMNS
        assert float(cols["param:lr"]) == configs[rid]["lr"]  # formatted: 1e-4, 0.001
        assert cols["param:seed"] == str(configs[rid]["seed"]) and cols["param:absent"] is None
        assert _same(cols["metric:loss.last"], summaries[(rid, "loss")][0])
        ev = summaries.get((rid, "eval_loss"))
        kinds.add("missing" if ev is None else "nan" if ev[1] is None else "value")
        if ev is None:
            assert cols["metric:eval_loss.min"] is None
        else:
            assert _same(cols["metric:eval_loss.min"], ev[1])
    assert kinds == {"missing", "nan", "value"}
    assert view(api, seeded, limit=1)["items"][0]["columns"] == {}  # none chosen


def test_the_last_page_and_the_sort_by_a_summary_match_a_direct_query(api, db_url, seeded):
    _, summaries = _direct(db_url, seeded)
    ids = sorted({rid for rid, _ in summaries})

    def rank(rid):  # ascending min, then NaN-only, then never logged; ties by id
        ev = summaries.get((rid, "eval_loss"))
        if ev is None:
            return (2, 0.0, rid)
        return (1, 0.0, rid) if ev[1] is None else (0, ev[1], rid)

    expected = sorted(ids, key=rank)
    got = []
    for offset in range(0, N, 100):
        page = view(api, seeded, limit=100, offset=offset, sort="metric.eval_loss.min")
        got += [r["run"]["id"] for r in page["items"]]
    assert got == expected
    last = view(api, seeded, limit=100, offset=200, sort="name")
    assert [r["run"]["name"] for r in last["items"]] == [f"run-0-{i:05d}" for i in range(200, N)]
    named = view(api, seeded, q="RUN-0-0012", sort="-name")
    names = [r["run"]["name"] for r in named["items"]]
    assert names == [f"run-0-0012{i}" for i in range(9, -1, -1)]


@pytest.mark.parametrize(
    "column",
    ["lr", "param:", "metric:loss", "metric:loss.mean", "metric:.min", "param:" + "x" * 300],
)
def test_a_malformed_column_is_a_422_naming_it(api, seeded, column):
    r = api.get(f"/views/projects/{seeded}/runs", params={"columns": ["param:lr", column]})
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][:3] == ["query", "columns", 1]


def test_too_many_columns_are_refused(api, seeded):
    many = [f"param:p{i}" for i in range(31)]
    assert api.get(f"/views/projects/{seeded}/runs", params={"columns": many}).status_code == 422


def test_statements_grow_with_neither_the_page_size_nor_the_columns(app, api, seeded, monkeypatch):
    freeze_token_cache(monkeypatch, app)
    path = f"/views/projects/{seeded}/runs"
    api.get(path, params={"limit": 10})  # warm: the token's lookup, metric key ids

    def statements(**params) -> int:
        return count_statements(app, lambda: api.get(path, params=params).raise_for_status())

    small, large = statements(limit=10), statements(limit=100)
    with_columns = statements(limit=100, columns=COLUMNS, sort="-metric.loss.last")
    assert small == large == with_columns, (small, large, with_columns)


def test_the_columns_endpoint_offers_parameters_and_metric_keys(app, api, seeded, monkeypatch):
    body = api.get(f"/views/projects/{seeded}/columns").json()
    assert body["params"] == ["lr", "weight_decay", "batch_size", "seed"]  # well-known first
    assert body["metrics"] == ["eval_loss", "loss"] and body["loss_key"] == "loss"
    empty = api.project("empty")["id"]
    assert api.get(f"/views/projects/{empty}/columns").json() == {
        "params": [],
        "metrics": [],
        "loss_key": None,
    }
    small = api.project("small")["id"]
    api.run(small, optimizer="lion", config={"lr": 1e-4, "schedule": {"warmup_steps": 5}})
    api.log(api.run(small)["id"], [1, 2], {"eval_loss": [2.0, 1.0]})
    body = api.get(f"/views/projects/{small}/columns").json()
    assert body["params"] == ["lr", "schedule.warmup_steps"] and body["loss_key"] == "eval_loss"
    freeze_token_cache(monkeypatch, app)
    counts = [
        count_statements(app, lambda p=p: api.get(f"/views/projects/{p}/columns"))
        for p in (small, seeded, small)
    ]
    assert counts[1] == counts[2], counts  # as many for 240 runs as for 2
    assert api.get("/views/projects/4242/columns").status_code == 404
