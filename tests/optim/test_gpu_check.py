"""bench/gpu_check.py on the CPU: it runs what it can, names what it skipped, and its JSON holds
figures it measured (the sizes given on the command line, losses of a real run)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("triton")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data_dir = tmp_path_factory.mktemp("data")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in ("", "backend", "worker")),
        "LIONLAB_DATA_DIR": str(data_dir),  # the CPU kernel's build cache
    }
    env.pop("TRITON_INTERPRET", None)  # the script must set it itself
    proc = subprocess.run(
        [
            sys.executable,
            "bench/gpu_check.py",
            "--cpu",
            "--train-steps",
            "3",
            "--resume-steps",
            "4",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout)


def test_names_what_ran_and_what_was_skipped(report: dict) -> None:
    assert report["device"]["cuda"] is False
    assert report["failed"] == {}
    assert set(report["skipped"]) == {"bandwidth"}
    assert "no CUDA" in report["skipped"]["bandwidth"]
    for part in ("lion_kernel", "training", "resume"):
        assert part in report and report[part]["checks"]
    assert "bandwidth" not in report
    assert report["ok"] is True and report["checks"] and all(report["checks"].values())
    assert report["complete"] is False


def test_kernel_is_bit_exact_in_the_interpreter(report: dict) -> None:
    kernel = report["lion_kernel"]
    assert kernel["interpreted"] is True
    assert report["checks"]["lion_kernel.bit_exact"] is True
    assert set(kernel["cases"]) == {"fp32", "bf16", "bf16_stochastic", "fp16"}
    for case in kernel["cases"].values():
        assert case["elements"] == sum(kernel["numels"]) > 0
        assert case["vs_device_reference"] == case["vs_cpu_reference"] == 0


def test_training_figures_come_from_the_runs(report: dict) -> None:
    training = report["training"]
    assert training["steps"] == 3 and training["lion_path"] == "cpu"
    runs = training["runs"]
    assert set(runs) == {"lion_fp32", "lion_bf16", "adamw_fp32", "adamw_bf16"}
    for name, run in runs.items():
        assert run["steps_done"] == 3 and run["completed"] and run["loss_finite"]
        assert run["precision"] == name.split("_")[1] and run["device"] == "cpu"
        # an untrained char LM scores about ln(128) = 4.85 nats over its ASCII vocabulary
        assert 3.5 < run["first_loss"] < 6.0 and math.isfinite(run["final_eval_loss"])
        assert run["steps_per_s"] > 0 and math.isclose(
            run["tokens_per_s"], run["steps_per_s"] * training["tokens_per_step"]
        )
    # same seed and batches: the optimizers differ after the first step, autocast from the start
    assert runs["lion_fp32"]["first_loss"] == runs["adamw_fp32"]["first_loss"]
    assert runs["lion_fp32"]["final_loss"] != runs["adamw_fp32"]["final_loss"]
    assert runs["lion_fp32"]["first_loss"] != runs["lion_bf16"]["first_loss"]


def test_resume_continues_bit_identically_and_the_rng_matters(report: dict) -> None:
    resume = report["resume"]
    assert resume["steps"] == 4 and resume["resumed_from"] == 2
    assert resume["dropout"] > 0 and resume["rng_generator"] == "torch"
    assert resume["checkpoint_tensors_compared"] > 0
    assert all(resume["checks"].values()), resume["checks"]
    assert set(resume["checks"]) >= {"resume_bit_identical", "rng_state_matters"}
