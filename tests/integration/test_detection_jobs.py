"""Real jobs through the detectors: a far too large Lion lr diverges and is stopped; a tuned
AdamW run gets no divergence flag."""

import pytest
from support.stack import start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("detect") / "data")
    yield s
    s.stop()


def _job(optimizer: dict, steps: int, task: str = "char_lm", **extra) -> dict:
    return {
        "task": task,
        "steps": steps,
        "eval_interval": 50,
        "checkpoint_interval": 0,
        "device": "cpu",
        "seed": 1,
        "optimizer": optimizer,
        **extra,
    }


def _flags(stack, rid, kind):
    return [f for f in stack.api("GET", f"/runs/{rid}/flags").json() if f["kind"] == kind]


@pytest.mark.slow
def test_lion_with_a_far_too_large_lr_is_flagged_and_stopped(stack):
    steps = 2000
    optimizer = {"name": "lion", "lr": 1.0, "weight_decay": 0.0}
    rid = stack.submit(_job(optimizer, steps, stop_on_divergence=True, grad_clip=None))
    run = stack.wait_done(rid, timeout=240)
    assert run["status"] == "diverged", run
    (flag,) = _flags(stack, rid, "divergence")
    logged = stack.summaries(rid)["train_loss"]["last_step"]
    assert logged < steps  # stopped early, not trained to the end
    assert flag["step"] <= logged


@pytest.mark.slow
def test_a_tuned_adamw_run_gets_no_divergence_flag(stack):
    optimizer = {"name": "adamw", "lr": 1e-3, "weight_decay": 0.01}
    schedule = {"warmup_steps": 30, "decay": "cosine"}
    rid = stack.submit(_job(optimizer, 300, task="image_classifier", schedule=schedule))
    run = stack.wait_done(rid, timeout=240)
    assert run["status"] == "succeeded", run["error"]
    assert _flags(stack, rid, "divergence") == []
    assert stack.summaries(rid)["train_loss"]["count"] == 300
