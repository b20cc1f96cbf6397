"""Hard negatives of a benchmark scene: what looks like deformation to a careless detector.

Three kinds, each placed at least ``SEPARATION_M`` from every source footprint, so a site
on one of them is a false positive:

``sea``
    A coast: the land beyond a wavy line along one side holds no scatterer. A detector
    that scores half a patch beyond the data paints it; sites must not lie over it.
``sparse``
    A stretch of very sparse fields (a disc 0.6–1.2 km across at 0.1–0.3 % of pixels,
    against 0.5–1.5 % in ordinary fields), where interpolation bridges long gaps.
``spikes``
    Incoherent spike clusters: 24–48 points within a disc 70–100 m across, each ±5–10
    mm/yr of random sign, independently in each geometry: the city-centre pixels the paper's
    CNN correctly scores low (a velocity threshold flags them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from affine import Affine
from numpy.typing import NDArray
from shapely.geometry import Polygon

__all__ = ["NEGATIVE_KINDS", "HardNegative", "draw_negatives", "spike_pixels", "spike_values"]

NEGATIVE_KINDS: tuple[str, ...] = ("sea", "sparse", "spikes")
SEPARATION_M = 300.0  # from every source footprint
EDGE_MARGIN_M = 150.0
KM2_PER_SPIKES = 5.0  # one spike cluster per 5 km² of scene: as many as sources
SPIKE_RADIUS_M = (35.0, 50.0)  # ≥ 38 pixels of 10 m, room for the points
SPIKE_POINTS = (24, 48)
SPIKE_MM_YR = (5.0, 10.0)
SPARSE_RADIUS_M = (300.0, 600.0)
SEA_DEPTH = (0.10, 0.25)  # of the scene side
_TRIES = 200


@dataclass(frozen=True)
class HardNegative:
    """One hard negative of a scene.

    Attributes
    ----------
    id
        ``"<kind>-<n>"``.
    kind
        One of :data:`NEGATIVE_KINDS`.
    region
        Where it is, scene CRS metres: the sea, the sparse disc, the spike cluster's disc.
    params
        What was drawn (centre, radius, side, ...).
    """

    id: str
    kind: str
    region: Polygon
    params: dict[str, Any] = field(default_factory=dict)


def draw_negatives(
    size_px: int,
    *,
    transform: Affine,
    footprints: list[shapely.Geometry],
    rng: np.random.Generator | int | None = None,
) -> tuple[HardNegative, ...]:
    """A coast (when there is room), one sparse stretch and a spike cluster per 5 km².

    Each keeps ``SEPARATION_M`` from every footprint and from the negatives placed before
    it; one that finds no room in 200 draws is left out.
    """
    rng = np.random.default_rng(rng)
    side_m = size_px * transform.a
    west, north = transform.c, transform.f
    scene = shapely.box(west, north - side_m, west + side_m, north)
    taken = list(footprints)
    out: list[HardNegative] = []
    sea = _sea(scene, side_m, taken, rng)
    if sea is not None:
        out.append(HardNegative("sea-1", "sea", sea[0], sea[1]))
        taken.append(sea[0])
    inner = scene.buffer(-EDGE_MARGIN_M)
    count = {"sparse": 1, "spikes": max(2, round(side_m * side_m / 1e6 / KM2_PER_SPIKES))}
    for kind, n in count.items():
        radii = SPARSE_RADIUS_M if kind == "sparse" else SPIKE_RADIUS_M
        for k in range(1, n + 1):
            disc = _disc(inner, radii, taken, rng)
            if disc is None:
                continue
            region, params = disc
            if kind == "spikes":
                params["n_points"] = int(rng.integers(SPIKE_POINTS[0], SPIKE_POINTS[1] + 1))
            out.append(HardNegative(f"{kind}-{k}", kind, region, params))
            taken.append(region)
    return tuple(out)


def spike_pixels(
    negative: HardNegative, transform: Affine, size_px: int, rng: np.random.Generator
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Distinct pixels of a spike cluster: ``n_points`` drawn among the pixels of its disc."""
    p = negative.params
    col_c = (p["centre_x_m"] - transform.c) / transform.a - 0.5
    row_c = (transform.f - p["centre_y_m"]) / transform.a - 0.5
    reach = p["radius_m"] / transform.a
    rows, cols = np.mgrid[
        max(0, math.floor(row_c - reach)) : min(size_px, math.ceil(row_c + reach) + 1),
        max(0, math.floor(col_c - reach)) : min(size_px, math.ceil(col_c + reach) + 1),
    ]
    inside = (rows - row_c) ** 2 + (cols - col_c) ** 2 <= reach * reach
    rows, cols = rows[inside], cols[inside]
    pick = rng.choice(rows.size, size=min(p["n_points"], rows.size), replace=False)
    return rows[pick], cols[pick]


def spike_values(n: int, rng: np.random.Generator) -> NDArray[np.float32]:
    """``n`` spikes of ±5–10 mm/yr, random signs."""
    sign = rng.choice(np.array([-1.0, 1.0]), size=n)
    return (sign * rng.uniform(*SPIKE_MM_YR, size=n)).astype(np.float32)


def _sea(
    scene: Polygon, side_m: float, taken: list[shapely.Geometry], rng: np.random.Generator
) -> tuple[Polygon, dict[str, Any]] | None:
    """Sea beyond a wavy coast along one side, as deep as the sources leave room for."""
    side = int(rng.integers(4))  # 0 west, 1 north, 2 east, 3 south
    depth = float(rng.uniform(*SEA_DEPTH)) * side_m
    wavelength = float(rng.uniform(1000.0, 3000.0))
    phase = float(rng.uniform(0, 2 * math.pi))
    t = np.linspace(0.0, side_m, 200)
    minx, miny, maxx, maxy = scene.bounds
    while depth >= 100.0:
        d = depth * (1.0 + 0.2 * np.sin(2 * math.pi * t / wavelength + phase))
        coast = {
            0: np.column_stack([minx + d, miny + t]),
            1: np.column_stack([minx + t, maxy - d]),
            2: np.column_stack([maxx - d, miny + t]),
            3: np.column_stack([minx + t, miny + d]),
        }[side]
        edge = {0: [(minx, maxy), (minx, miny)], 1: [(maxx, maxy), (minx, maxy)],
                2: [(maxx, maxy), (maxx, miny)], 3: [(maxx, miny), (minx, miny)]}[side]  # fmt: skip
        ring = [*map(tuple, coast), *edge]
        sea = shapely.make_valid(Polygon(ring)).intersection(scene)
        if not taken or not np.any(shapely.dwithin(sea, taken, SEPARATION_M)):
            params = {"side": "wnes"[side], "depth_m": depth, "wavelength_m": wavelength}
            return sea, params
        depth *= 0.8
    return None


def _disc(
    inner: Polygon,
    radii: tuple[float, float],
    taken: list[shapely.Geometry],
    rng: np.random.Generator,
) -> tuple[Polygon, dict[str, Any]] | None:
    minx, miny, maxx, maxy = inner.bounds
    for _ in range(_TRIES):
        radius = float(rng.uniform(*radii))
        x, y = float(rng.uniform(minx, maxx)), float(rng.uniform(miny, maxy))
        disc = shapely.Point(x, y).buffer(radius)
        if not inner.contains(disc):
            continue
        if taken and np.any(shapely.dwithin(disc, taken, SEPARATION_M)):
            continue
        return disc, {"centre_x_m": x, "centre_y_m": y, "radius_m": radius}
    return None
