"""Known dense velocity fields and their sparse, noisy samplings, for interpolation tests.

Shared by tests/test_interpolate.py and bench/interpolation.py. The truth is a few smooth
Mogi subsidence/uplift bowls plus turbulent atmosphere (exponential covariance, §III-B);
the observation keeps a clustered "urban" mask of it and adds white noise (the variogram
nugget) and Laplace spike noise, as in §II-B.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from engine.synthetic import clustered_mask, mogi_bowl, spike_noise, turbulent_atmosphere

__all__ = ["Scene", "make_scene", "rmse"]

PIXEL_SIZE_M = 10.0
WHITE_NOISE_MM_YR = 0.7  # std of the nugget, ψ_nugget ≈ 0.5 mm²/yr²
SPIKE_FRACTION = 0.05
SPIKE_SCALE_MM_YR = 4.0  # Laplace scale of spikes (std ≈ 5.7 mm/yr)


class Scene(NamedTuple):
    """A dense truth and its sparse noisy observation."""

    truth: NDArray[np.float32]
    """Dense velocity field, mm/yr."""
    observed: NDArray[np.float32]
    """Sparse observation: truth + noise where observed, NaN elsewhere."""
    mask: NDArray[np.bool_]
    """True = observed."""


def make_scene(size: int, density: float, *, seed: int) -> Scene:
    """A ``size × size`` scene at 10 m pixels with the given observed fraction."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    truth = turbulent_atmosphere(
        shape,
        a_mm2_yr2=rng.uniform(0.7, 1.8),
        b_per_km=rng.uniform(0.8, 1.6),
        pixel_size_m=PIXEL_SIZE_M,
        rng=rng,
    )
    for _ in range(int(rng.integers(2, 5))):
        truth += mogi_bowl(
            shape,
            centre_px=tuple(rng.uniform(0.1 * size, 0.9 * size, 2)),
            depth_m=rng.uniform(150.0, 400.0),
            peak_mm_yr=rng.choice([-1.0, 1.0], p=[0.75, 0.25]) * rng.uniform(4.0, 15.0),
            pixel_size_m=PIXEL_SIZE_M,
        )
    mask = clustered_mask(shape, density, rng=rng)
    noise = rng.normal(0.0, WHITE_NOISE_MM_YR, shape).astype(np.float32)
    noise += spike_noise(shape, scale=SPIKE_SCALE_MM_YR, fraction=SPIKE_FRACTION, rng=rng)
    observed = np.where(mask, truth + noise, np.float32(np.nan)).astype(np.float32)
    return Scene(truth=truth, observed=observed, mask=mask)


def rmse(estimate: NDArray[np.floating], truth: NDArray[np.floating]) -> float:
    """Root-mean-square error over all pixels, mm/yr."""
    diff = np.asarray(estimate, dtype=np.float64) - np.asarray(truth, dtype=np.float64)
    return float(np.sqrt(np.mean(diff * diff)))
