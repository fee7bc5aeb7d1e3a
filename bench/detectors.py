"""Detector quality and speed on a seeded, labelled synthetic bank. Prints one JSON object.

Every run is fed to OnlineDetectors in batches of 1000 steps. A flag matches a planted
event of its kind when raised within [onset, until] (divergence, drift) or when its
[start_step, end_step] widened by LOSS_STEP_TOLERANCE steps contains the drop (loss steps);
each event and each flag match at most once. Flags of severity "info" (loss drops put down to
an lr change or a gap in the logs) are neither detections nor false alarms, and drift or
loss-step flags raised inside a planted divergence (which moves every metric) are counted
apart. Defaults were chosen on the banks of TUNING_SEEDS; the figures reported come from
REPORT_SEED, a bank not looked at while tuning (docs/detectors.md tells its history).

    python3 bench/detectors.py [--seed 13] [--runs 24] [--healthy 48]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from lionlab.detect import Flag, OnlineDetectors, summarize
from lionlab.detect.flags import DIVERGENCE, INFO, KINDS, LOSS_STEP
from lionlab.detect.synthetic import (
    Logging,
    SyntheticRun,
    generate_bank,
    healthy_curves,
    logged_run,
)

TUNING_SEEDS, REPORT_SEED = (1, 2), 13
BATCH_STEPS = 1000
LOSS_STEP_TOLERANCE = 64  # steps: four blocks of 16 points at one point per step
SCHEDULE_DROP_WINDOW = (-500, 2000)  # steps around an lr decay where its drop is looked for


@dataclass
class Tally:
    """Counts for one detector kind over the bank."""

    events: int = 0
    flags: int = 0
    true_flags: int = 0
    healthy_false: int = 0
    during_divergence: int = 0  # raised inside a planted divergence: neither hit nor miss
    delays: list[int] = field(default_factory=list)
    by_label: dict = field(default_factory=lambda: defaultdict(lambda: [0, 0, []]))

    def report(self, healthy_steps: int) -> dict:
        by_label = {
            label: {
                "events": n,
                "recall": round(found / n, 3),
                "median_delay": statistics.median(d) if d else None,
            }
            for label, (n, found, d) in sorted(self.by_label.items())
        }
        return {
            "precision": round(self.true_flags / self.flags, 3) if self.flags else None,
            "recall": round(len(self.delays) / self.events, 3) if self.events else None,
            "median_delay": statistics.median(self.delays) if self.delays else None,
            "false_alarms_per_1e6": round(self.healthy_false / healthy_steps * 1e6, 3),
            "events": self.events,
            "flags": self.flags,
            "flags_during_planted_divergence": self.during_divergence,
            "by_label": by_label,
        }


def feed(run: SyntheticRun, batch: int = BATCH_STEPS) -> tuple[list[Flag], float]:
    """Flags for a run fed in batches, and the seconds spent in `update`."""
    detectors, flags, spent = OnlineDetectors(), [], 0.0
    for lo in range(0, len(run.steps), batch):
        metrics = {k: v[lo : lo + batch] for k, v in run.metrics.items()}
        start = time.perf_counter()
        flags += detectors.update(run.steps[lo : lo + batch], metrics)
        spent += time.perf_counter() - start
    return flags, spent


def during_divergence(run: SyntheticRun, flag: Flag) -> bool:
    """A drift or loss-step flag raised while a planted divergence moves every metric."""
    return flag.kind != DIVERGENCE and any(
        e.kind == DIVERGENCE and e.step <= flag.step <= e.until for e in run.events
    )


def score(run: SyntheticRun, flags: list[Flag], tallies: dict[str, Tally]) -> None:
    for kind in KINDS:
        tally, unmatched = tallies[kind], [e for e in run.events if e.kind == kind]
        tally.events += len(unmatched)
        for e in unmatched:
            tally.by_label[bin_label(e)][0] += 1
        for flag in (f for f in flags if f.kind == kind and f.severity != INFO):
            if during_divergence(run, flag):
                tally.during_divergence += 1
                continue
            tally.flags += 1
            event = next((e for e in unmatched if e.matches(flag, LOSS_STEP_TOLERANCE)), None)
            if event is None:
                tally.healthy_false += run.category == "healthy"
                continue
            unmatched.remove(event)
            tally.true_flags += 1
            tally.delays.append(flag.step - event.step)
            tally.by_label[bin_label(event)][1] += 1
            tally.by_label[bin_label(event)][2].append(flag.step - event.step)


def bin_label(event) -> str:
    """Loss drops are reported by size (noise SDs); other events by label."""
    if event.kind != LOSS_STEP:
        return event.label
    lo = min(1.5, math.floor(event.size_sd * 2) / 2)
    return f"drop_{lo:g}-{lo + 0.5:g}sd"


def schedule_drops(run: SyntheticRun, flags: list[Flag]) -> tuple[int, int]:
    """(lr decays whose loss drop got an 'info' flag, lr decays) for one run."""
    lo, hi = SCHEDULE_DROP_WINDOW
    infos = [f for f in flags if f.kind == LOSS_STEP and f.severity == INFO]
    excused = sum(any(d + lo <= f.start_step <= d + hi for f in infos) for d in run.schedule_drops)
    return excused, len(run.schedule_drops)


def throughput(seed: int, repeats: int = 5, n: int = 1_000_000) -> tuple[list, list]:
    """Points/s (steps x metrics fed) through OnlineDetectors on a 1e6-step run with lr
    logged: per wall-clock second and per CPU second of this process, `repeats` times."""
    rng = np.random.default_rng([seed, 99])
    run = logged_run(rng, "speed", "healthy", healthy_curves(rng, n, "cosine", True), (), Logging())
    wall, cpu = [], []
    for _ in range(repeats):
        started = time.process_time()
        _, spent = feed(run)
        wall.append(run.n_points / spent)
        cpu.append(run.n_points / (time.process_time() - started))
    return wall, cpu


def evaluate(seed: int, runs: int, healthy: int) -> dict:
    tallies = {kind: Tally() for kind in KINDS}
    steps = healthy_steps = points = 0
    spent, excused, decays = 0.0, 0, 0
    staircases = {"runs": 0, "summarized_as_staircase": 0, "healthy_summarized_as_staircase": 0}
    for run in generate_bank(seed, runs=runs, healthy=healthy):
        flags, seconds = feed(run)
        score(run, flags, tallies)
        steps, points, spent = steps + len(run.steps), points + run.n_points, spent + seconds
        staircase = summarize(flags)["staircase"]
        if run.category == "healthy":
            healthy_steps += len(run.steps)
            staircases["healthy_summarized_as_staircase"] += staircase
            e, d = schedule_drops(run, flags)
            excused, decays = excused + e, decays + d
        elif run.category == "staircase":
            staircases["runs"] += 1
            staircases["summarized_as_staircase"] += staircase
    report = {kind: tallies[kind].report(healthy_steps) for kind in KINDS}
    report[LOSS_STEP]["tolerance_steps"] = LOSS_STEP_TOLERANCE
    report[LOSS_STEP]["lr_decay_drops"] = {"decays": decays, "reported_as_info": excused}
    report["staircase_summary"] = staircases
    report["bank"] = {
        "seed": seed,
        "steps": steps,
        "healthy_steps": healthy_steps,
        "bank_points_per_s": round(points / spent),
    }
    return report


def targets(report: dict) -> dict:
    blowup = report["divergence"]["by_label"].get("blowup_50", {}).get("median_delay")
    return {
        "precision_and_recall_at_least_0.9": {
            kind: (report[kind]["precision"] or 0) >= 0.9 and (report[kind]["recall"] or 0) >= 0.9
            for kind in KINDS
        },
        "divergence_delay_doubling_50_at_most_100_steps": blowup is not None and blowup <= 100,
        "no_false_alarm_on_healthy_runs": all(
            report[kind]["false_alarms_per_1e6"] == 0 for kind in KINDS
        ),
        "points_per_s_at_least_1e6": report["points_per_s"] >= 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=REPORT_SEED)
    parser.add_argument("--runs", type=int, default=24, help="runs per planted category")
    parser.add_argument("--healthy", type=int, default=48, help="healthy runs")
    args = parser.parse_args()
    started = time.perf_counter()
    report = evaluate(args.seed, args.runs, args.healthy)
    wall, cpu = throughput(args.seed)
    report["points_per_s"] = round(statistics.median(wall))
    report["points_per_s_samples"] = [round(s) for s in wall]
    report["points_per_cpu_s"] = round(statistics.median(cpu))
    report["points_counted_as"] = "steps x metrics fed (loss, grad_norm, lr), batches of 1000 steps"
    report["seeds"] = {"tuning": list(TUNING_SEEDS), "reported": args.seed}
    report["targets_met"] = targets(report)
    report["bench_seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
