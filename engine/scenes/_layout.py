"""Where a scene's scatterers are, and its atmosphere, at scene scale (up to 10000² px).

Both are built from smooth random fields synthesised on a coarse grid and upsampled
bilinearly in row blocks, so no full-resolution float64 array ever exists: a 10000² scene
holds its uint8 land cover (100 MB) and float32 velocities (400 MB per geometry), and the
rest is a few coarse grids and one block of rows at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
from affine import Affine
from numpy.typing import NDArray
from rasterio import features
from scipy import ndimage
from shapely.geometry.base import BaseGeometry

from engine.synthetic import turbulent_atmosphere

__all__ = [
    "LANDCOVER_CLASSES",
    "Layout",
    "atmosphere",
    "draw_layout",
    "paint",
    "region_pixels",
    "row_blocks",
]

# code = index; "sea" and "sparse field" are painted over the layout by the hard negatives
LANDCOVER_CLASSES: tuple[str, ...] = ("field", "road", "village", "town", "sea", "sparse field")
FIELD, ROAD, VILLAGE, TOWN, SEA, SPARSE = range(6)
# chance that a pixel holds a scatterer, from its class and the local development q ∈ [0, 1]
_P_LOW = np.array([0.005, 0.10, 0.05, 0.08, 0.0, 0.001], dtype=np.float32)
_P_HIGH = np.array([0.015, 0.20, 0.18, 0.30, 0.0, 0.003], dtype=np.float32)
_LAYOUT_STEP_M = 50.0  # coarse grid of the land-cover fields
_TOWN_SIGMA_M = 400.0  # towns 1–4 km across
_VILLAGE_SIGMA_M = 80.0  # villages and estates 100–400 m across
_DEVELOPMENT_SIGMA_M = 1500.0  # how densely built an area is varies over ~5 km
_ATMOSPHERE_MAX_PX = 2500  # larger scenes get their atmosphere on a coarser grid
_ATMOSPHERE_MAX_STEP_M = 50.0
_BLOCK_ROWS = 512


class Layout(NamedTuple):
    """The land cover of a scene and how densely it is built."""

    landcover: NDArray[np.uint8]
    """``(size, size)`` codes into :data:`LANDCOVER_CLASSES`."""
    development: NDArray[np.float32]
    """Coarse ``q ∈ [0, 1]`` (see :func:`bilinear_rows`): 0 = sparse, 1 = dense scatterers."""
    step_px: int
    """Pixels per coarse cell of ``development``."""

    def probability(self, rows: slice) -> NDArray[np.float32]:
        """Chance of a scatterer at each pixel of a block of rows."""
        codes = self.landcover[rows]
        q = bilinear_rows(self.development, self.step_px, rows, codes.shape[1])
        return _P_LOW[codes] + (_P_HIGH - _P_LOW)[codes] * q


def draw_layout(
    size_px: int, pixel_size_m: float, *, rng: np.random.Generator | int | None = None
) -> Layout:
    """Towns, villages, roads and railways over fields, with a development field.

    Towns are a smooth field (σ 400 m) above its (1 − t) quantile, t drawn in 6–14 %;
    villages the top 1.5 % of a finer one (σ 80 m); roads and railways are bent lines
    crossing the scene, one road per 2.5 km of side (at least 3) and one railway per 10 km,
    10 and 20 m wide. The chance of a scatterer is 8–30 % in towns, 5–18 % in villages,
    10–20 % on roads and 0.5–1.5 % in fields, placed in each range by a smooth development
    field (σ 1.5 km), so the density varies over the scene as well as between classes.

    Examples
    --------
    >>> layout = draw_layout(200, 10.0, rng=0)
    >>> layout.landcover.shape, layout.landcover.dtype.name
    ((200, 200), 'uint8')
    """
    rng = np.random.default_rng(rng)
    step = max(1, round(_LAYOUT_STEP_M / pixel_size_m))
    town = _smooth_field(size_px, step, _TOWN_SIGMA_M / (step * pixel_size_m), rng)
    village = _smooth_field(size_px, step, _VILLAGE_SIGMA_M / (step * pixel_size_m), rng)
    development = _smooth_field(size_px, step, _DEVELOPMENT_SIGMA_M / (step * pixel_size_m), rng)
    town_level = np.quantile(town, 1.0 - rng.uniform(0.06, 0.14))
    village_level = np.quantile(village, 1.0 - 0.015)
    landcover = np.full((size_px, size_px), FIELD, dtype=np.uint8)
    for rows in row_blocks(size_px):
        block = landcover[rows]
        block[bilinear_rows(village, step, rows, size_px) > village_level] = VILLAGE
        block[bilinear_rows(town, step, rows, size_px) > town_level] = TOWN
    side_km = size_px * pixel_size_m / 1000.0
    lines = [(10.0, 0.1)] * max(3, round(side_km / 2.5)) + [(20.0, 0.03)] * max(
        1, round(side_km / 10.0)
    )
    for width_m, bend in lines:  # (width, bend as a fraction of the scene side)
        rr, cc = _line(size_px, max(1, round(width_m / pixel_size_m)), bend, rng)
        hit = landcover[rr, cc] != TOWN  # in towns a road is just more town
        landcover[rr[hit], cc[hit]] = ROAD
    q = 1.0 / (1.0 + np.exp(-1.5 * development))  # logistic: most of the range is used
    return Layout(landcover, q.astype(np.float32), step)


def paint(landcover: NDArray[np.uint8], region: BaseGeometry, code: int, transform: Affine) -> None:
    """Set the land cover of the pixels whose centre lies in ``region`` (scene CRS) to ``code``.

    Examples
    --------
    >>> cover = np.zeros((4, 4), dtype=np.uint8)
    >>> from shapely import box
    >>> paint(cover, box(0, 2, 2, 4), 4, Affine(1, 0, 0, 0, -1, 4))
    >>> cover.tolist()
    [[4, 4, 0, 0], [4, 4, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    window = region_pixels(region, transform, landcover.shape)
    if window is not None:
        rows, cols, inside = window
        landcover[rows, cols][inside] = code


def region_pixels(
    region: BaseGeometry, transform: Affine, shape: tuple[int, int]
) -> tuple[slice, slice, NDArray[np.bool_]] | None:
    """The window of a ``shape`` raster around ``region`` and its pixels whose centre is in it.

    None when the region misses the raster. Only the window is rasterised, so a small
    region of a 10000 px scene costs what its bounding box does.

    Examples
    --------
    >>> from shapely import box
    >>> rows, cols, inside = region_pixels(box(0, 2, 2, 4), Affine(1, 0, 0, 0, -1, 4), (4, 4))
    >>> rows, cols, inside.all()
    (slice(0, 2, None), slice(0, 2, None), np.True_)
    """
    minx, miny, maxx, maxy = region.bounds
    c0, r0 = ~transform @ (minx, maxy)
    c1, r1 = ~transform @ (maxx, miny)
    r0, c0 = max(0, math.floor(r0)), max(0, math.floor(c0))
    r1, c1 = min(shape[0], math.ceil(r1)), min(shape[1], math.ceil(c1))
    if r1 <= r0 or c1 <= c0:
        return None
    inside = features.rasterize(
        [(region, 1)], out_shape=(r1 - r0, c1 - c0), dtype="uint8",
        transform=transform @ Affine.translation(c0, r0),
    ).astype(bool)  # fmt: skip
    return slice(r0, r1), slice(c0, c1), inside


def atmosphere(
    size_px: int,
    pixel_size_m: float,
    *,
    a_mm2_yr2: float,
    b_per_km: float,
    rng: np.random.Generator | int | None = None,
) -> NDArray[np.float32]:
    """Turbulent atmosphere ``C(d) = a·e^(−b·d)`` over a scene, float32 ``(size, size)``.

    Up to 2500 px this is :func:`engine.synthetic.turbulent_atmosphere` on the scene grid.
    Larger scenes are synthesised on a grid ``k = ceil(size / 2500)`` times coarser (at
    most 50 m cells; 40 m for 10000 px at 10 m) and upsampled bilinearly, which keeps the
    FFT near 2700² cells (~0.2 GB of work arrays, against ~2 GB for the 10750² padded grid
    at full resolution). The covariance is kept: the e-folding length 1/b is 625–1250 m,
    16–31 coarse cells, so the nodes carry the exact field and between them the interpolant
    loses at most ~3 % of the variance at mid-edge and ~5 % at a cell's centre (neighbour
    correlation ``e^(−b·40 m) ≥ 0.94``), while correlations at lags of 100 m and more are
    all but unchanged. What is lost is roughness below one coarse cell, which the spike
    noise of the scatterers dwarfs.

    Examples
    --------
    >>> atmosphere(1000, 10.0, a_mm2_yr2=1.0, b_per_km=1.0, rng=0).dtype.name
    'float32'
    """
    rng = np.random.default_rng(rng)
    step = min(
        math.ceil(size_px / _ATMOSPHERE_MAX_PX),
        max(1, math.floor(_ATMOSPHERE_MAX_STEP_M / pixel_size_m)),
    )
    if step == 1:
        return turbulent_atmosphere(
            (size_px, size_px),
            a_mm2_yr2=a_mm2_yr2,
            b_per_km=b_per_km,
            pixel_size_m=pixel_size_m,
            rng=rng,
        )
    coarse = turbulent_atmosphere(
        (_coarse_size(size_px, step),) * 2,
        a_mm2_yr2=a_mm2_yr2,
        b_per_km=b_per_km,
        pixel_size_m=step * pixel_size_m,
        rng=rng,
    )
    out = np.empty((size_px, size_px), dtype=np.float32)
    for rows in row_blocks(size_px):
        out[rows] = bilinear_rows(coarse, step, rows, size_px)
    return out


def row_blocks(size_px: int, block_rows: int = _BLOCK_ROWS) -> Iterator[slice]:
    """Consecutive blocks of rows covering ``0 … size_px − 1``."""
    for start in range(0, size_px, block_rows):
        yield slice(start, min(start + block_rows, size_px))


def bilinear_rows(
    coarse: NDArray[np.float32], step: int, rows: slice, n_cols: int
) -> NDArray[np.float32]:
    """Rows ``rows`` of the bilinear upsampling of ``coarse`` by ``step``.

    Coarse node ``k`` sits on fine pixel ``(k − 1)·step``, so a grid of
    ``(n − 1) // step + 3`` nodes per side covers ``n`` pixels with a node beyond each edge.

    Examples
    --------
    >>> coarse = np.arange(16, dtype=np.float32).reshape(4, 4)   # covers 4 px at step 2
    >>> bilinear_rows(coarse, 2, slice(0, 2), 4).tolist()
    [[5.0, 5.5, 6.0, 6.5], [7.0, 7.5, 8.0, 8.5]]
    """
    r_index, r_weight = _axis_weights(rows.start, rows.stop, step)
    c_index, c_weight = _axis_weights(0, n_cols, step)
    first = int(r_index[0])
    band = coarse[first : int(r_index[-1]) + 2]
    across = band[:, c_index] * (1.0 - c_weight) + band[:, c_index + 1] * c_weight
    r_index -= first
    w = r_weight[:, None]
    return (across[r_index] * (1.0 - w) + across[r_index + 1] * w).astype(np.float32)


def _axis_weights(start: int, stop: int, step: int) -> tuple[NDArray[np.intp], NDArray]:
    t = np.arange(start, stop, dtype=np.float64) / step + 1.0
    index = np.floor(t).astype(np.intp)
    return index, (t - index).astype(np.float32)


def _coarse_size(size_px: int, step: int) -> int:
    return (size_px - 1) // step + 3


def _smooth_field(
    size_px: int, step: int, sigma_cells: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    """A standardised Gaussian-smoothed white noise on the coarse grid of ``step``."""
    n = _coarse_size(size_px, step)
    field = ndimage.gaussian_filter(
        rng.standard_normal((n, n), dtype=np.float32), sigma=max(sigma_cells, 0.5), mode="wrap"
    )
    return (field - field.mean()) / (field.std() + 1e-12)


def _line(
    size_px: int, width_px: int, bend: float, rng: np.random.Generator
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Pixels of a road or railway from one edge to the opposite one, bent by ``bend``."""
    start, stop = rng.uniform(0.0, size_px - 1.0, 2)
    t = np.linspace(0.0, 1.0, 3 * size_px)  # < 0.5 px per step
    offset = bend * size_px * rng.uniform(-1.0, 1.0) * np.sin(np.pi * t)
    across = np.clip(start + (stop - start) * t + offset, 0, size_px - 1 - width_px)
    run = t * (size_px - 1)
    if rng.random() < 0.5:  # west to east
        rr, cc = across, run
    else:  # north to south
        rr, cc = run, across
    rr = np.rint(rr).astype(np.intp)
    cc = np.rint(cc).astype(np.intp)
    wide_r = np.concatenate([rr + k for k in range(width_px)] + [rr] * width_px)
    wide_c = np.concatenate([cc] * width_px + [cc + k for k in range(width_px)])
    return np.clip(wide_r, 0, size_px - 1), np.clip(wide_c, 0, size_px - 1)
