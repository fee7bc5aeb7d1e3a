"""Seeded, labelled synthetic training curves for evaluating the detectors.

A healthy run (steps t = 0..n-1, s(t) the lr relative to its peak after warmup):
    log loss = log(L_inf * (1 + A * (1 + t/tau)^-alpha + c * s_lag(t))) + wiggle + noise
    log grad = log(G_inf * (1 + B * exp(-t/tau_g))) + drift * t/n + gamma * log s_lag(t) + noise
s_lag follows each step decay with a lag of 50-300 steps, so a decay makes an abrupt loss
drop of up to ~20% (which the loss-step detector must put down to the schedule). Noise is
Gaussian or Student-t with 3 dof, scaled to the stated SD (log units); the wiggle is a few
slow sinusoids of 0.25 noise SD. Planted anomalies are added on top; each carries a label.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace

import numpy as np

from lionlab.detect.flags import DIVERGENCE, GRAD_NORM_DRIFT, LOSS_STEP, Flag

SCHEDULES = ("constant", "cosine", "step")


@dataclass(frozen=True)
class PlantedEvent:
    kind: str  # the flag kind that should report it
    label: str  # nan, inf, nan_blip, spike, blowup_50, level_shift, ramp, drop, ...
    step: int  # onset, or the step at which a loss drop starts
    until: int  # last step at which a divergence / drift flag still counts as timely
    size_sd: float = math.nan  # loss drops: size in noise SDs

    def matches(self, flag: Flag, tolerance: int) -> bool:
        """Divergence / drift: raised within [step, until]. Loss drops: the flag's span,
        widened by `tolerance` steps on each side, contains the drop."""
        if flag.kind != self.kind:
            return False
        if self.kind == LOSS_STEP:
            return flag.start_step - tolerance <= self.step <= flag.end_step + tolerance
        return self.step <= flag.step <= self.until


@dataclass(frozen=True)
class SyntheticRun:
    name: str
    category: str  # "healthy" or the planted label
    steps: np.ndarray
    metrics: dict[str, np.ndarray]
    events: tuple[PlantedEvent, ...] = ()
    schedule_drops: tuple[int, ...] = ()  # steps of lr step decays

    @property
    def n_points(self) -> int:
        return len(self.steps) * len(self.metrics)


@dataclass
class Curves:
    """A run on the full step grid, in log units, before logging is applied."""

    log_loss: np.ndarray
    log_grad: np.ndarray
    lr: np.ndarray
    loss_noise: float
    decays: tuple[int, ...]


def _noise(rng: np.random.Generator, n: int, sd: float, heavy: bool) -> np.ndarray:
    if heavy:  # Student-t, 3 dof, has variance 3
        return rng.standard_t(3, n) * (sd / math.sqrt(3))
    return rng.normal(0.0, sd, n)


@dataclass(frozen=True)
class LrSchedule:
    lr: np.ndarray  # relative to its peak
    warmup: int  # steps of linear warmup
    decays: tuple[tuple[int, float], ...]  # (step, factor) of each step decay


def _schedule(rng: np.random.Generator, n: int, kind: str) -> LrSchedule:
    t = np.arange(n, dtype=np.float64)
    warmup = max(1, int(rng.uniform(0.005, 0.03) * n))
    after, decays = np.ones(n), []
    if kind == "cosine":
        floor = rng.choice([0.0, 0.1])
        phase = np.clip((t - warmup) / (n - warmup), 0, 1)
        after = floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * phase))
    elif kind == "step":
        fractions, factor = ((0.5, 0.75), 0.1) if rng.random() < 0.5 else ((0.3, 0.6, 0.85), 0.3)
        for f in fractions:
            after[int(f * n) :] *= factor
            decays.append((int(f * n), factor))
    return LrSchedule(np.minimum(1.0, (t + 1) / warmup) * after, warmup, tuple(decays))


def _lr_shape(sched: LrSchedule, lag: float) -> np.ndarray:
    """What the loss feels of the lr: 1 in warmup, step decays followed with a first-order lag."""
    n = len(sched.lr)
    if not sched.decays:
        return np.maximum(np.where(np.arange(n) < sched.warmup, 1.0, sched.lr), 1e-3)
    t, shape, level = np.arange(n, dtype=np.float64), np.ones(n), 1.0
    for at, factor in sched.decays:
        shape[at:] -= level * (1 - factor) * (1 - np.exp(-(t[at:] - at) / lag))
        level *= factor
    return shape


def _wiggle(rng: np.random.Generator, n: int, amplitude: float) -> np.ndarray:
    """Slow structure in real curves: three sinusoids with periods of 3e3 to 3e4 steps."""
    t = np.arange(n, dtype=np.float64)
    periods, phases = rng.uniform(3000, 30000, 3), rng.uniform(0, 2 * np.pi, 3)
    waves = sum(np.sin(2 * np.pi * t / p + f) for p, f in zip(periods, phases, strict=True))
    return amplitude / math.sqrt(3) * waves


def healthy_curves(rng: np.random.Generator, n: int, schedule: str, heavy: bool) -> Curves:
    t = np.arange(n, dtype=np.float64)
    sched = _schedule(rng, n, schedule)
    shape = _lr_shape(sched, rng.uniform(50, 300))
    tau, alpha = max(50.0, rng.uniform(0.001, 0.01) * n), rng.uniform(0.4, 1.0)
    progress = rng.uniform(1, 4) * (1 + t / tau) ** -alpha
    loss = math.log(rng.uniform(0.5, 3)) + np.log1p(progress + rng.uniform(0.1, 0.3) * shape)
    sd = math.exp(rng.uniform(math.log(0.02), math.log(0.15)))
    tau_g = max(100.0, rng.uniform(0.005, 0.03) * n)
    grad = math.log(rng.uniform(0.2, 5)) + np.log1p(rng.uniform(1, 4) * np.exp(-t / tau_g))
    grad += rng.uniform(-0.1, 0.1) * t / n + rng.uniform(0, 0.15) * np.log(shape)
    return Curves(
        log_loss=loss + _wiggle(rng, n, 0.25 * sd) + _noise(rng, n, sd, heavy),
        log_grad=grad + _noise(rng, n, rng.uniform(0.05, 0.3), heavy),
        lr=sched.lr * 10 ** rng.uniform(-4.5, -2.5),
        loss_noise=sd,
        decays=tuple(at for at, _ in sched.decays),
    )


def _onset(rng: np.random.Generator, n: int, lo: float, hi: float) -> int:
    return int(rng.uniform(lo, hi) * n)


def plant_nonfinite(rng: np.random.Generator, c: Curves, variant: str) -> PlantedEvent:
    """nan: NaN from the onset on; inf: +inf then NaN; nan_blip: NaN for 1-3 steps only."""
    t0 = _onset(rng, len(c.log_loss), 0.3, 0.9)
    end = t0 + int(rng.integers(1, 4)) if variant == "nan_blip" else len(c.log_loss)
    c.log_loss[t0:end] = np.nan
    c.log_grad[t0:end] = np.nan
    if variant == "inf":
        c.log_loss[t0] = np.inf
    return PlantedEvent(DIVERGENCE, variant, t0, t0)


def plant_spike(rng: np.random.Generator, c: Curves) -> PlantedEvent:
    """Loss x2-x5 (gradient norm x1.5-x4) for 20-300 steps, rising over 1-5 steps."""
    n = len(c.log_loss)
    t0, length = _onset(rng, n, 0.3, 0.8), int(rng.integers(20, 301))
    ramp = np.minimum(1.0, np.arange(1, length + 1) / rng.integers(1, 6))
    c.log_loss[t0 : t0 + length] += math.log(rng.uniform(2, 5)) * ramp
    c.log_grad[t0 : t0 + length] += math.log(rng.uniform(1.5, 4)) * ramp
    return PlantedEvent(DIVERGENCE, "spike", t0, t0 + length)


def plant_blowup(rng: np.random.Generator, c: Curves, doubling: int) -> PlantedEvent:
    """Loss doubling every `doubling` steps (gradient norm at half the rate), NaN past 1e4x."""
    n = len(c.log_loss)
    t0 = _onset(rng, n, 0.2, 0.5)
    rise = math.log(2) / doubling * np.arange(n - t0)
    c.log_loss[t0:] += rise
    c.log_grad[t0:] += rise / 2
    gone = t0 + np.flatnonzero(rise > math.log(1e4))
    c.log_loss[gone] = c.log_grad[gone] = np.nan
    return PlantedEvent(DIVERGENCE, f"blowup_{doubling}", t0, n - 1)


def plant_grad_shift(rng: np.random.Generator, c: Curves) -> PlantedEvent:
    """Gradient norm x2 from the onset on."""
    t0 = _onset(rng, len(c.log_grad), 0.3, 0.7)
    c.log_grad[t0:] += math.log(2)
    return PlantedEvent(GRAD_NORM_DRIFT, "level_shift", t0, len(c.log_grad) - 1)


def plant_grad_ramp(rng: np.random.Generator, c: Curves, length: int = 20_000) -> PlantedEvent:
    """Gradient norm rising to x3 over `length` steps, then staying there."""
    n = len(c.log_grad)
    t0 = int(rng.uniform(0.2 * n, 0.8 * n - length))
    c.log_grad[t0:] += math.log(3) * np.minimum(1.0, np.arange(n - t0) / length)
    return PlantedEvent(GRAD_NORM_DRIFT, "ramp", t0, n - 1)


def plant_staircase(rng: np.random.Generator, c: Curves, drops: list[int]) -> list[PlantedEvent]:
    """Drops of 0.5-2 noise SD at the given steps, each over 1-10 steps."""
    n, events = len(c.log_loss), []
    for at in drops:
        size = rng.uniform(0.5, 2.0)
        width = int(rng.integers(1, 11))
        c.log_loss[at:] -= size * c.loss_noise * np.minimum(1.0, np.arange(1, n - at + 1) / width)
        events.append(PlantedEvent(LOSS_STEP, "drop", at, at, size))
    return events


@dataclass(frozen=True)
class Logging:
    """How a run is logged: dropped steps (gaps), sparse gradient norm, lr logged or not."""

    gaps: bool = False  # 1% of steps missing
    grad_every: int = 1  # grad_norm NaN except every this many steps
    lr: bool = True

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Logging:
        return cls(
            gaps=bool(rng.random() < 0.2),
            grad_every=10 if rng.random() < 0.15 else 1,
            lr=bool(rng.random() >= 0.15),
        )


def logged_run(
    rng: np.random.Generator,
    name: str,
    category: str,
    c: Curves,
    events: tuple[PlantedEvent, ...],
    logging: Logging,
) -> SyntheticRun:
    n = len(c.log_loss)
    keep = rng.random(n) >= 0.01 if logging.gaps else np.ones(n, dtype=bool)
    keep[[e.step for e in events] + list(c.decays)] = True  # planted steps are always logged
    steps = np.flatnonzero(keep)
    grad = np.exp(c.log_grad[keep])
    grad[steps % logging.grad_every != 0] = np.nan
    metrics = {"loss": np.exp(c.log_loss[keep]), "grad_norm": grad}
    if logging.lr:
        metrics["lr"] = c.lr[keep]
    return SyntheticRun(name, category, steps, metrics, events, c.decays if logging.lr else ())


def _length(rng: np.random.Generator, lo: float, hi: float) -> int:
    return int(10 ** rng.uniform(math.log10(lo), math.log10(hi)))


def _draw_run(rng: np.random.Generator, n: int, schedules=SCHEDULES) -> tuple[Curves, Logging]:
    """Healthy curves and a logging style; step-decay runs always log their lr."""
    schedule = schedules[rng.integers(len(schedules))]
    curves = healthy_curves(rng, n, schedule, heavy=bool(rng.random() < 0.5))
    logging = Logging.draw(rng)
    return curves, replace(logging, lr=True) if schedule == "step" else logging


def healthy_run(rng: np.random.Generator, name: str, n: int | None = None) -> SyntheticRun:
    c, logging = _draw_run(rng, n or _length(rng, 1e4, 1e6))
    return logged_run(rng, name, "healthy", c, (), logging)


def planted_run(rng: np.random.Generator, name: str, category: str) -> SyntheticRun:
    """One run with one planted anomaly of `category` (staircases: 3-8 drops)."""
    if category == "staircase":
        return staircase_run(rng, name)
    n = _length(rng, 1e4, 1e5)
    if category.startswith("blowup_"):
        n = max(n, 16 * int(category.split("_")[1]))
    elif category == "ramp":
        n = _length(rng, 6e4, 2e5)
    c, logging = _draw_run(rng, n)
    if category in ("nan", "inf", "nan_blip"):
        event = plant_nonfinite(rng, c, category)
    elif category == "spike":
        event = plant_spike(rng, c)
    elif category.startswith("blowup_"):
        event = plant_blowup(rng, c, int(category.split("_")[1]))
    elif category == "level_shift":
        event = plant_grad_shift(rng, c)
    else:
        event = plant_grad_ramp(rng, c)
    return logged_run(rng, name, category, c, (event,), logging)


def staircase_run(rng: np.random.Generator, name: str) -> SyntheticRun:
    """Plateaus of 1000-4000 steps between 3-8 drops, on a constant or cosine schedule."""
    drops = [int(rng.uniform(3000, 6000))]
    for _ in range(int(rng.integers(3, 9)) - 1):
        drops.append(drops[-1] + int(rng.uniform(1000, 4000)))
    n = drops[-1] + int(rng.uniform(2000, 4000))
    c, logging = _draw_run(rng, n, schedules=("constant", "cosine"))
    events = tuple(plant_staircase(rng, c, drops))
    return logged_run(rng, name, "staircase", c, events, logging)


PLANTED = ("spike", "blowup_50", "blowup_500", "blowup_5000", "level_shift", "ramp", "staircase")
NONFINITE = ("nan", "inf", "nan_blip")


def generate_bank(seed: int, runs: int = 24, healthy: int = 48) -> Iterator[SyntheticRun]:
    """Healthy runs, then `runs` runs per planted category (non-finite variants share one
    category's count). Each run has its own seeded stream, so any run can be rebuilt alone."""
    for i in range(healthy):
        yield healthy_run(np.random.default_rng([seed, 0, i]), f"healthy-{i}")
    for i in range(runs):
        variant = NONFINITE[i % len(NONFINITE)]
        yield planted_run(np.random.default_rng([seed, 1, i]), f"{variant}-{i}", variant)
    for k, category in enumerate(PLANTED, start=2):
        for i in range(runs):
            yield planted_run(np.random.default_rng([seed, k, i]), f"{category}-{i}", category)
