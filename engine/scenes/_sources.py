"""Deformation sources of a benchmark scene: five kinds, their 3-D rates and footprints.

Every source is a function of its ``params`` alone (:func:`render_source`), so a scene stores
what was drawn and renders it again when it needs the field. Rates are mm/yr, x east and y
north, as in :mod:`engine.synthetic`; positions are scene CRS metres.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from rasterio import features
from shapely.geometry import MultiPolygon, Polygon, shape

from engine.config import RunConfig, SyntheticParams
from engine.synthetic import Displacement, Viewing, to_los
from engine.synthetic._kinds import DRAWS as _DRAWS
from engine.synthetic._kinds import KIND_NAMES
from engine.synthetic._kinds import MODELS as _MODELS

__all__ = ["SOURCE_KINDS", "SceneSource", "draw_sources", "render_source"]

logger = logging.getLogger(__name__)

SOURCE_KINDS: tuple[str, ...] = KIND_NAMES
KM2_PER_SOURCE = 5.0  # source density; see draw_sources for why not denser
MIN_SOURCES = 5
EDGE_MARGIN_M = 300.0  # footprints stay this far inside the scene edge
SEPARATION_M = 200.0  # and this far from each other
FOOTPRINT_FLOOR_MM_YR = 1.0
FOOTPRINT_FRACTION = 0.2  # footprint: |u| ≥ max(floor, fraction · peak)
_MAX_TRIES = 200  # draws per source before giving up on it

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
