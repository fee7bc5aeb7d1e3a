"""Flag records and the run summary."""

from __future__ import annotations

import dataclasses
import json

import pytest

from lionlab.detect import Flag, summarize


def flag(kind="loss_step", step=100, severity="warning", start=90) -> Flag:
    return Flag(kind, step, start, step, severity, f"{kind} at {step}")


def test_a_flag_is_frozen_and_round_trips_through_json():
    f = flag()
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.step = 5
    assert Flag.from_dict(json.loads(json.dumps(f.to_dict()))) == f
    assert set(f.to_dict()) == {"kind", "step", "start_step", "end_step", "severity", "message"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "weight_norm_drift"},  # not a kind
        {"severity": "fatal"},
        {"start": 101},  # starts after it was raised
    ],
)
def test_invalid_flags_are_refused(kwargs):
    with pytest.raises(ValueError):
        flag(**kwargs)


def test_three_loss_steps_make_a_staircase():
    steps = [flag(step=s, start=s - 10) for s in (100, 200)]
    assert not summarize(steps)["staircase"]
    summary = summarize([*steps, flag(step=300, start=290)])
    assert summary["staircase"] and summary["loss_steps"] == 3


def test_schedule_drops_are_counted_apart_and_never_make_a_staircase():
    info = [flag(step=s, start=s - 10, severity="info") for s in (100, 200, 300)]
    summary = summarize(info)
    assert not summary["staircase"] and summary["loss_steps"] == 0
    assert summary["loss_steps_at_schedule_changes"] == 3


def test_summary_of_divergence_and_drift():
    summary = summarize(
        [flag("grad_norm_drift", 50, start=40), flag("divergence", 70, "critical", start=70)]
    )
    assert summary["divergence"] and summary["grad_norm_drift"]
    assert summary["first_divergence_step"] == 70
    empty = summarize([])
    assert not (empty["divergence"] or empty["grad_norm_drift"] or empty["staircase"])
