"""Real jobs through the detectors: a far too large Lion lr diverges and is stopped; one
tensor's lr x100 is flagged naming it; a tuned AdamW run gets no flag."""

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
    for kind in ("layer_grad_drift", "update_ratio"):  # per-layer statistics were logged
        assert _flags(stack, rid, kind) == []
    assert stack.api("GET", f"/runs/{rid}/layers").json()["stats"]


@pytest.mark.slow
def test_one_tensors_lr_x100_is_flagged_naming_it(stack):
    """The built-in LM at Lion's defaults with one weight matrix's lr x100: its weights grow
    until its update ratio is back in the band, but its step per weight stays 100x."""
    name = "blocks.0.mlp.fc.weight"
    optimizer = {"name": "lion", "lr_scale": {name: 100.0}}
    rid = stack.submit(_job(optimizer, 260))
    run = stack.wait_done(rid, timeout=240)
    assert run["status"] == "succeeded", run["error"]
    (flag,) = _flags(stack, rid, "update_ratio")
    assert f"layer {name}:" in flag["message"] and "too high" in flag["message"], flag
    assert flag["step"] <= 260
