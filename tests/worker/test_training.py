"""run_training end to end on CPU: metrics, evaluation, determinism, resume, stops, user tasks."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from lionlab.jobs import JobSpec
from lionlab.settings import get_settings
from lionlab_worker.training import STEP_METRICS, TaskNotAllowedError, TrainResult, run_training
from lionlab_worker.training.checkpoint import CHECKPOINT_FILE, CheckpointMismatchError
from lionlab_worker.training.loop import POLL_EVERY_STEPS
from lionlab_worker.training.schedule import lr_at
from lionlab_worker.training.sink import DIVERSITY_METRICS

TIMING = {"step_time", "samples_per_s"}  # wall-clock metrics: differ between identical runs
DEMO = "worker_demo_tasks"  # tests/worker/worker_demo_tasks.py, importable from this folder
EVIL_MARKER = "LIONLAB_TEST_EVIL_TASK_IMPORTED"


class RecordingSink:
    """Keeps every logged point; says stop when `stop_when(self)` returns a reason."""

    def __init__(self, stop_when: Callable[[RecordingSink], str | None] | None = None) -> None:
        self.logged: list[tuple[int, dict[str, float]]] = []
        self.layers: list[tuple[int, list[str], dict[str, list[float]]]] = []
        self.stop_when = stop_when

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.logged.append((step, dict(metrics)))

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        self.layers.append((step, list(names), {k: list(v) for k, v in stats.items()}))

    def should_stop(self) -> str | None:
        return self.stop_when(self) if self.stop_when else None

    def sync(self) -> bool:
        return True  # every point is kept the moment it is logged

    @property
    def steps(self) -> list[int]:
        return [step for step, _ in self.logged]

    def series(self, key: str) -> list[tuple[int, float]]:
        return [(step, m[key]) for step, m in self.logged if key in m]

    def trajectory(self) -> list[tuple[int, dict[str, float]]]:
        """Everything logged except wall-clock timings."""
        return [(s, {k: v for k, v in m.items() if k not in TIMING}) for s, m in self.logged]


def spec_of(**fields) -> JobSpec:
    """A short, small-batch char LM job unless the fields say otherwise."""
    base = {"steps": 6, "batch_size": 8, "eval_interval": 3, "checkpoint_interval": 0}
    return JobSpec(**{**base, **fields})


def train(spec: JobSpec, folder: Path, sink: RecordingSink | None = None, **kw):
    sink = sink or RecordingSink()
    result = run_training(spec, sink, folder, **kw)
    return result, sink


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from threads, and spinning threads crawl on a busy shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def demo_tasks_importable(monkeypatch):
    """The user-task modules next to this file are importable as top-level modules."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))


def stop_after(steps: int, reason: str = "cancelled") -> Callable[[RecordingSink], str | None]:
    return lambda sink: reason if len(sink.logged) >= steps else None


TEST_LR = {"lion": 1e-3, "adamw": 3e-3, "adam": 3e-3, "sgd": 0.05}


@pytest.mark.parametrize("optimizer", sorted(TEST_LR))
@pytest.mark.parametrize(("task", "steps"), [("char_lm", 25), ("image_classifier", 40)])
def test_each_builtin_task_learns_with_each_optimizer(task, steps, optimizer, tmp_path):
    spec = spec_of(
        task=task,
        steps=steps,
        batch_size=16,
        eval_interval=steps,
        optimizer={"name": optimizer, "lr": TEST_LR[optimizer]},
    )
    result, sink = train(spec, tmp_path)
    losses = [loss for _, loss in sink.series("train_loss")]
    assert result.status == "completed" and result.steps_done == steps
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.2
    (_, eval_loss), *_ = sink.series("eval_loss")
    assert eval_loss == result.final_eval_loss < losses[0]


def test_every_step_logs_every_metric_and_eval_at_the_interval_and_end(tmp_path):
    result, sink = train(spec_of(steps=7, eval_interval=3), tmp_path)
    assert sink.steps == [1, 2, 3, 4, 5, 6, 7]
    for _, metrics in sink.logged:
        assert set(metrics) - {"eval_loss", *DIVERSITY_METRICS} == set(STEP_METRICS)
        assert all(isinstance(v, float) and math.isfinite(v) for v in metrics.values())
        assert metrics["step_time"] > 0 and metrics["grad_norm"] > 0 and metrics["param_norm"] > 0
        assert math.isclose(metrics["samples_per_s"], 8 / metrics["step_time"])
    assert [step for step, _ in sink.series("eval_loss")] == [3, 6, 7]
    # the char LM's output diversity at each evaluation: entropy below a uniform guess's,
    # distinct-2 a fraction
    for key in DIVERSITY_METRICS:
        assert [step for step, _ in sink.series(key)] == [3, 6, 7]
    assert all(0 < v < math.log(128) + 1e-6 for _, v in sink.series("eval_entropy"))
    assert all(0 < v <= 1 for _, v in sink.series("eval_distinct_2"))
    assert result == TrainResult(
        status="completed",
        stop_reason=None,
        steps_done=7,
        final_train_loss=sink.logged[-1][1]["train_loss"],
        final_eval_loss=sink.logged[-1][1]["eval_loss"],
        resumed_from=None,
        device="cpu",
        precision="fp32",
    )


def test_lr_follows_the_schedule_and_lion_moves_every_weight_by_lr(tmp_path):
    spec = spec_of(
        task="image_classifier",
        steps=8,
        optimizer={"name": "lion", "lr": 1e-3, "weight_decay": 0.0},
        schedule={"warmup_steps": 3, "decay": "linear", "min_lr_ratio": 0.5},
    )
    _, sink = train(spec, tmp_path)
    for step, metrics in sink.logged:
        lr = lr_at(step, 1e-3, 8, spec.schedule)
        assert metrics["lr"] == lr
        # sign updates: each coordinate moves by exactly lr (or 0 where the sign is 0)
        assert 0.9 * lr <= metrics["update_rms"] <= lr * (1 + 1e-4)
    assert sink.logged[0][1]["lr"] == pytest.approx(1e-3 / 3)
    assert sink.logged[-1][1]["lr"] == pytest.approx(0.5e-3)


def test_per_layer_statistics_add_up_to_the_global_ones_and_follow_lion(tmp_path):
    """Every layer_stats_every steps, one value per parameter tensor: the squares of the
    layer gradient norms sum to the global one's square; Lion moves each coordinate by lr,
    so a layer's update norm is lr * sqrt(numel) and its ratio that over its param norm."""
    spec = spec_of(
        steps=12,
        layer_stats_every=4,
        optimizer={"name": "lion", "lr": 1e-3, "weight_decay": 0.0},
        schedule={"warmup_steps": 0, "decay": "constant"},
    )
    _, sink = train(spec, tmp_path)
    assert [step for step, _, _ in sink.layers] == [4, 8, 12]
    from lionlab_worker.training.char_lm import GPT, PRESETS  # the task's own model

    sizes = {n: p.numel() for n, p in GPT(PRESETS[spec.model_size]).named_parameters()}
    for step, names, stats in sink.layers:
        assert sorted(names) == sorted(sizes) and set(stats) == {
            "grad_norm",
            "param_norm",
            "update_ratio",
            "update_rms",
        }
        metrics = dict(sink.logged)[step]
        grad = np.array(stats["grad_norm"])
        assert np.sqrt((grad**2).sum()) == pytest.approx(metrics["grad_norm"], rel=1e-4)
        param = np.array(stats["param_norm"])
        assert np.sqrt((param**2).sum()) == pytest.approx(metrics["param_norm"], rel=1e-4)
        update = np.array(stats["update_ratio"]) * param
        expected = 1e-3 * np.sqrt([sizes[n] for n in names])
        assert np.all(update <= expected * (1 + 1e-3)) and np.all(update >= 0.9 * expected)
        # update RMS per weight: Lion's lr, for every tensor
        rms = np.array(stats["update_rms"])
        np.testing.assert_allclose(rms, update / np.sqrt([sizes[n] for n in names]), rtol=1e-5)
        assert np.all(rms <= 1e-3 * (1 + 1e-3)) and np.all(rms >= 0.9e-3)
    off = spec_of(steps=4, layer_stats_every=0)
    assert train(off, tmp_path / "off")[1].layers == []


def test_lr_scale_multiplies_one_tensors_lr(tmp_path):
    name = "blocks.0.mlp.fc.weight"
    spec = spec_of(
        steps=4,
        layer_stats_every=2,
        optimizer={"name": "lion", "lr": 1e-4, "weight_decay": 0.0, "lr_scale": {name: 100.0}},
        schedule={"warmup_steps": 0, "decay": "constant"},
    )
    _, sink = train(spec, tmp_path)
    for _, names, stats in sink.layers:
        update = dict(
            zip(names, np.array(stats["update_ratio"]) * stats["param_norm"], strict=True)
        )
        other = "blocks.0.mlp.proj.weight"
        # Lion: ||update|| = lr * sqrt(numel); fc and proj hold as many weights, fc at 100x lr
        assert update[name] / update[other] == pytest.approx(100, rel=0.01)
        rms = dict(zip(names, stats["update_rms"], strict=True))
        assert rms[name] == pytest.approx(1e-2, rel=0.01)
        assert rms[other] == pytest.approx(1e-4, rel=0.01)
    with pytest.raises(ValueError, match="no parameter for"):
        train(spec_of(optimizer={"name": "lion", "lr_scale": {"nope": 2.0}}), tmp_path / "x")


@pytest.mark.parametrize("task", ["char_lm", "image_classifier"])
def test_same_spec_and_seed_give_the_same_trajectory(task, tmp_path):
    spec = spec_of(task=task, steps=5, eval_interval=2)
    _, first = train(spec, tmp_path / "a")
    _, second = train(spec, tmp_path / "b")
    _, other_seed = train(spec.model_copy(update={"seed": 1}), tmp_path / "c")
    assert first.trajectory() == second.trajectory()
    assert first.trajectory() != other_seed.trajectory()


def test_a_one_process_distributed_lion_job_is_lion_exactly(tmp_path):
    """With no process group the ranks' vote is this process's own sign: Lion's update, bit
    for bit (the fused CPU kernel on one side, DistributedLion's tensor code on the other)."""
    fields = {"steps": 6, "eval_interval": 3, "layer_stats_every": 2}
    lion = spec_of(**fields, optimizer={"name": "lion", "lr": 1e-3, "weight_decay": 0.3})
    dlion = spec_of(
        **fields, optimizer={"name": "distributed_lion", "lr": 1e-3, "weight_decay": 0.3}
    )
    assert dlion.optimizer.hparams() == {**lion.optimizer.hparams(), "vote": "majority"}
    _, a = train(lion, tmp_path / "lion")
    _, b = train(dlion, tmp_path / "dlion")
    assert a.trajectory() == b.trajectory() and a.layers == b.layers


@pytest.mark.parametrize(
    ("task", "optimizer"), [("char_lm", "lion"), ("image_classifier", "adamw")]
)
def test_resumed_run_continues_exactly_like_an_uninterrupted_one(task, optimizer, tmp_path):
    spec = spec_of(task=task, steps=10, checkpoint_interval=4, optimizer={"name": optimizer})
    _, whole = train(spec, tmp_path / "whole")

    stopped, first_try = train(spec, tmp_path / "retried", RecordingSink(stop_after(6)))
    assert stopped.status == "stopped" and 6 <= stopped.steps_done <= 6 + POLL_EVERY_STEPS
    assert (tmp_path / "retried" / CHECKPOINT_FILE).exists()

    result, retry = train(spec, tmp_path / "retried")
    assert result.resumed_from == 4
    assert retry.steps == list(range(5, 11))  # nothing before the checkpoint is logged again
    assert retry.trajectory() == whole.trajectory()[4:]
    assert result.final_eval_loss == whole.logged[-1][1]["eval_loss"]


class ServerSink(RecordingSink):
    """Like the worker's sink: a point is stored only once synced; the rest dies with a crash."""

    def __init__(self, stop_when=None, reachable: bool = True) -> None:
        super().__init__(stop_when)
        self.stored: list[int] = []
        self.reachable = reachable

    def sync(self) -> bool:
        if self.reachable:
            self.stored = self.steps
        return self.reachable


def test_a_checkpoint_never_gets_ahead_of_the_stored_metrics(tmp_path):
    spec = spec_of(steps=10, checkpoint_interval=4)
    crashed = ServerSink(stop_after(6))  # trains to ~6; the points after step 4 are never sent
    train(spec, tmp_path, crashed)
    result, retry = train(spec, tmp_path, ServerSink())
    assert result.resumed_from == 4
    assert sorted(crashed.stored + retry.stored) == list(range(1, 11))  # each step once


def test_no_checkpoint_is_saved_while_the_metrics_cannot_be_stored(tmp_path):
    spec = spec_of(steps=10, checkpoint_interval=4)
    train(spec, tmp_path, ServerSink(stop_after(6), reachable=False))
    assert not (tmp_path / CHECKPOINT_FILE).exists()
    result, retry = train(spec, tmp_path, ServerSink())
    assert result.resumed_from is None and retry.stored == list(range(1, 11))


def test_retrying_a_completed_run_trains_nothing(tmp_path):
    spec = spec_of(checkpoint_interval=4)  # 6 steps: checkpoints at 4 and at the end
    first, _ = train(spec, tmp_path)
    again, sink = train(spec, tmp_path)
    assert sink.logged == []
    assert again.status == "completed" and again.resumed_from == 6 and again.steps_done == 6
    assert (again.final_train_loss, again.final_eval_loss) == (
        first.final_train_loss,
        first.final_eval_loss,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_FILE]  # no temporary left


def test_a_checkpoint_made_for_another_spec_is_refused(tmp_path):
    train(spec_of(checkpoint_interval=2, steps=2), tmp_path)
    with pytest.raises(CheckpointMismatchError, match="optimizer"):
        train(spec_of(checkpoint_interval=2, steps=2, optimizer={"lr": 3e-4}), tmp_path)
    # operational fields may change between attempts
    result, _ = train(spec_of(checkpoint_interval=1, steps=2, eval_interval=1), tmp_path)
    assert result.resumed_from == 2


def test_stops_within_a_couple_of_steps_of_should_stop(tmp_path):
    result, sink = train(spec_of(steps=20), tmp_path, RecordingSink(stop_after(3)))
    assert result.status == "stopped" and result.stop_reason == "cancelled"
    assert 3 <= result.steps_done <= 3 + POLL_EVERY_STEPS
    assert sink.steps == list(range(1, result.steps_done + 1))
    assert not (tmp_path / CHECKPOINT_FILE).exists()  # checkpoints were off; nothing extra saved


def test_stop_before_the_first_step_trains_nothing(tmp_path):
    result, sink = train(spec_of(), tmp_path, RecordingSink(lambda _: "diverged"))
    assert (result.status, result.stop_reason, result.steps_done) == ("stopped", "diverged", 0)
    assert sink.logged == [] and result.final_train_loss is None


def user_spec(function: str, **fields) -> JobSpec:
    return spec_of(task="user", entrypoint=f"{DEMO}:{function}", **fields)


def test_allowed_user_task_trains(tmp_path):
    spec = user_spec("build_regression_task", steps=30, optimizer={"name": "adamw", "lr": 1e-2})
    result, sink = train(spec, tmp_path, allowed_task_modules=[DEMO])
    losses = [loss for _, loss in sink.series("train_loss")]
    assert result.status == "completed" and losses[-1] < losses[0] / 2
    assert [s for s, _ in sink.series("eval_loss")] == [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]


def test_allowlist_comes_from_settings_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("LIONLAB_ALLOWED_TASK_MODULES", f'["{DEMO}"]')
    get_settings.cache_clear()
    try:
        result, _ = train(user_spec("build_regression_task"), tmp_path)
    finally:
        get_settings.cache_clear()
    assert result.status == "completed"


@pytest.mark.parametrize("allowed", [[DEMO], [], ["worker_demo"]])
def test_disallowed_user_task_is_refused_before_import(allowed, tmp_path, monkeypatch):
    monkeypatch.delenv(EVIL_MARKER, raising=False)
    evil = f"{DEMO}_evil"  # starts with the allowed string, but is not inside that module path
    spec = spec_of(task="user", entrypoint=f"{evil}:build")
    with pytest.raises(TaskNotAllowedError, match="LIONLAB_ALLOWED_TASK_MODULES"):
        train(spec, tmp_path, allowed_task_modules=allowed)
    assert evil not in sys.modules and EVIL_MARKER not in os.environ


def test_the_evil_module_really_has_an_import_side_effect(monkeypatch):
    """Guards the test above: importing the module would have been detected."""
    monkeypatch.setenv(EVIL_MARKER, "0")  # restored (unset) after the test
    monkeypatch.delitem(sys.modules, f"{DEMO}_evil", raising=False)
    __import__(f"{DEMO}_evil")
    assert os.environ.get(EVIL_MARKER) == "1"
    monkeypatch.delitem(sys.modules, f"{DEMO}_evil")


def test_entrypoint_that_is_not_a_task_builder_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="no function"):
        train(user_spec("not_a_function"), tmp_path, allowed_task_modules=[DEMO])


def test_non_finite_loss_is_logged_and_training_goes_on(tmp_path):
    spec = user_spec("build_nan_task", steps=6)
    result, sink = train(spec, tmp_path, allowed_task_modules=[DEMO])
    assert result.status == "completed" and sink.steps == [1, 2, 3, 4, 5, 6]
    losses = dict(sink.series("train_loss"))
    assert all(math.isfinite(losses[s]) for s in (1, 2, 3))
    assert all(math.isnan(losses[s]) for s in (4, 5, 6))  # batch position 3 is step 4
    assert sink.series("eval_loss") == []  # the task has no evaluation


def test_stop_on_divergence_stops_at_the_first_non_finite_loss(tmp_path):
    spec = user_spec("build_nan_task", steps=6, stop_on_divergence=True)
    result, sink = train(spec, tmp_path, allowed_task_modules=[DEMO])
    assert (result.status, result.stop_reason, result.steps_done) == ("stopped", "diverged", 4)
    assert sink.steps == [1, 2, 3, 4] and math.isnan(sink.logged[-1][1]["train_loss"])


def test_bf16_autocast_runs_on_cpu(tmp_path):
    # a user task keeps this fast: this CPU emulates bf16 matmuls (about 10x slower than fp32)
    fp32 = user_spec("build_regression_task", steps=3)
    bf16 = fp32.model_copy(update={"precision": "bf16"})
    _, fp32_sink = train(fp32, tmp_path / "fp32", allowed_task_modules=[DEMO])
    result, sink = train(bf16, tmp_path / "bf16", allowed_task_modules=[DEMO])
    assert result.precision == "bf16" and result.status == "completed"
    losses = [loss for _, loss in sink.series("train_loss")]
    assert all(math.isfinite(loss) for loss in losses)
    assert losses != [loss for _, loss in fp32_sink.series("train_loss")]  # autocast was on


def test_explicit_device_argument_overrides_the_spec_and_threads_are_left_alone(tmp_path):
    threads = torch.get_num_threads()
    result, _ = train(spec_of(steps=1, device="auto"), tmp_path, device="cpu")
    assert result.device == "cpu"
    assert torch.get_num_threads() == threads
