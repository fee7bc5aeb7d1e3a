"""Gradient-norm drift: level shifts and ramps flagged; the early decline and warmup are not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lionlab.detect import analyze
from lionlab.detect.synthetic import Logging, plant_grad_ramp, plant_grad_shift


def drifts(flags):
    return [f for f in flags if f.kind == "grad_norm_drift"]


def flags_of(run):
    return analyze(run.steps, run.metrics)


@pytest.mark.parametrize("logging", [Logging(), Logging(gaps=True, grad_every=10, lr=False)])
def test_a_doubled_gradient_norm_is_one_drift_flag(curves, run_of, logging):
    c = curves(21, 40_000)
    event = plant_grad_shift(np.random.default_rng(21), c)
    (flag,) = drifts(flags_of(run_of(c, logging)))
    assert event.step <= flag.step <= event.step + 1000
    assert event.step - 640 <= flag.start_step <= flag.step  # the bucket where it began
    assert flag.severity == "warning" and "level" in flag.message


def test_a_ramp_to_three_times_is_flagged_before_it_ends(curves, run_of):
    c = curves(22, 100_000)
    event = plant_grad_ramp(np.random.default_rng(22), c)
    (flag,) = drifts(flags_of(run_of(c)))
    assert event.step < flag.step < event.step + 20_000


def test_a_wider_spread_is_a_drift(curves, run_of):
    c = curves(23, 40_000)
    noise = c.log_grad - np.convolve(c.log_grad, np.ones(65) / 65, mode="same")
    c.log_grad[20_000:] += 1.5 * noise[20_000:]  # 2.5x the point noise, same level
    (flag,) = drifts(flags_of(run_of(c)))
    assert 20_000 <= flag.step <= 22_000 and "spread" in flag.message


@pytest.mark.parametrize("schedule", ["constant", "cosine", "step"])
@pytest.mark.parametrize("heavy", [False, True])
def test_healthy_gradient_norms_do_not_drift(curves, run_of, schedule, heavy):
    c = curves(24, 80_000, schedule, heavy)
    t = np.arange(80_000)
    c.log_grad += math.log(8) * np.exp(-t / 4000)  # a steep early decline: normal
    assert drifts(flags_of(run_of(c))) == []


def test_a_rise_during_warmup_is_not_a_drift_when_lr_is_logged(curves, run_of):
    c = curves(25, 40_000)
    warmup = 8000
    c.lr = np.minimum(1.0, (np.arange(40_000) + 1) / warmup) * 1e-4
    c.log_grad += math.log(3) * np.minimum(1.0, np.arange(40_000) / warmup)
    assert drifts(flags_of(run_of(c))) == []


def test_the_reference_is_retaken_after_an_lr_step(curves, run_of):
    c = curves(26, 40_000)
    c.lr[20_000:] *= 0.1
    c.log_grad[20_000:] += math.log(2)  # the schedule moved it, not a mis-scaled lr
    assert drifts(flags_of(run_of(c))) == []
    c.lr[20_000:] *= 10  # without the lr step, the same rise is a drift
    assert len(drifts(flags_of(run_of(c)))) == 1
