"""Tests of the engine.synthetic helpers used by the interpolation fixtures (§III-B)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.synthetic import clustered_mask, mogi_bowl, spike_noise, turbulent_atmosphere


@pytest.mark.parametrize("density", [0.02, 0.1, 0.3])
@pytest.mark.parametrize("shape", [(200, 300), (97, 64)])
def test_clustered_mask_density_within_10_percent(shape, density):
    mask = clustered_mask(shape, density, rng=1)
    assert mask.dtype == np.bool_ and mask.shape == shape
    assert abs(mask.mean() - density) <= 0.1 * density


def test_clustered_mask_is_clustered_and_seeded():
    density = 0.05
    mask = clustered_mask((300, 300), density, rng=3)
    np.testing.assert_array_equal(mask, clustered_mask((300, 300), density, rng=3))
    assert not np.array_equal(mask, clustered_mask((300, 300), density, rng=4))
    # observed pixels have many more observed 8-neighbours than a uniform draw (8·density)
    neighbours = ndimage.convolve(mask.astype(int), np.ones((3, 3), int), mode="constant") - 1
    assert neighbours[mask].mean() > 4 * 8 * density
    # ... and leave wide gaps: some pixel is more than 20 px from any observation
    assert ndimage.distance_transform_edt(~mask).max() > 20


def test_clustered_mask_rejects_bad_density():
    with pytest.raises(ValueError, match="density"):
        clustered_mask((10, 10), 0.0)
    with pytest.raises(ValueError, match="density"):
        clustered_mask((10, 10), 1.5)


def test_mogi_bowl_peak_and_half_width():
    depth_m, pixel_m = 100.0, 10.0
    bowl = mogi_bowl((1, 201), centre_px=(0, 100), depth_m=depth_m, peak_mm_yr=-12.0)
    assert bowl.dtype == np.float32
    assert bowl[0, 100] == pytest.approx(-12.0)
    r_m = (np.arange(201) - 100) * pixel_m
    expected = -12.0 * (1 + (r_m / depth_m) ** 2) ** -1.5
    np.testing.assert_allclose(bowl[0], expected, rtol=1e-6)
    # half-width at half-maximum is 0.766·depth
    half = np.interp(-6.0, bowl[0, 100:], r_m[100:])  # the profile rises from -12 to 0
    assert half == pytest.approx(0.766 * depth_m, rel=0.01)


def test_turbulent_atmosphere_covariance():
    a, b_per_km, pixel_m = 1.2, 4.0, 10.0  # e-folding length 25 px
    fields = np.stack(
        [
            turbulent_atmosphere((128, 128), a_mm2_yr2=a, b_per_km=b_per_km, rng=seed)
            for seed in range(24)
        ]
    ).astype(np.float64)
    assert fields.dtype == np.float64 and np.isfinite(fields).all()

    def cov(lag: int) -> float:
        along_cols = (fields[:, :, :-lag] * fields[:, :, lag:]).mean() if lag else 0.0
        along_rows = (fields[:, :-lag, :] * fields[:, lag:, :]).mean() if lag else 0.0
        return 0.5 * (along_cols + along_rows) if lag else float((fields**2).mean())

    for lag in (0, 5, 25):
        expected = a * np.exp(-b_per_km * lag * pixel_m / 1000.0)
        assert cov(lag) == pytest.approx(expected, abs=0.15 * a), lag


def test_turbulent_atmosphere_seeded_and_checked():
    one = turbulent_atmosphere((50, 60), a_mm2_yr2=1.0, b_per_km=1.0, rng=5)
    assert one.shape == (50, 60) and one.dtype == np.float32
    np.testing.assert_array_equal(
        one, turbulent_atmosphere((50, 60), a_mm2_yr2=1.0, b_per_km=1.0, rng=5)
    )
    with pytest.raises(ValueError):
        turbulent_atmosphere((50, 60), a_mm2_yr2=1.0, b_per_km=0.0)


def test_spike_noise_count_and_scale():
    noise = spike_noise((400, 500), scale=3.0, fraction=0.1, rng=2)
    spikes = noise[noise != 0]
    assert spikes.size == 20_000
    assert np.abs(spikes).mean() == pytest.approx(3.0, rel=0.05)  # E|Laplace| = scale
    assert abs(spikes.mean()) < 0.1
    assert not spike_noise((10, 10), scale=1.0, fraction=0.0, rng=0).any()
    with pytest.raises(ValueError):
        spike_noise((10, 10), scale=1.0, fraction=2.0)
