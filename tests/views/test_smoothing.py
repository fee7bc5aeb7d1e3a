"""TensorBoard's debiased EMA, as the run and compare charts smooth their curves."""

import numpy as np

from lionlab_server.views.smoothing import debiased_ema


def reference(values, w):
    """TensorBoard's formula written out: s_t = w s_{t-1} + (1 - w) v_t, over 1 - w**n."""
    out, last, n = [], 0.0, 0
    for v in values:
        if not np.isfinite(v):
            out.append(v)
            continue
        last, n = w * last + (1 - w) * v, n + 1
        out.append(last / (1 - w**n))
    return np.array(out)


def test_matches_the_tensorboard_formula():
    values = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0])
    np.testing.assert_allclose(debiased_ema(values, 0.6), reference(values, 0.6), rtol=1e-15)


def test_debiasing_starts_the_curve_at_the_first_value():
    assert debiased_ema(np.array([2.0, 4.0]), 0.9)[0] == 2.0


def test_weight_zero_and_constant_series_are_unchanged():
    values = np.array([1.0, 5.0, 2.0])
    np.testing.assert_array_equal(debiased_ema(values, 0.0), values)
    np.testing.assert_array_equal(debiased_ema(np.full(5, 0.3), 0.99), np.full(5, 0.3))


def test_nonfinite_points_pass_through_and_do_not_enter_the_average():
    values = np.array([1.0, np.nan, 3.0, np.inf, 5.0])
    out = debiased_ema(values, 0.5)
    assert np.isnan(out[1]) and out[3] == np.inf
    np.testing.assert_allclose(out[[0, 2, 4]], debiased_ema(np.array([1.0, 3.0, 5.0]), 0.5))
