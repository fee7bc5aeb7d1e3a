"""A Lightning `Logger` that logs a `Trainer` to LionLab, and stops it when LionLab asks.

    from lionlab.integrations.lightning import LionLabLogger
    logger = LionLabLogger(project="gpt-small")
    trainer = Trainer(logger=logger, callbacks=[logger])

As the trainer's logger it creates the run (rank 0 only) with the module's hyper-parameters
(`save_hyperparameters()`) as its config, logs every `self.log(...)` value at the trainer's
global step, and ends the run succeeded, diverged or failed (`finalize`). Passed in
`callbacks` as well, it can act on the trainer: when LionLab asks the run to stop (a cancel;
with `stop_on_divergence`, a divergence flag) it sets `trainer.should_stop`, decided on rank
0 and shared with every rank through the trainer's strategy.
"""

from __future__ import annotations

import logging
from argparse import Namespace
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only

import lionlab
from lionlab.integrations import end_status, numeric_metrics, optimizer_name, plain_config
from lionlab.layer_watch import DEFAULT_EVERY, LayerWatch
from lionlab.settings import Settings

log = logging.getLogger("lionlab.integrations")


class LionLabLogger(Logger, Callback):
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
        super().__init__()
        self.watch_every = watch_every
        self.watch: LayerWatch | None = None
        self._watch_step: int | None = None
        self.project = project or Settings().project
        self._name, self.tags = name, tags
        self.stop_on_divergence = stop_on_divergence
        self.api_url, self.token = api_url, token
        self.run: lionlab.Run | None = None
        self._config: dict = {}
        self._optimizer: str | None = None
        self._as_callback = False
        self._warned = False
        self.stopped_for: str | None = None

    # --- Logger ---------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "lionlab"

    @property
    def version(self) -> str | int:
        return self.run.id if self.run is not None and self.run.id is not None else "pending"

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any):
        values = vars(params) if isinstance(params, Namespace) else dict(params or {})
        self._config.update(plain_config(values))

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        metrics = numeric_metrics(metrics)
        if not metrics:
            return
        self._start()
        self.run.log(metrics, step=step)
        if not self._as_callback and not self._warned:
            self._warned = True
            log.warning(
                "LionLab: pass the logger in the trainer's callbacks too "
                "(Trainer(logger=logger, callbacks=[logger])) so a cancel or a divergence "
                "from LionLab can stop training"
            )

    def _start(self) -> None:
        if self.run is None:
            self.run = lionlab.init(
                self.project,
                name=self._name,
                config=self._config,
                tags=self.tags,
                optimizer=self._optimizer
                or optimizer_name(None, str(self._config.get("optimizer", ""))),
                api_url=self.api_url,
                token=self.token,
                stop_on_divergence=self.stop_on_divergence,
            )

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self.run is None:
            return
        if status == "success":
            self.run.finish(status=end_status(self.run.stop_reason))
        else:
            self.run.finish(status="failed", error=f"Lightning ended the fit: {status}")
        self.run = None

    # --- Callback: read the optimizer, and stop the trainer when asked --------------------

    def setup(self, trainer, pl_module, stage: str) -> None:
        self._as_callback = True

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and trainer.optimizers:
            self._optimizer = optimizer_name(trainer.optimizers[0])
            if self.run is None:
                self._start()
            if self.watch_every and self.watch is None:
                self.watch = LayerWatch(pl_module, self.run, every=self.watch_every)

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        # before Lightning clips the gradients; the update is step global_step + 1
        if self.watch is not None:
            self._watch_step = trainer.global_step + 1
            self.watch.before_update(self._watch_step)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.watch is not None and self._watch_step is not None:
            self.watch.after_update(self._watch_step)  # after optimizer.step()
            self._watch_step = None
        self._stop_if_asked(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.watch is not None:
            self.watch.close()
            self.watch = None

    def on_validation_end(self, trainer, pl_module) -> None:
        self._stop_if_asked(trainer)

    def _stop_if_asked(self, trainer) -> None:
        reason = self.run.stop_reason if self.run is not None else None
        stop = trainer.strategy.reduce_boolean_decision(reason is not None, all=False)
        if stop:
            self.stopped_for = self.stopped_for or reason or "stopped on rank 0"
            trainer.should_stop = True
