"""What a training run reports to and hears from its caller, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

# Logged at every step, in one `RunSink.log` call per step.
STEP_METRICS = (
    "train_loss",  # loss of this step's batch, before the update
    "grad_norm",  # global L2 norm of the gradient, before clipping
    "lr",  # learning rate this step's update used
    "update_rms",  # RMS over all parameters of (new - old) parameter values
    "param_norm",  # global L2 norm of the parameters after the update
    "step_time",  # seconds: batch, forward, backward, update and these metrics
    "samples_per_s",  # batch_size / step_time
)
# Added to the same call every `eval_interval` steps and at the last step.
EVAL_METRIC = "eval_loss"
# ...with, for generative tasks (the char LM), the diversity the mode_collapse detector reads.
DIVERSITY_METRICS = ("eval_entropy", "eval_distinct_2")

STOP_DIVERGED = "diverged"


class RunSink(Protocol):
    """Where a run's metrics go and where it learns it should stop."""

    def log(self, metrics: dict[str, float], step: int) -> None:
        """Record metrics of `step` (1-based: the step-th update); buffered, so cheap."""
        ...

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        """Record per-layer statistics of `step` (grad_norm, param_norm, update_ratio,
        update_rms: one value per name); every JobSpec.layer_stats_every steps; buffered, so
        cheap."""
        ...

    def should_stop(self) -> str | None:
        """A stop reason ("cancelled", "diverged", ...) or None; polled every few steps."""
        ...

    def sync(self) -> bool:
        """Wait until every point logged so far is stored; False if that could not be done.

        Called before each checkpoint: a resumed run logs only the steps after its checkpoint,
        so a checkpoint must never get ahead of the stored metrics. On False the loop keeps the
        previous checkpoint (its later steps are still buffered and will be logged again).
        """
        ...


@dataclass(frozen=True)
class TrainResult:
    """How a run ended."""

    status: Literal["completed", "stopped"]
    stop_reason: str | None  # the sink's reason, or "diverged" (stop_on_divergence)
    steps_done: int  # updates applied, counting those before a resume
    final_train_loss: float | None
    final_eval_loss: float | None
    resumed_from: int | None  # the checkpoint step this attempt started after, if any
    device: str
    precision: str  # what ran: "bf16" can fall back to "fp32" where unsupported
