"""The labelled synthetic bank: seeded, and labelled as planted."""

from __future__ import annotations

import itertools

import numpy as np

from lionlab.detect.synthetic import generate_bank, planted_run


def test_the_same_seed_gives_the_same_runs():
    first = list(itertools.islice(generate_bank(3, runs=1, healthy=2), 4))
    again = list(itertools.islice(generate_bank(3, runs=1, healthy=2), 4))
    other = list(itertools.islice(generate_bank(4, runs=1, healthy=2), 1))
    for a, b in zip(first, again, strict=True):
        assert a.name == b.name and np.array_equal(a.steps, b.steps)
        for key in a.metrics:
            np.testing.assert_array_equal(a.metrics[key], b.metrics[key])
    assert not np.array_equal(first[0].metrics["loss"][:100], other[0].metrics["loss"][:100])


def test_planted_events_lie_inside_their_runs():
    for category in ("nan", "spike", "blowup_50", "level_shift", "ramp", "staircase"):
        run = planted_run(np.random.default_rng([5, len(category)]), category, category)
        assert run.events
        for event in run.events:
            assert run.steps[0] < event.step <= event.until <= run.steps[-1]
            assert event.step in run.steps  # planted steps are always logged
        if category == "staircase":
            assert len(run.events) >= 3
            assert all(0.5 <= e.size_sd <= 2.0 for e in run.events)


def test_step_decay_runs_log_their_lr():
    for run in generate_bank(6, runs=0, healthy=12):
        if run.schedule_drops:
            assert "lr" in run.metrics
