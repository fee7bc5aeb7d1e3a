"""OnlineDetectors: same flags however the series is split, saved or restored; odd inputs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lionlab.detect import DetectorConfig, OnlineDetectors, analyze
from lionlab.detect.synthetic import Logging, planted_run

CATEGORIES = ["nan_blip", "spike", "blowup_500", "level_shift", "staircase"]


def run_for(category: str, seed: int = 0):
    return planted_run(np.random.default_rng([41, seed]), category, category)


def random_sizes(rng: np.random.Generator, count: int = 400) -> list[int]:
    """Batch sizes from 1 to a few thousand, many of them tiny."""
    return [int(s) for s in rng.choice([1, 1, 2, 3, 16, 17, 250, 999, 1000, 4096], count)]


@pytest.mark.parametrize("category", CATEGORIES)
def test_any_split_gives_the_flags_of_the_whole_series(feed, category):
    run = run_for(category)
    whole = analyze(run.steps, run.metrics)
    assert whole, "the planted event should be flagged"
    for seed in range(3):
        sizes = random_sizes(np.random.default_rng(seed))
        assert feed(run.steps, run.metrics, sizes) == whole


def test_one_point_at_a_time_gives_the_same_flags(feed, curves, run_of):
    c = curves(42, 6000, "step", heavy=True)
    c.log_loss[2000:2100] += math.log(3)
    c.log_grad[2000:2100] += math.log(3)
    c.log_loss[4500] = c.log_grad[4500] = math.nan
    run = run_of(c, Logging(gaps=True, grad_every=3))
    whole = analyze(run.steps, run.metrics)
    assert [f.kind for f in whole] == ["divergence", "divergence"]
    assert feed(run.steps, run.metrics, 1) == whole


@pytest.mark.parametrize("category", CATEGORIES)
def test_a_restart_through_json_neither_loses_nor_repeats_flags(feed, category):
    run = run_for(category, seed=1)
    whole = analyze(run.steps, run.metrics)
    rng = np.random.default_rng(7)
    for _ in range(3):
        sizes = random_sizes(rng)
        restarts = {int(i) for i in rng.choice(len(sizes), 5)}
        assert feed(run.steps, run.metrics, sizes, restart_after=restarts) == whole


@pytest.mark.parametrize("category", ["staircase", "level_shift", "spike"])
def test_every_batch_can_be_the_last_before_a_restart(category):
    run = run_for(category, seed=3)
    detectors, flags = OnlineDetectors(), []
    for lo in range(0, len(run.steps), 250):
        batch = {k: v[lo : lo + 250] for k, v in run.metrics.items()}
        flags += detectors.update(run.steps[lo : lo + 250], batch)
        state = json.loads(json.dumps(detectors.state_dict(), allow_nan=False))
        detectors = OnlineDetectors.from_state(state)
        assert json.loads(json.dumps(detectors.state_dict(), allow_nan=False)) == state
    assert flags == analyze(run.steps, run.metrics)


def test_state_is_plain_json_even_with_non_finite_values():
    detectors = OnlineDetectors()
    json.dumps(detectors.state_dict(), allow_nan=False)
    detectors.update([0, 1, 2], {"loss": [math.nan, math.inf, 1.0], "lr": [math.nan, 0, 1e-4]})
    state = json.loads(json.dumps(detectors.state_dict(), allow_nan=False))
    assert OnlineDetectors.from_state(state).state_dict() == state


def test_the_config_travels_with_the_state():
    cfg = DetectorConfig(block_points=8)
    state = OnlineDetectors(cfg).state_dict()
    assert OnlineDetectors.from_state(json.loads(json.dumps(state))).config == cfg


def test_gaps_and_keys_missing_from_some_batches(curves, run_of):
    run = run_of(curves(43, 30_000, "cosine"), Logging(gaps=True))
    detectors, flags = OnlineDetectors(), []
    keysets = [("loss", "grad_norm", "lr"), ("loss",), ("grad_norm", "lr"), ("loss", "lr")]
    for i, lo in enumerate(range(0, len(run.steps), 700)):
        keys = keysets[i % len(keysets)]
        batch = {k: run.metrics[k][lo : lo + 700] for k in keys}
        flags += detectors.update(run.steps[lo : lo + 700], batch)
    assert [f for f in flags if f.severity != "info"] == []


def test_lr_is_optional(curves, run_of):
    run = run_of(curves(44, 10_000), Logging(lr=False))
    assert "lr" not in run.metrics
    assert analyze(run.steps, run.metrics) == []


def test_a_retried_batch_is_not_counted_twice(curves, run_of):
    c = curves(45, 8000)
    c.log_loss[5000] = c.log_grad[5000] = math.nan
    run = run_of(c)
    detectors, flags = OnlineDetectors(), []
    for lo in range(0, 8000, 1000):
        batch = {k: v[lo : lo + 1000] for k, v in run.metrics.items()}
        for _ in range(2):  # the client retried after a timeout
            flags += detectors.update(run.steps[lo : lo + 1000], batch)
    assert flags == analyze(run.steps, run.metrics) and len(flags) == 1


def test_a_length_mismatch_names_the_metric():
    with pytest.raises(ValueError, match="grad_norm"):
        OnlineDetectors().update([1, 2, 3], {"loss": [1, 2, 3], "grad_norm": [1, 2]})


def test_flags_come_in_step_order_with_distinct_starts_per_kind():
    flags = []
    for category in ("staircase", "spike"):
        run = run_for(category, seed=2)
        found = analyze(run.steps, run.metrics)
        assert [f.step for f in found] == sorted(f.step for f in found)
        assert all(type(v) is int for f in found for v in (f.step, f.start_step, f.end_step))
        flags.append(found)
    for found in flags:
        for kind in {f.kind for f in found}:
            starts = [f.start_step for f in found if f.kind == kind]
            assert starts == sorted(set(starts))  # the server keys flags on (kind, start)


def test_a_config_that_cannot_work_is_refused():
    with pytest.raises(ValueError, match="block_points"):
        DetectorConfig(block_points=2)
