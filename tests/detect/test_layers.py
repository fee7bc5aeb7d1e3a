"""Per-layer detectors: layer_grad_drift and update_ratio."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from lionlab.detect import Flag, LayerConfig, LayerDetectors, UpdateRatioConfig, summarize
from lionlab.detect.layers import nan_median
from lionlab.detect.synthetic_layers import (
    LayerRun,
    healthy_layers,
    layer_run,
    logged_layers,
    names_layer,
    plant_layer_fault,
)


def feed(
    run: LayerRun,
    sizes: list[int] | int = 100,
    restart_after: set[int] = frozenset(),
    detectors: LayerDetectors | None = None,
) -> list[Flag]:
    """Feed a run in batches of `sizes` (cycled), going through JSON after the batches whose
    index is in `restart_after`."""
    sizes = [sizes] if isinstance(sizes, int) else sizes
    det, flags, lo, i = detectors or LayerDetectors(), [], 0, 0
    while lo < len(run.steps):
        hi = lo + sizes[i % len(sizes)]
        stats = {k: v[lo:hi] for k, v in run.stats.items()}
        flags += det.update(run.steps[lo:hi], run.names, stats, run.lr[lo:hi], run.optimizer)
        if i in restart_after:
            state = json.loads(json.dumps(det.state_dict(), allow_nan=False))
            det = LayerDetectors.from_state(state)
        lo, i = hi, i + 1
    return flags


def planted(label: str, seed: int = 0) -> LayerRun:
    return layer_run(np.random.default_rng([71, seed]), f"{label}-{seed}", label)


def of_kind(flags: list[Flag], kind: str) -> list[Flag]:
    return [f for f in flags if f.kind == kind]


@pytest.mark.parametrize("label", ["drift_up", "drift_down", "frozen"])
def test_a_drifting_or_frozen_layer_is_flagged_by_name(label):
    for seed in range(3):
        run = planted(label, seed)
        (event,) = run.events
        flags = of_kind(feed(run), "layer_grad_drift")
        assert len(flags) == 1, [f.message for f in flags]
        (flag,) = flags
        assert event.step <= flag.step <= event.step + 5000
        assert names_layer(flag.message, event.layer), flag.message
        assert flag.start_step <= flag.end_step == flag.step
        if label == "frozen":
            assert "exactly 0" in flag.message
        else:
            ratio = float(re.search(r"grad norm ([0-9.e+-]+)x", flag.message).group(1))
            assert (ratio > 2) if label == "drift_up" else (ratio < 0.5)
            assert "the other layers' median" in flag.message
    assert summarize([flag])["layer_grad_drift"]


@pytest.mark.parametrize("label", ["ratio_high", "ratio_low"])
def test_an_update_ratio_outside_the_band_is_flagged_by_name(label):
    for seed in range(3):
        run = planted(label, seed)
        (event,) = run.events
        (flag,) = of_kind(feed(run), "update_ratio")
        assert event.step <= flag.step and names_layer(flag.message, event.layer)
        text = "too high for this layer" if label == "ratio_high" else "barely learning"
        assert text in flag.message
        assert of_kind(feed(run), "layer_grad_drift") == []


@pytest.mark.parametrize("seed", range(6))
def test_healthy_runs_are_quiet_with_lr_drops_and_both_optimizers(seed):
    rng = np.random.default_rng([72, seed])
    c = healthy_layers(rng, "lion" if seed % 2 else "adamw")
    c.lr[len(c.lr) // 2 :] *= 0.1  # a 10x drop on top of the schedule: all layers move
    c.log_grad[len(c.lr) // 2 :] += math.log(0.5)  # (the norms drop together)
    assert feed(logged_layers(rng, "h", "healthy", c)) == []


def test_any_split_and_any_restart_give_the_same_flags():
    run = planted("drift_up", 3)
    whole = feed(run, sizes=len(run.steps))
    assert whole
    rng = np.random.default_rng(5)
    for _ in range(3):
        sizes = [int(s) for s in rng.choice([1, 2, 3, 7, 8, 9, 64, 333], 4000)]
        restarts = {int(i) for i in rng.choice(200, 8)}
        assert feed(run, sizes) == whole
        assert feed(run, sizes, restart_after=restarts) == whole


def test_a_state_saved_mid_run_resumes_to_the_same_flags():
    run = planted("ratio_high", 4)
    whole = feed(run)
    half = len(run.steps) // 2
    det = LayerDetectors()
    first = det.update(
        run.steps[:half],
        run.names,
        {k: v[:half] for k, v in run.stats.items()},
        run.lr[:half],
        run.optimizer,
    )
    state = json.loads(json.dumps(det.state_dict(), allow_nan=False))
    again = LayerDetectors.from_state(state)
    assert json.loads(json.dumps(again.state_dict(), allow_nan=False)) == state
    rest = again.update(
        run.steps[half:], run.names, {k: v[half:] for k, v in run.stats.items()}, run.lr[half:]
    )  # the optimizer travels with the state
    assert first + rest == whole


def test_a_retried_batch_is_harmless():
    run = planted("frozen", 1)
    det, flags = LayerDetectors(), []
    for lo in range(0, len(run.steps), 50):
        stats = {k: v[lo : lo + 50] for k, v in run.stats.items()}
        for _ in range(2):
            flags += det.update(run.steps[lo : lo + 50], run.names, stats, run.lr[lo : lo + 50])
    assert flags == feed(run) and len(flags) == 1


def test_layers_marked_absent_with_nan():
    run = planted("drift_up", 5)
    (event,) = run.events
    j = run.names.index(event.layer)
    rng = np.random.default_rng(9)
    for key, a in run.stats.items():
        a[rng.random(a.shape) < 0.3] = np.nan  # 30% of values not reported
        a[::3, j] = np.nan  # and the planted layer only two rows in three
        if key == "grad_norm":
            a[:, (j + 1) % a.shape[1]] = np.nan  # a layer never reported
    (flag,) = feed(run)
    assert names_layer(flag.message, event.layer)


def test_names_may_grow_and_a_new_layer_is_watched():
    run = planted("drift_up", 6)
    (event,) = run.events
    j = run.names.index(event.layer)
    order = [n for n in run.names if n != event.layer] + [event.layer]  # it comes in last
    cols = [run.names.index(n) for n in order]
    det, flags, late = LayerDetectors(), [], 300
    for lo in range(0, len(run.steps), 100):
        hi = lo + 100
        names = order if lo >= late else order[:-1]
        stats = {k: v[lo:hi][:, cols[: len(names)]] for k, v in run.stats.items()}
        flags += det.update(run.steps[lo:hi], names, stats, run.lr[lo:hi], run.optimizer)
    assert det.names == order
    (flag,) = flags
    assert names_layer(flag.message, run.names[j])


def test_columns_are_matched_by_name_in_any_order():
    run = planted("drift_down", 2)
    perm = np.random.default_rng(3).permutation(len(run.names))
    shuffled = LayerRun(
        run.name,
        run.category,
        run.steps,
        [run.names[i] for i in perm],
        {k: v[:, perm] for k, v in run.stats.items()},
        run.lr,
        run.optimizer,
        run.events,
    )
    assert feed(shuffled) == feed(run, sizes=100)


def controlled(width: int = 30, rows: int = 3000, every: int = 10, lr: float = 1e-4):
    """A quiet Lion run: ratio = lr / rms per layer (rms 0.03-0.3), flat gradient norms."""
    rng = np.random.default_rng(11)
    steps = np.arange(rows, dtype=np.int64) * every
    rms = 10 ** rng.uniform(math.log10(0.03), math.log10(0.3), width)
    grad = np.exp(rng.normal(0, 1, width) + 0.1 * rng.normal(0, 1, (rows, width)))
    lr_col = np.full(rows, lr)
    ratio = lr_col[:, None] / rms * np.exp(0.01 * rng.normal(0, 1, (rows, width)))
    param = rms * np.sqrt(1e5) * np.ones((rows, 1))
    names = [f"layer{i}" for i in range(width)]
    return steps, names, {"grad_norm": grad, "param_norm": param, "update_ratio": ratio}, lr_col


@pytest.mark.parametrize("ratio", [3e-2, 2e-5])
def test_the_lion_advice_gives_the_lr_of_the_band_centre(ratio):
    steps, names, stats, lr = controlled()
    lr0 = float(lr[0])
    stats["update_ratio"][1500:, 4] = ratio * (1 + 0.01 * np.sin(np.arange(1500)))
    (flag,) = LayerDetectors().update(steps, names, stats, lr, optimizer="lion")
    assert names_layer(flag.message, "layer4")
    advised = float(re.search(r"an lr of ([0-9.e+-]+)", flag.message).group(1))
    expected = lr0 * 1e-3 / ratio  # the ratio is linear in lr: this lr gives 1e-3
    assert abs(advised / expected - 1) < 0.1
    measured = float(re.search(r"ratio ([0-9.e+-]+) per step", flag.message).group(1))
    assert abs(measured / ratio - 1) < 0.05
    assert 15_000 <= flag.step <= 16_000


def test_the_lion_advice_holds_through_an_lr_schedule():
    steps, names, stats, lr = controlled()
    lr *= np.linspace(1, 0.3, len(lr))  # a decaying schedule: ratio / lr is what stays fixed
    stats["update_ratio"] = lr[:, None] / (stats["param_norm"] / math.sqrt(1e5))  # lr / rms
    stats["update_ratio"][1500:, 7] = lr[1500:] / 0.002  # rms 0.002: ratio 5e-2 .. 1.5e-2
    (flag,) = LayerDetectors().update(steps, names, stats, lr, optimizer="distributed_lion")
    advised = float(re.search(r"an lr of ([0-9.e+-]+)", flag.message).group(1))
    assert abs(advised / (1e-3 * 0.002) - 1) < 0.1


def test_no_lr_advice_for_adamw_or_without_an_lr():
    steps, names, stats, lr = controlled()
    stats["update_ratio"][1500:, 4] = 3e-2
    (adamw,) = LayerDetectors().update(steps, names, stats, lr, optimizer="adamw")
    (unknown,) = LayerDetectors().update(steps, names, stats, None, optimizer="lion")
    for flag in (adamw, unknown):
        assert "too high" in flag.message and "an lr of" not in flag.message
    assert "not simply linear" in adamw.message


def test_a_low_ratio_from_the_schedule_is_not_flagged():
    steps, names, stats, lr = controlled()
    lr[1000:] *= 0.1
    lr[2000:] *= 0.1  # two 10x drops: ratios of 3e-6 .. 3e-5 at the end, on schedule
    stats["update_ratio"] = lr[:, None] / (stats["param_norm"] / math.sqrt(1e5))
    assert LayerDetectors().update(steps, names, stats, lr, optimizer="lion") == []


def test_layers_with_all_zero_parameters_are_skipped():
    steps, names, stats, lr = controlled()
    stats["param_norm"][:, 3] = 0.0
    stats["update_ratio"][:, 3] = np.inf  # ||dtheta|| / 0
    stats["param_norm"][:, 5] = 0.0
    stats["update_ratio"][:, 5] = 0.0
    with np.errstate(all="raise"):
        assert LayerDetectors().update(steps, names, stats, lr, optimizer="lion") == []


def test_layers_departing_together_share_one_flag_with_a_capped_list():
    steps, names, stats, lr = controlled(width=40)
    stats["grad_norm"][1500:, :9] *= 20
    (flag,) = LayerDetectors().update(steps, names, stats, lr)
    assert flag.message.startswith("9 layers' grad norms")
    assert flag.message.endswith("and 4 more")
    assert len(re.findall(r"layer\d+ \(", flag.message)) == 5


def test_an_episode_is_flagged_once_and_a_later_one_again():
    steps, names, stats, lr = controlled(rows=6000)
    stats["grad_norm"][1500:2500, 2] *= 10
    stats["grad_norm"][4500:, 2] *= 10
    flags = LayerDetectors().update(steps, names, stats, lr)
    assert [f.kind for f in flags] == ["layer_grad_drift"] * 2
    assert 15_000 <= flags[0].step < 25_000 <= 45_000 <= flags[1].step
    assert flags[0].start_step < flags[1].start_step


def test_an_lr_drop_moves_all_layers_and_is_not_a_drift():
    steps, names, stats, lr = controlled()
    lr[1500:] *= 0.1
    stats["grad_norm"][1500:] *= 0.2
    stats["update_ratio"][1500:] *= 0.1
    assert LayerDetectors().update(steps, names, stats, lr, optimizer="lion") == []


def test_bad_input_is_refused():
    steps, names, stats, lr = controlled(rows=10)
    with pytest.raises(ValueError, match="grad_norm"):
        LayerDetectors().update(steps, names, {"grad_norm": stats["grad_norm"][:, :3]})
    with pytest.raises(ValueError, match="distinct"):
        LayerDetectors().update(steps, ["a", "a"], {})
    with pytest.raises(ValueError, match="band_low"):
        LayerConfig(ratio=UpdateRatioConfig(band_low=1e-2, band_high=1e-4))
    with pytest.raises(ValueError, match="version"):
        LayerDetectors.from_state({"version": 99})


def test_the_config_travels_with_the_state():
    cfg = LayerConfig(block_rows=4, ratio=UpdateRatioConfig(band_low=1e-5))
    state = json.loads(json.dumps(LayerDetectors(cfg).state_dict()))
    assert LayerDetectors.from_state(state).config == cfg


def test_nan_median_matches_numpy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 7))
    a[rng.random(a.shape) < 0.3] = np.nan
    a[3] = np.nan
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        expected = np.nanmedian(a, axis=1)
    np.testing.assert_allclose(nan_median(a, axis=1), expected)


def test_plant_layer_fault_records_the_centre_lr():
    rng = np.random.default_rng(1)
    c = healthy_layers(rng, "lion")
    event = plant_layer_fault(rng, c, "ratio_high")
    assert event.kind == "update_ratio" and event.centre_lr > 0


@pytest.mark.parametrize("seed", range(4))
def test_one_layers_lr_set_too_high_is_flagged_by_its_step_size(seed):
    run = planted("step_high", seed)
    (event,) = run.events
    flags = of_kind(feed(run), "update_ratio")
    assert flags and all(names_layer(f.message, event.layer) for f in flags), flags
    first = flags[0]
    assert event.step <= first.step
    assert "per step (update RMS)" in first.message
    if run.optimizer == "lion":
        stated = float(re.search(r"about ([0-9.e+-]+)x too high", first.message).group(1))
        assert abs(stated / event.factor - 1) < 0.1
    else:
        assert "likely that much higher" in first.message
    assert of_kind(feed(run), "layer_grad_drift") == []


def with_step_sizes(factor: float, layer: int = 4):
    """`controlled` with update RMS: every layer moves by lr per weight (Lion), `layer` by
    `factor` x lr, its weights grown so that its update ratio stays in the band."""
    steps, names, stats, lr = controlled()
    stats["update_rms"] = lr[:, None] * np.ones((1, len(names)))
    stats["update_rms"][:, layer] *= factor
    return steps, names, stats, lr


def test_an_lr_scale_from_the_first_step_is_flagged_before_the_settling_period():
    steps, names, stats, lr = with_step_sizes(50.0)
    (flag,) = LayerDetectors().update(steps, names, stats, lr, optimizer="lion")
    assert flag.kind == "update_ratio" and names_layer(flag.message, "layer4")
    assert flag.step < 1000 and flag.start_step == 0
    assert "about 50x too high" in flag.message
    assert "an lr of 0.0001 would bring it in line" in flag.message
    assert "each weight moves by 0.005 per step" in flag.message


@pytest.mark.parametrize("factor", [0.02, 3.0, 8.0])
def test_smaller_or_moderately_larger_steps_are_not_flagged(factor):
    steps, names, stats, lr = with_step_sizes(factor)
    assert LayerDetectors().update(steps, names, stats, lr, optimizer="lion") == []


@pytest.mark.parametrize("label", ["drift_up", "step_high"])
def test_splits_and_restarts_give_the_same_flags_for_each_check(label):
    run = planted(label, 5)
    whole = feed(run, sizes=len(run.steps))
    assert whole
    rng = np.random.default_rng(6)
    sizes = [int(s) for s in rng.choice([1, 3, 8, 9, 64, 333], 4000)]
    restarts = {int(i) for i in rng.choice(200, 8)}
    assert feed(run, sizes, restart_after=restarts) == whole


def test_a_state_saved_before_update_rms_existed_resumes():
    run = planted("step_high", 1)
    half = len(run.steps) // 2
    det = LayerDetectors()
    old = {k: v[:half] for k, v in run.stats.items() if k != "update_rms"}
    det.update(run.steps[:half], run.names, old, run.lr[:half], run.optimizer)
    state = json.loads(json.dumps(det.state_dict(), allow_nan=False))
    for key in ("step", "step_blocks_done", "step_last_start"):
        del state[key]
    del state["partial"]["update_rms"]
    state["version"] = 1
    again = LayerDetectors.from_state(state)
    rest = again.update(
        run.steps[half:], run.names, {k: v[half:] for k, v in run.stats.items()}, run.lr[half:]
    )
    (event,) = run.events
    assert any(names_layer(f.message, event.layer) for f in of_kind(rest, "update_ratio"))
