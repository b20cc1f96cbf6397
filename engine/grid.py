"""Grid stage: points → sparse velocity raster and mask, run CRS and tile layout (§II-B, §IV-C).

Points (x, y in metres of the run CRS) are averaged per pixel into a raster whose observed
pixels are flagged by ``mask``; pixels without points are NaN. Rasters follow the
conventions of :class:`engine.types.Tile`: tiles are anchored at the CRS origin, tile
``(ix, iy)`` covers ``[ix·T, (ix+1)·T) × [iy·T, (iy+1)·T)``, its raster adds the overlap on
every side, row 0 is north, and pixel edges fall on multiples of the pixel size. Pixels are
half-open the same way: a point on a pixel edge belongs to the pixel east / north of it,
exactly as a point on a tile edge belongs to the tile east / north of it.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
from affine import Affine
from numpy.typing import ArrayLike, NDArray

from engine.config import GridParams
from engine.errors import InputError
from engine.types import Bbox, Tile

__all__ = [
    "GridResult",
    "check_crs",
    "choose_crs",
    "core_slices",
    "pixel_centres",
    "rasterize_points",
    "rasterize_tile",
    "tile_transform",
    "tiles_for_bounds",
]

logger = logging.getLogger(__name__)

# Great Britain (England, Wales, Scotland, their islands, Isle of Man): the area of use of
# EPSG:27700 (pyproj: -9.01, 49.75, 2.01, 61.01 lon/lat) with the island of Ireland cut
# out along the Irish Sea and North Channel, and northern France cut out along the Channel.
# Coarse (≈10 km) but it separates Belfast/Dublin/Calais from Galloway/Anglesey/Kent.
_GB_POLYGON = np.array(
    [
        (-9.01, 49.75), (0.30, 49.75), (1.20, 50.50), (1.45, 50.95), (2.01, 51.12),
        (2.01, 61.01), (-9.01, 61.01), (-9.01, 55.60), (-7.50, 55.60), (-7.00, 55.50),
        (-6.00, 55.35), (-5.35, 54.75), (-5.15, 54.35), (-5.60, 53.50), (-5.90, 52.00),
        (-6.20, 51.20), (-9.01, 51.20),
    ]
)  # fmt: skip


class GridResult(NamedTuple):
    """Result of :func:`rasterize_points`, arrays of shape ``(rows, cols)``, row 0 north."""

    velocity: NDArray[np.float32]
    """Mean of the values of the points in each pixel (mm/yr, float32); NaN where none."""
    mask: NDArray[np.bool_]
    """True where the pixel holds at least one point (observed)."""
    count: NDArray[np.int32]
    """Number of points averaged into each pixel (int32)."""


def check_crs(text: str, *, origin: str, projected: bool = False) -> str:
    """``text`` when PROJ knows it as a CRS (projected in metres if asked), else InputError.

    Examples
    --------
    >>> check_crs("EPSG:27700", origin="--crs", projected=True)
    'EPSG:27700'
    """
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_user_input(text)
    except CRSError as exc:
        reason = str(exc).rsplit(": ", 1)[-1].rstrip(")")
        raise InputError(origin, f"{text!r} is not a CRS ({reason})", "e.g. EPSG:27700") from None
    if projected:
        unit = crs.axis_info[0].unit_name if crs.axis_info else ""
        if not crs.is_projected or unit != "metre":
            raise InputError(
                origin,
                f"{text!r} is not a projected CRS in metres",
                "a projected CRS such as EPSG:27700 or a UTM zone (EPSG:326xx)",
            )
    return text


def choose_crs(lon: ArrayLike, lat: ArrayLike) -> str:
    """Pick the run's projected CRS from the centroid of the points.

    British National Grid ``"EPSG:27700"`` when the centroid lies in Great Britain
    (Northern Ireland and Ireland are not), otherwise the WGS84 UTM zone of the centroid,
    ``"EPSG:326NN"`` north of the equator and ``"EPSG:327NN"`` south, with the Norway
    (zone 32V) and Svalbard (31X–37X) exceptions.

    Parameters
    ----------
    lon, lat
        Longitudes and latitudes in degrees (WGS84), scalars or arrays of the same size.
        NaNs are ignored. The centroid longitude is a circular mean, so points straddling
        the antimeridian are handled.

    Returns
    -------
    str
        An ``"EPSG:NNNNN"`` code.

    Raises
    ------
    ValueError
        If the sizes differ, no point is finite, or a coordinate is out of range.

    Examples
    --------
    >>> choose_crs(-0.1276, 51.5072)  # London
    'EPSG:27700'
    >>> choose_crs([13.15, 13.20], [38.69, 38.72])  # Ustica
    'EPSG:32633'
    >>> choose_crs(-6.26, 53.35)  # Dublin
    'EPSG:32629'
    """
    lon_c, lat_c = _centroid(lon, lat)
    if _in_polygon(lon_c, lat_c, _GB_POLYGON):
        return "EPSG:27700"
    zone = min(int((lon_c + 180.0) // 6.0) + 1, 60)
    if 56.0 <= lat_c < 64.0 and 3.0 <= lon_c < 12.0:
        zone = 32  # south-west Norway
    elif 72.0 <= lat_c < 84.0 and 0.0 <= lon_c < 42.0:
        zone = 31 + 2 * int((lon_c + 3.0) // 12.0)  # Svalbard: 31, 33, 35, 37
    return f"EPSG:{(32600 if lat_c >= 0 else 32700) + zone}"


def rasterize_points(
    x: ArrayLike,
    y: ArrayLike,
    values: ArrayLike,
    *,
    origin: tuple[float, float],
    shape: tuple[int, int],
    pixel_size_m: float,
) -> GridResult:
    """Average point values into the pixels of a north-up raster.

    Parameters
    ----------
    x, y
        ``(n,)`` point coordinates in metres of the run CRS.
    values
        ``(n,)`` point values, e.g. velocities in mm/yr. Points whose value or coordinates
        are not finite are dropped, as are points outside the raster.
    origin
        ``(west, north)``: the raster's top-left corner in metres.
    shape
        ``(rows, cols)`` of the raster.
    pixel_size_m
        Pixel edge in metres. Pixel ``(r, c)`` covers
        ``[west + c·px, west + (c+1)·px) × [north − (r+1)·px, north − r·px)``.

    Returns
    -------
    GridResult
        ``velocity`` (float32 mean, NaN where empty), ``mask`` (bool) and ``count`` (int32).

    Raises
    ------
    ValueError
        If ``x``, ``y`` and ``values`` are not 1-D of one length, or the shape, origin or
        pixel size is invalid.

    Examples
    --------
    >>> r = rasterize_points([5.0, 5.0, 15.0], [15.0, 15.0, 5.0], [1.0, 3.0, 7.0],
    ...                      origin=(0.0, 20.0), shape=(2, 2), pixel_size_m=10.0)
    >>> r.velocity
    array([[ 2., nan],
           [nan,  7.]], dtype=float32)
    >>> r.count
    array([[2, 0],
           [0, 1]], dtype=int32)
    """
    xs, ys, vs = _as_points(x, y, values)
    rows, cols = _check_grid(origin, shape, pixel_size_m)
    west, north = float(origin[0]), float(origin[1])
    col, row = xs - west, ys - north  # then in place: few temporaries for 10 M points
    for a in (col, row):
        a /= pixel_size_m
        np.floor(a, out=a)
    np.negative(row, out=row)
    row -= 1.0  # = ceil((north − y)/px) − 1, so that pixels are half-open like tiles
    inside = (col >= 0) & (col < cols) & (row >= 0) & (row < rows) & np.isfinite(vs)
    row *= cols
    row += col
    flat = row[inside].astype(np.intp)
    n_pixels = rows * cols
    count = np.bincount(flat, minlength=n_pixels)
    total = np.bincount(flat, weights=vs[inside].astype(np.float64), minlength=n_pixels)
    observed = count > 0
    mean = np.full(n_pixels, np.nan, dtype=np.float32)
    mean[observed] = total[observed] / count[observed]
    logger.debug("rasterized %d of %d points into %d pixels", flat.size, xs.size, observed.sum())
    return GridResult(
        mean.reshape(rows, cols),
        observed.reshape(rows, cols),
        count.astype(np.int32).reshape(rows, cols),
    )


def rasterize_tile(x: ArrayLike, y: ArrayLike, values: ArrayLike, tile: Tile) -> GridResult:
    """Average points into ``tile``'s raster, overlap included (see :func:`rasterize_points`).

    Examples
    --------
    >>> t = Tile(ix=0, iy=0, size_px=2, overlap_px=1, pixel_size_m=10.0)
    >>> rasterize_tile([-5.0, 5.0], [-5.0, 5.0], [1.0, 2.0], t).count
    array([[0, 0, 0, 0],
           [0, 0, 0, 0],
           [0, 1, 0, 0],
           [1, 0, 0, 0]], dtype=int32)
    """
    b = tile.bounds
    return rasterize_points(
        x, y, values, origin=(b.minx, b.maxy), shape=tile.shape, pixel_size_m=tile.pixel_size_m
    )


def tiles_for_bounds(
    bbox: Bbox | tuple[float, float, float, float],
    *,
    params: GridParams = GridParams(),
) -> list[Tile]:
    """The tiles whose cores intersect ``bbox``, south to north, then west to east.

    A bbox edge on a tile edge also takes the tile beyond it, since the point on that edge
    belongs to that tile (cores are half-open, as in :meth:`engine.types.Tile.index_of`).

    Parameters
    ----------
    bbox
        ``(minx, miny, maxx, maxy)`` in metres of the run CRS.
    params
        Pixel size, tile size and overlap of the tiles.

    Raises
    ------
    ValueError
        If the bbox is not finite or has ``min > max``.

    Examples
    --------
    >>> p = GridParams(pixel_size_m=10.0, tile_size_px=100, tile_overlap_px=8)
    >>> [t.key for t in tiles_for_bounds((950.0, 10.0, 1050.0, 20.0), params=p)]
    ['0_0', '1_0']
    """
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    if not all(map(math.isfinite, (minx, miny, maxx, maxy))) or minx > maxx or miny > maxy:
        raise ValueError(f"bbox must be finite with min <= max, got {tuple(bbox)}")
    size_m = params.tile_size_px * params.pixel_size_m
    ix0, iy0 = Tile.index_of(minx, miny, size_m)
    ix1, iy1 = Tile.index_of(maxx, maxy, size_m)
    return [
        Tile(ix, iy, params.tile_size_px, params.tile_overlap_px, params.pixel_size_m)
        for iy in range(iy0, iy1 + 1)
        for ix in range(ix0, ix1 + 1)
    ]


def tile_transform(tile: Tile) -> Affine:
    """Affine transform (pixel → CRS metres) of ``tile``'s raster, overlap included.

    Examples
    --------
    >>> t = Tile(ix=1, iy=2, size_px=100, overlap_px=10, pixel_size_m=10.0)
    >>> tile_transform(t) @ (0.5, 0.5)  # centre of pixel (row 0, col 0)
    (905.0, 3095.0)
    """
    b = tile.bounds
    return Affine(tile.pixel_size_m, 0.0, b.minx, 0.0, -tile.pixel_size_m, b.maxy)


def pixel_centres(tile: Tile) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(x, y)``: 1-D pixel-centre coordinates of ``tile``'s columns and rows (y descending).

    Examples
    --------
    >>> x, y = pixel_centres(Tile(ix=0, iy=0, size_px=2, overlap_px=1, pixel_size_m=10.0))
    >>> x, y
    (array([-5.,  5., 15., 25.]), array([25., 15.,  5., -5.]))
    """
    b = tile.bounds
    n = tile.shape[0]
    offsets = (np.arange(n) + 0.5) * tile.pixel_size_m
    return b.minx + offsets, b.maxy - offsets


def core_slices(tile: Tile) -> tuple[slice, slice]:
    """``(rows, cols)`` slices of ``tile``'s raster that drop the overlap (its core).

    Examples
    --------
    >>> core_slices(Tile(ix=0, iy=0, size_px=100, overlap_px=8, pixel_size_m=10.0))
    (slice(8, 108, None), slice(8, 108, None))
    """
    core = slice(tile.overlap_px, tile.overlap_px + tile.size_px)
    return core, core


def _centroid(lon: ArrayLike, lat: ArrayLike) -> tuple[float, float]:
    lo = np.asarray(lon, dtype=np.float64).ravel()
    la = np.asarray(lat, dtype=np.float64).ravel()
    if lo.shape != la.shape:
        raise ValueError(f"lon and lat must have the same size, got {lo.size} and {la.size}")
    ok = np.isfinite(lo) & np.isfinite(la)
    if not ok.any():
        raise ValueError("no finite lon/lat to choose a CRS from")
    lo, la = lo[ok], la[ok]
    if np.any(np.abs(lo) > 180.0) or np.any(np.abs(la) > 90.0):
        raise ValueError("lon must be in [-180, 180] and lat in [-90, 90] degrees")
    rad = np.deg2rad(lo)
    lon_c = float(np.rad2deg(np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())))
    return lon_c, float(la.mean())


def _in_polygon(px: float, py: float, poly: NDArray[np.float64]) -> bool:
    """Even-odd ray casting of one point against a closed polygon ``(k, 2)``."""
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > py) != (y1 > py)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
    return bool(np.count_nonzero(crosses & (px < x_at)) % 2)


def _as_points(
    x: ArrayLike, y: ArrayLike, values: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.floating]]:
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    vs = np.asarray(values)
    if xs.ndim != 1 or xs.shape != ys.shape or xs.shape != vs.shape:
        raise ValueError(
            f"x, y and values must be 1-D of one length, got {xs.shape}, {ys.shape}, {vs.shape}"
        )
    if not (np.issubdtype(vs.dtype, np.floating) or np.issubdtype(vs.dtype, np.integer)):
        raise ValueError(f"values must be real numbers, got dtype {vs.dtype}")
    return xs, ys, vs


def _check_grid(
    origin: tuple[float, float], shape: tuple[int, int], pixel_size_m: float
) -> tuple[int, int]:
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f"shape must be two positive integers (rows, cols), got {shape}")
    if not (math.isfinite(pixel_size_m) and pixel_size_m > 0):
        raise ValueError(f"pixel_size_m must be finite and > 0, got {pixel_size_m}")
    if len(origin) != 2 or not all(math.isfinite(float(o)) for o in origin):
        raise ValueError(f"origin must be finite (west, north), got {origin}")
    return int(shape[0]), int(shape[1])
