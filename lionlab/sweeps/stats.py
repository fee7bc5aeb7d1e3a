"""Seed statistics: mean and sd, and percentile-bootstrap intervals for a ratio and a
difference of means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def mean_sd(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample sd (ddof 1) of the values; sd None below 2 values, both None for none."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return None, None
    return float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else None


@dataclass(frozen=True)
class RatioCI:
    """mean(numerator) / mean(denominator) with a percentile-bootstrap interval."""

    ratio: float
    low: float | None  # None when there are too few seeds or resamples to give one
    high: float | None
    confidence: float
    paired: bool  # resampled by shared seed (both sides together) or each side on its own


def _resampled_means(
    x: np.ndarray, y: np.ndarray, paired: bool, n_boot: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Means of `n_boot` bootstrap resamples of x and y (by shared seed when paired)."""
    rng = np.random.default_rng(seed)
    i = rng.integers(0, x.size, (n_boot, x.size))
    j = i if paired else rng.integers(0, y.size, (n_boot, y.size))
    return x[i].mean(axis=1), y[j].mean(axis=1)


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    *,
    paired: bool,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RatioCI:
    """Ratio of means with a percentile bootstrap over seeds (the resampling unit).

    paired: element i of both samples comes from the same seed, and a resample draws seeds,
    keeping each seed's two values together. Otherwise each side is resampled on its own.
    No interval (low/high None) with fewer than 2 values on a side or a zero denominator.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.asarray(denominator, dtype=np.float64)
    if paired and num.size != den.size:
        raise ValueError("paired samples must have the same length")
    ratio = float(num.mean() / den.mean()) if den.mean() > 0 else math.nan
    if min(num.size, den.size) < 2 or not math.isfinite(ratio):
        return RatioCI(ratio, None, None, confidence, paired)
    num_means, den_means = _resampled_means(num, den, paired, n_boot, seed)
    if np.any(den_means <= 0):
        return RatioCI(ratio, None, None, confidence, paired)
    low, high = _percentiles(num_means / den_means, confidence)
    return RatioCI(ratio, low, high, confidence, paired)


@dataclass(frozen=True)
class DiffCI:
    """mean(a) - mean(b) with a percentile-bootstrap interval."""

    diff: float
    low: float | None  # None below 2 values on a side
    high: float | None
    confidence: float
    paired: bool

    @property
    def significant(self) -> bool | None:
        """True when the interval excludes 0; None without an interval."""
        if self.low is None or self.high is None:
            return None
        return self.low > 0 or self.high < 0


def bootstrap_diff(
    a: Sequence[float],
    b: Sequence[float],
    *,
    paired: bool,
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> DiffCI:
    """Difference of means with a percentile bootstrap over seeds, resampled as in
    `bootstrap_ratio`."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if paired and x.size != y.size:
        raise ValueError("paired samples must have the same length")
    diff = float(x.mean() - y.mean())
    if min(x.size, y.size) < 2:
        return DiffCI(diff, None, None, confidence, paired)
    x_means, y_means = _resampled_means(x, y, paired, n_boot, seed)
    low, high = _percentiles(x_means - y_means, confidence)
    return DiffCI(diff, low, high, confidence, paired)
