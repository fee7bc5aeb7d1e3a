"""Divergence: non-finite values at once, persistent spikes, blow-ups; one flag per episode."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lionlab.detect import OnlineDetectors, analyze
from lionlab.detect.synthetic import Logging, plant_blowup, plant_spike


def divergences(flags):
    return [f for f in flags if f.kind == "divergence"]


def flags_of(run):
    return analyze(run.steps, run.metrics)


def first_flagging_batch(run, size: int):
    """(first row of the batch that returned a divergence flag, that flag)."""
    detectors = OnlineDetectors()
    for lo in range(0, len(run.steps), size):
        batch = {k: v[lo : lo + size] for k, v in run.metrics.items()}
        flags = divergences(detectors.update(run.steps[lo : lo + size], batch))
        if flags:
            return lo, flags[0]
    return None, None


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_nonfinite_loss_is_flagged_by_the_batch_that_carries_it(curves, run_of, value):
    c = curves(1, 6000)
    c.log_loss[4321] = value
    c.log_grad[4321] = math.nan  # a NaN loss back-propagates into the gradient
    lo, flag = first_flagging_batch(run_of(c), size=100)
    assert lo == 4300
    assert (flag.step, flag.start_step, flag.severity) == (4321, 4321, "critical")
    assert ("nan" if math.isnan(value) else "inf") in flag.message


def test_an_infinite_gradient_norm_is_flagged_even_with_a_finite_loss(curves, run_of):
    c = curves(2, 6000)
    c.log_grad[5000] = math.inf
    (flag,) = divergences(flags_of(run_of(c)))
    assert flag.step == 5000 and "gradient norm is inf" in flag.message


def test_nan_next_to_a_finite_value_means_not_logged(curves, run_of):
    run = run_of(curves(3, 20_000))
    run.metrics["loss"][::2] = math.nan  # loss logged at odd steps,
    run.metrics["grad_norm"][1::2] = math.nan  # the gradient norm at even ones
    assert divergences(flags_of(run)) == []


def test_nan_loss_without_a_gradient_norm_key_is_flagged(curves, run_of):
    c = curves(4, 6000)
    c.log_loss[3000:] = math.nan
    run = run_of(c)
    del run.metrics["grad_norm"]
    (flag,) = divergences(flags_of(run))
    assert flag.step == 3000


def test_a_run_that_stays_nan_raises_one_flag(curves, run_of):
    c = curves(5, 30_000)
    c.log_loss[10_000:] = c.log_grad[10_000:] = math.nan
    assert [f.step for f in divergences(flags_of(run_of(c)))] == [10_000]


def test_a_persistent_spike_raises_one_flag_at_its_onset(curves, run_of):
    c = curves(6, 40_000)
    event = plant_spike(np.random.default_rng(6), c)
    (flag,) = divergences(flags_of(run_of(c)))
    assert event.step <= flag.step <= event.step + 20
    assert event.step <= flag.start_step <= flag.step and "spike" in flag.message


def test_two_separate_spikes_are_two_episodes(curves, run_of):
    c = curves(7, 30_000)
    for at in (10_000, 20_000):
        c.log_loss[at : at + 100] += math.log(3)
        c.log_grad[at : at + 100] += math.log(3)
    flags = divergences(flags_of(run_of(c)))
    assert [f.start_step for f in flags] == [10_000, 20_000]


def test_isolated_outliers_are_not_divergence(curves, run_of):
    c = curves(8, 40_000, heavy=True)
    c.log_loss[5000:35_000:997] += math.log(5)  # single-point spikes: a bad batch each
    c.log_grad[5000:35_000:997] += math.log(5)
    assert divergences(flags_of(run_of(c))) == []


def test_loss_doubling_every_50_steps_is_flagged_within_100_steps(curves, run_of):
    c = curves(9, 20_000)
    event = plant_blowup(np.random.default_rng(9), c, doubling=50)
    (flag,) = divergences(flags_of(run_of(c)))
    assert 0 <= flag.step - event.step <= 100


def test_a_slow_blowup_is_flagged_with_its_onset(curves, run_of):
    c = curves(10, 80_000)
    event = plant_blowup(np.random.default_rng(10), c, doubling=5000)
    (flag,) = divergences(flags_of(run_of(c)))
    assert "slow blow-up" in flag.message
    assert event.step <= flag.start_step < flag.step <= event.step + 5000


@pytest.mark.parametrize("schedule", ["constant", "cosine", "step"])
@pytest.mark.parametrize("heavy", [False, True])
def test_healthy_runs_do_not_diverge(curves, run_of, schedule, heavy):
    c = curves(11, 60_000, schedule, heavy)
    assert divergences(flags_of(run_of(c, Logging(gaps=True)))) == []


@pytest.mark.parametrize("gaps", ["masked", "none"])
def test_a_logged_nan_beside_a_finite_grad_norm_is_divergence_when_gaps_are_marked(gaps):
    """Marked gaps (a masked array, or None in a list) tell a logged NaN from a key not
    logged at that row; a plain float column reads NaN beside a finite value as a gap."""
    steps = np.arange(1, 101)
    loss = np.linspace(2.0, 1.9, 100)
    loss[59] = np.nan
    grad = np.ones(100)
    if gaps == "masked":
        marked = np.ma.masked_array(loss, mask=np.zeros(100, dtype=bool))
    else:
        marked = [None if i == 10 else float(v) for i, v in enumerate(loss)]
    flagged = OnlineDetectors().update(steps, {"loss": marked, "grad_norm": grad})
    assert [(f.kind, f.step) for f in flagged] == [("divergence", 60)]
    assert divergences(OnlineDetectors().update(steps, {"loss": loss, "grad_norm": grad})) == []
