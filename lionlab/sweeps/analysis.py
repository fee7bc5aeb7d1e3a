"""Sweep analysis: best configuration per optimizer, lr sensitivity, time to target, the
challenger/baseline speedup with a bootstrap interval over seeds, and compute saved.

All of it from plain `TrialResult`s; docs/sweeps.md states each definition and its caveats.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from lionlab.sweeps.results import Hit, TrialResult, TrialStatus, time_to_target
from lionlab.sweeps.stats import DiffCI, bootstrap_diff, bootstrap_ratio, mean_sd
from lionlab.sweeps.verdict import Verdict, write_verdict


@dataclass(frozen=True)
class SeedPoint:
    """One seed of a configuration, for scatter points and diverged markers."""

    trial: int
    seed: int
    status: TrialStatus
    final: float | None
    best: float | None
    steps_run: int


@dataclass(frozen=True)
class GroupSummary:
    """A configuration over its seeds. Means and sds are over the seeds that ran to the end."""

    optimizer: str
    group: str
    params: dict[str, Any]
    lr: float | None
    seeds: list[SeedPoint]
    final_mean: float | None
    final_sd: float | None  # sample sd (ddof 1); None below 2 seeds
    best_mean: float | None
    best_sd: float | None

    def count(self, status: TrialStatus) -> int:
        return sum(p.status == status for p in self.seeds)

    @property
    def diverged(self) -> int:
        return self.count(TrialStatus.DIVERGED)

    @property
    def pending(self) -> int:
        return sum(not p.status.finished for p in self.seeds)

    @property
    def eligible(self) -> bool:
        """Can be "best": >= 1 seed ran to the end, none diverged, stopped early or pending.

        Failed and cancelled trials (infrastructure, not the configuration) are left out.
        """
        bad = self.diverged + self.count(TrialStatus.STOPPED_EARLY) + self.pending
        return bad == 0 and self.count(TrialStatus.SUCCEEDED) > 0

    @property
    def weight_decay(self) -> float | None:
        value = self.params.get("optimizer.weight_decay")
        return None if value is None else float(value)


def summarize_groups(results: Iterable[TrialResult]) -> list[GroupSummary]:
    """One summary per configuration, in order of first appearance, seeds in seed order."""
    by_group: dict[str, list[TrialResult]] = {}
    for r in results:
        by_group.setdefault(r.group, []).append(r)
    return [_summary(sorted(rs, key=lambda r: r.seed)) for rs in by_group.values()]


def _summary(trials: list[TrialResult]) -> GroupSummary:
    first = trials[0]
    points = [SeedPoint(r.trial, r.seed, r.status, r.final, r.best, r.steps_run) for r in trials]
    done = [r for r in trials if r.status == TrialStatus.SUCCEEDED]
    finals = [r.final for r in done if r.final is not None and math.isfinite(r.final)]
    bests = [r.best for r in done if r.best is not None]
    return GroupSummary(
        first.optimizer,
        first.group,
        dict(first.params),
        first.learning_rate,
        points,
        *mean_sd(finals),
        *mean_sd(bests),
    )


def best_configs(groups: Sequence[GroupSummary]) -> dict[str, GroupSummary]:
    """Per optimizer, the eligible configuration with the lowest mean final eval loss."""
    best: dict[str, GroupSummary] = {}
    for g in groups:
        if not g.eligible or g.final_mean is None:
            continue
        current = best.get(g.optimizer)
        if current is None or g.final_mean < current.final_mean:
            best[g.optimizer] = g
    return best


def lr_sensitivity(groups: Sequence[GroupSummary]) -> dict[str, list[GroupSummary]]:
    """Per optimizer, its configurations by increasing lr: loss against lr with error bars."""
    out: dict[str, list[GroupSummary]] = {}
    for g in groups:
        out.setdefault(g.optimizer, []).append(g)
    for rows in out.values():
        rows.sort(key=lambda g: (g.lr is None, g.lr or 0.0))
    return out


def default_target(best_baseline: GroupSummary) -> float:
    """The highest final eval loss among the seeds of the baseline's best configuration.

    Every one of those seeds reaches it, so the baseline's times are all observed; the seed
    mean would leave about half of them short of it (censored).
    """
    return max(p.final for p in best_baseline.seeds if p.final is not None)


@dataclass(frozen=True)
class Speedup:
    """Baseline time-to-target / challenger time-to-target over seeds: > 1, challenger faster."""

    unit: str  # "steps" or "seconds"
    ratio: float | None  # None when a side never reached the target
    low: float | None  # percentile-bootstrap interval; None below 2 seeds a side
    high: float | None
    confidence: float
    paired: bool
    baseline_times: list[float]  # per seed, a seed that never got there at its full length
    challenger_times: list[float]
    baseline_censored: int
    challenger_censored: int

    @property
    def significant(self) -> bool | None:
        """True when the interval excludes 1; None without an interval."""
        if self.low is None or self.high is None:
            return None
        return not self.low <= 1.0 <= self.high


def _time(r: TrialResult, hit: Hit, unit: str) -> tuple[float | None, bool]:
    """(time to target, censored); a trial that never got there counts at its full length."""
    if unit == "steps":
        return (float(hit.step), False) if hit.reached else (float(r.planned_steps), True)
    if hit.reached:
        return hit.seconds, False
    return (r.curve.elapsed(len(r.curve) - 1) if len(r.curve) else None), True


def seed_order(b: Mapping[int, Any], c: Mapping[int, Any]) -> tuple[bool, list, list]:
    """(paired, baseline seeds, challenger seeds): both sides in the same seed order when they
    ran the same seeds (a paired bootstrap resamples seeds), else each side's own."""
    paired = sorted(b) == sorted(c)
    return paired, sorted(b), sorted(b) if paired else sorted(c)


def speedup(
    baseline: Sequence[TrialResult],
    challenger: Sequence[TrialResult],
    target: float,
    unit: str = "steps",
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Speedup | None:
    """Speedup of the challenger's trials over the baseline's; None without wall times."""
    sides = []
    for trials in (baseline, challenger):
        timed = {r.seed: _time(r, time_to_target(r.curve, target), unit) for r in trials}
        if any(t is None for t, _ in timed.values()):
            return None
        sides.append(timed)
    b, c = sides
    paired, seeds_b, seeds_c = seed_order(b, c)
    b_times, c_times = [b[s][0] for s in seeds_b], [c[s][0] for s in seeds_c]
    b_cens, c_cens = sum(b[s][1] for s in seeds_b), sum(c[s][1] for s in seeds_c)
    ratio = low = high = None
    if b_cens < len(b_times) and c_cens < len(c_times):
        ci = bootstrap_ratio(
            b_times, c_times, paired=paired, n_boot=n_boot, confidence=confidence, seed=seed
        )
        ratio = ci.ratio if math.isfinite(ci.ratio) else None
        low, high = ci.low, ci.high
    return Speedup(unit, ratio, low, high, confidence, paired, b_times, c_times, b_cens, c_cens)


def final_loss_diff(
    baseline: Sequence[TrialResult],
    challenger: Sequence[TrialResult],
    *,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DiffCI | None:
    """Challenger's mean final eval loss minus the baseline's, over their succeeded seeds
    (paired by seed when both ran the same seeds); None when a side has no final loss."""
    b = {r.seed: r.final for r in baseline if r.final is not None}
    c = {r.seed: r.final for r in challenger if r.final is not None}
    if not b or not c:
        return None
    paired, seeds_b, seeds_c = seed_order(b, c)
    return bootstrap_diff(
        [c[s] for s in seeds_c],
        [b[s] for s in seeds_b],
        paired=paired,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
    )


@dataclass(frozen=True)
class ComputeSaved:
    """Trial-steps not run because trials stopped early, against the full grid's."""

    planned_steps: int  # every trial of the sweep at its full length
    run_steps: int
    saved_by_early_stopping: int  # ASHA
    saved_by_divergence: int  # stop_on_divergence
    not_run_other: int  # failed or cancelled trials
    pending_steps: int  # queued or running trials still to go

    @property
    def fraction(self) -> float:
        """Early termination (ASHA and divergence) saved this share of the full grid."""
        saved = self.saved_by_early_stopping + self.saved_by_divergence
        return saved / self.planned_steps if self.planned_steps else 0.0

    @property
    def fraction_by_early_stopping(self) -> float:
        return self.saved_by_early_stopping / self.planned_steps if self.planned_steps else 0.0


def compute_saved(results: Iterable[TrialResult]) -> ComputeSaved:
    """Where the trial-steps of the full grid went; pass every trial, queued ones included."""
    planned = run = 0
    left = {"asha": 0, "divergence": 0, "other": 0, "pending": 0}
    kind = {TrialStatus.STOPPED_EARLY: "asha", TrialStatus.DIVERGED: "divergence"}
    for r in results:
        planned += r.planned_steps
        run += r.steps_run
        remaining = max(0, r.planned_steps - r.steps_run)
        if r.status.finished:
            left[kind.get(r.status, "other")] += remaining
        else:
            left["pending"] += remaining
    return ComputeSaved(
        planned, run, left["asha"], left["divergence"], left["other"], left["pending"]
    )


@dataclass(frozen=True)
class SweepAnalysis:
    """Everything the sweep page shows; `to_dict()` gives it as JSON."""

    baseline: str
    challenger: str
    groups: list[GroupSummary]
    best: dict[str, GroupSummary]
    target: float | None
    target_source: str  # "default" (the rule in default_target) or "given"
    hits: dict[int, Hit]  # trial -> time to target
    speedup_steps: Speedup | None
    speedup_seconds: Speedup | None
    compute: ComputeSaved
    pending_trials: int
    # challenger's minus the baseline's mean final eval loss (best configurations), with a
    # bootstrap interval over seeds: the comparison that exists even when no target is reached
    final_loss_diff: DiffCI | None = None
    verdict: Verdict | None = field(default=None)

    def sensitivity(self) -> dict[str, list[GroupSummary]]:
        return lr_sensitivity(self.groups)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: enums as values, non-finite floats as None."""
        d = _jsonable(dataclasses.asdict(self))
        d["compute"].update(
            fraction=self.compute.fraction,
            fraction_by_early_stopping=self.compute.fraction_by_early_stopping,
        )
        d["verdict"] = None if self.verdict is None else self.verdict.to_dict()
        return d


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Enum):
        return x.value
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def analyze(
    results: Sequence[TrialResult],
    *,
    baseline: str = "adamw",
    challenger: str = "lion",
    target: float | None = None,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> SweepAnalysis:
    """The full analysis of a sweep's trials (pass all of them, unfinished ones included).

    target: the eval loss to reach; default: `default_target` of the baseline's best
    configuration. seed: of the bootstrap, so the same results give the same interval.
    """
    groups = summarize_groups(results)
    best = best_configs(groups)
    source = "given" if target is not None else "default"
    if target is None and baseline in best:
        target = default_target(best[baseline])
    hits = {} if target is None else {r.trial: time_to_target(r.curve, target) for r in results}
    speeds: dict[str, Speedup | None] = {"steps": None, "seconds": None}
    diff = None
    if baseline in best and challenger in best:
        sides = [_succeeded(results, best[opt]) for opt in (baseline, challenger)]
        diff = final_loss_diff(*sides, n_boot=n_boot, confidence=confidence, seed=seed)
        if target is not None:
            for unit in speeds:
                speeds[unit] = speedup(
                    *sides, target, unit, n_boot=n_boot, confidence=confidence, seed=seed
                )
    analysis = SweepAnalysis(
        baseline=baseline,
        challenger=challenger,
        groups=groups,
        best=best,
        target=target,
        target_source=source,
        hits=hits,
        speedup_steps=speeds["steps"],
        speedup_seconds=speeds["seconds"],
        compute=compute_saved(results),
        pending_trials=sum(not r.status.finished for r in results),
        final_loss_diff=diff,
    )
    return dataclasses.replace(analysis, verdict=write_verdict(analysis))


def _succeeded(results: Sequence[TrialResult], group: GroupSummary) -> list[TrialResult]:
    trials = {p.trial for p in group.seeds if p.status == TrialStatus.SUCCEEDED}
    return [r for r in results if r.trial in trials]
