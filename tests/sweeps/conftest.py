"""Synthetic sweep results whose times to target are known exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from lionlab.sweeps import Curve, TrialResult

TARGET = 2.0
STEPS = 1000
EVERY = 10


def linear_curve(hit: int, *, target: float = TARGET, step_time: float = 0.1) -> Curve:
    """Eval loss falling linearly that equals `target` exactly at step `hit` (on the eval grid).

    loss(step) = target * (1 + (hit - step) / STEPS): final loss target * hit / STEPS, so a
    curve with hit = STEPS ends exactly at the target and one with hit > STEPS never gets there.
    Wall time: `step_time` seconds per step from a start at 0.
    """
    steps = np.arange(EVERY, STEPS + 1, EVERY)
    values = target * (1 + (hit - steps) / STEPS)
    return Curve(steps, values, wall_time=steps * step_time, start_time=0.0)


Group = Callable[..., list[TrialResult]]


@pytest.fixture
def group() -> Group:
    """group(optimizer, hits, lr=...) -> one configuration's trials, seed i hitting at hits[i]."""
    counter = iter(range(10_000))

    def build(
        optimizer: str,
        hits: Sequence[int | None],
        *,
        lr: float,
        statuses: Sequence[str] | None = None,
        step_time: float = 0.1,
        seeds: Sequence[int] | None = None,
    ) -> list[TrialResult]:
        seeds = list(seeds) if seeds is not None else list(range(len(hits)))
        statuses = list(statuses) if statuses is not None else ["succeeded"] * len(hits)
        out = []
        for seed, hit, status in zip(seeds, hits, statuses, strict=True):
            curve = linear_curve(hit if hit is not None else 2 * STEPS, step_time=step_time)
            if status != "succeeded":  # stopped or diverged half way: a shorter curve
                half = len(curve) // 2
                curve = Curve(curve.steps[:half], curve.values[:half], curve.wall_time[:half], 0.0)
            out.append(
                TrialResult(
                    trial=next(counter),
                    optimizer=optimizer,
                    group=f"{optimizer} lr={lr:g}",
                    seed=seed,
                    status=status,
                    curve=curve,
                    planned_steps=STEPS,
                    params={"optimizer.lr": lr},
                )
            )
        return out

    return build
