"""The training loop: one batch per step, metrics every step, evaluation, checkpoints, stops."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from lionlab.jobs import JobSpec
from lionlab_worker.training.checkpoint import CheckpointStore
from lionlab_worker.training.device import autocast
from lionlab_worker.training.norms import UpdateTracker, grad_norms_and_clip
from lionlab_worker.training.schedule import lr_at
from lionlab_worker.training.sink import EVAL_METRIC, STOP_DIVERGED, RunSink
from lionlab_worker.training.task import Batch, TrainingTask, move_to_device

log = logging.getLogger("lionlab.worker")

POLL_EVERY_STEPS = 2  # ask the sink whether to stop at least this often...
POLL_EVERY_S = 0.5  # ...and at least this often in seconds (checked between steps)


class StopPoller:
    """Asks `sink.should_stop()` every few steps or every ~0.5 s, whichever comes first."""

    def __init__(self, sink: RunSink) -> None:
        self.sink = sink
        self.last_step: int | None = None
        self.last_time = 0.0

    def check(self, step: int) -> str | None:
        now = time.monotonic()
        due = (
            self.last_step is None
            or step - self.last_step >= POLL_EVERY_STEPS
            or now - self.last_time >= POLL_EVERY_S
        )
        if not due:
            return None
        self.last_step, self.last_time = step, now
        return self.sink.should_stop()


@dataclass
class Outcome:
    """Where the loop got to."""

    steps_done: int
    stop_reason: str | None = None
    train_loss: float | None = None
    eval_loss: float | None = None


@dataclass
class TrainingLoop:
    spec: JobSpec
    sink: RunSink
    task: TrainingTask
    model: nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    precision: str
    checkpoints: CheckpointStore
    params: list[nn.Parameter] = field(init=False)
    tracker: UpdateTracker = field(init=False)
    layer_names: list[str] = field(init=False)
    layer_sizes: torch.Tensor = field(init=False)  # elements per tensor (host, float64)

    def __post_init__(self) -> None:
        self.params = [p for group in self.optimizer.param_groups for p in group["params"]]
        self.tracker = UpdateTracker(self.params)
        names = {id(p): n for n, p in self.model.named_parameters()}
        self.layer_names = [names.get(id(p), f"param_{i}") for i, p in enumerate(self.params)]
        sizes = [float(p.numel()) for p in self.params]
        self.layer_sizes = torch.tensor(sizes, dtype=torch.float64)

    def run(self, outcome: Outcome) -> Outcome:
        """Train from step outcome.steps_done + 1 to spec.steps, unless told to stop."""
        spec, poller = self.spec, StopPoller(self.sink)
        batches = self.task.train_batches(outcome.steps_done)
        self.model.train()
        for step in range(outcome.steps_done + 1, spec.steps + 1):
            outcome.stop_reason = poller.check(step)
            if outcome.stop_reason:
                return outcome
            metrics = self.train_step(step, batches)
            if step % spec.eval_interval == 0 or step == spec.steps:
                outcome.eval_loss = self.evaluate()
                if outcome.eval_loss is not None:
                    metrics[EVAL_METRIC] = outcome.eval_loss
                metrics.update(self.diversity(step))
            self.sink.log(metrics, step)
            outcome.steps_done, outcome.train_loss = step, metrics["train_loss"]
            if spec.stop_on_divergence and not math.isfinite(metrics["train_loss"]):
                outcome.stop_reason = STOP_DIVERGED
                return outcome
            if spec.checkpoint_interval and (
                step % spec.checkpoint_interval == 0 or step == spec.steps
            ):
                self.checkpoint(outcome)
        return outcome

    def train_step(self, step: int, batches: Iterator[Batch]) -> dict[str, float]:
        """One update on the next batch; returns the step metrics (one device sync)."""
        t0 = time.perf_counter()
        lr = lr_at(step, self.spec.optimizer.lr, self.spec.steps, self.spec.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        batch = move_to_device(next(batches), self.device)
        with autocast(self.device, self.precision):
            loss = self.task.loss(self.model, batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm, grad_norms = grad_norms_and_clip(self.params, self.spec.grad_clip)
        self.tracker.snapshot()
        self.optimizer.step()
        update_rms, param_norm, update_norms, param_norms = self.tracker.update_and_param_norms()
        scalars = torch.stack([loss.detach().float(), grad_norm, update_rms, param_norm])
        every = self.spec.layer_stats_every
        if every and step % every == 0:  # the per-layer norms travel in the same transfer
            host = torch.cat([scalars, grad_norms, update_norms, param_norms]).cpu()
            train_loss, grad_norm_v, update_rms_v, param_norm_v = host[:4].tolist()
            self._log_layers(step, host[4:].view(3, -1))
        else:
            train_loss, grad_norm_v, update_rms_v, param_norm_v = scalars.tolist()
        step_time = time.perf_counter() - t0
        return {
            "train_loss": train_loss,
            "grad_norm": grad_norm_v,
            "lr": lr,
            "update_rms": update_rms_v,
            "param_norm": param_norm_v,
            "step_time": step_time,
            "samples_per_s": self.spec.batch_size / step_time,
        }

    def _log_layers(self, step: int, norms: torch.Tensor) -> None:
        """Each parameter tensor's gradient norm (before clipping), parameter norm,
        update-to-weight ratio ||new - old|| / ||new|| (NaN for an all-zero tensor) and
        update RMS ||new - old|| / sqrt(numel) (with Lion: the lr the tensor trains at)."""
        grad, update, param = norms
        ratio = torch.where(param > 0, update / param, torch.full_like(param, math.nan))
        rms = update.double() / self.layer_sizes.sqrt()
        stats = {"grad_norm": grad, "param_norm": param, "update_ratio": ratio, "update_rms": rms}
        self.sink.log_layers(step, self.layer_names, {k: v.tolist() for k, v in stats.items()})

    @torch.no_grad()
    def evaluate(self) -> float | None:
        """Mean loss over the task's evaluation batches (None when the task has none)."""
        if self.task.eval_batches is None:
            return None
        self.model.eval()
        losses: list[torch.Tensor] = []
        for batch in self.task.eval_batches():
            with autocast(self.device, self.precision):
                losses.append(self.task.loss(self.model, move_to_device(batch, self.device)))
        self.model.train()
        return torch.stack([loss.float() for loss in losses]).mean().item() if losses else None

    @torch.no_grad()
    def diversity(self, step: int) -> dict[str, float]:
        """The task's output-diversity metrics (generative tasks), at an evaluation."""
        measure = getattr(self.task, "diversity", None)  # user tasks may lack the field
        if measure is None:
            return {}
        self.model.eval()
        try:
            with autocast(self.device, self.precision):
                return measure(self.model, step // self.spec.eval_interval)
        finally:
            self.model.train()

    def checkpoint(self, outcome: Outcome) -> None:
        """Save a checkpoint of this step once its metrics are stored, else keep the last one."""
        if not self.sink.sync():
            log.warning(
                "metrics up to step %s not stored yet; checkpoint of that step skipped",
                outcome.steps_done,
            )
            return
        self.checkpoints.save(
            outcome.steps_done,
            self.model,
            self.optimizer,
            train_loss=outcome.train_loss,
            eval_loss=outcome.eval_loss,
        )
