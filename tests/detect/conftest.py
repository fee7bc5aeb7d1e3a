"""Helpers shared by the detector tests: feeding a series in batches, building curves."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from lionlab.detect import Flag, OnlineDetectors
from lionlab.detect.synthetic import Curves, Logging, SyntheticRun, healthy_curves, logged_run

Feed = Callable[..., list[Flag]]


def _feed(
    steps: np.ndarray,
    metrics: dict[str, np.ndarray],
    sizes: list[int] | int = 1000,
    restart_after: set[int] = frozenset(),
) -> list[Flag]:
    """Feed a series in batches of `sizes` (cycled); after the batches whose index is in
    `restart_after`, the detectors go through JSON and are rebuilt from their state."""
    sizes = [sizes] if isinstance(sizes, int) else sizes
    detectors, flags, lo, i = OnlineDetectors(), [], 0, 0
    while lo < len(steps):
        hi = lo + sizes[i % len(sizes)]
        flags += detectors.update(steps[lo:hi], {k: v[lo:hi] for k, v in metrics.items()})
        if i in restart_after:
            state = json.loads(json.dumps(detectors.state_dict(), allow_nan=False))
            detectors = OnlineDetectors.from_state(state)
        lo, i = hi, i + 1
    return flags


@pytest.fixture
def feed() -> Feed:
    return _feed


def build(seed: int, n: int, schedule: str = "constant", heavy: bool = False) -> Curves:
    return healthy_curves(np.random.default_rng(seed), n, schedule, heavy)


def as_run(curves: Curves, logging: Logging = Logging(), seed: int = 0, events=()) -> SyntheticRun:
    return logged_run(np.random.default_rng(seed), "test", "test", curves, tuple(events), logging)


@pytest.fixture
def curves() -> Callable[..., Curves]:
    """healthy_curves(rng(seed), n, schedule, heavy): log-space curves to plant events in."""
    return build


@pytest.fixture
def run_of() -> Callable[..., SyntheticRun]:
    """Log a Curves object as a run (steps, metrics) with a given Logging style."""
    return as_run
