"""Sweep analysis: best configurations, sensitivity, speedup, verdict wording, compute saved.

Curves come from the `group` fixture (conftest.py): seed i of a configuration reaches eval
loss 2.0 exactly at step hits[i] and ends at 2.0 * hit / 1000, so times are known by hand.
"""

from __future__ import annotations

import json

import pytest

from lionlab.sweeps import TrialStatus, analyze, compute_saved

TARGET = 2.0
ADAMW_HITS = [1000, 800, 900]  # worst seed ends exactly at 2.0: the default target


def test_default_target_is_the_worst_final_of_adamws_best_configuration(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group("lion", [500, 400, 450], lr=2.5e-4)
    a = analyze(results)
    assert a.target == pytest.approx(TARGET) and a.target_source == "default"
    assert "the highest final eval loss among the 3 seeds of AdamW's best" in a.verdict.text


def test_lion_exactly_twice_as_fast_gives_ratio_two_with_a_tight_interval(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group("lion", [500, 400, 450], lr=2.5e-4)
    a = analyze(results)
    sp = a.speedup_steps
    assert (
        sp.paired
        and sp.baseline_times == [1000, 800, 900]
        and sp.challenger_times == [500, 400, 450]
    )
    assert sp.ratio == pytest.approx(2.0)
    assert sp.low == pytest.approx(2.0) and sp.high == pytest.approx(2.0) and sp.significant
    assert a.speedup_seconds.ratio == pytest.approx(2.0)  # same time per step
    assert a.verdict.status == "challenger_faster"
    assert a.verdict.sentences[0] == (
        "On this task Lion's best lr was AdamW's best / 4 (0.00025 vs 0.001); Lion reached the "
        "target 2x faster in steps (95% CI 2 to 2, 3 seeds)."
    )


def test_identical_optimizers_give_ratio_one_and_no_significant_difference(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group("lion", ADAMW_HITS, lr=1e-3)
    a = analyze(results)
    assert a.speedup_steps.ratio == pytest.approx(1.0)
    assert a.speedup_steps.significant is False
    assert a.verdict.status == "no_significant_difference"
    assert (
        "no significant difference in steps to the target (Lion/AdamW speedup 1x, 95% CI 1 to 1"
        in a.verdict.text
    )


def test_noisy_seeds_around_parity_are_not_called_a_difference(group):
    adamw = [1000, 800, 900, 700, 850]
    lion = [950, 700, 1000, 650, 800]
    a = analyze(group("adamw", adamw, lr=1e-3) + group("lion", lion, lr=1e-4))
    assert a.speedup_steps.low < 1 < a.speedup_steps.high
    assert a.verdict.status == "no_significant_difference"
    assert "5 seeds" in a.verdict.text


def test_a_slower_lion_is_reported_as_slower(group):
    results = group("adamw", [400, 500, 600], lr=1e-3) + group("lion", [800, 1000, 900], lr=1e-4)
    a = analyze(results, target=TARGET)
    assert a.target_source == "given"
    assert a.speedup_steps.ratio == pytest.approx(1500 / 2700)
    assert a.speedup_steps.high < 1
    assert a.verdict.status == "baseline_faster"
    assert (
        "Lion was slower: it reached the target 0.556x as fast as AdamW in steps" in a.verdict.text
    )
    assert "Target: eval loss 2 (given)." in a.verdict.text


def test_a_single_seed_is_insufficient_data(group):
    a = analyze(group("adamw", [1000], lr=1e-3) + group("lion", [500], lr=1e-4))
    assert a.speedup_steps.ratio == pytest.approx(2.0) and a.speedup_steps.low is None
    assert a.verdict.status == "insufficient_data"
    assert "insufficient data for a confidence interval" in a.verdict.text


def test_lion_that_never_reaches_the_target_is_said_plainly(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group("lion", [None, None, None], lr=1e-4)
    a = analyze(results)
    assert a.speedup_steps.ratio is None and a.speedup_steps.challenger_censored == 3
    assert a.verdict.status == "target_not_reached"
    assert (
        "Lion's best configuration never reached the target in 1000 steps on any of its 3 seeds"
        in a.verdict.text
    )


def test_a_seed_that_never_reaches_counts_at_full_length_and_is_flagged(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group("lion", [500, 400, None], lr=1e-4)
    a = analyze(results)
    sp = a.speedup_steps
    assert sp.challenger_times == [500, 400, 1000] and sp.challenger_censored == 1
    assert sp.ratio == pytest.approx(2700 / 1900)
    assert (
        "1 of 3 Lion seeds never reached the target and count at their full length"
        in a.verdict.text
    )
    assert "overstates Lion's speed" in a.verdict.text


def test_no_finished_lion_configuration_is_insufficient_data(group):
    lion = group("lion", [500, 400], lr=1e-2, statuses=["diverged", "succeeded"])
    a = analyze(group("adamw", ADAMW_HITS, lr=1e-3) + lion)
    assert "lion" not in a.best
    assert a.verdict.status == "insufficient_data"
    assert a.verdict.text.startswith("Insufficient data: no Lion configuration")


def test_best_is_the_lowest_mean_final_among_configurations_without_diverged_seeds(group):
    fast_but_unstable = group(
        "lion", [300, 300, 300], lr=1e-3, statuses=["succeeded", "diverged", "succeeded"]
    )
    good = group("lion", [500, 400, 450], lr=3e-4)
    worse = group("lion", [900, 900, 900], lr=1e-4)
    a = analyze(group("adamw", ADAMW_HITS, lr=1e-3) + fast_but_unstable + good + worse)
    best = a.best["lion"]
    assert best.lr == 3e-4
    assert best.final_mean == pytest.approx(TARGET * 0.45)
    assert best.final_sd == pytest.approx(TARGET * 0.05)  # finals 1.0, 0.8, 0.9


def test_lion_lr_above_adamws_is_called_out(group):
    a = analyze(group("adamw", ADAMW_HITS, lr=1e-4) + group("lion", [500, 400, 450], lr=3e-4))
    assert "Lion's best lr was AdamW's best x 3 (0.0003 vs 0.0001): larger" in a.verdict.text


def test_lr_sensitivity_rows_have_means_sds_and_diverged_marks(group):
    results = (
        group("lion", [500, 400, 450], lr=3e-4)
        + group("lion", [300, 300, 300], lr=1e-3, statuses=["diverged"] * 3)
        + group("lion", [900, 800, 1000], lr=1e-4)
        + group("adamw", ADAMW_HITS, lr=1e-3)
    )
    rows = analyze(results).sensitivity()["lion"]
    assert [r.lr for r in rows] == [1e-4, 3e-4, 1e-3]
    assert rows[0].final_mean == pytest.approx(1.8) and rows[0].final_sd == pytest.approx(0.2)
    assert rows[0].best_mean == pytest.approx(1.8)  # linear curves are lowest at the end
    assert rows[2].diverged == 3 and rows[2].final_mean is None
    assert [p.status for p in rows[2].seeds] == [TrialStatus.DIVERGED] * 3


def test_compute_saved_counts_trial_steps_not_run(group):
    results = (
        group("adamw", ADAMW_HITS, lr=1e-3)  # 3 x 1000 run
        + group("lion", [500, 400], lr=1e-4, statuses=["stopped_early", "diverged"])  # 500 each
        + group("lion", [500], lr=3e-4, statuses=["running"])
    )
    saved = compute_saved(results)
    assert saved.planned_steps == 6000
    assert saved.run_steps == 3000 + 500 + 500 + 500
    assert saved.saved_by_early_stopping == 500 and saved.saved_by_divergence == 500
    assert saved.pending_steps == 500
    assert saved.fraction == pytest.approx(1000 / 6000)
    assert saved.fraction_by_early_stopping == pytest.approx(500 / 6000)


def test_unfinished_trials_make_the_verdict_preliminary(group):
    results = (
        group("adamw", ADAMW_HITS, lr=1e-3)
        + group("lion", [500, 400, 450], lr=2.5e-4)
        + group("lion", [500], lr=1e-4, statuses=["queued"])
    )
    assert analyze(results).verdict.sentences[-1] == "Preliminary: 1 trial has not finished."


def test_unpaired_seeds_are_resampled_independently(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group(
        "lion", [500, 400, 450], lr=1e-4, seeds=[5, 6, 7]
    )
    sp = analyze(results).speedup_steps
    assert not sp.paired and sp.ratio == pytest.approx(2.0)
    assert sp.low <= 2.0 <= sp.high


def test_wall_time_speedup_reflects_step_time(group):
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group(
        "lion", ADAMW_HITS, lr=1e-4, step_time=0.05
    )
    a = analyze(results)
    assert a.speedup_steps.ratio == pytest.approx(1.0)
    assert a.speedup_seconds.ratio == pytest.approx(2.0)
    assert "In wall-clock time Lion was 2x faster (95% CI 2 to 2)" in a.verdict.text


def test_the_analysis_is_reproducible_and_plain_json(group):
    results = group("adamw", [1000, 800, 900, 700], lr=1e-3) + group(
        "lion", [950, 500, 990, 640], lr=1e-4
    )
    first, second = analyze(results), analyze(results)
    assert first.to_dict() == second.to_dict()
    data = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    assert data["verdict"]["status"] == first.verdict.status
    assert data["best"]["lion"]["seeds"][0]["status"] == "succeeded"
    assert data["compute"]["fraction"] == 0.0


def test_final_loss_difference_has_a_seed_bootstrap_interval_even_without_a_target_hit(group):
    # Lion never reaches AdamW's target: no speedup, but the final losses still compare.
    # Finals are 2 * hit / 1000: AdamW 2.0, 1.6, 1.8; Lion 2.2, 2.4, 2.6 -> per-seed differences
    # 0.2, 0.8, 0.8; resample means lie in [0.2, 0.8], and P(mean = 0.2) = 1/27 > 2.5% and
    # P(mean = 0.8) = (2/3)^3 > 2.5%, so the 95% interval is exactly [0.2, 0.8]
    results = group("adamw", ADAMW_HITS, lr=1e-3) + group("lion", [1100, 1200, 1300], lr=1e-4)
    a = analyze(results)
    assert a.verdict.status == "target_not_reached"
    d = a.final_loss_diff
    assert d.paired and d.diff == pytest.approx(0.6)
    assert (d.low, d.high) == (pytest.approx(0.2), pytest.approx(0.8)) and d.significant
    assert "Lion's was higher by 0.6 (95% CI +0.2 to +0.8)" in a.verdict.text
    assert a.to_dict()["final_loss_diff"]["low"] == pytest.approx(0.2)
