"""Sites stage (§IV-C): probability map → ranked deformation sites at P > 0.5 / 0.75 / 0.9.

The paper maps the connected areas where the detection probability exceeds 0.5, 0.75 and
0.9 (Fig. 6, 7) and notes that "uplift and subsidence can be simply distinguished by
comparing the velocity with that of neighbouring areas, [which] can be added in
post-processing". This module does that post-processing and turns each area into one row
a non-expert can act on.

Definitions
-----------
* A site is an 8-connected region of ``probability > level``; NaN (unscored) pixels never
  belong to one. Each level is processed independently, so one deformation appears once per
  level it passes.
* ``v_mean`` / ``v_min`` / ``v_max`` are over the pixels of the site that hold points (the
  mean weighted by the points per pixel); ``v_ring`` is the median velocity of the points
  within ``ring_width_px`` of the site, leaving out every pixel at ``P > level``, so it is
  the local background and the site is measured against it: ``dv = v_mean − v_ring``
  (``v_mean`` alone when the ring has no point). ``motion`` is "uplift" when ``dv > 0``
  (line of sight, positive towards the satellite), "subsidence" when ``dv ≤ 0`` and "" for
  a site without points.
* ``looks`` names the LOS geometries that scored any pixel of the site; a site seen in only
  one (``single_geometry``) lacks the confirmation of the other look (§III-D).

Priority
--------
A triage score for the order in which to look at sites::

    priority = p_mean × |dv| × (1 + log10(1 + area_m2 / 10 000 m²))

confidence (the mean probability, so a large site at the edge of detection is not
promoted by one high pixel) × severity (the rate relative to the surroundings, mm/yr)
× extent (1 at a point, 2 at ~9 ha, 3 at ~1 km²: a bigger footprint affects more assets,
but only logarithmically, so one slow coalfield does not bury a fast, small sinkhole).
It is in mm/yr-equivalents; a site without points scores 0. Site ids number the sites of
a level by decreasing priority ("p50-0001" first).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from numpy.typing import NDArray

from engine import _regions
from engine.config import SitesParams

__all__ = ["SITE_COLUMNS", "extract_sites", "level_key", "sites_summary"]

logger = logging.getLogger(__name__)

SITE_COLUMNS: tuple[str, ...] = ("site_id", "level", *_regions.STAT_COLUMNS)


def level_key(level: float) -> str:
    """Short name of a probability level, the prefix of its site ids.

    Examples
    --------
    >>> level_key(0.5), level_key(0.75), level_key(0.9), level_key(0.995)
    ('p50', 'p75', 'p90', 'p99.5')
    """
    return f"p{round(level * 100, 6):g}"


def extract_sites(
    probability: NDArray[np.floating],
    velocity: NDArray[np.floating],
    transform: Affine,
    crs: str,
    *,
    counts: NDArray[np.integer] | None = None,
    geometries: Mapping[str, NDArray[np.bool_]] | None = None,
    params: SitesParams = SitesParams(),
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """Connected regions above each probability level, measured and ranked.

    Parameters
    ----------
    probability
        ``(rows, cols)`` detection probability in [0, 1]; NaN = not scored.
    velocity
        ``(rows, cols)`` raw point velocities averaged per pixel, mm/yr LOS; NaN = no point.
    transform
        Affine map from pixel (col, row) to (x, y) metres in ``crs``; row 0 north.
    crs
        The run's projected CRS, e.g. ``"EPSG:27700"``.
    counts
        ``(rows, cols)`` points per pixel; default 1 wherever ``velocity`` is finite.
    geometries
        Which LOS geometries scored each pixel, e.g. ``{"ascending": mask, "descending":
        mask}`` of ``(rows, cols)`` booleans; None = unknown (``looks`` is "").
    params
        Levels and ring width.
    progress
        Called as ``progress(done, total)`` after each level.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site with the columns :data:`SITE_COLUMNS` (see the module docstring),
        ordered by level then priority; polygons and centroids in WGS84 (EPSG:4326). No rows,
        the same columns and CRS when nothing passes a level.

    Raises
    ------
    ValueError
        If the rasters are not two-dimensional or differ in shape.

    Examples
    --------
    >>> p = np.zeros((6, 6)); p[1:3, 1:3] = 0.8
    >>> v = np.zeros((6, 6)); v[1:3, 1:3] = -4.0
    >>> s = extract_sites(p, v, Affine(10, 0, 400_000, 0, -10, 300_000), "EPSG:27700")
    >>> s["site_id"].tolist()
    ['p50-0001', 'p75-0001']
    >>> s[["area_m2", "n_points", "v_ring", "dv", "motion"]].head(1).to_dict("records")
    [{'area_m2': 400.0, 'n_points': 4, 'v_ring': 0.0, 'dv': -4.0, 'motion': 'subsidence'}]
    """
    prob = np.asarray(probability, dtype=np.float64)
    vel, cnt = _regions.check_inputs(velocity, counts)
    if prob.shape != vel.shape:
        raise ValueError(f"probability {prob.shape} and velocity {vel.shape} differ in shape")
    scored = np.where(np.isfinite(prob), prob, -np.inf)  # NaN is below every level
    tables, outlines = [], []
    for done, level in enumerate(params.levels, start=1):
        table, outline = _level_sites(
            scored, vel, cnt, transform, crs, level, geometries, params.ring_width_px
        )
        tables.append(table)
        outlines.append(outline)
        logger.info("P > %g: %d sites", level, len(table))
        if progress is not None:
            progress(done, len(params.levels))
    return _regions.regions_frame(tables, outlines, SITE_COLUMNS)


def sites_summary(
    sites: gpd.GeoDataFrame, *, levels: Iterable[float] = SitesParams().levels
) -> dict[str, int]:
    """Number of sites per level, e.g. ``{"p50": 12, "p75": 5, "p90": 2}``.

    Parameters
    ----------
    sites
        Output of :func:`extract_sites`.
    levels
        Levels always reported (0 when empty); other levels found in ``sites`` are added.

    Returns
    -------
    dict[str, int]
        Count per :func:`level_key`, in increasing level.

    Examples
    --------
    >>> sites_summary(extract_sites(np.zeros((3, 3)), np.zeros((3, 3)), Affine.identity(),
    ...                             "EPSG:27700"))
    {'p50': 0, 'p75': 0, 'p90': 0}
    """
    found = sites["level"].to_numpy(dtype=float)
    every = sorted({float(x) for x in levels} | {float(x) for x in np.unique(found)})
    return {level_key(x): int(np.isclose(found, x).sum()) for x in every}


def _level_sites(
    scored: NDArray[np.float64],
    velocity: NDArray[np.float64],
    counts: NDArray[np.int64],
    transform: Affine,
    crs: str,
    level: float,
    geometries: Mapping[str, NDArray[np.bool_]] | None,
    ring_width_px: int,
) -> tuple[pd.DataFrame, gpd.GeoSeries]:
    """Table (in priority order) and run-CRS outlines of the sites of one level."""
    above = scored > level
    labels, n = _regions.label_regions(above)
    stats = _regions.region_stats(labels, n, velocity, counts, abs(transform.determinant))
    p_max, p_mean = _regions.probability_stats(labels, n, scored)
    v_ring = _regions.ring_medians(labels, n, velocity, counts, above, ring_width_px)
    dv, motion, priority = _regions.motion_and_priority(stats.v_mean, v_ring, stats.area_m2, p_mean)
    looks, single = _regions.looks(labels, n, geometries)
    table = pd.DataFrame(
        {
            "level": np.full(n, float(level)),
            **stats._asdict(),
            "v_ring": v_ring,
            "dv": dv,
            "motion": motion,
            "p_max": p_max,
            "p_mean": p_mean,
            "looks": looks,
            "single_geometry": single,
            "priority": priority,
        }
    )
    order = _regions.priority_order(priority, stats.area_m2)
    outline = _regions.region_polygons(labels, n, transform, crs).iloc[order]
    table = table.iloc[order].reset_index(drop=True)
    key = level_key(level)
    table.insert(0, "site_id", [f"{key}-{i:04d}" for i in range(1, n + 1)])
    return table, outline.reset_index(drop=True)
