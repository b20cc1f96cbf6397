"""Deformation sources of a benchmark scene: five kinds, their 3-D rates and footprints.

Every source is a function of its ``params`` alone (:func:`render_source`), so a scene stores
what was drawn and renders it again when it needs the field. Rates are mm/yr, x east and y
north, as in :mod:`engine.synthetic`; positions are scene CRS metres.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio import features
from shapely.geometry import MultiPolygon, Polygon, shape

from engine.config import RunConfig, SyntheticParams
from engine.synthetic import Displacement, Viewing, mogi, to_los, tunnel

__all__ = ["SOURCE_KINDS", "SceneSource", "draw_sources", "render_source"]

logger = logging.getLogger(__name__)

SOURCE_KINDS: tuple[str, ...] = ("mining", "tunnel", "quarry", "dewatering", "landslide")
KM2_PER_SOURCE = 5.0  # source density; see draw_sources for why not denser
MIN_SOURCES = 5
EDGE_MARGIN_M = 300.0  # footprints stay this far inside the scene edge
SEPARATION_M = 200.0  # and this far from each other
FOOTPRINT_FLOOR_MM_YR = 1.0
FOOTPRINT_FRACTION = 0.2  # footprint: |u| ≥ max(floor, fraction · peak)
_MAX_TRIES = 200  # draws per source before giving up on it
_TUNNEL_END_M = 150.0  # a tunnel's settlement fades out over its last 150 m

Params = dict[str, Any]


@dataclass(frozen=True)
class SceneSource:
    """One deformation source of a scene: what was drawn and where it deforms the ground.

    Attributes
    ----------
    id
        ``"<kind>-<n>"``, numbered per kind in the order drawn.
    kind
        One of :data:`SOURCE_KINDS`.
    peak_mm_yr
        Largest 3-D displacement-rate magnitude on the scene's pixels, mm/yr.
    peak_los_mm_yr
        Per geometry, the signed LOS rate at the pixel of largest ``|LOS|``, mm/yr.
    footprint
        Pixels where ``|u| ≥ max(1 mm/yr, 20 % of peak_mm_yr)``, as a polygon in the
        scene CRS (metres).
    params
        What was drawn (centre, depth, rates, azimuth, ...): enough to render it again.
    """

    id: str
    kind: str
    peak_mm_yr: float
    peak_los_mm_yr: dict[str, float]
    footprint: Polygon | MultiPolygon
    params: Params


def render_source(
    kind: str, params: Params, transform: Affine, size_px: int, *, radius_m: float | None = None
) -> tuple[slice, slice, Displacement]:
    """The 3-D rate of one source on the pixels of its window (clipped to the scene).

    The window reaches ``radius_m`` (default ``params["render_radius_m"]``) around the
    centre, beyond which the source's field is zero.

    Returns
    -------
    rows, cols
        The window in the scene raster.
    Displacement
        East, north and up rates, mm/yr, each ``(rows, cols)`` of the window.
    """
    pixel = transform.a
    col_c = (params["centre_x_m"] - transform.c) / pixel - 0.5
    row_c = (transform.f - params["centre_y_m"]) / pixel - 0.5
    radius = params["render_radius_m"] if radius_m is None else radius_m
    reach = radius / pixel + 1.0
    r0, r1 = max(0, math.floor(row_c - reach)), min(size_px, math.ceil(row_c + reach) + 1)
    c0, c1 = max(0, math.floor(col_c - reach)), min(size_px, math.ceil(col_c + reach) + 1)
    x = (np.arange(c0, c1) - col_c)[None, :] * pixel
    y = -(np.arange(r0, r1) - row_c)[:, None] * pixel
    displacement = _MODELS[kind](params, x, y)
    east, north, up = np.broadcast_arrays(*displacement)
    return slice(r0, r1), slice(c0, c1), Displacement(east, north, up)


def draw_sources(
    size_px: int,
    *,
    transform: Affine,
    viewing: dict[str, Viewing],
    rng: np.random.Generator | int | None = None,
    config: RunConfig = RunConfig(),
) -> tuple[SceneSource, ...]:
    """Draw and place the sources of a scene, apart from each other and from the edge.

    ``max(5, area / 5 km²)`` sources: the first five are one of each kind (shuffled), the
    rest of random kinds. Each is drawn with a uniform centre and kept when its footprint
    lies ≥ 300 m inside the scene and ≥ 200 m from every footprint kept before; otherwise
    it is drawn again (up to 200 times, then skipped with a log line). At one per 5 km²
    every source finds room, footprints cover ~17 % of a scene and ~23 % lies within
    100 m of one, so most of it is background on which false positives show. At one per
    1.5 km² (1000 px, seed 0) only 58 of 67 fit, the large kinds (dewatering, tunnels)
    are the ones skipped, and 39 % of the scene lies within 100 m of a footprint, so a
    site dropped at random would often count as a hit.

    Parameters
    ----------
    size_px
        Scene side in pixels.
    transform
        The scene's north-up affine transform (pixel size and origin).
    viewing
        Per geometry, the viewing used for ``peak_los_mm_yr``.
    rng
        Seed or generator.
    config
        Tunnel zone widths and hogging range come from ``config.synthetic``.

    Returns
    -------
    tuple[SceneSource, ...]
        In the order placed.
    """
    rng = np.random.default_rng(rng)
    side_m = size_px * transform.a
    count = max(MIN_SOURCES, round(side_m * side_m / 1e6 / KM2_PER_SOURCE))
    kinds = [str(k) for k in rng.permutation(SOURCE_KINDS)]
    kinds += [str(k) for k in rng.choice(SOURCE_KINDS, size=count - len(kinds))]
    placed: list[SceneSource] = []
    bounds = np.empty((0, 4))
    numbers = dict.fromkeys(SOURCE_KINDS, 0)
    for kind in kinds:
        number = numbers[kind] + 1
        source = _place(
            kind,
            f"{kind}-{number}",
            rng,
            transform,
            size_px,
            viewing,
            config.synthetic,
            placed,
            bounds,
        )
        if source is None:
            logger.info("no room for a %s source after %d draws; skipped", kind, _MAX_TRIES)
            continue
        placed.append(source)
        numbers[kind] = number
        bounds = np.vstack([bounds, source.footprint.bounds])
    return tuple(placed)


def _place(
    kind: str,
    source_id: str,
    rng: np.random.Generator,
    transform: Affine,
    size_px: int,
    viewing: dict[str, Viewing],
    syn: SyntheticParams,
    placed: list[SceneSource],
    bounds: NDArray[np.float64],
) -> SceneSource | None:
    west, north = transform.c, transform.f
    side_m = size_px * transform.a
    inner = (west + EDGE_MARGIN_M, north - side_m + EDGE_MARGIN_M)
    inner += (west + side_m - EDGE_MARGIN_M, north - EDGE_MARGIN_M)
    for _ in range(_MAX_TRIES):
        params = _DRAWS[kind](rng, syn)
        reach = params["reach_m"]
        if inner[0] + reach >= inner[2] - reach:
            continue
        params["centre_x_m"] = float(rng.uniform(inner[0] + reach, inner[2] - reach))
        params["centre_y_m"] = float(rng.uniform(inner[1] + reach, inner[3] - reach))
        centre = shapely.Point(params["centre_x_m"], params["centre_y_m"])
        if _near(centre, placed, bounds):  # its footprint would hold the centre: no room
            continue
        # footprint and peaks lie within reach_m of the centre: render that window only
        rows, cols, displacement = render_source(
            kind, params, transform, size_px, radius_m=reach + transform.a
        )
        footprint, peak = _footprint(displacement, transform, rows, cols)
        if footprint is None or not _fits(footprint, inner, placed, bounds):
            continue
        peak_los = {}
        for geometry, view in viewing.items():
            los = to_los(displacement, view)
            peak_los[geometry] = float(los.flat[np.argmax(np.abs(los))])
        return SceneSource(source_id, kind, peak, peak_los, footprint, params)
    return None


def _footprint(
    displacement: Displacement, transform: Affine, rows: slice, cols: slice
) -> tuple[Polygon | MultiPolygon | None, float]:
    """The pixels of ``|u| ≥ max(floor, fraction · peak)`` as a polygon, and the peak."""
    east, north, up = displacement
    magnitude = np.sqrt(east * east + north * north + up * up)
    peak = float(magnitude.max()) if magnitude.size else 0.0
    inside = magnitude >= max(FOOTPRINT_FLOOR_MM_YR, FOOTPRINT_FRACTION * peak)
    if peak < FOOTPRINT_FLOOR_MM_YR or not inside.any():
        return None, peak
    window = transform @ Affine.translation(cols.start, rows.start)
    pieces = features.shapes(inside.astype(np.uint8), mask=inside, transform=window)
    footprint = shapely.unary_union([shape(geom) for geom, _ in pieces])
    return footprint, peak


def _fits(
    footprint: Polygon | MultiPolygon,
    inner: tuple[float, float, float, float],
    placed: list[SceneSource],
    bounds: NDArray[np.float64],
) -> bool:
    """Inside the inner box and ≥ ``SEPARATION_M`` from every placed footprint."""
    minx, miny, maxx, maxy = footprint.bounds
    if minx < inner[0] or miny < inner[1] or maxx > inner[2] or maxy > inner[3]:
        return False
    return not _near(footprint, placed, bounds)


def _near(
    geometry: shapely.Geometry, placed: list[SceneSource], bounds: NDArray[np.float64]
) -> bool:
    """Whether ``geometry`` comes within ``SEPARATION_M`` of a placed footprint."""
    if not placed:
        return False
    minx, miny, maxx, maxy = geometry.bounds
    near = np.flatnonzero(
        (bounds[:, 0] < maxx + SEPARATION_M)
        & (bounds[:, 2] > minx - SEPARATION_M)
        & (bounds[:, 1] < maxy + SEPARATION_M)
        & (bounds[:, 3] > miny - SEPARATION_M)
    )
    others = [placed[i].footprint for i in near]
    return bool(np.any(shapely.dwithin(geometry, others, SEPARATION_M)))


# --- the five kinds: parameter draws -------------------------------------------------------
# Each draw returns the parameters plus ``reach_m`` (a bound on the footprint's distance from
# the centre, used to keep centres inside) and ``render_radius_m`` (where the field is cut).


def _draw_mining(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """Mogi deflation under a coal panel: 3–15 mm/yr subsidence at 100–400 m depth."""
    depth = float(rng.uniform(100.0, 400.0))
    subsidence = float(rng.uniform(3.0, 15.0))
    up_per_m3 = float(mogi(0.0, 0.0, depth_m=depth, volume_m3=1.0).up)
    # |u| = s·d²/(d² + r²): cut where it is 0.2 mm/yr, at least 4 depths out
    render = depth * max(4.0, math.sqrt(subsidence / 0.2 - 1.0))
    return {
        "depth_m": depth,
        "subsidence_mm_yr": subsidence,
        "volume_m3": -subsidence / up_per_m3,
        "reach_m": 2.0 * depth,  # |u| ≥ 20 % of the peak within r = 2·depth
        "render_radius_m": render,
    }


def _draw_tunnel(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A 1–3 km tunnel, straight or curved (radius 1.5–6 km), sagging 1–10 mm/yr."""
    length = float(rng.uniform(1000.0, 3000.0))
    l_sag = float(rng.uniform(*syn.tunnel_l_sag_m))
    l_hog = float(rng.uniform(*syn.tunnel_l_hog_m))
    curved = rng.random() < 0.5
    curvature = float(rng.choice([-1.0, 1.0]) / rng.uniform(1500.0, 6000.0)) if curved else 0.0
    reach = 0.5 * length + l_sag + l_hog
    return {
        "track": "curved" if curved else "straight",
        "length_m": length,
        "bearing_deg": float(rng.uniform(0.0, 180.0)),
        "curvature_per_m": curvature,
        "l_sag_m": l_sag,
        "l_hog_m": l_hog,
        "d_sag_mm_yr": float(rng.uniform(1.0, 10.0)),
        "d_hog_mm_yr": float(rng.uniform(*syn.tunnel_d_hog_mm)),
        "axis_depth_m": 2.0 * l_sag,  # trough width i = K·z₀, K = 0.5 (clay), as in training
        "along_wavelength_m": float(rng.uniform(500.0, 2000.0)),
        "along_modulation": float(rng.uniform(0.0, 0.3)),
        "along_phase": float(rng.uniform(0.0, 2.0 * math.pi)),
        "reach_m": reach,
        "render_radius_m": reach + 20.0,
    }


def _draw_quarry(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A pit 200–500 m across (aspect 0.6–1) subsiding 5–15 mm/yr, edges smoothed over 20–50 m."""
    length = float(rng.uniform(200.0, 500.0))
    edge = float(rng.uniform(20.0, 50.0))
    return {
        "length_m": length,
        "width_m": length * float(rng.uniform(0.6, 1.0)),
        "orientation_deg": float(rng.uniform(0.0, 180.0)),
        "subsidence_mm_yr": float(rng.uniform(5.0, 15.0)),
        "edge_m": edge,
        "reach_m": 0.5 * length + 2.0 * edge,  # tanh edge: 20 % at 0.7 edge widths out
        "render_radius_m": 0.5 * length + 5.0 * edge,
    }


def _draw_dewatering(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """Broad Gaussian uplift (groundwater recovery): σ 300–800 m, 2–8 mm/yr up."""
    sigma = float(rng.uniform(300.0, 800.0))
    return {
        "sigma_m": sigma,
        "uplift_mm_yr": float(rng.uniform(2.0, 8.0)),
        "reach_m": 1.8 * sigma,  # 20 % of the peak at σ·√(2 ln 5) = 1.79σ
        "render_radius_m": 4.0 * sigma,  # 0.03 % of the peak: no visible cut
    }


def _draw_landslide(rng: np.random.Generator, syn: SyntheticParams) -> Params:
    """A lobe ≈ 200 × 500 m sliding 3–15 mm/yr downslope, sinking 10–40 % of that."""
    length = float(rng.uniform(450.0, 650.0))
    down_ratio = float(rng.uniform(0.1, 0.4))
    # keep the 3-D peak within the 15 mm/yr of every source
    horizontal = min(float(rng.uniform(3.0, 15.0)), 15.0 / math.hypot(1.0, down_ratio))
    return {
        "length_m": length,
        "width_m": float(rng.uniform(180.0, 280.0)),
        "azimuth_deg": float(rng.uniform(0.0, 360.0)),  # downslope, clockwise from north
        "horizontal_mm_yr": horizontal,
        "down_mm_yr": horizontal * down_ratio,
        "reach_m": 0.5 * length,
        "render_radius_m": 0.5 * length + 20.0,
    }


# --- the five kinds: 3-D rates at x, y metres from the centre -------------------------------


def _mining(p: Params, x: NDArray, y: NDArray) -> Displacement:
    u = mogi(x, y, depth_m=p["depth_m"], volume_m3=p["volume_m3"])
    radius = p["render_radius_m"]
    # fade the 1/r² tail (< 0.6 mm/yr here) to zero so the window edge leaves no step
    w = _cosine_taper(np.hypot(x, y), 0.6 * radius, radius)
    return Displacement(u.east * w, u.north * w, u.up * w)


def _tunnel(p: Params, x: NDArray, y: NDArray) -> Displacement:
    u = tunnel(
        x,
        y,
        bearing_deg=p["bearing_deg"],
        curvature_per_m=p["curvature_per_m"],
        l_sag_m=p["l_sag_m"],
        l_hog_m=p["l_hog_m"],
        d_sag_mm=p["d_sag_mm_yr"],
        d_hog_mm=p["d_hog_mm_yr"],
        axis_depth_m=p["axis_depth_m"],
        along_wavelength_m=p["along_wavelength_m"],
        along_modulation=p["along_modulation"],
        along_phase=p["along_phase"],
    )
    half = 0.5 * p["length_m"]
    along = np.abs(_along_track(x, y, p["bearing_deg"], p["curvature_per_m"]))
    w = _cosine_taper(along, half - _TUNNEL_END_M, half)  # a finite line, not an endless one
    return Displacement(u.east * w, u.north * w, u.up * w)


def _quarry(p: Params, x: NDArray, y: NDArray) -> Displacement:
    along, across = _rotate(x, y, p["orientation_deg"])
    a, b = 0.5 * p["length_m"], 0.5 * p["width_m"]
    rho = np.sqrt((along / a) ** 2 + (across / b) ** 2)
    mean_radius = math.sqrt(a * b)
    outside = (rho - 1.0) * mean_radius  # ≈ signed distance to the rim, metres
    edge = p["edge_m"]
    shape_ = (1.0 - np.tanh(outside / edge)) / (1.0 + math.tanh(mean_radius / edge))
    up = -p["subsidence_mm_yr"] * shape_
    return Displacement(np.zeros_like(up), np.zeros_like(up), up)


def _dewatering(p: Params, x: NDArray, y: NDArray) -> Displacement:
    up = p["uplift_mm_yr"] * np.exp(-(x * x + y * y) / (2.0 * p["sigma_m"] ** 2))
    return Displacement(np.zeros_like(up), np.zeros_like(up), up)


def _landslide(p: Params, x: NDArray, y: NDArray) -> Displacement:
    along, across = _rotate(x, y, p["azimuth_deg"])
    rho2 = (along / (0.5 * p["length_m"])) ** 2 + (across / (0.5 * p["width_m"])) ** 2
    lobe = np.where(rho2 < 1.0, (1.0 - np.minimum(rho2, 1.0) ** 2) ** 2, 0.0)  # smooth to 0
    azimuth = math.radians(p["azimuth_deg"])
    h = p["horizontal_mm_yr"] * lobe
    return Displacement(h * math.sin(azimuth), h * math.cos(azimuth), -p["down_mm_yr"] * lobe)


def _rotate(x: NDArray, y: NDArray, bearing_deg: float) -> tuple[NDArray, NDArray]:
    """Coordinates along ``bearing_deg`` (clockwise from north) and to its right."""
    theta = math.radians(bearing_deg)
    s, c = math.sin(theta), math.cos(theta)
    return x * s + y * c, x * c - y * s


def _along_track(x: NDArray, y: NDArray, bearing_deg: float, curvature_per_m: float) -> NDArray:
    """Arc length along the axis of :func:`engine.synthetic.tunnel` (same frame)."""
    along, right = _rotate(x, y, bearing_deg)
    if abs(curvature_per_m) < 1e-9:
        return along
    radius = 1.0 / abs(curvature_per_m)
    dr = math.copysign(1.0, curvature_per_m) * right - radius
    return radius * np.arctan2(along, -dr)


def _cosine_taper(distance: NDArray, start: float, stop: float) -> NDArray:
    """1 up to ``start``, a half cosine down to 0 at ``stop``, 0 beyond."""
    t = np.clip((distance - start) / (stop - start), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * t))


_DRAWS: dict[str, Callable[[np.random.Generator, SyntheticParams], Params]] = {
    "mining": _draw_mining,
    "tunnel": _draw_tunnel,
    "quarry": _draw_quarry,
    "dewatering": _draw_dewatering,
    "landslide": _draw_landslide,
}
_MODELS: dict[str, Callable[[Params, NDArray, NDArray], Displacement]] = {
    "mining": _mining,
    "tunnel": _tunnel,
    "quarry": _quarry,
    "dewatering": _dewatering,
    "landslide": _landslide,
}
