"""GET /views/compare/groups: runs pooled by parameters, each group's mean and spread on one
grid, its final/best table, the input rules, and a statement count that does not grow with
the number of runs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sqlalchemy import text
from support.statements import count_statements, freeze_token_cache

SETTINGS = {"lion": 1e-4, "adamw": 1e-3}


def groups(api, run_ids, expect: int = 200, **params):
    r = api.get("/views/compare/groups", params={"run": run_ids, **params})
    assert r.status_code == expect, r.text
    return r.json()


def seeds(api, pid: int, values: dict[tuple[str, int], np.ndarray], start: int = 0) -> dict:
    """A run per (optimizer, seed) logging `train_loss` = values at steps start, start+1 ..."""
    ids = {}
    for (opt, seed), v in values.items():
        run = api.run(
            pid, name=f"{opt}-{seed}", optimizer=opt, config={"lr": SETTINGS[opt], "seed": seed}
        )
        steps = range(start, start + len(v))
        api.log(run["id"], steps, {"train_loss": [float(x) for x in v]})
        ids[(opt, seed)] = run["id"]
    return ids


def oracle(rows: list[np.ndarray], n_grid: int) -> dict[str, np.ndarray]:
    """Per step, statistics over the runs that logged a finite value there."""
    m = np.full((len(rows), n_grid), np.nan)
    for i, r in enumerate(rows):
        m[i, : len(r)] = r
    n = np.isfinite(m).sum(0)
    m = np.where(np.isfinite(m), m, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN columns: NaN is the answer
        sd = np.nanstd(m, 0, ddof=1)
        return {
            "mean": np.nanmean(m, 0),
            "min": np.nanmin(m, 0),
            "max": np.nanmax(m, 0),
            "sd": np.where(n > 1, sd, np.nan),
            "n": n,
        }


def arr(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], np.float64)


def test_groups_pool_seeds_by_optimizer_and_lr(api):
    pid = api.project()["id"]
    rng = np.random.default_rng(0)
    ids = seeds(api, pid, {(o, s): rng.random(20) for o in SETTINGS for s in range(3)})
    other = api.run(pid, name="no-lr", optimizer="lion")["id"]  # lacks lr: its own group
    api.log(other, range(5), {"train_loss": [1.0] * 5})
    body = groups(api, [*ids.values(), other])
    assert body["by"] == ["optimizer", "lr"] and body["key"] == "train_loss"
    assert [(g["label"], g["count"]) for g in body["groups"]] == [
        ("adamw lr=0.001", 3),
        ("lion lr=1e-4", 3),
        ("lion lr=—", 1),
    ]
    assert body["groups"][1]["runs"] == [ids[("lion", s)] for s in range(3)]
    assert body["groups"][2]["values"] == {"optimizer": "lion", "lr": "—"}
    assert "seed" in body["params"] and body["params"][:2] == ["optimizer", "lr"]
    by_seed = groups(api, list(ids.values()), by=["seed"])
    assert [(g["label"], g["count"]) for g in by_seed["groups"]] == [
        ("seed=0", 2),
        ("seed=1", 2),
        ("seed=2", 2),
    ]


def test_curves_match_a_numpy_oracle_with_runs_of_different_lengths(api):
    pid = api.project()["id"]
    rng = np.random.default_rng(1)
    lengths = {("lion", 0): 40, ("lion", 1): 40, ("lion", 2): 25}
    values = {k: rng.normal(2, 0.5, n) for k, n in lengths.items()}
    values[("lion", 1)][7] = np.nan  # a NaN: left out at step 7 and counted
    values[("lion", 2)][3] = np.inf
    seeds(api, pid, values, start=100)
    ids = [g for g in groups(api, [1, 2, 3])["groups"]]
    (group,) = ids
    curve = group["curve"]
    assert curve["x"] == list(range(100, 140))  # under `points` steps: every step
    want = oracle(list(values.values()), 40)
    for name in ("mean", "min", "max", "sd"):
        np.testing.assert_allclose(arr(curve[name]), want[name], rtol=1e-12, err_msg=name)
    assert curve["n"] == want["n"].tolist()
    assert curve["n"][30] == 2 and curve["n"][7] == 2 and curve["n"][3] == 2
    assert (
        curve["nonfinite"][7] == 1 and curve["nonfinite"][3] == 1 and sum(curve["nonfinite"]) == 2
    )
    np.testing.assert_allclose(arr(curve["lower"]), want["min"])
    sd_band = groups(api, [1, 2, 3], band="sd")["groups"][0]["curve"]
    np.testing.assert_allclose(arr(sd_band["upper"]), want["mean"] + want["sd"], rtol=1e-12)


def test_long_runs_read_the_lod_series_the_series_endpoint_gives(api):
    pid = api.project()["id"]
    rng = np.random.default_rng(2)
    n = 6000
    values = {("adamw", s): np.exp(-np.arange(n) / 2000) + 0.1 * rng.random(n) for s in range(3)}
    ids = list(seeds(api, pid, values).values())
    points = 100
    (group,) = groups(api, ids, points=points)["groups"]
    curve = group["curve"]
    grid = np.linspace(0, n - 1, points)
    np.testing.assert_allclose(curve["x"], grid)
    series = api.series(ids, ["train_loss"], max_points=points)
    assert all(s["downsampled"] for s in series)
    rows = [np.interp(grid, s["steps"], np.array(s["values"], float)) for s in series]
    np.testing.assert_allclose(arr(curve["mean"]), np.mean(rows, 0), rtol=1e-9)
    np.testing.assert_allclose(arr(curve["max"]), np.max(rows, 0), rtol=1e-9)
    assert curve["n"] == [3] * points


def test_wall_time_is_seconds_since_each_runs_first_point(api):
    pid = api.project()["id"]
    ids = []
    for i, t0 in enumerate((1.7e9, 1.8e9)):
        run = api.run(pid, optimizer="lion", config={"lr": 1e-4, "seed": i})
        api.log(
            run["id"],
            range(11),
            {"loss": [float(i)] * 11},
            wall_time=[t0 + 2 * s for s in range(11)],
        )
        ids.append(run["id"])
    (group,) = groups(api, ids, x="wall", points=21)["groups"]
    assert group["curve"]["x"] == [float(s) for s in range(21)]
    assert group["curve"]["mean"] == [0.5] * 21 and group["curve"]["n"] == [2] * 21


def test_final_and_best_table_matches_the_summaries(api, app):
    pid = api.project()["id"]
    rng = np.random.default_rng(3)
    values = {(o, s): rng.random(30) for o in SETTINGS for s in range(3)}
    values[("lion", 2)][-1] = np.nan  # a NaN final value: counted, not averaged
    ids = seeds(api, pid, values)
    body = groups(api, list(ids.values()), by=["optimizer"])
    with app.state.engine.connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT s.run_id, s.min_value FROM metric_summaries s JOIN metric_keys k "
                    "ON k.id = s.key_id WHERE k.name = 'train_loss'"
                )
            ).all()
        )
    for g in body["groups"]:
        opt = g["values"]["optimizer"]
        finals = [values[(opt, s)][-1] for s in range(3)]
        finite = [v for v in finals if np.isfinite(v)]
        assert g["final"]["n"] == len(finite) and g["final"]["nonfinite"] == 3 - len(finite)
        assert g["final"]["mean"] == pytest.approx(np.mean(finite))
        assert g["final"]["sd"] == pytest.approx(np.std(finite, ddof=1))
        best = [rows[r] for r in g["runs"]]
        assert g["best"] == pytest.approx(
            {
                "mean": np.mean(best),
                "sd": np.std(best, ddof=1),
                "min": min(best),
                "max": max(best),
                "n": 3,
                "nonfinite": 0,
            }
        )
    assert body["best"] == "min"


def test_accuracy_is_best_at_its_maximum(api):
    pid = api.project()["id"]
    run = api.run(pid, optimizer="lion")["id"]
    api.log(run, range(3), {"eval_accuracy": [0.1, 0.9, 0.5]})
    body = groups(api, [run], key="eval_accuracy")
    assert body["best"] == "max" and body["groups"][0]["best"]["max"] == 0.9


@pytest.mark.parametrize(
    "params",
    [
        {"run": []},
        {"run": [0]},
        {"run": list(range(1, 102))},
        {"run": [1], "x": "relative"},
        {"run": [1], "band": "iqr"},
        {"run": [1], "points": 5},
        {"run": [1], "points": 2001},
        {"run": [1], "by": ["a", "b", "c", "d", "e"]},
        {"run": [1], "by": [""]},
        {"run": [1], "key": ""},
        {"run": [1], "key": "x" * 251},
    ],
)
def test_bad_input_is_a_422(api, params):
    pid = api.project()["id"]
    api.run(pid)
    r = api.get("/views/compare/groups", params=params)
    assert r.status_code == 422, r.text


def test_an_unknown_run_is_a_404(api):
    pid = api.project()["id"]
    run = api.run(pid)["id"]
    assert api.get("/views/compare/groups", params={"run": [run, 999]}).status_code == 404


def _statements(app, api, ids) -> int:
    groups(api, ids)  # warm-up: the token and the runs' projects are cached
    return count_statements(app, lambda: groups(api, ids, points=64))


def test_the_number_of_statements_does_not_grow_with_the_runs(app, api, monkeypatch):
    freeze_token_cache(monkeypatch, app)
    pid = api.project()["id"]
    rng = np.random.default_rng(4)
    short = seeds(api, pid, {(o, s): rng.random(20) for o in SETTINGS for s in range(2)})
    few = list(short.values())
    many = few + list(
        seeds(api, pid, {(o, s): rng.random(20) for o in SETTINGS for s in range(2, 8)}).values()
    )
    long = []
    for s in range(2):  # long runs: read from the LOD (points=64 < 2000 steps)
        run = api.run(pid, optimizer="lion", config={"lr": 1e-4, "seed": 100 + s})["id"]
        api.log(run, range(2000), {"train_loss": rng.random(2000).tolist()})
        long.append(run)
    n_few, n_many = _statements(app, api, few + long[:1]), _statements(app, api, many + long)
    assert n_few == n_many and n_many <= 10, (n_few, n_many)
