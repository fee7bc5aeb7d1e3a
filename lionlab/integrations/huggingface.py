"""A Hugging Face `TrainerCallback` that logs a `Trainer` to LionLab.

    from lionlab.integrations.huggingface import LionLabCallback
    trainer = Trainer(..., callbacks=[LionLabCallback(project="gpt-small")])

The run is created at `on_train_begin` (rank 0 only) with the TrainingArguments as its
config and the optimizer read from the trainer's optimizer (LionLab's `Lion` is "lion");
every `on_log` (train loss, grad_norm, learning_rate, eval metrics) is logged at the global
step; the run ends succeeded, diverged or failed. When LionLab asks the run to stop (a
cancel; with `stop_on_divergence`, a divergence flag) the callback sets
`control.should_training_stop`, on every rank when training is distributed.

Per-layer statistics (lionlab.watch) are logged every `watch_every` optimizer steps (None
or 0: off): gradient norms are recorded by gradient hooks during the due step's backward,
because the Trainer clips before its callbacks run.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

import lionlab
from lionlab.integrations import end_status, numeric_metrics, optimizer_name, plain_config
from lionlab.layer_watch import DEFAULT_EVERY, LayerWatch
from lionlab.settings import Settings


class LionLabCallback(TrainerCallback):
    def __init__(
        self,
        project: str | None = None,
        name: str | None = None,
        tags: list[str] | None = None,
        stop_on_divergence: bool = True,
        api_url: str | None = None,
        token: str | None = None,
        watch_every: int | None = DEFAULT_EVERY,
    ):
        self.project = project or Settings().project
        self.watch_every = watch_every
        self.watch: LayerWatch | None = None
        self.name, self.tags = name, tags
        self.stop_on_divergence = stop_on_divergence
        self.api_url, self.token = api_url, token
        self.run: lionlab.Run | None = None
        self.stopped_for: str | None = None

    def on_train_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if not state.is_world_process_zero or self.run is not None:
            return
        config = plain_config(args.to_sanitized_dict())
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            config["model"] = plain_config(model_config.to_dict())
        self.run = lionlab.init(
            self.project,
            name=self.name or (args.run_name if args.run_name != args.output_dir else None),
            config=config,
            tags=self.tags,
            optimizer=optimizer_name(optimizer, str(getattr(args, "optim", ""))),
            api_url=self.api_url,
            token=self.token,
            stop_on_divergence=self.stop_on_divergence,
        )
        if self.watch_every and model is not None:
            self.watch = LayerWatch(model, self.run, every=self.watch_every)

    # the update of step global_step + 1: hooks armed, then the norms around optimizer.step()
    def on_step_begin(self, args, state, control, **kwargs):
        if self.watch is not None:
            self.watch.arm(state.global_step + 1)

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        if self.watch is not None:
            self.watch.before_update(state.global_step + 1)

    def on_optimizer_step(self, args, state, control, **kwargs):
        if self.watch is not None:
            self.watch.after_update(state.global_step + 1)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.run is not None and logs:
            metrics = numeric_metrics(logs)
            if metrics:
                self.run.log(metrics, step=state.global_step)
        self._stop_if_asked(args, control)

    def on_step_end(self, args, state, control, **kwargs):
        self._stop_if_asked(args, control)

    def _stop_if_asked(self, args, control) -> None:
        reason = self.run.stop_reason if self.run is not None else None
        if _any_rank(args, reason is not None):
            self.stopped_for = self.stopped_for or reason or "stopped on rank 0"
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        if self.watch is not None:
            self.watch.close()
            self.watch = None
        if self.run is None:
            return
        self.run.finish(status=end_status(self.run.stop_reason))
        self.run = None


def _any_rank(args: Any, flag: bool) -> bool:
    """True on every rank when any rank says so (rank 0 holds the run); a collective only
    when torch.distributed is running."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=getattr(args, "device", "cpu"))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
