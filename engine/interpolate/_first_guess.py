"""First guesses: nearest neighbour and Delaunay (linear) interpolation of a sparse raster."""

from __future__ import annotations

import logging

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import Delaunay, QhullError, cKDTree

from engine.interpolate._common import as_sparse_raster

__all__ = ["delaunay", "nearest"]

logger = logging.getLogger(__name__)


def nearest(image: NDArray[np.floating]) -> NDArray[np.float32]:
    """Nearest-neighbour interpolation: every pixel takes the value of the closest observation.

    Parameters
    ----------
    image
        ``(rows, cols)`` sparse raster in mm/yr, NaN = not observed (at least 3 observed).

    Returns
    -------
    NDArray[np.float32]
        Dense ``(rows, cols)`` raster; observed pixels keep their values. Ties between
        equally distant observations go to the first found by the k-d tree.

    Raises
    ------
    ValueError
        If the tile is not 2-D or has fewer than 3 observed pixels.

    Examples
    --------
    >>> y = np.full((1, 5), np.nan, dtype=np.float32)
    >>> y[0, [0, 2, 4]] = [1.0, 2.0, 3.0]
    >>> nearest(y)[0, [0, 2, 4]]
    array([1., 2., 3.], dtype=float32)
    """
    image = as_sparse_raster(image)
    observed = np.isfinite(image)
    out = image.copy()
    _fill_nearest(out, observed, ~observed)
    return out


def delaunay(image: NDArray[np.floating]) -> NDArray[np.float32]:
    """Linear interpolation on the Delaunay triangulation of the observed pixels (§III-A).

    Inside the convex hull of the observations each pixel is the barycentric (linear)
    combination of the three corners of its triangle. Outside the hull, where linear
    extrapolation would be unbounded, a pixel takes the value of the nearest observation.
    If the observations are degenerate (all on one line), the whole tile falls back to
    nearest neighbour, with a warning in the log.

    Parameters
    ----------
    image
        ``(rows, cols)`` sparse raster in mm/yr, NaN = not observed (at least 3 observed).

    Returns
    -------
    NDArray[np.float32]
        Dense ``(rows, cols)`` raster; observed pixels keep their values exactly.

    Raises
    ------
    ValueError
        If the tile is not 2-D or has fewer than 3 observed pixels.

    Notes
    -----
    Qhull triangulates ~50 k points per second, so a 2500² tile at 10 % density
    (625 k points) takes 10–25 s on two cores; the fast interpolator does not need it.

    Examples
    --------
    >>> y = np.full((3, 3), np.nan, dtype=np.float32)
    >>> y[0, 0], y[0, 2], y[2, 0], y[2, 2] = 0.0, 2.0, 4.0, 6.0
    >>> delaunay(y)
    array([[0., 1., 2.],
           [2., 3., 4.],
           [4., 5., 6.]], dtype=float32)
    """
    image = as_sparse_raster(image)
    observed = np.isfinite(image)
    out = image.copy()
    missing = ~observed
    if not missing.any():
        return out
    points = np.argwhere(observed)
    # Pixel centres sit on a lattice, full of cocircular quadruples that make Qhull slow;
    # a fixed sub-micro-pixel jitter settles them (either diagonal is a valid Delaunay
    # triangulation) and the interpolation below uses the exact coordinates.
    jitter = np.random.default_rng(0).uniform(-1e-6, 1e-6, points.shape)
    try:
        if np.linalg.matrix_rank(points - points[0]) < 2:  # the jitter would hide this
            raise QhullError("collinear")
        tri = Delaunay(points + jitter)
    except QhullError:
        logger.warning("observed pixels are collinear; using nearest neighbour instead")
        _fill_nearest(out, observed, missing)
        return out
    filled = _rasterize_triangles(points, image[observed], tri.simplices, image.shape)
    out[missing] = filled[missing]
    outside = np.isnan(out)
    if outside.any():
        _fill_nearest(out, observed, outside)
    return out


def _rasterize_triangles(
    points: NDArray[np.intp],
    values: NDArray[np.float32],
    simplices: NDArray[np.intc],
    shape: tuple[int, int],
    max_pairs: int = 1 << 22,
) -> NDArray[np.float32]:
    """Linear interpolation inside each triangle, by scanning the pixels of its bounding box.

    A regular grid of queries is much cheaper to fill triangle by triangle than point by
    point with a simplex search. The barycentric weights and the interpolated value are
    affine in (row, col), so each triangle gets three planes, evaluated over (triangle,
    pixel) pairs in chunks. NaN where no triangle covers a pixel; zero-area triangles (from
    collinear lattice points) are skipped.
    """
    out = np.full(shape, np.nan, dtype=np.float32)
    pts = points.astype(np.float64)
    a, b, c = pts[simplices[:, 0]], pts[simplices[:, 1]], pts[simplices[:, 2]]
    e1, e2 = b - a, c - a
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    good = np.abs(det) > 0.5  # integer coordinates: 0 or at least 1
    simplices, a, e1, e2, det = simplices[good], a[good], e1[good], e2[good], det[good]
    # l1 = plane1(row, col), l2 = plane2(row, col); value = v0 + l1·(v1 − v0) + l2·(v2 − v0)
    l1_r, l1_c = e2[:, 1] / det, -e2[:, 0] / det
    l2_r, l2_c = -e1[:, 1] / det, e1[:, 0] / det
    l1_0 = -(a[:, 0] * l1_r + a[:, 1] * l1_c)
    l2_0 = -(a[:, 0] * l2_r + a[:, 1] * l2_c)
    v = values.astype(np.float64)[simplices]
    dv1, dv2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    val_r, val_c = l1_r * dv1 + l2_r * dv2, l1_c * dv1 + l2_c * dv2
    val_0 = v[:, 0] + l1_0 * dv1 + l2_0 * dv2
    corners = pts[simplices]
    low = np.ceil(corners.min(axis=1)).astype(np.int64)
    high = np.floor(corners.max(axis=1)).astype(np.int64)
    width = high[:, 1] - low[:, 1] + 1
    counts = (high[:, 0] - low[:, 0] + 1) * width
    starts = np.cumsum(counts) - counts
    first = 0
    while first < len(counts):
        base = starts[first]
        last = max(int(np.searchsorted(starts, base + max_pairs, "right")), first + 1)
        n = counts[first:last]
        k = np.repeat(np.arange(first, last), n)
        offset = np.arange(k.size) - np.repeat(starts[first:last] - base, n)
        drow, col = np.divmod(offset, width[k])
        row = drow + low[k, 0]
        col += low[k, 1]
        l1 = l1_0[k] + l1_r[k] * row + l1_c[k] * col
        l2 = l2_0[k] + l2_r[k] * row + l2_c[k] * col
        inside = (l1 >= -1e-9) & (l2 >= -1e-9) & (l1 + l2 <= 1.0 + 1e-9)
        k, row, col = k[inside], row[inside], col[inside]
        out[row, col] = val_0[k] + val_r[k] * row + val_c[k] * col
        first = last
    return out


def _fill_nearest(out: NDArray[np.float32], observed: NDArray, where: NDArray) -> None:
    """In place: pixels in ``where`` take the value of the nearest observed pixel."""
    points = np.argwhere(observed)
    _, index = cKDTree(points).query(np.argwhere(where), workers=-1)
    out[where] = out[observed][index]
