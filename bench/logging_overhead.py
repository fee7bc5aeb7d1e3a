"""Step time of a built-in task with and without logging through the client.

The step period is the mean time between consecutive `log` calls of the training loop, so it
includes the logging call itself (and, through the GIL, the background sender). It is taken
twice: in CPU time of the training process (all its threads: the loop, torch and the
client's sender; `overhead_pct`), and in wall time (`wall_overhead_pct`). The client's work is
CPU work in that process (it never blocks the loop on I/O), so CPU time holds all of it, and
it is blind to what the machine's other tenants take: on this shared VM a 150-step trial's
wall time swings by about 10% either way, ten times the 1% being measured. Trials
alternate between a sink that discards, with per-layer statistics off; the real client sending
every step's metrics to a live server (on the same machine), per-layer statistics off; and the
same with, every `layer_stats_every` steps (the default), each parameter tensor's statistics.
Overheads are taken per round (one trial of each, back to back) and the median over rounds is
reported, with the rounds' range.

The server runs on the same machine. By default it is pinned to the last CPU and training to
the others (torch intra-op threads to match), as if it ran on its own host: on a 2-core
machine an unpinned server's ingest work takes CPU from training, and that co-location cost
swings the step time by more than the logging does (LIONLAB_BENCH_PIN=0 measures it so).
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
TRIALS = int(os.environ.get("LIONLAB_BENCH_TRIALS", "5"))
PIN = os.environ.get("LIONLAB_BENCH_PIN", "1") != "0"


SPENT = [0.0]  # seconds the training thread spent in logging: client calls, per-layer path


class PeriodSink:
    """Records, at each log call, the time (wall, process CPU), the training thread's time in
    logging so far and the client sender thread's CPU time; forwards to `run` if given."""

    def __init__(self, run=None):
        self.run, self.layer_steps = run, 0
        self.marks: list[tuple[float, float, float, float]] = []
        self.clock = None
        if run is not None:  # the sender thread's own CPU clock (Linux: per-thread clocks)
            self.clock = time.pthread_getcpuclockid(run._sender._thread.ident)

    def log(self, metrics: dict[str, float], step: int) -> None:
        sender = time.clock_gettime(self.clock) if self.clock is not None else 0.0
        self.marks.append((time.perf_counter(), time.process_time(), SPENT[0], sender))
        if self.run is not None:
            t0 = time.perf_counter()
            self.run.log(metrics, step=step)
            SPENT[0] += time.perf_counter() - t0

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        if self.run is not None:
            self.run.log_layers(step, names, stats)
            self.layer_steps += 1

    def should_stop(self) -> str | None:
        return None

    def sync(self) -> bool:
        return self.run is None or self.run.flush()

    def mean_periods(self) -> tuple[float, float, float]:
        """Per step after 5 warm-up steps: wall period, CPU period, and the logging's own CPU
        (training-thread time in logging plus the sender thread's CPU). Means: a cost paid
        every N steps (per-layer statistics) counts in them, where a median would skip it."""
        steps = len(self.marks) - 6
        (w0, c0, s0, t0), (w1, c1, s1, t1) = self.marks[5], self.marks[-1]
        return (w1 - w0) / steps, (c1 - c0) / steps, ((s1 - s0) + (t1 - t0)) / steps


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
        spent = time.perf_counter() - t0
        LAYER_CALL_S.append(spent)
        SPENT[0] += spent

    TrainingLoop._log_layers = timed


def _trial(task: str, tmp: Path, server=None, layers: bool = True) -> tuple[tuple, int]:
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
    return sink.mean_periods(), sink.layer_steps


def _pct(logged: list[float], other: list[float], plain: list[float]) -> list[float]:
    """Per round: (logged - other) as a percentage of the plain step."""
    return [(w - o) / b * 100 for w, o, b in zip(logged, other, plain, strict=True)]


def overhead(task: str, tmp: Path, server) -> dict:
    LAYER_CALL_S.clear()
    walls: dict[str, list[float]] = {"plain": [], "metrics": [], "layers": []}
    cpus: dict[str, list[float]] = {"plain": [], "metrics": [], "layers": []}
    owns: dict[str, list[float]] = {"plain": [], "metrics": [], "layers": []}
    setups = {"plain": (None, False), "metrics": (server, False), "layers": (server, True)}
    order, layer_steps = list(setups), 0
    for i in range(TRIALS):  # the order rotates, so no configuration always runs first
        for name in order[i % 3 :] + order[: i % 3]:
            (wall, cpu, own), steps = _trial(task, tmp, *setups[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
            owns[name].append(own)
            layer_steps = max(layer_steps, steps)
    # per round: everything logged (metrics every step, per-layer statistics) against no
    # logging, and what the per-layer statistics add to logging the metrics alone
    zero = [0.0] * TRIALS
    total = _pct(owns["layers"], zero, cpus["plain"])
    layers = _pct(owns["layers"], owns["metrics"], cpus["plain"])
    cpu_total = _pct(cpus["layers"], cpus["plain"], cpus["plain"])
    wall_total = _pct(walls["layers"], walls["plain"], walls["plain"])
    wall_layers = _pct(walls["layers"], walls["metrics"], walls["plain"])
    base = statistics.median(cpus["plain"])
    med = statistics.median
    return {
        "step_cpu_ms": round(base * 1000, 2),
        # the logging's own CPU per step (metrics every step and per-layer statistics)
        "logging_cpu_ms": round(med(owns["layers"]) * 1000, 3),
        "logging_cpu_ms_metrics_only": round(med(owns["metrics"]) * 1000, 3),
        "overhead_pct": round(med(total), 3),
        "overhead_pct_rounds": [round(x, 3) for x in total],
        "layer_stats_overhead_pct": round(med(layers), 3),
        "layer_stats_overhead_pct_rounds": [round(x, 3) for x in layers],
        # differences of whole trials: the 1% is below this machine's trial-to-trial noise
        "cpu_diff_overhead_pct": round(med(cpu_total), 2),
        "cpu_diff_overhead_pct_rounds": [round(x, 2) for x in cpu_total],
        "step_ms": round(med(walls["plain"]) * 1000, 2),
        "step_ms_logged": round(med(walls["layers"]) * 1000, 2),
        "wall_overhead_pct": round(med(wall_total), 2),
        "wall_overhead_pct_rounds": [round(x, 2) for x in wall_total],
        "wall_layer_stats_overhead_pct": round(med(wall_layers), 2),
        "layer_stats_every": LAYERS_EVERY,
        "layer_steps_logged": layer_steps,
        # the due steps' own cost (wall), spread over the steps between them
        "layer_call_ms": round(med(LAYER_CALL_S) * 1000, 3),
        "layer_call_pct": round(med(LAYER_CALL_S) / (LAYERS_EVERY * med(walls["plain"])) * 100, 3),
    }


def _pin() -> dict:
    """Server on the last CPU, this process (training and the client) on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if not PIN or len(cpus) < 2:
        return {"pinned": False, "cpus": len(cpus)}
    os.sched_setaffinity(0, {cpus[-1]})  # the server started next inherits it
    return {"pinned": True, "server_cpus": [cpus[-1]], "training_cpus": cpus[:-1]}


def main() -> None:
    _timed_layer_logging()
    placement = _pin()
    with tempfile.TemporaryDirectory(prefix="lionlab-bench-") as tmp:
        server = start_server(Path(tmp) / "data")
        if placement["pinned"]:
            import torch

            os.sched_setaffinity(0, set(placement["training_cpus"]))
            torch.set_num_threads(len(placement["training_cpus"]))
        try:
            lm = overhead("char_lm", Path(tmp), server)
            cnn = overhead("image_classifier", Path(tmp), server)
        finally:
            server.stop()
    print(
        json.dumps({**lm, "image_classifier": cnn, "steps": STEPS, "rounds": TRIALS, **placement})
    )


if __name__ == "__main__":
    main()
