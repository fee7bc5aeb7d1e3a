"""Loss steps: drops between plateaus; lr changes and restarts excused; spikes' recoveries not."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lionlab.detect import analyze, summarize
from lionlab.detect.synthetic import Logging, plant_blowup, plant_spike

DROPS = [6000, 8500, 11_000, 13_000, 16_000]
SIZES = [1.0, 1.5, 0.8, 2.0, 1.2]  # noise SDs


def loss_steps(flags, severity="warning"):
    return [f for f in flags if f.kind == "loss_step" and f.severity == severity]


def flags_of(run):
    return analyze(run.steps, run.metrics)


@pytest.mark.parametrize("heavy", [False, True])
def test_a_staircase_is_one_flag_per_drop(curves, run_of, heavy):
    c = curves(31, 20_000, "cosine", heavy)
    for at, size in zip(DROPS, SIZES, strict=True):
        c.log_loss[at:] -= size * c.loss_noise
    flags = flags_of(run_of(c))
    found = loss_steps(flags)
    assert len(found) == len(DROPS)
    for at, flag in zip(DROPS, found, strict=True):
        assert flag.start_step - 64 <= at <= flag.end_step + 64
        assert flag.end_step <= flag.step
    assert summarize(flags)["staircase"] and summarize(flags)["loss_steps"] == len(DROPS)


def test_a_half_sd_drop_between_long_plateaus_is_found(curves, run_of):
    c = curves(32, 20_000)
    c.log_loss[10_000:] -= 0.5 * c.loss_noise
    (flag,) = loss_steps(flags_of(run_of(c)))
    assert flag.start_step - 64 <= 10_000 <= flag.end_step + 64


def step_decay_run(curves, run_of, logging=Logging()):
    """A run whose lr drops 10x at steps 15000 and 30000, its loss 2 noise SDs after each."""
    c = curves(33, 40_000, "constant")
    for at in (15_000, 30_000):
        c.lr[at:] *= 0.1
        c.log_loss[at:] -= 2 * c.loss_noise * (1 - np.exp(-np.arange(40_000 - at) / 100))
    return run_of(c, logging)


def test_drops_at_lr_decays_are_info_naming_the_lr_change(curves, run_of):
    flags = flags_of(step_decay_run(curves, run_of))
    assert loss_steps(flags) == []
    info = loss_steps(flags, "info")
    assert [f.start_step // 1000 for f in info] == [15, 30]
    assert all("lr change from" in f.message and "not the optimizer" in f.message for f in info)
    summary = summarize(flags)
    assert (summary["loss_steps"], summary["loss_steps_at_schedule_changes"]) == (0, 2)
    assert not summary["staircase"]


def test_without_a_logged_lr_the_same_drops_are_loss_steps(curves, run_of):
    flags = flags_of(step_decay_run(curves, run_of, Logging(lr=False)))
    assert [f.start_step // 1000 for f in loss_steps(flags)] == [15, 30]


def test_a_drop_at_a_restart_is_excused(curves, run_of):
    c = curves(34, 30_000)
    c.log_loss[15_000:] -= 1.5 * c.loss_noise
    run = run_of(c)
    keep = (run.steps < 14_500) | (run.steps >= 15_000)  # resumed from an earlier checkpoint
    run = type(run)(
        run.name, run.category, run.steps[keep], {k: v[keep] for k, v in run.metrics.items()}
    )
    (flag,) = loss_steps(flags_of(run), "info")
    assert "gap in the logged loss" in flag.message


def test_the_recovery_from_a_spike_is_not_a_loss_step(curves, run_of):
    c = curves(35, 40_000)
    c.log_loss[15_000:15_300] += math.log(3)
    c.log_grad[15_000:15_300] += math.log(3)
    flags = flags_of(run_of(c))
    assert [f.kind for f in flags] == ["divergence"]


def test_the_start_of_a_blowup_is_not_a_loss_step(curves, run_of):
    for seed in range(3):
        c = curves(36 + seed, 40_000)
        plant_blowup(np.random.default_rng(seed), c, doubling=500)
        assert loss_steps(flags_of(run_of(c))) == []


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("heavy", [False, True])
def test_healthy_curves_have_no_loss_steps(curves, run_of, schedule, heavy):
    c = curves(37, 150_000, schedule, heavy)
    assert loss_steps(flags_of(run_of(c, Logging(gaps=True)))) == []


def test_a_spike_run_summary(curves, run_of):
    c = curves(38, 30_000)
    plant_spike(np.random.default_rng(38), c)
    summary = summarize(flags_of(run_of(c)))
    assert summary["divergence"] and not summary["staircase"]
