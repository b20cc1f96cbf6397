"""Tests of engine.denoise: NaN-aware median Med_3x3 and the noise map N = y − Med(y) (§III-A)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.config import DenoiseParams
from engine.denoise import DenoiseResult, denoise, median_nan, noise_map

nan = np.nan

# Worked by hand: each observed pixel takes the median of the observed values of its
# 3×3 window (mean of the two middle ones for an even count); NaN stays NaN.
Y_5X5 = np.array(
    [
        [1, 2, nan, 4, 5],
        [nan, 9, nan, nan, 6],
        [3, nan, 50, nan, 7],
        [nan, nan, nan, nan, nan],
        [8, nan, 2, nan, nan],
    ],
    dtype=np.float32,
)
MED_5X5 = np.array(
    [
        [2, 2, nan, 5, 5],  # {1,2,9}; {1,2,9}; {4,5,6}; {4,5,6}
        [nan, 3, nan, nan, 5.5],  # {1,2,9,3,50}; {4,5,6,7}
        [6, nan, 29.5, nan, 6.5],  # {9,3}; {9,50}; {6,7}
        [nan, nan, nan, nan, nan],
        [8, nan, 2, nan, nan],  # alone in their windows
    ],
    dtype=np.float32,
)


def _nanmedian_reference(image: np.ndarray, k: int) -> np.ndarray:
    """Slow, obvious implementation: nanmedian over a stack of shifted copies."""
    before, after = k // 2, k - 1 - k // 2
    padded = np.pad(image, ((before, after), (before, after)), constant_values=np.nan)
    rows, cols = image.shape
    stack = np.stack([padded[i : i + rows, j : j + cols] for i in range(k) for j in range(k)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out = np.nanmedian(stack, axis=0)
    out[~np.isfinite(image)] = np.nan
    return out.astype(np.float32)


def test_median_5x5_worked_by_hand():
    np.testing.assert_array_equal(median_nan(Y_5X5), MED_5X5)


def test_noise_map_5x5_worked_by_hand():
    expected = np.array(
        [
            [-1, 0, nan, -1, 0],
            [nan, 6, nan, nan, 0.5],
            [-3, nan, 20.5, nan, 0.5],
            [nan, nan, nan, nan, nan],
            [0, nan, 0, nan, nan],
        ],
        dtype=np.float32,
    )
    np.testing.assert_array_equal(noise_map(Y_5X5, median_nan(Y_5X5)), expected)


def test_denoise_returns_both():
    res = denoise(Y_5X5)
    assert isinstance(res, DenoiseResult)
    np.testing.assert_array_equal(res.filtered, MED_5X5)
    np.testing.assert_array_equal(res.noise, Y_5X5 - MED_5X5)
    assert res.filtered.dtype == np.float32 and res.noise.dtype == np.float32


def test_spike_in_flat_field_goes_to_noise_map():
    y = np.full((7, 7), 2.0, dtype=np.float32)
    y[3, 3] = 40.0
    res = denoise(y)
    np.testing.assert_array_equal(res.filtered, np.full((7, 7), 2.0, dtype=np.float32))
    expected_noise = np.zeros((7, 7), dtype=np.float32)
    expected_noise[3, 3] = 38.0
    np.testing.assert_array_equal(res.noise, expected_noise)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_matches_nanmedian_for_window_sizes(k):
    rng = np.random.default_rng(k)
    y = rng.normal(size=(40, 33)).astype(np.float32)
    y[rng.random(y.shape) < 0.6] = np.nan
    got = median_nan(y, params=DenoiseParams(median_size_px=k))
    np.testing.assert_array_equal(got, _nanmedian_reference(y, k))


def test_matches_nanmedian_on_a_large_sparse_tile():
    # more observed pixels than one sorting-network chunk (2**18)
    rng = np.random.default_rng(7)
    y = rng.normal(size=(700, 800)).astype(np.float32)
    y[rng.random(y.shape) < 0.5] = np.nan
    np.testing.assert_array_equal(median_nan(y), _nanmedian_reference(y, 3))


def test_inf_counts_as_missing_and_all_nan_stays_nan():
    y = np.array([[1.0, np.inf, 3.0], [-np.inf, 5.0, nan]], dtype=np.float32)
    out = median_nan(y)
    assert np.isnan(out[0, 1]) and np.isnan(out[1, 0]) and np.isnan(out[1, 2])
    assert out[1, 1] == 3.0  # {1, 3, 5}
    assert np.isnan(median_nan(np.full((4, 4), np.nan))).all()


def test_rejects_non_2d_and_mismatched_shapes():
    with pytest.raises(ValueError, match="2-D"):
        median_nan(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="differ in shape"):
        noise_map(np.zeros((3, 3)), np.zeros((3, 4)))
    with pytest.raises(TypeError, match="numeric"):
        median_nan(np.array([["a", "b"]]))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
        elements=st.one_of(
            st.just(np.nan),
            st.floats(-1e3, 1e3, width=32, allow_nan=False, allow_infinity=False),
        ),
    )
)
def test_properties(y):
    med = median_nan(y)
    observed = np.isfinite(y)
    # defined exactly where observed
    np.testing.assert_array_equal(np.isfinite(med), observed)
    # equal to the obvious implementation
    np.testing.assert_array_equal(med, _nanmedian_reference(y, 3))
    # the noise map is y − Med(y) on observed pixels, NaN elsewhere
    noise = noise_map(y, med)
    np.testing.assert_array_equal(np.isfinite(noise), observed)
    np.testing.assert_allclose(noise[observed], (y - med)[observed])
    # a median lies within the range of the observed values
    if observed.any():
        assert med[observed].min() >= y[observed].min()
        assert med[observed].max() <= y[observed].max()
