"""Step time of a built-in task with and without logging through the client.

The step period is the mean time between consecutive `log` calls of the training loop, so it
includes the logging call itself (and, through the GIL, the background sender). Trials
alternate between a sink that discards, with per-layer statistics off; the real client sending
every step's metrics to a live server (on the same machine), per-layer statistics off; and the
same with, every `layer_stats_every` steps (the default), each parameter tensor's statistics.
Prints one JSON object.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from lionlab.client import init
from lionlab.jobs import JobSpec
from lionlab_worker.training import run_training
from tests.support.live import start_server

STEPS = int(os.environ.get("LIONLAB_BENCH_STEPS", "150"))
TRIALS = int(os.environ.get("LIONLAB_BENCH_TRIALS", "3"))


class PeriodSink:
    """Records the time between log calls; forwards to `run` (a client Run) if given."""

    def __init__(self, run=None):
        self.run, self.marks, self.layer_steps = run, [], 0

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.marks.append(time.perf_counter())
        if self.run is not None:
            self.run.log(metrics, step=step)

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        if self.run is not None:
            self.run.log_layers(step, names, stats)
            self.layer_steps += 1

    def should_stop(self) -> str | None:
        return None

    def sync(self) -> bool:
        return self.run is None or self.run.flush()

    def mean_period(self) -> float:
        """Mean step period after 5 warm-up steps: a cost paid every N steps (per-layer
        statistics) counts in it, where a median would skip it."""
        return (self.marks[-1] - self.marks[5]) / (len(self.marks) - 6)


LAYERS_EVERY = JobSpec().layer_stats_every
LAYER_CALL_S: list[float] = []  # time of each TrainingLoop._log_layers call


def _timed_layer_logging() -> None:
    """Time the loop's per-layer path at its due steps (stacking the norms, the transfer,
    the client's body), which a step-period median cannot resolve on a noisy machine."""
    from lionlab_worker.training.loop import TrainingLoop

    original = TrainingLoop._log_layers

    def timed(self, step, norms):
        t0 = time.perf_counter()
        original(self, step, norms)
        LAYER_CALL_S.append(time.perf_counter() - t0)

    TrainingLoop._log_layers = timed


def _trial(task: str, tmp: Path, server=None, layers: bool = True) -> tuple[float, int]:
    spec = JobSpec(
        task=task,
        steps=STEPS,
        eval_interval=10**6,
        checkpoint_interval=0,
        device="cpu",
        layer_stats_every=LAYERS_EVERY if server and layers else 0,
    )
    run = init(project="bench-logging", api_url=server.url, token=server.token) if server else None
    sink = PeriodSink(run)
    run_training(spec, sink, tmp / f"ckpt-{time.monotonic_ns()}")
    if run is not None:
        run.finish()
    return sink.mean_period(), sink.layer_steps


def overhead(task: str, tmp: Path, server) -> dict:
    LAYER_CALL_S.clear()
    plain, metrics_only, logged = [], [], []
    for _ in range(TRIALS):
        plain.append(_trial(task, tmp)[0])
        metrics_only.append(_trial(task, tmp, server, layers=False)[0])
        period, layer_steps = _trial(task, tmp, server)
        logged.append(period)
    base, with_log = statistics.median(plain), statistics.median(logged)
    without_layers = statistics.median(metrics_only)
    return {
        "step_ms": round(base * 1000, 2),
        "step_ms_logged": round(with_log * 1000, 2),
        "step_ms_metrics_only": round(without_layers * 1000, 2),
        # everything logged (metrics every step, per-layer statistics) against no logging
        "overhead_pct": round((with_log - base) / base * 100, 2),
        # what the per-layer statistics add to logging the metrics alone
        "layer_stats_overhead_pct": round((with_log - without_layers) / base * 100, 2),
        "layer_stats_every": LAYERS_EVERY,
        "layer_steps_logged": layer_steps,
        # the due steps' own cost, spread over the steps between them
        "layer_call_ms": round(statistics.median(LAYER_CALL_S) * 1000, 3),
        "layer_call_pct": round(statistics.median(LAYER_CALL_S) / (LAYERS_EVERY * base) * 100, 3),
    }


def main() -> None:
    _timed_layer_logging()
    with tempfile.TemporaryDirectory(prefix="lionlab-bench-") as tmp:
        server = start_server(Path(tmp) / "data")
        try:
            lm = overhead("char_lm", Path(tmp), server)
            cnn = overhead("image_classifier", Path(tmp), server)
        finally:
            server.stop()
    print(json.dumps({**lm, "image_classifier": cnn, "steps": STEPS, "trials": TRIALS}))


if __name__ == "__main__":
    main()
