"""Random fields of the synthetic world (§III-B): atmosphere, clustered masks, spike noise.

All functions are pure numpy, return float32 (or bool for masks) ``(rows, cols)`` arrays in
mm/yr, and take ``rng: np.random.Generator | int | None`` for anything random.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import scipy.fft
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

__all__ = [
    "atmosphere_cholesky",
    "clustered_mask",
    "exponential_covariance",
    "mogi_bowl",
    "nugget_noise",
    "spike_noise",
    "turbulent_atmosphere",
]

logger = logging.getLogger(__name__)

Shape = tuple[int, int]


def _check_shape(shape: Shape) -> tuple[int, int]:
    rows, cols = (int(n) for n in shape)
    if rows < 1 or cols < 1:
        raise ValueError(f"shape must be two positive sizes, got {shape!r}")
    return rows, cols


def mogi_bowl(
    shape: Shape,
    *,
    centre_px: tuple[float, float],
    depth_m: float,
    peak_mm_yr: float,
    pixel_size_m: float = 10.0,
) -> NDArray[np.float32]:
    """Vertical surface velocity above a Mogi point source, scaled to a given peak.

    The vertical displacement of a point pressure source at depth ``d`` is proportional
    to ``d / (r² + d²)^(3/2)`` (Mogi, 1958), so normalised to its value above the source
    it reads ``(1 + r²/d²)^(-3/2)``. The bowl is returned times ``peak_mm_yr`` (negative for
    subsidence); its half-width at half-maximum is ``0.766·d``.

    Parameters
    ----------
    shape
        ``(rows, cols)`` of the raster.
    centre_px
        ``(row, col)`` of the source, in pixels (may lie outside the raster).
    depth_m
        Source depth in metres (> 0).
    peak_mm_yr
        Velocity right above the source, mm/yr.
    pixel_size_m
        Pixel size in metres.

    Returns
    -------
    NDArray[np.float32]
        ``(rows, cols)`` velocity in mm/yr.

    Examples
    --------
    >>> bowl = mogi_bowl((5, 5), centre_px=(2, 2), depth_m=10.0, peak_mm_yr=-8.0)
    >>> float(bowl[2, 2]), round(float(bowl[2, 3]), 3)
    (-8.0, -2.828)
    """
    rows, cols = _check_shape(shape)
    if depth_m <= 0 or pixel_size_m <= 0:
        raise ValueError("depth_m and pixel_size_m must be positive")
    r0, c0 = centre_px
    dy = (np.arange(rows, dtype=np.float64) - r0)[:, None] * pixel_size_m
    dx = (np.arange(cols, dtype=np.float64) - c0)[None, :] * pixel_size_m
    ratio = (dy * dy + dx * dx) / (depth_m * depth_m)
    return (peak_mm_yr * (1.0 + ratio) ** -1.5).astype(np.float32)


def turbulent_atmosphere(
    shape: Shape,
    *,
    a_mm2_yr2: float,
    b_per_km: float,
    pixel_size_m: float = 10.0,
    rng: np.random.Generator | int | None = None,
) -> NDArray[np.float32]:
    """Gaussian random field with the exponential covariance ``C(d) = a·exp(-b·d)``, d in km.

    Spectral synthesis by circulant embedding: the covariance is laid out on a periodic grid
    padded by six e-folding lengths (at most twice the raster), its FFT gives the
    eigenvalues (clipped at zero), and white noise is coloured by their square root. The
    field has zero mean and variance ``a`` (§III-B, eq. 1 without the nugget).

    Parameters
    ----------
    shape
        ``(rows, cols)`` of the raster.
    a_mm2_yr2
        Covariance at zero distance (the sill minus the nugget), mm²/yr².
    b_per_km
        Exponential decay rate per km.
    pixel_size_m
        Pixel size in metres.
    rng
        Seed or generator.

    Returns
    -------
    NDArray[np.float32]
        ``(rows, cols)`` velocity in mm/yr.

    Examples
    --------
    >>> atm = turbulent_atmosphere((64, 64), a_mm2_yr2=1.2, b_per_km=1.0, rng=0)
    >>> atm.shape, atm.dtype.name
    ((64, 64), 'float32')
    """
    rows, cols = _check_shape(shape)
    if a_mm2_yr2 < 0 or b_per_km <= 0 or pixel_size_m <= 0:
        raise ValueError("need a_mm2_yr2 >= 0, b_per_km > 0 and pixel_size_m > 0")
    rng = np.random.default_rng(rng)
    efold_px = 1000.0 / (b_per_km * pixel_size_m)
    pad = math.ceil(6.0 * efold_px)
    big_r = scipy.fft.next_fast_len(min(2 * rows, rows + pad), real=True)
    big_c = scipy.fft.next_fast_len(min(2 * cols, cols + pad), real=True)
    iy = np.arange(big_r, dtype=np.float32)
    ix = np.arange(big_c, dtype=np.float32)
    dy = np.minimum(iy, big_r - iy)[:, None]
    dx = np.minimum(ix, big_c - ix)[None, :]
    dist_km = np.sqrt(dy * dy + dx * dx) * np.float32(pixel_size_m / 1000.0)
    cov = np.float32(a_mm2_yr2) * np.exp(np.float32(-b_per_km) * dist_km)
    eig = scipy.fft.rfft2(cov).real
    del cov, dist_km
    amplitude = np.sqrt(np.clip(eig, 0.0, None)).astype(np.float32)
    white = rng.standard_normal((big_r, big_c), dtype=np.float32)
    field = scipy.fft.irfft2(scipy.fft.rfft2(white) * amplitude, s=(big_r, big_c))
    return np.ascontiguousarray(field[:rows, :cols], dtype=np.float32)


def exponential_covariance(
    dist_km: ArrayLike, *, a_mm2_yr2: float, b_per_km: float, nugget_mm2_yr2: float = 0.0
) -> NDArray[np.float64]:
    """The covariance of §II-B eq. 1: ``a·exp(−b·d)`` for ``d > 0``, the sill ``a + nugget`` at 0.

    Examples
    --------
    >>> exponential_covariance([0.0, 1.0], a_mm2_yr2=1.0, b_per_km=1.0, nugget_mm2_yr2=0.5)
    array([1.5       , 0.36787944])
    """
    d = np.asarray(dist_km, dtype=np.float64)
    cov = a_mm2_yr2 * np.exp(-b_per_km * d)
    return np.where(d > 0, cov, a_mm2_yr2 + nugget_mm2_yr2)


def atmosphere_cholesky(
    shape: Shape,
    *,
    a_mm2_yr2: float,
    b_per_km: float,
    pixel_size_m: float = 10.0,
    rng: np.random.Generator | int | None = None,
) -> NDArray[np.float32]:
    """The paper's construction of :func:`turbulent_atmosphere`, for reference on small grids.

    Builds the full covariance matrix of all pixel pairs and colours white noise with its
    Cholesky factor (§III-B). Exact, but O(n³) in the number of pixels: keep ``rows·cols``
    to a few thousand. The tests check the FFT synthesis against it.

    Examples
    --------
    >>> atmosphere_cholesky((8, 8), a_mm2_yr2=1.0, b_per_km=1.0, rng=0).shape
    (8, 8)
    """
    rows, cols = _check_shape(shape)
    if rows * cols > 10_000:
        raise ValueError("atmosphere_cholesky is O(n³); use turbulent_atmosphere for big grids")
    rng = np.random.default_rng(rng)
    r, c = np.divmod(np.arange(rows * cols), cols)
    dist_km = np.hypot(r[:, None] - r[None, :], c[:, None] - c[None, :]) * pixel_size_m / 1000.0
    cov = a_mm2_yr2 * np.exp(-b_per_km * dist_km)
    lower = np.linalg.cholesky(cov + 1e-10 * a_mm2_yr2 * np.eye(rows * cols))
    return (lower @ rng.standard_normal(rows * cols)).reshape(rows, cols).astype(np.float32)


def nugget_noise(
    count: int,
    *,
    nugget_mm2_yr2: float,
    pool: NDArray[np.floating] | None = None,
    rng: np.random.Generator | int | None = None,
) -> NDArray[np.float32]:
    """Spike noise for ``count`` points: the nugget of the covariance (§II-B).

    With a ``pool`` of real noise values (the noise map ``N = y − Med(y)`` of a real dataset,
    :func:`engine.denoise.noise_map`) the spikes are drawn from it with replacement, which
    keeps the real data's heavy tails. Without one they are Laplace-distributed with
    variance ``nugget_mm2_yr2``: heavier-tailed than Gaussian, as persistent scatterers are.

    Examples
    --------
    >>> noise = nugget_noise(100_000, nugget_mm2_yr2=1.0, rng=0)
    >>> round(float(noise.var()), 1)
    1.0
    >>> nugget_noise(3, nugget_mm2_yr2=1.0, pool=np.array([2.0]), rng=0).tolist()
    [2.0, 2.0, 2.0]
    """
    rng = np.random.default_rng(rng)
    if pool is not None:
        values = np.asarray(pool, dtype=np.float32)
        values = values[np.isfinite(values)]
        if values.size == 0:
            raise ValueError("the noise pool holds no finite values")
        return values[rng.integers(0, values.size, size=count)]
    if nugget_mm2_yr2 < 0:
        raise ValueError(f"nugget_mm2_yr2 must be >= 0, got {nugget_mm2_yr2}")
    scale = math.sqrt(nugget_mm2_yr2 / 2.0)  # Laplace variance is 2·scale²
    return rng.laplace(0.0, scale, size=count).astype(np.float32)


def spike_noise(
    shape: Shape,
    *,
    scale: float,
    fraction: float,
    rng: np.random.Generator | int | None = None,
) -> NDArray[np.float32]:
    """Sparse heavy-tailed noise: a random ``fraction`` of pixels get Laplace(0, scale) spikes.

    This mimics the spike noise of point velocities (§II-B, the nugget of the variogram);
    the rest of the raster is zero.

    Parameters
    ----------
    shape
        ``(rows, cols)`` of the raster.
    scale
        Laplace scale in mm/yr (the standard deviation is ``√2·scale``).
    fraction
        Fraction of pixels with a spike, in ``[0, 1]``.
    rng
        Seed or generator.

    Returns
    -------
    NDArray[np.float32]
        ``(rows, cols)`` noise in mm/yr, zero off the spikes.

    Examples
    --------
    >>> noise = spike_noise((100, 100), scale=2.0, fraction=0.1, rng=0)
    >>> int(np.count_nonzero(noise))
    1000
    """
    rows, cols = _check_shape(shape)
    if not 0.0 <= fraction <= 1.0 or scale < 0:
        raise ValueError("need 0 <= fraction <= 1 and scale >= 0")
    rng = np.random.default_rng(rng)
    n = rows * cols
    count = round(fraction * n)
    out = np.zeros(n, dtype=np.float32)
    where = rng.choice(n, size=count, replace=False)
    out[where] = rng.laplace(0.0, scale, size=count)
    return out.reshape(rows, cols)


def clustered_mask(
    shape: Shape,
    density: float,
    *,
    rng: np.random.Generator | int | None = None,
) -> NDArray[np.bool_]:
    """Boolean mask of observed pixels, clustered like persistent scatterers.

    Persistent scatterers crowd in towns and along roads and railways and are scarce over
    fields and woodland. The mask mixes a propensity of 1 inside "urban" blobs (a smooth
    random field above its 85th percentile, with a building texture), 0.5 along a few
    random straight or curved "roads" and 0.02 over "fields", then draws exactly
    ``round(density · rows · cols)`` pixels without replacement with probabilities
    proportional to the propensity (Gumbel top-k). Low densities therefore fall almost
    entirely in towns, leaving wide empty gaps, as in real data.

    Parameters
    ----------
    shape
        ``(rows, cols)`` of the raster.
    density
        Fraction of observed pixels, in ``(0, 1]``; met exactly up to rounding.
    rng
        Seed or generator.

    Returns
    -------
    NDArray[np.bool_]
        ``(rows, cols)``, True = observed.

    Examples
    --------
    >>> mask = clustered_mask((200, 200), 0.1, rng=0)
    >>> int(mask.sum())
    4000
    """
    rows, cols = _check_shape(shape)
    if not 0.0 < density <= 1.0:
        raise ValueError(f"density must lie in (0, 1], got {density}")
    rng = np.random.default_rng(rng)
    propensity = _propensity(rows, cols, rng)
    count = max(1, round(density * rows * cols))
    # Gumbel top-k: the k largest of log(w) + Gumbel noise are a weighted draw without replacement.
    keys = np.log(propensity).ravel()
    keys += rng.gumbel(size=keys.size).astype(np.float32)
    chosen = np.argpartition(keys, keys.size - count)[keys.size - count :]
    mask = np.zeros(rows * cols, dtype=bool)
    mask[chosen] = True
    return mask.reshape(rows, cols)


def _smooth_noise(rows: int, cols: int, corr_px: float, rng: np.random.Generator) -> NDArray:
    """Standardised smooth random field with correlation length ~``corr_px`` (coarse + zoom)."""
    step = max(1, int(corr_px // 4))
    small = rng.standard_normal((rows // step + 3, cols // step + 3)).astype(np.float32)
    small = ndimage.gaussian_filter(small, sigma=corr_px / step, mode="wrap")
    field = ndimage.zoom(small, step, order=1)[:rows, :cols]
    return (field - field.mean()) / (field.std() + 1e-12)


def _propensity(rows: int, cols: int, rng: np.random.Generator) -> NDArray[np.float32]:
    size = max(rows, cols)
    urban_field = _smooth_noise(rows, cols, max(2.0, size / 12), rng)
    urban = urban_field > np.quantile(urban_field, 0.85)
    texture = rng.random((rows, cols), dtype=np.float32) < 0.7  # buildings vs gardens
    prop = np.full((rows, cols), 0.02, dtype=np.float32)
    prop[_roads(rows, cols, rng)] = 0.5
    prop[urban & texture] = 1.0
    prop[urban & ~texture] = np.maximum(prop[urban & ~texture], 0.1)
    return prop


def _roads(rows: int, cols: int, rng: np.random.Generator) -> NDArray[np.bool_]:
    """A few random roads: lines across the raster with a gentle sinusoidal bend."""
    roads = np.zeros((rows, cols), dtype=bool)
    n_roads = int(rng.integers(2, 6))
    n_steps = 4 * (rows + cols)
    t = np.linspace(0.0, 1.0, n_steps)
    for _ in range(n_roads):
        r0, r1 = rng.uniform(0, rows, 2)
        c0, c1 = rng.uniform(0, cols, 2)
        if rng.random() < 0.5:  # run from the left edge to the right edge
            c0, c1 = 0.0, cols - 1.0
        else:  # from the top edge to the bottom edge
            r0, r1 = 0.0, rows - 1.0
        bend = rng.uniform(-0.1, 0.1) * max(rows, cols) * np.sin(np.pi * t)
        rr = np.clip(np.rint(r0 + (r1 - r0) * t + bend), 0, rows - 1).astype(np.intp)
        cc = np.clip(np.rint(c0 + (c1 - c0) * t - bend), 0, cols - 1).astype(np.intp)
        roads[rr, cc] = True
    return roads
