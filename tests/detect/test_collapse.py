"""mode_collapse inside OnlineDetectors, and the version-2 state that carries it."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lionlab.detect import OnlineDetectors, analyze, summarize
from lionlab.detect.synthetic_layers import generative_run


def gen(category: str, seed: int = 0):
    return generative_run(np.random.default_rng([81, seed]), f"{category}-{seed}", category)


def collapses(flags):
    return [f for f in flags if f.kind == "mode_collapse"]


def flags_of(run):
    return analyze(run.steps, run.metrics)


def test_a_collapse_is_flagged_once_while_the_loss_falls():
    for seed in range(4):
        run = gen("collapse", seed)
        (event,) = run.events
        (flag,) = collapses(flags_of(run))
        assert event.step <= flag.step <= event.step + 12 * 1000
        assert flag.start_step >= event.step and flag.severity == "warning"
        assert "diversity fell" in flag.message
        assert "entropy" in flag.message or "distinct-n" in flag.message
    assert summarize([flag])["mode_collapse"]


@pytest.mark.parametrize("seed", range(6))
def test_healthy_generative_runs_are_quiet(seed):
    run = gen("healthy", seed)
    assert collapses(flags_of(run)) == []


def test_a_fall_of_diversity_with_a_rising_loss_is_not_a_collapse():
    for seed in range(4):
        assert collapses(flags_of(gen("loss_rise", seed))) == []


def controlled(n: int = 40_000, every: int = 500):
    """Loss falling slowly, entropy tracking it, distinct-n flat, at evals every `every`."""
    rng = np.random.default_rng(3)
    t = np.arange(n)
    loss = 3.0 * (1 + t / 2000) ** -0.2 * np.exp(0.03 * rng.normal(size=n))
    entropy, distinct = np.full(n, np.nan), np.full(n, np.nan)
    evals = t[every::every]
    entropy[evals] = loss[evals] * np.exp(0.03 * rng.normal(size=len(evals)))
    distinct[evals] = 0.8 * np.exp(0.03 * rng.normal(size=len(evals)))
    return t, {"loss": loss, "entropy": entropy, "distinct": distinct}


def test_entropy_falling_with_the_loss_is_learning_not_collapse():
    steps, metrics = controlled()
    metrics["loss"] *= np.exp(-0.8 * steps / len(steps))  # a much faster fall: both together
    metrics["entropy"] *= np.exp(-0.8 * steps / len(steps))
    assert analyze(steps, metrics) == []


def test_distinct_n_alone_can_flag_and_entropy_alone_can_flag():
    for key, factor in (("distinct", 0.4), ("entropy", 0.3)):
        steps, metrics = controlled()
        metrics[key][20_000:] *= factor
        other = "entropy" if key == "distinct" else "distinct"
        del metrics[other]
        (flag,) = analyze(steps, metrics)
        assert flag.kind == "mode_collapse" and 20_000 < flag.step <= 22_000
        assert ("distinct-n" if key == "distinct" else "entropy ") in flag.message


def test_off_without_a_diversity_metric(curves, run_of):
    run = run_of(curves(5, 30_000))
    det = OnlineDetectors()
    det.update(run.steps[:1000], {k: v[:1000] for k, v in run.metrics.items()})
    before = json.dumps(det.state_dict()["collapse"])
    flags = det.update(run.steps[1000:], {k: v[1000:] for k, v in run.metrics.items()})
    after = det.state_dict()["collapse"]
    assert collapses(flags) == []
    assert len(json.dumps(after)) <= len(before) + 30  # one number changes, nothing grows
    assert after["evals"] == 0 and after["buffers"] == {"entropy": [], "distinct": [], "loss": []}


def test_masked_and_none_columns_mark_evals():
    steps, metrics = controlled()
    metrics["entropy"][20_000:] *= 0.3
    plain = analyze(steps, metrics)
    masked = {**metrics, "entropy": np.ma.masked_invalid(metrics["entropy"])}
    listed = {**metrics, "distinct": [None if math.isnan(x) else x for x in metrics["distinct"]]}
    assert collapses(plain) and analyze(steps, masked) == plain == analyze(steps, listed)


def test_any_split_and_restart_give_the_same_flags(feed):
    run = gen("collapse", 5)
    whole = flags_of(run)
    assert collapses(whole)
    rng = np.random.default_rng(2)
    sizes = [int(s) for s in rng.choice([1, 3, 16, 250, 999, 4096], 400)]
    assert feed(run.steps, run.metrics, sizes) == whole
    assert feed(run.steps, run.metrics, sizes, restart_after={3, 50, 90, 200}) == whole


def version_1(state: dict) -> dict:
    """What a state saved before the mode-collapse detector existed looks like."""
    old = {k: v for k, v in state.items() if k != "collapse"}
    old["config"] = {k: v for k, v in state["config"].items() if k != "collapse"}
    old["version"] = 1
    return old


def test_a_version_1_state_still_loads_and_resumes(curves, run_of):
    c = curves(46, 30_000)
    c.log_grad[18_000:] += math.log(2)
    run = run_of(c)
    det = OnlineDetectors()
    first = det.update(run.steps[:10_000], {k: v[:10_000] for k, v in run.metrics.items()})
    state = version_1(json.loads(json.dumps(det.state_dict(), allow_nan=False)))
    resumed = OnlineDetectors.from_state(state)
    assert resumed.state_dict()["version"] == 2
    rest = resumed.update(run.steps[10_000:], {k: v[10_000:] for k, v in run.metrics.items()})
    assert first + rest == flags_of(run) and [f.kind for f in rest] == ["grad_norm_drift"]


def test_a_version_1_state_then_gets_a_fresh_collapse_detector():
    run = gen("collapse", 1)
    det = OnlineDetectors()
    det.update(run.steps[:100], {k: v[:100] for k, v in run.metrics.items()})
    resumed = OnlineDetectors.from_state(version_1(det.state_dict()))
    flags = resumed.update(run.steps[100:], {k: v[100:] for k, v in run.metrics.items()})
    assert collapses(flags) == collapses(flags_of(run))


def test_unknown_versions_are_refused():
    with pytest.raises(ValueError, match="version"):
        OnlineDetectors.from_state({**OnlineDetectors().state_dict(), "version": 3})
