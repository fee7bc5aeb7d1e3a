"""Metric ingestion over the API: columnar batches, exact NaN/Inf, overwrite, summaries, LOD."""

import math

import numpy as np
from sqlalchemy import func, select
from support.api import as_float

from lionlab_server.db import make_engine, make_sessionmaker
from lionlab_server.models import MetricKey, MetricPoint
from lionlab_server.store.downsample import LOD_WIDTHS, lod_buckets
from lionlab_server.store.lod import read_lod
from lionlab_server.store.points import read_points, summary_from_points
from lionlab_server.store.series import summaries


def _run(api):
    return api.run(api.project()["id"], optimizer="lion")["id"]


def test_nan_and_infinities_round_trip_exactly(api):
    run = _run(api)
    values = [1.5, math.nan, math.inf, -math.inf, 1e-308, -0.0, 1e308]
    api.log(run, range(7), {"loss": values})
    (s,) = api.series([run], ["loss"])
    got = [as_float(v) for v in s["values"]]
    assert s["steps"] == list(range(7))
    assert math.isnan(got[1]) and got[2] == math.inf and got[3] == -math.inf
    assert [got[i] for i in (0, 4, 6)] == [1.5, 1e-308, 1e308]
    assert s["values"][1:4] == ["NaN", "Infinity", "-Infinity"]


def test_summaries_and_table_rows_carry_nonfinite_values_as_text(api):
    project = api.project()["id"]
    run = api.run(project, optimizer="lion")["id"]
    api.log(run, range(3), {"loss": [math.inf, -math.inf, math.nan]})
    (summary,) = api.get(f"/runs/{run}/metrics").json()
    assert (summary["last"], summary["min"], summary["max"]) == ("NaN", "-Infinity", "Infinity")
    (row,) = api.get(f"/views/projects/{project}/runs").json()["items"]
    assert (row["last_loss"], row["best_loss"]) == ("NaN", "-Infinity")


def test_nonfinite_strings_and_nulls_are_accepted(api):
    run = _run(api)
    api.log(run, [0, 1, 2], {"a": ["NaN", "-Infinity", 2], "b": [None, 3.0, None]})
    a, b = api.series([run], ["a", "b"])
    assert a["values"] == ["NaN", "-Infinity", 2.0]
    assert b["steps"] == [1] and b["values"] == [3.0]


def test_resending_a_step_overwrites_instead_of_duplicating(api, settings):
    run = _run(api)
    api.log(run, range(10), {"loss": [float(i) for i in range(10)]})
    api.log(run, [3, 4, 20], {"loss": [30.0, 40.0, 2.0]})
    engine = make_engine(settings.resolved_database_url)
    with engine.connect() as conn:
        count = conn.scalar(select(func.count()).select_from(MetricPoint))
    engine.dispose()
    assert count == 11
    (s,) = api.series([run], ["loss"])
    assert s["steps"] == [*range(10), 20]
    assert s["values"][3:5] == [30.0, 40.0]
    (summary,) = api.get(f"/runs/{run}/metrics").json()
    assert summary["count"] == 11 and summary["max"] == 40.0 and summary["last"] == 2.0


def test_repeated_step_within_a_batch_keeps_the_last_value(api):
    run = _run(api)
    api.log(run, [5, 5, 6], {"x": [1.0, 2.0, 3.0]})
    (s,) = api.series([run], ["x"])
    assert s["steps"] == [5, 6] and s["values"] == [2.0, 3.0]


def _check_store_consistent(settings, run_id):
    """Summaries and every LOD level equal what the stored points say."""
    engine = make_engine(settings.resolved_database_url)
    with make_sessionmaker(engine)() as session:
        keys = dict(session.execute(select(MetricKey.name, MetricKey.id)).all())
        for summary in summaries(session, run_id):
            key_id = keys[summary.key]
            expected = summary_from_points(session, run_id, key_id)
            assert summary.count == expected["count"]
            assert summary.nan_count == expected["nan_count"]
            assert summary.first_step == expected["first_step"]
            assert summary.last_step == expected["last_step"]
            assert as_float(summary.min) == expected["min_value"]
            assert as_float(summary.max) == expected["max_value"]
            steps, values, walls = read_points(session, run_id, key_id, 0, 2**62)
            for level, width in LOD_WIDTHS.items():
                want = lod_buckets(steps, values, walls, width)
                got = read_lod(session, run_id, key_id, level, 0, 2**62)
                for col in (
                    "bucket",
                    "n",
                    "min_step",
                    "min_value",
                    "max_step",
                    "max_value",
                    "nan_step",
                ):
                    np.testing.assert_array_equal(
                        getattr(got, col),
                        getattr(want, col),
                        err_msg=f"{summary.key} level {level} {col}",
                    )
    engine.dispose()


def test_summaries_and_lod_stay_exact_under_appends_and_overwrites(api, settings):
    rng = np.random.default_rng(7)
    run = _run(api)
    step = 0
    for i in range(12):
        if i % 4 == 3:  # re-send an earlier stretch with new values
            start = int(rng.integers(0, step))
            steps = list(range(start, min(start + 700, step)))
        else:
            n = int(rng.integers(50, 2000))
            steps = list(range(step, step + n))
            step += n + int(rng.integers(0, 300))  # gaps between batches
        values = rng.normal(size=len(steps))
        values[rng.random(len(steps)) < 0.01] = np.nan
        values[rng.random(len(steps)) < 0.002] = np.inf
        api.log(run, steps, {"loss": values.tolist(), "grad_norm": np.abs(values).tolist()})
    _check_store_consistent(settings, run)


def test_batches_for_several_runs_stay_separate(api):
    pid = api.project()["id"]
    a, b = api.run(pid)["id"], api.run(pid)["id"]
    api.log(a, [0, 1], {"loss": [1.0, 2.0]})
    api.log(b, [0, 1], {"loss": [3.0, 4.0]})
    sa, sb = api.series([a, b], ["loss"])
    assert (sa["run_id"], sa["values"]) == (a, [1.0, 2.0])
    assert (sb["run_id"], sb["values"]) == (b, [3.0, 4.0])


def test_wall_time_is_stored_when_given(api):
    run = _run(api)
    api.log(run, [0, 1], {"loss": [1.0, 2.0]}, wall_time=[1700000000.5, 1700000001.25])
    (s,) = api.series([run], ["loss"])
    assert s["wall_time"] == [1700000000.5, 1700000001.25]


def test_one_batch_mixing_new_and_resent_keys_keeps_every_level_exact(api, settings):
    run = _run(api)
    api.log(run, range(0, 3000), {"a": np.sin(np.arange(3000)).tolist()})
    # "a" is re-sent (overlap path) while "b" is new (append path), in one transaction.
    api.log(
        run,
        range(1000, 2000),
        {"a": np.cos(np.arange(1000)).tolist(), "b": np.arange(1000.0).tolist()},
    )
    _check_store_consistent(settings, run)
