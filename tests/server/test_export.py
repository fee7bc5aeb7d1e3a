"""Exports round-trip exactly: a run's points as CSV and Parquet (NaN and +/-Inf included,
finite values bit for bit), the runs table as CSV with the filters and order of GET /runs;
read a page at a time, authorized like the routes they sit beside."""

from __future__ import annotations

import csv
import io
import math
import struct

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.routing import iter_route_contexts
from support.statements import count_statements, freeze_token_cache

from lionlab_server.services import export
from lionlab_server.store import grants, tokens, users
from lionlab_server.store.scope import Role

NAN, INF = float("nan"), float("inf")
ODD_KEY = 'eval/acc, top-1 "x" ü'  # a separator, a quote and non-ASCII


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _same(got: float, want: float) -> bool:
    """Equal as stored: the same double bit for bit, or both NaN (any NaN payload)."""
    return (math.isnan(got) and math.isnan(want)) or _bits(got) == _bits(want)


def _log_points(api, run_id: int) -> dict[tuple[str, int], tuple[float, float]]:
    """Log batches with every kind of value, re-logged and out-of-order steps; returns what
    the store then holds: (key, step) -> (value, wall_time)."""
    expected: dict[tuple[str, int], tuple[float, float]] = {}

    def log(steps, metrics, walls):
        api.log(run_id, steps, metrics, wall_time=walls)
        for key, values in metrics.items():
            for step, value, wall in zip(steps, values, walls, strict=True):
                if value is not None:
                    expected[(key, step)] = (value, wall)

    loss = [1.0, NAN, INF, -INF, 1.7976931348623157e308, -2.2250738585072014e-308, 5e-324]
    loss += [0.1 + 0.2, 1 / 3, -123456789.123456789]
    walls = [1_700_000_000.0 + i * 0.1 + 1e-6 for i in range(10)]
    lr = [1e-4 * (i + 1) if i % 3 else None for i in range(10)]
    log(range(10), {"loss": loss, "lr": lr}, walls)
    # re-logged steps (3 and 5 overwritten) and steps after a gap, out of order
    log([30, 5, 3, 20], {"loss": [2.5, -INF, NAN, 1e-300]}, [1.8e9 + i for i in range(4)])
    log([2**53 - 1, 40], {ODD_KEY: [0.5, -0.25]}, [1_700_000_500.25, 1_700_000_400.75])
    return expected


def _check(rows: list[tuple[str, int, float, float]], expected: dict) -> None:
    want = sorted(expected.items())  # by key, then step: the export's order
    assert [(k, s) for k, s, _, _ in rows] == [ks for ks, _ in want]
    for (key, step, value, wall), (_, (v, w)) in zip(rows, want, strict=True):
        assert _same(value, v), (key, step, value, v)
        assert _same(wall, w), (key, step, wall, w)


def _csv_rows(text: str) -> list[tuple[str, int, float, float]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    assert next(reader) == ["key", "step", "value", "wall_time"]
    return [(k, int(s), float(v), float(w)) for k, s, v, w in reader]


def _parquet_rows(data: bytes) -> list[tuple[str, int, float, float]]:
    # a BufferReader, not a Python file: pyarrow's threaded read of a Python file object
    # aborts the interpreter at exit with this build
    table = pq.read_table(pa.BufferReader(data))
    assert table.schema.names == ["key", "step", "value", "wall_time"]
    assert str(table.schema.field("value").type) == "double"
    cols = [table.column(n).to_pylist() for n in table.schema.names]
    return list(zip(*cols, strict=True))


@pytest.fixture
def logged(api):
    run = api.run(api.project()["id"])["id"]
    return run, _log_points(api, run)


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of 3 points and 2 runs, so every test reads several pages per key."""
    monkeypatch.setattr(export, "POINTS_PAGE", 3)
    monkeypatch.setattr(export, "RUNS_PAGE", 2)


def test_csv_round_trips_every_point_exactly(api, logged, small_pages):
    run, expected = logged
    r = api.get(f"/runs/{run}/export", params={"format": "csv"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == f'attachment; filename="run-{run}-metrics.csv"'
    assert "nan" in r.text and ",inf," in r.text and ",-inf," in r.text
    _check(_csv_rows(r.text), expected)


def test_csv_is_the_default_format(api, logged):
    run, expected = logged
    r = api.get(f"/runs/{run}/export")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    _check(_csv_rows(r.text), expected)


def test_parquet_round_trips_every_point_exactly(api, logged, small_pages):
    run, expected = logged
    r = api.get(f"/runs/{run}/export", params={"format": "parquet"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == export.PARQUET_TYPE
    disposition = f'attachment; filename="run-{run}-metrics.parquet"'
    assert r.headers["content-disposition"] == disposition
    _check(_parquet_rows(r.content), expected)
    # one row group per page: the file was written (and sent) a page at a time
    groups = pq.ParquetFile(pa.BufferReader(r.content)).metadata.num_row_groups
    assert groups >= len(expected) // 3


def test_keys_filter(api, logged, small_pages):
    run, expected = logged
    chosen = {ks: v for ks, v in expected.items() if ks[0] in ("lr", ODD_KEY)}
    params = {"format": "csv", "key": ["lr", ODD_KEY, "never-logged"]}
    _check(_csv_rows(api.get(f"/runs/{run}/export", params=params).text), chosen)
    params["format"] = "parquet"
    _check(_parquet_rows(api.get(f"/runs/{run}/export", params=params).content), chosen)


def test_a_run_without_points_exports_the_header_only(api):
    run = api.run(api.project()["id"])["id"]
    assert _csv_rows(api.get(f"/runs/{run}/export").text) == []
    r = api.get(f"/runs/{run}/export", params={"format": "parquet"})
    assert _parquet_rows(r.content) == []


def test_bad_input_is_refused_with_the_error_body(api, logged):
    run, _ = logged
    for path, params in [
        (f"/runs/{run}/export", {"format": "xlsx"}),
        ("/runs/export", {"format": "parquet"}),  # the runs table is CSV only
        (f"/runs/{run}/export", {"key": ""}),
        (f"/runs/{run}/export", {"key": "k" * 251}),
        (f"/runs/{run}/export", {"key": [f"k{i}" for i in range(201)]}),
        ("/runs/export", {"sort": "config"}),
        ("/runs/export", {"project_id": 0}),
    ]:
        r = api.get(path, params=params)
        assert r.status_code == 422, (path, params, r.status_code)
        assert r.json()["detail"][0]["loc"][0] == "query", r.text
    assert api.get("/runs/0/export").status_code == 422


def test_unknown_and_invisible_runs_are_404(app, api, logged):
    run, _ = logged
    r = api.get("/runs/987654/export")
    assert r.status_code == 404 and r.json()["detail"][0]["type"] == "not_found"
    other = api.project("other")
    with app.state.sessionmaker() as s, s.begin():
        outsider = users.create_user(s, "export-outsider")
        grants.grant_project(s, other["id"], Role.OWNER, user_id=outsider.id)
        secret, _ = tokens.create_token(s, "outsider", user_id=outsider.id)
    headers = {"Authorization": f"Bearer {secret}"}
    for fmt in ("csv", "parquet"):
        r = api.get(f"/runs/{run}/export", params={"format": fmt}, headers=headers)
        assert r.status_code == 404, r.text
    # the runs table holds only what the caller sees: none of the demo project's runs
    api.run(other["id"], name="visible-run")
    rows = _runs_table(api.get("/runs/export", headers=headers))
    assert [row["name"] for row in rows] == ["visible-run"]


def test_runs_export_is_not_taken_by_the_run_route(app):
    paths = [ctx.path for ctx in iter_route_contexts(app.routes)]
    assert paths.index("/api/v1/runs/export") < paths.index("/api/v1/runs/{run_id}")


def _runs_table(r) -> list[dict[str, str]]:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(r.text, newline="")))


def _make_runs(api, project_id: int, n: int) -> list[dict]:
    made = []
    for i in range(n):
        run = api.run(
            project_id,
            name=f"r{i}",
            optimizer="lion" if i % 2 else "adamw",
            tags=["sweep", f"t{i % 3}"],
            config={"optimizer": {"lr": 1e-4 * (i + 1), "betas": [0.9, 0.99]}, "seed": i},
        )
        api.log(run["id"], [0, 1], {"loss": [2.0 + i, NAN if i % 4 == 0 else 1.0 / (i + 1)]})
        made.append(run)
    return made


def test_runs_table_matches_the_runs_list_with_config_and_summaries(api, small_pages):
    pid = api.project()["id"]
    _make_runs(api, pid, 7)
    api.run(api.project("second")["id"], name="elsewhere", config={"depth": 3})
    params = {"project_id": pid, "optimizer": "lion", "tag": "sweep", "sort": "name"}
    listed = api.get("/runs", params=params).json()["items"]
    r = api.get("/runs/export", params=params)
    assert r.headers["content-disposition"] == f'attachment; filename="project-{pid}-runs.csv"'
    rows = _runs_table(r)
    assert [int(row["id"]) for row in rows] == [run["id"] for run in listed]
    assert len(rows) == 3  # r1, r3, r5: paged by 2
    summaries = {
        run["id"]: {s["key"]: s for s in api.get(f"/runs/{run['id']}/metrics").json()}
        for run in listed
    }
    for row, run in zip(rows, listed, strict=True):
        assert row["name"] == run["name"] and row["project"] == "demo"
        assert row["status"] == run["status"] and row["optimizer"] == "lion"
        assert row["tags"] == f'["sweep","t{int(run["name"][1:]) % 3}"]'
        assert row["created_at"].startswith(run["created_at"][:19])
        assert float(row["config.optimizer.lr"]) == run["config"]["optimizer"]["lr"]
        assert row["config.optimizer.betas"] == "[0.9,0.99]"
        assert int(row["config.seed"]) == run["config"]["seed"]
        loss = summaries[run["id"]]["loss"]
        for stat in ("last", "min", "max"):
            assert float(row[f"metric.loss.{stat}"]) == float(loss[stat]), stat
    assert "config.depth" not in rows[0]  # the other project's run is not exported
    # every run, default order: newest first, as GET /runs
    everything = _runs_table(api.get("/runs/export"))
    assert [int(r["id"]) for r in everything] == [
        r["id"] for r in api.get("/runs", params={"limit": 1000}).json()["items"]
    ]
    nan_run = next(r for r in everything if r["name"] == "r0")
    assert nan_run["metric.loss.last"] == "nan" and nan_run["metric.loss.min"] == "2.0"
    assert nan_run["config.depth"] == ""


def _statements(app, call) -> int:
    return count_statements(app, call)


def test_runs_export_statements_do_not_grow_with_the_page_size(app, api, monkeypatch):
    pid = api.project()["id"]
    made = _make_runs(api, pid, 10)

    def export_with(page: int, **params) -> None:
        monkeypatch.setattr(export, "RUNS_PAGE", page)
        assert len(_runs_table(api.get("/runs/export", params=params))) == len(made[:10])

    freeze_token_cache(monkeypatch, app)
    api.get("/runs/export")  # the token's lookup is cached from here on
    by_page = {page: _statements(app, lambda p=page: export_with(p)) for page in (10, 100)}
    assert by_page[10] == by_page[100], by_page
    # and not with the number of runs on a page: 3 runs cost what 10 do
    monkeypatch.setattr(export, "RUNS_PAGE", 100)
    few = _statements(app, lambda: _runs_table(api.get("/runs/export", params={"tag": "t0"})))
    assert few == by_page[100], (few, by_page)
