"""Deformation sources (§III-B) and their projection onto the Sentinel-1 line of sight.

Displacements are rates: volumes in m³/yr give mm/yr. Coordinates are metres east (x) and
north (y) of the source; rasters use row 0 = north, as everywhere in the engine.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "Displacement",
    "Viewing",
    "los_unit_vector",
    "mogi",
    "raster_coordinates",
    "to_los",
    "tunnel",
    "tunnel_profile",
]

POISSON_RATIO = 0.25


class Displacement(NamedTuple):
    """Surface displacement rate in mm/yr: east, north and up components."""

    east: NDArray[np.float64]
    north: NDArray[np.float64]
    up: NDArray[np.float64]


class Viewing(NamedTuple):
    """A Sentinel-1 viewing geometry: pass direction, incidence and heading (track angle)."""

    geometry: str  # "ascending" or "descending"
    incidence_deg: float
    heading_deg: float


def mogi(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    depth_m: float,
    volume_m3: float,
    poisson: float = POISSON_RATIO,
) -> Displacement:
    """Surface displacement of a Mogi point source in an elastic half-space (Mogi, 1958).

    ``u = (1 − ν)·ΔV/π · (x, y, d) / R³`` with ``R² = x² + y² + d²``: a volume increase
    (inflation, ``volume_m3 > 0``) lifts the surface and pushes it outwards; a decrease
    (deflation, mining subsidence) does the opposite.

    Parameters
    ----------
    x_m, y_m
        Horizontal position relative to the source, metres east and north (broadcast).
    depth_m
        Source depth, metres (> 0).
    volume_m3
        Volume change rate of the source, m³/yr.
    poisson
        Poisson's ratio ν of the half-space (0.25 in §III-B).

    Returns
    -------
    Displacement
        East, north and up rates in mm/yr.

    Examples
    --------
    >>> u = mogi(0.0, 0.0, depth_m=50.0, volume_m3=1000.0)
    >>> round(float(u.up), 3), float(u.east)    # 0.75·1000/(π·50²) m
    (95.493, 0.0)
    """
    if depth_m <= 0:
        raise ValueError(f"depth_m must be positive, got {depth_m}")
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    scale = 1000.0 * (1.0 - poisson) * volume_m3 / math.pi  # m → mm
    inv_r3 = (x * x + y * y + depth_m * depth_m) ** -1.5
    return Displacement(scale * x * inv_r3, scale * y * inv_r3, scale * depth_m * inv_r3)


def tunnel_profile(
    offset_m: ArrayLike, *, l_sag_m: float, l_hog_m: float, d_sag_mm: float, d_hog_mm: float
) -> NDArray[np.float64]:
    """Vertical rate across a tunnel: a sagging trough between two convex hogging zones.

    The sagging zone (``|s| < l_sag``) is a parabola, concave up, whose deflection below the
    chord joining its ends is ``d_sag``; the hogging zones (``l_sag ≤ |s| < l_sag + l_hog``)
    are convex parabolas rising from ``−d_hog`` at their inner edge to zero, flat, at their
    outer edge. Each zone keeps one sign of curvature, as in the sagging/hogging picture of
    tunnelling settlement (Burland's deflection zones); the slope may jump at ``l_sag``. The
    settlement above the axis is ``d_sag + d_hog``.

    Parameters
    ----------
    offset_m
        Signed horizontal distance from the tunnel axis, metres.
    l_sag_m, l_hog_m
        Widths of the sagging zone (each side of the axis) and of each hogging zone.
    d_sag_mm, d_hog_mm
        Deflection of the sagging zone and settlement at the hogging zones' inner edge,
        mm/yr (positive).

    Returns
    -------
    NDArray[np.float64]
        Vertical rate, mm/yr (negative = subsidence).

    Examples
    --------
    >>> tunnel_profile([0.0, 20.0, 40.0, 55.0, 200.0],
    ...                l_sag_m=40, l_hog_m=30, d_sag_mm=6, d_hog_mm=2)
    array([-8. , -6.5, -2. , -0.5, -0. ])
    """
    s = np.abs(np.asarray(offset_m, dtype=np.float64))
    u = np.minimum(s / l_sag_m, 1.0)
    t = np.clip((s - l_sag_m) / l_hog_m, 0.0, 1.0)
    return -(d_sag_mm * (1.0 - u * u) + d_hog_mm * (1.0 - t) ** 2)


def tunnel(
    x_m: ArrayLike,
    y_m: ArrayLike,
    *,
    bearing_deg: float,
    curvature_per_m: float,
    l_sag_m: float,
    l_hog_m: float,
    d_sag_mm: float,
    d_hog_mm: float,
    axis_depth_m: float,
    along_wavelength_m: float = 1000.0,
    along_modulation: float = 0.0,
    along_phase: float = 0.0,
) -> Displacement:
    """Settlement above a tunnel running through the origin, straight or along a circular arc.

    The axis leaves the origin on ``bearing_deg`` (clockwise from north) and bends with
    ``curvature_per_m`` (1/radius; 0 = straight, > 0 bends right). Across the axis the
    vertical rate is :func:`tunnel_profile`; the ground also moves towards the axis by
    ``s/z₀ · w(s)`` (O'Reilly and New, 1982), ``z₀`` the axis depth. Along the axis the
    amplitudes vary by ``1 − m·(1 + sin(2π·a/L + φ))/2`` (ground conditions and face advance
    change along a route), ``m`` = ``along_modulation`` in [0, 1).

    Returns
    -------
    Displacement
        East, north and up rates in mm/yr.

    Examples
    --------
    >>> u = tunnel([0.0, 500.0], [0.0, 0.0], bearing_deg=0.0, curvature_per_m=0.0,
    ...            l_sag_m=40, l_hog_m=30, d_sag_mm=6, d_hog_mm=2, axis_depth_m=80)
    >>> u.up.round(6).tolist(), u.east.round(6).tolist()
    ([-8.0, -0.0], [0.0, 0.0])
    """
    x = np.asarray(x_m, dtype=np.float64)
    y = np.asarray(y_m, dtype=np.float64)
    theta = math.radians(bearing_deg)
    ux, uy = math.sin(theta), math.cos(theta)  # along the axis at the origin
    nx, ny = uy, -ux  # to the right of it
    offset, along, to_axis_a, to_axis_r = _axis_frame(
        x * ux + y * uy, x * nx + y * ny, curvature_per_m
    )
    factor = 1.0 - along_modulation * 0.5 * (
        1.0 + np.sin(2.0 * np.pi * along / along_wavelength_m + along_phase)
    )
    up = factor * tunnel_profile(
        offset, l_sag_m=l_sag_m, l_hog_m=l_hog_m, d_sag_mm=d_sag_mm, d_hog_mm=d_hog_mm
    )
    towards = np.abs(offset) / axis_depth_m * -up  # ≥ 0: ground moves towards the axis
    h_right = towards * to_axis_r
    h_along = towards * to_axis_a
    east = h_along * ux + h_right * nx
    north = h_along * uy + h_right * ny
    return Displacement(east, north, up)


def _axis_frame(
    along: NDArray, right: NDArray, curvature_per_m: float
) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Offset from the axis (> 0 right), arc length along it and the unit vector to it.

    The axis leaves the origin along +``along`` and turns right (curvature > 0) round a
    centre at ``right = 1/curvature``; a left turn is the mirror image.
    """
    if abs(curvature_per_m) < 1e-9:
        return right, along, np.zeros_like(right), -np.sign(right)
    mirror = -1.0 if curvature_per_m < 0 else 1.0
    radius = 1.0 / abs(curvature_per_m)
    r = mirror * right
    dr = r - radius  # from the centre of the arc to the point
    dist = np.maximum(np.hypot(along, dr), 1e-9)
    offset = radius - dist
    arc = radius * np.arctan2(along, -dr)
    side = np.sign(offset)
    return mirror * offset, arc, side * along / dist, mirror * side * dr / dist


def los_unit_vector(viewing: Viewing) -> tuple[float, float, float]:
    """Unit vector from the ground to a right-looking Sentinel-1 satellite (east, north, up).

    The satellite looks ``heading + 90°``; the vector points back along that look, tilted
    up by the incidence angle — the convention of EGMS's ``los_east/north/up`` columns, so a
    displacement ``u`` is seen as the LOS velocity ``u · ê`` (positive = towards the
    satellite, uplift).

    Examples
    --------
    >>> e, n, u = los_unit_vector(Viewing("ascending", 39.0, -8.94))    # EGMS track 117
    >>> round(e, 3), round(n, 3), round(u, 3)
    (-0.622, -0.098, 0.777)
    >>> e, n, u = los_unit_vector(Viewing("descending", 37.3, 191.42))  # EGMS track 022
    >>> round(e, 3), round(n, 3), round(u, 3)
    (0.594, -0.12, 0.795)
    """
    inc = math.radians(viewing.incidence_deg)
    azimuth = math.radians(viewing.heading_deg + 270.0)  # ground → satellite
    return (
        math.sin(inc) * math.sin(azimuth),
        math.sin(inc) * math.cos(azimuth),
        math.cos(inc),
    )


def to_los(displacement: Displacement, viewing: Viewing) -> NDArray[np.float64]:
    """Project a 3-D displacement rate onto the line of sight (mm/yr, positive = towards).

    Examples
    --------
    >>> view = Viewing("descending", 40.0, 190.0)
    >>> float(to_los(Displacement(0.0, 0.0, 10.0), view)) == 10.0 * math.cos(math.radians(40))
    True
    """
    e, n, u = los_unit_vector(viewing)
    d = displacement
    return np.asarray(d.east * e + d.north * n + d.up * u, dtype=np.float64)


def raster_coordinates(
    shape: tuple[int, int], *, centre_px: tuple[float, float], pixel_size_m: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Metres east and north of ``centre_px`` (row, col) for every pixel centre, row 0 north.

    Examples
    --------
    >>> x, y = raster_coordinates((2, 3), centre_px=(0.0, 1.0), pixel_size_m=10.0)
    >>> x.tolist(), y.tolist()
    ([[-10.0, 0.0, 10.0]], [[-0.0], [-10.0]])
    """
    rows, cols = shape
    x = (np.arange(cols, dtype=np.float64) - centre_px[1])[None, :] * pixel_size_m
    y = -(np.arange(rows, dtype=np.float64) - centre_px[0])[:, None] * pixel_size_m
    return x, y
