"""Seed statistics: mean and sd, and a percentile-bootstrap interval for a ratio of means."""

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
    rng = np.random.default_rng(seed)
    i = rng.integers(0, num.size, (n_boot, num.size))
    j = i if paired else rng.integers(0, den.size, (n_boot, den.size))
    den_means = den[j].mean(axis=1)
    if np.any(den_means <= 0):
        return RatioCI(ratio, None, None, confidence, paired)
    ratios = num[i].mean(axis=1) / den_means
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return RatioCI(ratio, float(low), float(high), confidence, paired)
