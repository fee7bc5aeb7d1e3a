"""Time to target and the bootstrap ratio, against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lionlab.sweeps import Curve, time_to_target
from lionlab.sweeps.stats import bootstrap_diff, bootstrap_ratio, mean_sd


def test_time_to_target_is_the_first_eval_point_at_or_below_it():
    curve = Curve([100, 200, 300, 400], [3.0, 2.5, 2.0, 2.2], wall_time=[10, 20, 30, 40])
    hit = time_to_target(curve, 2.5)
    assert hit.reached and hit.step == 200 and hit.seconds == 10.0  # from the first point
    assert time_to_target(curve, 1.0).reached is False


def test_time_is_counted_from_the_start_when_it_is_given():
    curve = Curve([100, 200], [3.0, 2.0], wall_time=[1010.0, 1020.0], start_time=1000.0)
    assert time_to_target(curve, 2.0).seconds == 20.0


def test_non_finite_losses_never_reach_a_target():
    curve = Curve([1, 2, 3], [float("nan"), float("-inf"), 1.0])
    hit = time_to_target(curve, 1.5)
    assert hit.step == 3 and hit.seconds is None


def test_curve_rejects_mismatched_or_unordered_steps():
    with pytest.raises(ValueError):
        Curve([1, 2], [1.0])
    with pytest.raises(ValueError):
        Curve([2, 1], [1.0, 1.0])


def test_mean_sd_uses_the_sample_sd():
    mean, sd = mean_sd([1.0, 2.0, 3.0])
    assert mean == 2.0 and sd == pytest.approx(1.0)
    assert mean_sd([4.0]) == (4.0, None)
    assert mean_sd([]) == (None, None)


def test_identical_samples_give_ratio_one_with_a_point_interval():
    times = [900.0, 800.0, 1000.0]
    ci = bootstrap_ratio(times, times, paired=True)
    assert ci.ratio == 1.0 and ci.low == 1.0 and ci.high == 1.0


def test_exactly_twice_as_fast_on_every_seed_gives_ratio_two():
    slow = np.array([900.0, 800.0, 1000.0])
    ci = bootstrap_ratio(slow, slow / 2, paired=True)
    assert ci.ratio == pytest.approx(2.0)
    assert ci.low == pytest.approx(2.0) and ci.high == pytest.approx(2.0)


def test_paired_interval_lies_within_the_per_seed_ratios():
    # ratio of means of any resample lies between the smallest and largest per-seed ratio
    num, den = np.array([400.0, 500.0, 600.0]), np.array([800.0, 1000.0, 900.0])
    ci = bootstrap_ratio(num, den, paired=True)
    assert ci.ratio == pytest.approx(1500 / 2700)
    assert 0.5 - 1e-12 <= ci.low <= ci.ratio <= ci.high <= 600 / 900 + 1e-12


def test_the_bootstrap_is_seeded():
    a, b = [1.0, 3.0, 2.0, 5.0], [2.0, 2.5, 1.0, 4.0]
    assert bootstrap_ratio(a, b, paired=False, seed=3) == bootstrap_ratio(
        a, b, paired=False, seed=3
    )
    assert bootstrap_ratio(a, b, paired=False, seed=3) != bootstrap_ratio(
        a, b, paired=False, seed=4
    )


def test_no_interval_from_a_single_seed():
    ci = bootstrap_ratio([10.0], [5.0], paired=True)
    assert ci.ratio == 2.0 and ci.low is None and ci.high is None


def test_zero_denominator_gives_no_ratio():
    ci = bootstrap_ratio([1.0, 2.0], [0.0, 0.0], paired=True)
    assert math.isnan(ci.ratio) and ci.low is None


def test_bootstrap_diff_of_two_paired_seeds_spans_their_differences():
    # per-seed differences 1 and 2: a resample's mean is 1, 1.5 or 2, with probability
    # 1/4, 1/2, 1/4, so the 2.5th and 97.5th percentiles are exactly 1 and 2
    ci = bootstrap_diff([1.0, 2.0], [0.0, 0.0], paired=True)
    assert ci.diff == 1.5 and (ci.low, ci.high) == (1.0, 2.0) and ci.significant


def test_bootstrap_diff_of_identical_samples_is_zero_and_not_significant():
    ci = bootstrap_diff([2.0, 2.1, 1.9], [2.0, 2.1, 1.9], paired=True)
    assert ci.diff == 0 and ci.low == 0 and ci.high == 0 and ci.significant is False


def test_bootstrap_diff_needs_two_seeds_a_side():
    ci = bootstrap_diff([2.0], [1.0, 1.5], paired=False)
    assert ci.diff == pytest.approx(0.75) and ci.low is None and ci.significant is None
