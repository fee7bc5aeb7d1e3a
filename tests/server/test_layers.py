"""Per-layer statistics: ingest, validation, and the distribution view (bands and heatmap)
with its level of detail, checked against numpy on the same values; SQLite and Postgres."""

from __future__ import annotations

import re

import numpy as np
import pytest

from lionlab_server.store.layers import FACTOR, PERCENTILES

NAMES = [f"blocks.{i}.weight" for i in range(12)]


@pytest.fixture
def run(api):
    return api.run(api.project()["id"])["id"]


def log_layers(api, run, steps, stats, names=NAMES):
    body = {
        "names": names,
        "steps": list(map(int, steps)),
        "stats": {
            k: [[None if np.isnan(x) else float(x) for x in row] for row in v]
            for k, v in stats.items()
        },
    }
    r = api.post(f"/runs/{run}/layers", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def synthetic(steps, layers, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(size=layers))
    return (scale * np.exp(0.3 * rng.standard_normal((len(steps), layers)))).astype(np.float32)


def nearest_rank(row):
    finite = np.sort(row[np.isfinite(row)])
    last = len(finite) - 1
    return [finite[int(np.rint(last * q / 100))] for q in PERCENTILES]


def test_small_run_reads_back_every_vector(api, run):
    steps = np.arange(10, 210, 10)
    grad = synthetic(steps, len(NAMES))
    grad[3, 5] = np.nan  # layer 5 not logged at step 40
    out = log_layers(api, run, steps, {"grad_norm": grad, "update_ratio": grad / 1e3})
    assert out == {"run_id": run, "values": 2 * grad.size, "layers": len(NAMES), "flags": []}
    index = api.get(f"/runs/{run}/layers").json()
    assert index == {"names": NAMES, "stats": ["grad_norm", "update_ratio"]}
    v = api.get(f"/runs/{run}/layers/grad_norm").json()
    assert v["level"] == 0 and v["rows"] == len(steps) and v["names"] == NAMES
    assert v["heat_first_step"] == steps.tolist() == v["band_first_step"]
    heat = np.array([[np.nan if x is None else x for x in row] for row in v["heat"]])
    np.testing.assert_array_equal(np.isnan(heat), np.isnan(grad))
    np.testing.assert_allclose(heat[~np.isnan(heat)], grad[~np.isnan(grad)], rtol=1e-6)
    for row, lo, hi in zip(grad, v["band_lo"], v["band_hi"], strict=True):
        np.testing.assert_allclose(lo, nearest_rank(row), rtol=1e-6)
        assert lo == hi


def test_long_run_uses_the_lod_and_keeps_extremes(api, run):
    steps = np.arange(0, 20_000, 4)  # 5,000 logged steps
    grad = synthetic(steps, len(NAMES), seed=1)
    grad[1234, 7] = 5e4  # one spike in one layer
    grad[2345, 2] = 0.0  # and one zero
    for i in range(0, len(steps), 1000):
        log_layers(api, run, steps[i : i + 1000], {"grad_norm": grad[i : i + 1000]})
    v = api.get(f"/runs/{run}/layers/grad_norm", params={"points": 100, "heat_points": 50}).json()
    assert v["level"] >= 1 and v["rows"] == len(steps)
    assert len(v["band_lo"]) <= 100 and len(v["heat"]) <= 50
    heat = np.array(v["heat"], dtype=float)
    spike_col = np.searchsorted(v["heat_last_step"], steps[1234])
    assert heat[spike_col, 7] == pytest.approx(5e4) and heat.max() == pytest.approx(5e4)
    # each column's band extremes are the extremes of the per-step percentiles inside it
    per_step = np.array([nearest_rank(r) for r in grad])
    for c, (first, last) in enumerate(zip(v["band_first_step"], v["band_last_step"], strict=True)):
        inside = (steps >= first) & (steps <= last)
        np.testing.assert_allclose(v["band_lo"][c], per_step[inside].min(axis=0), rtol=1e-6)
        np.testing.assert_allclose(v["band_hi"][c], per_step[inside].max(axis=0), rtol=1e-6)
    assert min(lo[0] for lo in v["band_lo"]) == 0.0
    # zoom: the stored vectors themselves
    z = api.get(
        f"/runs/{run}/layers/grad_norm", params={"start": 4936, "end": 4940, "points": 100}
    ).json()
    assert z["level"] == 0 and z["heat_first_step"] == [4936, 4940]
    assert z["heat"][0][7] == pytest.approx(5e4)


def test_resent_steps_and_new_layers(api, run):
    steps = np.arange(0, 64, 2)
    grad = synthetic(steps, 3)
    log_layers(api, run, steps, {"grad_norm": grad}, names=NAMES[:3])
    again = grad.copy()
    again[5] *= 100  # step 10 re-sent with other values: the LOD is rebuilt
    log_layers(api, run, steps[5:6], {"grad_norm": again[5:6]}, names=NAMES[:3])
    wider = synthetic(steps[-2:] + 64, 4, seed=3)
    log_layers(api, run, steps[-2:] + 64, {"grad_norm": wider}, names=[NAMES[3], *NAMES[:3]])
    v = api.get(f"/runs/{run}/layers/grad_norm", params={"points": 2, "heat_points": 2}).json()
    assert v["names"] == NAMES[:4] and v["level"] >= 1
    heat = np.array([[np.nan if x is None else x for x in row] for row in v["heat"]])
    assert heat[0, :3] == pytest.approx(again[steps < 64 - 2 * FACTOR].max(axis=0), rel=1e-6) or (
        np.nanmax(heat[:, :3]) == pytest.approx(again.max(), rel=1e-6)
    )
    assert np.nanmax(heat[:, 3]) == pytest.approx(wider[:, 0].max(), rel=1e-6)
    assert np.isnan(heat[0, 3])  # layer added later: not logged in the first column


@pytest.mark.parametrize(
    "body, loc",
    [
        ({"names": [], "steps": [1], "stats": {"grad_norm": [[]]}}, ["body", "names"]),
        ({"names": ["a", "a"], "steps": [1], "stats": {"grad_norm": [[1, 2]]}}, ["body", "names"]),
        ({"names": ["a\x00"], "steps": [1], "stats": {"grad_norm": [[1]]}}, ["body", "names", 0]),
        ({"names": ["a"], "steps": [-1], "stats": {"grad_norm": [[1]]}}, ["body", "steps", 0]),
        ({"names": ["a"], "steps": [1], "stats": {"loss": [[1]]}}, ["body", "stats", "loss"]),
        (
            {"names": ["a"], "steps": [1, 2], "stats": {"grad_norm": [[1]]}},
            ["body", "stats", "grad_norm"],
        ),
        (
            {"names": ["a", "b"], "steps": [1], "stats": {"grad_norm": [[1]]}},
            ["body", "stats", "grad_norm", 0],
        ),
        (
            {"names": ["a"], "steps": [1], "stats": {"grad_norm": [["x"]]}},
            ["body", "stats", "grad_norm", 0, 0],
        ),
        (
            {"names": ["a"], "steps": [1], "stats": {"grad_norm": [[True]]}},
            ["body", "stats", "grad_norm", 0, 0],
        ),
        (
            {"names": ["a"], "steps": [1], "stats": {"grad_norm": [[-1.0]]}},
            ["body", "stats", "grad_norm", 0, 0],
        ),
        ({"names": ["a"], "steps": [1], "stats": {}}, ["body", "stats"]),
        ({"names": ["a"], "steps": [1], "stats": {"grad_norm": [[1]]}, "x": 1}, ["body", "x"]),
    ],
)
def test_bad_batches_are_refused_naming_the_field(api, run, body, loc):
    r = api.post(f"/runs/{run}/layers", json=body)
    assert r.status_code == 422, r.text
    assert any(e["loc"][: len(loc)] == loc for e in r.json()["detail"]), r.text
    assert api.get(f"/runs/{run}/layers").json() == {"names": [], "stats": []}


def test_other_projects_runs_are_not_found(api, run):
    r = api.get("/runs/999999/layers/grad_norm")
    assert r.status_code == 404
    r = api.post(
        "/runs/999999/layers", json={"names": ["a"], "steps": [1], "stats": {"grad_norm": [[1.0]]}}
    )
    assert r.status_code == 404


def test_a_drifting_layer_is_flagged_by_name_and_a_healthy_run_is_not(api):
    """Through the ingest path: the run's per-layer detectors (state kept between batches)
    flag the one layer whose gradient norm leaves the others, naming it."""
    project = api.project()["id"]
    names = [f"blocks.{i}.mlp.weight" for i in range(40)]
    steps = np.arange(10, 30_010, 10)
    rng = np.random.default_rng(7)
    for planted in (False, True):
        run = api.run(project, optimizer="lion")["id"]
        grad = np.exp(rng.normal(size=40)) * np.exp(0.2 * rng.standard_normal((len(steps), 40)))
        if planted:
            grad[1500:, 7] *= 30.0
        ratio = np.full_like(grad, 1e-3) * np.exp(0.1 * rng.standard_normal(grad.shape))
        flags = []
        for i in range(0, len(steps), 500):
            sl = slice(i, i + 500)
            out = log_layers(
                api, run, steps[sl], {"grad_norm": grad[sl], "update_ratio": ratio[sl]}, names=names
            )
            flags += out["flags"]
        stored = api.get(f"/runs/{run}/flags").json()
        assert [f["kind"] for f in stored] == [f["kind"] for f in flags]
        if planted:
            (flag,) = flags
            assert flag["kind"] == "layer_grad_drift" and "blocks.7.mlp.weight" in flag["message"]
            assert flag["start_step"] >= steps[1500] - 1000
        else:
            assert flags == []


def test_a_layer_stepping_far_beyond_the_others_is_flagged_and_the_view_serves_it(api):
    """update_rms through the ingest path: a Lion run whose one layer moves each weight 50x
    as far per step as the others' (its lr set apart) is flagged naming that layer."""
    run = api.run(api.project()["id"], optimizer="lion")["id"]
    names = [f"blocks.{i}.mlp.weight" for i in range(12)]
    steps = np.arange(10, 1010, 10)
    rng = np.random.default_rng(8)
    rms = np.full((len(steps), 12), 1e-4) * np.exp(0.02 * rng.standard_normal((len(steps), 12)))
    rms[:, 3] *= 50.0
    grad = np.exp(rng.normal(size=12)) * np.ones((len(steps), 1))
    out = log_layers(api, run, steps, {"grad_norm": grad, "update_rms": rms}, names=names)
    (flag,) = out["flags"]
    assert flag["kind"] == "update_ratio" and "blocks.3.mlp.weight" in flag["message"]
    assert "per step (update RMS)" in flag["message"]
    stated = float(re.search(r"about ([0-9.]+)x too high", flag["message"]).group(1))
    assert stated == pytest.approx(50, rel=0.02)
    view = api.get(f"/runs/{run}/layers/update_rms").json()
    hot = view["names"].index("blocks.3.mlp.weight")
    heat = np.array(view["heat"])  # (columns, layers)
    assert heat[:, hot].min() > 10 * np.delete(heat, hot, axis=1).max()
