"""ASHA: decisions on synthetic curves, arrival order, non-finite values, divergence, state."""

from __future__ import annotations

import json
import math

import pytest

from lionlab.sweeps import AshaDecider, expand, parse_spec


def _curve_value(quality: float, step: int) -> float:
    """Eval loss of a synthetic trial: better `quality` (lower) is lower at every step."""
    return 1.0 + quality + 3.0 / math.sqrt(step)


def test_the_reason_reads_like_the_documented_example():
    decider = AshaDecider([100, 400], eta=3)
    values = [1.9, 2.0, 2.05, 2.1, 2.2, 2.25, 2.3, 2.4]
    for t, v in enumerate(values):
        decider.decide(t, 400, v)
    d = decider.decide(8, 400, 2.31)
    assert d.stopped and d.cutoff == 2.05 and d.reports == 9
    assert (
        d.reason
        == "stopped at step 400: rung 1, eval loss 2.31 > top 1/3 (cutoff 2.05 over 9 trials)"
    )


def test_a_rung_stops_nothing_until_it_has_eta_results():
    decider = AshaDecider([100], eta=3)
    first, second = decider.decide(0, 100, 5.0), decider.decide(1, 100, 9.0)
    assert first.action == second.action == "continue"
    assert "2 of the 3 results" in second.reason
    assert decider.decide(2, 100, 7.0).stopped  # 3 results: only the best (5.0) goes on


def test_synthetic_curves_keep_the_best_third_when_results_arrive_in_order():
    decider = AshaDecider([100, 300], eta=3, min_reports=1)
    qualities = [0.1 * q for q in range(9)]  # trial t has quality 0.1 t: trial 0 is best
    decisions = [decider.decide(t, 100, _curve_value(q, 100)) for t, q in enumerate(qualities)]
    # best-first arrival: trial t continues while it is within the top max(1, (t+1)//3)
    assert [d.action for d in decisions] == [
        "continue",
        "stop",
        "stop",
        "stop",
        "stop",
        "stop",
        "stop",
        "stop",
        "stop",
    ]


def test_worst_first_arrival_lets_early_trials_through():
    # Asynchronous: a trial is judged against the results so far, so arrival order matters
    decider = AshaDecider([100], eta=3, min_reports=1)
    order = list(reversed(range(9)))
    actions = {t: decider.decide(t, 100, _curve_value(0.1 * t, 100)).action for t in order}
    assert all(a == "continue" for a in actions.values())


def test_interleaved_arrival_across_rungs():
    decider = AshaDecider([100, 300], eta=3)
    q = {t: 0.1 * t for t in range(5)}
    for t in (3, 4):  # weaker trials reach rung 0 first: too few results to stop them
        assert decider.decide(t, 100, _curve_value(q[t], 100)).action == "continue"
    assert decider.decide(3, 300, _curve_value(q[3], 300)).action == "continue"  # rung 1: 1 result
    assert decider.decide(0, 100, _curve_value(q[0], 100)).action == "continue"  # best at rung 0
    assert decider.decide(0, 300, _curve_value(q[0], 300)).action == "continue"
    # rung 1 now holds trials 3 and 0; trial 4 makes 3: only the best (trial 0) stays in the top
    late = decider.decide(4, 300, _curve_value(q[4], 300))
    assert late.stopped and late.rung == 1 and late.reports == 3
    assert late.cutoff == pytest.approx(_curve_value(q[0], 300))


def test_same_inputs_in_the_same_order_give_the_same_decisions():
    def run() -> list[str]:
        decider = AshaDecider([100, 300], eta=2)
        reports = [(t, 100, 3.0 - 0.1 * t) for t in range(6)] + [
            (t, 300, 2.0 + t) for t in range(6)
        ]
        return [decider.decide(*r).reason for r in reports]

    assert run() == run()


def test_non_finite_values_are_the_worst_and_stop():
    decider = AshaDecider([100], eta=3)
    for t, v in enumerate([float("nan"), float("inf"), float("-inf")]):
        d = decider.decide(t, 100, v)
        assert d.stopped and "not finite" in d.reason
    assert decider.results_at(0) == {0: math.inf, 1: math.inf, 2: math.inf}
    assert decider.decide(3, 100, 10.0).action == "continue"  # better than all three


def test_a_diverged_trial_counts_as_worst_at_the_rung_it_was_heading_for():
    decider = AshaDecider([100, 300], eta=3)
    d = decider.diverged(7, step=150)
    assert d.stopped and d.rung == 1 and "diverged" in d.reason
    assert decider.results_at(1) == {7: math.inf}
    assert decider.decide(7, 300, 1.0) is d  # a late report changes nothing
    assert decider.diverged(8, step=5000).rung is None


def test_reports_are_idempotent_and_stops_are_final():
    decider = AshaDecider([100, 300], eta=3)
    for t, v in enumerate([1.0, 2.0, 3.0]):
        decider.decide(t, 100, v)
    stop = decider.stop_decision(2)
    assert stop is not None
    assert decider.decide(2, 100, 0.5) is stop  # retried report with another value
    assert decider.decide(2, 300, 0.1) is stop
    again = decider.decide(0, 100, 9.9)
    assert again.value == 1.0 and len(decider.decisions()) == 3


def test_report_ignores_steps_between_rungs_and_decide_refuses_them():
    decider = AshaDecider([100, 300])
    assert decider.report(0, 150, 1.0) is None
    assert decider.report(0, 100, 1.0) is not None
    with pytest.raises(ValueError, match="not a rung"):
        decider.decide(0, 150, 1.0)


def test_state_round_trips_through_json_and_decides_the_same_afterwards():
    decider = AshaDecider(
        [100, 300], eta=3, brackets={0: "adamw", 1: "adamw", 2: "adamw", 3: "lion"}
    )
    decider.decide(0, 100, 2.0)
    decider.decide(1, 100, float("nan"))
    decider.diverged(3, 120)
    state = json.loads(json.dumps(decider.state_dict()))
    restored = AshaDecider.from_state(state)
    assert restored.state_dict() == decider.state_dict()
    assert restored.decide(2, 100, 2.5).reason == decider.decide(2, 100, 2.5).reason
    assert restored.results_at(0, "adamw") == decider.results_at(0, "adamw")


def test_brackets_per_optimizer_keep_one_optimizer_from_stopping_the_other():
    spec = parse_spec(
        {
            "name": "s",
            "base": {"steps": 900},
            "seeds": 1,
            "space": {"adamw": {"optimizer.lr": [1e-3, 2e-3, 3e-3]}},
            "asha": {"min_steps": 100},
        }
    )
    trials = expand(spec)
    decider = AshaDecider.from_spec(spec, trials)
    assert decider.rungs == (100, 300)
    adamw = [t.index for t in trials if t.optimizer == "adamw"]
    lion = [t.index for t in trials if t.optimizer == "lion"]
    for i in adamw:
        decider.decide(i, 100, 1.0 + 0.01 * i)  # AdamW starts much faster
    # Lion's trials compete among themselves: its first ones go on however AdamW did
    assert [decider.decide(i, 100, 5.0 - 0.01 * i).action for i in lion] == ["continue"] * 6
    shared = AshaDecider(decider.rungs, eta=3)
    for i in adamw:
        shared.decide(i, 100, 1.0 + 0.01 * i)
    assert shared.decide(lion[0], 100, 5.0).stopped


def test_default_brackets_are_per_optimizer_and_seed():
    spec = parse_spec(
        {
            "name": "s",
            "base": {"steps": 900},
            "seeds": 2,
            "optimizers": ["adamw"],
            "space": {"adamw": {"optimizer.lr": [1e-3, 2e-3, 3e-3]}},
            "asha": {"min_steps": 100},
        }
    )
    trials = expand(spec)
    seed0 = [t.index for t in trials if t.seed == 0]
    seed1 = [t.index for t in trials if t.seed == 1]
    losses = {
        **dict(zip(seed0, (2.0, 2.5, 3.0), strict=True)),
        **dict(zip(seed1, (1.0, 1.2, 1.4), strict=True)),
    }  # seed 1: a luckier init

    def seed1_actions(decider: AshaDecider) -> list[str]:
        for i in seed0:
            decider.decide(i, 100, losses[i])
        return [decider.decide(i, 100, losses[i]).action for i in seed1]

    # against its own seed, seed 1's configurations are ranked as seed 0's were
    per_seed = AshaDecider.from_spec(spec, trials)
    assert seed1_actions(per_seed) == ["continue", "continue", "stop"]
    # pooled, the ranking mixes seeds: seed 1's second configuration is stopped
    pooled_spec = spec.model_copy(
        update={"asha": spec.asha.model_copy(update={"bracket": "optimizer"})}
    )
    pooled = AshaDecider.from_spec(pooled_spec, trials)
    assert seed1_actions(pooled) == ["continue", "stop", "stop"]
