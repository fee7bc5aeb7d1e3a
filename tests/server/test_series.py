"""Series queries: max_points, extremes kept through the LOD store, zoom, several runs/keys."""

import numpy as np
import pytest
from sqlalchemy import text
from support.api import as_float


def _log_long(api, run, n, spikes=(), chunk=50_000, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.normal(size=n)
    for step, value in spikes:
        values[step] = value
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        api.log(run, range(start, stop), {"loss": values[start:stop].tolist()})
    return values


@pytest.fixture
def run(api):
    return api.run(api.project()["id"])["id"]


def test_short_series_comes_back_whole(api, run):
    api.log(run, range(100), {"loss": [float(i) for i in range(100)]})
    (s,) = api.series([run], ["loss"], max_points=500)
    assert s["steps"] == list(range(100)) and not s["downsampled"]
    assert s["points_in_range"] == 100


def test_long_series_is_downsampled_keeping_spikes_nan_first_and_last(api, run):
    n = 120_000
    spikes = [(1_234, 40.0), (77_777, -35.0), (99_001, float("inf"))]
    _log_long(api, run, n, spikes)
    api.log(run, [60_000], {"loss": [float("nan")]})
    (s,) = api.series([run], ["loss"], max_points=300)
    assert s["downsampled"] and s["points_in_range"] == n
    assert len(s["steps"]) <= 300 + 150  # plus at most one NaN point per bucket
    got = dict(zip(s["steps"], s["values"], strict=True))
    assert got[1_234] == 40.0 and got[77_777] == -35.0 and got[99_001] == "Infinity"
    assert got[60_000] == "NaN"
    assert s["steps"][0] == 0 and s["steps"][-1] == n - 1
    assert s["steps"] == sorted(set(s["steps"]))


def test_zoom_returns_the_range_at_full_detail(api, run):
    values = _log_long(api, run, 120_000)
    (s,) = api.series([run], ["loss"], max_points=1000, start=50_000, end=50_499)
    assert s["steps"] == list(range(50_000, 50_500)) and not s["downsampled"]
    assert [as_float(v) for v in s["values"]] == values[50_000:50_500].tolist()


def test_zoom_on_a_lod_range_keeps_the_range_extremes(api, run):
    values = _log_long(api, run, 200_000, spikes=[(150_321, 99.0)])
    (s,) = api.series([run], ["loss"], max_points=200, start=100_013, end=180_007)
    assert s["steps"][0] == 100_013 and s["steps"][-1] == 180_007
    assert s["points_in_range"] == 180_007 - 100_013 + 1
    got = dict(zip(s["steps"], s["values"], strict=True))
    assert got[150_321] == 99.0
    window = values[100_013:180_008]
    assert min(as_float(v) for v in s["values"]) == window.min()


def test_several_runs_and_keys_in_one_query(api):
    pid = api.project()["id"]
    runs = [api.run(pid)["id"] for _ in range(3)]
    for i, r in enumerate(runs):
        api.log(r, range(10), {"loss": [float(i)] * 10, "lr": [0.1] * 10})
    series = api.series(runs, ["loss", "lr", "never_logged"])
    assert [(s["run_id"], s["key"]) for s in series] == [
        (r, k) for r in runs for k in ("loss", "lr", "never_logged")
    ]
    assert series[2]["steps"] == [] and series[3]["values"] == [1.0] * 10


def test_unknown_run_in_a_query_is_404(api, run):
    r = api.get("/series", params={"run": [run, 999], "key": "loss"})
    assert r.status_code == 404 and "999" in r.json()["detail"][0]["msg"]


def test_end_before_start_is_422(api, run):
    r = api.get("/series", params={"run": run, "key": "loss", "start": 10, "end": 5})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "end"]


def test_range_just_past_raw_reads_keeps_every_bucket_extreme(api, run):
    # 20k steps at max_points=1000: output buckets of ~40 steps, so the series comes from the
    # 64-step LOD level (at most twice as wide); each LOD bucket's min and max must come back.
    n, width = 20_000, 64
    values = _log_long(api, run, n, spikes=[(9_999, 50.0), (12_345, -50.0)], chunk=20_000)
    (s,) = api.series([run], ["loss"], max_points=1000)
    assert s["downsampled"] and s["points_in_range"] == n
    assert 1000 // 2 <= len(s["steps"]) <= 1000 + 500
    got = dict(zip(s["steps"], (as_float(v) for v in s["values"]), strict=True))
    assert got[9_999] == 50.0 and got[12_345] == -50.0
    for lo in range(0, n, width):
        bucket = values[lo : lo + width]
        assert got.get(lo + int(bucket.argmin())) == bucket.min()
        assert got.get(lo + int(bucket.argmax())) == bucket.max()


@pytest.mark.parametrize(("n", "max_points"), [(1_500, 300), (9_000, 1000)])
def test_sqlite_bucketing_keeps_what_numpy_downsampling_keeps(app, api, run, n, max_points):
    # Ranges too short for the LOD store are bucketed by SQLite on SQLite, by numpy after a
    # raw read on Postgres: both must keep the same points (ties: the first one).
    from lionlab_server.store.downsample import downsample_minmax
    from lionlab_server.store.points import read_points, sqlite_bucket_extremes

    rng = np.random.default_rng(n)
    values = np.round(rng.normal(size=n), 1)  # many ties within a bucket
    values[rng.choice(n, 40, replace=False)] = np.nan
    values[[5, n // 2]] = [np.inf, -np.inf]
    values[n - 300 : n - 200] = np.nan  # a bucket or two of NaN only
    api.log(run, range(n), {"loss": values.tolist()})
    (s,) = api.series([run], ["loss"], max_points=max_points)
    assert s["downsampled"] and s["points_in_range"] == n
    n_buckets = (max_points - 2) // 2
    with app.state.sessionmaker() as session:
        key_id = session.execute(text("SELECT id FROM metric_keys WHERE name = 'loss'")).scalar()
        steps, vals, walls = read_points(session, run, key_id, 0, n - 1)
        keep = downsample_minmax(steps, vals, 0, n - 1, n_buckets)
        if session.get_bind().dialect.name == "sqlite":
            b_steps, b_vals, b_walls, total = sqlite_bucket_extremes(
                session, run, key_id, 0, n - 1, n_buckets
            )
            assert total == n and b_steps.tolist() == steps[keep].tolist()
            np.testing.assert_array_equal(b_vals, vals[keep])  # NaN equal to NaN
            np.testing.assert_array_equal(b_walls, walls[keep])
    assert s["steps"] == steps[keep].tolist()
