"""`lionlab sweep` and the demo sweep as a user runs them, against a real server."""

import os
import subprocess
import sys

import pytest
from support.live import start_server

from lionlab.demo import demo_sweep_spec
from lionlab.sweep_progress import progress_line
from lionlab.sweeps import expand, parse_spec

GOOD = """\
name: cli-sweep
base: {task: char_lm, steps: 40, eval_interval: 20, device: cpu}
optimizers: [adamw, lion]
seeds: 1
space:
  adamw:
    optimizer.lr: [1.0e-3]
limits: {max_parallel: 1}
"""
BAD = GOOD.replace("seeds: 1", "seeds: 0")


def _sweep(env, *args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "lionlab", "sweep", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.slow
def test_lionlab_sweep_submits_a_spec_and_refuses_a_bad_one(tmp_path):
    server = start_server(tmp_path / "data")
    try:
        env = {**os.environ, "LIONLAB_API_URL": server.url, "LIONLAB_API_TOKEN": server.token}
        spec = tmp_path / "sweep.yaml"
        spec.write_text(GOOD)
        out = _sweep(env, str(spec), "--project", "cli", "--no-follow")
        assert out.returncode == 0, out.stderr
        assert "sweep 1 (cli-sweep): 3 trials, 1 at a time" in out.stdout
        assert f"{server.url}/sweeps/1" in out.stdout
        bad = _sweep(env, "-", "--no-follow", stdin=BAD)
        assert bad.returncode == 2
        assert "seeds" in bad.stderr and "refused" in bad.stderr
    finally:
        server.stop()


def _trial(status, steps_run, planned=100):
    return {"status": status, "steps_run": steps_run, "planned_steps": planned}


def test_the_progress_bar_counts_trial_steps_and_ended_trials():
    sweep = {
        "trials": [
            _trial("succeeded", 100),
            _trial("stopped_early", 30),
            _trial("running", 50),
            _trial("pending", 0),
        ],
        "counts": {"succeeded": 1, "stopped_early": 1, "running": 1, "pending": 1},
    }
    line = progress_line(sweep, 125)
    # 100 + 100 (a stopped trial's unrun steps count as done) + 50 of 400 trial-steps: 18 of 28
    assert line.startswith("[" + "#" * 18 + "." * 10 + "] 2/4 trials ended")
    assert "1 running" in line and "1 stopped early" in line and line.endswith("2m05s")
    assert "diverged" not in line


def test_the_demo_is_a_small_paired_sweep_with_a_planted_too_large_lr():
    spec = parse_spec(demo_sweep_spec())
    trials = expand(spec)
    assert spec.paired_active() and spec.seed_list() == [0, 1] and spec.asha is not None
    adamw = sorted({t.params["optimizer.lr"] for t in trials if t.optimizer == "adamw"})
    lion = sorted({t.params["optimizer.lr"] for t in trials if t.optimizer == "lion"})
    assert adamw == [1e-3, 3e-3, 1.0]
    # Lion = AdamW / 3 and / 10: smaller, never larger
    assert lion == pytest.approx(sorted(a / f for a in adamw for f in (3, 10)), rel=1e-9)
    assert len(trials) == 18
    assert all(t.job.stop_on_divergence for t in trials)
