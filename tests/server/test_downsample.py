"""Extreme-preserving downsampling and LOD composition (pure numpy)."""

import numpy as np
import pytest

from lionlab_server.store.downsample import (
    downsample_minmax,
    lod_buckets,
    lod_candidates,
    segment_extremes,
)


def test_segment_extremes_ignore_nan_and_keep_first_nan():
    seg = np.array([0, 0, 0, 1, 1, 2])
    values = np.array([3.0, np.nan, -1.0, np.nan, np.nan, 5.0])
    ex = segment_extremes(seg, values)
    assert ex.imin.tolist() == [2, -1, 5]
    assert ex.imax.tolist() == [0, -1, 5]
    assert ex.inan.tolist() == [1, 3, -1]


def test_downsample_keeps_every_spike_first_and_last():
    rng = np.random.default_rng(0)
    n = 100_000
    steps = np.arange(n)
    values = rng.normal(size=n)
    width = n / 499
    buckets = rng.choice(499, size=20, replace=False)  # one spike per chosen bucket
    spikes = np.ceil(buckets * width).astype(int) + rng.integers(0, 150, size=20)
    values[spikes] = 50 + np.arange(20)
    values[777] = np.nan
    keep = downsample_minmax(steps, values, 0, n - 1, n_buckets=499)
    assert len(keep) <= 2 * 499 + 2 + 1
    assert set(spikes.tolist()) <= set(keep.tolist())
    assert 777 in keep and 0 in keep and n - 1 in keep


def test_downsample_is_not_stride_sampling():
    """A one-step spike between stride positions survives."""
    values = np.zeros(10_000)
    values[5_003] = 9.0
    values[8_001] = -9.0
    keep = downsample_minmax(np.arange(10_000), values, 0, 9_999, n_buckets=10)
    assert 5_003 in keep and 8_001 in keep


@pytest.mark.parametrize("width", [64, 512])
def test_lod_of_lod_equals_lod_of_points(width):
    """A coarse level built from the finer level matches one built from the raw points."""
    rng = np.random.default_rng(1)
    steps = np.sort(rng.choice(200_000, size=50_000, replace=False))
    values = rng.standard_t(3, size=len(steps))
    values[rng.choice(len(steps), 30, replace=False)] = np.nan
    values[rng.choice(len(steps), 5, replace=False)] = np.inf
    walls = steps * 0.1
    fine = lod_buckets(steps, values, walls, width)
    cand = lod_candidates(fine)
    coarse = lod_buckets(*cand[:3], width * 8, weights=cand[3])
    direct = lod_buckets(steps, values, walls, width * 8)
    for name in ("bucket", "n", "min_step", "min_value", "max_step", "max_value", "nan_step"):
        np.testing.assert_array_equal(getattr(coarse, name), getattr(direct, name), err_msg=name)


def test_all_nan_bucket_keeps_its_count_and_nan_point():
    steps = np.arange(10)
    values = np.full(10, np.nan)
    rows = lod_buckets(steps, values, steps * 1.0, 64)
    assert rows.n.tolist() == [10] and np.isnan(rows.min_step[0]) and rows.nan_step[0] == 0
    cand = lod_candidates(rows)
    assert cand[3].sum() == 10 and np.isnan(cand[1]).all()


def test_all_levels_in_one_pass_equal_level_by_level_per_key():
    from lionlab_server.store.downsample import lod_coarser, lod_levels

    rng = np.random.default_rng(3)
    parts = []
    for key in (2, 5, 9):  # contiguous groups, each sorted by step
        steps = np.sort(rng.choice(40_000, size=6_000, replace=False))
        values = rng.normal(size=len(steps))
        values[rng.random(len(steps)) < 0.01] = np.nan
        parts.append((np.full(len(steps), key), steps, values, steps * 0.5))
    groups, steps, values, walls = (np.concatenate([p[i] for p in parts]) for i in range(4))
    widths = [64, 512, 4096, 32768]
    got = lod_levels(steps, values, walls, groups, widths)
    want = [lod_buckets(steps, values, walls, 64, groups=groups)]
    for width in widths[1:]:
        want.append(lod_coarser(want[-1], width))
    for g, w in zip(got, want, strict=True):
        for name in ("group", "bucket", "n", "min_step", "min_value", "max_step", "nan_step"):
            np.testing.assert_array_equal(getattr(g, name), getattr(w, name), err_msg=name)
