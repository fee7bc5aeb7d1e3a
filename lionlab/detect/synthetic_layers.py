"""Seeded, labelled synthetic runs for the per-layer detectors and the mode-collapse detector.

A healthy multi-layer run (L = 20-200 layers, per-layer stats logged every 10, 50 or 100 steps;
t the step, T the run's length, lr(t) the schedule relative to its peak):
    log g_j(t) = s_j + log(1 + B exp(-t/tau)) + gamma_j log lr(t) + trend_j t/T
                 + a_j exp(-t/tau_j) + c(t) + e_j(t)
s_j ~ N(0, 1) (per-layer scale), gamma_j = gamma + N(0, 0.05) (an lr drop moves all layers
together), trend_j up to +/-0.25 over the run, a_j ~ N(0, 0.3) a transient of the first
phase, c(t) noise shared by all layers (batch to batch) and e_j AR(1) noise (phi 0-0.9 per
run, stationary SD 0.05-0.35 per layer, Gaussian or Student-t with 3 dof).
    update ratio r_j(t) = lr(t) / rms_j(t)  (Lion, to within the share of zero signs)
                        = lr(t) c_j(t) / rms_j(t)  (AdamW: c_j = |m/sqrt(v)| with AR noise)
with rms_j(t) drifting by up to x1.5 over the run and drawn so that r_j at the peak lr lies in
4e-4 .. 4e-3 (inside the default band); the update RMS per weight is lr(t) c_j(t). Planted
faults affect one layer from an onset on; `step_high` is one layer's lr set k = 20-100x the
run's (from the first step in half the runs, as an lr_scale does): its update RMS is k times
the others' and, as with Lion on a real model, its weights grow and take back a share of it
(0.5-1 of log k, time constant 2-10% of the run), so its ratio returns towards the band.

A healthy generative run: the loss of `synthetic.healthy_curves`, evals every 250-1000 steps
logging the entropy of the next-token distribution (nats), which follows the smoothed loss
(log H = log H_end + kappa (log loss - log loss_end), kappa 0.7-1.3) plus a slow decline of up
to 10% and an early excess, and distinct-n (0.5-0.9, trend -10%..+5%), each with the noise
of a small eval sample (SD 2-8% and 2-7%). A collapse drives entropy and/or distinct-n down
to 0.15-0.5x / 0.3-0.6x of their level over 2-8 evals while the loss keeps its course;
`loss_rise` runs have the same fall after the loss rose x1.3-2 over the same number of evals
(a divergence, not a collapse).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from lionlab.detect.flags import LAYER_GRAD_DRIFT, MODE_COLLAPSE, UPDATE_RATIO, Flag
from lionlab.detect.synthetic import healthy_curves

LAYER_FAULTS = ("drift_up", "drift_down", "frozen", "ratio_high", "ratio_low", "step_high")
COLLAPSES = ("collapse", "loss_rise")


@dataclass(frozen=True)
class LayerEvent:
    kind: str  # the flag kind that should report it
    label: str
    step: int  # onset
    until: int  # last step at which a flag still counts
    layer: str | None = None  # the layer the message must name
    lr: float = math.nan  # update-ratio faults: lr in force at the onset
    centre_lr: float = math.nan  # Lion: the lr that gives the band's centre
    factor: float = math.nan  # step_high: the planted lr multiple

    def matches(self, flag: Flag) -> bool:
        if flag.kind != self.kind or not self.step <= flag.step <= self.until:
            return False
        return self.layer is None or names_layer(flag.message, self.layer)


def names_layer(message: str, name: str) -> bool:
    """Whether `message` names the layer `name` (not merely a longer name that contains it)."""
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w.])", message) is not None


@dataclass(frozen=True)
class LayerRun:
    name: str
    category: str  # "healthy" or the planted label
    steps: np.ndarray  # (n,)
    names: list[str]
    stats: dict[str, np.ndarray]  # (n, L) each
    lr: np.ndarray  # (n,)
    optimizer: str
    events: tuple[LayerEvent, ...] = ()

    @property
    def n_points(self) -> int:
        """Layer stat values (finite or not) plus the lr values."""
        return sum(a.size for a in self.stats.values()) + len(self.lr)


def _noise(rng: np.random.Generator, shape: tuple, heavy: bool) -> np.ndarray:
    if heavy:
        return rng.standard_t(3, shape) / math.sqrt(3)
    return rng.normal(0.0, 1.0, shape)


def _ar1(rng: np.random.Generator, n: int, width: int, phi: float, heavy: bool) -> np.ndarray:
    """Unit-variance AR(1) noise, (n, width)."""
    innov = _noise(rng, (n, width), heavy) * math.sqrt(1 - phi * phi)
    out = np.empty((n, width))
    out[0] = _noise(rng, (width,), heavy)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + innov[i]
    return out


def layer_schedule(rng: np.random.Generator, t: np.ndarray, total: int, kind: str) -> np.ndarray:
    """lr relative to its peak: linear warmup then constant, cosine (to 0 or 0.1) or steps of
    10x at 50% and 80% of the run."""
    warmup = max(1, int(rng.uniform(0.01, 0.05) * total))
    after = np.ones(len(t))
    if kind == "cosine":
        floor = rng.choice([0.0, 0.1])
        phase = np.clip((t - warmup) / (total - warmup), 0, 1)
        after = floor + (1 - floor) * 0.5 * (1 + np.cos(np.pi * phase))
    elif kind == "step":
        after = np.where(t >= 0.5 * total, 0.1, 1.0) * np.where(t >= 0.8 * total, 0.1, 1.0)
    return np.minimum(1.0, (t + 1) / warmup) * after


def _layer_names(rng: np.random.Generator, width: int) -> list[str]:
    parts = ("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj")
    names = ["embed"]
    i = 0
    while len(names) < width - 1:
        names.append(f"blocks.{i // len(parts)}.{parts[i % len(parts)]}")
        i += 1
    return [*names, "head"][:width]


@dataclass
class LayerCurves:
    """A multi-layer run in log units at its logged steps, before faults and logging."""

    steps: np.ndarray
    total: int
    names: list[str]
    log_grad: np.ndarray  # (n, L)
    log_rms: np.ndarray  # (n, L) parameter RMS
    log_coef: np.ndarray  # (n, L) update per coordinate / lr (1 for Lion)
    log_size: np.ndarray  # (L,) log parameter count
    lr: np.ndarray  # (n,) absolute lr
    optimizer: str


def healthy_layers(
    rng: np.random.Generator,
    optimizer: str | None = None,
    width: int | None = None,
    rows: int | None = None,
) -> LayerCurves:
    """A healthy run; `width` layers and `rows` logged rows when given, else drawn."""
    drawn = int(10 ** rng.uniform(math.log10(20), math.log10(200)))
    width = width or drawn
    every = int(rng.choice([10, 50, 100]))
    n = rows or int(10 ** rng.uniform(math.log10(600), math.log10(5000)))
    total = n * every
    t = np.arange(n, dtype=np.float64) * every
    optimizer = optimizer or ("lion" if rng.random() < 0.6 else "adamw")
    rel = layer_schedule(rng, t, total, str(rng.choice(["constant", "cosine", "step"])))
    peak = 10 ** rng.uniform(-4.5, -3.5) if optimizer == "lion" else 10 ** rng.uniform(-4, -3)
    heavy = bool(rng.random() < 0.5)
    tau = rng.uniform(0.01, 0.05) * total
    gamma = rng.uniform(-0.3, 0.3) + rng.normal(0, 0.05, width)
    log_rel = np.log(np.clip(rel, 0.01, 1.0))
    log_grad = (
        math.log(rng.uniform(0.2, 5))
        + np.log1p(rng.uniform(1, 4) * np.exp(-t / tau))[:, None]
        + rng.normal(0, 1.0, width)
        + log_rel[:, None] * gamma
        + np.outer(t / total, rng.uniform(-0.25, 0.25, width))
        + rng.normal(0, 0.3, width) * np.exp(-t[:, None] / (tau * rng.uniform(0.5, 1.5, width)))
        + rng.uniform(0.1, 0.3) * _ar1(rng, n, 1, rng.uniform(0, 0.9), heavy)
        + rng.uniform(0.05, 0.35, width) * _ar1(rng, n, width, rng.uniform(0, 0.9), heavy)
    )
    if optimizer == "lion":
        log_coef = np.log(rng.uniform(0.97, 1.0, width)) + 0.01 * rng.normal(0, 1, (n, width))
    else:
        log_coef = np.log(rng.uniform(0.1, 0.6, width)) + 0.15 * _ar1(rng, n, width, 0.5, heavy)
    target = 10 ** rng.uniform(math.log10(4e-4), math.log10(4e-3), width)  # ratio at the peak
    log_rms0 = np.log(peak) + log_coef.mean(axis=0) - np.log(target)
    log_rms = log_rms0 + np.outer(t / total, rng.uniform(-0.4, 0.4, width))
    return LayerCurves(
        steps=t.astype(np.int64),
        total=total,
        names=_layer_names(rng, width),
        log_grad=log_grad,
        log_rms=log_rms,
        log_coef=log_coef,
        log_size=rng.uniform(math.log(1e4), math.log(1e7), width),
        lr=peak * rel,
        optimizer=optimizer,
    )


def plant_layer_fault(rng: np.random.Generator, c: LayerCurves, label: str) -> LayerEvent:
    n, width = c.log_grad.shape
    # onsets keep clear of the step schedule's 10x drops at 50% and 80% (a drop would end a
    # ratio excursion before it lasted)
    i0 = int((rng.uniform(0.3, 0.45) + 0.25 * (rng.random() < 0.5)) * n)
    j = int(rng.integers(width))
    ramp = np.minimum(1.0, np.arange(n - i0) / max(1, int(rng.uniform(0, 0.05) * n)))
    onset, last, layer = int(c.steps[i0]), int(c.steps[-1]), c.names[j]
    if label in ("drift_up", "drift_down"):
        factor = 10 ** rng.uniform(math.log10(3), 2)
        sign = 1 if label == "drift_up" else -1
        c.log_grad[i0:, j] += sign * math.log(factor) * ramp
        return LayerEvent(LAYER_GRAD_DRIFT, label, onset, last, layer)
    if label == "frozen":  # Lion keeps moving the layer on its momentum: the ratio holds
        c.log_grad[i0:, j] = -np.inf
        return LayerEvent(LAYER_GRAD_DRIFT, label, onset, last, layer)
    if label == "step_high":
        if rng.random() < 0.5:
            i0, onset = 0, int(c.steps[0])
        k = 10 ** rng.uniform(math.log10(20), 2)
        c.log_coef[i0:, j] += math.log(k)
        grown = (c.steps[i0:] - c.steps[i0]) / (rng.uniform(0.02, 0.1) * c.total)
        c.log_rms[i0:, j] += rng.uniform(0.5, 1.0) * math.log(k) * -np.expm1(-grown)
        return LayerEvent(UPDATE_RATIO, label, onset, last, layer, float(c.lr[i0]), factor=k)
    log_r = np.log(c.lr[i0]) + c.log_coef[i0, j] - c.log_rms[i0, j]  # ratio at the onset
    if label == "ratio_high":
        shift = math.log(1e-2 * rng.uniform(1.5, 5)) - log_r
    else:  # scaled to the peak lr, as the detector judges it
        shift = math.log(1e-4 / rng.uniform(1.5, 5)) - (log_r + math.log(c.lr.max() / c.lr[i0]))
    c.log_rms[i0:, j] -= shift * np.minimum(1.0, np.arange(n - i0) / 4)
    full = c.log_rms[min(i0 + 4, n - 1), j]  # the parameter RMS once the fault is in
    centre = math.sqrt(1e-4 * 1e-2) * math.exp(full - float(np.mean(c.log_coef[i0:, j])))
    return LayerEvent(UPDATE_RATIO, label, onset, last, layer, float(c.lr[i0]), centre)


def logged_layers(
    rng: np.random.Generator, name: str, category: str, c: LayerCurves, events=()
) -> LayerRun:
    """Stats as logged: grad norm, param norm, update ratio, update RMS; some runs with a layer
    whose parameters are all zero, or with scattered layers not reported."""
    grad = np.exp(c.log_grad)
    param = np.exp(c.log_rms + c.log_size / 2)
    rms = c.lr[:, None] * np.exp(c.log_coef)
    ratio = rms * np.exp(-c.log_rms)
    if rng.random() < 0.3:  # a zero-initialised layer whose parameters stay 0 (a bias, masked)
        j = int(rng.integers(len(c.names)))
        if not any(e.layer == c.names[j] for e in events):
            param[:, j] = 0.0
            ratio[:, j] = np.inf
            rms[:, j] = 0.0
    if rng.random() < 0.2:  # 2% of (row, layer) values not reported
        for a in (grad, param, ratio, rms):
            a[rng.random(a.shape) < 0.02] = np.nan
    stats = {"grad_norm": grad, "param_norm": param, "update_ratio": ratio, "update_rms": rms}
    return LayerRun(name, category, c.steps, list(c.names), stats, c.lr, c.optimizer, events)


def layer_run(rng: np.random.Generator, name: str, category: str) -> LayerRun:
    c = healthy_layers(rng, "lion" if category == "frozen" else None)
    if category == "healthy":
        return logged_layers(rng, name, category, c)
    event = plant_layer_fault(rng, c, category)
    return logged_layers(rng, name, category, c, (event,))


def generate_layer_bank(seed: int, runs: int = 16, healthy: int = 40) -> Iterator[LayerRun]:
    for i in range(healthy):
        yield layer_run(np.random.default_rng([seed, 50, i]), f"layers-healthy-{i}", "healthy")
    for k, label in enumerate(LAYER_FAULTS, start=51):
        for i in range(runs):
            yield layer_run(np.random.default_rng([seed, k, i]), f"{label}-{i}", label)


# -- generative runs (mode collapse) ----------------------------------------------------------


@dataclass(frozen=True)
class GenerativeRun:
    name: str
    category: str  # "healthy", "collapse" or "loss_rise"
    steps: np.ndarray
    metrics: dict[str, np.ndarray]  # loss, grad_norm, lr every step; entropy, distinct at evals
    events: tuple[LayerEvent, ...] = ()

    @property
    def n_points(self) -> int:
        return len(self.steps) * len(self.metrics)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(x)])
    lo = np.maximum(np.arange(len(x)) - width, 0)
    return (c[np.arange(len(x)) + 1] - c[lo]) / (np.arange(len(x)) + 1 - lo)


def generative_run(rng: np.random.Generator, name: str, category: str) -> GenerativeRun:
    n = int(10 ** rng.uniform(math.log10(2e4), math.log10(1e5)))
    c = healthy_curves(rng, n, str(rng.choice(["constant", "cosine"])), bool(rng.random() < 0.5))
    t = np.arange(n, dtype=np.float64)
    every = int(rng.choice([250, 500, 1000]))
    evals = np.arange(every, n, every)
    heavy = bool(rng.random() < 0.5)
    smooth = _smooth(c.log_loss, 200)[evals]
    log_h = (
        math.log(rng.uniform(1.5, 4))
        + rng.uniform(0.7, 1.3) * (smooth - smooth[-1])
        + rng.uniform(0, 0.1) * (1 - evals / n)
        + rng.uniform(0.0, 0.2) * np.exp(-evals / (rng.uniform(0.01, 0.05) * n))
        + rng.uniform(0.02, 0.08) * _noise(rng, (len(evals),), heavy)
    )
    log_d = (
        math.log(rng.uniform(0.5, 0.9))
        + rng.uniform(-0.1, 0.05) * evals / n
        + rng.uniform(0.0, 0.2) * np.exp(-evals / (rng.uniform(0.01, 0.05) * n))
        + rng.uniform(0.02, 0.07) * _noise(rng, (len(evals),), heavy)
    )
    logs = str(rng.choice(["both", "both", "entropy", "distinct"]))
    events = ()
    if category != "healthy":
        k0 = int(rng.uniform(0.4, 0.8) * len(evals))
        width = int(rng.integers(2, 9))
        ramp = np.minimum(1.0, np.arange(1, len(evals) - k0 + 1) / width)
        what = str(rng.choice(["both", "both", "entropy", "distinct"]))
        if what == "both" or logs != "both":
            logs = what  # the metric that falls is logged
        if what in ("both", "entropy") and logs in ("both", "entropy"):
            log_h[k0:] += math.log(rng.uniform(0.15, 0.5)) * ramp
        if what in ("both", "distinct") and logs in ("both", "distinct"):
            log_d[k0:] += math.log(rng.uniform(0.3, 0.6)) * ramp
        start = int(evals[k0])
        if category == "loss_rise":  # the loss moves first (its cause), the outputs follow
            rise = math.log(rng.uniform(1.3, 2.0))
            lead = start - width * every
            c.log_loss[lead:] += rise * np.minimum(1.0, (t[lead:] - lead) / (width * every))
        else:
            events = (LayerEvent(MODE_COLLAPSE, category, start, n - 1),)
    entropy, distinct = np.full(n, np.nan), np.full(n, np.nan)
    if logs in ("both", "entropy"):
        entropy[evals] = np.exp(log_h)
    if logs in ("both", "distinct"):
        distinct[evals] = np.minimum(1.0, np.exp(log_d))
    metrics = {
        "loss": np.exp(c.log_loss),
        "grad_norm": np.exp(c.log_grad),
        "lr": c.lr,
        "entropy": entropy,
        "distinct": distinct,
    }
    return GenerativeRun(name, category, t.astype(np.int64), metrics, events)


def generate_generative_bank(
    seed: int, runs: int = 30, healthy: int = 40, loss_rise: int = 10
) -> Iterator[GenerativeRun]:
    for i in range(healthy):
        yield generative_run(np.random.default_rng([seed, 60, i]), f"gen-healthy-{i}", "healthy")
    for i in range(runs):
        yield generative_run(np.random.default_rng([seed, 61, i]), f"collapse-{i}", "collapse")
    for i in range(loss_rise):
        yield generative_run(np.random.default_rng([seed, 62, i]), f"loss-rise-{i}", "loss_rise")
