"""What the fault tests assert after a fault: every logged point stored once, nothing stuck.

Stored points are read back through the API only (GET /runs/{id}/metrics and /series), the
way a user would see them. A series' `wall_time` is when the server stored each point, which
tells the writes of two attempts of a job apart.
"""

from __future__ import annotations

from support import sdk_logger
from support.stack import Stack

# Keys the char_lm job logs at every step (eval_loss only every eval_interval steps).
STEP_KEYS = {
    "train_loss",
    "grad_norm",
    "lr",
    "update_rms",
    "param_norm",
    "step_time",
    "samples_per_s",
}
EVAL_INTERVAL = 20
CHECKPOINT_INTERVAL = 10
MAX_POINTS = 100_000  # the API's bound; every run these tests write is shorter, so read raw


def char_lm_job(steps: int, optimizer: str = "adamw", **extra) -> dict:
    """The smallest char_lm job that still checkpoints and evaluates (a few steps a second)."""
    return {
        "task": "char_lm",
        "steps": steps,
        "batch_size": 4,
        "eval_interval": EVAL_INTERVAL,
        "checkpoint_interval": CHECKPOINT_INTERVAL,
        "device": "cpu",
        "optimizer": {"name": optimizer},
        **extra,
    }


def raw_series(stack: Stack, run_id: int, key: str) -> dict:
    r = stack.api("GET", "/series", params={"run": run_id, "key": key, "max_points": MAX_POINTS})
    assert r.status_code == 200, r.text
    (series,) = r.json()["series"]
    assert not series["downsampled"], series["points_in_range"]
    return series


def last_step(stack: Stack, run_id: int, key: str = "train_loss") -> int:
    return (stack.summaries(run_id).get(key) or {}).get("last_step") or 0


def assert_job_stored_once(stack: Stack, run_id: int, steps: int) -> None:
    """Every per-step key of a char_lm job holds steps 1..`steps`, each once; eval too."""
    summaries = stack.summaries(run_id)
    assert set(summaries) >= STEP_KEYS | {"eval_loss"}, sorted(summaries)
    for key in STEP_KEYS:
        s = summaries[key]
        assert (s["count"], s["first_step"], s["last_step"]) == (steps, 1, steps), (key, s)
        assert raw_series(stack, run_id, key)["steps"] == list(range(1, steps + 1)), key
    evals = sorted({*range(EVAL_INTERVAL, steps + 1, EVAL_INTERVAL), steps})
    assert raw_series(stack, run_id, "eval_loss")["steps"] == evals


def assert_script_stored_once(stack: Stack, run_id: int, steps: int) -> None:
    """The SDK script's run holds exactly what `sdk_logger` logged: same steps, same values."""
    summaries = stack.summaries(run_id)
    expected = sdk_logger.logged(steps)
    assert set(summaries) == set(expected)
    for key, (want_steps, want_values) in expected.items():
        assert summaries[key]["count"] == len(want_steps), (key, summaries[key])
        series = raw_series(stack, run_id, key)
        assert series["steps"] == want_steps, key
        assert series["values"] == want_values, key


def worker_pid(run: dict) -> int:
    """The process id of the worker that holds (or last held) the run."""
    return int(run["worker"].split(":")[1])  # worker names are host:pid:device


def assert_ended(run: dict, status: str = "succeeded") -> None:
    """The run reached `status`, an end status, with its end time set."""
    assert run["status"] == status, run
    assert run["finished_at"], run


def resumed_from(stack: Stack, run_id: int, fault_at: float) -> int:
    """The step after which a retried job's second attempt wrote every point.

    Points stored before the fault (time.time() `fault_at`) are the first attempt's; each key
    must hold the first attempt's points up to one step and only the second's after it, so no
    step of the second attempt's range keeps a point from the first (or, later, a stale one).
    """
    boundaries = set()
    for key in STEP_KEYS:
        series = raw_series(stack, run_id, key)
        points = list(zip(series["steps"], series["wall_time"], strict=True))
        before = [step for step, stored_at in points if stored_at < fault_at]
        after = [step for step, stored_at in points if stored_at >= fault_at]
        assert not before or not after or max(before) < min(after), (key, before, after)
        boundaries.add(max(before, default=0))
    assert len(boundaries) == 1, boundaries  # one checkpoint for every key
    return boundaries.pop()
